"""Changes made through this mount, laid over the service's listings until they show them (the
service lists new and deleted images late), and the files that exist only in this mount."""

from __future__ import annotations

import trio

from smugfs.errors import NotFound
from smugfs.listing_store import Child
from smugfs.tree import Entry, InodeTable

# How long changes made through the mount are laid over the service's listings, which show
# new and deleted images only after a while.
LISTING_LAG_GRACE = 600.0


class OwnChanges:
    """Per directory: identity -> (until, inode) for additions, identity -> until for
    removals (times on trio's clock)."""

    def __init__(self) -> None:
        self._added: dict[int, dict[str, tuple[float, int]]] = {}
        self._removed: dict[int, dict[str, float]] = {}

    def lay_over(self, table: InodeTable, parent: int, fetched: list[Child]) -> list[Child]:
        """A fetched listing with the changes made through this mount that the service's
        listing does not show yet, and with the files that exist only in this mount."""
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
                own = table.entry(entry_inode)
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

    def added(self, parent: int, entry: Entry) -> None:
        """Remember a child made through the mount until the service's listing shows it."""
        self._added.setdefault(parent, {})[entry.identity] = (
            trio.current_time() + LISTING_LAG_GRACE,
            entry.inode,
        )
        self._removed.get(parent, {}).pop(entry.identity, None)

    def removed(self, parent: int, identity: str) -> None:
        """Remember a child deleted through the mount until the service's listing drops it."""
        self._removed.setdefault(parent, {})[identity] = trio.current_time() + LISTING_LAG_GRACE
        self._added.get(parent, {}).pop(identity, None)
