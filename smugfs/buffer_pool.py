"""Receive buffers for media GETs: page-aligned, and reused once nothing refers to them.

A fresh megabyte for every landing costs the kernel a page fault and a zeroed page for each
4 KiB of it before a byte arrives; on this kind of machine that was a third of the mount's CPU
during a cold read. A buffer that has been used is already backed by memory, so receiving into
it again costs only the copy. Page alignment lets the cache write it with O_DIRECT
(`cache_disk.write_parts`), which needs aligned memory.

A buffer is handed out again only when no view of it is left anywhere (the landing that filled
it, the cache's recent bytes, a reply being built): a reader can never see its bytes change.
"""

from __future__ import annotations

import mmap
import sys

# Buffers the pool keeps for reuse: beyond them, buffers are made for one use and freed with
# their last view. What a sequential reader's GETs land ahead of it (`STREAMED_BYTES`), plus a
# few megabytes a GET under way.
KEPT = 48
_POOL_REFERENCES = 3


def aligned_buffer(size: int) -> mmap.mmap:
    """`size` bytes of private memory, page-aligned, not yet backed (zero when first read)."""
    return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


class BufferPool:
    """Page-aligned buffers of `size` bytes, reused once unused; other sizes made afresh."""

    def __init__(self, size: int, kept: int = KEPT) -> None:
        self.size = size
        self._kept = kept
        self._buffers: list[mmap.mmap] = []

    def take(self, size: int) -> mmap.mmap:
        """A buffer of exactly `size` bytes whose old contents nobody can see any more (the
        caller fills it before handing views of it out)."""
        if size != self.size:
            return aligned_buffer(size)
        for buffer in self._buffers:
            # Nothing but the pool refers to it, so no view of it exists (a view holds a
            # reference to the object it views): counted are the list, `buffer` and the
            # argument of getrefcount.
            if sys.getrefcount(buffer) <= _POOL_REFERENCES:
                return buffer
        buffer = aligned_buffer(size)
        if len(self._buffers) < self._kept:
            self._buffers.append(buffer)
        return buffer

    def kept(self) -> int:
        """How many buffers the pool holds for reuse (in use or not)."""
        return len(self._buffers)
