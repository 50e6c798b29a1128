"""API requests as the service answers them: the `Response` envelope, and lists page by page.

A list's first page says how many items there are; the rest are fetched concurrently (bounded
by `concurrency`) and joined in order, with duplicates from offset paging dropped. A `Pages`
block without a usable total is walked through its `NextPage` links instead. Every loop is
bounded (`MAX_ITEMS`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import trio

from smugfs.api.models import count, text
from smugfs.api.retry import Retry
from smugfs.api.transport import IDEMPOTENT_METHODS, Transport, path_of, raise_for_status
from smugfs.errors import ProtocolError, first_error

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_ITEMS = 100_000


class JsonApi:
    """Requests of API endpoints, answered in the service's JSON envelope."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        # Bounds the pages (and per-item requests) fetched at once.
        self.limit = trio.Semaphore(max(1, transport.settings.concurrency))

    async def request_json(
        self,
        method: str,
        uri: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
    ) -> dict[str, Any]:
        """An API request under the retry policy; returns the `Response` object of the
        envelope."""
        url = self.transport.url(uri, params)
        return await self.transport.retrying(
            f"{method} {path_of(url)}",
            lambda: self.json_once(method, url, json),
            idempotent=method in IDEMPOTENT_METHODS,
        )

    async def json_once(self, method: str, url: str, json: Any = None) -> dict[str, Any]:
        """One attempt of an API request at `url` (its query included): the envelope's
        `Response`, the domain error of an error status, or `Retry` (a reply that is not the
        envelope may be a gateway's page)."""
        what = f"{method} {path_of(url)}"
        response = await self.transport.exchange(method, url, what, json=json)
        raise_for_status(response, what)
        try:
            envelope = response.json()["Response"]
            if not isinstance(envelope, dict):
                raise TypeError("Response is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            raise Retry(f"malformed reply ({exc})", applied=True, final=ProtocolError) from exc
        return envelope

    async def list_all(
        self,
        uri: str,
        locator: str,
        params: Mapping[str, str | int] | None = None,
        key: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every item of a list endpoint: the first page, then the rest concurrently."""
        page_size = max(1, self.transport.settings.page_size)
        base = dict(params or {})
        first = await self.request_json("GET", uri, params={**base, "start": 1, "count": page_size})
        items = payload_list(first, locator)
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
            async with self.limit:
                page = await self.request_json(
                    "GET", uri, params={**base, "start": start, "count": per_page}
                )
            results[start] = payload_list(page, locator)

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
            found = payload_list(page, locator)
            if not found:
                break
            out.extend(found)
            pages = page.get("Pages")
            link = text(pages.get("NextPage")) if isinstance(pages, dict) else None
        return out


def payload_list(response: dict[str, Any], locator: str) -> list[dict[str, Any]]:
    """The payload list of a list reply (absent when empty, as the service sends it)."""
    items = response.get(locator)
    if items is None:
        return []
    if not isinstance(items, list):
        raise ProtocolError(f"{locator} is not a list")
    return [item for item in items if isinstance(item, dict)]


def payload(response: dict[str, Any], locator: str) -> dict[str, Any]:
    """The one object a reply must carry under `locator`."""
    found = response.get(locator)
    if not isinstance(found, dict):
        raise ProtocolError(f"reply without {locator}")
    return found


def parsed(items: list[dict[str, Any]], parse: Callable[[dict[str, Any]], T]) -> list[T]:
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
