"""The metadata database's file: its schema, the checks a file passes before a mount uses it,
the steps that migrate an earlier schema, and the lock that gives one mount an account's file.

A file fails the checks (`Unusable`, or `sqlite3.DatabaseError` from SQLite itself) when it is
not a database, was cut short or damaged, was written for another account, with other record
fields or by a schema version it cannot be migrated from; `database.py` then sets it aside.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from smugfs.api.models import RemoteImage, RemoteNode
from smugfs.locks import try_exclusive_lock

FORMAT = "smugfs-metadata"
SCHEMA_VERSION = 2
_NODE_FIELDS = [f.name for f in dataclasses.fields(RemoteNode)]
_IMAGE_FIELDS = [f.name for f in dataclasses.fields(RemoteImage)]
FIELDS = json.dumps([_NODE_FIELDS, _IMAGE_FIELDS])

# Inodes whose identity a fetched listing no longer shows: their `inodes` rows are removed
# once nothing lists them and the kernel does not hold them (`InodeRows.prune`).
_GONE = "CREATE TABLE gone(inode INTEGER PRIMARY KEY)"

_SCHEMA = f"""
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE inodes(inode INTEGER PRIMARY KEY, identity TEXT NOT NULL UNIQUE);
CREATE TABLE listings(
    dir INTEGER PRIMARY KEY, validator TEXT NOT NULL, stamp REAL NOT NULL, fetched REAL NOT NULL
);
CREATE TABLE children(
    dir INTEGER NOT NULL, inode INTEGER NOT NULL, pos INTEGER NOT NULL, name TEXT NOT NULL,
    record TEXT NOT NULL, PRIMARY KEY (dir, inode)
) WITHOUT ROWID;
CREATE INDEX children_by_inode ON children(inode);
CREATE TABLE own(
    dir INTEGER NOT NULL, identity TEXT NOT NULL, added INTEGER NOT NULL, until REAL NOT NULL,
    inode INTEGER, name TEXT, record TEXT, PRIMARY KEY (dir, identity)
);
CREATE TABLE kept(version TEXT PRIMARY KEY, mtime_ns INTEGER, attrs TEXT);
{_GONE};
"""

# An inode row nothing refers to: no saved listing shows it or is its, no change of this
# mount's names it, and it is not the root.
UNREFERENCED = """
    inode != 1
    AND NOT EXISTS (SELECT 1 FROM children c WHERE c.inode = inodes.inode)
    AND NOT EXISTS (SELECT 1 FROM listings l WHERE l.dir = inodes.inode)
    AND NOT EXISTS (SELECT 1 FROM own o WHERE o.inode = inodes.inode OR o.dir = inodes.inode)
"""

# Steps from each earlier schema version to the next (`PRAGMA user_version`); a database of a
# version not listed here, or of a later one, is set aside and rebuilt.
MIGRATIONS: dict[int, str] = {
    # Version 1 kept every inode ever given: what no listing shows any more is pruned from
    # now on, starting with what the file holds (no kernel holds anything of it yet).
    1: f"{_GONE}; INSERT INTO gone SELECT inode FROM inodes WHERE {UNREFERENCED}",
}


class Unusable(Exception):
    """The file is not a metadata database this mount can use as it is."""


@contextlib.contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, rolled back if the block raises."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def prepare(path: Path, key: str) -> None:
    """Make sure `path` is a usable database of this account and schema (made if missing,
    migrated if older); raises `Unusable` or `sqlite3.DatabaseError` otherwise."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    connection = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    try:
        mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise Unusable(f"journal mode {mode}")
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        tables = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if version == 0 and tables == 0:
            _create(connection, key)
            return
        while version in MIGRATIONS:
            with transaction(connection):
                _run(connection, MIGRATIONS[version])
                version += 1
                connection.execute(f"PRAGMA user_version={version}")
        if version != SCHEMA_VERSION:
            raise Unusable(f"schema version {version}")
        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("format") != FORMAT or meta.get("account") != key:
            raise Unusable("written for another account or by another program")
        if meta.get("fields") != FIELDS:
            raise Unusable("written with other record fields")
        if meta.get("clean") == "1":
            # Closed cleanly (no journal left): a file shorter than its header says was cut.
            _check_length(path)
        else:
            check = connection.execute("PRAGMA quick_check(1)").fetchone()[0]
            if check != "ok":
                raise Unusable(f"damaged: {check}")
        connection.execute("INSERT OR REPLACE INTO meta VALUES ('clean', '0')")
    finally:
        connection.close()


def _run(connection: sqlite3.Connection, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            connection.execute(statement)


def _check_length(path: Path) -> None:
    """A file shorter than its header says (cut off) is damaged."""
    with path.open("rb") as file:
        header = file.read(100)
    if len(header) < 100 or not header.startswith(b"SQLite format 3\0"):
        raise Unusable("not a database")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if path.stat().st_size < pages * page_size:
        raise Unusable("cut short")


def _create(connection: sqlite3.Connection, key: str) -> None:
    with transaction(connection):
        _run(connection, _SCHEMA)
        connection.executemany(
            "INSERT INTO meta VALUES (?,?)",
            [("format", FORMAT), ("account", key), ("fields", FIELDS), ("clean", "0")],
        )
        connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def lock(path: Path) -> int | None:
    """An exclusive advisory lock for a database, or None when another process holds it."""
    return try_exclusive_lock(path.with_name(path.name + ".lock"))


def remove(path: Path) -> None:
    """Remove a database with its journal files."""
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()
