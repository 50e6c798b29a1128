"""What the API's handlers share: a request as they see it (`Call`), what they produce
(`Outcome`), the access rules every handler applies before it reads or changes the store, and
the reading of list parameters."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit

from smugfs.emulator.model import Album, Image, Node
from smugfs.emulator.oauth import Principal
from smugfs.emulator.store import ServiceError, Store
from smugfs.emulator.views import View
from smugfs.emulator.wire import Endpoint, Query

NOT_GRANTED = "The user has not granted the required permissions"


@dataclasses.dataclass
class Outcome:
    """What a handler produced: one object, or list records to page and render."""

    status: int = 200
    # One object, or a list that is not paged (`LocatorType` `List`).
    obj: dict[str, Any] | list[dict[str, Any]] | None = None
    items: Sequence[Any] | None = None
    render: Callable[[Any], dict[str, Any]] | None = None
    with_options: bool = False
    # The payload's key when it is not the endpoint's (`!urlpathlookup` answers an `Album`,
    # a `Folder` or a `Page`).
    locator: str | None = None
    # The endpoint and URI the reply speaks for when they are not the request's: a create
    # answers as the new object (`Response.Uri` is the new node, `LocatorType` `Object`).
    answer_as: Endpoint | None = None
    uri: str | None = None


def created(obj: dict[str, Any], answer_as: Endpoint, uri: str) -> Outcome:
    """A create's outcome: 201 with the new object, the reply speaking for its endpoint and URI."""
    return Outcome(status=201, obj=obj, with_options=True, answer_as=answer_as, uri=uri)


@dataclasses.dataclass
class Call:
    """One API request, authenticated, as the handlers see it."""

    query: Query
    body: dict[str, Any]
    principal: Principal | None
    view: View

    @property
    def store(self) -> Store:
        """The service state."""
        return self.view.store


Handler = Callable[[Call, re.Match[str]], Outcome]
# One endpoint of the router: a path pattern below `/api/v2`, what it is, a handler per method.
RouteSpec = tuple[str, Endpoint, dict[str, Handler]]


class AccessRules:
    """Who may see and change what: the node, album and image lookups handlers make."""

    store: Store

    def _viewer(self, call: Call) -> str | None:
        return call.principal.viewer if call.principal else None

    def _visible_node(self, call: Call, node: Node) -> Node:
        """The node if the caller may see it; 404 (the service's answer) if not."""
        if self._viewer(call) != node.owner and self.store.effective_privacy(node) == "Private":
            raise ServiceError(404, "Not Found")
        return node

    def _listable(self, call: Call, node: Node) -> bool:
        """Whether a listing shows the node to the caller (others see only Public ones)."""
        if self._viewer(call) == node.owner:
            return True
        return self.store.effective_privacy(node) == "Public"

    def _require(self, call: Call, owner: str, permission: str) -> None:
        """Refuse a change unless the caller is the owner with a grant that covers it."""
        principal = call.principal
        if principal is None or principal.nick is None:
            raise ServiceError(401, "Unauthorized")
        if principal.nick != owner or principal.access != "Full":
            raise ServiceError(401, "Unauthorized")
        if not principal.may(permission):
            raise ServiceError(401, NOT_GRANTED)

    def _node(self, call: Call, node_id: str) -> Node:
        return self._visible_node(call, self.store.node(node_id))

    def _album(self, call: Call, album_key: str) -> Album:
        album = self.store.album(album_key)
        self._visible_node(call, self.store.album_node(album))
        return album

    def _image(self, call: Call, match: re.Match[str]) -> tuple[Image, str | None]:
        album_key = match.groupdict().get("album")
        if album_key:
            album = self._album(call, album_key)
            image = self.store.album_image(album.album_key, match["image"])
        else:
            image = self.store.image(match["image"])
            self._visible_node(call, self.store.album_node(self.store.albums[image.album_key]))
        return image, album_key


def uri_list(value: Any) -> list[str]:
    """`MoveUris`-style parameters: a comma-separated string or an array, of relative or
    absolute URIs, reduced to their paths."""
    if value is None:
        return []
    parts = value if isinstance(value, list) else str(value).split(",")
    out = []
    for part in parts:
        text = str(part).strip()
        if text:
            out.append(urlsplit(text).path if "://" in text else text.split("?")[0])
    return out


def file_names(query: Query) -> set[str] | None:
    """The `FileNames` filter: comma-separated names, each percent-encoded."""
    raw = None
    for pair in query.raw_query.split("&"):
        key, _, value = pair.partition("=")
        if unquote_plus(key) == "FileNames":
            raw = value
    if raw is None:
        return None
    names: set[str] = set()
    if "," not in raw and "%2c" in raw.lower():
        # Either one name holding a comma, encoded as the endpoint asks, or a whole list
        # encoded once more on top of each name's own encoding: the filter honours both.
        names.add(unquote_plus(raw))
        raw = unquote_plus(raw)
    return names | {unquote(unquote_plus(part)) for part in raw.split(",") if part}
