"""The inode table: which inode is which remote object, under which name, and for how long.

No I/O happens here. Inodes are handed out per remote identity (a node, or an image as shown
in one album) and stay the same for the life of the mount, so the kernel's view never changes
under it. Each directory's listing is kept here; `fs.py` decides when it is too old. Lookup
counts follow the kernel's (pyfuse3 rule 3): an entry that the kernel has forgotten and no
listing shows any more is dropped.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from smugfs.api.models import RemoteImage, RemoteNode
from smugfs.errors import NotFound

ROOT_INODE = 1


@dataclasses.dataclass(slots=True)
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
    local: Any = None

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
    """A directory's children by name, in listing order (how fresh it is, `fs.py` keeps)."""

    children: dict[str, int]


class InodeTable:
    """Inodes, their entries and the listings of directories."""

    def __init__(self, root: RemoteNode) -> None:
        identity = f"node:{root.node_id}"
        self._entries: dict[int, Entry] = {
            ROOT_INODE: Entry(ROOT_INODE, ROOT_INODE, "", root, identity=identity)
        }
        self._by_identity: dict[str, int] = {identity: ROOT_INODE}
        self._listings: dict[int, Listing] = {}
        self._next_inode = ROOT_INODE + 1

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, inode: int) -> Entry:
        """The entry of an inode, or NotFound."""
        found = self._entries.get(inode)
        if found is None:
            raise NotFound(f"inode {inode} is not known")
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
        """The directory's last listing, if any."""
        return self._listings.get(inode)

    def expire(self, inode: int) -> None:
        """Forget a directory's listing so that the next access fetches it again."""
        self._listings.pop(inode, None)

    def store_listing(
        self,
        parent: int,
        children: list[tuple[str, str, RemoteNode | None, RemoteImage | None]],
    ) -> list[Entry]:
        """Record a directory's children: (name, identity, node, image) in listing order.

        Existing identities keep their inodes (and get the new name and attributes); entries
        no longer listed here are dropped once the kernel holds no reference to them.
        """
        previous = self._listings.get(parent)
        entries = []
        names: dict[str, int] = {}
        for name, identity, node, image in children:
            inode = self._by_identity.get(identity)
            if inode is None:
                inode = self._next_inode
                self._next_inode += 1
                self._by_identity[identity] = inode
                self._entries[inode] = Entry(inode, parent, name, node, image, identity=identity)
            entry = self._entries[inode]
            entry.parent, entry.name, entry.node, entry.image = parent, name, node, image
            entry.listed = True
            names[name] = inode
            entries.append(entry)
        if previous is not None:
            for inode in set(previous.children.values()) - set(names.values()):
                gone = self._entries.get(inode)
                if gone is not None and gone.parent == parent:
                    gone.listed = False
                    self._drop_if_unused(gone)
        self._listings[parent] = Listing(names)
        return entries

    def add(
        self,
        parent: int,
        name: str,
        identity: str,
        *,
        node: RemoteNode | None = None,
        image: RemoteImage | None = None,
        local: Any = None,
    ) -> Entry:
        """Put a new child into a listed directory (after a change made through the mount)."""
        listing = self._listings.get(parent)
        inode = self._by_identity.get(identity)
        if inode is None:
            inode = self._next_inode
            self._next_inode += 1
            self._by_identity[identity] = inode
            self._entries[inode] = Entry(inode, parent, name, identity=identity)
        entry = self._entries[inode]
        entry.parent, entry.name, entry.node, entry.image, entry.local = (
            parent,
            name,
            node,
            image,
            local,
        )
        entry.listed = True
        if listing is not None:
            listing.children[name] = inode
        return entry

    def remove(self, parent: int, name: str) -> None:
        """Take a child out of a directory's listing (deleted through the mount)."""
        listing = self._listings.get(parent)
        inode = listing.children.pop(name, None) if listing is not None else None
        if inode is not None and inode in self._entries:
            entry = self._entries[inode]
            entry.listed = False
            self._drop_if_unused(entry)

    def move(self, entry: Entry, parent: int, name: str) -> None:
        """Give an entry a new place (renamed or moved through the mount); whatever had that
        name there before is taken out."""
        old = self._listings.get(entry.parent)
        if old is not None and old.children.get(entry.name) == entry.inode:
            del old.children[entry.name]
        target = self._listings.get(parent)
        if target is not None:
            replaced = target.children.get(name)
            if replaced is not None and replaced != entry.inode:
                self.remove(parent, name)
            target.children[name] = entry.inode
        entry.parent, entry.name, entry.listed = parent, name, True

    def rebind(self, entry: Entry, identity: str) -> None:
        """Let an inode stand for another remote object (an upload that became an image, an
        album turned into a folder), keeping the inode the kernel knows."""
        self._by_identity.pop(entry.identity, None)
        other = self._by_identity.get(identity)
        if other is not None and other != entry.inode:
            stale = self._entries.get(other)
            if stale is not None:
                stale.identity = ""
        self._by_identity[identity] = entry.inode
        entry.identity = identity

    def remember(self, inode: int, count: int = 1) -> None:
        """The kernel took `count` more references to `inode`."""
        self.entry(inode).lookups += count

    def forget(self, inode: int, count: int) -> None:
        """The kernel dropped `count` references (unknown inodes are ignored)."""
        found = self._entries.get(inode)
        if found is None or inode == ROOT_INODE:
            return
        found.lookups = max(0, found.lookups - count)
        self._drop_if_unused(found)

    def _drop_if_unused(self, entry: Entry) -> None:
        if entry.lookups == 0 and not entry.listed and entry.inode != ROOT_INODE:
            self._entries.pop(entry.inode, None)
            self._listings.pop(entry.inode, None)
            if self._by_identity.get(entry.identity) == entry.inode:
                del self._by_identity[entry.identity]
