"""The in-memory side of one cached file: which of its blocks are present, and the bytes just
written to it.

Block `i` covers bytes [i * block_size, (i + 1) * block_size), clipped at the content's size. A
map costs one bit per block (4 KiB for a 4 GiB video at 128 KiB blocks) and nothing is kept per
byte, so memory stays bounded whatever the file size.
"""

from __future__ import annotations

import collections

from smugfs.cache_disk import block_count, encode_map

# Bytes just written that each open file keeps in memory, so that the read that was waiting for
# them is answered from the very buffer received, not from a copy read back from the file.
RECENT_BYTES = 4 * 1024 * 1024
# At most this much for a file read in sequence: the bytes its GETs have landed ahead of its
# reader, which on a fast network run up to the read-ahead window ahead. Written to the cache
# file with O_DIRECT, they would otherwise be read back from the disk.
STREAMED_BYTES = 40 * 1024 * 1024


class BlockMap:
    """Which blocks of a content of `size` bytes are present, as a bitmap (bit i = block i)."""

    def __init__(self, size: int, block_size: int, bitmap: bytearray) -> None:
        self.size = size
        self.block_size = block_size
        self.blocks = block_count(size, block_size)
        self._bitmap = bitmap
        self._present = int.from_bytes(bitmap, "little").bit_count()

    @property
    def complete(self) -> bool:
        return self._present == self.blocks

    def has(self, block: int) -> bool:
        return bool(self._bitmap[block >> 3] >> (block & 7) & 1)

    def has_all(self, first: int, last: int) -> bool:
        return all(self.has(block) for block in range(first, last + 1))

    def missing_runs(self, first_block: int, last_block: int) -> list[tuple[int, int]]:
        """Runs (first, last), inclusive and in order, of absent blocks in the given range,
        clipped to the blocks that exist."""
        first = max(first_block, 0)
        last = min(last_block, self.blocks - 1)
        runs: list[tuple[int, int]] = []
        start: int | None = None
        for block in range(first, last + 1):
            if self.has(block):
                if start is not None:
                    runs.append((start, block - 1))
                    start = None
            elif start is None:
                start = block
        if start is not None:
            runs.append((start, last))
        return runs

    def mark(self, first: int, last: int) -> int:
        """Mark blocks `first..last` present; the bytes they add (those already present add
        nothing)."""
        gained = 0
        for block in range(first, last + 1):
            if not self.has(block):
                self._bitmap[block >> 3] |= 1 << (block & 7)
                self._present += 1
                gained += min(self.block_size, self.size - block * self.block_size)
        return gained

    def clear(self) -> None:
        """Forget every block."""
        self._bitmap = bytearray(len(self._bitmap))
        self._present = 0

    def image(self) -> bytes:
        """The map as it is saved on disk (a copy taken now)."""
        return encode_map(self.size, self.block_size, bytes(self._bitmap))


class RecentBytes:
    """The last bytes written to one file from immutable buffers, newest last, at most
    `RECENT_BYTES` (`STREAMED_BYTES` ahead of a sequential reader): a read of them is answered
    with a view of the buffer received, no copy. The file keeps here only bytes that are
    present."""

    def __init__(self) -> None:
        self._parts: collections.deque[tuple[int, memoryview]] = collections.deque()
        self._bytes = 0
        self._limit = RECENT_BYTES

    def remember(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Keep bytes just written at `offset`, if nobody can change them (bytes, or a
        read-only view of bytes)."""
        view = memoryview(data)
        if not view.readonly or not view.c_contiguous or len(view) > self._limit:
            return
        self._parts.append((offset, view.cast("B")))
        self._bytes += len(view)
        while self._bytes > self._limit:
            _, dropped = self._parts.popleft()
            self._bytes -= len(dropped)

    def streaming(self, offset: int, ahead: int) -> None:
        """A sequential reader is at `offset` and will read `ahead` bytes more: keep what its
        GETs land up to that far ahead and a little more (at most `STREAMED_BYTES`), and let
        go of what lies well behind it (it reads on; the kernel keeps the pages it got)."""
        self._limit = min(STREAMED_BYTES, ahead + RECENT_BYTES)
        # The kernel's reads of one sequence may be answered out of order: what lies just
        # behind this one may still be asked for.
        behind = offset - RECENT_BYTES
        kept: collections.deque[tuple[int, memoryview]] = collections.deque()
        for start, recent in self._parts:
            if start + len(recent) > behind:
                kept.append((start, recent))
            else:
                self._bytes -= len(recent)
        self._parts = kept

    def find(self, offset: int, end: int) -> memoryview | bytes | None:
        """Bytes [offset, end) if the buffers kept hold them all: a view where one buffer
        does, else a copy joined from the buffers that follow one another over the range."""
        for start, recent in reversed(self._parts):
            if start <= offset and end <= start + len(recent):
                return recent[offset - start : end - start]
        pieces: list[memoryview] = []
        at = offset
        for start, recent in self._parts:
            if start <= at < start + len(recent):
                pieces.append(recent[at - start : min(end, start + len(recent)) - start])
                at += len(pieces[-1])
                if at >= end:
                    return b"".join(pieces)
        return None

    def forget(self) -> None:
        self._parts.clear()
        self._bytes = 0
