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
stream). h11 never sees that body, so httpcore closes its connection object at the end of the
response. A socket whose body was received in full (exactly its length, nothing after it, the
server keeping the connection) is clean, though: instead of being closed it is kept as a spare
(`_Spares`) and handed to the next connection httpcore opens to the same server, so a series of
media GETs costs one TCP and TLS handshake, not one each. A body cut short closes its socket.

A request body can be sent from a file the same way (`FileSpan`): the body hands h11 a
stand-in chunk of the span's length (`stand_in`), which h11 counts against the request's
Content-Length and passes on as it is, and the stream sends the file's bytes in its place with
`os.sendfile` (or, under TLS, which encrypts in this process, read and written a chunk at a
time). The bytes then go from the page cache to the socket without passing through Python:
no read into `bytes`, no copy into the socket.
"""

from __future__ import annotations

import dataclasses
import math
import os
import select
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable

import httpcore
import httpx
import trio

READ_BYTES = 1024 * 1024
# Where a response's header block ends.
_HEADER_END = b"\r\n\r\n"
# How long a thread sends a span before it lets the loop see a cancellation (seconds).
_SEND_SLICE = 0.25


@dataclasses.dataclass
class FileSpan:
    """`count` bytes of an open file from `offset`, to send as part of a request body;
    `sent` once they are."""

    fd: int
    offset: int
    count: int
    sent: bool = False


# The stand-ins handed to h11 and not sent yet, by their id: each with the span it stands for.
_STAND_INS: dict[int, tuple[bytes, FileSpan]] = {}


def stand_in(span: FileSpan) -> bytes:
    """A body chunk that stands for `span` on our connections (see the module's docstring);
    its bytes are zeros that are never sent. Drop it with `forget_stand_in` if the request
    ends before it is sent."""
    chunk = bytes(span.count)
    _STAND_INS[id(chunk)] = (chunk, span)
    return chunk


def forget_stand_in(chunk: bytes) -> None:
    """Forget a stand-in (sent or not)."""
    held = _STAND_INS.get(id(chunk))
    if held is not None and held[0] is chunk:
        del _STAND_INS[id(chunk)]


class ShortFile(Exception):
    """The file of a span ended before the span did (it was cut while it was sent)."""


def _send_some(socket_fd: int, span: FileSpan, offset: int) -> int:
    """Send bytes of `span` from `offset` into a non-blocking socket until the span is sent
    or `_SEND_SLICE` has passed (blocking: run in a worker thread); how many were sent."""
    end = span.offset + span.count
    until = time.monotonic() + _SEND_SLICE
    poller = select.poll()
    poller.register(socket_fd, select.POLLOUT)
    start = offset
    while offset < end:
        try:
            sent = os.sendfile(socket_fd, span.fd, offset, end - offset)
        except BlockingIOError:
            left = until - time.monotonic()
            if left <= 0:
                break
            poller.poll(left * 1000)
            continue
        if sent == 0:
            raise ShortFile(f"the file ended {end - offset} bytes short of its span")
        offset += sent
    return offset - start


# Which server a socket is connected to: host and port, as httpcore asks for a connection.
_Server = tuple[str, int]


class _Spare:
    """A clean socket of `_Spares`: its stream, since when it is idle, and the name its TLS
    session was made for (None: plain TCP)."""

    def __init__(self, stream: httpcore.AsyncNetworkStream, tls_name: str | None) -> None:
        self.stream = stream
        self.tls_name = tls_name
        self.since = time.monotonic()


class _Spares:
    """Sockets left clean by a body received raw and in full, for the next connections to the
    same server: at most `most`, each for `expiry` seconds (as long as the pool keeps an idle
    connection), and never one the server has closed meanwhile."""

    def __init__(self, most: int, expiry: float | None) -> None:
        self._most = most
        self._expiry = math.inf if expiry is None else expiry
        self._kept: dict[_Server, list[_Spare]] = {}
        self._closed = False

    def keep(self, server: _Server, spare: _Spare) -> bool:
        """Keep `spare` for `server`; False when it is not kept (the caller closes it)."""
        if self._closed or sum(len(kept) for kept in self._kept.values()) >= self._most:
            return False
        self._kept.setdefault(server, []).append(spare)
        return True

    async def take(self, server: _Server) -> _Spare | None:
        """The most recently kept usable spare for `server`, or None; the stale ones met on
        the way (expired, or readable: closed by the server) are closed."""
        kept = self._kept.get(server, [])
        while kept:
            spare = kept.pop()
            fresh = time.monotonic() - spare.since <= self._expiry
            if fresh and not spare.stream.get_extra_info("is_readable"):
                return spare
            await spare.stream.aclose()
        return None

    async def aclose(self) -> None:
        """Close every spare; keep none from now on."""
        self._closed = True
        spares = [spare for kept in self._kept.values() for spare in kept]
        self._kept.clear()
        for spare in spares:
            await spare.stream.aclose()


class _LargeReads(httpcore.AsyncNetworkStream):
    """A network stream that asks the socket for at least `READ_BYTES` per read, and hands
    the header block of each response to h11 alone (see `RawBody`).

    Closed after a body received raw and in full (`received_in_full`), its socket is offered
    to `keep` instead; `tls_name` is set on a kept socket handed out again."""

    def __init__(
        self,
        stream: httpcore.AsyncNetworkStream,
        keep: Callable[[_Spare], bool],
        tls_name: str | None = None,
        reused: bool = False,
    ) -> None:
        self._stream = stream
        self._keep = keep
        self._tls_name = tls_name
        self._reused = reused
        # Whether the socket is clean: the last response was received in full, nothing after.
        self._clean = False
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

    def received_in_full(self, keep_alive: bool) -> None:
        """The body being received raw has ended; the server keeps the connection open when
        `keep_alive`. Then the socket is clean unless bytes came after the body."""
        self._clean = keep_alive and not self._pending

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._in_headers = True
        self._seen = b""
        self._clean = False
        held = _STAND_INS.pop(id(buffer), None)
        if held is not None and held[0] is buffer:
            await self._send_span(held[1], timeout)
            return
        await self._stream.write(buffer, timeout)

    async def _send_span(self, span: FileSpan, timeout: float | None) -> None:
        """Send a file's span in place of its stand-in; a connection that makes no progress
        for `timeout` seconds is `httpcore.WriteTimeout`."""
        offset, end = span.offset, span.offset + span.count
        if self._stream.get_extra_info("ssl_object") is not None:
            while offset < end:
                size = min(READ_BYTES, end - offset)
                data = await trio.to_thread.run_sync(os.pread, span.fd, size, offset)
                if not data:
                    raise ShortFile(f"the file ended {end - offset} bytes short of its span")
                await self._stream.write(data, timeout)
                offset += len(data)
        else:
            socket_fd = self._stream.get_extra_info("socket").fileno()
            progress = trio.current_time()
            while offset < end:
                try:
                    sent = await trio.to_thread.run_sync(_send_some, socket_fd, span, offset)
                except OSError as exc:
                    raise httpcore.WriteError(str(exc)) from exc
                now = trio.current_time()
                if sent:
                    offset, progress = offset + sent, now
                elif timeout is not None and now - progress > timeout:
                    raise httpcore.WriteTimeout("no progress sending a request body")
        span.sent = True

    async def aclose(self) -> None:
        if self._clean:
            self._clean = False
            if self._keep(_Spare(self._stream, self._tls_name)):
                return
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if self._reused:
            # A kept socket already carries its TLS session. Spares are kept by host and port
            # and httpcore names the server by the host it connects to, so the names agree.
            if server_hostname != self._tls_name:
                await self._stream.aclose()
                raise httpcore.ConnectError("a kept connection is not one to this server name")
            return self
        tls = await self._stream.start_tls(ssl_context, server_hostname, timeout)
        return _LargeReads(tls, self._keep, tls_name=server_hostname)

    def get_extra_info(self, info: str) -> object:
        return self._stream.get_extra_info(info)


class _LargeReadBackend(httpcore.AsyncNetworkBackend):
    """trio's sockets, through `_LargeReads`; a new TCP connection is a kept spare when there
    is one for that server."""

    def __init__(self, spares: _Spares) -> None:
        self._backend = httpcore.TrioBackend()
        self.spares = spares

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        server = (host, port)

        def keep(spare: _Spare) -> bool:
            return self.spares.keep(server, spare)

        spare = await self.spares.take(server)
        if spare is not None:
            return _LargeReads(spare.stream, keep, tls_name=spare.tls_name, reused=True)
        stream = await self._backend.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )
        return _LargeReads(stream, keep)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_unix_socket(
            path, timeout=timeout, socket_options=socket_options
        )
        return _LargeReads(stream, lambda spare: False)

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
        # As many clean sockets are kept, and as long, as the pool keeps idle connections.
        spares = _Spares(limits.max_keepalive_connections or 0, limits.keepalive_expiry)
        self._backend = _LargeReadBackend(spares)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=self._backend,
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
        await self._backend.spares.aclose()


class RawBody:
    """The body of a streamed response read into the caller's buffers, past h11 (see the
    module's docstring): only for a body of known length sent as it is."""

    def __init__(
        self, stream: _LargeReads, length: int, timeout: float | None, keep_alive: bool
    ) -> None:
        self._stream = stream
        self.remaining = length
        self._timeout = timeout
        self._keep_alive = keep_alive
        if not length:
            stream.received_in_full(keep_alive)

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
        closing = "close" in headers.get("connection", "").lower()
        keep_alive = response.http_version == "HTTP/1.1" and not closing
        return cls(stream, int(length), timeout, keep_alive)

    async def receive_into(self, buffer: memoryview) -> int:
        """Receive the next bytes of the body into `buffer` (at most its length, while
        `remaining`). A connection that ends early is `httpcore.RemoteProtocolError`."""
        got = await self._stream.receive_into(buffer[: self.remaining], self._timeout)
        if not got:
            raise httpcore.RemoteProtocolError("the connection closed before the body ended")
        self.remaining -= got
        if not self.remaining:
            self._stream.received_in_full(self._keep_alive)
        return got
