"""The mount's metadata on disk: one SQLite database per account in the cache directory.

It holds what each directory held when it was last fetched, with the validator that tells
whether the service has changed it since (`listings`, `children`), the inode each remote
identity was given (`inodes`, so a remounted tree keeps its inode numbers), the changes this
mount made that the service's listings do not show yet (`own`), and what the mount keeps for
a photo version that the service has no field for (`kept`: a tool-set modification time,
attributes), keyed by `RemoteImage.version` so a replaced photo loses it.

    metadata/<Settings.account_key>.sqlite      mode 0600, WAL journal

The database is a cache of the service: a file that is not a database, is damaged, was written
for another account or by another version of its schema that cannot be migrated is moved aside
(`*.damaged-<time>`) and a new one is built from the service, never an error. A database not
closed cleanly (the mount was killed) is checked before use. One mount at a time owns an
account's database (an advisory lock beside it); a second mount of the same account gets a
database of its own, removed when it ends.

Each change is one transaction (`Writer`, a thread of its own, in submission order), so a
change writes only what changed, a crash loses at most the last moments' freshness and never
leaves a half-written listing. Reads are point reads on the caller's thread (WAL readers never
wait for the writer) or whole listings in a worker thread (`read`). The `inodes` rows of
identities that fetched listings no longer show are pruned a batch at a time, once nothing
lists them and the kernel does not hold them.

The parts: the file's schema, checks and migrations (`db_schema.py`), the connections, the
writer and the records (`db_base.py`), and each table's reads and writes (`db_rows.py`).

Saved listings from before the database (`listings/<account>.json`, see `legacy.py`)
are migrated into it on first open and their file removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from pathlib import Path

from smugfs.listings import legacy
from smugfs.listings.db_base import OwnRecord, Validator, Writer, decode, encode
from smugfs.listings.db_rows import KeptRows, ListingRows, OwnRows
from smugfs.listings.db_schema import MIGRATIONS, SCHEMA_VERSION, Unusable, lock, prepare, remove

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Database",
    "OwnRecord",
    "Unusable",
    "Validator",
    "Writer",
    "database_path",
    "decode",
    "encode",
]

log = logging.getLogger(__name__)


def database_path(cache_dir: Path, key: str) -> Path:
    """The database of the account named by `key` (`Settings.account_key`)."""
    return cache_dir / "metadata" / f"{key}.sqlite"


class Database(ListingRows, OwnRows, KeptRows):
    """An open metadata database of one account."""

    def __init__(self, path: Path, lock: int, *, spare: bool) -> None:
        super().__init__(path)
        self._lock = lock
        # A second mount's own database, removed when it ends.
        self.spare = spare
        self.start_inodes()

    @classmethod
    def open(cls, cache_dir: Path, key: str) -> Database:
        """Open (or make) the account's database, setting aside one that cannot be used, and
        migrate saved listings of the earlier format into it. Blocking."""
        directory = cache_dir / "metadata"
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = database_path(cache_dir, key)
        spare = False
        held = lock(path)
        if held is None:
            # Another mount of this account owns it: one of our own beside it.
            path = path.with_name(f"{key}.{os.getpid()}.sqlite")
            remove(path)
            held = lock(path)
            spare = True
            assert held is not None
        try:
            prepare(path, key)
        except (Unusable, sqlite3.DatabaseError) as exc:
            aside = path.with_name(f"{path.name}.damaged-{int(time.time())}")
            log.warning("setting the metadata database %s aside (%s): rebuilding it", path, exc)
            with contextlib.suppress(OSError):
                os.replace(path, aside)
            remove(path)
            prepare(path, key)
        database = cls(path, held, spare=spare)
        if not spare:
            database._migrate_json(legacy.store_path(cache_dir, key))
        return database

    def close(self) -> None:
        """Finish the writes, mark the database closed cleanly and release it. Blocking."""
        self.close_connections()
        if self.spare:
            remove(self.path)
            with contextlib.suppress(FileNotFoundError):
                self.path.with_name(self.path.name + ".lock").unlink()
        os.close(self._lock)

    def _migrate_json(self, old: Path) -> None:
        """Bring saved listings of the earlier format (one JSON file) into the database, once,
        then remove that file. Blocking, before the mount serves anything."""
        if not old.exists():
            return
        root, saved_listings = legacy.load(old)
        if root is not None and self.root() is None:
            self.set_root(root)

            def job(connection: sqlite3.Connection) -> None:
                for identity, saved in saved_listings.items():
                    directory = self._bind_identity(connection, identity)
                    validator = Validator(saved.validator, saved.stamp, saved.fetched)
                    self.save_listing(directory, saved.children, validator)(connection)

            self.writer.submit(job)
            self.writer.flush_blocking()
            log.info("moved %d saved listings from %s into %s", len(saved_listings), old, self.path)
        with contextlib.suppress(OSError):
            old.unlink()
