"""Media bytes: ranged GETs streamed to a sink as they arrive, and whole files.

A ranged transfer that fails part way is resumed where it stopped, under the one retry policy.
A ranged read into a `Target` receives the body straight into the target's buffers where the
connection allows (`wire.RawBody`), without the copies of h11 and httpx.
A media server that answers a ranged GET with the whole file (200) raises `RangeIgnored`
before anything is fed; the caller then reads whole files (`stream_whole`), each attempt from
the start.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

import httpx

from smugfs.api.transport import Transport, path_of, raise_for_status
from smugfs.api.wire import RawBody
from smugfs.errors import ProtocolError, SmugfsError

Sink = Callable[[bytes], Awaitable[None]]


class Target(Protocol):
    """Where the bytes of a ranged read are received, in order: one buffer after another."""

    def buffer(self) -> memoryview:
        """Where the next bytes go (writable, not empty)."""
        ...

    async def filled(self, count: int) -> None:
        """`count` more bytes were received into the buffer last handed out."""
        ...


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
        fed = 0

        async def once(response: httpx.Response) -> None:
            nonlocal fed
            async for chunk in response.aiter_bytes():
                if chunk:
                    self.transport.stats.media_bytes += len(chunk)
                    await sink(chunk)
                    fed += len(chunk)

        return await self._resumed(url, start, length, once, lambda: fed)

    async def stream_range_into(self, url: str, start: int, length: int, target: Target) -> int:
        """Receive bytes [start, start + length) of a media file into `target`'s buffers, in
        order, as they arrive; returns how many were received (fewer only at the end of the
        file)."""
        received = 0

        async def filled(count: int) -> None:
            nonlocal received
            self.transport.stats.media_bytes += count
            await target.filled(count)
            received += count

        async def once(response: httpx.Response) -> None:
            raw = RawBody.of(response)
            if raw is not None:
                while raw.remaining:
                    await filled(await raw.receive_into(target.buffer()))
                return
            async for chunk in response.aiter_bytes():
                data = memoryview(chunk)
                while data:
                    buffer = target.buffer()
                    count = min(len(buffer), len(data))
                    buffer[:count] = data[:count]
                    data = data[count:]
                    await filled(count)

        return await self._resumed(url, start, length, once, lambda: received)

    async def _resumed(
        self,
        url: str,
        start: int,
        length: int,
        body: Callable[[httpx.Response], Awaitable[None]],
        done: Callable[[], int],
    ) -> int:
        """Ranged GETs of [start, start + length) under the retry policy, each from where the
        last one stopped (`done()` bytes in), with `body` reading each answer's body."""
        what = f"GET {path_of(url)}"

        async def attempt() -> int:
            if done() < length:
                async with self._ranged(url, start + done(), length - done(), what) as response:
                    if response is not None:
                        await body(response)
            return done()

        return await self.transport.retrying(what, attempt, idempotent=True)

    @contextlib.asynccontextmanager
    async def _ranged(
        self, url: str, start: int, length: int, what: str
    ) -> AsyncIterator[httpx.Response | None]:
        """One ranged GET, its answer checked; None when the range starts past the end."""
        headers = {"Range": f"bytes={start}-{start + length - 1}"}
        async with self.transport.stream(what, url, headers) as response:
            status = response.status_code
            if status == 200:
                raise RangeIgnored(f"{what}: the server ignored Range")
            if status == 416:
                yield None
                return
            if status >= 400:
                await response.aread()
                raise_for_status(response, what)
            content_range = response.headers.get("content-range", "")
            if status != 206 or not content_range.startswith(f"bytes {start}-"):
                raise ProtocolError(f"{what}: unexpected reply to a ranged read")
            yield response

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
