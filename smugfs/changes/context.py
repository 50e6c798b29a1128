"""What every kind of change works with, and the checks they all make first.

One `ChangeContext` is shared by the parts of `smugfs.changes`. Its listings are the ones reads
use (`fs.py` holds the same object), so a change is seen by the next lookup. Its own state is
what more than one part keeps track of: the journal of intents and the parked photos.

Entries are the inode table's own objects and stay the same objects across awaits, but what
they say can change while a change waits for the service: a part that awaited asks again
(`entry.local is local`, the name looked up again) before it acts on what it saw before.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from smugfs.api.client import SmugMugClient
from smugfs.api.models import RemoteImage, RemoteNode
from smugfs.changes.journal import Journal
from smugfs.changes.parking import Parked
from smugfs.config import Settings
from smugfs.errors import NotADirectory, NotFound, ReadOnly
from smugfs.listings import Listings
from smugfs.reader import ReadPath
from smugfs.staging import LocalFile, Staging
from smugfs.tree import Entry, InodeTable
from smugfs.upload_queue import UploadQueue

# Hands back the bytes of a file that will not be uploaded: (path in the mount, staged file, why).
HandBack = Callable[[str, Path, str], Awaitable[None]]

# How much of a photo is brought into a staging file per read of the content cache.
COPY_CHUNK = 4 * 1024 * 1024


def now() -> float:
    """Wall-clock time: the times of files that exist only in this mount (the service has
    none for them yet)."""
    return time.time()


@dataclasses.dataclass
class ChangeContext:
    """The listings, the service and the local files every change goes through."""

    listings: Listings
    client: SmugMugClient
    settings: Settings
    staging: Staging
    read_path: ReadPath
    # The uploads that run in the background (write-back, and what killed mounts left).
    uploads: UploadQueue
    # Where the bytes of a file that will not be uploaded go (`Recovery.hand_back`).
    hand_back: HandBack | None = None
    journal: Journal = dataclasses.field(init=False)
    # Photos renamed to a temporary name: written by `Writes`, moved by `FileMoves`.
    parked: Parked = dataclasses.field(init=False, default_factory=Parked)

    def __post_init__(self) -> None:
        self.journal = Journal(self.listings, self.staging)

    @property
    def table(self) -> InodeTable:
        """The inode table of the listings (available once they have started)."""
        return self.listings.table

    def require_writable(self) -> None:
        """Refuse every change on a read-only mount."""
        if self.settings.read_only:
            raise ReadOnly("the mount is read-only")

    async def child(self, parent: int, name: str) -> Entry | None:
        """The entry called `name` in directory `parent`, if any."""
        inode = (await self.listings.children_of(parent)).get(name)
        return None if inode is None else self.table.entry(inode)

    async def to_change(self, parent: int, name: str) -> Entry:
        """The entry a change is asked for by name: on a read-only mount refused before
        anything is asked; NotFound if there is none."""
        self.require_writable()
        entry = await self.child(parent, name)
        if entry is None:
            raise NotFound(f"no {name!r}")
        return entry

    def node(self, inode: int) -> RemoteNode:
        """The folder or album at `inode`; NotADirectory for a file."""
        node = self.table.entry(inode).node
        if node is None:
            raise NotADirectory("not a directory")
        return node

    async def copy_content(self, image: RemoteImage, local: LocalFile) -> None:
        """Bring a photo's current bytes into a staging file (through the content cache)."""
        opened = await self.read_path.open(image)
        try:
            offset = 0
            size = image.size or 0
            while offset < size:
                chunk = await opened.read(offset, min(COPY_CHUNK, size - offset))
                if not chunk:
                    break
                await self.staging.write(local, offset, bytes(chunk))
                offset += len(chunk)
        finally:
            await opened.close()
