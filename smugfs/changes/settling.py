"""Letting a staged copy go: once the service holds a file's bytes, or once they are given up.

A staged file outlives its upload while anything still writes it, and until the service
describes the version the upload made; then reads go to the service's version (the staged file
moved into the content cache when the bytes went from here) and the copy is discarded. A file
whose writer was killed is not uploaded: its new bytes are handed back and the file is what the
service holds.

All of it runs under the file's lock (`LocalFile.lock`), so a release and the end of an upload
never settle one copy twice; and since a release runs behind the close, a writer may reopen the
file while this waits. Settling therefore asks whether one did before every change it makes and
after every wait, and leaves the copy to that writer if so.
"""

from __future__ import annotations

import functools

from smugfs.changes.context import ChangeContext
from smugfs.staging import LocalFile, is_local_only
from smugfs.tree import Entry


class Settling:
    """Settles, abandons and drops the staged copies of files."""

    def __init__(self, context: ChangeContext) -> None:
        self._context = context
        # Files this filesystem removed on its own (a refused upload, a killed writer), not by
        # a request that tells the kernel (unlink, rename): (directory, name) until the kernel
        # has been told to forget its cached lookups of them.
        self.dropped: list[tuple[int, str]] = []

    async def settle(self, entry: Entry) -> None:
        """Once nothing writes a file any more and the service holds its bytes, its staging
        copy goes and reads are served by the service's version (put in the content cache
        when the bytes were just uploaded); a version the service does not describe yet, or
        re-encoded (a video), keeps serving the staged bytes."""
        local = entry.local
        if local is not None and local.unlinked and local.writers == 0:
            entry.local = None
            await self._context.staging.discard(local)
            return
        if local is None or local.writers > 0 or local.dirty:
            return
        # One settling at a time (a release and the end of an upload may both ask).
        async with local.lock:
            if entry.local is local:
                await self._settle(entry, local)

    async def _settle(self, entry: Entry, local: LocalFile) -> None:
        staging = self._context.staging

        def reopened() -> bool:
            # Opened for writing again while this waited (a release runs behind the close,
            # so the next open can come first): the copy is that writer's now. Asked before
            # every change here and after every wait.
            return entry.local is not local or local.writers > 0 or local.dirty

        if reopened():
            return
        if local.synced is None:
            if not local.uploaded and entry.image is not None and local.replace is entry.image:
                # Opened for writing and nothing written (`touch` opens a file to set its
                # time): the photo has those bytes.
                entry.local = None
                await staging.discard(local)
            return
        image = local.synced
        await staging.forget(local)
        same = not image.md5 or image.md5 == await staging.md5(local)
        if reopened():
            return
        if not image.readable:
            # Not described by the service yet (read back behind the close): the staged bytes
            # are the file's until it is, never the version it replaced.
            return
        if not same:
            local.uploaded = True
            return
        entry.image = image
        # The copy is let go before its bytes go to the content cache: a writer that opens the
        # file from here on gets a copy of its own, and this one's descriptor is closed, so
        # the cache can take the file itself instead of a copy of its bytes.
        entry.local = None
        if local.prime:
            await staging.pass_on(local, functools.partial(self._context.read_path.prime, image))
        else:
            await staging.discard(local)

    async def abandon(self, entry: Entry) -> None:
        """A file whose writer was killed before it closed it (`smugfs.writers`): nothing of
        it is uploaded. The bytes written since the service last had it are handed back and
        the file is what the service holds (if anything): the photo it was replacing, or the
        version an fsync uploaded. A file that someone else still writes is left to them."""
        local = entry.local
        if local is None or local.writers > 1 or is_local_only(entry.name):
            return
        async with local.lock:
            if entry.local is not local:
                return
            hand_back = self._context.hand_back
            if local.dirty and local.size and hand_back is not None:
                why = "its writer was killed before it closed the file"
                await hand_back(self._context.table.path(entry.inode), local.path, why)
            await self.drop_staged(entry)

    async def drop_staged(self, entry: Entry) -> None:
        """Forget a file's staged bytes; a file the service does not hold leaves the listing
        (and the kernel is told to forget its name, see `dropped`)."""
        local = entry.local
        if local is None:
            return
        entry.local = None
        await self._context.staging.discard(local)
        if entry.image is None:
            self._context.listings.note_removed(entry.parent, entry.identity)
            self._context.table.remove(entry.parent, entry.name)
            self.dropped.append((entry.parent, entry.name))
