"""The on-disk content cache: media bytes kept in fixed-size blocks, keyed by a version string,
within a byte budget.

The reader fetches photos and videos with ranged GETs and stores what it fetched here, so a
block is downloaded once per version, also across mounts. Everything lives in one directory
(mode 0700) owned by one mount at a time; the files and their format are `cache_disk.py`'s, one
open file `cached_file.py`'s. Files that match none of the cache's names are never touched.
Files that are not open cost one small index entry each.

The byte budget counts present blocks (`used_bytes`). When a write takes the total over the
budget, whole files are evicted, least recently used first. Files that are open ("pinned") are
never evicted, so the total may exceed the budget only while everything left is pinned; the
next close brings it back under. The budget is also enforced when a cache is built on a
directory left by an earlier mount.

Lifecycle changes of one name (open, last close, eviction) are serialised by a per-name trio
lock and re-check the state once they hold it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from pathlib import Path

import trio

from smugfs import cache_disk
from smugfs.cache_blocks import BlockMap
from smugfs.cached_file import CachedFile, IndexEntry

log = logging.getLogger(__name__)

DEFAULT_BLOCK_SIZE = 128 * 1024


class ContentCache:
    """On-disk cache of media content, keyed by a version string, in fixed-size blocks, with a
    byte budget.

    The constructor creates the directory, scans what earlier mounts left there and enforces the
    budget, with blocking file I/O: build the cache before serving requests (or in a thread).
    """

    def __init__(self, directory: Path, budget: int, block_size: int = DEFAULT_BLOCK_SIZE) -> None:
        if budget <= 0:
            raise ValueError(f"the cache budget must be positive, not {budget}")
        if block_size <= 0:
            raise ValueError(f"the cache block size must be positive, not {block_size}")
        self._directory = Path(directory)
        self._budget = budget
        self._block_size = block_size
        # Every file on disk, least recently used first.
        self._index: OrderedDict[str, IndexEntry] = OrderedDict()
        # The open (pinned) files; a file stays here until its descriptor is closed.
        self._open: dict[str, CachedFile] = {}
        self._locks: dict[str, trio.Lock] = {}
        # One eviction at a time, so two tasks never pick the same victim.
        self._evict_lock = trio.Lock()
        self._used = 0
        self._closed = False
        # Where periodic saves of block maps run (see `attach`); None: writers save inline.
        self._nursery: trio.Nursery | None = None
        self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.stat(self._directory).st_mode & 0o077:
            # The cache holds private photos: an existing directory is made private too.
            os.chmod(self._directory, 0o700)
        self._scan()
        while self._used > self._budget and self._index:
            _, entry = self._index.popitem(last=False)
            self._used -= entry.used
            log.debug("evicting cached %s at startup (%d bytes)", entry.key, entry.used)
            cache_disk.remove_all(*self._paths(entry.key))

    def attach(self, nursery: trio.Nursery) -> None:
        """Where the periodic saves of block maps run while files are written (the mount's
        nursery): a save waits for the disk (fdatasync), and a writer streaming a download into
        the cache should not wait with it."""
        self._nursery = nursery

    @property
    def used_bytes(self) -> int:
        """Bytes of present blocks across all files."""
        return self._used

    @property
    def budget(self) -> int:
        return self._budget

    @property
    def nursery(self) -> trio.Nursery | None:
        """Where open files save their block maps while written (None: they save inline)."""
        return self._nursery

    async def open(self, version: str, size: int) -> CachedFile:
        """The cached file of `version` (`size` bytes), pinned until the matching close().

        Opening a version that is already open returns the same object with one more pin; one
        whose map on disk was made for another size or block size starts empty.
        """
        if size < 0:
            raise ValueError(f"negative content size {size}")
        self._check_open()
        key = cache_disk.key_of(version)
        async with self._locked(key):
            self._check_open()
            cached = self._open.get(key)
            if cached is not None:
                if cached.size != size:
                    raise ValueError(
                        f"version {version!r} is open with size {cached.size}, not {size}"
                    )
                cached.pin()
                self.touch(cached.entry)
                return cached
            data_path, map_path = self._paths(key)
            fd, direct, bitmap = await trio.to_thread.run_sync(
                cache_disk.open_storage, data_path, map_path, size, self._block_size
            )
            # Nothing below awaits before the return, so the descriptor cannot be lost to a
            # cancellation: it is registered and handed to the caller at once.
            entry = self._index.get(key)
            if entry is None:
                entry = self._index[key] = IndexEntry(key, 0, time.time())
            self.account(
                entry, cache_disk.present_bytes(bitmap, size, self._block_size) - entry.used
            )
            blocks = BlockMap(size, self._block_size, bitmap)
            cached = CachedFile(self, entry, version, (fd, direct), blocks, map_path)
            self._open[key] = cached
            self.touch(entry)
            # Opening never adds bytes (a reused map was counted by the scan), so the budget
            # needs no enforcing here.
            return cached

    async def adopt(self, version: str, size: int, source: Path) -> bool:
        """Take a complete file of `version` (`size` bytes) in by moving it here, without a
        copy of its bytes: what the mount just uploaded, which nothing writes any more. False,
        with `source` left where it is, when the version is open or cached already (in part),
        or the file cannot be moved here; the caller copies it then."""
        self._check_open()
        key = cache_disk.key_of(version)
        async with self._locked(key):
            if self._closed or key in self._open or key in self._index:
                return False
            data_path, map_path = self._paths(key)
            move = cache_disk.move_in
            try:
                await trio.to_thread.run_sync(
                    move, source, size, data_path, map_path, self._block_size
                )
            except OSError as exc:
                log.debug("not moving %s into the cache: %s", source, exc)
                return False
            self.account(self._index.setdefault(key, IndexEntry(key, 0, time.time())), size)
        await self.enforce_budget()
        return True

    async def close(self) -> None:
        """Save every open file's block map and close its descriptor (at unmount).

        Files still open afterwards refuse I/O, and their close() does nothing.
        """
        if self._closed:
            return
        self._closed = True
        # Unmount must finish saving even if the surrounding scope is being cancelled.
        with trio.CancelScope(shield=True):
            for key, cached in list(self._open.items()):
                async with self._locked(key):
                    if self._open.get(key) is cached:
                        await cached.shutdown()
                        del self._open[key]

    async def release(self, cached: CachedFile) -> None:
        """Drop one pin of `cached` (its `close`); the last one shuts it down."""
        # Closing must complete even under cancellation, or the file would stay pinned.
        with trio.CancelScope(shield=True):
            async with self._locked(cached.key):
                if not cached.unpin():
                    return
                await cached.shutdown()
                if self._open.get(cached.key) is cached:
                    del self._open[cached.key]
        await self.enforce_budget()

    # --- What open files tell their cache (`cached_file.Holder`). ---

    def account(self, entry: IndexEntry, delta: int) -> None:
        """`delta` bytes more (or fewer) present in the file of `entry`."""
        entry.used += delta
        self._used += delta

    def touch(self, entry: IndexEntry) -> None:
        """The file of `entry` was used: it is now the most recently used."""
        entry.last_use = time.time()
        if self._index.get(entry.key) is entry:
            self._index.move_to_end(entry.key)

    # --- Internals. ---

    def _paths(self, key: str) -> tuple[Path, Path]:
        return cache_disk.paths_of(self._directory, key)

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("the content cache is closed")

    @contextlib.asynccontextmanager
    async def _locked(self, key: str) -> AsyncIterator[None]:
        """Hold the lifecycle lock of one name; locks exist only while someone uses them."""
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = trio.Lock()
        try:
            async with lock:
                yield
        finally:
            # trio hands a released lock straight to the next waiter, so an unlocked lock with
            # no waiters is unused and can go.
            if (
                not lock.locked()
                and lock.statistics().tasks_waiting == 0
                and self._locks.get(key) is lock
            ):
                del self._locks[key]

    async def enforce_budget(self) -> None:
        """Evict least recently used unpinned files, whole, until the budget holds."""
        if self._used <= self._budget or self._closed:
            return
        async with self._evict_lock:
            while self._used > self._budget and not self._closed:
                victim = next((e for e in self._index.values() if e.key not in self._open), None)
                if victim is None:
                    return  # everything left is pinned; a later close() evicts
                async with self._locked(victim.key):
                    # Waiting for the lock may have let an open() pin it, or changed the index.
                    if self._index.get(victim.key) is not victim or victim.key in self._open:
                        continue
                    del self._index[victim.key]
                    self._used -= victim.used
                    log.debug("evicting cached %s (%d bytes)", victim.key, victim.used)
                    await trio.to_thread.run_sync(cache_disk.remove_all, *self._paths(victim.key))

    def _scan(self) -> None:
        """Index what earlier mounts left: data files with a valid map; delete the rest of ours."""
        with os.scandir(self._directory) as entries:
            names = {entry.name for entry in entries}
        found: list[IndexEntry] = []
        for name in sorted(names):
            match = cache_disk.OUR_NAME.fullmatch(name)
            if match is None:
                continue  # not a cache file: left alone
            key, kind = match.groups()
            orphan_map = kind == cache_disk.MAP_SUFFIX and key + cache_disk.DATA_SUFFIX not in names
            if kind == cache_disk.TMP_SUFFIX or orphan_map:
                cache_disk.remove_quietly(self._directory / name)
            elif kind == cache_disk.DATA_SUFFIX:
                entry = self._scan_one(key)
                if entry is None:
                    log.info("dropping cached %s: no usable block map", key)
                    cache_disk.remove_all(*self._paths(key))
                else:
                    found.append(entry)
        found.sort(key=lambda entry: entry.last_use)
        for entry in found:
            self._index[entry.key] = entry
            self._used += entry.used

    def _scan_one(self, key: str) -> IndexEntry | None:
        data_path, map_path = self._paths(key)
        try:
            decoded = cache_disk.read_map(map_path, self._block_size)
            if decoded is None:
                return None
            size, bitmap = decoded
            stat = os.stat(data_path)
        except OSError as exc:
            log.warning("cannot read cached %s: %s", key, exc)
            return None
        if stat.st_size < cache_disk.needed_length(bitmap, size, self._block_size):
            return None
        return IndexEntry(
            key, cache_disk.present_bytes(bitmap, size, self._block_size), stat.st_mtime
        )
