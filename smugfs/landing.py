"""The bytes of one ranged GET on their way into the content cache, whole blocks at a time.

Received bytes are gathered until about one kernel read's worth (`LAND_BYTES`) is there, then
written to the cache and announced, so that a reader waits for its own bytes only, not for the
whole GET. A GET's first landings are smaller (a block, then doubling), so the first read of a
file waits only for its own block and a reader of heads can close (and cut the GET) early.
"""

from __future__ import annotations

from collections.abc import Callable

from smugfs.cached_file import CachedFile
from smugfs.errors import IntegrityError

# Bytes of a GET gathered before they are written to the cache and handed to waiting readers:
# about one kernel read.
LAND_BYTES = 1024 * 1024


class Landing:
    """Bytes [offset, offset + length) of `name` fed in order, landed in `cached`; `landed`
    is told each run of blocks (first, last) once it is in the cache."""

    def __init__(
        self,
        cached: CachedFile,
        offset: int,
        length: int,
        name: str,
        landed: Callable[[int, int], None],
    ) -> None:
        self._cached = cached
        self._block = cached.block_size
        self._start = offset
        self._end = offset + length
        self._name = name
        self._landed = landed
        self._parts: list[bytes | memoryview] = []
        self._gathered = 0
        # Where the bytes not yet written start.
        self._at = offset

    async def feed(self, chunk: bytes) -> None:
        """Take the next bytes received; lands the whole blocks once enough are gathered."""
        self._parts.append(chunk)
        self._gathered += len(chunk)
        if self._at + self._gathered > self._end:
            raise IntegrityError(f"{self._name}: the server sent more than was asked")
        if self._gathered >= min(LAND_BYTES, max(self._block, self._at - self._start)):
            await self._land_whole_blocks()

    async def keep_whole_blocks(self) -> None:
        """A GET cut short keeps the whole blocks it has gathered."""
        if self._gathered >= self._block and self._at + self._gathered <= self._end:
            await self._land_whole_blocks()

    async def finish(self) -> None:
        """Land what is left once the server has sent everything (the file's last block may
        be short)."""
        if self._parts:
            data = b"".join(self._parts)
            self._parts = []
            self._gathered = 0
            await self._cached.write_blocks(self._at, data)
            self._at += len(data)

    async def _land_whole_blocks(self) -> None:
        data = memoryview(b"".join(self._parts))
        whole = self._gathered - self._gathered % self._block
        # The bytes past the last whole block wait for the next chunk (views, no copy).
        self._parts = [data[whole:]] if whole < self._gathered else []
        self._gathered -= whole
        await self._cached.write_blocks(self._at, data[:whole])
        self._landed(self._at // self._block, (self._at + whole) // self._block - 1)
        self._at += whole
