"""The on-disk content cache: media bytes kept in fixed-size blocks, keyed by a version string.

The reader fetches photos and videos with ranged GETs and stores what it fetched here, so a
block is downloaded once per version, also across mounts. Everything lives in one directory
(mode 0700) owned by one mount at a time:

    <sha256 of the version>.data     sparse file of `size` bytes; only present blocks are written
    <sha256 of the version>.map      block map: header (size, block size, CRC) + bitmap
    <sha256 of the version>.map.tmp  a map being written; renamed over `.map` when complete

Files that match none of these names are never touched.

A block map costs one bit per block (4 KiB for a 4 GiB video at 128 KiB blocks) and nothing is
kept per byte, so memory stays bounded whatever the file size. Files that are not open cost one
small index entry each.

The byte budget counts present blocks (`used_bytes`). When a write takes the total over the
budget, whole files are evicted, least recently used first. Files that are open ("pinned") are
never evicted, so the total may exceed the budget only while everything left is pinned; the
next close brings it back under. The budget is also enforced when a cache is built on a
directory left by an earlier mount.

Invariants kept across every await (several trio tasks may use one file at once, and file I/O
runs in worker threads, except reads the page cache answers at once, which `RWF_NOWAIT` makes
safe to do on the loop):

- A block is marked present only after its bytes have been written, and only if no `discard`
  began meanwhile (a generation counter tells); a read checks the generation again after its
  I/O, so it never returns bytes that a discard may have truncated away.
- A map on disk never claims a block whose bytes are not on disk: data is flushed before a map
  naming it is written, a map is replaced atomically, and a stale map is removed (or replaced by
  an empty one) before the bytes it describes are dropped. A crash loses blocks, never corrupts
  them.
- A file's descriptor is closed only after its in-flight I/O has drained, so no thread ever
  writes through a descriptor number that was closed and reused.
- Lifecycle changes of one name (open, last close, eviction) are serialised by a per-name trio
  lock and re-check the state once they hold it; writes wait while a discard truncates the data
  file. No thread lock is ever held across an await.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import logging
import os
import re
import struct
import time
import zlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, TypeVarTuple

import trio

log = logging.getLogger(__name__)

DEFAULT_BLOCK_SIZE = 128 * 1024
# How much may be written to a file before its block map is saved again: a crash loses at most
# this much of each open file (the bytes stay, but without a map they are re-fetched). Each save
# waits for the disk (fdatasync, then a rename): at 8 MiB, saves took about half of the worker
# threads' busy time while a large original streamed in; 64 MiB is a fraction of a second of a
# download to fetch again after a crash.
PERSIST_EVERY = 64 * 1024 * 1024
# Reads done in one piece by `md5`, so hashing a 4 GiB video needs 1 MiB of memory.
_HASH_CHUNK = 1024 * 1024
# Bytes just written that each open file keeps in memory, so that the read that was waiting for
# them is answered from the very buffer received, not from a copy read back from the file.
RECENT_BYTES = 4 * 1024 * 1024

_MAGIC = b"SMFSMAP1"
# magic, content size, block size, CRC-32 of the bitmap; the bitmap follows (bit i = block i).
_HEADER = struct.Struct("<8sQII")
_DATA = ".data"
_MAP = ".map"
_TMP = ".map.tmp"
_OUR_NAME = re.compile(r"([0-9a-f]{64})(\.data|\.map|\.map\.tmp)")

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")


def _key_of(version: str) -> str:
    """The file name stem of a version: fixed length, safe in a path, whatever the version."""
    return hashlib.sha256(version.encode("utf-8")).hexdigest()


def _block_count(size: int, block_size: int) -> int:
    return -(-size // block_size)


def _bitmap_length(blocks: int) -> int:
    return (blocks + 7) // 8


def _present_bytes(bitmap: bytes | bytearray, size: int, block_size: int) -> int:
    """Bytes held by the present blocks (the last block may be short)."""
    bits = int.from_bytes(bitmap, "little")
    total = bits.bit_count() * block_size
    blocks = _block_count(size, block_size)
    if blocks and bits >> (blocks - 1) & 1:
        total -= blocks * block_size - size
    return total


def _needed_length(bitmap: bytes | bytearray, size: int, block_size: int) -> int:
    """The data file length the present blocks imply (a shorter file lost some of them)."""
    return min(int.from_bytes(bitmap, "little").bit_length() * block_size, size)


def _encode_map(size: int, block_size: int, bitmap: bytes) -> bytes:
    return _HEADER.pack(_MAGIC, size, block_size, zlib.crc32(bitmap)) + bitmap


def _decode_map(raw: bytes, block_size: int) -> tuple[int, bytearray] | None:
    """The content size and bitmap of a well-formed map made with `block_size`, else None."""
    if len(raw) < _HEADER.size:
        return None
    magic, size, stored_block_size, crc = _HEADER.unpack_from(raw)
    bitmap = raw[_HEADER.size :]
    if magic != _MAGIC or stored_block_size != block_size:
        return None
    blocks = _block_count(size, block_size)
    if len(bitmap) != _bitmap_length(blocks) or zlib.crc32(bitmap) != crc:
        return None
    if int.from_bytes(bitmap, "little").bit_length() > blocks:
        return None
    return size, bytearray(bitmap)


# --- Blocking helpers. They run in worker threads (or in the constructor, before serving). ---


def _read_map(path: Path, block_size: int) -> tuple[int, bytearray] | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    return _decode_map(raw, block_size)


def _remove_quietly(path: Path) -> None:
    """Delete `path`; a failure only leaves a file the next startup scan deals with."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("cannot remove cache file %s: %s", path, exc)


def _remove_all(*paths: Path) -> None:
    for path in paths:
        _remove_quietly(path)


def _write_all(fd: int, data: bytes | bytearray | memoryview, offset: int) -> None:
    view = memoryview(data)
    while len(view):
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def _read_upto(fd: int, offset: int, length: int) -> bytes:
    """Up to `length` bytes at `offset`; fewer only if the file ends first."""
    parts: list[bytes] = []
    while length > 0:
        chunk = os.pread(fd, length, offset)
        if not chunk:
            break
        parts.append(chunk)
        offset += len(chunk)
        length -= len(chunk)
    return b"".join(parts)


def _read_cached(fd: int, buffer: memoryview, offset: int) -> int:
    """Fill `buffer` from `offset` with what the page cache holds, without ever waiting for the
    disk (RWF_NOWAIT); how many bytes it got, 0 where the kernel cannot tell without waiting."""
    try:
        return os.preadv(fd, [buffer], offset, os.RWF_NOWAIT)
    except (BlockingIOError, OSError):
        # EAGAIN: not (all) cached; EOPNOTSUPP/EINVAL: a filesystem without the flag.
        return 0


def _read_into(fd: int, buffer: memoryview, offset: int, ahead: int = 0) -> int:
    """Fill `buffer` from `offset`; fewer bytes only if the file ends first. Then have the
    kernel start reading the `ahead` bytes that follow, so the next reads find them in memory."""
    done = 0
    while done < len(buffer):
        got = os.preadv(fd, [buffer[done:]], offset + done)
        if not got:
            break
        done += got
    if ahead > 0 and done == len(buffer):
        os.posix_fadvise(fd, offset + done, ahead, os.POSIX_FADV_WILLNEED)
    return done


def _md5_of(fd: int, size: int) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    offset = 0
    while offset < size:
        chunk = _read_upto(fd, offset, min(_HASH_CHUNK, size - offset))
        if not chunk:
            raise LookupError("cached data file is shorter than its block map says")
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()


def _replace_map(map_path: Path, image: bytes) -> None:
    """Write a map so that readers of `map_path` see the old one or the new one, never half."""
    tmp = map_path.with_name(map_path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        _write_all(fd, image, 0)
    finally:
        os.close(fd)
    os.replace(tmp, map_path)


def _save_state(fd: int, map_path: Path, image: bytes | None, last_use: float) -> None:
    """Save a map (if given) and stamp the data file with the last use, read back at startup."""
    if image is not None:
        # The map may name blocks written just now: make their bytes durable first.
        os.fdatasync(fd)
        _replace_map(map_path, image)
    os.utime(fd, (last_use, last_use))


def _save_and_close(fd: int, map_path: Path, image: bytes | None, last_use: float) -> None:
    try:
        _save_state(fd, map_path, image, last_use)
    except OSError as exc:
        # The map on disk is then an older one, which only claims blocks that are there.
        log.warning("cannot save the block map %s: %s", map_path, exc)
    finally:
        os.close(fd)


def _forget_storage(fd: int, map_path: Path, empty_image: bytes) -> None:
    # The empty map goes first: a crash in between then leaves no map claiming truncated bytes.
    _replace_map(map_path, empty_image)
    os.ftruncate(fd, 0)


def _open_storage(
    data_path: Path, map_path: Path, size: int, block_size: int
) -> tuple[int, bytearray]:
    """Open (or create) a data file and load its map, or start empty if the map does not fit."""
    fd = os.open(data_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        decoded = _read_map(map_path, block_size)
        if decoded is not None:
            stored_size, bitmap = decoded
            if stored_size == size and os.fstat(fd).st_size >= _needed_length(
                bitmap, size, block_size
            ):
                return fd, bitmap
            log.info("ignoring the block map %s: made for other content", map_path)
        # Remove the stale map before dropping the bytes it describes (see `_forget_storage`).
        _remove_quietly(map_path)
        os.ftruncate(fd, 0)
        return fd, bytearray(_bitmap_length(_block_count(size, block_size)))
    except BaseException:
        os.close(fd)
        raise


@dataclass(slots=True)
class _Entry:
    """What the cache remembers of every file on disk, open or not."""

    key: str
    used: int
    last_use: float


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
        self._index: OrderedDict[str, _Entry] = OrderedDict()
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
            _remove_all(*self._paths(entry.key))

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

    async def open(self, version: str, size: int) -> CachedFile:
        """The cached file of `version` (`size` bytes), pinned until the matching close().

        Opening a version that is already open returns the same object with one more pin; one
        whose map on disk was made for another size or block size starts empty.
        """
        if size < 0:
            raise ValueError(f"negative content size {size}")
        self._check_open()
        key = _key_of(version)
        async with self._locked(key):
            self._check_open()
            cached = self._open.get(key)
            if cached is not None:
                if cached.size != size:
                    raise ValueError(
                        f"version {version!r} is open with size {cached.size}, not {size}"
                    )
                cached._refs += 1
                self._touch(cached._entry)
                return cached
            data_path, map_path = self._paths(key)
            fd, bitmap = await trio.to_thread.run_sync(
                _open_storage, data_path, map_path, size, self._block_size
            )
            # Nothing below awaits before the return, so the descriptor cannot be lost to a
            # cancellation: it is registered and handed to the caller at once.
            entry = self._index.get(key)
            if entry is None:
                entry = self._index[key] = _Entry(key, 0, time.time())
            self._account(entry, _present_bytes(bitmap, size, self._block_size) - entry.used)
            cached = CachedFile(self, entry, version, size, self._block_size, fd, bitmap, map_path)
            self._open[key] = cached
            self._touch(entry)
            # Opening never adds bytes (a reused map was counted by the scan), so the budget
            # needs no enforcing here.
            return cached

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
                        await cached._shutdown()
                        del self._open[key]

    # --- Internals shared with CachedFile. ---

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self._directory / (key + _DATA), self._directory / (key + _MAP)

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("the content cache is closed")

    def _account(self, entry: _Entry, delta: int) -> None:
        entry.used += delta
        self._used += delta

    def _touch(self, entry: _Entry) -> None:
        entry.last_use = time.time()
        if self._index.get(entry.key) is entry:
            self._index.move_to_end(entry.key)

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

    async def _enforce_budget(self) -> None:
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
                    await trio.to_thread.run_sync(_remove_all, *self._paths(victim.key))

    def _scan(self) -> None:
        """Index what earlier mounts left: data files with a valid map; delete the rest of ours."""
        with os.scandir(self._directory) as entries:
            names = {entry.name for entry in entries}
        found: list[_Entry] = []
        for name in sorted(names):
            match = _OUR_NAME.fullmatch(name)
            if match is None:
                continue  # not a cache file: left alone
            key, kind = match.groups()
            if kind == _TMP or (kind == _MAP and key + _DATA not in names):
                _remove_quietly(self._directory / name)
            elif kind == _DATA:
                entry = self._scan_one(key)
                if entry is None:
                    log.info("dropping cached %s: no usable block map", key)
                    _remove_all(*self._paths(key))
                else:
                    found.append(entry)
        found.sort(key=lambda entry: entry.last_use)
        for entry in found:
            self._index[entry.key] = entry
            self._used += entry.used

    def _scan_one(self, key: str) -> _Entry | None:
        data_path, map_path = self._paths(key)
        try:
            decoded = _read_map(map_path, self._block_size)
            if decoded is None:
                return None
            size, bitmap = decoded
            stat = os.stat(data_path)
        except OSError as exc:
            log.warning("cannot read cached %s: %s", key, exc)
            return None
        if stat.st_size < _needed_length(bitmap, size, self._block_size):
            return None
        return _Entry(key, _present_bytes(bitmap, size, self._block_size), stat.st_mtime)


class CachedFile:
    """The cached blocks of one version, open (pinned) through its ContentCache.

    Block `i` covers bytes [i * block_size, (i + 1) * block_size), clipped at `size`.
    """

    def __init__(
        self,
        cache: ContentCache,
        entry: _Entry,
        version: str,
        size: int,
        block_size: int,
        fd: int,
        bitmap: bytearray,
        map_path: Path,
    ) -> None:
        self.version = version
        self.size = size
        self.block_size = block_size
        self._cache = cache
        self._entry = entry
        self._key = entry.key
        self._map_path = map_path
        self._fd: int | None = fd
        self._blocks = _block_count(size, block_size)
        self._bitmap = bitmap
        self._present = int.from_bytes(bitmap, "little").bit_count()
        self._refs = 1
        self._closing = False
        # Bumped by discard(): I/O begun under an older generation vouches for nothing.
        self._generation = 0
        # Thread calls using the descriptor, and the event that tells when they have drained.
        self._inflight = 0
        self._idle: trio.Event | None = None
        # Set while discard() truncates the data file; writes wait for it.
        self._truncating: trio.Event | None = None
        # Serialises map saves (periodic, discard, final) so the last one written is the newest.
        self._map_lock = trio.Lock()
        # The last blocks written from immutable buffers (offset, bytes), newest last, at most
        # RECENT_BYTES; only ever bytes that are present.
        self._recent: collections.deque[tuple[int, memoryview]] = collections.deque()
        self._recent_bytes = 0
        self._dirty = False
        self._unsaved = 0
        self._saving = False

    def block_count(self) -> int:
        return self._blocks

    def has(self, block: int) -> bool:
        """Whether block `block` is present; IndexError outside [0, block_count())."""
        if not 0 <= block < self._blocks:
            raise IndexError(f"block {block} out of range 0..{self._blocks - 1}")
        return self._has(block)

    def missing_runs(self, first_block: int, last_block: int) -> list[tuple[int, int]]:
        """Runs (first, last), inclusive and in order, of absent blocks in the given range.

        The range is clipped to the blocks that exist.
        """
        first = max(first_block, 0)
        last = min(last_block, self._blocks - 1)
        runs: list[tuple[int, int]] = []
        start: int | None = None
        for block in range(first, last + 1):
            if self._has(block):
                if start is not None:
                    runs.append((start, block - 1))
                    start = None
            elif start is None:
                start = block
        if start is not None:
            runs.append((start, last))
        return runs

    @property
    def complete(self) -> bool:
        return self._present == self._blocks

    async def write_blocks(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Store whole blocks starting at `offset` (the last block of the content may be short).

        Raises ValueError on misaligned input or data past EOF, OSError if the bytes cannot be
        written. May evict other (unpinned) files to keep the budget.
        """
        block_size = self.block_size
        end = offset + len(data)
        if offset < 0 or offset % block_size:
            raise ValueError(f"offset {offset} is not a multiple of the block size {block_size}")
        if end > self.size:
            raise ValueError(f"data [{offset}, {end}) runs past the end ({self.size})")
        if len(data) % block_size and end != self.size:
            raise ValueError(f"{len(data)} bytes is not whole blocks and does not reach the end")
        self._check_usable()
        if not data:
            return
        while self._truncating is not None:
            await self._truncating.wait()
            self._check_usable()
        generation = self._generation
        await self._io(_write_all, data, offset)
        if generation != self._generation or self._fd is None:
            return  # discarded (or closed) meanwhile: these bytes are not vouched for
        gained = 0
        for block in range(offset // block_size, (end - 1) // block_size + 1):
            if not self._has(block):
                self._bitmap[block >> 3] |= 1 << (block & 7)
                self._present += 1
                gained += min(block_size, self.size - block * block_size)
        if gained:
            self._dirty = True
            self._cache._account(self._entry, gained)
        self._cache._touch(self._entry)
        self._remember(offset, data)
        self._unsaved += len(data)
        if self._unsaved >= PERSIST_EVERY:
            nursery = self._cache._nursery
            if nursery is None:
                await self._persist()
            elif not self._saving:
                # One save at a time per file; writes landing meanwhile go into the next one.
                self._saving = True
                nursery.start_soon(self._persist_in_background)
        await self._cache._enforce_budget()

    async def read(
        self, offset: int, length: int, ahead: int = 0
    ) -> bytes | bytearray | memoryview:
        """Bytes [offset, offset + length) clipped at EOF; LookupError unless all are present.
        Bytes written a moment ago come as a read-only view of the buffer they were written
        from (no copy).

        `ahead`: how much a sequential reader will want after these bytes; when they have to
        come from the disk, the kernel is asked to read that much further in the background.
        """
        if offset < 0 or length < 0:
            raise ValueError(f"bad range: offset {offset}, length {length}")
        self._check_usable()
        end = min(offset + length, self.size)
        if end <= offset:
            return b""
        first, last = offset // self.block_size, (end - 1) // self.block_size
        if not all(self._has(block) for block in range(first, last + 1)):
            raise LookupError(f"blocks {first}..{last} of {self.version!r} are not all cached")
        for start, recent in reversed(self._recent):
            if start <= offset and end <= start + len(recent):
                self._cache._touch(self._entry)
                return recent[offset - start : end - start]
        generation = self._generation
        fd = self._fd
        assert fd is not None  # checked by _check_usable, and nothing awaited since
        data = bytearray(end - offset)
        view = memoryview(data)
        # Blocks just written, or read recently, are in the page cache: they are copied on the
        # loop in microseconds, where a thread hop would cost about a millisecond per kernel
        # read. Only what the page cache does not hold is read in a worker thread.
        got = _read_cached(fd, view, offset)
        if got < len(data):
            ahead = min(ahead, self.size - end)
            got += await self._io(_read_into, view[got:], offset + got, ahead)
        if generation != self._generation:
            raise LookupError(f"{self.version!r} was discarded during the read")
        if got != end - offset:
            log.warning("cached %s is shorter than its block map says", self._key)
            raise LookupError(f"cached data of {self.version!r} is truncated")
        self._cache._touch(self._entry)
        return data

    async def md5(self) -> str:
        """Hex MD5 of the whole content; LookupError unless the content is complete."""
        self._check_usable()
        if not self.complete:
            raise LookupError(f"{self.version!r} is not completely cached")
        generation = self._generation
        digest = await self._io(_md5_of, self.size)
        if generation != self._generation:
            raise LookupError(f"{self.version!r} was discarded during hashing")
        return digest

    async def discard(self) -> None:
        """Forget every block (e.g. the content failed its MD5 check); the file stays pinned."""
        self._check_usable()
        while self._truncating is not None:
            await self._truncating.wait()
            self._check_usable()
        # Forget in memory first, at once: from here no reader sees a block, and writes or reads
        # already under way see the new generation and vouch for nothing. (A write already
        # under way may still land after the truncation below; its bytes are not counted and
        # are overwritten when the block is fetched again.)
        self._generation += 1
        self._forget_recent()
        self._cache._account(self._entry, -self._entry.used)
        self._bitmap = bytearray(len(self._bitmap))
        self._present = 0
        # Dirty, so that a close that overtakes the truncation still saves the empty map.
        self._dirty = True
        self._unsaved = 0
        truncating = self._truncating = trio.Event()
        try:
            async with self._map_lock:
                if self._fd is not None:
                    empty = _encode_map(self.size, self.block_size, bytes(self._bitmap))
                    await self._io(_forget_storage, self._map_path, empty)
        finally:
            # If cancelled before truncating, the old bytes and map stay on disk; both are
            # still true, and the in-memory map (empty) claims nothing.
            self._truncating = None
            truncating.set()

    def pin(self) -> None:
        """One more pin, taken by a holder of a pin for work that may outlive its own (a
        download landing in the background); released with close()."""
        self._check_usable()
        self._refs += 1

    async def close(self) -> None:
        """Drop one pin; the last one saves the block map and closes the data file."""
        cache = self._cache
        # Closing must complete even under cancellation, or the file would stay pinned.
        with trio.CancelScope(shield=True):
            async with cache._locked(self._key):
                if self._fd is None or self._refs == 0:
                    return
                self._refs -= 1
                if self._refs:
                    return
                await self._shutdown()
                if cache._open.get(self._key) is self:
                    del cache._open[self._key]
        await cache._enforce_budget()

    # --- Internals. ---

    def _remember(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Keep the bytes just written for the reads about to come, if nobody can change them
        (bytes, or a read-only view of bytes)."""
        view = memoryview(data)
        if not view.readonly or not view.c_contiguous or len(view) > RECENT_BYTES:
            return
        self._recent.append((offset, view.cast("B")))
        self._recent_bytes += len(view)
        while self._recent_bytes > RECENT_BYTES:
            _, dropped = self._recent.popleft()
            self._recent_bytes -= len(dropped)

    def _forget_recent(self) -> None:
        self._recent.clear()
        self._recent_bytes = 0

    def _has(self, block: int) -> bool:
        return bool(self._bitmap[block >> 3] >> (block & 7) & 1)

    def _check_usable(self) -> None:
        if self._fd is None or self._closing:
            raise ValueError(f"cached file of {self.version!r} is closed")

    async def _io(self, fn: Callable[[int, *_Ts], _T], *args: *_Ts) -> _T:
        """Run `fn(fd, *args)` in a worker thread, counted so that closing can wait for it."""
        fd = self._fd
        if fd is None:
            raise ValueError(f"cached file of {self.version!r} is closed")
        self._inflight += 1
        try:
            # Not abandoned on cancel: the thread's I/O always finishes before this returns.
            return await trio.to_thread.run_sync(fn, fd, *args)
        finally:
            self._inflight -= 1
            if not self._inflight and self._idle is not None:
                self._idle.set()
                self._idle = None

    def _map_image(self) -> bytes | None:
        """The map to save (a copy taken now), or None if the one on disk is current."""
        if not self._dirty:
            return None
        self._dirty = False
        return _encode_map(self.size, self.block_size, bytes(self._bitmap))

    async def _persist(self) -> None:
        """Save the block map now (while writing, so that a crash loses little)."""
        async with self._map_lock:
            if self._fd is None:
                return
            self._unsaved = 0
            # Taken under the lock, so saves land in the order their copies were taken.
            image = self._map_image()
            try:
                await self._io(_save_state, self._map_path, image, self._entry.last_use)
            except OSError as exc:
                self._dirty = True
                log.warning("cannot save the block map %s: %s", self._map_path, exc)

    async def _persist_in_background(self) -> None:
        # A task of the mount's nursery: it must never raise.
        try:
            await self._persist()
        except ValueError:
            pass  # closed meanwhile: the save at close covers what this one would have
        finally:
            self._saving = False

    async def _shutdown(self) -> None:
        """Refuse new I/O, wait for I/O under way, save the map and close the descriptor."""
        self._closing = True
        self._refs = 0
        self._forget_recent()
        async with self._map_lock:
            while self._inflight:
                if self._idle is None:
                    self._idle = trio.Event()
                await self._idle.wait()
            fd = self._fd
            if fd is None:
                return
            self._fd = None
            image = self._map_image()
            await trio.to_thread.run_sync(
                _save_and_close, fd, self._map_path, image, self._entry.last_use
            )
