"""Changes made through this mount, laid over the service's listings until they show them (the
service lists new and deleted images late), and the files that exist only in this mount. They
are kept in the metadata database too, so a remount goes on laying them over."""

from __future__ import annotations

import time

import trio

from smugfs.errors import NotFound
from smugfs.listings.database import Database, OwnRecord
from smugfs.tree import Entry, InodeTable, Placed, is_local

# How long changes made through the mount are laid over the service's listings, which show
# new and deleted images only after a while.
LISTING_LAG_GRACE = 600.0


class OwnChanges:
    """Per directory: identity -> (until, inode) for additions, identity -> until for
    removals (times on trio's clock)."""

    def __init__(self) -> None:
        self._added: dict[int, dict[str, tuple[float, int]]] = {}
        self._removed: dict[int, dict[str, float]] = {}
        self.database: Database | None = None

    def restore(self, table: InodeTable, database: Database) -> None:
        """Take up the changes an earlier mount of the account made and kept."""
        self.database = database
        now, wall = trio.current_time(), time.time()
        for change in database.own_changes():
            until = now + change.until - wall
            if not change.added:
                self._removed.setdefault(change.dir, {})[change.identity] = until
                continue
            if change.inode is None or change.name is None:
                continue
            table.restore(
                change.dir, (change.inode, change.name, change.identity, change.node, change.image)
            )
            self._added.setdefault(change.dir, {})[change.identity] = (until, change.inode)

    def lay_over(self, table: InodeTable, parent: int, fetched: list[Placed]) -> list[Placed]:
        """A fetched listing with the changes made through this mount that the service's
        listing does not show yet, and with the files that exist only in this mount."""
        now = trio.current_time()
        removed = {
            identity for identity, until in self._removed.get(parent, {}).items() if until > now
        }
        out = [child for child in fetched if child[2] not in removed]
        shown = {child[2] for child in out}
        names = {child[1] for child in out}
        added = self._added.get(parent, {})
        for identity, (until, entry_inode) in list(added.items()):
            try:
                own = table.entry(entry_inode)
            except NotFound:
                self._done(table, parent, identity, entry_inode)
                continue
            if identity in shown:
                if own.local is None:
                    self._done(table, parent, identity, entry_inode)  # the service caught up
                continue
            if (until > now or own.local is not None) and own.name not in names:
                out.append((entry_inode, own.name, identity, own.node, own.image))
                names.add(own.name)
            elif own.local is None:
                self._done(table, parent, identity, entry_inode)
        return out

    def _done(self, table: InodeTable, parent: int, identity: str, inode: int) -> None:
        """An addition no longer laid over its directory's listing."""
        del self._added[parent][identity]
        table.unpin(inode)
        if self.database is not None:
            self.database.drop_own(parent, identity)

    def added(self, parent: int, entry: Entry) -> None:
        """Remember a child made through the mount until the service's listing shows it."""
        until = trio.current_time() + LISTING_LAG_GRACE
        self._added.setdefault(parent, {})[entry.identity] = (until, entry.inode)
        self._removed.get(parent, {}).pop(entry.identity, None)
        if self.database is not None and (entry.node is not None or entry.image is not None):
            self.database.put_own(
                OwnRecord(
                    parent,
                    entry.identity,
                    True,
                    time.time() + LISTING_LAG_GRACE,
                    entry.inode,
                    entry.name,
                    entry.node,
                    entry.image,
                )
            )

    def removed(self, parent: int, identity: str) -> None:
        """Remember a child deleted through the mount until the service's listing drops it."""
        self._removed.setdefault(parent, {})[identity] = trio.current_time() + LISTING_LAG_GRACE
        self._added.get(parent, {}).pop(identity, None)
        if self.database is not None and not is_local(identity):
            self.database.put_own(
                OwnRecord(
                    parent,
                    identity,
                    False,
                    time.time() + LISTING_LAG_GRACE,
                    None,
                    None,
                    None,
                    None,
                )
            )
