"""Media bytes: ranged GETs streamed to a sink as they arrive, and whole files.

A ranged transfer that fails part way is resumed where it stopped, under the one retry policy.
A media server that answers a ranged GET with the whole file (200) raises `RangeIgnored`
before anything is fed; the caller then reads whole files (`stream_whole`), each attempt from
the start.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from smugfs.api.transport import Transport, path_of, raise_for_status
from smugfs.errors import ProtocolError, SmugfsError

Sink = Callable[[bytes], Awaitable[None]]

WHOLE_CHUNK = 1024 * 1024


class RangeIgnored(SmugfsError):
    """The media server answered a ranged GET with the whole file (200)."""


class Media:
    """Reads of media files (images and video renditions) by URL."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    async def get_range(self, url: str, start: int, length: int) -> bytes:
        """`length` bytes of a media file from `start` (fewer at its end).

        Raises `RangeIgnored` when the server sends the whole file instead.
        """
        parts: list[bytes] = []

        async def keep(chunk: bytes) -> None:
            parts.append(chunk)

        await self.stream_range(url, start, length, keep)
        return b"".join(parts)

    async def stream_range(self, url: str, start: int, length: int, sink: Sink) -> int:
        """Feed bytes [start, start + length) of a media file to `sink` in order, as they
        arrive; returns how many were fed (fewer only at the end of the file)."""
        what = f"GET {path_of(url)}"
        fed = 0

        async def counted(chunk: bytes) -> None:
            nonlocal fed
            await sink(chunk)
            fed += len(chunk)

        async def attempt() -> int:
            if fed < length:
                await self._range_once(url, start + fed, length - fed, what, counted)
            return fed

        return await self.transport.retrying(what, attempt, idempotent=True)

    async def _range_once(self, url: str, start: int, length: int, what: str, sink: Sink) -> None:
        """One ranged GET fed to `sink`, until the server has sent all it will."""
        headers = {"Range": f"bytes={start}-{start + length - 1}"}
        async with self.transport.stream(what, url, headers) as response:
            status = response.status_code
            if status == 200:
                raise RangeIgnored(f"{what}: the server ignored Range")
            if status == 416:
                return
            if status >= 400:
                await response.aread()
                raise_for_status(response, what)
            content_range = response.headers.get("content-range", "")
            if status != 206 or not content_range.startswith(f"bytes {start}-"):
                raise ProtocolError(f"{what}: unexpected reply to a ranged read")
            async for chunk in response.aiter_bytes():
                if chunk:
                    self.transport.stats.media_bytes += len(chunk)
                    await sink(chunk)

    async def stream_whole(self, url: str, what: str, begin: Callable[[], Sink]) -> int:
        """Feed a whole media file to a sink; returns how many bytes it was. Each attempt
        starts from the first byte, with the sink `begin()` returns for it."""

        async def attempt() -> int:
            sink = begin()
            total = 0
            async with self.transport.stream(what, url) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise_for_status(response, what)
                async for chunk in response.aiter_bytes(WHOLE_CHUNK):
                    total += len(chunk)
                    self.transport.stats.media_bytes += len(chunk)
                    await sink(chunk)
            return total

        return await self.transport.retrying(what, attempt, idempotent=True)
