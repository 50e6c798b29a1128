"""What a SmugMug account looks like as a filesystem, without the FUSE bindings.

The root is the user's root folder; folders and albums are directories; an album's images and
videos are its files. A file's size is the exact byte size of what reading it returns (the
archived original of a photo, the largest MP4 rendition of a video) and its times are the
service's own, never the clock's. Attribute requests never cause a network request.

What the directories hold, how fresh that is and what is saved between mounts is the listings
component's (`smugfs.listings`); this module answers lookups and listings through it and keeps
the open files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import time

import trio

from smugfs.api.client import SmugMugClient
from smugfs.changes import Changes, HandBack
from smugfs.changes.context import ChangeContext
from smugfs.config import Settings
from smugfs.errors import IsADirectory, NotFound, NotPermitted
from smugfs.listings import Attributes, Listings
from smugfs.prefetch import Prefetcher
from smugfs.readahead import FileRead
from smugfs.reader import OpenFile, ReadPath
from smugfs.staging import Staging
from smugfs.thumbnails.requests import Requests
from smugfs.thumbnails.thumbnailer import Thumbnailer
from smugfs.tree import ROOT_INODE, Entry, InodeTable
from smugfs.upload_queue import UploadQueue
from smugfs.writers import killed_by_signal, process_group_leader

# The trash directories desktops look for on every mount (the freedesktop trash spec).
TRASH_PROBE = re.compile(r"^\.Trash(-\d+)?$")


@dataclasses.dataclass
class Handle:
    """An open file: its inode, whether it writes (and for which process, if known), and its
    reader of the service's bytes."""

    inode: int
    writable: bool
    writer: int = 0
    reader: OpenFile | None = None
    # The process that opened it, how it has read the service's bytes, and whether it is
    # expected to read them whole (`prefetch.py`).
    process: int = 0
    pattern: FileRead = dataclasses.field(default_factory=lambda: FileRead(0))
    whole: bool = False


class Filesystem:
    """The filesystem's meaning: lookup, list, stat, open, read."""

    def __init__(
        self,
        client: SmugMugClient,
        settings: Settings,
        read_path: ReadPath,
        staging: Staging,
        uploads: UploadQueue,
        hand_back: HandBack | None = None,
    ) -> None:
        self.listings = Listings(client, settings)
        # Changes work with the same listings, service and local files as reads.
        self.changes = Changes(
            ChangeContext(self.listings, client, settings, staging, read_path, uploads, hand_back)
        )
        self.client, self.settings = client, settings
        self.read_path, self.staging = read_path, staging
        self._handles: dict[int, Handle] = {}
        self._next_handle = 1
        self._seen_versions: dict[int, str] = {}
        # Made by the mount when thumbnails are on (it knows the mountpoint).
        self.thumbnails: Thumbnailer | None = None
        self.thumbnail_requests: Requests | None = None
        self.prefetch = Prefetcher(read_path, lambda: self.table, settings)

    @property
    def table(self) -> InodeTable:
        """The inode table (available after `start`)."""
        return self.listings.table

    async def start(self) -> None:
        """Read the saved listings and find the root folder (see `Listings.start`)."""
        await self.listings.start()

    def attach(self, nursery: trio.Nursery) -> None:
        """Let listings ahead of a walk, and files fetched ahead of a sweep, run in the mount's
        nursery (none before this)."""
        self.listings.attach(nursery)
        self.prefetch.attach(nursery)

    async def save_listings(self) -> None:
        """Write the listings to disk if they changed since the last time."""
        await self.listings.save()

    async def keep_listings_saved(self, interval: float = 30.0) -> None:
        """Save the listings every `interval` seconds while they change (and at unmount, by
        `close`), so a crash loses at most that much."""
        await self.listings.keep_saved(interval)

    # ------------------------------------------------------------------ attributes

    def attributes(self, entry: Entry) -> Attributes:
        """The attributes of an entry, from what the service said about it."""
        return self.listings.attributes(entry)

    async def getattr(self, inode: int) -> Attributes:
        """`stat` of a known inode (no network request)."""
        return self.attributes(self.table.entry(inode))

    # ------------------------------------------------------------------ directories

    async def lookup(self, parent: int, name: str) -> Attributes:
        """The child `name` of directory `parent`; NotFound if there is none."""
        if TRASH_PROBE.match(name):
            # Desktops (gvfs) look for their trash at the top of every mount as it appears;
            # such a directory is never made here (mkdir refuses it), so the listing at hand
            # answers, and the probe costs no request (nor makes the listing fresh before
            # anything else asked for it).
            listing = self.table.listing(parent)
            found = None if listing is None else listing.children.get(name)
            if found is None:
                raise NotFound(f"no {name!r} here")
            return self.attributes(self.table.entry(found))
        inode = await self.listings.find(parent, name)
        return self.attributes(self.table.entry(inode))

    async def list_dir(self, inode: int) -> list[tuple[str, Attributes]]:
        """A directory's entries with their attributes, in listing order (and the directories
        below it listed ahead of the walk that is likely to follow)."""
        if self.thumbnails is not None:
            # Before the listing: an album's renditions are asked for alongside it.
            await self.thumbnails.listed(inode)
        children = await self.listings.children_of(inode)
        self.listings.ahead.below(inode)
        return [
            (name, self.attributes(self.table.entry(child))) for name, child in children.items()
        ]

    def remember(self, inode: int, count: int = 1) -> None:
        """The kernel took references to `inode` (lookup, readdirplus)."""
        self.table.remember(inode, count)

    def forget(self, inode: int, count: int) -> None:
        """The kernel dropped references to `inode`."""
        self.table.forget(inode, count)

    async def children_of(self, inode: int) -> dict[str, int]:
        """A directory's current listing (see `Listings.children_of`)."""
        return await self.listings.children_of(inode)

    def expire_parent(self, inode: int) -> None:
        """Drop the listing that showed `inode`, so the next access sees the service's state."""
        self.listings.expire_parent(inode)

    # ------------------------------------------------------------------ files

    async def open(
        self, inode: int, *, write: bool = False, truncate: bool = False, pid: int = 0
    ) -> int:
        """Open a file (by process `pid`, if known); writing stages it (see `changes/`).
        Returns the handle."""
        entry = self.table.entry(inode)
        if entry.is_dir:
            raise IsADirectory(f"{entry.name} is a directory")
        whole = False
        size = entry.image.size if entry.image is not None else None
        pattern = FileRead(size or 0)
        if write:
            local = await self.changes.prepare_write(entry, truncate=truncate)
            local.writers += 1
        else:
            whole = self.prefetch.opened(pid, entry, pattern)
        handle = self._next_handle
        self._next_handle += 1
        writer = await trio.to_thread.run_sync(process_group_leader, pid) if write and pid else 0
        self._handles[handle] = Handle(
            inode, write, writer, process=pid, pattern=pattern, whole=whole
        )
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

    async def read(self, handle: int, offset: int, size: int) -> bytes | bytearray | memoryview:
        """Bytes of an open file: staged bytes while there are any, else the service's."""
        opened = self._handle(handle)
        entry = self.table.entry(opened.inode)
        local = entry.local
        # A staging copy being discarded (its upload done) is no longer read from.
        if (
            local is not None
            and not local.discarded
            and (entry.image is None or not local.uploaded or opened.writable)
        ):
            data: bytes = await self.staging.read(local, offset, size)
            return data
        if entry.image is None:
            raise NotFound(f"{entry.name} has no content")
        if opened.reader is None or opened.reader.image.version != entry.image.version:
            if opened.reader is not None:
                await opened.reader.close()
                opened.reader = None
            try:
                opened.reader = await self.read_path.open(entry.image, whole=opened.whole)
            except NotFound:
                self.expire_parent(opened.inode)
                raise
        opened.pattern.note(offset, size)
        try:
            return await opened.reader.read(offset, size)
        except NotFound:
            # Deleted or replaced on the service since it was listed.
            self.expire_parent(opened.inode)
            raise

    async def write(self, handle: int, offset: int, data: bytes) -> int:
        """Write to an open file's staging copy."""
        opened = self._handle(handle)
        entry = self.table.entry(opened.inode)
        await self.changes.hold_upload(entry)
        local = entry.local
        if not opened.writable or local is None:
            raise NotPermitted("the file is not open for writing")
        await self.changes.will_change(entry, local)
        written = await self.staging.write(local, offset, data)
        local.mtime = time.time()
        local.mtime_ns = None
        return written

    async def flush(self, handle: int) -> None:
        """`close()` of a written file: returns once the service has confirmed the upload
        (with write-back, once the upload is queued with the bytes and intent on disk)."""
        opened = self._handle(handle)
        if not opened.writable:
            return
        entry = self.table.entry(opened.inode)
        if (
            opened.writer
            and entry.local is not None
            and entry.local.dirty
            and await trio.to_thread.run_sync(killed_by_signal, opened.writer)
        ):
            # Not a close: the kernel closes the files of a killed program.
            await self.changes.abandon(entry)
            return
        await self.changes.upload_if_needed(entry)

    async def fsync(self, handle: int) -> None:
        """`fsync()` of a written file: returns once the service holds what was written so
        far (waiting for its queued upload, with write-back); the file stays open for writing."""
        opened = self._handle(handle)
        if opened.writable:
            entry = self.table.entry(opened.inode)
            if not await self.changes.wait_for_upload(entry):
                await self.changes.upload_if_needed(entry, closing=False)

    async def release(self, handle: int) -> None:
        """The last close of a handle."""
        opened = self._handles.pop(handle, None)
        if opened is None:
            return
        if not opened.writable:
            self.prefetch.closed(opened.process, opened.inode, opened.pattern)
        if opened.reader is not None:
            await opened.reader.close()
        if opened.writable:
            with contextlib.suppress(NotFound):
                entry = self.table.entry(opened.inode)
                if entry.local is not None:
                    entry.local.writers = max(0, entry.local.writers - 1)
                    await self.changes.settle(entry)

    def _handle(self, handle: int) -> Handle:
        found = self._handles.get(handle)
        if found is None:
            raise NotFound("the file is not open")
        return found

    async def close(self) -> None:
        """Close every open file (at unmount)."""
        for handle in list(self._handles):
            await self.release(handle)
        await self.listings.close()

    def root_inode(self) -> int:
        """The inode of the mount's root."""
        return ROOT_INODE
