"""Sending requests: the connections, the table of answers worth another attempt, errors.

`Transport.exchange` and `Transport.stream` make one attempt of a request; `Transport.retrying`
runs attempts under the one `RetryPolicy`. Each attempt's outcome is sorted here, once:

- the service could not be reached (connection refused, connect timeout): `Offline` at once,
  and for `OFFLINE_PROBE` seconds every request is answered so without trying; the first one
  after that probes the service again, so a mount recovers by itself when it is back;
- a connection that broke or timed out once the request was sent: `Retry`, which may have been
  applied (only requests safe to repeat are sent again);
- an answer in `RETRYABLE_STATUS`: `Retry` (429 after the `Retry-After` the service asks);
- any other answer is returned; `raise_for_status` turns an error status into its domain error.

A spent rate limit (`X-RateLimit-Remaining: 0`) is waited out before the next attempt instead
of spending it on a 429. No httpx or httpcore type or exception leaves the API package: errors
are those of `smugfs.errors`. Messages name the path, never a credential.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any, TypeVar

import httpcore
import httpx
import trio

from smugfs import __version__
from smugfs.api.retry import MAX_RETRY_DELAY, Retry, RetryPolicy
from smugfs.api.signing import OAuth1Signer
from smugfs.api.wire import LargeReadTransport
from smugfs.config import Settings
from smugfs.errors import (
    AccessDenied,
    AlreadyExists,
    InvalidRequest,
    NotFound,
    Offline,
    ProtocolError,
    ServiceUnavailable,
    SmugfsError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long an unreachable service is answered for without trying it again.
OFFLINE_PROBE = 2.0

# The answers worth another attempt, and whether the request may have been applied when the
# service gave them: 429 and 503 refuse a request before doing anything, while a gateway's
# 500/502/504 may come after the service has done it.
RETRYABLE_STATUS: Mapping[int, bool] = {429: False, 503: False, 500: True, 502: True, 504: True}
# The methods that are safe to send again after an answer was lost: PATCH sets fields to given
# values and DELETE of a deleted object is answered 404 (taken as done), so sending either
# again cannot change more than the first did.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})

# The service was never reached: nothing was sent.
_UNREACHABLE = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpcore.ConnectError,
    httpcore.ConnectTimeout,
)
# The connection broke or timed out after the request may have been sent.
_BROKEN = (
    httpx.TransportError,
    httpcore.NetworkError,
    httpcore.TimeoutException,
    httpcore.ProtocolError,
    httpcore.ProxyError,
    httpcore.UnsupportedProtocol,
)
# Anything else the HTTP libraries raise: a reply that cannot be read.
_UNREADABLE = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError)

_PROXY_VARIABLES = ("https_proxy", "http_proxy", "all_proxy")


@dataclasses.dataclass
class RequestStats:
    """What the client has sent, for `smugfs status` and benchmarks."""

    requests: int = 0
    retries: int = 0
    errors: int = 0
    media_bytes: int = 0
    upload_bytes: int = 0
    uploads_in_flight: int = 0
    uploads_done: int = 0
    uploads_failed: int = 0
    rate_limit_remaining: int | None = None
    rate_limit_reset: int | None = None


def _proxied() -> bool:
    """Whether the environment names a proxy (then httpx's own transport, which uses it)."""
    return any(os.environ.get(name) or os.environ.get(name.upper()) for name in _PROXY_VARIABLES)


def path_of(url: str) -> str:
    """The path of a URL, for messages (never its query, which may carry a key)."""
    return httpx.URL(url).path


class Transport:
    """One account's connections to the service, and what they have done."""

    def __init__(
        self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.stats = RequestStats()
        self.policy = RetryPolicy(retries=settings.retries)
        # Idle connections are all kept: past `max_keepalive_connections` the pool closes and
        # reopens them under load, and its bookkeeping then costs more than the requests.
        limits = httpx.Limits(
            max_connections=4 * max(1, settings.concurrency),
            max_keepalive_connections=4 * max(1, settings.concurrency),
        )
        if transport is None and not _proxied():
            transport = LargeReadTransport(limits)
        # Whether request bodies may be sent from their files (`wire.FileSpan`): only our own
        # connections replace the stand-ins.
        self.sends_files = isinstance(transport, LargeReadTransport)
        self._http = httpx.AsyncClient(
            auth=OAuth1Signer(settings.credentials),
            timeout=httpx.Timeout(settings.request_timeout, connect=15.0),
            headers={"Accept": "application/json", "User-Agent": f"smugfs/{__version__}"},
            follow_redirects=True,
            limits=limits,
            transport=transport,
        )
        # Uploads are signed without their body, so it need not be read into memory.
        self.upload_signer = OAuth1Signer(settings.credentials, needs_body=False)
        # Until when (trio's clock) the service counts as unreachable; see `_before`.
        self._offline_until = -math.inf

    @property
    def offline(self) -> bool:
        """Whether the service was unreachable at the last attempt (and not probed since)."""
        return self._offline_until > -math.inf

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    def url(self, uri: str, params: Mapping[str, str | int] | None = None) -> str:
        """An absolute URL for an API URI (`/api/v2/...`) or an absolute one as given, with
        `params` merged into its query."""
        url = uri if "://" in uri else self.settings.endpoint + uri
        return str(httpx.URL(url).copy_merge_params(params)) if params else url

    # ------------------------------------------------------------------ attempts

    async def retrying(
        self, what: str, attempt: Callable[[], Awaitable[T]], *, idempotent: bool
    ) -> T:
        """`attempt` under the retry policy; counted in the stats."""
        try:
            return await self.policy.run(
                what, attempt, idempotent=idempotent, on_retry=self._retried
            )
        except SmugfsError:
            self.stats.errors += 1
            raise

    def _retried(self, exc: Retry) -> None:
        self.stats.retries += 1

    async def exchange(
        self,
        method: str,
        url: str,
        what: str,
        *,
        json: Any = None,
        body: httpx.AsyncByteStream | None = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
    ) -> httpx.Response:
        """One attempt of a request, read whole; an answer not in `RETRYABLE_STATUS`.
        `body` streams a request body (its length given in `headers`)."""
        await self._before(what)
        request = self._http.build_request(method, url, json=json, headers=headers)
        if body is not None:
            request = httpx.Request(method, request.url, headers=request.headers, stream=body)
        with self._sorted(what):
            response = await self._http.send(
                request, auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT
            )
        self._answered(response)
        return response

    @contextlib.asynccontextmanager
    async def stream(
        self, what: str, url: str, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[httpx.Response]:
        """One attempt of a GET whose body is read as it arrives (in the `with` block, where a
        broken connection is sorted like any other)."""
        await self._before(what)
        with self._sorted(what):
            async with self._http.stream("GET", url, headers=headers) as response:
                self._answered(response)
                yield response

    async def _before(self, what: str) -> None:
        """Before each attempt: fail at once while the service is known to be unreachable
        (between probes), wait out a spent rate limit, and count it."""
        if trio.current_time() < self._offline_until:
            raise Offline(f"{what}: the service is unreachable")
        await self._within_rate_limit()
        self.stats.requests += 1

    @contextlib.contextmanager
    def _sorted(self, what: str) -> Iterator[None]:
        """Turn what the HTTP libraries raise into `Offline`, `Retry` or `ProtocolError`."""
        try:
            yield
        except _UNREACHABLE as exc:
            raise self._unreachable(what, exc) from exc
        except _BROKEN as exc:
            raise Retry(type(exc).__name__, applied=True) from exc
        except _UNREADABLE as exc:
            raise ProtocolError(f"{what}: {type(exc).__name__}") from exc

    def _unreachable(self, what: str, exc: Exception) -> Offline:
        """Note that the service cannot be reached; the error to raise."""
        if not self.offline:
            log.warning("%s: the service is unreachable (%s)", what, type(exc).__name__)
        self._offline_until = trio.current_time() + OFFLINE_PROBE
        return Offline(f"{what}: the service is unreachable ({type(exc).__name__})")

    def _answered(self, response: httpx.Response) -> None:
        """The service answered: it is reachable, its rate-limit headers are noted, and an
        answer worth another attempt becomes `Retry`."""
        if self.offline:
            log.warning("the service is reachable again")
        self._offline_until = -math.inf
        self._note_rate_limit(response)
        status = response.status_code
        applied = RETRYABLE_STATUS.get(status)
        if applied is not None:
            retry_after = response.headers.get("retry-after", "")
            wait = float(retry_after) if retry_after.isdigit() else None
            raise Retry(f"HTTP {status}", applied=applied, wait=wait)

    async def _within_rate_limit(self) -> None:
        """Wait for the next window when the service said the budget is spent, rather than
        spend requests on answers of 429."""
        reset = self.stats.rate_limit_reset
        if self.stats.rate_limit_remaining != 0 or reset is None:
            return
        # The reset time is in whole seconds: one more makes sure the new window has begun.
        wait = min(MAX_RETRY_DELAY, reset + 1 - time.time())
        if wait > 0:
            log.info("the service's request budget is spent; waiting %.0f s", wait)
            await trio.sleep(wait)
        self.stats.rate_limit_remaining = None

    def _note_rate_limit(self, response: httpx.Response) -> None:
        remaining = response.headers.get("x-ratelimit-remaining")
        reset = response.headers.get("x-ratelimit-reset")
        if remaining and remaining.isdigit():
            self.stats.rate_limit_remaining = int(remaining)
        if reset and reset.isdigit():
            self.stats.rate_limit_reset = int(reset)


def raise_for_status(response: httpx.Response, what: str) -> None:
    """Turn an error status into the domain error for it."""
    status = response.status_code
    if status < 400:
        return
    message = ""
    body = json_object(response)
    if body is not None:
        message = str(body.get("Message") or "")
    text = f"{what}: HTTP {status}" + (f" {message}" if message else "")
    if status == 404:
        raise NotFound(text)
    if status in (401, 403):
        raise AccessDenied(text)
    if status == 409:
        raise AlreadyExists(text)
    if status == 400:
        raise InvalidRequest(text)
    raise ServiceUnavailable(text)


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """A reply's body as a JSON object, or None if it is not one."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
