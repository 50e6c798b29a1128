"""The API v2 router, and the handlers of users and nodes (folders, albums, pages as nodes).

Album and image handlers are in `album_endpoints.py`, what handlers share (`Call`, `Outcome`,
the access rules) in `handling.py`, further endpoint families in modules that add routes
(`folders.py`, `templates.py`, `image_download.py`).

`Api.handle` takes a request that has already been authenticated (see `oauth.py`) and answers
with an HTTP status and the envelope of `wire.py`. Handlers are synchronous and finish without
awaiting, so no other request can see the store half-changed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from typing import Any

from smugfs.emulator import album_templates, wire
from smugfs.emulator.album_endpoints import AlbumImageEndpoints
from smugfs.emulator.endpoints import (
    E_ALBUM,
    E_ALBUM_IMAGE,
    E_ALBUM_IMAGES,
    E_AUTHUSER,
    E_CHILDREN,
    E_COLLECT_IMAGES,
    E_DELETE_IMAGES,
    E_IMAGE,
    E_IMAGE_ALBUMS,
    E_LARGEST_IMAGE,
    E_LARGEST_VIDEO,
    E_METADATA,
    E_MOVE_IMAGES,
    E_MOVE_NODES,
    E_NODE,
    E_NODE_CREATED,
    E_PARENT,
    E_PARENTS,
    E_PATH_LOOKUP,
    E_PROFILE,
    E_SIZE_DETAILS,
    E_USER,
    E_USER_ALBUMS,
)
from smugfs.emulator.handling import (
    Call,
    Handler,
    Outcome,
    RouteSpec,
    created,
    uri_list,
)
from smugfs.emulator.links import link, node_uri
from smugfs.emulator.model import ALBUM, FOLDER, PAGE
from smugfs.emulator.store import ServiceError, Store, checked_name
from smugfs.emulator.wire import Endpoint, Query


@dataclasses.dataclass(frozen=True)
class Route:
    """A path pattern, what it is, and a handler per method."""

    pattern: re.Pattern[str]
    endpoint: Endpoint
    handlers: dict[str, Handler]


@dataclasses.dataclass
class Reply:
    """An HTTP status and the JSON body to send."""

    status: int
    body: dict[str, Any]
    list_items: int = 0


KEY = r"[^/!]+"
IMAGE_KEY = r"(?P<image>[^/!-]+)(?:-(?P<serial>\d+))?"


def editable(read: Handler, change: Handler, delete: Handler) -> dict[str, Handler]:
    """The handlers of an object that its owner may change (PATCH) and delete."""
    return {"GET": read, "PATCH": change, "DELETE": delete}


class Api(AlbumImageEndpoints):
    """The router and handlers of `/api/v2`."""

    def __init__(
        self, store: Store, extensions: Sequence[Callable[[Api], list[RouteSpec]]] = ()
    ) -> None:
        """`extensions` add endpoints kept in modules of their own (e.g. `folders.routes`)."""
        self.store = store
        user, node = f"/user/(?P<nick>{KEY})", f"/node/(?P<node>{KEY})"
        album = f"/album/(?P<album>{KEY})"
        table: list[RouteSpec] = [
            ("!authuser", E_AUTHUSER, {"GET": self.authuser}),
            (user, E_USER, {"GET": self.user}),
            (f"{user}!albums", E_USER_ALBUMS, {"GET": self.user_albums}),
            (f"{user}!urlpathlookup", E_PATH_LOOKUP, {"GET": self.path_lookup}),
            (f"{user}!profile", E_PROFILE, {"GET": self.profile}),
            (node, E_NODE, editable(self.node, self.patch_node, self.delete_node)),
            (f"{node}!children", E_CHILDREN, {"GET": self.children, "POST": self.create_child}),
            (f"{node}!parents", E_PARENTS, {"GET": self.parents}),
            (f"{node}!parent", E_PARENT, {"GET": self.parent}),
            (f"{node}!movenodes", E_MOVE_NODES, {"POST": self.move_nodes}),
            (album, E_ALBUM, editable(self.album, self.patch_album, self.delete_album)),
            (f"{album}!images", E_ALBUM_IMAGES, {"GET": self.album_images}),
            (f"{album}!moveimages", E_MOVE_IMAGES, {"POST": self.move_images}),
            (f"{album}!collectimages", E_COLLECT_IMAGES, {"POST": self.collect_images}),
            (f"{album}!deleteimages", E_DELETE_IMAGES, {"POST": self.delete_images}),
        ]
        # An image is served alike by its own URI and as shown in an album, and so are its parts.
        edits = editable(self.image, self.patch_image, self.delete_image)
        parts: list[tuple[str, Endpoint, Handler]] = [
            ("metadata", E_METADATA, self.image_metadata),
            ("sizedetails", E_SIZE_DETAILS, self.image_size_details),
            ("largestimage", E_LARGEST_IMAGE, self.image_largest),
            ("largestvideo", E_LARGEST_VIDEO, self.image_largest_video),
            ("albums", E_IMAGE_ALBUMS, self.image_albums),
        ]
        for image, endpoint in [
            (f"/image/{IMAGE_KEY}", E_IMAGE),
            (f"{album}/image/{IMAGE_KEY}", E_ALBUM_IMAGE),
        ]:
            table.append((image, endpoint, edits))
            table.extend((f"{image}!{name}", part, {"GET": read}) for name, part, read in parts)
        for extend in extensions:
            table.extend(extend(self))
        self.routes = [
            Route(re.compile(f"/api/v2{pattern}"), endpoint, handlers)
            for pattern, endpoint, handlers in table
        ]

    # ------------------------------------------------------------------ dispatch

    def route(self, path: str) -> tuple[Route, re.Match[str]] | None:
        """The route matching `path`, with its match."""
        for route in self.routes:
            match = route.pattern.fullmatch(path)
            if match:
                return route, match
        return None

    def handle(self, call: Call, *, expand: bool = True) -> Reply:
        """Answer one API request."""
        query = call.query
        found = self.route(query.path)
        if found is None:
            return Reply(404, wire.error_envelope(query, None, 404, "Not Found"))
        route, match = found
        endpoint = route.endpoint
        if query.method == "OPTIONS":
            body = wire.envelope(query, endpoint)
            body["Options"] = wire.options_block(endpoint, query, full=True)
            return Reply(200, body)
        handler = route.handlers.get(query.method)
        if handler is None:
            return Reply(405, wire.error_envelope(query, endpoint, 405, "Method Not Allowed"))
        try:
            outcome = handler(call, match)
            return self._reply(call, endpoint, outcome, expand)
        except ServiceError as exc:
            return Reply(exc.status, wire.error_envelope(query, endpoint, exc.status, exc.message))
        except wire.BadRequest as exc:
            return Reply(400, wire.error_envelope(query, endpoint, 400, str(exc)))

    def _reply(self, call: Call, endpoint: Endpoint, outcome: Outcome, expand: bool) -> Reply:
        query = call.query
        pages = None
        payload: Any = outcome.obj
        listed = 0
        if outcome.locator is not None:
            endpoint = dataclasses.replace(endpoint, locator=outcome.locator)
        if outcome.answer_as is not None:
            endpoint = outcome.answer_as
        if outcome.uri is not None:
            query = dataclasses.replace(query, path=outcome.uri, raw_query="")
        if query.method in ("POST", "PATCH", "DELETE"):
            # The `Options` of a change's reply describe only the method used (recorded
            # create and delete replies: `"Methods": ["DELETE"], "Parameters": {"DELETE": []}`).
            endpoint = dataclasses.replace(
                endpoint,
                methods=(query.method,),
                parameters={query.method: endpoint.parameters.get(query.method, ())},
            )
        if outcome.items is not None:
            assert outcome.render is not None
            page = wire.paginate(
                query,
                outcome.items,
                endpoint.max_count,
                default_count=endpoint.default_count,
                filters=[p["Name"] for p in endpoint.parameters.get("GET", ())],
            )
            payload = [outcome.render(item) for item in page.items]
            pages = page.pages
            listed = len(page.items)
        with_options = outcome.with_options or (
            outcome.items is not None and bool(endpoint.parameters.get("GET"))
        )
        expansions: dict[str, Any] = {}
        names = query.names("_expand") if expand else None
        if names and payload is not None:
            objects = payload if isinstance(payload, list) else [payload]
            inline = query.params.get("_expandmethod") == "inline"
            for obj in objects:
                self._expand(call, obj, names, expansions, inline)
        if isinstance(payload, list):
            payload = [wire.shape(obj, query) for obj in payload]
        elif payload is not None:
            payload = wire.shape(payload, query)
        body = wire.envelope(
            query,
            endpoint,
            status=outcome.status,
            payload=payload,
            pages=pages,
            with_options=with_options,
        )
        if expansions:
            body["Expansions"] = expansions
        return Reply(outcome.status, body, listed)

    def _expand(
        self,
        call: Call,
        obj: dict[str, Any],
        names: list[str],
        into: dict[str, Any],
        inline: bool,
    ) -> None:
        """Fill `Expansions` (or the `Uris` entries, inline) for the named links of `obj`."""
        groups: dict[str, list[str]] = {}
        for name in names:
            head, _, rest = name.partition(".")
            groups.setdefault(head, [])
            if rest:
                groups[head].append(rest)
        uris = obj.get("Uris", {})
        for head, nested in groups.items():
            entry = uris.get(head)
            if entry is None:
                continue
            uri = entry["Uri"] if isinstance(entry, dict) else str(entry)
            # Expanded objects are rendered like the main one: gallery-dl reads the `Uris` of
            # an expanded node as plain strings when it asked for `_verbosity=1`.
            carried = {
                k: v for k, v in call.query.params.items() if k in ("_verbosity", "_shorturis")
            }
            sub_query = Query("GET", uri, "", carried)
            reply = self.handle(dataclasses.replace(call, query=sub_query), expand=False)
            if reply.status != 200:
                continue
            response = reply.body["Response"]
            if nested:
                inner = response.get(response.get("Locator", ""))
                for child in inner if isinstance(inner, list) else [inner] if inner else []:
                    self._expand(call, child, nested, into, inline)
            if inline and isinstance(entry, dict):
                entry.update({k: v for k, v in response.items() if k != "Uri"})
            else:
                into[uri] = response

    # ------------------------------------------------------------------ users

    def authuser(self, call: Call, match: re.Match[str]) -> Outcome:
        """`!authuser`: the user the token belongs to."""
        if call.principal is None or call.principal.nick is None:
            raise ServiceError(401, "Unauthorized")
        return Outcome(obj=call.view.user(self.store.users[call.principal.nick]))

    def _user(self, nick: str) -> Any:
        user = self.store.users.get(nick)
        if user is None:
            raise ServiceError(404, "Not Found")
        return user

    def user(self, call: Call, match: re.Match[str]) -> Outcome:
        """`user/{nick}`."""
        return Outcome(obj=call.view.user(self._user(match["nick"])))

    def profile(self, call: Call, match: re.Match[str]) -> Outcome:
        """`user/{nick}!profile`."""
        return Outcome(obj=call.view.profile(self._user(match["nick"])))

    def user_albums(self, call: Call, match: re.Match[str]) -> Outcome:
        """`user/{nick}!albums`: every album of the user, most recently changed first."""
        nick = self._user(match["nick"]).nick
        albums = [
            a
            for a in self.store.albums.values()
            if self.store.album_node(a).owner == nick
            and self._listable(call, self.store.album_node(a))
        ]
        albums.sort(key=lambda a: a.last_updated, reverse=True)
        return Outcome(items=albums, render=call.view.album)

    def path_lookup(self, call: Call, match: re.Match[str]) -> Outcome:
        """`user/{nick}!urlpathlookup?urlpath=/A/B`: the folder, album or page at a path.

        The reply's `Locator` names what was found (`Album`, `Folder` or `Page`) and the object
        sits under that key, as clients of the real service read it.
        """
        user = self._user(match["nick"])
        wanted = [p for p in call.query.params.get("urlpath", "/").split("/") if p]
        node = self.store.nodes[user.root_node_id]
        for part in wanted:
            found = next(
                (
                    self.store.nodes[c]
                    for c in node.children
                    if self.store.nodes[c].url_name.lower() == part.lower()
                ),
                None,
            )
            if found is None:
                raise ServiceError(404, "Not Found")
            node = found
        self._visible_node(call, node)
        if node.type == ALBUM and node.album_key:
            return Outcome(obj=call.view.album(self.store.albums[node.album_key]), locator=ALBUM)
        rendered = call.view.node(node)
        folder = {
            k: rendered[k]
            for k in (
                "Name",
                "UrlName",
                "UrlPath",
                "NodeID",
                "WebUri",
                "Description",
                "ResponseLevel",
            )
        }
        folder["Uri"] = rendered["Uri"]
        folder["Uris"] = {"Node": link(rendered["Uri"], E_NODE)}
        return Outcome(obj=folder, locator=PAGE if node.type == PAGE else FOLDER)

    # ------------------------------------------------------------------ nodes

    def node(self, call: Call, match: re.Match[str]) -> Outcome:
        """`node/{id}`."""
        return Outcome(obj=call.view.node(self._node(call, match["node"])))

    def children(self, call: Call, match: re.Match[str]) -> Outcome:
        """`node/{id}!children` with `Type`, `SortMethod` and `SortDirection`."""
        node = self._node(call, match["node"])
        params = call.query.params
        types = {t.strip() for t in params.get("Type", "All").replace(" ", ",").split(",")}
        types.discard("")
        if "Folder" in types or "Album" in types or "Page" in types:
            wanted = types & {FOLDER, ALBUM, PAGE}
        else:
            wanted = {FOLDER, ALBUM, PAGE}
        method = params.get("SortMethod", "Organizer")
        direction = params.get("SortDirection", "Ascending")
        if direction not in ("Ascending", "Descending"):
            raise ServiceError(400, "Invalid SortDirection")
        children = [
            c
            for c in self.store.sorted_children(node, method, direction)
            if c.type in wanted and self._listable(call, c)
        ]
        return Outcome(items=children, render=call.view.node)

    def parents(self, call: Call, match: re.Match[str]) -> Outcome:
        """`node/{id}!parents`: the node and its ancestors up to the root."""
        node = self._node(call, match["node"])
        return Outcome(items=[node, *self.store.ancestors(node)], render=call.view.node)

    def parent(self, call: Call, match: re.Match[str]) -> Outcome:
        """`node/{id}!parent`."""
        node = self._node(call, match["node"])
        if node.parent_id is None:
            raise ServiceError(404, "Not Found")
        return Outcome(obj=call.view.node(self.store.nodes[node.parent_id]))

    def create_child(self, call: Call, match: re.Match[str]) -> Outcome:
        """POST `node/{id}!children`: a new folder, album or page."""
        parent = self._node(call, match["node"])
        self._require(call, parent.owner, "Add")
        body = call.body
        checked_name(body.get("Name"))
        type_ = str(body.get("Type", FOLDER))
        if type_ == ALBUM:
            # `SortMethod`/`SortDirection` here are the node's; a template presets the album's.
            node = album_templates.create_album(self.store, parent, body, album_sort=False)
        else:
            node = self.store.create_node_from(parent, type_, body)
        return created(call.view.node(node), E_NODE_CREATED, node_uri(node.node_id))

    def patch_node(self, call: Call, match: re.Match[str]) -> Outcome:
        """PATCH `node/{id}`."""
        node = self._node(call, match["node"])
        self._require(call, node.owner, "Modify")
        return Outcome(obj=call.view.node(self.store.update_node(node, call.body)))

    def delete_node(self, call: Call, match: re.Match[str]) -> Outcome:
        """DELETE `node/{id}` (a folder goes with its whole subtree)."""
        node = self._node(call, match["node"])
        self._require(call, node.owner, "Modify")
        self.store.delete_node(node)
        return Outcome(with_options=True)

    def move_nodes(self, call: Call, match: re.Match[str]) -> Outcome:
        """POST `node/{id}!movenodes` with `MoveUris`."""
        target = self._node(call, match["node"])
        self._require(call, target.owner, "Modify")
        nodes = []
        for uri in uri_list(call.body.get("MoveUris")):
            found = re.fullmatch(r"/api/v2/node/([^/!?]+)", uri)
            node = self.store.nodes.get(found.group(1)) if found else None
            if node is None:
                raise ServiceError(400, f"Invalid node URI {uri}")
            self._require(call, node.owner, "Modify")
            nodes.append(node)
        if not nodes:
            raise ServiceError(400, "MoveUris is required")
        moved = self.store.move_nodes(target, nodes)
        return Outcome(obj=None, items=moved, render=call.view.node, with_options=True)
