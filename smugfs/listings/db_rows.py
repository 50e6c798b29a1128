"""The metadata database's tables, each kept by one part: the inode each identity was given
(`InodeRows`, with the pruning of identities no listing shows any more), saved listings and
their validators (`ListingRows`), this mount's changes not yet listed (`OwnRows`) and what is
kept per photo version (`KeptRows`). `Database` (`database.py`) is all of them on one file."""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import Any

from smugfs.api.models import RemoteNode
from smugfs.listings.db_base import Connections, OwnRecord, Validator, decode, encode
from smugfs.listings.db_schema import UNREFERENCED
from smugfs.tree import ROOT_INODE, Child, Placed, is_local, node_identity

# How many rows of identities gone from listings one pruning step looks at.
PRUNE_BATCH = 256


class InodeRows(Connections):
    """The `inodes` table: the inode each remote identity was given, stable across remounts,
    and the removal of rows for identities gone from every listing."""

    def start_inodes(self) -> None:
        """Continue the inode numbers after the highest given."""
        row = self.connection.execute("SELECT max(inode) FROM inodes").fetchone()
        self.inodes: Iterator[int] = itertools.count(max(row[0] or 0, ROOT_INODE) + 1)
        # Whether `gone` may hold rows (only the writer thread changes it), where the next
        # pruning step starts, and whether one is under way.
        self.gone_waiting = True
        self._prune_from = 0
        self._pruning = False

    def inode_of(self, identity: str) -> int | None:
        """The inode an identity was given, if any."""
        rows = self._query("SELECT inode FROM inodes WHERE identity=?", (identity,))
        return int(rows[0][0]) if rows else None

    def _bind_identity(self, connection: sqlite3.Connection, identity: str) -> int:
        row = connection.execute(
            "SELECT inode FROM inodes WHERE identity=?", (identity,)
        ).fetchone()
        if row is not None:
            return int(row[0])
        inode = next(self.inodes)
        connection.execute("INSERT INTO inodes VALUES (?,?)", (inode, identity))
        return inode

    def bind(self, inode: int, identity: str, *, previous: str = "") -> None:
        """Let `inode` stand for `identity` (its earlier identity, if any, goes)."""

        def job(connection: sqlite3.Connection) -> None:
            if previous:
                connection.execute("DELETE FROM inodes WHERE identity=?", (previous,))
            connection.execute("DELETE FROM inodes WHERE identity=? OR inode=?", (identity, inode))
            connection.execute("INSERT INTO inodes VALUES (?,?)", (inode, identity))

        if not is_local(identity):
            self.submit(job)

    def _mark_gone(self, connection: sqlite3.Connection, inodes: list[int]) -> None:
        """Note inodes a fetched listing no longer shows (in the writer thread)."""
        if inodes:
            connection.executemany("INSERT OR IGNORE INTO gone VALUES (?)", [(i,) for i in inodes])
            self.gone_waiting = True

    async def prune(self, held: Callable[[int], bool]) -> int:
        """Remove the rows of up to `PRUNE_BATCH` identities gone from listings that nothing
        lists any more and the kernel does not hold (`held`); how many went. A held one is
        looked at again on a later pass, once the kernel may have let it go."""
        if not self.gone_waiting or self._pruning or self.broken:
            return 0
        self._pruning = True
        try:
            return await self._prune_step(held)
        finally:
            self._pruning = False

    async def _prune_step(self, held: Callable[[int], bool]) -> int:
        start = self._prune_from

        def scan(connection: sqlite3.Connection) -> tuple[list[int], list[int]]:
            rows = [
                int(r[0])
                for r in connection.execute(
                    "SELECT inode FROM gone WHERE inode > ? ORDER BY inode LIMIT ?",
                    (start, PRUNE_BATCH),
                )
            ]
            if not rows:
                if start == 0:
                    self.gone_waiting = False
                return rows, []
            marks = ",".join("?" * len(rows))
            unlisted = [
                int(r[0])
                for r in connection.execute(
                    f"SELECT inode FROM inodes WHERE inode IN ({marks}) AND {UNREFERENCED}", rows
                )
            ]
            # Listed again (moved, or back after the service's listing lagged): not gone.
            again = set(rows) - set(unlisted)
            connection.executemany("DELETE FROM gone WHERE inode=?", [(i,) for i in again])
            return rows, unlisted

        found = await self.write(scan)
        if found is None:
            return 0
        rows, unlisted = found
        self._prune_from = rows[-1] if len(rows) == PRUNE_BATCH else 0
        free = [(inode,) for inode in unlisted if not held(inode)]
        if not free:
            return 0

        def forget(connection: sqlite3.Connection) -> None:
            # Checked again: a listing saved since the scan may show one of them.
            connection.executemany(f"DELETE FROM inodes WHERE inode=? AND {UNREFERENCED}", free)
            connection.executemany("DELETE FROM gone WHERE inode=?", free)

        await self.write(forget)
        return len(free)


class ListingRows(InodeRows):
    """Saved listings (`listings`, `children`) and the account's root (`meta`)."""

    def meta(self, key: str) -> str | None:
        """A value of the `meta` table."""
        rows = self._query("SELECT value FROM meta WHERE key=?", (key,))
        return str(rows[0][0]) if rows else None

    def root(self) -> RemoteNode | None:
        """The account's root folder as the service last showed it."""
        record = self.meta("root")
        return None if record is None else decode(record)[0]

    def set_root(self, root: RemoteNode) -> None:
        """Keep the account's root folder as the service shows it now."""
        record = encode(root, None)
        identity = node_identity(root.node_id)

        def job(connection: sqlite3.Connection) -> None:
            connection.execute("INSERT OR REPLACE INTO meta VALUES ('root', ?)", (record,))
            connection.execute(
                "DELETE FROM inodes WHERE identity=? OR inode=?", (identity, ROOT_INODE)
            )
            connection.execute("INSERT INTO inodes VALUES (?,?)", (ROOT_INODE, identity))

        self.submit(job)

    def validator(self, directory: int) -> Validator | None:
        """The validator of a directory's saved listing, if it has one."""
        rows = self._query(
            "SELECT validator, stamp, fetched FROM listings WHERE dir=?", (directory,)
        )
        return Validator(*rows[0]) if rows else None

    def placed(self, inode: int) -> tuple[int, Placed] | None:
        """(directory, child) of an inode in a saved listing, if one shows it."""
        rows = self._query(
            "SELECT c.dir, c.name, i.identity, c.record FROM children c"
            " JOIN inodes i ON i.inode = c.inode WHERE c.inode=? LIMIT 1",
            (inode,),
        )
        if not rows:
            return None
        directory, name, identity, record = rows[0]
        node, image = decode(record)
        return directory, (inode, name, identity, node, image)

    def listing(self, directory: int) -> list[Placed] | None:
        """A directory's saved listing (blocking: call it through `read`)."""
        if not self._query("SELECT 1 FROM listings WHERE dir=?", (directory,)):
            return None
        rows = self._query(
            "SELECT c.inode, c.name, i.identity, c.record FROM children c"
            " JOIN inodes i ON i.inode = c.inode WHERE c.dir=? ORDER BY c.pos",
            (directory,),
        )
        out: list[Placed] = []
        for inode, name, identity, record in rows:
            node, image = decode(record)
            out.append((inode, name, identity, node, image))
        return out

    def save_listing(
        self,
        directory: int,
        children: list[Child],
        validator: Validator,
    ) -> Callable[[sqlite3.Connection], list[int]]:
        """The job that saves a directory's listing as fetched, writing only the children
        that changed, and returns the inode of each child (new identities get new ones).
        Children it no longer shows are noted for pruning."""

        def job(connection: sqlite3.Connection) -> list[int]:
            old = {
                inode: (pos, name, record)
                for inode, pos, name, record in connection.execute(
                    "SELECT inode, pos, name, record FROM children WHERE dir=?", (directory,)
                )
            }
            inodes = []
            changed = []
            for pos, (name, identity, node, image) in enumerate(children):
                inode = self._bind_identity(connection, identity)
                record = encode(node, image)
                if old.pop(inode, None) != (pos, name, record):
                    changed.append((directory, inode, pos, name, record))
                inodes.append(inode)
            connection.executemany("INSERT OR REPLACE INTO children VALUES (?,?,?,?,?)", changed)
            connection.executemany(
                "DELETE FROM children WHERE dir=? AND inode=?", [(directory, i) for i in old]
            )
            self._mark_gone(connection, list(old))
            connection.execute(
                "INSERT OR REPLACE INTO listings VALUES (?,?,?,?)",
                (directory, validator.validator, validator.stamp, validator.fetched),
            )
            return inodes

        return job

    def drop_listing(self, directory: int) -> None:
        """Forget a directory's saved listing (deleted, or known to be wrong)."""

        def job(connection: sqlite3.Connection) -> None:
            connection.execute("DELETE FROM listings WHERE dir=?", (directory,))
            connection.execute("DELETE FROM children WHERE dir=?", (directory,))

        self.submit(job)


class OwnRows(Connections):
    """The `own` table: changes this mount made that the service's listings do not show yet,
    taken up by the next mount."""

    def own_changes(self) -> list[OwnRecord]:
        """The changes this account's last mount made that are still laid over listings."""
        out = []
        now = time.time()
        for row in self._query(
            "SELECT dir, identity, added, until, inode, name, record FROM own WHERE until > ?",
            (now,),
        ):
            directory, identity, added, until, inode, name, record = row
            node, image = decode(record) if record else (None, None)
            out.append(OwnRecord(directory, identity, bool(added), until, inode, name, node, image))
        return out

    def put_own(self, change: OwnRecord) -> None:
        """Keep a change this mount made (replacing one of the same directory and identity)."""
        record = (
            encode(change.node, change.image)
            if change.node is not None or change.image is not None
            else None
        )
        values = (
            change.dir,
            change.identity,
            int(change.added),
            change.until,
            change.inode,
            change.name,
            record,
        )
        self.submit(
            lambda c: c.execute("INSERT OR REPLACE INTO own VALUES (?,?,?,?,?,?,?)", values)
        )

    def drop_own(self, directory: int, identity: str) -> None:
        """Forget a change this mount made (the service's listing shows it now)."""
        self.submit(
            lambda c: c.execute("DELETE FROM own WHERE dir=? AND identity=?", (directory, identity))
        )


class KeptRows(Connections):
    """The `kept` table: what the mount keeps for a photo version that the service has no
    field for (a tool-set modification time, attributes)."""

    def kept(self) -> dict[str, tuple[int | None, dict[str, Any] | None]]:
        """What the mount keeps for photo versions: a modification time, attributes."""
        return {
            version: (mtime_ns, json.loads(attrs) if attrs else None)
            for version, mtime_ns, attrs in self._query(
                "SELECT version, mtime_ns, attrs FROM kept", ()
            )
        }

    def keep_time(self, version: str, mtime_ns: int) -> None:
        """Keep a modification time for a photo version."""
        statement = (
            "INSERT INTO kept(version, mtime_ns) VALUES (?,?)"
            " ON CONFLICT(version) DO UPDATE SET mtime_ns=excluded.mtime_ns"
        )
        self.submit(lambda c: c.execute(statement, (version, mtime_ns)))

    def keep_attributes(self, version: str, attrs: dict[str, Any]) -> None:
        """Keep attributes (JSON values by name) for a photo version."""
        statement = (
            "INSERT INTO kept(version, attrs) VALUES (?,?)"
            " ON CONFLICT(version) DO UPDATE SET attrs=excluded.attrs"
        )
        encoded = json.dumps(attrs, separators=(",", ":"))
        self.submit(lambda c: c.execute(statement, (version, encoded)))

    def forget_kept(self, version: str) -> None:
        """Drop what is kept for a photo version (deleted, or replaced by a new version)."""
        self.submit(lambda c: c.execute("DELETE FROM kept WHERE version=?", (version,)))
