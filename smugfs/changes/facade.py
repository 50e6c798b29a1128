"""`Changes`: the one object the filesystem and the FUSE adapter ask for a change.

It builds the parts of `smugfs.changes` over one `ChangeContext` and hands each request to the
part whose job it is; `rename` alone decides something, whether a directory or a file moves.
"""

from __future__ import annotations

from smugfs.changes.context import ChangeContext
from smugfs.changes.directories import Directories
from smugfs.changes.file_moves import FileMoves
from smugfs.changes.settling import Settling
from smugfs.changes.uploads import Uploader
from smugfs.changes.writes import Writes
from smugfs.errors import AlreadyExists
from smugfs.listings import Attributes
from smugfs.staging import LocalFile
from smugfs.tree import Entry


class Changes:
    """The changing half of the filesystem, working on the listings it shares with reads."""

    def __init__(self, context: ChangeContext) -> None:
        self.context = context
        self.settling = Settling(context)
        self.uploader = Uploader(context, self.settling)
        self.writes = Writes(context, self.uploader)
        self.directories = Directories(context)
        self.file_moves = FileMoves(context, self.uploader)

    @property
    def dropped(self) -> list[tuple[int, str]]:
        """(directory, name) of files dropped without a request that tells the kernel; the
        FUSE adapter empties it as it has the kernel forget them (see `Settling.dropped`)."""
        return self.settling.dropped

    def require_writable(self) -> None:
        """Refuse every change on a read-only mount."""
        self.context.require_writable()

    # ------------------------------------------------------------------ directories

    async def mkdir(self, parent: int, name: str) -> Attributes:
        """A new album (see `Directories.mkdir`)."""
        return await self.directories.mkdir(parent, name)

    async def rmdir(self, parent: int, name: str) -> None:
        """Delete an empty album or folder (see `Directories.rmdir`)."""
        await self.directories.rmdir(parent, name)

    # ------------------------------------------------------------------ files

    async def create(self, parent: int, name: str) -> Entry:
        """A new, empty file in an album (see `Writes.create`)."""
        return await self.writes.create(parent, name)

    async def prepare_write(self, entry: Entry, *, truncate: bool) -> LocalFile:
        """A staging copy to write to (see `Writes.prepare_write`)."""
        return await self.writes.prepare_write(entry, truncate=truncate)

    async def will_change(self, entry: Entry, local: LocalFile) -> None:
        """Before the bytes of a staging copy change (see `Writes.will_change`)."""
        await self.writes.will_change(entry, local)

    async def truncate(self, entry: Entry, size: int) -> None:
        """Set a file's size (see `Writes.truncate`)."""
        await self.writes.truncate(entry, size)

    def set_mtime(self, entry: Entry, mtime_ns: int) -> None:
        """Keep a modification time a tool set (see `Writes.set_mtime`)."""
        self.writes.set_mtime(entry, mtime_ns)

    async def unlink(self, parent: int, name: str) -> None:
        """Delete a file (see `FileMoves.unlink`)."""
        await self.file_moves.unlink(parent, name)

    async def rename(
        self, old_parent: int, old_name: str, new_parent: int, new_name: str, *, no_replace: bool
    ) -> None:
        """`mv` within the mount."""
        entry = await self.context.to_change(old_parent, old_name)
        target = await self.context.child(new_parent, new_name)
        if target is entry:
            return
        if target is not None and no_replace:
            raise AlreadyExists(f"{new_name!r} exists")
        if entry.is_dir:
            await self.directories.rename(entry, new_parent, new_name, target)
        else:
            await self.file_moves.rename(entry, new_parent, new_name, target)

    # ------------------------------------------------------------------ uploads

    async def show_finished_upload(self, path: str, album_uri: str, album_image_uri: str) -> None:
        """Show an upload finished for an earlier mount (see `Uploader.show_finished`)."""
        await self.uploader.show_finished(path, album_uri, album_image_uri)

    async def upload_if_needed(self, entry: Entry, *, closing: bool = True) -> None:
        """Upload a written file at close or fsync (see `Uploader.upload_if_needed`)."""
        await self.uploader.upload_if_needed(entry, closing=closing)

    async def hold_upload(self, entry: Entry) -> None:
        """Take back or wait for a file's upload before it changes (see `Uploader.hold`)."""
        await self.uploader.hold(entry)

    async def wait_for_upload(self, entry: Entry) -> bool:
        """Wait for a file's queued upload (see `Uploader.wait_for`)."""
        return await self.uploader.wait_for(entry)

    async def settle(self, entry: Entry) -> None:
        """Let a staged copy go once the service holds it (see `Settling.settle`)."""
        await self.settling.settle(entry)

    async def abandon(self, entry: Entry) -> None:
        """A killed writer's file: hand its bytes back (see `Settling.abandon`)."""
        await self.settling.abandon(entry)
