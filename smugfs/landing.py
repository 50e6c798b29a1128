"""The bytes of one ranged GET on their way into the content cache, whole blocks at a time.

The bytes are received straight into buffers of the landing's own (`buffer`, from the mount's
`BufferPool`: reused, page-aligned memory), each a run of whole blocks. A full buffer is
written to the cache and announced, so that a reader waits for its own bytes only, not for the
whole GET; the cache keeps a view of the buffer to answer the kernel's reads of those bytes
(the pool hands it out again only once no view is left). A GET's first buffers are smaller (a
block, then doubling up to `LAND_BYTES`), so the first read of a file waits only for its own
block and a reader of heads can close (and cut the GET) early.

Full buffers are written by a task of their own (in the mount's nursery) while the next ones
are received: a write costs about as long as receiving the same bytes, and a GET that waited
for each of its writes would only ever do one of the two at a time. At most `WRITES_AHEAD`
buffers wait for their write; the receiving waits beyond that.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
from collections.abc import Callable

import trio

from smugfs.buffer_pool import BufferPool
from smugfs.cached_file import CachedFile
from smugfs.errors import IntegrityError

log = logging.getLogger(__name__)

# The largest buffer received before it is written to the cache and handed to waiting readers:
# about one kernel read.
LAND_BYTES = 1024 * 1024
# Full buffers that may wait for their write while the next are received.
WRITES_AHEAD = 4

_Write = tuple[int, memoryview]


class Landing:
    """Bytes [offset, offset + length) of `name` received in order, into buffers taken from
    `buffers`, and landed in `cached`; `landed` is told each run of blocks (first, last) once
    it is in the cache. Writes run in `nursery` (inline without one). `close` must follow,
    whatever happened."""

    def __init__(
        self,
        cached: CachedFile,
        offset: int,
        length: int,
        name: str,
        landed: Callable[[int, int], None],
        buffers: BufferPool,
        nursery: trio.Nursery | None = None,
    ) -> None:
        self._cached = cached
        self._buffers = buffers
        self._block = cached.block_size
        self._start = offset
        self._end = offset + length
        self._name = name
        self._landed = landed
        # The buffer being received into, where it starts in the file, and how full it is.
        self._buffer: mmap.mmap | bytearray = bytearray()
        self._at = offset
        self._filled = 0
        # The writer's queue, its first error, and whether it has ended.
        self._error: Exception | None = None
        self._done = trio.Event()
        self._queue: trio.MemorySendChannel[_Write] | None = None
        if nursery is None:
            self._done.set()
        else:
            self._queue, receive = trio.open_memory_channel[_Write](WRITES_AHEAD)
            nursery.start_soon(self._writer, receive)

    def buffer(self) -> memoryview:
        """Where the next bytes go; IntegrityError once the range is all in."""
        if self._filled == len(self._buffer):
            size = min(LAND_BYTES, max(self._block, self._at - self._start))
            # Buffers end where the file's LAND_BYTES end, as the kernel's reads do: a read
            # of bytes just landed then finds them all in one buffer (no copy, no disk).
            to_boundary = LAND_BYTES - self._at % LAND_BYTES
            if to_boundary >= self._block:
                size = min(size, to_boundary)
            size = min(size - size % self._block, self._end - self._at)
            if size <= 0:
                raise IntegrityError(f"{self._name}: the server sent more than was asked")
            # One that nothing refers to any more: the cache keeps views of the last ones
            # for the kernel's reads, and those are never written into again.
            self._buffer = self._buffers.take(size)
            self._filled = 0
        return memoryview(self._buffer)[self._filled :]

    async def filled(self, count: int) -> None:
        """`count` more bytes were received; a full buffer is landed."""
        self._filled += count
        if self._filled == len(self._buffer):
            await self._land(self._filled)

    async def finish(self) -> None:
        """Wait until every buffer received is in the cache; the first error writing one."""
        await self.close()
        if self._error is not None:
            raise self._error

    async def keep_whole_blocks(self) -> None:
        """A GET cut short keeps the whole blocks it has received (call it shielded)."""
        try:
            await self._land(self._filled - self._filled % self._block)
        except (trio.BrokenResourceError, trio.ClosedResourceError, ValueError, OSError) as exc:
            # The writer stopped (the mount ends) or failed: nothing more is written.
            log.debug("keeping what landed of %s: %s", self._name, exc)
        await self.close()

    async def close(self) -> None:
        """No more buffers: wait for the writes queued (call it shielded on a way out)."""
        if self._queue is not None:
            await self._queue.aclose()
        await self._done.wait()

    async def _land(self, count: int) -> None:
        """Queue the first `count` bytes of the buffer (whole blocks, or up to the end)."""
        if self._error is not None:
            raise self._error
        if count <= 0:
            return
        write = (self._at, memoryview(self._buffer).toreadonly()[:count])
        # What is landed is not received again: the next bytes go into a new buffer.
        self._at += count
        self._buffer = bytearray()
        self._filled = 0
        if self._queue is None:
            await self._write(write[0], [write[1]])
        else:
            await self._queue.send(write)

    async def _write(self, at: int, parts: list[memoryview]) -> None:
        await self._cached.write_runs(at, parts)
        length = sum(len(part) for part in parts)
        self._landed(at // self._block, (at + length - 1) // self._block)

    async def _writer(self, queue: trio.MemoryReceiveChannel[_Write]) -> None:
        # A task of the mount's nursery: it must never raise. The buffers queued meanwhile go
        # in one write. After an error it only drains the queue, so that the receiving side is
        # never stuck on a full one.
        try:
            async with queue:
                async for at, data in queue:
                    parts = [data]
                    with contextlib.suppress(trio.WouldBlock, trio.EndOfChannel):
                        while len(parts) < WRITES_AHEAD:
                            parts.append(queue.receive_nowait()[1])
                    if self._error is None:
                        try:
                            await self._write(at, parts)
                        except Exception as exc:
                            log.debug("writing %s into the cache: %s", self._name, exc)
                            self._error = exc
        finally:
            self._done.set()
