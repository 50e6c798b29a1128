"""The inode table: which inode is which remote object, under which name.

No I/O happens here beyond the point reads of its backing (the metadata database), and memory
does not grow with the library: the entries recently used and the listings recently read are
kept in bounded LRU caches, everything else is read back from the backing when asked for. Only
entries this mount changed itself (made, moved, renamed, or with bytes here) are held for as
long as that matters (*pinned*): the backing knows them only as the service lists them.

Inodes are handed out per remote identity (a node, or an image as shown in one album) and the
backing keeps them, so they stay the same for the life of the mount and across remounts. Each
directory's listing is kept here; `listings/core.py` decides when it is too old. An entry the
kernel still knows but no listing shows any more answers from memory while it is cached.
"""

from __future__ import annotations

import dataclasses
import uuid
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple, Protocol

from cachetools import LRUCache

from smugfs.api.models import RemoteImage, RemoteNode
from smugfs.errors import NotFound

if TYPE_CHECKING:
    # Only the type: the table holds a file's staged bytes but never works on them.
    from smugfs.staging import LocalFile

ROOT_INODE = 1
# How many entries and how many children of listings are kept in memory at most. A listing
# holds up to 5,000 images (the service's album cap); a walk keeps a few in reach.
ENTRY_CACHE = 20_000
LISTING_CACHE = 30_000


class Child(NamedTuple):
    """One child of a directory, as the service lists it."""

    name: str
    identity: str
    node: RemoteNode | None
    image: RemoteImage | None


# What a remote object is known by for the life of a mount (and in the saved metadata): one
# inode per identity. A node is itself; an image is itself within one album; a file that exists
# only here has a fresh random identity until it becomes a photo.
LOCAL = "local:"


def node_identity(node_id: str) -> str:
    """The identity of a folder or album."""
    return f"node:{node_id}"


def image_identity(album_node_id: str, image_key: str) -> str:
    """The identity of an image in an album (the same image in another album is another)."""
    return f"image:{album_node_id}:{image_key}"


def local_identity() -> str:
    """A new identity for a file the service does not hold."""
    return f"{LOCAL}{uuid.uuid4().hex}"


def is_local(identity: str) -> bool:
    """Whether an identity is of a file only this mount holds."""
    return identity.startswith(LOCAL)


# (inode, name, identity, node, image) of one child of a directory, in listing order.
Placed = tuple[int, str, str, RemoteNode | None, RemoteImage | None]


@dataclasses.dataclass(slots=True, weakref_slot=True)
class Entry:
    """A directory (folder or album) or a file (image) the kernel may know by inode."""

    inode: int
    parent: int
    name: str
    node: RemoteNode | None = None
    image: RemoteImage | None = None
    lookups: int = 0
    listed: bool = True
    identity: str = ""
    # A file with bytes in this mount that the service does not have (yet): being written,
    # waiting to be uploaded, or a desktop tool's bookkeeping file that is never uploaded.
    # Set through `local`, which pins the entry in its table.
    local_file: LocalFile | None = None
    table: InodeTable | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def local(self) -> LocalFile | None:
        """The file's bytes in this mount, if any (see `local_file`)."""
        return self.local_file

    @local.setter
    def local(self, value: LocalFile | None) -> None:
        self.local_file = value
        if value is not None and self.table is not None:
            self.table.pin(self)

    @property
    def is_dir(self) -> bool:
        """Folders and albums are directories."""
        return self.node is not None

    @property
    def is_album(self) -> bool:
        """Whether the entry is an album (holds files)."""
        return self.node is not None and self.node.is_album


@dataclasses.dataclass(slots=True)
class Listing:
    """A directory's children by name, in listing order, and which of them are directories
    (how fresh it is, `listings/core.py` keeps)."""

    children: dict[str, int]
    dirs: set[int] = dataclasses.field(default_factory=set)


class Backing(Protocol):
    """Where entries not in memory are read back from, and inodes kept (the database)."""

    inodes: Iterator[int]

    def placed(self, inode: int) -> tuple[int, Placed] | None:
        """(directory, child) of an inode in a saved listing, if one shows it."""

    def inode_of(self, identity: str) -> int | None:
        """The inode an identity was given, if any."""

    def bind(self, inode: int, identity: str, *, previous: str = "") -> None:
        """Keep that `inode` stands for `identity` now."""


class _Recent(LRUCache[int, Entry]):
    """Recently used entries; one with bytes in this mount is pinned as it leaves."""

    def __init__(self, maxsize: int, table: InodeTable) -> None:
        super().__init__(maxsize)
        self._table = table

    def popitem(self) -> tuple[int, Entry]:
        inode, entry = super().popitem()
        if entry.local_file is not None:
            self._table.pin(entry)
        return inode, entry


class InodeTable:
    """Inodes, their entries and the listings of directories."""

    def __init__(self, root: RemoteNode, backing: Backing) -> None:
        self._backing = backing
        identity = node_identity(root.node_id)
        top = Entry(ROOT_INODE, ROOT_INODE, "", root, identity=identity, table=self)
        self._pinned: dict[int, Entry] = {ROOT_INODE: top}
        self._pinned_ids: dict[str, int] = {identity: ROOT_INODE}
        self._recent = _Recent(ENTRY_CACHE, self)
        # Every entry still referenced anywhere, so that one inode is one object.
        self._live: weakref.WeakValueDictionary[int, Entry] = weakref.WeakValueDictionary()
        self._listings: LRUCache[int, Listing] = LRUCache(
            LISTING_CACHE, getsizeof=lambda listing: len(listing.children) + 1
        )

    def __len__(self) -> int:
        return len(self._live) + len(self._pinned)

    def _known(self, inode: int) -> Entry | None:
        """The entry of an inode if it is in memory."""
        found = self._pinned.get(inode)
        if found is None:
            found = self._recent.get(inode)
        if found is None:
            found = self._live.get(inode)
        return found

    def _keep(self, entry: Entry) -> None:
        self._recent[entry.inode] = entry
        self._live[entry.inode] = entry

    def entry(self, inode: int) -> Entry:
        """The entry of an inode, or NotFound."""
        found = self._known(inode)
        if found is None:
            placed = self._backing.placed(inode)
            if placed is None:
                raise NotFound(f"inode {inode} is not known")
            parent, (_, name, identity, node, image) = placed
            found = Entry(inode, parent, name, node, image, identity=identity, table=self)
        self._keep(found)
        return found

    def path(self, inode: int) -> str:
        """The entry's path below the mount's root, as a person would type it."""
        names: list[str] = []
        entry = self.entry(inode)
        while entry.inode != ROOT_INODE and len(names) < 64:
            names.append(entry.name)
            entry = self.entry(entry.parent)
        return "/".join(reversed(names))

    def listing(self, inode: int) -> Listing | None:
        """The directory's last listing, if it is in memory."""
        return self._listings.get(inode)

    def expire(self, inode: int) -> None:
        """Forget a directory's listing so that the next access fetches it again."""
        self._listings.pop(inode, None)

    def store_listing(self, parent: int, children: list[Placed]) -> Listing:
        """Record a directory's children (in listing order), replacing its listing in one
        step. Entries in memory get the new name and attributes."""
        names: dict[str, int] = {}
        dirs: set[int] = set()
        for inode, name, identity, node, image in children:
            entry = self._known(inode)
            if entry is None:
                entry = Entry(inode, parent, name, node, image, identity=identity, table=self)
            else:
                entry.parent, entry.name, entry.node, entry.image = parent, name, node, image
                entry.identity = identity
            entry.listed = True
            self._keep(entry)
            names[name] = inode
            if node is not None:
                dirs.add(inode)
        listing = Listing(names, dirs)
        self._remember_listing(parent, listing)
        return listing

    def _remember_listing(self, parent: int, listing: Listing) -> None:
        try:
            self._listings[parent] = listing
        except ValueError:
            # Larger than the whole cache: served this once, read back when asked again.
            self._listings.pop(parent, None)

    def inode_for(self, identity: str) -> int:
        """The inode of an identity, given a new one if it has none."""
        inode = self._pinned_ids.get(identity)
        if inode is None and not is_local(identity):
            inode = self._backing.inode_of(identity)
        if inode is None:
            inode = next(self._backing.inodes)
            self._backing.bind(inode, identity)
        return inode

    def add(
        self,
        parent: int,
        name: str,
        identity: str,
        *,
        node: RemoteNode | None = None,
        image: RemoteImage | None = None,
        local: LocalFile | None = None,
    ) -> Entry:
        """Put a new child into a listed directory (after a change made through the mount)."""
        inode = self.inode_for(identity)
        entry = self._known(inode)
        if entry is None:
            entry = Entry(inode, parent, name, identity=identity, table=self)
        entry.parent, entry.name, entry.node, entry.image = parent, name, node, image
        entry.identity = identity
        entry.local = local
        entry.listed = True
        self.pin(entry)
        listing = self._listings.get(parent)
        if listing is not None:
            listing.children[name] = inode
            if node is not None:
                listing.dirs.add(inode)
        return entry

    def restore(self, parent: int, child: Placed) -> Entry:
        """Hold an entry a change made by an earlier mount stands for (it is laid over the
        listings until the service shows it)."""
        inode, name, identity, node, image = child
        entry = self._known(inode) or Entry(inode, parent, name, identity=identity, table=self)
        entry.parent, entry.name, entry.node, entry.image = parent, name, node, image
        self.pin(entry)
        return entry

    def remove(self, parent: int, name: str) -> None:
        """Take a child out of a directory's listing (deleted through the mount)."""
        listing = self._listings.get(parent)
        inode = listing.children.pop(name, None) if listing is not None else None
        if inode is None or listing is None:
            return
        listing.dirs.discard(inode)
        entry = self._known(inode)
        if entry is not None:
            entry.listed = False
            if inode != ROOT_INODE:
                self._pinned.pop(inode, None)
                if self._pinned_ids.get(entry.identity) == inode:
                    del self._pinned_ids[entry.identity]

    def move(self, entry: Entry, parent: int, name: str) -> None:
        """Give an entry a new place (renamed or moved through the mount); whatever had that
        name there before is taken out."""
        old = self._listings.get(entry.parent)
        if old is not None and old.children.get(entry.name) == entry.inode:
            del old.children[entry.name]
            old.dirs.discard(entry.inode)
        target = self._listings.get(parent)
        if target is not None:
            replaced = target.children.get(name)
            if replaced is not None and replaced != entry.inode:
                self.remove(parent, name)
            target.children[name] = entry.inode
            if entry.is_dir:
                target.dirs.add(entry.inode)
        entry.parent, entry.name, entry.listed = parent, name, True
        self.pin(entry)

    def rebind(self, entry: Entry, identity: str) -> None:
        """Let an inode stand for another remote object (an upload that became an image, an
        album turned into a folder), keeping the inode the kernel knows."""
        previous = entry.identity
        if self._pinned_ids.get(previous) == entry.inode:
            del self._pinned_ids[previous]
        other = self._pinned_ids.get(identity)
        if other is not None and other != entry.inode:
            stale = self._known(other)
            if stale is not None:
                stale.identity = ""
        entry.identity = identity
        self.pin(entry)
        self._backing.bind(entry.inode, identity, previous="" if is_local(previous) else previous)

    def pin(self, entry: Entry) -> None:
        """Hold an entry in memory whatever the caches drop (changed by this mount)."""
        self._pinned[entry.inode] = entry
        self._live[entry.inode] = entry
        if entry.identity:
            self._pinned_ids[entry.identity] = entry.inode

    def unpin(self, inode: int) -> None:
        """Let a pinned entry go back to the caches once nothing of this mount's own is left
        in it (the service's listings show it, or bytes here are gone)."""
        entry = self._pinned.get(inode)
        if entry is None or inode == ROOT_INODE or entry.local_file is not None:
            return
        del self._pinned[inode]
        if self._pinned_ids.get(entry.identity) == inode:
            del self._pinned_ids[entry.identity]
        self._keep(entry)

    def held(self, inode: int) -> bool:
        """Whether `inode` is in use as far as this mount knows: pinned, or in memory with
        references the kernel took. (An entry the kernel holds that left the caches answers
        only from a listing that shows it, and so is not counted.)"""
        if inode in self._pinned:
            return True
        found = self._known(inode)
        return found is not None and found.lookups > 0

    def remember(self, inode: int, count: int = 1) -> None:
        """The kernel took `count` more references to `inode`."""
        found = self._known(inode)
        if found is not None:
            found.lookups += count

    def forget(self, inode: int, count: int) -> None:
        """The kernel dropped `count` references (unknown inodes are ignored)."""
        found = self._known(inode)
        if found is not None:
            found.lookups = max(0, found.lookups - count)
