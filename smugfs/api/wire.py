"""The connections under the client: httpcore's pool, reading up to 1 MiB per receive.

httpcore asks its network stream for 64 KiB at a time, and each read costs a trip through h11
and the event loop: streaming a large original that way takes 2-2.5 CPU seconds per GiB and
tops out at a few hundred MiB/s. Asking for up to 1 MiB (a receive returns what has arrived, so
small replies are unaffected) halves the CPU and more than doubles the rate.

This is done through the extension points both libraries document: an httpcore network backend
(`network_backend=`) whose streams read in larger pieces, under a pool wrapped as an httpx
transport (`transport=`). httpcore's exceptions pass through unchanged; `transport.py` sorts
them together with httpx's.

A media body can also be received straight into the caller's buffers (`RawBody`), past h11:
h11 and httpcore copy every byte of a body three times before httpx hands it on (into h11's
buffer, out of it twice, then to `bytes`), which was a third of the mount's CPU time in a cold
read. For that, a stream hands h11 a response's header block alone (the bytes after it wait
for the next read), so that nothing of the body is in h11's buffer when the headers are
parsed; the body is then read from the socket with `recv_into` (or, under TLS, from the TLS
stream). h11 never sees that body, so httpcore closes the connection at the end of the
response instead of reusing it: one connection per media GET.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import AsyncIterator, Iterable

import httpcore
import httpx
import trio

READ_BYTES = 1024 * 1024
# Where a response's header block ends.
_HEADER_END = b"\r\n\r\n"


class _LargeReads(httpcore.AsyncNetworkStream):
    """A network stream that asks the socket for at least `READ_BYTES` per read, and hands
    the header block of each response to h11 alone (see `RawBody`)."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        # Bytes received after a header block, for the next read.
        self._pending = memoryview(b"")
        # Whether the header block of a response is still to come (a request was sent), and
        # the last bytes of it seen so far (a header end split across two reads).
        self._in_headers = False
        self._seen = b""

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._pending:
            data = bytes(self._pending)
            self._pending = memoryview(b"")
        else:
            data = await self._stream.read(max(max_bytes, READ_BYTES), timeout)
        if self._in_headers and data:
            searched = self._seen + data
            end = searched.find(_HEADER_END)
            if end < 0:
                self._seen = searched[-(len(_HEADER_END) - 1) :]
            else:
                self._in_headers = False
                self._seen = b""
                cut = end + len(_HEADER_END) - (len(searched) - len(data))
                self._pending = memoryview(data)[cut:]
                data = data[:cut]
        return data

    async def receive_into(self, buffer: memoryview, timeout: float | None) -> int:
        """Receive up to `len(buffer)` bytes of a body into `buffer`; how many (0: the peer
        closed the connection)."""
        if self._pending:
            taken = min(len(buffer), len(self._pending))
            buffer[:taken] = self._pending[:taken]
            self._pending = self._pending[taken:]
            return taken
        if self._stream.get_extra_info("ssl_object") is not None:
            data = await self._stream.read(len(buffer), timeout)
            buffer[: len(data)] = data
            return len(data)
        sock = self._stream.get_extra_info("socket")
        try:
            with trio.fail_after(math.inf if timeout is None else timeout):
                got: int = await sock.recv_into(buffer)
        except trio.TooSlowError as exc:
            raise httpcore.ReadTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc)) from exc
        return got

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._in_headers = True
        self._seen = b""
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _LargeReads(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> object:
        return self._stream.get_extra_info(info)


class _LargeReadBackend(httpcore.AsyncNetworkBackend):
    """trio's sockets, through `_LargeReads`."""

    def __init__(self) -> None:
        self._backend = httpcore.TrioBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )
        return _LargeReads(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_unix_socket(
            path, timeout=timeout, socket_options=socket_options
        )
        return _LargeReads(stream)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class _Body(httpx.AsyncByteStream):
    """A response body of the pool, as httpx reads it."""

    def __init__(self, stream: httpcore.Response) -> None:
        self._response = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._response.aiter_stream():
            yield part

    async def aclose(self) -> None:
        await self._response.aclose()


class LargeReadTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore pool of `_LargeReads` connections."""

    def __init__(self, limits: httpx.Limits) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_LargeReadBackend(),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        response = await self._pool.handle_async_request(
            httpcore.Request(
                method=request.method,
                url=httpcore.URL(
                    scheme=request.url.raw_scheme,
                    host=request.url.raw_host,
                    port=request.url.port,
                    target=request.url.raw_path,
                ),
                headers=request.headers.raw,
                content=request.stream,
                extensions=request.extensions,
            )
        )
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


class RawBody:
    """The body of a streamed response read into the caller's buffers, past h11 (see the
    module's docstring): only for a body of known length sent as it is."""

    def __init__(self, stream: _LargeReads, length: int, timeout: float | None) -> None:
        self._stream = stream
        self.remaining = length
        self._timeout = timeout

    @classmethod
    def of(cls, response: httpx.Response) -> RawBody | None:
        """The raw body of `response`, whose body nothing has read yet; None when it cannot be
        read so (not one of our connections, no length, an encoding or chunking)."""
        stream = response.extensions.get("network_stream")
        headers = response.headers
        length = headers.get("content-length", "")
        if (
            not isinstance(stream, _LargeReads)
            or not length.isdigit()
            or headers.get("transfer-encoding")
            or headers.get("content-encoding", "identity") != "identity"
        ):
            return None
        timeout = response.request.extensions.get("timeout", {}).get("read")
        return cls(stream, int(length), timeout)

    async def receive_into(self, buffer: memoryview) -> int:
        """Receive the next bytes of the body into `buffer` (at most its length, while
        `remaining`). A connection that ends early is `httpcore.RemoteProtocolError`."""
        got = await self._stream.receive_into(buffer[: self.remaining], self._timeout)
        if not got:
            raise httpcore.RemoteProtocolError("the connection closed before the body ended")
        self.remaining -= got
        return got
