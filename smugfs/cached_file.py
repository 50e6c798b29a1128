"""One cached file open through the content cache: its data file's descriptor, reads and writes
of whole blocks, the block map saved while it is written, and discarding it all.

Invariants kept across every await (several trio tasks may use one file at once, and file I/O
runs in worker threads, except reads the page cache answers at once, which `RWF_NOWAIT` makes
safe to do on the loop):

- A block is marked present only after its bytes have been written, and only if no `discard`
  began meanwhile (a generation counter tells); a read checks the generation again after its
  I/O, so it never returns bytes that a discard may have truncated away.
- A file's descriptor is closed only after its in-flight I/O has drained (`Descriptor`), so no
  thread ever writes through a descriptor number that was closed and reused.
- Writes wait while a discard truncates the data file; map saves are serialised, so the last one
  written is the newest. No thread lock is ever held across an await.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar, TypeVarTuple

import trio

from smugfs import cache_disk
from smugfs.cache_blocks import BlockMap, RecentBytes

log = logging.getLogger(__name__)

# How much may be written to a file before its block map is saved again: a crash loses at most
# this much of each open file (the bytes stay, but without a map they are re-fetched). Each save
# waits for the disk (fdatasync, then a rename): at 8 MiB, saves took about half of the worker
# threads' busy time while a large original streamed in; 64 MiB is a fraction of a second of a
# download to fetch again after a crash.
PERSIST_EVERY = 64 * 1024 * 1024

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")


@dataclass(slots=True)
class IndexEntry:
    """What the cache remembers of every file on disk, open or not."""

    key: str
    used: int
    last_use: float


class Holder(Protocol):
    """The cache a file is open through: its byte budget, its LRU order, its pins."""

    @property
    def nursery(self) -> trio.Nursery | None: ...

    def account(self, entry: IndexEntry, delta: int) -> None: ...

    def touch(self, entry: IndexEntry) -> None: ...

    async def enforce_budget(self) -> None: ...

    async def release(self, cached: CachedFile) -> None: ...


class Descriptor:
    """A data file's descriptors used by worker threads (`direct`: the same file opened for
    O_DIRECT writes, if its filesystem allows): counted, so that they are closed only once
    every thread call using them has returned."""

    def __init__(self, fd: int, direct: int | None, name: str) -> None:
        self.fd: int | None = fd
        self.direct = direct
        self._name = name
        self._inflight = 0
        self._idle: trio.Event | None = None

    async def run(self, fn: Callable[[int, *_Ts], _T], *args: *_Ts) -> _T:
        """Run `fn(fd, *args)` in a worker thread."""
        fd = self.fd
        if fd is None:
            raise ValueError(f"cached file of {self._name!r} is closed")
        self._inflight += 1
        try:
            # Not abandoned on cancel: the thread's I/O always finishes before this returns.
            return await trio.to_thread.run_sync(fn, fd, *args)
        finally:
            self._inflight -= 1
            if not self._inflight and self._idle is not None:
                self._idle.set()
                self._idle = None

    async def drained(self) -> tuple[int, int | None] | None:
        """Wait for the thread calls under way, then take both descriptors (None if taken)."""
        while self._inflight:
            if self._idle is None:
                self._idle = trio.Event()
            await self._idle.wait()
        fd, self.fd = self.fd, None
        direct, self.direct = self.direct, None
        return None if fd is None else (fd, direct)


class CachedFile:
    """The cached blocks of one version, open (pinned) through its ContentCache.

    Block `i` covers bytes [i * block_size, (i + 1) * block_size), clipped at `size`.
    """

    def __init__(
        self,
        holder: Holder,
        entry: IndexEntry,
        version: str,
        fds: tuple[int, int | None],
        blocks: BlockMap,
        map_path: Path,
    ) -> None:
        self.version = version
        self.size = blocks.size
        self.block_size = blocks.block_size
        self.key = entry.key
        self.entry = entry
        self._holder = holder
        self._map_path = map_path
        self._descriptor = Descriptor(*fds, version)
        self._blocks = blocks
        self._recent = RecentBytes()
        self._refs = 1
        self._closing = False
        # Bumped by discard(): I/O begun under an older generation vouches for nothing.
        self._generation = 0
        # Set while discard() truncates the data file; writes wait for it.
        self._truncating: trio.Event | None = None
        # Serialises map saves (periodic, discard, final) so the last one written is the newest.
        self._map_lock = trio.Lock()
        self._dirty = False
        self._unsaved = 0
        self._saving = False

    def block_count(self) -> int:
        return self._blocks.blocks

    def has(self, block: int) -> bool:
        """Whether block `block` is present; IndexError outside [0, block_count())."""
        if not 0 <= block < self._blocks.blocks:
            raise IndexError(f"block {block} out of range 0..{self._blocks.blocks - 1}")
        return self._blocks.has(block)

    def missing_runs(self, first_block: int, last_block: int) -> list[tuple[int, int]]:
        """Runs (first, last), inclusive and in order, of absent blocks in the given range.

        The range is clipped to the blocks that exist.
        """
        return self._blocks.missing_runs(first_block, last_block)

    @property
    def complete(self) -> bool:
        return self._blocks.complete

    async def write_blocks(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Store whole blocks starting at `offset` (the last block of the content may be short).

        Raises ValueError on misaligned input or data past EOF, OSError if the bytes cannot be
        written. May evict other (unpinned) files to keep the budget.
        """
        await self.write_runs(offset, (memoryview(data),))

    async def write_runs(self, offset: int, parts: Sequence[memoryview]) -> None:
        """Store buffers of whole blocks one after another from `offset`, in one write (the
        last block of the content may be short); as `write_blocks` otherwise."""
        block_size = self.block_size
        length = sum(len(part) for part in parts)
        end = offset + length
        if offset < 0 or offset % block_size:
            raise ValueError(f"offset {offset} is not a multiple of the block size {block_size}")
        if end > self.size:
            raise ValueError(f"data [{offset}, {end}) runs past the end ({self.size})")
        if any(len(part) % block_size for part in parts[:-1]) or (
            length % block_size and end != self.size
        ):
            raise ValueError(f"{length} bytes is not whole blocks and does not reach the end")
        self._check_usable()
        if not length:
            return
        while self._truncating is not None:
            await self._truncating.wait()
            self._check_usable()
        generation = self._generation
        await self._descriptor.run(cache_disk.write_parts, parts, offset, self._descriptor.direct)
        if generation != self._generation or self._descriptor.fd is None:
            return  # discarded (or closed) meanwhile: these bytes are not vouched for
        gained = self._blocks.mark(offset // block_size, (end - 1) // block_size)
        if gained:
            self._dirty = True
            self._holder.account(self.entry, gained)
        self._holder.touch(self.entry)
        at = offset
        for part in parts:
            self._recent.remember(at, part)
            at += len(part)
        self._unsaved += length
        if self._unsaved >= PERSIST_EVERY:
            nursery = self._holder.nursery
            if nursery is None:
                await self._persist()
            elif not self._saving:
                # One save at a time per file; writes landing meanwhile go into the next one.
                self._saving = True
                nursery.start_soon(self._persist_in_background)
        await self._holder.enforce_budget()

    async def read(
        self, offset: int, length: int, ahead: int = 0
    ) -> bytes | bytearray | memoryview:
        """Bytes [offset, offset + length) clipped at EOF; LookupError unless all are present.
        Bytes written a moment ago come as a read-only view of the buffer they were written
        from (no copy).

        `ahead`: how much a sequential reader will want after these bytes; the bytes landed
        that far ahead are kept in memory for it, and when they have to come from the disk,
        the kernel is asked to read that much further in the background.
        """
        if offset < 0 or length < 0:
            raise ValueError(f"bad range: offset {offset}, length {length}")
        self._check_usable()
        end = min(offset + length, self.size)
        if end <= offset:
            return b""
        first, last = offset // self.block_size, (end - 1) // self.block_size
        if not self._blocks.has_all(first, last):
            raise LookupError(f"blocks {first}..{last} of {self.version!r} are not all cached")
        if ahead:
            self._recent.streaming(offset, ahead)
        recent = self._recent.find(offset, end)
        if recent is not None:
            self._holder.touch(self.entry)
            return recent
        generation = self._generation
        fd = self._descriptor.fd
        assert fd is not None  # checked by _check_usable, and nothing awaited since
        data = bytearray(end - offset)
        view = memoryview(data)
        # Blocks just written, or read recently, are in the page cache: they are copied on the
        # loop in microseconds, where a thread hop would cost about a millisecond per kernel
        # read. Only what the page cache does not hold is read in a worker thread.
        got = cache_disk.read_cached(fd, view, offset)
        if got < len(data):
            ahead = min(ahead, self.size - end)
            got += await self._descriptor.run(cache_disk.read_into, view[got:], offset + got, ahead)
        if generation != self._generation:
            raise LookupError(f"{self.version!r} was discarded during the read")
        if got != end - offset:
            log.warning("cached %s is shorter than its block map says", self.key)
            raise LookupError(f"cached data of {self.version!r} is truncated")
        self._holder.touch(self.entry)
        return data

    async def md5(self) -> str:
        """Hex MD5 of the whole content; LookupError unless the content is complete."""
        self._check_usable()
        if not self.complete:
            raise LookupError(f"{self.version!r} is not completely cached")
        generation = self._generation
        digest = await self._descriptor.run(cache_disk.md5_of, self.size)
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
        self._recent.forget()
        self._holder.account(self.entry, -self.entry.used)
        self._blocks.clear()
        # Dirty, so that a close that overtakes the truncation still saves the empty map.
        self._dirty = True
        self._unsaved = 0
        truncating = self._truncating = trio.Event()
        try:
            async with self._map_lock:
                if self._descriptor.fd is not None:
                    empty = self._blocks.image()
                    await self._descriptor.run(cache_disk.forget_storage, self._map_path, empty)
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

    def unpin(self) -> bool:
        """Drop one pin (under the cache's lock of this name); whether it was the last one, so
        that the file is to be shut down."""
        if self._descriptor.fd is None or self._refs == 0:
            return False
        self._refs -= 1
        return self._refs == 0

    async def close(self) -> None:
        """Drop one pin; the last one saves the block map and closes the data file."""
        await self._holder.release(self)

    async def shutdown(self) -> None:
        """Refuse new I/O, wait for I/O under way, save the map and close the descriptor."""
        self._closing = True
        self._refs = 0
        self._recent.forget()
        async with self._map_lock:
            fds = await self._descriptor.drained()
            if fds is None:
                return
            image = self._map_image()
            await trio.to_thread.run_sync(
                cache_disk.save_and_close, *fds, self._map_path, image, self.entry.last_use
            )

    # --- Internals. ---

    def _check_usable(self) -> None:
        if self._descriptor.fd is None or self._closing:
            raise ValueError(f"cached file of {self.version!r} is closed")

    def _map_image(self) -> bytes | None:
        """The map to save (a copy taken now), or None if the one on disk is current."""
        if not self._dirty:
            return None
        self._dirty = False
        return self._blocks.image()

    async def _persist(self) -> None:
        """Save the block map now (while writing, so that a crash loses little)."""
        async with self._map_lock:
            if self._descriptor.fd is None:
                return
            self._unsaved = 0
            # Taken under the lock, so saves land in the order their copies were taken.
            image = self._map_image()
            try:
                await self._descriptor.run(
                    cache_disk.save_state, self._map_path, image, self.entry.last_use
                )
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
