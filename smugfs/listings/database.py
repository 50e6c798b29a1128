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
wait for the writer) or whole listings in a worker thread (`read`).

Saved listings from before the database (`listings/<account>.json`, see `legacy.py`)
are migrated into it on first open and their file removed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import trio

from smugfs.api.models import RemoteImage, RemoteNode
from smugfs.listings import legacy
from smugfs.locks import try_exclusive_lock
from smugfs.tree import ROOT_INODE, Child, Placed, is_local, node_identity

log = logging.getLogger(__name__)

T = TypeVar("T")

FORMAT = "smugfs-metadata"
# Larger reads (whole listings) at once.
READERS = 2
SCHEMA_VERSION = 1
_NODE_FIELDS = [f.name for f in dataclasses.fields(RemoteNode)]
_IMAGE_FIELDS = [f.name for f in dataclasses.fields(RemoteImage)]
_FIELDS = json.dumps([_NODE_FIELDS, _IMAGE_FIELDS])

_SCHEMA = """
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
"""

# Steps from each earlier schema version to the next (`PRAGMA user_version`); a database of a
# version not listed here, or of a later one, is set aside and rebuilt.
MIGRATIONS: dict[int, str] = {}


class Unusable(Exception):
    """The file is not a metadata database this mount can use as it is."""


@dataclasses.dataclass(frozen=True, slots=True)
class Validator:
    """A saved listing's validator, the validator's time and when the listing was fetched
    (seconds since the epoch)."""

    validator: str
    stamp: float
    fetched: float

    def trusted(self, settle: float) -> bool:
        """Whether the listing was fetched long enough after its stamp to show that change
        (the service's listings lag behind its changes)."""
        return self.fetched >= self.stamp + settle


@dataclasses.dataclass(frozen=True, slots=True)
class OwnRecord:
    """A change this mount made, kept until `until` (seconds since the epoch)."""

    dir: int
    identity: str
    added: bool
    until: float
    inode: int | None
    name: str | None
    node: RemoteNode | None
    image: RemoteImage | None


def database_path(cache_dir: Path, key: str) -> Path:
    """The database of the account named by `key` (`Settings.account_key`)."""
    return cache_dir / "metadata" / f"{key}.sqlite"


def encode(node: RemoteNode | None, image: RemoteImage | None) -> str:
    """A node or image as one JSON array of its field values, the first telling which."""
    if node is not None:
        return json.dumps(["n", *(getattr(node, f) for f in _NODE_FIELDS)], separators=(",", ":"))
    assert image is not None
    return json.dumps(["i", *(getattr(image, f) for f in _IMAGE_FIELDS)], separators=(",", ":"))


def decode(record: str) -> tuple[RemoteNode | None, RemoteImage | None]:
    """The inverse of `encode`."""
    values = json.loads(record)
    if values[0] == "n":
        return RemoteNode(*values[1:]), None
    return None, RemoteImage(*values[1:])


class Database:
    """An open metadata database of one account."""

    def __init__(self, path: Path, lock: int, *, spare: bool) -> None:
        self.path = path
        self._lock = lock
        # A second mount's own database, removed when it ends.
        self.spare = spare
        self.broken = False
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._readers: trio.CapacityLimiter | None = None
        self.connection = self._connect()
        row = self.connection.execute("SELECT max(inode) FROM inodes").fetchone()
        self.inodes: Iterator[int] = itertools.count(max(row[0] or 0, ROOT_INODE) + 1)
        self.writer = Writer(self._connect(), self._fail)

    @classmethod
    def open(cls, cache_dir: Path, key: str) -> Database:
        """Open (or make) the account's database, setting aside one that cannot be used, and
        migrate saved listings of the earlier format into it. Blocking."""
        directory = cache_dir / "metadata"
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = database_path(cache_dir, key)
        spare = False
        lock = _lock(path)
        if lock is None:
            # Another mount of this account owns it: one of our own beside it.
            path = path.with_name(f"{key}.{os.getpid()}.sqlite")
            _remove(path)
            lock = _lock(path)
            spare = True
            assert lock is not None
        try:
            _prepare(path, key)
        except (Unusable, sqlite3.DatabaseError) as exc:
            aside = path.with_name(f"{path.name}.damaged-{int(time.time())}")
            log.warning("setting the metadata database %s aside (%s): rebuilding it", path, exc)
            with contextlib.suppress(OSError):
                os.replace(path, aside)
            _remove(path)
            _prepare(path, key)
        database = cls(path, lock, spare=spare)
        if not spare:
            database._migrate_json(legacy.store_path(cache_dir, key))
        return database

    # ------------------------------------------------------------------ connections

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        connection.execute("PRAGMA synchronous=NORMAL")
        with self._connections_lock:
            self._connections.append(connection)
        return connection

    def _reader(self) -> sqlite3.Connection:
        """This thread's connection for reads (worker threads each have their own)."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            connection.execute("PRAGMA query_only=1")
            self._local.connection = connection
        return connection

    def _fail(self, exc: sqlite3.Error) -> None:
        """A database error while the mount runs: logged once; from then on the mount works
        from memory and the service, and the next mount checks the file."""
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(
            exc, sqlite3.IntegrityError | sqlite3.OperationalError
        ):
            if not self.broken:
                log.warning("the metadata database %s is damaged: %s", self.path, exc)
            self.broken = True
        else:
            log.warning("metadata database: %s", exc)

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        """Rows of a read on this thread's connection; none if the database fails."""
        if self.broken:
            return []
        try:
            return self._reader().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            self._fail(exc)
            return []

    async def read(self, fn: Callable[[], T]) -> T:
        """Run a larger read in a worker thread, at most `READERS` at once: a walk after a
        remount would otherwise hold a decoded listing for every directory it lists ahead
        (what the reads give back is no faster for it on a few CPUs)."""
        if self._readers is None:
            self._readers = trio.CapacityLimiter(READERS)
        return await trio.to_thread.run_sync(fn, limiter=self._readers)

    # ------------------------------------------------------------------ reads

    def meta(self, key: str) -> str | None:
        """A value of the `meta` table."""
        rows = self._query("SELECT value FROM meta WHERE key=?", (key,))
        return str(rows[0][0]) if rows else None

    def root(self) -> RemoteNode | None:
        """The account's root folder as the service last showed it."""
        record = self.meta("root")
        return None if record is None else decode(record)[0]

    def inode_of(self, identity: str) -> int | None:
        """The inode an identity was given, if any."""
        rows = self._query("SELECT inode FROM inodes WHERE identity=?", (identity,))
        return int(rows[0][0]) if rows else None

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

    def kept(self) -> dict[str, tuple[int | None, dict[str, Any] | None]]:
        """What the mount keeps for photo versions: a modification time, attributes."""
        return {
            version: (mtime_ns, json.loads(attrs) if attrs else None)
            for version, mtime_ns, attrs in self._query(
                "SELECT version, mtime_ns, attrs FROM kept", ()
            )
        }

    # ------------------------------------------------------------------ writes

    def submit(self, job: Callable[[sqlite3.Connection], object]) -> None:
        """Write in a transaction of its own, after those submitted earlier."""
        if not self.broken:
            self.writer.submit(job)

    async def write(self, job: Callable[[sqlite3.Connection], T]) -> T | None:
        """Write in a transaction of its own and wait for it (None if it failed)."""
        if self.broken:
            return None
        return await self.writer.run(job)

    def save_listing(
        self,
        directory: int,
        children: list[Child],
        validator: Validator,
    ) -> Callable[[sqlite3.Connection], list[int]]:
        """The job that saves a directory's listing as fetched, writing only the children
        that changed, and returns the inode of each child (new identities get new ones)."""

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
            connection.execute(
                "INSERT OR REPLACE INTO listings VALUES (?,?,?,?)",
                (directory, validator.validator, validator.stamp, validator.fetched),
            )
            return inodes

        return job

    def _bind_identity(self, connection: sqlite3.Connection, identity: str) -> int:
        row = connection.execute(
            "SELECT inode FROM inodes WHERE identity=?", (identity,)
        ).fetchone()
        if row is not None:
            return int(row[0])
        inode = next(self.inodes)
        connection.execute("INSERT INTO inodes VALUES (?,?)", (inode, identity))
        return inode

    def drop_listing(self, directory: int) -> None:
        """Forget a directory's saved listing (deleted, or known to be wrong)."""

        def job(connection: sqlite3.Connection) -> None:
            connection.execute("DELETE FROM listings WHERE dir=?", (directory,))
            connection.execute("DELETE FROM children WHERE dir=?", (directory,))

        self.submit(job)

    def bind(self, inode: int, identity: str, *, previous: str = "") -> None:
        """Let `inode` stand for `identity` (its earlier identity, if any, goes)."""

        def job(connection: sqlite3.Connection) -> None:
            if previous:
                connection.execute("DELETE FROM inodes WHERE identity=?", (previous,))
            connection.execute("DELETE FROM inodes WHERE identity=? OR inode=?", (identity, inode))
            connection.execute("INSERT INTO inodes VALUES (?,?)", (inode, identity))

        if not is_local(identity):
            self.submit(job)

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

    # ------------------------------------------------------------------ end

    def close(self) -> None:
        """Finish the writes, mark the database closed cleanly and release it. Blocking."""
        self.writer.close()
        if not self.broken:
            with contextlib.suppress(sqlite3.Error):
                self.connection.execute("INSERT OR REPLACE INTO meta VALUES ('clean', '1')")
                self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with self._connections_lock:
            for connection in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    connection.close()
            self._connections.clear()
        if self.spare:
            _remove(self.path)
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


class Writer:
    """The one thread that writes to a database: each job is one transaction, in order."""

    def __init__(
        self, connection: sqlite3.Connection, fail: Callable[[sqlite3.Error], None]
    ) -> None:
        self._connection = connection
        self._fail = fail
        self._queue: queue.SimpleQueue[
            tuple[Callable[[sqlite3.Connection], Any], Callable[[Any, BaseException | None], None]]
            | None
        ] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="smugfs-metadata", daemon=True)
        self._thread.start()

    def submit(
        self,
        job: Callable[[sqlite3.Connection], Any],
        done: Callable[[Any, BaseException | None], None] = lambda value, error: None,
    ) -> None:
        """Queue a job; `done` is called in the writer thread with its result or error."""
        self._queue.put((job, done))

    async def run(self, job: Callable[[sqlite3.Connection], T]) -> T | None:
        """Queue a job and wait until it is committed (None if it failed)."""
        token = trio.lowlevel.current_trio_token()
        finished = trio.Event()
        box: list[Any] = [None]

        def done(value: Any, error: BaseException | None) -> None:
            box[0] = None if error is not None else value
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(finished.set)

        self.submit(job, done)
        await finished.wait()
        result: T | None = box[0]
        return result

    def flush_blocking(self) -> None:
        """Wait until every job queued so far is committed (from a thread other than the
        trio loop's, or before it runs)."""
        event = threading.Event()
        self.submit(lambda c: None, lambda value, error: event.set())
        event.wait()

    def close(self) -> None:
        """Finish the queued jobs and stop the thread."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            job, done = item
            error: BaseException | None = None
            value = None
            try:
                with _transaction(self._connection):
                    value = job(self._connection)
            except sqlite3.Error as exc:
                self._fail(exc)
                error = exc
            except Exception as exc:  # a bug must not stop every later write
                log.exception("metadata database: a write failed")
                error = exc
            done(value, error)


@contextlib.contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _prepare(path: Path, key: str) -> None:
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
            with _transaction(connection):
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        connection.execute(statement)
                version += 1
                connection.execute(f"PRAGMA user_version={version}")
        if version != SCHEMA_VERSION:
            raise Unusable(f"schema version {version}")
        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("format") != FORMAT or meta.get("account") != key:
            raise Unusable("written for another account or by another program")
        if meta.get("fields") != _FIELDS:
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
    with _transaction(connection):
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                connection.execute(statement)
        connection.executemany(
            "INSERT INTO meta VALUES (?,?)",
            [("format", FORMAT), ("account", key), ("fields", _FIELDS), ("clean", "0")],
        )
        connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def _lock(path: Path) -> int | None:
    """An exclusive advisory lock for a database, or None when another process holds it."""
    return try_exclusive_lock(path.with_name(path.name + ".lock"))


def _remove(path: Path) -> None:
    """Remove a database with its journal files."""
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()
