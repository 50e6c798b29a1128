"""The legacy folder endpoints: the node tree seen as folders by UrlPath or by node ID.

The service still links `/api/v2/folder/user/{nick}` as `Uris.Folder` of every user and
`/api/v2/folder/id/{NodeID}` as `FolderByID` of every folder node, and several clients create
albums and folders through it. Every folder endpoint is a view of the one node tree in the
store: a folder here is a folder node, `!folders` and `!albums` are its child folders and
albums, and what is created here is a node like any other, under the same rules (UrlName,
sibling clashes, depth, privacy) as a POST to `node!children`.

Endpoints, each on the path form and the ID form of a folder:

- the folder itself (`Response.Folder`);
- `!folders`: its folders; POST creates one (201, `Response.Folder`);
- `!albums` (EndpointType `FolderAlbums`): its albums; POST creates one (201, `Response.Album`),
  taking the deprecated `Title`/`NiceName` for `Name`/`UrlName` and an `AlbumTemplateUri`;
  `!albumfromalbumtemplate` is the same create with the template required;
- `!parents` (`ParentFolders`): the folder and its ancestors up to the root; `!parent`;
- `!albumlist` (`AlbumList`): every album below the folder, as `Uri`/`Name`/`UrlPath`.
"""

from __future__ import annotations

import re
from typing import Any

from smugfs.emulator import album_templates
from smugfs.emulator.api import Api
from smugfs.emulator.endpoints import (
    E_ALBUM_CREATED,
    E_ALBUM_FROM_TEMPLATE,
    E_ALBUM_LIST,
    E_FOLDER,
    E_FOLDER_ALBUMS,
    E_FOLDER_BY_ID,
    E_FOLDER_CREATED,
    E_FOLDERS,
    E_NODE,
    E_PARENT_FOLDER,
    E_PARENT_FOLDERS,
    E_USER,
)
from smugfs.emulator.handling import Call, Handler, Outcome, RouteSpec, created
from smugfs.emulator.links import (
    album_uri,
    folder_id_uri,
    folder_uri,
    link,
    node_uri,
    parent_folders_link,
    user_uri,
)
from smugfs.emulator.model import ALBUM, FOLDER, Node
from smugfs.emulator.store import ServiceError, checked_name
from smugfs.emulator.wire import Endpoint

# The deprecated album field names the endpoint still takes, and the names they stand for.
ALBUM_ALIASES = {"Title": "Name", "NiceName": "UrlName"}
# The folder's two spellings: by the owner's nickname and UrlPath, or by node ID.
BY_PATH = r"/folder/user/(?P<nick>[^/!]+)(?P<path>(?:/[^/!]+)*)"
BY_ID = r"/folder/id/(?P<node>[^/!]+)"


def routes(api: Api) -> list[RouteSpec]:
    """The folder endpoints, in both forms, for `Api`'s router."""
    endpoints = FolderEndpoints(api)
    subs: list[tuple[str, Endpoint, dict[str, Handler]]] = [
        (
            "!folders",
            E_FOLDERS,
            {"GET": endpoints.folders, "POST": endpoints.create_folder},
        ),
        (
            "!albums",
            E_FOLDER_ALBUMS,
            {"GET": endpoints.albums, "POST": endpoints.create_album},
        ),
        (
            "!albumfromalbumtemplate",
            E_ALBUM_FROM_TEMPLATE,
            {"POST": endpoints.create_album_from_template},
        ),
        ("!parents", E_PARENT_FOLDERS, {"GET": endpoints.parents}),
        ("!parent", E_PARENT_FOLDER, {"GET": endpoints.parent}),
        ("!albumlist", E_ALBUM_LIST, {"GET": endpoints.album_list}),
    ]
    table: list[RouteSpec] = [
        (BY_PATH, E_FOLDER, {"GET": endpoints.folder}),
        (BY_ID, E_FOLDER_BY_ID, {"GET": endpoints.folder}),
    ]
    for suffix, endpoint, handlers in subs:
        table.append((BY_PATH + suffix, endpoint, handlers))
        table.append((BY_ID + suffix, endpoint, handlers))
    return table


class FolderEndpoints:
    """The handlers of the folder endpoints, over the API's store and access rules."""

    def __init__(self, api: Api) -> None:
        self.api = api

    # ------------------------------------------------------------------ lookups

    def _folder(self, call: Call, match: re.Match[str]) -> Node:
        """The folder a request names, by path or by ID; 404 for anything else, also for a
        path that ends at an album or page, or a folder the caller may not see."""
        store = call.store
        groups = match.groupdict()
        if groups.get("node") is not None:
            node = store.nodes.get(groups["node"])
        else:
            user = store.users.get(groups["nick"])
            node = store.nodes[user.root_node_id] if user else None
            for part in [p for p in (groups.get("path") or "").split("/") if p]:
                if node is None:
                    break
                node = next(
                    (
                        store.nodes[c]
                        for c in node.children
                        if store.nodes[c].type == FOLDER
                        and store.nodes[c].url_name.lower() == part.lower()
                    ),
                    None,
                )
        if node is None or node.type != FOLDER:
            raise ServiceError(404, "Not Found")
        return self.api._visible_node(call, node)

    def _children(self, call: Call, folder: Node, type_: str) -> list[Node]:
        """The folder's children of one type that the caller may see, in the owner's order."""
        return [
            child
            for child in call.store.sorted_children(folder, "SortIndex", "Ascending")
            if child.type == type_ and self.api._listable(call, child)
        ]

    # ------------------------------------------------------------------ reads

    def folder(self, call: Call, match: re.Match[str]) -> Outcome:
        """The folder itself."""
        return Outcome(obj=render(call, self._folder(call, match)))

    def folders(self, call: Call, match: re.Match[str]) -> Outcome:
        """`!folders`: the folders inside the folder."""
        children = self._children(call, self._folder(call, match), FOLDER)
        return Outcome(items=children, render=lambda node: render(call, node))

    def albums(self, call: Call, match: re.Match[str]) -> Outcome:
        """`!albums`: the albums inside the folder."""
        children = self._children(call, self._folder(call, match), ALBUM)
        albums = [call.store.albums[c.album_key] for c in children if c.album_key]
        return Outcome(items=albums, render=call.view.album)

    def parents(self, call: Call, match: re.Match[str]) -> Outcome:
        """`!parents`: the folder and its ancestors, up to the root."""
        folder = self._folder(call, match)
        chain = [folder, *call.store.ancestors(folder)]
        return Outcome(items=chain, render=lambda node: render(call, node))

    def parent(self, call: Call, match: re.Match[str]) -> Outcome:
        """`!parent`: the folder holding this one (404 for the root)."""
        folder = self._folder(call, match)
        if folder.parent_id is None:
            raise ServiceError(404, "Not Found")
        return Outcome(obj=render(call, call.store.nodes[folder.parent_id]))

    def album_list(self, call: Call, match: re.Match[str]) -> Outcome:
        """`!albumlist`: every album below the folder, in a short form, not paged."""
        store = call.store
        found: list[dict[str, Any]] = []
        pending = [self._folder(call, match)]
        while pending:
            node = pending.pop(0)
            for child in store.sorted_children(node, "SortIndex", "Ascending"):
                if not self.api._listable(call, child):
                    continue
                if child.type == FOLDER:
                    pending.append(child)
                elif child.type == ALBUM and child.album_key:
                    found.append(
                        {
                            "Uri": album_uri(child.album_key),
                            "Name": child.name,
                            "UrlPath": store.url_path(child),
                        }
                    )
        return Outcome(obj=found)

    # ------------------------------------------------------------------ writes

    def create_folder(self, call: Call, match: re.Match[str]) -> Outcome:
        """POST `!folders`: a new folder, under the rules of POST `node!children`."""
        parent = self._folder(call, match)
        self.api._require(call, parent.owner, "Add")
        checked_name(call.body.get("Name"))
        node = call.store.create_node_from(parent, FOLDER, call.body)
        return created(render(call, node), E_FOLDER_CREATED, folder_uri(call.store, node))

    def create_album(
        self, call: Call, match: re.Match[str], *, template_required: bool = False
    ) -> Outcome:
        """POST `!albums`: a new album in the folder, with an album template's settings when
        `AlbumTemplateUri` names one, and the fields sent over them."""
        parent = self._folder(call, match)
        self.api._require(call, parent.owner, "Add")
        store = call.store
        body = {ALBUM_ALIASES.get(k, k): v for k, v in call.body.items() if k in ALBUM_ALIASES}
        body.update({k: v for k, v in call.body.items() if k not in ALBUM_ALIASES})
        # The legacy endpoint protects an album sent with a password by it.
        if body.get("Password") and "SecurityType" not in body:
            body["SecurityType"] = "Password"
        checked_name(body.get("Name"))
        node = album_templates.create_album(
            store, parent, body, album_sort=True, template_required=template_required
        )
        assert node.album_key is not None
        album = store.albums[node.album_key]
        return created(call.view.album(album), E_ALBUM_CREATED, album_uri(album.album_key))

    def create_album_from_template(self, call: Call, match: re.Match[str]) -> Outcome:
        """POST `!albumfromalbumtemplate`: `!albums` with `AlbumTemplateUri` required."""
        return self.create_album(call, match, template_required=True)


def render(call: Call, node: Node) -> dict[str, Any]:
    """A folder record, shaped after the recorded ones (the fields a legacy category had,
    `Keywords` as one `; `-separated string, `IsEmpty`, links by UrlPath)."""
    store = call.store
    view = call.view
    uri = folder_uri(store, node)
    out: dict[str, Any] = {
        "Name": node.name,
        "UrlName": node.url_name,
        "SecurityType": node.security_type,
        "SortMethod": node.sort_method,
        "SortDirection": node.sort_direction,
        "Description": node.description,
        "Keywords": "; ".join(node.keywords),
        "PasswordHint": node.password_hint,
        "DateAdded": node.date_added,
        "DateModified": node.date_modified,
        "UrlPath": store.url_path(node),
        "NodeID": node.node_id,
        "IsEmpty": not node.children,
        "Uri": uri,
        "WebUri": view.web(f"/{node.owner}" + store.url_path(node).rstrip("/")),
        "UriDescription": E_FOLDER.description,
        "ResponseLevel": view.level(node.owner),
    }
    if view.owns(node.owner):
        out["Privacy"] = node.privacy
    uris: dict[str, Any] = {
        "FolderByID": link(folder_id_uri(node.node_id), E_FOLDER_BY_ID),
        "Node": link(node_uri(node.node_id), E_NODE),
        "User": link(user_uri(node.owner), E_USER),
    }
    if node.parent_id is not None:
        parent = store.nodes[node.parent_id]
        uris["ParentFolders"] = parent_folders_link(store, parent)
        uris["ParentFolder"] = link(f"{uri}!parent", E_PARENT_FOLDER)
    uris["Folders"] = link(f"{uri}!folders", E_FOLDERS)
    uris["FolderAlbums"] = link(f"{uri}!albums", E_FOLDER_ALBUMS)
    uris["AlbumList"] = link(f"{uri}!albumlist", E_ALBUM_LIST)
    out["Uris"] = uris
    return out
