"""Changes that must happen once (a new node, a move), although an answer can be lost.

An answer can be lost after the service has applied the change: a connection broken after the
request was sent, a gateway's 5xx, a reply that is not JSON. Then the caller's `landed` asks the
service whether the change is there; the request is sent again (under the one retry policy) only
if it is not, and an error answered to a repeat (the name is taken now, the object has moved)
is checked the same way, since the first attempt may be what it ran into.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from smugfs.api.paging import JsonApi
from smugfs.api.retry import Retry
from smugfs.api.transport import path_of
from smugfs.errors import AlreadyExists, InvalidRequest, NotFound

log = logging.getLogger(__name__)

T = TypeVar("T")


async def post_once(
    api: JsonApi,
    uri: str,
    body: dict[str, Any],
    landed: Callable[[], Awaitable[T | None]],
    parse: Callable[[dict[str, Any]], T],
) -> T:
    """POST `body` to `uri` so that it is applied once; `parse` reads the reply, `landed`
    finds the change on the service (None if it is not there)."""
    url = api.transport.url(uri)
    what = f"POST {path_of(url)}"
    lost = False

    async def attempt() -> T:
        nonlocal lost
        try:
            return parse(await api.json_once("POST", url, body))
        except Retry as exc:
            if not exc.applied:
                raise  # refused before anything was done: safe to send again
            lost = True
            found = await _landed_change(landed, what)
            if found is not None:
                return found
            # Not applied after all: sending it again is safe.
            raise Retry(exc.why, wait=exc.wait, final=exc.final) from exc
        except (AlreadyExists, NotFound, InvalidRequest):
            if not lost:
                raise
            found = await _landed_change(landed, what)
            if found is not None:
                return found
            raise

    return await api.transport.retrying(what, attempt, idempotent=False)


async def _landed_change(landed: Callable[[], Awaitable[T | None]], what: str) -> T | None:
    """What `landed` finds, or None; a service that cannot tell is an error, since sending
    the change again blindly could apply it twice."""
    found = await landed()
    if found is not None:
        log.info("%s: the answer was lost, but the change had been made", what)
    return found
