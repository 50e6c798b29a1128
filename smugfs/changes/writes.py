"""Files being written: created, opened for writing, truncated, their times set.

A file opened for writing gets a staging copy (`staging.LocalFile`) holding its bytes: the
photo's current bytes unless it is truncated, nothing for a new file. Its intent says
`WRITING` from the moment it may differ from what the service holds, so a mount that dies
hands the bytes back rather than uploading a file nobody closed. Uploads are `uploads.py`'s.

An upload of the file queued or running is held (`Uploader.hold`) before its bytes change, and
the file's lock is taken where a settling of the copy could otherwise forget the new intent.
"""

from __future__ import annotations

from smugfs.changes.context import ChangeContext, now
from smugfs.changes.uploads import Uploader
from smugfs.errors import IsADirectory, NotPermitted
from smugfs.staging import IntentState, LocalFile
from smugfs.tree import Entry, local_identity


class Writes:
    """Stages the files written through the mount."""

    def __init__(self, context: ChangeContext, uploader: Uploader) -> None:
        self._context = context
        self._uploader = uploader

    async def create(self, parent: int, name: str) -> Entry:
        """A new, empty file in an album, staged until it is closed."""
        context = self._context
        context.require_writable()
        directory = context.table.entry(parent)
        if directory.node is None or not directory.node.is_album:
            raise NotPermitted("photos go into albums; a folder holds only albums and folders")
        existing = await context.child(parent, name)
        if existing is not None:
            await self.prepare_write(existing, truncate=True)
            return existing
        local = await context.staging.new(now())
        # Written under the name of a parked photo: it replaces that photo in place.
        local.replace = context.parked.take(parent, name)
        entry = context.table.add(parent, name, local_identity(), local=local)
        context.listings.note_added(parent, entry)
        await context.journal.record(entry, IntentState.WRITING)
        return entry

    async def prepare_write(self, entry: Entry, *, truncate: bool) -> LocalFile:
        """Make sure a file has a staging copy to write to (its current bytes unless the file
        is truncated); writing over a photo replaces that photo when the file is closed."""
        context = self._context
        context.require_writable()
        if entry.is_dir:
            raise IsADirectory(f"{entry.name!r} is a directory")
        await self._uploader.hold(entry)
        local = entry.local
        if local is None or local.uploaded:
            if local is not None:
                await context.staging.discard(local)
            local = await context.staging.new(now())
            local.replace = entry.image
            if entry.image is not None and not truncate:
                await context.copy_content(entry.image, local)
                local.dirty = False
            entry.local = local
            await context.journal.record(entry, IntentState.WRITING)
        if truncate and local.size:
            await self.will_change(entry, local)
            await context.staging.truncate(local, 0)
        return local

    def set_mtime(self, entry: Entry, mtime_ns: int) -> None:
        """A tool set a file's modification time (`utimens`): kept for the bytes being
        written (and then for the photo they become), or for the photo as it is."""
        local = entry.local
        if local is not None:
            local.mtime = mtime_ns / 1e9
            local.mtime_ns = mtime_ns
        if entry.image is not None and (local is None or not local.dirty):
            self._context.listings.kept_times.set(entry.image.version, mtime_ns)

    async def truncate(self, entry: Entry, size: int) -> None:
        """Set a file's size (`truncate`, `O_TRUNC`); uploads it if nothing has it open."""
        local = await self.prepare_write(entry, truncate=size == 0)
        if local.size != size:
            await self.will_change(entry, local)
            await self._context.staging.truncate(local, size)
        local.mtime = now()
        local.mtime_ns = None
        if local.writers == 0:
            await self._uploader.upload_if_needed(entry)

    async def will_change(self, entry: Entry, local: LocalFile) -> None:
        """Called before the bytes of a staging file change: once they differ from the
        version the service holds, a mount that dies hands them back (they were never closed)
        and the next upload replaces that version."""
        if not local.dirty and local.synced is not None:
            # Under the file's lock: a settling of the copy (`Settling._settle`) that runs
            # behind the last close forgets the intent under it, and must not forget this one.
            async with local.lock:
                if not local.dirty and local.synced is not None:
                    await self._context.journal.record(entry, IntentState.WRITING)
