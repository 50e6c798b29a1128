"""The emulated service's node tree: folders, albums and pages, and the rules it keeps.

Sibling UrlNames are unique, folders nest at most five deep, deleting a folder deletes its
subtree, `DateModified` climbs to the root on every change. What an album's deletion does to its
images is `AlbumImages`' part (`_delete_image`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from smugfs.emulator import naming
from smugfs.emulator.model import ALBUM, FOLDER, Album, Image, Node
from smugfs.emulator.refusals import ServiceError
from smugfs.emulator.rules import (
    ALBUM_SORT_ALIASES,
    ALBUM_SORT_METHODS,
    MAX_FOLDER_DEPTH,
    NODE_TYPES,
    SORT_DIRECTIONS,
    URL_NAME_REFUSAL,
    check_node_fields,
    checked_name,
    keyword_list,
    truthy,
)
from smugfs.emulator.tables import Tables

Record = TypeVar("Record")


class NodeTree(Tables):
    """Looks records up (404 when absent) and queries and changes the node tree."""

    @staticmethod
    def _found(table: Mapping[str, Record], key: str) -> Record:
        record = table.get(key)
        if record is None:
            raise ServiceError(404, "Not Found")
        return record

    def node(self, node_id: str) -> Node:
        """The node, or 404."""
        return self._found(self.nodes, node_id)

    def album(self, album_key: str) -> Album:
        """The album, or 404."""
        return self._found(self.albums, album_key)

    def image(self, image_key: str) -> Image:
        """The image, or 404."""
        return self._found(self.images, image_key)

    def album_image(self, album_key: str, image_key: str) -> Image:
        """The image as shown in an album, or 404 when the album does not show it."""
        album = self.album(album_key)
        if image_key not in album.image_keys:
            raise ServiceError(404, "Not Found")
        return self.image(image_key)

    def ancestors(self, node: Node) -> list[Node]:
        """The node's parents from its parent up to the root."""
        chain: list[Node] = []
        current = node
        while current.parent_id is not None:
            current = self.nodes[current.parent_id]
            chain.append(current)
        return chain

    def url_path(self, node: Node) -> str:
        """The node's `UrlPath` (`/` for the root)."""
        parts = [n.url_name for n in reversed([node, *self.ancestors(node)]) if n.parent_id]
        return "/" + "/".join(parts)

    def folder_depth(self, node: Node) -> int:
        """How many folders below the root `node` is (the root is 0)."""
        return len(self.ancestors(node))

    def subtree_folder_height(self, node: Node) -> int:
        """How many levels of folders `node` brings with it (an album brings 0)."""
        if node.type != FOLDER:
            return 0
        below = [self.subtree_folder_height(self.nodes[c]) for c in node.children]
        return 1 + max(below, default=0)

    def effective_privacy(self, node: Node) -> str:
        """The privacy that applies: a Private folder makes everything below it Private."""
        for n in [node, *self.ancestors(node)]:
            if n.privacy == "Private":
                return "Private"
        return node.privacy

    def album_node(self, album: Album) -> Node:
        """The node of an album."""
        return self.nodes[album.node_id]

    def owner_of_image(self, image: Image) -> str:
        """The nickname owning an image."""
        return self.album_node(self.albums[image.album_key]).owner

    def sorted_children(self, node: Node, method: str, direction: str) -> list[Node]:
        """A folder's children in the order a `!children` listing asks for."""
        children = [self.nodes[c] for c in node.children]
        keys: dict[str, Any] = {
            "SortIndex": lambda n: n.sort_index,
            "Organizer": lambda n: n.sort_index,
            "Name": lambda n: n.name.lower(),
            "DateAdded": lambda n: n.date_added,
            "DateModified": lambda n: n.date_modified,
        }
        children.sort(key=keys.get(method, keys["SortIndex"]))
        if direction == "Descending":
            children.reverse()
        return children

    # ----------------------------------------------------------------- tree changes

    def touch(self, node: Node, stamp: str | None = None) -> None:
        """Record a change at `node`: its DateModified and every ancestor's move on."""
        stamp = stamp or naming.iso(naming.now())
        for n in [node, *self.ancestors(node)]:
            n.date_modified = stamp
        self.dirty = True

    def _next_sort_index(self, folder: Node) -> int:
        """The `SortIndex` of a node joining `folder`: after every child it has."""
        return 1 + max((self.nodes[c].sort_index for c in folder.children), default=0)

    def _sibling_url_names(self, parent: Node, excluding: str | None = None) -> set[str]:
        return {self.nodes[c].url_name for c in parent.children if c != excluding}

    def _check_url_name_free(self, parent: Node, url_name: str, excluding: str | None) -> None:
        taken = {u.lower() for u in self._sibling_url_names(parent, excluding)}
        if url_name.lower() in taken:
            raise ServiceError(409, f"A node with the UrlName {url_name} already exists here")

    def create_node(
        self,
        parent: Node,
        *,
        type_: str,
        name: str,
        url_name: str | None = None,
        auto_rename: bool = False,
        privacy: str = "Unlisted",
        description: str = "",
        keywords: Iterable[str] = (),
        sort_method: str = "DateModified",
        sort_direction: str = "Descending",
        security_type: str = "None",
        password: str = "",
        password_hint: str = "",
        stamp: str | None = None,
    ) -> Node:
        """A new folder, album or page under the folder `parent` (the POST `!children` rules)."""
        if parent.type != FOLDER:
            raise ServiceError(400, "Only folders can have child nodes")
        if type_ not in NODE_TYPES:
            raise ServiceError(400, f"Type must be one of {', '.join(NODE_TYPES)}")
        name = checked_name(name)
        sent = {
            "Description": description,
            "Privacy": privacy,
            "SecurityType": security_type,
            "SortMethod": sort_method,
            "SortDirection": sort_direction,
        }
        if url_name:
            sent["UrlName"] = url_name
        check_node_fields(sent)
        if type_ == FOLDER and self.folder_depth(parent) + 1 > MAX_FOLDER_DEPTH:
            raise ServiceError(400, f"Folders can only be nested {MAX_FOLDER_DEPTH} levels deep")
        if url_name is None or url_name == "":
            url_name = naming.derive_url_name(name)
        if auto_rename:
            url_name = naming.unique_url_name(url_name, self._sibling_url_names(parent))
        else:
            self._check_url_name_free(parent, url_name, None)
        stamp = stamp or naming.iso(naming.now())
        node = Node(
            node_id=self.new_key(naming.NODE_ID_LENGTH, self.nodes),
            type=type_,
            name=name,
            url_name=url_name,
            owner=parent.owner,
            parent_id=parent.node_id,
            date_added=stamp,
            date_modified=stamp,
            description=description,
            keywords=list(keywords),
            privacy=privacy,
            security_type=security_type,
            password=password,
            password_hint=password_hint,
            sort_method=sort_method,
            sort_direction=sort_direction,
            sort_index=self._next_sort_index(parent),
        )
        if type_ == ALBUM:
            album = Album(
                album_key=self.new_key(naming.ALBUM_KEY_LENGTH, self.albums),
                node_id=node.node_id,
                last_updated=stamp,
                images_last_updated=stamp,
            )
            self.albums[album.album_key] = album
            node.album_key = album.album_key
        self.nodes[node.node_id] = node
        parent.children.append(node.node_id)
        self.touch(parent, stamp)
        return node

    def create_node_from(self, parent: Node, type_: str, fields: dict[str, Any]) -> Node:
        """`create_node` from a create request's fields under their wire names (`Name`,
        `UrlName`, `AutoRename`, `Privacy`, ...), with the defaults of POST `node!children`."""
        url_name = fields.get("UrlName")
        return self.create_node(
            parent,
            type_=type_,
            name=str(fields["Name"]),
            url_name=None if url_name is None or url_name == "" else str(url_name),
            auto_rename=truthy(fields.get("AutoRename", False)),
            privacy=str(fields.get("Privacy", "Unlisted")),
            description=str(fields.get("Description", "")),
            keywords=keyword_list(fields.get("Keywords", [])),
            sort_method=str(fields.get("SortMethod", "DateModified")),
            sort_direction=str(fields.get("SortDirection", "Descending")),
            security_type=str(fields.get("SecurityType", "None")),
            password=str(fields.get("Password", "")),
            password_hint=str(fields.get("PasswordHint", "")),
        )

    def update_node(self, node: Node, fields: dict[str, Any]) -> Node:
        """PATCH of a node: only the fields sent change; a sibling UrlName clash is 409."""
        parent = self.nodes[node.parent_id] if node.parent_id else None
        if "Name" in fields:
            checked_name(str(fields["Name"]))
        check_node_fields(fields)
        if "UrlName" in fields:
            url_name = str(fields["UrlName"])
            if parent is None:
                raise ServiceError(400, URL_NAME_REFUSAL)
            taken = {u.lower() for u in self._sibling_url_names(parent, node.node_id)}
            if url_name.lower() in taken:
                if truthy(fields.get("AutoRename")):
                    # The real service answers 200 and changes nothing in this case.
                    fields = {k: v for k, v in fields.items() if k != "UrlName"}
                else:
                    raise ServiceError(409, f"A node with the UrlName {url_name} already exists")
        self._apply(
            node,
            fields,
            {
                "Name": ("name", lambda v: str(v).strip()),
                "UrlName": ("url_name", str),
                "Description": ("description", str),
                "Keywords": ("keywords", keyword_list),
                "Privacy": ("privacy", str),
                "SortMethod": ("sort_method", str),
                "SortDirection": ("sort_direction", str),
                "SecurityType": ("security_type", str),
                "Password": ("password", str),
                "PasswordHint": ("password_hint", str),
            },
        )
        self.touch(node)
        if node.album_key:
            self.albums[node.album_key].last_updated = node.date_modified
        return node

    @staticmethod
    def check_album_fields(fields: dict[str, Any]) -> dict[str, Any]:
        """The album's own fields (`SortMethod`, `SortDirection`) checked, with a `SortMethod`
        alias replaced by the option it names; 400 for a bad value."""
        if "SortMethod" in fields:
            method = str(fields["SortMethod"])
            method = ALBUM_SORT_ALIASES.get(method, method)
            if method not in ALBUM_SORT_METHODS:
                raise ServiceError(400, "Invalid SortMethod")
            fields = {**fields, "SortMethod": method}
        if "SortDirection" in fields and fields["SortDirection"] not in SORT_DIRECTIONS:
            raise ServiceError(400, "Invalid SortDirection")
        return fields

    def update_album(self, album: Album, fields: dict[str, Any]) -> Album:
        """PATCH of an album: node fields go to its node, album fields stay here."""
        node = self.album_node(album)
        fields = self.check_album_fields(fields)
        node_fields = {
            k: v
            for k, v in fields.items()
            if k in ("Name", "UrlName", "Description", "Privacy", "AutoRename", "SecurityType")
        }
        if "Keywords" in fields:
            node_fields["Keywords"] = keyword_list(fields["Keywords"])
        if node_fields:
            self.update_node(node, node_fields)
        self._apply(
            album,
            fields,
            {
                "SortMethod": ("sort_method", str),
                "SortDirection": ("sort_direction", str),
                "AllowDownloads": ("allow_downloads", truthy),
            },
        )
        # `Date` and other fields the service ignores are accepted without effect.
        album.last_updated = naming.iso(naming.now())
        self.touch(node, album.last_updated)
        return album

    def delete_node(self, node: Node) -> None:
        """DELETE of a node: a folder goes with its whole subtree, an album with its images."""
        if node.parent_id is None:
            raise ServiceError(400, "The root node cannot be deleted")
        parent = self.nodes[node.parent_id]
        for descendant in self._subtree(node):
            if descendant.album_key:
                album = self.albums.pop(descendant.album_key)
                for key in list(album.image_keys):
                    image = self.images.get(key)
                    if image and image.album_key == album.album_key:
                        self._delete_image(image)
            del self.nodes[descendant.node_id]
        parent.children.remove(node.node_id)
        self.touch(parent)

    def _subtree(self, node: Node) -> list[Node]:
        out = [node]
        for child in node.children:
            out.extend(self._subtree(self.nodes[child]))
        return out

    def move_nodes(self, target: Node, nodes: list[Node]) -> list[Node]:
        """`!movenodes`: move nodes into the folder `target`, all or nothing."""
        if target.type != FOLDER:
            raise ServiceError(400, "Nodes can only be moved into a folder")
        incoming = {n.url_name.lower() for n in nodes}
        if len(incoming) != len(nodes):
            raise ServiceError(409, "Two of the nodes have the same UrlName")
        for node in nodes:
            if node.parent_id is None:
                raise ServiceError(400, "The root node cannot be moved")
            if node.owner != target.owner:
                raise ServiceError(400, "Nodes can only be moved within one account")
            if node is target or node in self.ancestors(target):
                raise ServiceError(400, "A folder cannot be moved into itself")
            if node.parent_id != target.node_id:
                self._check_url_name_free(target, node.url_name, node.node_id)
            height = self.subtree_folder_height(node)
            if height and self.folder_depth(target) + height > MAX_FOLDER_DEPTH:
                raise ServiceError(
                    400, f"Folders can only be nested {MAX_FOLDER_DEPTH} levels deep"
                )
        stamp = naming.iso(naming.now())
        for node in nodes:
            if node.parent_id == target.node_id:
                continue
            old_parent = self.nodes[node.parent_id or ""]
            old_parent.children.remove(node.node_id)
            self.touch(old_parent, stamp)
            node.parent_id = target.node_id
            node.sort_index = self._next_sort_index(target)
            target.children.append(node.node_id)
            self.touch(node, stamp)
        return nodes

    @staticmethod
    def _apply(record: Any, fields: dict[str, Any], mapping: dict[str, Any]) -> None:
        for wire_name, (attr, convert) in mapping.items():
            if wire_name in fields:
                setattr(record, attr, convert(fields[wire_name]))

    def _delete_image(self, image: Image) -> None:
        """Delete an image with every collected copy (`AlbumImages` does it)."""
        raise NotImplementedError
