"""What the emulated store holds: its record tables and the media bytes beside them.

`Tables` is the ground the store's parts stand on (`Accounts`, `NodeTree`, `AlbumImages`,
`Store`): the records of `model.py` by key, the key maker, the listing delay's memory, and the
blob directory where media bytes are kept by their MD5. The small tables are dicts; images are
an `ImageTable`, read from the state file as they are asked for.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

from smugfs.emulator.image_table import ImageTable
from smugfs.emulator.keys import KeyMaker
from smugfs.emulator.model import (
    Album,
    AlbumTemplate,
    ApiKey,
    Image,
    Node,
    Token,
    User,
)
from smugfs.emulator.state_file import KeptRecords, StateFile


@dataclasses.dataclass
class Tombstone:
    """An image deleted from an album that the album's listing still shows for a while."""

    image: Image
    album_key: str
    until: float


class Tables(KeyMaker):
    """All users' records by key, kept in `data_dir` with their media bytes."""

    def __init__(self, data_dir: Path, state: StateFile, seed: int | None = None) -> None:
        super().__init__(seed)
        self.data_dir = data_dir
        self.state = state
        # What the state file holds of each small table (see `Store.save`).
        self._kept: dict[str, KeptRecords] = {}
        self.blob_dir = data_dir / "blobs"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.users: dict[str, User] = {}
        self.nodes: dict[str, Node] = {}
        self.albums: dict[str, Album] = {}
        self.images = ImageTable(state)
        self.api_keys: dict[str, ApiKey] = {}
        self.tokens: dict[str, Token] = {}
        self.album_templates: dict[str, AlbumTemplate] = {}
        self.generation = 0
        self.dirty = False
        # Eventual consistency, kept in memory only: when each new image may first be listed,
        # and deleted images that listings still show.
        self.listing_delay = 0.0
        self.visible_at: dict[str, float] = {}
        self.tombstones: list[Tombstone] = []

    def image_count(self, nick: str) -> int:
        """How many images `nick` owns (counted in the state file, not read)."""
        owners = {key: self.nodes[album.node_id].owner for key, album in self.albums.items()}
        counts = self.images.count_by_album()
        return sum(n for key, n in counts.items() if owners.get(key) == nick)

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
