"""The emulated service's state and every change the API can make to it.

`Store` holds the records of `model.py`, keeps the rules the real service keeps (sibling UrlNames
are unique, folders nest at most five deep, deleting a folder deletes its subtree, deleting an
image deletes its collected copies, `DateModified` climbs to the root), stores media bytes by
their MD5 in a data directory, and persists itself there as JSON. It knows nothing of HTTP:
refusals are `ServiceError`s (an HTTP status and message) or `UploadRefused` (an upload fault
code), which the API layer turns into the wire format.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import random
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from smugfs.emulator import image_fields, media_kinds, naming
from smugfs.emulator.image_fields import DESCRIPTION_MAX
from smugfs.emulator.model import (
    ALBUM,
    FOLDER,
    PAGE,
    Album,
    AlbumTemplate,
    ApiKey,
    Image,
    Node,
    Token,
    User,
    from_plain,
    to_plain,
)

log = logging.getLogger(__name__)

MAX_FOLDER_DEPTH = 5
ALBUM_CAPACITY = 5000
MAX_PHOTO_BYTES = 500 * 1024 * 1024
MAX_VIDEO_BYTES = 3 * 1024 * 1024 * 1024
NODE_TYPES = (FOLDER, ALBUM, PAGE)
PRIVACY_VALUES = ("Public", "Unlisted", "Private")
SECURITY_TYPES = ("None", "Password", "GrantAccess")
NODE_SORT_METHODS = ("SortIndex", "Name", "DateAdded", "DateModified")
SORT_DIRECTIONS = ("Ascending", "Descending")
ALBUM_SORT_METHODS = (
    "Position",
    "Caption",
    "Filename",
    "Date Uploaded",
    "Date Modified",
    "Date Taken",
)
# Image field names the service also takes as an album SortMethod, stored as the option they
# name: `FileName` is echoed back as `Filename`, and smugcli's `DateTimeOriginal` (sent after
# every album it creates, against the real service) is accepted as `Date Taken`.
ALBUM_SORT_ALIASES = {"FileName": "Filename", "DateTimeOriginal": "Date Taken"}
STATE_FILE = "state.json"


class ServiceError(Exception):
    """A refusal the API answers with an HTTP status (400, 404, 409...) and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class UploadRefused(Exception):
    """A refusal the upload endpoint answers with `"stat":"fail"` and a numeric code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# Upload fault codes. 5, 6, 63, 64 and 72 were seen on the real service; the others are this
# emulator's choices for failures whose real code is not known (docs/emulator.md lists them).
UPLOAD_SYSTEM_ERROR = 5
UPLOAD_EMPTY = 7
UPLOAD_INVALID_ALBUM = 9
UPLOAD_BAD_MD5 = 12
UPLOAD_TOO_LARGE = 14
UPLOAD_ALBUM_FULL = 63
UPLOAD_UNKNOWN_TYPE = 64
UPLOAD_VIDEO_TOO_SMALL = 72


@dataclasses.dataclass
class Tombstone:
    """An image deleted from an album that the album's listing still shows for a while."""

    image: Image
    album_key: str
    until: float


class Store:
    """All users' libraries, their media, API keys and tokens, kept in `data_dir`."""

    def __init__(self, data_dir: Path, seed: int | None = None) -> None:
        self.data_dir = data_dir
        self.blob_dir = data_dir / "blobs"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.seed = seed
        self.users: dict[str, User] = {}
        self.nodes: dict[str, Node] = {}
        self.albums: dict[str, Album] = {}
        self.images: dict[str, Image] = {}
        self.api_keys: dict[str, ApiKey] = {}
        self.tokens: dict[str, Token] = {}
        self.album_templates: dict[str, AlbumTemplate] = {}
        # Object keys come from `_rng`; credentials (`new_credential`, `new_secret`,
        # `new_digits`) from the OS's secure source unless a seed asks for a reproducible run.
        self._rng = random.Random(seed)
        self.generation = 0
        self.dirty = False
        # Eventual consistency, kept in memory only: when each new image may first be listed,
        # and deleted images that listings still show.
        self.listing_delay = 0.0
        self.visible_at: dict[str, float] = {}
        self.tombstones: list[Tombstone] = []

    # ----------------------------------------------------------------- persistence

    @classmethod
    def open(cls, data_dir: Path, seed: int | None = None) -> Store:
        """The store kept in `data_dir`, or a new empty one there."""
        store = cls(data_dir, seed)
        state_path = data_dir / STATE_FILE
        if state_path.exists():
            store._load(json.loads(state_path.read_text(encoding="utf-8")))
        return store

    def _load(self, state: dict[str, Any]) -> None:
        self.users = {u["nick"]: from_plain(User, u) for u in state.get("users", [])}
        self.nodes = {n["node_id"]: from_plain(Node, n) for n in state.get("nodes", [])}
        self.albums = {a["album_key"]: from_plain(Album, a) for a in state.get("albums", [])}
        self.images = {i["image_key"]: from_plain(Image, i) for i in state.get("images", [])}
        self.api_keys = {k["key"]: from_plain(ApiKey, k) for k in state.get("api_keys", [])}
        self.tokens = {t["token"]: from_plain(Token, t) for t in state.get("tokens", [])}
        self.album_templates = {
            t["key"]: from_plain(AlbumTemplate, t) for t in state.get("album_templates", [])
        }
        # Keys made after a restart must not repeat the ones made before it, not even those
        # of deleted objects (a client may still remember them): each start of a data
        # directory is a new generation with its own key sequence.
        self.generation = int(state.get("generation", 0)) + 1
        self.dirty = True
        if self.seed is not None:
            self._rng = random.Random(
                f"{self.seed}/{self.generation}/{len(self.nodes)}/{len(self.images)}"
            )

    def save(self) -> None:
        """Write the state file atomically (a crash leaves the old or the new one)."""
        state = {
            "users": [to_plain(u) for u in self.users.values()],
            "nodes": [to_plain(n) for n in self.nodes.values()],
            "albums": [to_plain(a) for a in self.albums.values()],
            "images": [to_plain(i) for i in self.images.values()],
            "api_keys": [to_plain(k) for k in self.api_keys.values()],
            "tokens": [to_plain(t) for t in self.tokens.values() if t.kind == "access"],
            "album_templates": [to_plain(t) for t in self.album_templates.values()],
            "generation": self.generation,
        }
        tmp = self.data_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, self.data_dir / STATE_FILE)
        self.dirty = False

    # ----------------------------------------------------------------- blobs

    def put_blob(self, data: bytes, md5: str | None = None) -> tuple[str, int]:
        """Store media bytes (`md5`: their MD5 if the caller has it); returns their MD5 (the
        blob's name) and size."""
        md5 = md5 or hashlib.md5(data).hexdigest()
        path = self.blob_dir / md5
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return md5, len(data)

    def blob_path(self, blob: str) -> Path:
        """Where a blob's bytes are."""
        return self.blob_dir / blob

    # ----------------------------------------------------------------- keys

    @property
    def reproducible(self) -> bool:
        """Whether a seed was given: then credentials repeat from run to run, for tests."""
        return self.seed is not None

    def new_key(self, length: int, taken: dict[str, Any]) -> str:
        """A fresh object key of `length` characters not in `taken`."""
        while True:
            key = naming.make_key(self._rng, length)
            if key not in taken:
                return key

    def new_credential(self, length: int, taken: dict[str, Any]) -> str:
        """A fresh API key or token of `length` characters not in `taken`: unpredictable
        (the `secrets` module) unless the run is reproducible."""
        while True:
            if self.reproducible:
                key = naming.make_key(self._rng, length)
            else:
                key = "".join(secrets.choice(naming.KEY_ALPHABET) for _ in range(length))
            if key not in taken:
                return key

    def _draw(self, alphabet: str, count: int) -> str:
        if self.reproducible:
            return "".join(self._rng.choice(alphabet) for _ in range(count))
        return "".join(secrets.choice(alphabet) for _ in range(count))

    def new_digits(self, count: int) -> str:
        """A string of `count` decimal digits (OAuth verifiers, the PIN a user types in)."""
        return self._draw("0123456789", count)

    def new_secret(self) -> str:
        """A secret for an API key or token (hex, 32 characters)."""
        return self._draw("0123456789abcdef", 32)

    # ----------------------------------------------------------------- users, keys, tokens

    def create_user(self, nick: str, name: str, *, password: str = "") -> User:
        """A new account with an empty root folder."""
        if nick in self.users:
            raise ServiceError(409, f"User {nick} exists")
        stamp = naming.iso(naming.now())
        root = Node(
            node_id=self.new_key(naming.NODE_ID_LENGTH, self.nodes),
            type=FOLDER,
            name="",
            url_name="",
            owner=nick,
            parent_id=None,
            date_added=stamp,
            date_modified=stamp,
            privacy="Public",
        )
        self.nodes[root.node_id] = root
        first, _, last = name.partition(" ")
        user = User(nick, name, root.node_id, first, last, password)
        self.users[nick] = user
        self.dirty = True
        return user

    def create_api_key(self, name: str = "smugfs") -> ApiKey:
        """A newly registered application key."""
        key = ApiKey(self.new_credential(32, self.api_keys), self.new_secret(), name)
        self.api_keys[key.key] = key
        self.dirty = True
        return key

    def create_access_token(
        self, api_key: str, nick: str, *, access: str = "Full", permissions: str = "Modify"
    ) -> Token:
        """An access token for `nick` through application `api_key`."""
        token = Token(
            token=self.new_credential(32, self.tokens),
            secret=self.new_secret(),
            api_key=api_key,
            kind="access",
            nick=nick,
            access=access,
            permissions=permissions,
            created=time.time(),
        )
        self.tokens[token.token] = token
        self.dirty = True
        return token

    def create_album_template(self, owner: str, name: str, **settings: Any) -> AlbumTemplate:
        """A new album template of `owner` (`settings`: the fields of `AlbumTemplate`)."""
        template = AlbumTemplate(
            self.new_key(naming.ALBUM_KEY_LENGTH, self.album_templates), owner, name, **settings
        )
        self.album_templates[template.key] = template
        self.dirty = True
        return template

    # ----------------------------------------------------------------- tree queries

    def node(self, node_id: str) -> Node:
        """The node, or 404."""
        node = self.nodes.get(node_id)
        if node is None:
            raise ServiceError(404, "Not Found")
        return node

    def album(self, album_key: str) -> Album:
        """The album, or 404."""
        album = self.albums.get(album_key)
        if album is None:
            raise ServiceError(404, "Not Found")
        return album

    def image(self, image_key: str) -> Image:
        """The image, or 404."""
        image = self.images.get(image_key)
        if image is None:
            raise ServiceError(404, "Not Found")
        return image

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

    def listed_images(self, album: Album) -> list[Image]:
        """The images an `!images` listing shows now, in the album's order.

        With a listing delay set, new images appear only once it has passed and deleted ones
        linger until it has, as on the real service.
        """
        clock = time.monotonic()
        shown = [self.images[k] for k in album.image_keys if self.visible_at.get(k, 0.0) <= clock]
        self.tombstones = [t for t in self.tombstones if t.until > clock]
        shown.extend(t.image for t in self.tombstones if t.album_key == album.album_key)
        keys: dict[str, Any] = {
            "Caption": lambda i: i.caption.lower(),
            "Filename": lambda i: i.file_name.lower(),
            "Date Uploaded": lambda i: i.date_uploaded,
            "Date Modified": lambda i: i.last_updated,
            "Date Taken": lambda i: i.date_time_original or i.date_uploaded,
        }
        if album.sort_method in keys:
            shown.sort(key=keys[album.sort_method])
        if album.sort_direction == "Descending":
            shown.reverse()
        return shown

    # ----------------------------------------------------------------- tree changes

    def touch(self, node: Node, stamp: str | None = None) -> None:
        """Record a change at `node`: its DateModified and every ancestor's move on."""
        stamp = stamp or naming.iso(naming.now())
        for n in [node, *self.ancestors(node)]:
            n.date_modified = stamp
        self.dirty = True

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
        if len(description) > DESCRIPTION_MAX:
            raise ServiceError(400, f"Description must be at most {DESCRIPTION_MAX} characters")
        if type_ not in NODE_TYPES:
            raise ServiceError(400, f"Type must be one of {', '.join(NODE_TYPES)}")
        name = name.strip()
        if not name or len(name) > naming.NAME_MAX:
            raise ServiceError(400, "Name must be 1 to 254 characters")
        if privacy not in PRIVACY_VALUES:
            raise ServiceError(400, f"Privacy must be one of {', '.join(PRIVACY_VALUES)}")
        if security_type not in SECURITY_TYPES:
            raise ServiceError(400, "Invalid SecurityType")
        if sort_method not in NODE_SORT_METHODS or sort_direction not in SORT_DIRECTIONS:
            raise ServiceError(400, "Invalid SortMethod or SortDirection")
        if type_ == FOLDER and self.folder_depth(parent) + 1 > MAX_FOLDER_DEPTH:
            raise ServiceError(400, f"Folders can only be nested {MAX_FOLDER_DEPTH} levels deep")
        if url_name is None or url_name == "":
            url_name = naming.derive_url_name(name)
        elif not naming.valid_supplied_url_name(url_name):
            raise ServiceError(
                400, "UrlName must start with a capital letter and hold letters, digits and -"
            )
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
            sort_index=1 + max((self.nodes[c].sort_index for c in parent.children), default=0),
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
            name = str(fields["Name"]).strip()
            if not name or len(name) > naming.NAME_MAX:
                raise ServiceError(400, "Name must be 1 to 254 characters")
        if "UrlName" in fields:
            url_name = str(fields["UrlName"])
            if parent is None or not naming.valid_supplied_url_name(url_name):
                raise ServiceError(
                    400, "UrlName must start with a capital letter and hold letters, digits and -"
                )
            taken = {u.lower() for u in self._sibling_url_names(parent, node.node_id)}
            if url_name.lower() in taken:
                if truthy(fields.get("AutoRename")):
                    # The real service answers 200 and changes nothing in this case.
                    fields = {k: v for k, v in fields.items() if k != "UrlName"}
                else:
                    raise ServiceError(409, f"A node with the UrlName {url_name} already exists")
        if "Description" in fields and len(str(fields["Description"])) > DESCRIPTION_MAX:
            raise ServiceError(400, f"Description must be at most {DESCRIPTION_MAX} characters")
        if "Privacy" in fields and fields["Privacy"] not in PRIVACY_VALUES:
            raise ServiceError(400, f"Privacy must be one of {', '.join(PRIVACY_VALUES)}")
        if "SortMethod" in fields and fields["SortMethod"] not in NODE_SORT_METHODS:
            raise ServiceError(400, "Invalid SortMethod")
        if "SortDirection" in fields and fields["SortDirection"] not in SORT_DIRECTIONS:
            raise ServiceError(400, "Invalid SortDirection")
        if "SecurityType" in fields and fields["SecurityType"] not in SECURITY_TYPES:
            raise ServiceError(400, "Invalid SecurityType")
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
            node.sort_index = 1 + max(
                (self.nodes[c].sort_index for c in target.children), default=0
            )
            target.children.append(node.node_id)
            self.touch(node, stamp)
        return nodes

    @staticmethod
    def _apply(record: Any, fields: dict[str, Any], mapping: dict[str, Any]) -> None:
        for wire_name, (attr, convert) in mapping.items():
            if wire_name in fields:
                setattr(record, attr, convert(fields[wire_name]))

    # ----------------------------------------------------------------- images

    def add_image(
        self,
        album: Album,
        data: bytes,
        *,
        file_name: str,
        md5: str | None = None,
        replace: Image | None = None,
        title: str | None = None,
        caption: str | None = None,
        keywords: list[str] | None = None,
        hidden: bool | None = None,
        latitude: float | None = None,
        longitude: float | None = None,
        altitude: int | None = None,
        stamp: str | None = None,
        name_keywords: bool = False,
    ) -> Image:
        """Store an upload in `album`, or replace `replace` in place; refusals are faults.
        `md5` is the body's MD5 (hex) when the caller has computed it already. With
        `name_keywords`, a new image given no keywords gets keywords from its file name."""
        if not data:
            raise UploadRefused(UPLOAD_EMPTY, "empty file")
        fmt = media_kinds.sniff_format(data)
        refusal = media_kinds.refusal(fmt)
        if refusal is not None or fmt is None:
            code, message = refusal or (UPLOAD_UNKNOWN_TYPE, "unknown file type")
            raise UploadRefused(code, message)
        is_video = media_kinds.is_video(fmt)
        limit = MAX_VIDEO_BYTES if is_video else MAX_PHOTO_BYTES
        if len(data) > limit:
            raise UploadRefused(UPLOAD_TOO_LARGE, "file too large")
        if replace is None and len(album.image_keys) >= ALBUM_CAPACITY:
            raise UploadRefused(UPLOAD_ALBUM_FULL, "album full")
        taken = media_kinds.exif_datetime_original(data) if not is_video else None
        if fmt == "HEIC":
            # The service keeps HEIC photos only as JPEG, renamed NAME.JPG.
            data = media_kinds.heic_to_jpeg(data)
            md5 = None
            fmt = "JPG"
            file_name = os.path.splitext(file_name)[0] + ".JPG"
        width, height = media_kinds.image_dimensions(data)
        blob, size = self.put_blob(data, md5)
        video_blob, video_size, video_md5 = None, 0, ""
        if is_video:
            # Videos are re-encoded: what can be downloaded is a different MP4.
            video_blob, video_size = self.put_blob(media_kinds.video_rendition(data))
            video_md5 = video_blob
            fmt = "MP4"
        stamp = stamp or naming.iso(naming.now())
        original = None
        if taken:
            date, _, clock = taken.partition(" ")
            # The service reads EXIF local time as if it were UTC.
            original = f"{date.replace(':', '-')}T{clock}+00:00"
        exif = media_kinds.video_summary(data) if is_video else media_kinds.exif_summary(data)
        if replace is not None:
            image = replace
            image.serial += 1
            image.blob, image.size, image.md5 = blob, size, blob
            image.format, image.is_video = fmt, is_video
            image.width, image.height = width, height
            image.video_blob, image.video_size, image.video_md5 = video_blob, video_size, video_md5
            image.last_updated = stamp
            image.date_time_original = original or image.date_time_original
            image.exif = exif
        else:
            image = Image(
                image_key=self.new_key(naming.IMAGE_KEY_LENGTH, self.images),
                album_key=album.album_key,
                serial=0,
                file_name=file_name,
                format=fmt,
                is_video=is_video,
                blob=blob,
                size=size,
                md5=blob,
                width=width,
                height=height,
                date_uploaded=stamp,
                last_updated=stamp,
                upload_key=self.new_digits(10),
                date_time_original=original,
                video_blob=video_blob,
                video_size=video_size,
                video_md5=video_md5,
                exif=exif,
            )
            self.images[image.image_key] = image
            album.image_keys.append(image.image_key)
            if keywords is None and name_keywords:
                keywords = image_fields.keywords_from_file_name(image.file_name)
            if self.listing_delay > 0:
                self.visible_at[image.image_key] = time.monotonic() + self.listing_delay
        if title is not None:
            image.title = title
        if caption is not None:
            image.caption = caption
        if keywords is not None:
            image.keywords = keywords
        if hidden is not None:
            image.hidden = hidden
        if latitude is not None:
            image.latitude = latitude
        if longitude is not None:
            image.longitude = longitude
        if altitude is not None:
            image.altitude = altitude
        self._touch_album(self.albums[image.album_key], stamp)
        return image

    def update_image(self, image: Image, fields: dict[str, Any]) -> Image:
        """PATCH of an image (see `image_fields`): every value is checked before any is
        applied, so a bad one is 400 and changes nothing. `FileName` is accepted and ignored,
        as on the real service."""
        try:
            values = image_fields.patch_values(fields)
        except image_fields.BadField as exc:
            raise ServiceError(400, str(exc)) from None
        for attr, value in values.items():
            setattr(image, attr, value)
        image.last_updated = naming.iso(naming.now())
        self._touch_album(self.albums[image.album_key], image.last_updated)
        return image

    def remove_from_album(self, album: Album, image: Image) -> None:
        """DELETE of an album image: the image itself when this is its own album (with every
        collected copy), only the collected copy otherwise."""
        if image.image_key not in album.image_keys:
            raise ServiceError(404, "Not Found")
        if image.album_key == album.album_key:
            self._delete_image(image)
        else:
            album.image_keys.remove(image.image_key)
            self._linger(image, album)
            self._touch_album(album)

    def delete_image(self, image: Image) -> None:
        """DELETE of an image: gone from its album and every album it was collected into."""
        self._delete_image(image)

    def _delete_image(self, image: Image) -> None:
        for album in self.albums.values():
            if image.image_key in album.image_keys:
                album.image_keys.remove(image.image_key)
                self._linger(image, album)
                self._touch_album(album)
        self.images.pop(image.image_key, None)
        self.visible_at.pop(image.image_key, None)
        self.dirty = True

    def _linger(self, image: Image, album: Album) -> None:
        if self.listing_delay > 0:
            until = time.monotonic() + self.listing_delay
            self.tombstones.append(Tombstone(dataclasses.replace(image), album.album_key, until))

    def move_images(self, target: Album, images: list[tuple[Album, Image]]) -> list[Image]:
        """`!moveimages`: the images leave their albums for `target`, all or nothing."""
        stamp = naming.iso(naming.now())
        for source, image in images:
            if source is target:
                continue
            source.image_keys.remove(image.image_key)
            if image.image_key not in target.image_keys:
                target.image_keys.append(image.image_key)
            if image.album_key == source.album_key:
                image.album_key = target.album_key
            image.last_updated = stamp
            self._touch_album(source, stamp)
        self._touch_album(target, stamp)
        return [image for _, image in images]

    def collect_images(self, target: Album, images: list[Image]) -> list[Image]:
        """`!collectimages`: the images also appear in `target` (a no-op where they already do)."""
        for image in images:
            if image.image_key not in target.image_keys:
                target.image_keys.append(image.image_key)
        self._touch_album(target)
        return images

    def _touch_album(self, album: Album, stamp: str | None = None) -> None:
        stamp = stamp or naming.iso(naming.now())
        album.last_updated = stamp
        album.images_last_updated = stamp
        self.touch(self.album_node(album), stamp)


def truthy(value: Any) -> bool:
    """A boolean parameter as clients send it: a JSON bool, or "1"/"true"/"yes"/"on"."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def keyword_list(value: Any) -> list[str]:
    """Keywords as clients send them: an array, or one `;`- or `,`-separated string."""
    parts = value if isinstance(value, list) else str(value).replace(",", ";").split(";")
    return [str(part).strip() for part in parts if str(part).strip()]
