"""The emulated service's state on disk: one SQLite database in the data directory.

Every record of `model.py` is a row holding its field values as a JSON array, in the field
order the file names in its `fields` table, so a file written by another version reads back
by field name (fields it does not know are ignored, missing ones take their defaults). Images,
which may number millions, have a table of their own keyed by image key with the album that
owns them, so the store can read them one at a time (`image_table.py`) instead of holding them
all; the other records are few and are read whole at start.

Opening the file is what a start costs: nothing is parsed until asked for. The state file of
earlier versions, one JSON document (`state.json`), is migrated on first open: its records are
written into a new database, which replaces it whole (a crash leaves the old file or the new
one, never half of each).
"""

from __future__ import annotations

import dataclasses
import json
import operator
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

from smugfs.emulator import model
from smugfs.emulator.model import Image, from_plain

STATE_FILE = "state.sqlite"
LEGACY_STATE_FILE = "state.json"
# PRAGMA user_version of the database this version writes.
FORMAT = 2

Record = TypeVar("Record")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fields (kind TEXT PRIMARY KEY, names TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS images (
    album_key TEXT NOT NULL, image_key TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (album_key, image_key)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS images_by_key ON images (image_key);
"""

# Steps from each earlier format to the next (`PRAGMA user_version`).
_MIGRATIONS = {
    # Format 1 kept images in key order: an album's images were scattered over the file.
    1: """
CREATE TABLE images_clustered (
    album_key TEXT NOT NULL, image_key TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (album_key, image_key)
) WITHOUT ROWID;
INSERT INTO images_clustered SELECT album_key, image_key, data FROM images;
DROP INDEX images_by_album;
DROP TABLE images;
ALTER TABLE images_clustered RENAME TO images;
""",
}


class StateError(Exception):
    """The state file cannot be used by this version (written by a newer one)."""


@dataclasses.dataclass(frozen=True)
class Kind(Generic[Record]):
    """One kind of record: its class, the field that is its key and its table name."""

    name: str
    cls: type[Record]
    key_field: str

    @property
    def names(self) -> tuple[str, ...]:
        """The record's field names in their declared order (the order rows are written in)."""
        return tuple(f.name for f in dataclasses.fields(self.cls))  # type: ignore[arg-type]


USERS = Kind("users", model.User, "nick")
NODES = Kind("nodes", model.Node, "node_id")
ALBUMS = Kind("albums", model.Album, "album_key")
IMAGES = Kind("images", Image, "image_key")
API_KEYS = Kind("api_keys", model.ApiKey, "key")
TOKENS = Kind("tokens", model.Token, "token")
ALBUM_TEMPLATES = Kind("album_templates", model.AlbumTemplate, "key")
# The kinds kept whole in memory, in the order they are read and written.
SMALL_KINDS: tuple[Kind[Any], ...] = (USERS, NODES, ALBUMS, API_KEYS, TOKENS, ALBUM_TEMPLATES)


class Codec(Generic[Record]):
    """Turns records of one kind into rows and back, given the field order a file uses, and
    takes snapshots of records: their field values, with lists and dicts copied (those are
    changed in place), which compare equal to `values` until the record changes."""

    def __init__(self, kind: Kind[Record], stored: tuple[str, ...]) -> None:
        self.kind = kind
        self.stored = stored
        self.values: Callable[[Record], tuple[Any, ...]] = operator.attrgetter(*kind.names)
        self._same = stored == kind.names
        self._encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
        self._decode = json.JSONDecoder().raw_decode
        # Fields holding lists or dicts (their defaults are made by a factory).
        self._containers = [
            n
            for n, f in enumerate(dataclasses.fields(kind.cls))  # type: ignore[arg-type]
            if f.default_factory is not dataclasses.MISSING
        ]

    def encode(self, record: Record) -> str:
        """The row's data: the field values as a JSON array in declared order."""
        return self._encode(self.values(record))

    def decode(self, data: str) -> Record:
        """The record a row holds (by field name when the file's order is not this one's)."""
        return self.decode_with_snapshot(data)[0]

    def decode_with_snapshot(self, data: str) -> tuple[Record, tuple[Any, ...]]:
        """The record a row holds and its snapshot, made from the values decoded."""
        values = self._decode(data)[0]
        if not self._same:
            record = from_plain(self.kind.cls, dict(zip(self.stored, values, strict=False)))
            return record, self.snapshot(record)
        record = self.kind.cls(*values)
        for n in self._containers:
            values[n] = type(values[n])(values[n])
        return record, tuple(values)

    def snapshot(self, record: Record) -> tuple[Any, ...]:
        """The record's field values as they are now, lists and dicts copied."""
        values = self.values(record)
        if not self._containers:
            return values
        copied = list(values)
        for n in self._containers:
            copied[n] = type(copied[n])(copied[n])
        return tuple(copied)


class StateFile:
    """The open state database of one data directory (one connection, used under the
    store's locking: the image table serialises its own use, the rest runs on the loop)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > FORMAT:
            self.db.close()
            raise StateError(f"{path} was written by a newer version (format {version})")
        # Images are read an album at a time: a few MiB of pages kept between reads.
        self.db.execute("PRAGMA cache_size=-8192")
        while 0 < version < FORMAT:
            self.db.executescript(f"BEGIN; {_MIGRATIONS[version]} COMMIT;")
            version += 1
        self.db.executescript(_SCHEMA)
        self.db.execute(f"PRAGMA user_version={FORMAT}")
        stored = dict(self.db.execute("SELECT kind, names FROM fields").fetchall())
        self.codecs: dict[str, Codec[Any]] = {}
        for kind in (*SMALL_KINDS, IMAGES):
            names = tuple(json.loads(stored[kind.name])) if kind.name in stored else kind.names
            self.codecs[kind.name] = Codec(kind, names)
        self._in_transaction = False

    # ----------------------------------------------------------------- transactions

    def begin(self) -> None:
        """Open the write transaction the next `commit` ends, if none is open."""
        if not self._in_transaction:
            self.db.execute("BEGIN")
            self._in_transaction = True

    def commit(self) -> None:
        """End the write transaction: everything written since `begin` is kept, together."""
        if self._in_transaction:
            self.db.execute("COMMIT")
            self._in_transaction = False

    def close(self) -> None:
        """Commit and close (the write-ahead log is folded back into the file)."""
        self.commit()
        self.db.close()

    # ----------------------------------------------------------------- small kinds

    def records(self, kind: Kind[Record]) -> dict[str, Record]:
        """Every record of a small kind, by key."""
        codec: Codec[Record] = self.codecs[kind.name]
        rows = self.db.execute("SELECT key, data FROM records WHERE kind = ?", (kind.name,))
        return {key: codec.decode(data) for key, data in rows}

    def put_records(self, kind: Kind[Any], rows: Iterable[tuple[str, str]]) -> None:
        """Write (key, data) rows of a small kind."""
        self.begin()
        self.db.executemany(
            "INSERT OR REPLACE INTO records (kind, key, data) VALUES (?, ?, ?)",
            ((kind.name, key, data) for key, data in rows),
        )

    def drop_records(self, kind: Kind[Any], keys: Iterable[str]) -> None:
        """Remove rows of a small kind."""
        self.begin()
        self.db.executemany(
            "DELETE FROM records WHERE kind = ? AND key = ?", ((kind.name, k) for k in keys)
        )

    def meta(self, name: str, default: str) -> str:
        """A value of the `meta` table."""
        row = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else default

    def set_meta(self, name: str, value: str) -> None:
        """Set a value of the `meta` table."""
        self.begin()
        self.db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))

    def write_field_order(self) -> None:
        """Record this version's field order: rows written from now on use it. Called only
        when every row is (re)written in it, i.e. on a new or migrated file."""
        self.begin()
        self.db.executemany(
            "INSERT OR REPLACE INTO fields (kind, names) VALUES (?, ?)",
            ((k.name, json.dumps(list(k.names))) for k in (*SMALL_KINDS, IMAGES)),
        )
        for kind in (*SMALL_KINDS, IMAGES):
            self.codecs[kind.name] = Codec(kind, kind.names)

    # ----------------------------------------------------------------- images

    def image_data(self, key: str) -> str | None:
        """The stored row of one image, if there is one."""
        row = self.db.execute("SELECT data FROM images WHERE image_key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def album_image_rows(self, album_key: str) -> list[tuple[str, str]]:
        """(image key, data) of every image `album_key` owns, read as one run of the file."""
        rows = self.db.execute(
            "SELECT image_key, data FROM images WHERE album_key = ?", (album_key,)
        )
        return [(str(key), str(data)) for key, data in rows]

    def put_images(self, rows: Iterable[tuple[str, str, str]]) -> None:
        """Write (image key, album key, data) rows (the key is unique: the row of an image
        that moved to another album is replaced)."""
        self.begin()
        self.db.executemany(
            "INSERT OR REPLACE INTO images (image_key, album_key, data) VALUES (?, ?, ?)", rows
        )

    def drop_images(self, keys: Iterable[str]) -> None:
        """Remove image rows."""
        self.begin()
        self.db.executemany("DELETE FROM images WHERE image_key = ?", ((k,) for k in keys))

    def image_keys(self) -> Iterator[str]:
        """Every stored image key, in key order."""
        for (key,) in self.db.execute("SELECT image_key FROM images ORDER BY image_key"):
            yield str(key)

    def image_sizes(self, album_key: str, position: int) -> dict[str, int]:
        """The stored size (the field at `position`) of each image `album_key` owns."""
        rows = self.db.execute(
            "SELECT image_key, json_extract(data, ?) FROM images WHERE album_key = ?",
            (f"$[{position}]", album_key),
        )
        return {str(key): int(size) for key, size in rows}

    def image_count(self) -> int:
        """How many image rows there are."""
        return int(self.db.execute("SELECT count(*) FROM images").fetchone()[0])

    def images_by_album(self) -> dict[str, int]:
        """How many image rows each album owns."""
        rows = self.db.execute("SELECT album_key, count(*) FROM images GROUP BY album_key")
        return {str(album): int(count) for album, count in rows}


def open_state(data_dir: Path) -> StateFile:
    """The state database of `data_dir`: made new, opened, or migrated from `state.json`."""
    path = data_dir / STATE_FILE
    legacy = data_dir / LEGACY_STATE_FILE
    if path.exists():
        # A migration that ended after the new file was in place but before the old one was
        # removed: the new one is whole (it was renamed into place after its commit).
        legacy.unlink(missing_ok=True)
        return StateFile(path)
    if legacy.exists():
        _migrate(legacy, path)
        return StateFile(path)
    state = StateFile(path)
    state.write_field_order()
    state.commit()
    return state


def _migrate(legacy: Path, path: Path) -> None:
    """Write the records of a `state.json` into a new database at `path`, then remove it."""
    plain = json.loads(legacy.read_text(encoding="utf-8"))
    tmp = path.with_name(path.name + ".migrating")
    for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
        leftover.unlink(missing_ok=True)
    state = StateFile(tmp)
    state.write_field_order()
    for kind in SMALL_KINDS:
        codec: Codec[Any] = state.codecs[kind.name]
        rows = (from_plain(kind.cls, r) for r in plain.get(kind.name, []))
        state.put_records(kind, ((getattr(r, kind.key_field), codec.encode(r)) for r in rows))
    image_codec: Codec[Image] = state.codecs[IMAGES.name]
    images = (from_plain(Image, i) for i in plain.get(IMAGES.name, []))
    state.put_images((i.image_key, i.album_key, image_codec.encode(i)) for i in images)
    state.set_meta("generation", str(int(plain.get("generation", 0))))
    state.close()
    os.replace(tmp, path)
    legacy.unlink()


class KeptRecords:
    """What the state file holds of one small kind, to write only the records that changed.

    Records are changed in place throughout the store, so a change is found by comparing
    each record's field values with a copy of those last written: a comparison of values
    already in memory, far cheaper than encoding every record on every save.
    """

    def __init__(self, kind: Kind[Any], codec: Codec[Any], records: dict[str, Any]) -> None:
        self.kind = kind
        self._codec = codec
        self._kept = {key: codec.snapshot(record) for key, record in records.items()}

    def write(self, state: StateFile, records: dict[str, Any]) -> None:
        """Write the records that differ from what was last written; remove the gone ones."""
        changed = [
            (key, record)
            for key, record in records.items()
            if self._kept.get(key) != self._codec.values(record)
        ]
        if changed:
            state.put_records(self.kind, ((k, self._codec.encode(r)) for k, r in changed))
            for key, record in changed:
                self._kept[key] = self._codec.snapshot(record)
        gone = [key for key in self._kept if key not in records]
        if gone:
            state.drop_records(self.kind, gone)
            for key in gone:
                del self._kept[key]


def copy_state(source: Path, target: Path) -> None:
    """Copy the state of data directory `source` into `target` (a consistent copy, even of a
    database still open elsewhere)."""
    src = sqlite3.connect(source / STATE_FILE)
    dst = sqlite3.connect(target / STATE_FILE)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
