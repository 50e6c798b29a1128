"""What a SmugMug account looks like as a filesystem, without the FUSE bindings.

The root is the user's root folder; folders and albums are directories; an album's images and
videos are its files. Pages and node types a filesystem cannot show are left out (logged once
each). A file's size is the exact byte size of what reading it returns (the archived original
of a photo, the largest MP4 rendition of a video) and its times are the service's own, never
the clock's.

Listings are fetched once per `listing_ttl` per directory and coalesced: concurrent callers of a
directory being fetched wait for that one fetch (single-flight). Attribute requests never cause
a network request. Invariant across awaits: the inode table is only changed by
`InodeTable.store_listing`, called with a complete listing after the fetch, so a handler that
resumes finds either the old or the new listing, never half of one.

Listings are kept between mounts (`listing_store.py`). A directory whose listing is missing or
too old is first checked against its saved listing's validator (one small request for an
album, none for a folder whose parent was just listed) and only fetched when that changed.
While the service is unreachable, the last listing known (in memory or saved, however old) is
served, and a directory never listed fails with ENETUNREACH at once.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import math
import os
import stat
import time

import trio
from cachetools import TTLCache

from smugfs.api.client import SmugMugClient
from smugfs.api.models import RemoteImage, RemoteNode
from smugfs.changes import Changes
from smugfs.config import Settings
from smugfs.errors import (
    IsADirectory,
    NotADirectory,
    NotFound,
    NotPermitted,
    Offline,
    SmugfsError,
    first_error,
)
from smugfs.listing_store import Child, ListingStore, Saved, store_path
from smugfs.names import Named, assign_names
from smugfs.reader import OpenFile, ReadPath
from smugfs.staging import Staging
from smugfs.tree import ROOT_INODE, Entry, InodeTable

log = logging.getLogger(__name__)

# How long changes made through the mount are laid over the service's listings, which show
# new and deleted images only after a while.
LISTING_LAG_GRACE = 600.0
LOCAL_IO_SIZE = 1024 * 1024
# When a directory is read, the folders below it are listed in the background this many levels
# deep and the albums in it too, this many at once, most recently asked for first, so that a
# walk (`find`, `du`, a file manager) finds them listed instead of waiting out one round trip
# per directory in turn. Albums deeper down are left alone: one can hold 5,000 images.
PREFETCH_DEPTH = 3
PREFETCH_CONCURRENCY = 16
# At most this many directories wait to be listed ahead; the ones asked for longest ago go.
PREFETCH_QUEUE = 10_000


@dataclasses.dataclass
class Handle:
    """An open file: its inode, whether it writes, and its reader of the service's bytes."""

    inode: int
    writable: bool
    reader: OpenFile | None = None


@dataclasses.dataclass(slots=True)
class Attributes:
    """What `stat` shows for an inode (made for every entry of every listing: kept cheap)."""

    inode: int
    mode: int
    nlink: int
    size: int
    mtime: float
    ctime: float
    crtime: float
    uid: int
    gid: int
    # The I/O size `stat` suggests (tools such as cp and Python's open() size buffers by it).
    io_size: int = 128 * 1024

    @property
    def is_dir(self) -> bool:
        """Whether the inode is a directory."""
        return stat.S_ISDIR(self.mode)


class Filesystem:
    """The filesystem's meaning: lookup, list, stat, open, read."""

    def __init__(
        self, client: SmugMugClient, settings: Settings, read_path: ReadPath, staging: Staging
    ) -> None:
        self.client = client
        self.settings = settings
        self.read_path = read_path
        self.staging = staging
        self.uid = os.getuid()
        self.gid = os.getgid()
        self._table: InodeTable | None = None
        self._fetching: dict[int, trio.Event] = {}
        self._skipped: set[str] = set()
        self._handles: dict[int, Handle] = {}
        self._next_handle = 1
        self._seen_versions: dict[int, str] = {}
        # Which directory listings are fresh, and which names were just found missing. The
        # timer is trio's clock, so tests can drive it with trio's MockClock.
        self._fresh: TTLCache[int, bool] = TTLCache(
            maxsize=1_000_000, ttl=settings.listing_ttl, timer=trio.current_time
        )
        self._missing: TTLCache[tuple[int, str], bool] = TTLCache(
            maxsize=100_000, ttl=settings.negative_timeout, timer=trio.current_time
        )
        # Changes made through this mount, per directory, until the service's listings show
        # them: identity -> (until, inode) for additions, identity -> until for removals.
        self._added: dict[int, dict[str, tuple[float, int]]] = {}
        self._removed: dict[int, dict[str, float]] = {}
        self.saved = ListingStore(store_path(settings.cache_dir, settings.account_key))
        self._nursery: trio.Nursery | None = None
        # Directories waiting to be listed ahead (newest last) or being listed, and how many
        # tasks list them.
        self._prefetch_queue: collections.OrderedDict[int, int] = collections.OrderedDict()
        self._prefetching: set[int] = set()
        self._prefetch_workers = 0
        # When the root folder's node was last fetched (trio's clock).
        self._root_seen = -math.inf
        self.changes = Changes(self)

    @property
    def table(self) -> InodeTable:
        """The inode table (available after `start`)."""
        assert self._table is not None, "Filesystem.start() has not run"
        return self._table

    async def start(self) -> None:
        """Read the saved listings and find the root folder (and so check that the service and
        credentials work). With the service unreachable, a mount that has saved listings
        starts with them; one without raises `Offline`."""
        await trio.to_thread.run_sync(self.saved.load)
        try:
            root = await self.client.root_node(self.settings.user)
        except Offline:
            if self.saved.root is None:
                raise
            log.warning("the service is unreachable: showing the listings saved earlier")
            root = self.saved.root
        else:
            self.saved.set_root(root)
            self._root_seen = trio.current_time()
        self._table = InodeTable(root)

    def attach(self, nursery: trio.Nursery) -> None:
        """Let listings ahead of a walk run in the mount's nursery (none before this)."""
        self._nursery = nursery

    async def save_listings(self) -> None:
        """Write the listings to disk if they changed since the last time."""
        if self.saved.dirty:
            snapshot = self.saved.snapshot()
            await trio.to_thread.run_sync(self.saved.write, snapshot)

    async def keep_listings_saved(self, interval: float = 30.0) -> None:
        """Save the listings every `interval` seconds while they change (and at unmount, by
        `close`), so a crash loses at most that much."""
        while True:
            await trio.sleep(interval)
            await self.save_listings()

    # ------------------------------------------------------------------ attributes

    def attributes(self, entry: Entry) -> Attributes:
        """The attributes of an entry, from what the service said about it."""
        writable = 0 if self.settings.read_only else 0o200
        if entry.node is not None:
            node = entry.node
            mtime = node.date_modified or node.date_added or 0.0
            listing = self.table.listing(entry.inode)
            if listing is None:
                # Unknown number of subdirectories: 1 tells find not to count on link counts.
                nlink = 1
            else:
                subdirs = sum(
                    1 for inode in listing.children.values() if self.table.entry(inode).is_dir
                )
                nlink = 2 + subdirs
            return Attributes(
                inode=entry.inode,
                mode=stat.S_IFDIR | 0o555 | writable,
                nlink=nlink,
                size=0,
                mtime=mtime,
                ctime=mtime,
                crtime=node.date_added or mtime,
                uid=self.uid,
                gid=self.gid,
            )
        local = entry.local
        if local is not None and (entry.image is None or not local.uploaded):
            # Bytes in this mount: their own size and the time they were last written.
            return Attributes(
                inode=entry.inode,
                mode=stat.S_IFREG | 0o444 | writable,
                nlink=1,
                size=local.size,
                mtime=local.mtime,
                ctime=local.mtime,
                crtime=local.mtime,
                uid=self.uid,
                gid=self.gid,
                # Larger writes cost less per byte through FUSE (up to 1 MiB a request); reads
                # of the service's files keep small buffers, so reading the start of a photo
                # fetches about that much.
                io_size=LOCAL_IO_SIZE,
            )
        image = entry.image
        assert image is not None
        mtime = image.last_updated or image.uploaded or 0.0
        return Attributes(
            inode=entry.inode,
            mode=stat.S_IFREG | 0o444 | writable,
            nlink=1,
            size=image.size or 0,
            mtime=mtime,
            ctime=mtime,
            crtime=image.uploaded or mtime,
            uid=self.uid,
            gid=self.gid,
        )

    async def getattr(self, inode: int) -> Attributes:
        """`stat` of a known inode (no network request)."""
        return self.attributes(self.table.entry(inode))

    # ------------------------------------------------------------------ directories

    async def lookup(self, parent: int, name: str) -> Attributes:
        """The child `name` of directory `parent`; NotFound if there is none."""
        if (parent, name) in self._missing:
            raise NotFound(f"no {name!r} here")
        children = await self.children_of(parent)
        inode = children.get(name)
        if inode is None:
            self._missing[(parent, name)] = True
            raise NotFound(f"no {name!r} here")
        return self.attributes(self.table.entry(inode))

    async def list_dir(self, inode: int) -> list[tuple[str, Attributes]]:
        """A directory's entries with their attributes, in listing order."""
        children = await self.children_of(inode)
        self._prefetch_below(inode, PREFETCH_DEPTH)
        return [
            (name, self.attributes(self.table.entry(child))) for name, child in children.items()
        ]

    def _prefetch_below(self, inode: int, depth: int) -> None:
        """Queue the folders below a listed directory `depth` levels deep, and the albums in
        it when it is the one read (fresh ones are only looked through)."""
        listing = self.table.listing(inode)
        if self._nursery is None or depth <= 0 or listing is None:
            return
        for child in listing.children.values():
            entry = self.table.entry(child)
            if entry.node is None or child in self._prefetching:
                continue
            if not entry.node.is_folder and depth < PREFETCH_DEPTH:
                continue
            if child in self._fresh:
                self._prefetch_below(child, depth - 1)
                continue
            # Asked for again: to the end of the queue, where the next listing comes from.
            self._prefetch_queue.pop(child, None)
            self._prefetch_queue[child] = depth - 1
            if len(self._prefetch_queue) > PREFETCH_QUEUE:
                self._prefetch_queue.popitem(last=False)
        while self._prefetch_workers < PREFETCH_CONCURRENCY and self._prefetch_queue:
            self._prefetch_workers += 1
            self._nursery.start_soon(self._prefetch)

    async def _prefetch(self) -> None:
        """List queued directories, newest first, until none is left."""
        try:
            while self._prefetch_queue:
                inode, depth = self._prefetch_queue.popitem()
                self._prefetching.add(inode)
                try:
                    await self.children_of(inode)
                except SmugfsError as exc:
                    # Whoever lists it for real will see the error; this was only ahead of time.
                    log.debug("listing ahead of time failed: %s", exc)
                    continue
                finally:
                    self._prefetching.discard(inode)
                self._prefetch_below(inode, depth)
        finally:
            self._prefetch_workers -= 1

    def remember(self, inode: int, count: int = 1) -> None:
        """The kernel took references to `inode` (lookup, readdirplus)."""
        self.table.remember(inode, count)

    def forget(self, inode: int, count: int) -> None:
        """The kernel dropped references to `inode`."""
        self.table.forget(inode, count)

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
                await self._fetch_listing(entry)
            except Offline:
                stale = self._stale_listing(entry)
                if stale is None:
                    raise
                return stale
            finally:
                del self._fetching[inode]
                done.set()
        listing = self.table.listing(inode)
        if listing is None:
            raise NotFound(f"{entry.name} could not be listed")
        return listing.children

    def _stale_listing(self, entry: Entry) -> dict[str, int] | None:
        """The last listing known of a directory, however old (the service is unreachable):
        the one in memory, else the saved one. It stays stale, so the next access after the
        service is back fetches it."""
        listing = self.table.listing(entry.inode)
        if listing is not None:
            return listing.children
        saved = self.saved.get(entry.identity)
        if saved is None:
            return None
        self.table.store_listing(entry.inode, self._with_own_changes(entry.inode, saved.children))
        listing = self.table.listing(entry.inode)
        return None if listing is None else listing.children

    async def _fetch_listing(self, entry: Entry) -> None:
        """Bring a directory's listing up to date: the saved one if its validator still
        holds, else a fetched one (saved with its validator)."""
        children: list[Child] | None = None
        saved = self.saved.get(entry.identity)
        try:
            if saved is not None and saved.trusted(self.settings.listing_settle):
                validator, _ = await self._validator(entry)
                if validator == saved.validator:
                    children = saved.children
            if children is None:
                children, validator, stamp = await self._fetch_children(entry)
                self.saved.put(entry.identity, Saved(validator, stamp, time.time(), children))
        except NotFound:
            self.saved.drop(entry.identity)
            raise
        self.table.store_listing(entry.inode, self._with_own_changes(entry.inode, children))
        self._fresh[entry.inode] = True

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
        if entry.inode == ROOT_INODE:
            current = trio.current_time() - self._root_seen < self.settings.listing_ttl
        else:
            current = entry.parent in self._fresh
        if not current:
            node = await self.client.node(node.uri)
            if entry.inode == ROOT_INODE:
                self._root_seen = trio.current_time()
        return _folder_validator(node)

    async def _fetch_children(self, entry: Entry) -> tuple[list[Child], str, float]:
        """A directory's listing from the service, with its validator and the validator's
        time (an album's is asked for alongside its first page)."""
        node = entry.node
        assert node is not None
        children: list[Child] = []
        if node.is_album:
            assert node.album_uri is not None
            album_uri = node.album_uri
            found: list[RemoteImage] = []
            stamp: tuple[str, float] = ("", math.inf)

            async def list_images() -> None:
                found.extend(await self.client.album_images(album_uri))

            async def ask_stamp() -> None:
                nonlocal stamp
                stamp = await self.client.album_stamp(album_uri)

            with first_error():
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(list_images)
                    nursery.start_soon(ask_stamp)
            images = [i for i in found if self._readable(i)]
            names = assign_names(
                [Named(i.file_name, i.image_key, age=i.uploaded or 0.0) for i in images]
            )
            for name, image in zip(names, images, strict=True):
                identity = f"image:{node.node_id}:{image.image_key}"
                children.append((name, identity, None, image))
            return children, stamp[0], stamp[1]
        if node.is_folder:
            nodes = [n for n in await self.client.children(node) if self._shown(n)]
            names = assign_names(
                [
                    Named(n.name, n.node_id, age=n.date_added or 0.0, fallback=n.url_name)
                    for n in nodes
                ]
            )
            for name, child in zip(names, nodes, strict=True):
                children.append((name, f"node:{child.node_id}", child, None))
        validator, when = _folder_validator(node)
        return children, validator, when

    def _with_own_changes(
        self,
        parent: int,
        fetched: list[tuple[str, str, RemoteNode | None, RemoteImage | None]],
    ) -> list[tuple[str, str, RemoteNode | None, RemoteImage | None]]:
        """A fetched listing with the changes made through this mount that the service's
        listing does not show yet (its listings lag behind creates and deletes), and with the
        files that exist only in this mount."""
        now = trio.current_time()
        removed = {
            identity for identity, until in self._removed.get(parent, {}).items() if until > now
        }
        out = [child for child in fetched if child[1] not in removed]
        shown = {child[1] for child in out}
        names = {child[0] for child in out}
        added = self._added.get(parent, {})
        for identity, (until, entry_inode) in list(added.items()):
            try:
                own = self.table.entry(entry_inode)
            except NotFound:
                del added[identity]
                continue
            if identity in shown:
                if own.local is None:
                    del added[identity]  # the service caught up
                continue
            if (until > now or own.local is not None) and own.name not in names:
                out.append((own.name, identity, own.node, own.image))
                names.add(own.name)
            elif own.local is None:
                del added[identity]
        return out

    def note_added(self, parent: int, entry: Entry) -> None:
        """Remember a child made through the mount until the service's listing shows it. A
        miss remembered for its name (the lookup before a mkdir, create or rename) is
        forgotten, so the next lookup finds the child."""
        self._added.setdefault(parent, {})[entry.identity] = (
            trio.current_time() + LISTING_LAG_GRACE,
            entry.inode,
        )
        self._removed.get(parent, {}).pop(entry.identity, None)
        self._missing.pop((parent, entry.name), None)

    def note_removed(self, parent: int, identity: str) -> None:
        """Remember a child deleted through the mount until the service's listing drops it."""
        self._removed.setdefault(parent, {})[identity] = trio.current_time() + LISTING_LAG_GRACE
        self._added.get(parent, {}).pop(identity, None)

    def _shown(self, node: RemoteNode) -> bool:
        """Folders and albums are shown; pages and unknown types are left out (logged once)."""
        if node.is_folder or node.is_album:
            return True
        self._leave_out(
            node.node_id,
            "%r: a %s node is not a folder or album",
            node.name,
            node.type or "typeless",
        )
        return False

    def _readable(self, image: RemoteImage) -> bool:
        """Images whose bytes cannot be had (a video still processing, an original the account
        may not download) are left out (logged once), rather than shown as empty files."""
        if image.readable:
            return True
        self._leave_out(
            image.image_key,
            "%r: the service offers no downloadable file for it yet",
            image.file_name,
        )
        return False

    def _leave_out(self, key: str, why: str, *args: object) -> None:
        """Log once per node or image that it is left out of listings, and why."""
        if key not in self._skipped:
            self._skipped.add(key)
            log.info("leaving out " + why, *args)

    def mark_fresh(self, inode: int) -> None:
        """A directory's listing is known to be current (just made through the mount)."""
        self._fresh[inode] = True

    def expire_parent(self, inode: int) -> None:
        """Drop the listing that showed `inode`, so the next access sees the service's state."""
        with contextlib.suppress(NotFound):
            parent = self.table.entry(inode).parent
            self.table.expire(parent)
            self._fresh.pop(parent, None)
            self.saved.drop(self.table.entry(parent).identity)

    # ------------------------------------------------------------------ files

    async def open(self, inode: int, *, write: bool = False, truncate: bool = False) -> int:
        """Open a file; writing stages it (see `changes.py`). Returns the handle."""
        entry = self.table.entry(inode)
        if entry.is_dir:
            raise IsADirectory(f"{entry.name} is a directory")
        if write:
            local = await self.changes.prepare_write(entry, truncate=truncate)
            local.writers += 1
        handle = self._next_handle
        self._next_handle += 1
        self._handles[handle] = Handle(inode, write)
        return handle

    def keep_cache(self, inode: int) -> bool:
        """Whether the kernel may keep the pages it cached of this file from an earlier open:
        only while its content is the same version (never for bytes that exist only here)."""
        entry = self.table.entry(inode)
        if entry.local is not None or entry.image is None:
            self._seen_versions.pop(inode, None)
            return False
        version = entry.image.version
        keep = self._seen_versions.get(inode) == version
        self._seen_versions[inode] = version
        return keep

    async def read(self, handle: int, offset: int, size: int) -> bytes | bytearray:
        """Bytes of an open file: staged bytes while there are any, else the service's."""
        opened = self._handle(handle)
        entry = self.table.entry(opened.inode)
        local = entry.local
        if local is not None and (entry.image is None or not local.uploaded or opened.writable):
            data: bytes = await self.staging.read(local, offset, size)
            return data
        if entry.image is None:
            raise NotFound(f"{entry.name} has no content")
        if opened.reader is None or opened.reader.image.version != entry.image.version:
            if opened.reader is not None:
                await opened.reader.close()
                opened.reader = None
            try:
                opened.reader = await self.read_path.open(entry.image)
            except NotFound:
                self.expire_parent(opened.inode)
                raise
        try:
            return await opened.reader.read(offset, size)
        except NotFound:
            # Deleted or replaced on the service since it was listed.
            self.expire_parent(opened.inode)
            raise

    async def write(self, handle: int, offset: int, data: bytes) -> int:
        """Write to an open file's staging copy."""
        opened = self._handle(handle)
        local = self.table.entry(opened.inode).local
        if not opened.writable or local is None:
            raise NotPermitted("the file is not open for writing")
        written = await self.staging.write(local, offset, data)
        local.mtime = time.time()
        return written

    async def flush(self, handle: int) -> None:
        """`close()` of a written file: returns once the service has confirmed the upload."""
        opened = self._handle(handle)
        if opened.writable:
            await self.changes.upload_if_needed(self.table.entry(opened.inode))

    async def release(self, handle: int) -> None:
        """The last close of a handle."""
        opened = self._handles.pop(handle, None)
        if opened is None:
            return
        if opened.reader is not None:
            await opened.reader.close()
        if opened.writable:
            with contextlib.suppress(NotFound):
                local = self.table.entry(opened.inode).local
                if local is not None:
                    local.writers = max(0, local.writers - 1)

    def _handle(self, handle: int) -> Handle:
        found = self._handles.get(handle)
        if found is None:
            raise NotFound("the file is not open")
        return found

    async def close(self) -> None:
        """Close every open file (at unmount)."""
        for handle in list(self._handles):
            await self.release(handle)
        await self.save_listings()

    def root_inode(self) -> int:
        """The inode of the mount's root."""
        return ROOT_INODE


def _folder_validator(node: RemoteNode) -> tuple[str, float]:
    """A folder's validator: its `DateModified` (never trusted when the service gives none)."""
    if node.date_modified is None:
        return "", math.inf
    return repr(node.date_modified), node.date_modified
