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
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import stat

import trio
from cachetools import TTLCache

from smugfs.api.client import SmugMugClient
from smugfs.api.models import RemoteImage, RemoteNode
from smugfs.config import Settings
from smugfs.errors import NotFound
from smugfs.names import Named, assign_names
from smugfs.reader import OpenFile, ReadPath
from smugfs.tree import ROOT_INODE, Entry, InodeTable

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Attributes:
    """What `stat` shows for an inode."""

    inode: int
    mode: int
    nlink: int
    size: int
    mtime: float
    ctime: float
    crtime: float
    uid: int
    gid: int
    version: str = ""

    @property
    def is_dir(self) -> bool:
        """Whether the inode is a directory."""
        return stat.S_ISDIR(self.mode)


class Filesystem:
    """The filesystem's meaning: lookup, list, stat, open, read."""

    def __init__(self, client: SmugMugClient, settings: Settings, read_path: ReadPath) -> None:
        self.client = client
        self.settings = settings
        self.read_path = read_path
        self.uid = os.getuid()
        self.gid = os.getgid()
        self._table: InodeTable | None = None
        self._fetching: dict[int, trio.Event] = {}
        self._skipped: set[str] = set()
        self._handles: dict[int, tuple[int, OpenFile]] = {}
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

    @property
    def table(self) -> InodeTable:
        """The inode table (available after `start`)."""
        assert self._table is not None, "Filesystem.start() has not run"
        return self._table

    async def start(self) -> None:
        """Find the root folder (and so check that the service and credentials work)."""
        root = await self.client.root_node(self.settings.user)
        self._table = InodeTable(root)

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
            version=image.version,
        )

    async def getattr(self, inode: int) -> Attributes:
        """`stat` of a known inode (no network request)."""
        return self.attributes(self.table.entry(inode))

    # ------------------------------------------------------------------ directories

    async def lookup(self, parent: int, name: str) -> Attributes:
        """The child `name` of directory `parent`; NotFound if there is none."""
        if (parent, name) in self._missing:
            raise NotFound(f"no {name!r} here")
        children = await self._children(parent)
        inode = children.get(name)
        if inode is None:
            self._missing[(parent, name)] = True
            raise NotFound(f"no {name!r} here")
        return self.attributes(self.table.entry(inode))

    async def list_dir(self, inode: int) -> list[tuple[str, Attributes]]:
        """A directory's entries with their attributes, in listing order."""
        children = await self._children(inode)
        return [
            (name, self.attributes(self.table.entry(child))) for name, child in children.items()
        ]

    def remember(self, inode: int, count: int = 1) -> None:
        """The kernel took references to `inode` (lookup, readdirplus)."""
        self.table.remember(inode, count)

    def forget(self, inode: int, count: int) -> None:
        """The kernel dropped references to `inode`."""
        self.table.forget(inode, count)

    async def _children(self, inode: int) -> dict[str, int]:
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
            finally:
                del self._fetching[inode]
                done.set()
        listing = self.table.listing(inode)
        if listing is None:
            raise NotFound(f"{entry.name} could not be listed")
        return listing.children

    async def _fetch_listing(self, entry: Entry) -> None:
        node = entry.node
        assert node is not None
        children: list[tuple[str, str, RemoteNode | None, RemoteImage | None]] = []
        if node.is_album:
            assert node.album_uri is not None
            images = [
                i for i in await self.client.album_images(node.album_uri) if self._readable(i)
            ]
            names = assign_names(
                [Named(i.file_name, i.image_key, age=i.uploaded or 0.0) for i in images]
            )
            for name, image in zip(names, images, strict=True):
                identity = f"image:{node.node_id}:{image.image_key}"
                children.append((name, identity, None, image))
        elif node.is_folder:
            nodes = [n for n in await self.client.children(node) if self._shown(n)]
            names = assign_names(
                [
                    Named(n.name, n.node_id, age=n.date_added or 0.0, fallback=n.url_name)
                    for n in nodes
                ]
            )
            for name, child in zip(names, nodes, strict=True):
                children.append((name, f"node:{child.node_id}", child, None))
        self.table.store_listing(entry.inode, children, trio.current_time())
        self._fresh[entry.inode] = True

    def _shown(self, node: RemoteNode) -> bool:
        """Folders and albums are shown; pages and unknown types are left out (logged once)."""
        if node.is_folder or node.is_album:
            return True
        if node.node_id not in self._skipped:
            self._skipped.add(node.node_id)
            log.info(
                "leaving out %r: a %s node is not a folder or album",
                node.name,
                node.type or "typeless",
            )
        return False

    def _readable(self, image: RemoteImage) -> bool:
        """Images whose bytes cannot be had (a video still processing, an original the account
        may not download) are left out (logged once), rather than shown as empty files."""
        if image.readable:
            return True
        if image.image_key not in self._skipped:
            self._skipped.add(image.image_key)
            log.info(
                "leaving out %r: the service offers no downloadable file for it yet",
                image.file_name,
            )
        return False

    def expire_parent(self, inode: int) -> None:
        """Drop the listing that showed `inode`, so the next access sees the service's state."""
        with contextlib.suppress(NotFound):
            parent = self.table.entry(inode).parent
            self.table.expire(parent)
            self._fresh.pop(parent, None)

    # ------------------------------------------------------------------ files

    async def open(self, inode: int) -> tuple[int, bool]:
        """Open a file for reading; returns the handle and whether the kernel may keep the
        pages it cached from an earlier open (only while the content is unchanged)."""
        entry = self.table.entry(inode)
        if entry.image is None:
            raise IsADirectory(f"{entry.name} is a directory")
        try:
            opened = await self.read_path.open(entry.image)
        except NotFound:
            self.expire_parent(inode)
            raise
        handle = self._next_handle
        self._next_handle += 1
        self._handles[handle] = (inode, opened)
        version = entry.image.version
        keep = self._seen_versions.get(inode) == version
        self._seen_versions[inode] = version
        return handle, keep

    async def read(self, handle: int, offset: int, size: int) -> bytes:
        """Bytes of an open file."""
        found = self._handles.get(handle)
        if found is None:
            raise NotFound("the file is not open")
        inode, opened = found
        try:
            return await opened.read(offset, size)
        except NotFound:
            # Deleted or replaced on the service since it was listed.
            self.expire_parent(inode)
            raise

    async def release(self, handle: int) -> None:
        """Close an open file."""
        found = self._handles.pop(handle, None)
        if found is not None:
            await found[1].close()

    async def close(self) -> None:
        """Close every open file (at unmount)."""
        for handle in list(self._handles):
            await self.release(handle)

    def root_inode(self) -> int:
        """The inode of the mount's root."""
        return ROOT_INODE


class NotADirectory(NotFound):
    """A directory operation on a file."""

    errno = 20  # ENOTDIR


class IsADirectory(NotFound):
    """A file operation on a directory."""

    errno = 21  # EISDIR
