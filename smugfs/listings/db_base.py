"""What every part of the metadata database stands on: the records it keeps (a listing's
validator, a change this mount made, nodes and images as rows), its connections, and the one
writer thread through which every change goes."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import trio

from smugfs.api.models import RemoteImage, RemoteNode
from smugfs.listings.db_schema import transaction

log = logging.getLogger("smugfs.listings.database")

T = TypeVar("T")

# Larger reads (whole listings) at once.
READERS = 2
_NODE_FIELDS = [f.name for f in dataclasses.fields(RemoteNode)]
_IMAGE_FIELDS = [f.name for f in dataclasses.fields(RemoteImage)]


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


class Connections:
    """An open database file: point reads on the caller's thread, larger reads in worker
    threads, writes through the writer thread; a failure makes the database `broken`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.broken = False
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._readers: trio.CapacityLimiter | None = None
        self.connection = self._connect()
        self.writer = Writer(self._connect(), self._fail)

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

    def submit(self, job: Callable[[sqlite3.Connection], object]) -> None:
        """Write in a transaction of its own, after those submitted earlier."""
        if not self.broken:
            self.writer.submit(job)

    async def write(self, job: Callable[[sqlite3.Connection], T]) -> T | None:
        """Write in a transaction of its own and wait for it (None if it failed)."""
        if self.broken:
            return None
        return await self.writer.run(job)

    def close_connections(self) -> None:
        """Finish the writes, mark the database closed cleanly and close every connection.
        Blocking."""
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
                with transaction(self._connection):
                    value = job(self._connection)
            except sqlite3.Error as exc:
                self._fail(exc)
                error = exc
            except Exception as exc:  # a bug must not stop every later write
                log.exception("metadata database: a write failed")
                error = exc
            done(value, error)
