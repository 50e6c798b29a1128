"""Listing ahead of a walk: when a directory is read, the folders below it are listed in the
background a few levels deep and the albums in it too, several at once, most recently asked for
first, so that `find`, `du` or a file manager finds them listed instead of waiting out one round
trip per directory in turn. Albums deeper down are left alone: one can hold 5,000 images."""

from __future__ import annotations

import collections
import logging
from collections.abc import Awaitable, Callable, Container

import trio

from smugfs.errors import SmugfsError
from smugfs.tree import InodeTable

log = logging.getLogger(__name__)

PREFETCH_DEPTH = 3
PREFETCH_CONCURRENCY = 16
# At most this many directories wait to be listed ahead; the ones asked for longest ago go.
PREFETCH_QUEUE = 10_000


class ListingAhead:
    """The queue of directories to list ahead and the tasks that list them."""

    def __init__(
        self,
        table: Callable[[], InodeTable],
        fresh: Container[int],
        list_one: Callable[[int], Awaitable[object]],
    ) -> None:
        self._table = table
        self._fresh = fresh
        self._list_one = list_one
        self._nursery: trio.Nursery | None = None
        # Directories waiting to be listed ahead (newest last) or being listed, and how many
        # tasks list them.
        self._queue: collections.OrderedDict[int, int] = collections.OrderedDict()
        self._listing: set[int] = set()
        self._workers = 0

    def attach(self, nursery: trio.Nursery) -> None:
        """Let listings ahead run in the mount's nursery (none before this)."""
        self._nursery = nursery

    def below(self, inode: int, depth: int = PREFETCH_DEPTH) -> None:
        """Queue the folders below a listed directory `depth` levels deep, and the albums in
        it when it is the one read (fresh ones are only looked through)."""
        table = self._table()
        listing = table.listing(inode)
        if self._nursery is None or depth <= 0 or listing is None:
            return
        for child in listing.children.values():
            entry = table.entry(child)
            if entry.node is None or child in self._listing:
                continue
            if not entry.node.is_folder and depth < PREFETCH_DEPTH:
                continue
            if child in self._fresh:
                self.below(child, depth - 1)
                continue
            # Asked for again: to the end of the queue, where the next listing comes from.
            self._queue.pop(child, None)
            self._queue[child] = depth - 1
            if len(self._queue) > PREFETCH_QUEUE:
                self._queue.popitem(last=False)
        while self._workers < PREFETCH_CONCURRENCY and self._queue:
            self._workers += 1
            self._nursery.start_soon(self._work)

    async def _work(self) -> None:
        """List queued directories, newest first, until none is left."""
        try:
            while self._queue:
                inode, depth = self._queue.popitem()
                self._listing.add(inode)
                try:
                    await self._list_one(inode)
                except SmugfsError as exc:
                    # Whoever lists it for real will see the error; this was only ahead of time.
                    log.debug("listing ahead of time failed: %s", exc)
                    continue
                finally:
                    self._listing.discard(inode)
                self.below(inode, depth)
        finally:
            self._workers -= 1
