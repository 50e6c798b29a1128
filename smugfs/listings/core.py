"""The listings of an account's directories: which are current, fetching them single-flight,
checking saved ones against their validators, serving stale ones while the service is
unreachable, and the changes this mount made laid over them.

Listings, their validators, the inodes identities were given and this mount's own changes are
kept in the metadata database (`listings/database.py`); memory holds only the entries and
listings recently used (`tree.py`).

Listings are fetched once per `listing_ttl` per directory and coalesced: concurrent callers of
a directory being fetched wait for that one fetch. Invariant across awaits: the inode table is
only changed by `InodeTable.store_listing`, called with a complete listing after the fetch, so
a handler that resumes finds either the old or the new listing, never half of one.

A lookup of a name the listing lacks lists the directory again, once, when its listing is older
than `relist_on_miss`: the name may have been made on the service by another client since. That
relisting goes through the same single flight, and a directory is relisted so at most once per
`relist_on_miss`, so looking up names that do not exist costs at most that.

A directory whose listing is missing or too old is first checked against its saved listing's
validator (one small request for an album, none for a folder whose parent was just listed) and
only fetched when that changed. While the service is unreachable, the last listing known (in
memory or saved, however old) is served, and a directory never listed fails with ENETUNREACH
at once.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time

import trio
from cachetools import TTLCache

from smugfs.api.client import SmugMugClient
from smugfs.config import Settings
from smugfs.errors import NotADirectory, NotFound, Offline
from smugfs.kept_times import times_path
from smugfs.listings.ahead import ListingAhead
from smugfs.listings.attributes import Attributes, attributes_of
from smugfs.listings.database import Database, Validator
from smugfs.listings.kept import KeptInDatabase
from smugfs.listings.overlay import OwnChanges
from smugfs.listings.source import ListingSource, folder_validator
from smugfs.tree import ROOT_INODE, Entry, InodeTable, Listing, Placed

log = logging.getLogger(__name__)


class Listings:
    """The inode table with its directories' listings, kept current."""

    def __init__(self, client: SmugMugClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self._table: InodeTable | None = None
        self._fetching: dict[int, trio.Event] = {}
        # Which directory listings are fresh, and which names were just found missing. The
        # timer is trio's clock, so tests can drive it with trio's MockClock.
        self._fresh: TTLCache[int, bool] = TTLCache(
            maxsize=1_000_000, ttl=settings.listing_ttl, timer=trio.current_time
        )
        self._missing: TTLCache[tuple[int, str], bool] = TTLCache(
            maxsize=100_000, ttl=settings.negative_timeout, timer=trio.current_time
        )
        # Directories whose listing was checked with the service within `relist_on_miss`: a
        # miss in them is answered from that listing.
        self._recent: TTLCache[int, bool] = TTLCache(
            maxsize=1_000_000, ttl=settings.relist_on_miss, timer=trio.current_time
        )
        self.own = OwnChanges()
        self.source = ListingSource(client)
        self._database: Database | None = None
        self._kept: KeptInDatabase | None = None
        # Directories being relisted after a miss, whose validator is asked of the service.
        self._ask_service: set[int] = set()
        self.ahead = ListingAhead(lambda: self.table, self._fresh, self.children_of)
        # When the root folder's node was last fetched (trio's clock).
        self._root_seen = -math.inf
        self.uid = os.getuid()
        self.gid = os.getgid()

    @property
    def database(self) -> Database:
        """The metadata database (available after `start`)."""
        assert self._database is not None, "Listings.start() has not run"
        return self._database

    @property
    def kept_times(self) -> KeptInDatabase:
        """What is kept for photo versions: the times tools set on photos (`kept_times.py`)
        and attributes (available after `start`)."""
        assert self._kept is not None, "Listings.start() has not run"
        return self._kept

    @property
    def table(self) -> InodeTable:
        """The inode table (available after `start`)."""
        assert self._table is not None, "Listings.start() has not run"
        return self._table

    async def start(self) -> None:
        """Open the metadata database and find the root folder (and so check that the service
        and credentials work). With the service unreachable, a mount that has saved listings
        starts with them; one without raises `Offline`."""
        settings = self.settings
        database = await trio.to_thread.run_sync(
            Database.open, settings.cache_dir, settings.account_key
        )
        self._database = database
        self._kept = KeptInDatabase(database)
        await trio.to_thread.run_sync(
            self._kept.take_over, times_path(settings.cache_dir, settings.account_key)
        )
        try:
            root = await self.client.root_node(settings.user)
        except Offline:
            saved_root = database.root()
            if saved_root is None:
                await self.close()
                raise
            log.warning("the service is unreachable: showing the listings saved earlier")
            root = saved_root
        except BaseException:
            await self.close()
            raise
        else:
            if root != database.root():
                database.set_root(root)
            self._root_seen = trio.current_time()
        self._table = InodeTable(root, database)
        self.own.restore(self._table, database)

    def attach(self, nursery: trio.Nursery) -> None:
        """Let listings ahead of a walk run in the mount's nursery (none before this)."""
        self.ahead.attach(nursery)

    async def save(self) -> None:
        """Wait until every change is written to the database (each is written as it is
        made, in a transaction of its own)."""
        if self._database is not None:
            await self._database.write(lambda connection: None)
            if self._table is not None:
                await self._database.prune(self._table.held)

    async def keep_saved(self, interval: float = 30.0) -> None:
        """Every `interval` seconds, wait for the database's writes to catch up."""
        while True:
            await trio.sleep(interval)
            await self.save()

    async def close(self) -> None:
        """Finish writing and close the database (at unmount)."""
        database, self._database = self._database, None
        if database is not None:
            await trio.to_thread.run_sync(database.close)

    def attributes(self, entry: Entry) -> Attributes:
        """What `stat` shows for an entry (no network request)."""
        return attributes_of(
            entry,
            self.table,
            self.kept_times,
            read_only=self.settings.read_only,
            uid=self.uid,
            gid=self.gid,
        )

    # ------------------------------------------------------------------ reading

    async def find(self, parent: int, name: str) -> int:
        """The inode of the child `name` of directory `parent`; NotFound if there is none (a
        miss is remembered for `negative_timeout`)."""
        if (parent, name) in self._missing:
            raise NotFound(f"no {name!r} here")
        inode = (await self.children_of(parent)).get(name)
        if inode is None and parent not in self._recent:
            inode = (await self._relist(parent)).get(name)
        if inode is None:
            self._missing[(parent, name)] = True
            raise NotFound(f"no {name!r} here")
        return inode

    async def _relist(self, inode: int) -> dict[str, int]:
        """A directory's listing checked with the service now, not trusted from memory: it
        is no longer fresh, and its validator is asked of the service itself."""
        self._fresh.pop(inode, None)
        self._ask_service.add(inode)
        try:
            return await self.children_of(inode)
        finally:
            self._ask_service.discard(inode)

    async def children_of(self, inode: int) -> dict[str, int]:
        """A directory's current listing, fetched if missing or older than the TTL."""
        entry = self.table.entry(inode)
        if entry.node is None:
            raise NotADirectory(f"{entry.name} is not a directory")
        for _ in range(3):
            listing = self.table.listing(inode)
            if listing is not None and inode in self._fresh:
                return listing.children
            pending = self._fetching.get(inode)
            if pending is not None:
                await pending.wait()
                continue
            done = trio.Event()
            self._fetching[inode] = done
            try:
                return (await self._bring_up_to_date(entry)).children
            except Offline:
                stale = await self._stale_listing(entry)
                if stale is None:
                    raise
                return stale.children
            finally:
                del self._fetching[inode]
                done.set()
        listing = self.table.listing(inode)
        if listing is None:
            raise NotFound(f"{entry.name} could not be listed")
        return listing.children

    async def _saved_listing(self, inode: int) -> list[Placed] | None:
        database = self.database
        return await database.read(lambda: database.listing(inode))

    async def _stale_listing(self, entry: Entry) -> Listing | None:
        """The last listing known of a directory, however old (the service is unreachable):
        the one in memory, else the saved one. It stays stale, so the next access after the
        service is back fetches it."""
        listing = self.table.listing(entry.inode)
        if listing is not None:
            return listing
        saved = await self._saved_listing(entry.inode)
        if saved is None:
            return None
        return self._store(entry.inode, saved)

    async def _bring_up_to_date(self, entry: Entry) -> Listing:
        """Bring a directory's listing up to date: the saved one if it is fresh (read back
        into memory) or its validator still holds, else a fetched one (saved with its
        validator)."""
        database = self.database
        placed: list[Placed] | None = None
        saved = database.validator(entry.inode)
        try:
            if saved is not None:
                if entry.inode in self._fresh:
                    placed = await self._saved_listing(entry.inode)
                elif saved.trusted(self.settings.listing_settle):
                    validator, _ = await self._validator(entry)
                    if validator == saved.validator:
                        placed = await self._saved_listing(entry.inode)
            if placed is None:
                children, validator, stamp = await self.source.fetch(entry)
                job = database.save_listing(
                    entry.inode, children, Validator(validator, stamp, time.time())
                )
                inodes = await database.write(job)
                if inodes is None:
                    # The database failed: inodes for this mount's life only.
                    inodes = [self.table.inode_for(child[1]) for child in children]
                placed = [
                    (inode, name, identity, node, image)
                    for inode, (name, identity, node, image) in zip(inodes, children, strict=True)
                ]
        except NotFound:
            database.drop_listing(entry.inode)
            raise
        listing = self._store(entry.inode, placed)
        self._fresh[entry.inode] = True
        self._recent[entry.inode] = True
        # What fetched listings no longer show is pruned once the kernel has let it go (it
        # may have since the last look, fetched or not).
        await database.prune(self.table.held)
        return listing

    def _store(self, inode: int, children: list[Placed]) -> Listing:
        """Put a listing from the service into the table, with this mount's changes on it."""
        return self.table.store_listing(inode, self.own.lay_over(self.table, inode, children))

    async def _validator(self, entry: Entry) -> tuple[str, float]:
        """What the service says now about whether a directory changed, and its time: an
        album's `ImagesLastUpdated` (one request); a folder's `DateModified`, taken from its
        parent's listing while that is fresh (the service moves it on for any change below),
        else from the node itself (one request)."""
        node = entry.node
        assert node is not None
        if node.is_album:
            assert node.album_uri is not None
            return await self.client.album_stamp(node.album_uri)
        if entry.inode in self._ask_service:
            current = False
        elif entry.inode == ROOT_INODE:
            current = trio.current_time() - self._root_seen < self.settings.listing_ttl
        else:
            current = entry.parent in self._fresh
        if not current:
            node = await self.client.node(node.uri)
            if entry.inode == ROOT_INODE:
                self._root_seen = trio.current_time()
        return folder_validator(node)

    # ------------------------------------------------------------------ changes made here

    def note_added(self, parent: int, entry: Entry) -> None:
        """Remember a child made through the mount until the service's listing shows it. A
        miss remembered for its name (the lookup before a mkdir, create or rename) is
        forgotten, so the next lookup finds the child."""
        self.own.added(parent, entry)
        self._missing.pop((parent, entry.name), None)
        # The names a writer looks up before making each file are not relisted for: what this
        # mount just changed it knows (a `cp -r` of thousands of photos into a large album
        # would otherwise list the album again every `relist_on_miss`).
        self._recent[parent] = True

    def note_removed(self, parent: int, identity: str) -> None:
        """Remember a child deleted through the mount until the service's listing drops it."""
        self.own.removed(parent, identity)
        self._recent[parent] = True

    def mark_fresh(self, inode: int) -> None:
        """A directory's listing is known to be current (just made through the mount)."""
        self._fresh[inode] = True

    def expire_parent(self, inode: int) -> None:
        """Drop the listing that showed `inode`, so the next access sees the service's state."""
        with contextlib.suppress(NotFound):
            parent = self.table.entry(inode).parent
            self.table.expire(parent)
            self._fresh.pop(parent, None)
            self.database.drop_listing(parent)
