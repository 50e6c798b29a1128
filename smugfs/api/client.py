"""The SmugMug API v2 client over httpx: retries, errors, the envelope, paging and media.

Every request goes through `_send`, the one place that knows which failures are temporary:
429 (honouring `Retry-After`), 503, dropped connections and timeouts are retried for every
request; 500/502/504 and unparseable replies only for reads, because a write that failed that
way may already have been applied. Each request has a timeout and every loop is bounded.
Status codes become the domain errors of `smugfs.errors`; messages name the path, never a
credential.

Lists are fetched page by page: the first page says how many there are, the rest are fetched
concurrently (bounded by `concurrency`) and joined in order, with duplicates from offset paging
dropped.

When the service cannot be reached at all (a connection refused or timing out), the client
says so at once for `OFFLINE_PROBE` seconds (`Offline`, ENETUNREACH) instead of retrying every
request for many seconds; the first request after that probes it again, so the mount recovers
by itself when the service is back.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import math
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpcore
import httpx
import trio

from smugfs import __version__
from smugfs.api.models import RemoteImage, RemoteNode, count, text, timestamp, uri_of
from smugfs.auth import OAuth1Signer
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
    UploadRefused,
    first_error,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
# httpcore reads a response 64 KiB at a time, and each read costs a trip through h11 and the
# event loop: streaming a large original that way takes 2-2.5 CPU seconds per GiB and tops out
# at a few hundred MiB/s here. Reading up to 1 MiB at a time (recv returns what has arrived, so
# small replies are unaffected) halves the CPU and more than doubles the rate. httpcore has no
# per-client setting for it; the class attribute is what its connections read.
MEDIA_READ_BYTES = 1024 * 1024
if getattr(httpcore.AsyncHTTP11Connection, "READ_NUM_BYTES", 0) < MEDIA_READ_BYTES:
    httpcore.AsyncHTTP11Connection.READ_NUM_BYTES = MEDIA_READ_BYTES

MAX_ITEMS = 100_000
MAX_RETRY_DELAY = 30.0
# How long an unreachable service is answered for without trying it again.
OFFLINE_PROBE = 2.0
IMAGE_FIELDS = (
    "ImageKey,Serial,FileName,Format,IsVideo,ArchivedUri,ArchivedSize,ArchivedMD5,LastUpdated,"
    "DateTimeUploaded,Date,DateTimeOriginal,Processing,"
    "Title,Caption,KeywordArray,Keywords,Hidden,Latitude,Longitude,Altitude"
)
NODE_FIELDS = "NodeID,Type,Name,UrlName,DateAdded,DateModified,Description"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})


@dataclasses.dataclass(frozen=True)
class UploadSource:
    """A staged file to upload: where it is, its size and its MD5 (hex)."""

    path: Path
    size: int
    md5: str


UPLOAD_CHUNK = 1024 * 1024


async def _file_chunks(source: UploadSource) -> AsyncIterator[bytes]:
    """The staged file's bytes, read off the trio loop."""
    fd = await trio.to_thread.run_sync(os.open, source.path, os.O_RDONLY)
    try:
        offset = 0
        while offset < source.size:
            chunk = await trio.to_thread.run_sync(
                os.pread, fd, min(UPLOAD_CHUNK, source.size - offset), offset
            )
            if not chunk:
                raise ProtocolError(f"{source.path} shrank while it was uploaded")
            offset += len(chunk)
            yield chunk
    finally:
        os.close(fd)


class RangeIgnored(SmugfsError):
    """The media server answered a ranged GET with the whole file (200)."""


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


class SmugMugClient:
    """One account's view of the service."""

    def __init__(
        self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.stats = RequestStats()
        self._limit = trio.Semaphore(max(1, settings.concurrency))
        # Uploads are signed without their body, so it need not be read into memory.
        self._upload_signer = OAuth1Signer(settings.credentials, needs_body=False)
        self._http = httpx.AsyncClient(
            auth=OAuth1Signer(settings.credentials),
            timeout=httpx.Timeout(settings.request_timeout, connect=15.0),
            headers={"Accept": "application/json", "User-Agent": f"smugfs/{__version__}"},
            follow_redirects=True,
            # Idle connections are all kept: past `max_keepalive_connections` the pool closes
            # and reopens them under load, and its bookkeeping then costs more than the
            # requests themselves.
            limits=httpx.Limits(
                max_connections=4 * max(1, settings.concurrency),
                max_keepalive_connections=4 * max(1, settings.concurrency),
            ),
            transport=transport,
        )
        # Until when (trio's clock) the service counts as unreachable; see `_attempt`.
        self._offline_until = -math.inf

    @property
    def offline(self) -> bool:
        """Whether the service was unreachable at the last attempt (and not probed since)."""
        return self._offline_until > -math.inf

    async def _attempt(self, what: str) -> None:
        """Before each attempt of a request: fail at once while the service is known to be
        unreachable (between probes), wait out a spent rate limit, and count it."""
        if trio.current_time() < self._offline_until:
            raise Offline(f"{what}: the service is unreachable")
        await self._within_rate_limit()
        self.stats.requests += 1

    def _unreachable(self, what: str, exc: Exception) -> Offline:
        """Note that the service cannot be reached; the error to raise."""
        if not self.offline:
            log.warning("%s: the service is unreachable (%s)", what, type(exc).__name__)
        self._offline_until = trio.current_time() + OFFLINE_PROBE
        self.stats.errors += 1
        return Offline(f"{what}: the service is unreachable ({type(exc).__name__})")

    def _answered(self, response: httpx.Response) -> None:
        """The service answered: it is reachable, and its rate-limit headers are noted."""
        if self.offline:
            log.warning("the service is reachable again")
        self._offline_until = -math.inf
        self._note_rate_limit(response)

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    def url(self, uri: str) -> str:
        """An absolute URL for an API URI (`/api/v2/...`) or an absolute one as given."""
        return uri if "://" in uri else self.settings.endpoint + uri

    # ------------------------------------------------------------------ sending

    async def _send(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send with retries; returns the last response (any status) or raises."""
        retries = max(0, self.settings.retries)
        path = httpx.URL(url).path
        for attempt in range(retries + 1):
            await self._attempt(f"{method} {path}")
            try:
                response = await self._http.request(
                    method, url, params=params, json=json, content=content, headers=headers
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                raise self._unreachable(f"{method} {path}", exc) from exc
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                # A write may have been applied before the connection dropped; only a request
                # that never connected is safe to send again.
                safe = idempotent or isinstance(exc, httpx.ConnectError)
                if not safe or attempt == retries:
                    self.stats.errors += 1
                    raise ServiceUnavailable(
                        f"{method} {path}: {type(exc).__name__} after {attempt + 1} attempts"
                    ) from exc
                await self._pause(attempt, None, f"{method} {path}: {type(exc).__name__}")
                continue
            self._answered(response)
            status = response.status_code
            temporary = status in (429, 503) or (idempotent and status in (500, 502, 504))
            if temporary and attempt < retries:
                await self._pause(attempt, response, f"{method} {path}: HTTP {status}")
                continue
            if status >= 400:
                self.stats.errors += 1
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def _pause(self, attempt: int, response: httpx.Response | None, why: str) -> None:
        self.stats.retries += 1
        delay = min(MAX_RETRY_DELAY, 0.25 * 2**attempt) * (0.5 + random.random())
        if response is not None:
            retry_after = response.headers.get("retry-after", "")
            if retry_after.isdigit():
                delay = min(MAX_RETRY_DELAY, float(retry_after))
        log.info("%s; retrying in %.1f s", why, delay)
        await trio.sleep(delay)

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

    @staticmethod
    def raise_for(response: httpx.Response, what: str) -> None:
        """Turn an error status into the domain error for it."""
        status = response.status_code
        if status < 400:
            return
        message = ""
        try:
            body = response.json()
            if isinstance(body, dict):
                message = str(body.get("Message") or "")
        except ValueError:
            pass
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

    async def request_json(
        self,
        method: str,
        uri: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
    ) -> dict[str, Any]:
        """An API request; returns the `Response` object of the envelope."""
        # PATCH sets fields to given values and DELETE of a deleted object is answered 404
        # (taken as done), so sending either again cannot change more than the first did.
        idempotent = method in IDEMPOTENT_METHODS
        url = self.url(uri)
        what = f"{method} {httpx.URL(url).path}"
        retries = max(0, self.settings.retries) if idempotent else 0
        for attempt in range(retries + 1):
            response = await self._send(
                method, url, idempotent=idempotent, params=params, json=json
            )
            self.raise_for(response, what)
            try:
                body = response.json()
                envelope = body["Response"]
                if not isinstance(envelope, dict):
                    raise TypeError("Response is not an object")
                return envelope
            except (ValueError, KeyError, TypeError) as exc:
                if attempt == retries:
                    raise ProtocolError(f"{what}: malformed reply ({exc})") from exc
                await self._pause(attempt, None, f"{what}: malformed reply")
        raise AssertionError("unreachable")  # pragma: no cover

    async def post_once(
        self,
        uri: str,
        body: dict[str, Any],
        landed: Callable[[], Awaitable[T | None]],
        parse: Callable[[dict[str, Any]], T],
    ) -> T:
        """POST a change that must happen once (a new node, a move).

        An answer can be lost after the service has applied the change (a connection broken
        after the request was sent, a gateway's 5xx, a reply that is not JSON). Then `landed`
        asks the service whether the change is there; it is sent again only if it is not, and
        an error answered to a repeat (the name is taken now, the object has moved) is checked
        the same way, since the first attempt may be what it ran into.
        """
        what = f"POST {httpx.URL(self.url(uri)).path}"
        retries = max(0, self.settings.retries)
        lost: SmugfsError | None = None
        for attempt in range(retries + 1):
            try:
                return parse(await self.request_json("POST", uri, json=body))
            except Offline:
                raise  # never sent
            except (ServiceUnavailable, ProtocolError) as exc:
                lost = exc
            except (AlreadyExists, NotFound, InvalidRequest):
                if lost is None:
                    raise
                found = await self._landed_change(landed, what)
                if found is not None:
                    return found
                raise
            found = await self._landed_change(landed, what)
            if found is not None:
                return found
            if attempt == retries:
                break
            await self._pause(attempt, None, f"{what}: {lost}")
        assert lost is not None
        raise lost

    async def _landed_change(
        self, landed: Callable[[], Awaitable[T | None]], what: str
    ) -> T | None:
        """What `landed` finds, or None; a service that cannot tell is an error, since
        sending the change again blindly could apply it twice."""
        found = await landed()
        if found is not None:
            log.info("%s: the answer was lost, but the change had been made", what)
        return found

    # ------------------------------------------------------------------ lists

    async def list_all(
        self,
        uri: str,
        locator: str,
        params: Mapping[str, str | int] | None = None,
        key: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every item of a list endpoint: the first page, then the rest concurrently."""
        page_size = max(1, self.settings.page_size)
        base = dict(params or {})
        first = await self.request_json("GET", uri, params={**base, "start": 1, "count": page_size})
        items = _items(first, locator)
        pages = first.get("Pages")
        pages = pages if isinstance(pages, dict) else {}
        total = count(pages.get("Total"))
        next_page = text(pages.get("NextPage"))
        if not items:
            return []
        if total is None or (next_page is not None and total <= len(items)):
            # A Pages block that gives no usable total: walk its NextPage links instead.
            if next_page is None:
                return _unique(items, key)
            log.info("%s: the listing's Pages has no usable total; following its links", uri)
            return _unique(await self._follow_pages(items, next_page, locator), key)
        total = min(total, MAX_ITEMS)
        per_page = count(pages.get("RequestedCount")) or len(items)
        if len(items) >= total:
            return _unique(items, key)
        results: dict[int, list[dict[str, Any]]] = {1: items}
        starts = [1 + per_page * n for n in range(1, math.ceil(total / per_page))]

        async def fetch(start: int) -> None:
            async with self._limit:
                page = await self.request_json(
                    "GET", uri, params={**base, "start": start, "count": per_page}
                )
            results[start] = _items(page, locator)

        with first_error():
            async with trio.open_nursery() as nursery:
                for start in starts:
                    nursery.start_soon(fetch, start)
        joined = [item for start in sorted(results) for item in results[start]]
        return _unique(joined, key)

    async def _follow_pages(
        self, items: list[dict[str, Any]], next_page: str, locator: str
    ) -> list[dict[str, Any]]:
        """The rest of a list page by page through its NextPage links (bounded)."""
        out = list(items)
        link: str | None = next_page
        seen: set[str] = set()
        while link is not None and link not in seen and len(out) < MAX_ITEMS:
            seen.add(link)
            page = await self.request_json("GET", link)
            found = _items(page, locator)
            if not found:
                break
            out.extend(found)
            pages = page.get("Pages")
            link = text(pages.get("NextPage")) if isinstance(pages, dict) else None
        return out

    # ------------------------------------------------------------------ the account

    async def root_node(self, user: str | None = None) -> RemoteNode:
        """The root folder of `user`, or of the token's owner."""
        if user is None:
            me = await self.request_json("GET", "/api/v2!authuser")
            obj = me.get("User") or {}
        else:
            found = await self.request_json("GET", f"/api/v2/user/{user}")
            obj = found.get("User") or {}
        node_uri = uri_of(obj, "Node")
        if not node_uri:
            raise ProtocolError("the user has no root node")
        node = await self.request_json("GET", node_uri)
        return RemoteNode.parse(_required_payload(node, "Node"))

    async def node(self, uri: str) -> RemoteNode:
        """One node."""
        return RemoteNode.parse(_required_payload(await self.request_json("GET", uri), "Node"))

    async def children(self, node: RemoteNode) -> list[RemoteNode]:
        """A folder's child nodes, in the owner's order."""
        assert node.children_uri is not None
        items = await self.list_all(node.children_uri, "Node", key="NodeID")
        return _parsed(items, RemoteNode.parse)

    async def album_images(self, album_uri: str) -> list[RemoteImage]:
        """An album's images; videos get their largest rendition's URL and size."""
        items = await self.list_all(
            f"{album_uri}!images",
            "AlbumImage",
            params={"_filteruri": "Image,LargestVideo", "_filter": IMAGE_FIELDS},
            key="ImageKey",
        )
        images = _parsed(items, RemoteImage.parse)
        videos = [i for i, image in enumerate(images) if image.is_video]
        if videos:

            async def complete(index: int) -> None:
                async with self._limit:
                    images[index] = await self.with_video(images[index])

            with first_error():
                async with trio.open_nursery() as nursery:
                    for index in videos:
                        nursery.start_soon(complete, index)
        return images

    async def with_video(self, image: RemoteImage) -> RemoteImage:
        """A video with its largest rendition filled in (unreadable if there is none yet)."""
        uri = image.largest_video_uri or f"{image.image_uri}!largestvideo"
        try:
            found = await self.request_json("GET", uri)
        except NotFound:
            log.info("video %s has no downloadable rendition yet", image.file_name)
            return image
        return image.with_video(found.get("LargestVideo") or {})

    # ------------------------------------------------------------------ media

    async def get_range(self, url: str, start: int, length: int) -> bytes:
        """`length` bytes of a media file from `start` (fewer at its end).

        Raises `RangeIgnored` when the server sends the whole file instead.
        """
        parts: list[bytes] = []

        async def keep(chunk: bytes) -> None:
            parts.append(chunk)

        await self.stream_range(url, start, length, keep)
        return b"".join(parts)

    async def stream_range(
        self, url: str, start: int, length: int, sink: Callable[[bytes], Awaitable[None]]
    ) -> int:
        """Feed bytes [start, start + length) of a media file to `sink` in order, as they
        arrive; returns how many were fed (fewer only at the end of the file).

        A transfer that fails part way is resumed where it stopped, under the same bounded
        retry policy as any request. Raises `RangeIgnored` when the server sends the whole file
        instead (before anything is fed).
        """
        path = httpx.URL(url).path
        retries = max(0, self.settings.retries)
        fed = 0

        async def counted(chunk: bytes) -> None:
            nonlocal fed
            await sink(chunk)
            fed += len(chunk)

        for attempt in range(retries + 1):
            try:
                if await self._stream_range_once(url, start + fed, length - fed, path, counted):
                    return fed
            except _Retry as exc:
                if attempt == retries:
                    raise ServiceUnavailable(f"GET {path}: {exc}") from exc
                await self._pause(attempt, exc.response, f"GET {path}: {exc}")
            if fed >= length:
                return fed
        raise AssertionError("unreachable")  # pragma: no cover

    async def _stream_range_once(
        self,
        url: str,
        start: int,
        length: int,
        path: str,
        sink: Callable[[bytes], Awaitable[None]],
    ) -> bool:
        """One ranged GET fed to `sink`; True once the server has sent all it will."""
        await self._attempt(f"GET {path}")
        headers = {"Range": f"bytes={start}-{start + length - 1}"}
        try:
            async with self._http.stream("GET", url, headers=headers) as response:
                self._answered(response)
                status = response.status_code
                if status == 200:
                    raise RangeIgnored(f"GET {path}: the server ignored Range")
                if status in (429, 500, 502, 503, 504):
                    raise _Retry(f"HTTP {status}", response)
                if status == 416:
                    return True
                if status >= 400:
                    await response.aread()
                    self.raise_for(response, f"GET {path}")
                content_range = response.headers.get("content-range", "")
                if status != 206 or not content_range.startswith(f"bytes {start}-"):
                    raise ProtocolError(f"GET {path}: unexpected reply to a ranged read")
                async for chunk in response.aiter_bytes():
                    if chunk:
                        self.stats.media_bytes += len(chunk)
                        await sink(chunk)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise self._unreachable(f"GET {path}", exc) from exc
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise _Retry(type(exc).__name__, None) from exc
        return True

    # ------------------------------------------------------------------ changes

    async def create_node(self, parent: RemoteNode, name: str, type_: str) -> RemoteNode:
        """A new album or folder named `name` under the folder `parent` (UrlName derived by the
        service); made once, even when an answer is lost. The caller has checked that the
        folder holds no `name`, so one found there after a lost answer is the one it made."""
        assert parent.children_uri is not None

        async def landed() -> RemoteNode | None:
            for child in await self.children(parent):
                if child.name == name and child.type == type_:
                    return child
            return None

        return await self.post_once(
            parent.children_uri,
            {"Type": type_, "Name": name},
            landed,
            lambda reply: RemoteNode.parse(_required_payload(reply, "Node")),
        )

    async def patch_node(self, node: RemoteNode, fields: dict[str, Any]) -> RemoteNode:
        """Change fields of a node (409 on a UrlName clash becomes AlreadyExists)."""
        patched = await self.request_json("PATCH", node.uri, json=fields)
        return RemoteNode.parse(_required_payload(patched, "Node"))

    async def delete(self, uri: str) -> None:
        """DELETE an object; one already gone counts as deleted."""
        try:
            await self.request_json("DELETE", uri)
        except NotFound:
            log.info("%s was already gone", httpx.URL(self.url(uri)).path)

    async def move_nodes(self, target: RemoteNode, nodes: list[RemoteNode]) -> None:
        """Move nodes into the folder `target` (`!movenodes`), once."""
        moving = {node.node_id for node in nodes}

        async def landed() -> bool | None:
            there = {child.node_id for child in await self.children(target)}
            return True if moving <= there else None

        await self.post_once(
            f"{target.uri}!movenodes",
            {"MoveUris": ",".join(n.uri for n in nodes)},
            landed,
            lambda reply: True,
        )

    async def move_images(self, album_uri: str, images: list[RemoteImage]) -> None:
        """Move images (by their AlbumImage URIs) into an album (`!moveimages`), once."""

        async def landed() -> bool | None:
            # Asked image by image: the album's listing may show a moved image late.
            for image in images:
                try:
                    await self.request_json("GET", moved_image_uri(album_uri, image))
                except NotFound:
                    return None
            return True

        await self.post_once(
            f"{album_uri}!moveimages",
            {"MoveUris": ",".join(i.uri for i in images)},
            landed,
            lambda reply: True,
        )

    async def album_image(self, uri: str) -> RemoteImage:
        """One image of an album, with a video's rendition filled in."""
        found = await self.request_json("GET", uri)
        payload = found.get("AlbumImage") or found.get("Image")
        if not isinstance(payload, dict):
            raise ProtocolError("reply without AlbumImage")
        image = RemoteImage.parse(payload)
        return await self.with_video(image) if image.is_video else image

    async def patch_image(self, image: RemoteImage, fields: dict[str, Any]) -> RemoteImage:
        """Change an image's descriptive fields (Title, Caption, KeywordArray, Hidden,
        Latitude, Longitude, Altitude); the image as the service now describes it."""
        patched = await self.request_json("PATCH", image.uri, json=fields)
        payload = patched.get("AlbumImage") or patched.get("Image")
        if not isinstance(payload, dict):
            raise ProtocolError("reply without AlbumImage")
        return image.described_as(RemoteImage.parse(payload))

    async def image_texts(self, image: RemoteImage) -> dict[str, str]:
        """An image's Title, Caption and Keywords (kept when it is re-uploaded)."""
        found = await self.request_json("GET", image.image_uri)
        payload = found.get("Image") or {}
        return {k: str(payload.get(k) or "") for k in ("Title", "Caption", "Keywords")}

    async def album_stamp(self, album_uri: str) -> tuple[str, float]:
        """What tells whether an album's images changed: its `ImagesLastUpdated` with its
        `ImageCount` (as one text), and that time in seconds since the epoch."""
        found = await self.request_json(
            "GET", album_uri, params={"_filter": "ImagesLastUpdated,ImageCount"}
        )
        album = found.get("Album") or {}
        stamp = album.get("ImagesLastUpdated")
        when = timestamp(stamp)
        if when is None:
            raise ProtocolError(f"{album_uri}: album without ImagesLastUpdated")
        return f"{stamp}|{album.get('ImageCount')}", when

    async def image_count(self, album_uri: str) -> int:
        """How many images an album holds, asked afresh."""
        found = await self.request_json("GET", album_uri)
        album = found.get("Album")
        images = count(album.get("ImageCount")) if isinstance(album, dict) else None
        if images is None:
            # Never guessed: a wrong zero would let rmdir delete an album with photos.
            raise ProtocolError(f"{album_uri}: the service did not say how many images it holds")
        return images

    async def upload(
        self,
        album_uri: str,
        file_name: str,
        source: UploadSource,
        *,
        replace: RemoteImage | None = None,
        texts: dict[str, Any] | None = None,
    ) -> str:
        """Upload a staged file into an album (or over `replace`) with the given descriptive
        fields (`Title`, `Caption`, `Keywords` or `KeywordArray`, `Hidden`, `Latitude`,
        `Longitude`, `Altitude`, as a PATCH names them); returns the new AlbumImage URI once
        the service has confirmed it and taken the fields.

        The upload lands exactly once: a connection that breaks after the body was sent may
        have been applied, so before sending again the album is checked for it. Fields that an
        HTTP header cannot carry unchanged (non-ASCII, line breaks, `%`), and fields cleared
        over a replaced photo, are set afterwards with a PATCH of the new image, before this
        returns.
        """
        in_headers, patched = _upload_fields(texts or {}, replacing=replace is not None)
        # Counted for `smugfs status`: an upload is done once the service has confirmed it.
        self.stats.uploads_in_flight += 1
        try:
            uri = await self._upload(album_uri, file_name, source, replace, in_headers)
            if patched:
                await self.request_json("PATCH", uri, json=patched)
        except BaseException:
            self.stats.uploads_failed += 1
            raise
        else:
            self.stats.uploads_done += 1
        finally:
            self.stats.uploads_in_flight -= 1
        return uri

    async def _upload(
        self,
        album_uri: str,
        file_name: str,
        source: UploadSource,
        replace: RemoteImage | None,
        texts: dict[str, str],
    ) -> str:
        headers = {
            "X-Smug-AlbumUri": album_uri,
            # Percent-encoded unless it travels unchanged (the uploader undoes the encoding).
            "X-Smug-FileName": file_name if _header_safe(file_name) else quote(file_name, safe=""),
            "X-Smug-ResponseType": "JSON",
            "X-Smug-Version": "v2",
            "Content-MD5": base64.b64encode(bytes.fromhex(source.md5)).decode(),
            "Content-Length": str(source.size),
            "Content-Type": "application/octet-stream",
        }
        if replace is not None:
            headers["X-Smug-ImageUri"] = replace.image_uri
        for name, value in texts.items():
            headers[f"X-Smug-{name}"] = value
        retries = max(0, self.settings.retries)
        started = time.time()
        what = f"upload of {file_name}"
        for attempt in range(retries + 1):
            await self._attempt(what)
            response: httpx.Response | None = None
            # Why this attempt's outcome is unknown (the file may have landed), if it is.
            lost: str | None = None
            try:
                response = await self._http.post(
                    self.settings.upload_url,
                    content=_file_chunks(source),
                    headers=headers,
                    auth=self._upload_signer,
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Never sent: nothing can have landed, and the service is down, so say so now.
                raise self._unreachable(what, exc) from exc
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                why = lost = type(exc).__name__
            else:
                self._answered(response)
                status = response.status_code
                why = f"HTTP {status}"
                if status in (401, 403):
                    raise AccessDenied(f"{what}: {why}")
                if status >= 500 and status != 503:
                    lost = why
                elif status not in (429, 503):
                    body = _json_object(response)
                    if body is None:
                        why = lost = "malformed reply"
                    elif body.get("stat") == "ok":
                        uri = (body.get("Image") or {}).get("AlbumImageUri")
                        if not isinstance(uri, str):
                            raise ProtocolError(f"{what}: reply without AlbumImageUri")
                        self.stats.upload_bytes += source.size
                        return uri
                    else:
                        code = count(body.get("code")) or 0
                        why = str(body.get("message") or "refused")
                        # A system error or an MD5 that did not survive the trip is worth
                        # another try; any other refusal is final.
                        if code not in (5, 12):
                            raise UploadRefused(code, why)
            if lost is not None:
                landed = await self.landed_upload(album_uri, file_name, source, replace, started)
                if landed is not None:
                    return landed
            if attempt == retries:
                raise ServiceUnavailable(f"{what}: {why}")
            await self._pause(attempt, response, f"{what}: {why}")
        raise AssertionError("unreachable")  # pragma: no cover

    async def landed_upload(
        self,
        album_uri: str,
        file_name: str,
        source: UploadSource,
        replace: RemoteImage | None,
        started: float,
    ) -> str | None:
        """The AlbumImage URI of an upload (begun at `started`) that landed although its
        answer was lost, or None: the replaced photo now has the file's MD5, or the album
        holds the name with that MD5 (a video, re-encoded, by its name and upload time)."""
        try:
            if replace is not None:
                current = await self.album_image(replace.uri)
                return current.uri if current.md5 == source.md5 else None
            found = await self.request_json(
                "GET",
                f"{album_uri}!images",
                params={
                    "FileNames": quote(file_name, safe=""),
                    "count": 100,
                    "_filter": IMAGE_FIELDS,
                },
            )
        except (NotFound, ServiceUnavailable, ProtocolError):
            return None
        for item in _items(found, "AlbumImage"):
            image = RemoteImage.parse(item)
            fresh = (image.uploaded or 0) >= started - 60
            if image.file_name == file_name and (
                image.md5 == source.md5 or (image.is_video and fresh)
            ):
                return image.uri
        return None

    def stream_whole(self, url: str) -> Any:
        """An async context manager streaming a whole media file (one attempt; the caller
        retries). Used when the media server ignores Range."""
        self.stats.requests += 1
        return self._http.stream("GET", url)


def moved_image_uri(album_uri: str, image: RemoteImage) -> str:
    """The AlbumImage URI an image has in `album_uri` after `!moveimages` (same key)."""
    return f"{album_uri}/image/{image.image_key}-{image.serial}"


def _upload_fields(
    fields: dict[str, Any], *, replacing: bool
) -> tuple[dict[str, str], dict[str, Any]]:
    """Descriptive fields split into upload headers (`X-Smug-` + the name) and what must be
    PATCHed after the upload: texts a header cannot carry, and values that clear a field (no
    header clears one). A new photo needs no empty field sent, except an empty keyword list,
    which keeps the service from making keywords of the file name."""
    headers: dict[str, str] = {}
    patched: dict[str, Any] = {}
    for name, value in fields.items():
        if not isinstance(value, bool) and not value:
            if replacing or name == "KeywordArray":
                patched[name] = value
            continue
        header, text = name, str(value)
        if isinstance(value, list):
            header, text = "Keywords", "; ".join(str(v) for v in value)
        elif isinstance(value, bool):
            text = "true" if value else "false"
        if _header_safe(text):
            headers[header] = text
        else:
            patched[name] = value
    return headers, patched


def _header_safe(text: str) -> bool:
    """Whether a text travels unchanged in an upload header: printable ASCII without `%`
    (how the uploader decodes anything else is not known)."""
    return text.isascii() and text.isprintable() and "%" not in text


class _Retry(Exception):
    """A temporary failure of a media read."""

    def __init__(self, why: str, response: httpx.Response | None) -> None:
        super().__init__(why)
        self.response = response


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    """A reply's body as a JSON object, or None if it is not one."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _items(response: dict[str, Any], locator: str) -> list[dict[str, Any]]:
    """The payload list of a list reply (absent when empty, as the service sends it)."""
    items = response.get(locator)
    if items is None:
        return []
    if not isinstance(items, list):
        raise ProtocolError(f"{locator} is not a list")
    return [item for item in items if isinstance(item, dict)]


def _parsed(items: list[dict[str, Any]], parse: Callable[[dict[str, Any]], T]) -> list[T]:
    """The records of a listing; one the service sent without what a file or directory needs
    is left out (and logged), so the rest of the listing stays usable."""
    out = []
    for item in items:
        try:
            out.append(parse(item))
        except ProtocolError as exc:
            log.warning("leaving out an entry the service described badly: %s", exc)
    return out


def _unique(items: list[dict[str, Any]], key: str | None) -> list[dict[str, Any]]:
    """Drop repeats that offset paging produces when the list changes while it is read."""
    if key is None:
        return items
    seen: set[str] = set()
    out = []
    for item in items:
        value = item.get(key)
        if isinstance(value, str | int):
            if str(value) in seen:
                continue
            seen.add(str(value))
        out.append(item)
    return out


def _required_payload(response: dict[str, Any], locator: str) -> dict[str, Any]:
    payload = response.get(locator)
    if not isinstance(payload, dict):
        raise ProtocolError(f"reply without {locator}")
    return payload
