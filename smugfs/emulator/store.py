"""The emulated service's state: every change the API can make to it, and its persistence.

`Store` holds the records of `model.py` (in `tables.py`) and keeps the rules the real service
keeps through its parts: `Accounts` (users, API keys, tokens, album templates), `NodeTree` (the
folder tree: unique sibling UrlNames, five levels of folders, subtrees deleted whole,
`DateModified` climbing to the root) and `AlbumImages` (uploads, image changes, collected copies,
listings). This module adds persistence as JSON in the data directory, and re-exports the
refusals (`refusals.py`) and the service's rules (`rules.py`) the API layer uses. It knows
nothing of HTTP: refusals are `ServiceError`s (an HTTP status and message) or `UploadRefused`
(an upload fault code), which the API layer turns into the wire format.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from smugfs.emulator.accounts import Accounts
from smugfs.emulator.album_images import AlbumImages
from smugfs.emulator.model import (
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
from smugfs.emulator.refusals import *  # noqa: F403 (re-exported for the API layer)
from smugfs.emulator.rules import *  # noqa: F403 (re-exported for the API layer)

STATE_FILE = "state.json"


class Store(AlbumImages, Accounts):
    """All users' libraries, their media, API keys and tokens, kept in `data_dir`."""

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
        self.reseed(self.generation, len(self.nodes), len(self.images))

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
