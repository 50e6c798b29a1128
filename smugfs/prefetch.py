"""Carrying out read-ahead across files: the sweeps `readahead.py` sees, fetched ahead.

The filesystem tells `Prefetcher` which process opens which file and how each file was read;
the decisions come from `readahead.Sweeps`. Each file fetched ahead is one background task in
the mount's nursery with a cancel scope of its own, so a decision to cut it (the sweep broke)
ends its GET at once. At most `concurrency` files are fetched ahead at a time, nearest first;
the budget in bytes is never more than a quarter of the content cache, so what is fetched ahead
is still there when it is read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from smugfs.config import Settings
from smugfs.errors import NotFound
from smugfs.readahead import Decision, FileRead, Limits, Listed, Sweeps
from smugfs.reader import ReadPath
from smugfs.tree import Entry, InodeTable

log = logging.getLogger(__name__)


def limits_of(settings: Settings) -> Limits:
    """The read-ahead budget of a mount: its settings, within what the content cache keeps."""
    return Limits(
        files=max(0, settings.readahead_files),
        size=max(0, min(settings.readahead_size, settings.cache_size // 4)),
    )


class Prefetcher:
    """Fetches ahead of the processes that sweep a directory."""

    def __init__(
        self, read_path: ReadPath, table: Callable[[], InodeTable], settings: Settings
    ) -> None:
        self.read_path = read_path
        self._table = table
        self.limits = limits_of(settings)
        self.sweeps = Sweeps(self.limits)
        self._slots = trio.Semaphore(max(1, settings.concurrency))
        # Per inode fetched ahead: the scope that cuts its task.
        self._scopes: dict[int, trio.CancelScope] = {}
        self._nursery: trio.Nursery | None = None

    def attach(self, nursery: trio.Nursery) -> None:
        """Where the fetches ahead run (none before this)."""
        self._nursery = nursery

    def opened(self, process: int, entry: Entry, read: FileRead) -> bool:
        """Process `process` opened `entry` to read it (as `read` will tell); whether it is
        expected to read it whole (so its first read fetches all of it)."""
        if self.limits.files <= 0 or entry.image is None:
            return False
        try:
            decision = self.sweeps.opened(
                process, entry.parent, entry.inode, lambda: self._listing(entry.parent), read
            )
        except Exception:
            # A guess gone wrong must never fail an open: the file is read without one.
            log.exception("read-ahead failed for %s", entry.name)
            return False
        if decision.whole or decision.fetch or decision.cut:
            log.debug(
                "process %d opened %s: whole %s, ahead %s, cut %s",
                process,
                entry.name,
                decision.whole,
                [f.name for f in decision.fetch],
                decision.cut,
            )
        self._apply(decision)
        return decision.whole

    def closed(self, process: int, inode: int, read: FileRead) -> None:
        """Process `process` closed file `inode`, read as `read` says."""
        if self.limits.files <= 0:
            return
        log.debug("process %d closed inode %d: %s", process, inode, read)
        self._apply(self.sweeps.closed(process, inode, read))

    def fetching(self) -> list[int]:
        """The inodes being fetched ahead now (or waiting for a slot)."""
        return list(self._scopes)

    def _listing(self, directory: int) -> list[Listed]:
        """The readable files of `directory` as its listing orders them (no request)."""
        table = self._table()
        listing = table.listing(directory)
        if listing is None:
            return []
        files = []
        for name, inode in listing.children.items():
            try:
                child = table.entry(inode)
            except NotFound:
                continue
            image = child.image
            if child.is_dir or image is None or image.size is None or image.media_url is None:
                continue
            files.append(Listed(name, inode, image.size))
        return files

    def _apply(self, decision: Decision) -> None:
        for inode in decision.cut:
            scope = self._scopes.pop(inode, None)
            if scope is not None:
                scope.cancel()
        if self._nursery is None:
            return
        for file in decision.fetch:
            if file.inode in self._scopes:
                continue
            scope = trio.CancelScope()
            self._scopes[file.inode] = scope
            self._nursery.start_soon(self._fetch_ahead, file.inode, scope)

    async def _fetch_ahead(self, inode: int, scope: trio.CancelScope) -> None:
        # A task of the mount's nursery: it must never raise.
        try:
            with scope:
                async with self._slots:
                    try:
                        image = self._table().entry(inode).image
                    except NotFound:
                        return
                    if image is None:
                        return
                    try:
                        await self.read_path.fetch_ahead(image)
                    except Exception as exc:  # a file gone or a failed GET: only not fetched
                        log.debug("fetching %s ahead failed: %s", image.file_name, exc)
        finally:
            if self._scopes.get(inode) is scope:
                del self._scopes[inode]
