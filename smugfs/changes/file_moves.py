"""Files deleted, renamed and moved.

A file whose bytes live here (a temporary name, or not uploaded yet) is renamed locally, and a
real name uploads it. An uploaded photo moved to another album goes with `!moveimages` (same
image key); renamed, it is uploaded again under the new name with its title, caption and
keywords and the old image deleted, since the service ignores a change of `FileName`; renamed
to a temporary name in its album, it is parked (`parking.py`).

Any upload of the file queued or running is held first (`Uploader.hold`), so it neither lands
under the old name afterwards nor uploads bytes that are being moved.
"""

from __future__ import annotations

import logging

from smugfs.api.client import UploadSource, moved_image_uri
from smugfs.changes.context import ChangeContext, now
from smugfs.changes.uploads import Uploader
from smugfs.errors import IsADirectory, NotPermitted
from smugfs.names import unescape
from smugfs.staging import IntentState, is_local_only
from smugfs.tree import Entry, image_identity, local_identity

log = logging.getLogger(__name__)


class FileMoves:
    """Deletes, renames and moves the files of albums."""

    def __init__(self, context: ChangeContext, uploader: Uploader) -> None:
        self._context = context
        self._uploader = uploader

    async def rename(
        self, entry: Entry, new_parent: int, new_name: str, target: Entry | None
    ) -> None:
        """Rename or move the file `entry` to `new_name` in `new_parent`, over `target` (the
        file there now, if any)."""
        context = self._context
        if target is not None and target.is_dir:
            raise IsADirectory(f"{new_name!r} is a directory")
        await self._uploader.hold(entry)
        if target is not None:
            await self._uploader.hold(target)
        destination = context.node(new_parent)
        if not destination.is_album and not is_local_only(new_name):
            raise NotPermitted("photos go into albums")
        old_parent = entry.parent
        if entry.image is None or (entry.local is not None and entry.local.dirty):
            await self._rename_local(entry, new_parent, new_name, target)
            return
        image = entry.image
        if new_parent == old_parent and is_local_only(new_name) and target is None:
            await self._park(entry, new_name)
            return
        if new_parent != old_parent:
            assert destination.album_uri is not None
            await context.client.move_images(destination.album_uri, [image])
            moved = moved_image_uri(destination.album_uri, image)
            image = await context.client.album_image(moved)
            entry.image = image
            context.listings.note_removed(old_parent, entry.identity)
            context.table.rebind(entry, image_identity(destination.node_id, image.image_key))
            if target is not None and target.image is not None and new_name == entry.name:
                await context.client.delete(target.image.uri)
                context.listings.note_removed(new_parent, target.identity)
            context.table.move(entry, new_parent, entry.name)
            context.listings.note_added(new_parent, entry)
        if new_name != entry.name:
            await self._rename_uploaded(entry, new_name, target)

    async def unlink(self, parent: int, name: str) -> None:
        """Delete a photo from its album (or drop a file that exists only here)."""
        context = self._context
        entry = await context.to_change(parent, name)
        if entry.is_dir:
            raise IsADirectory(f"{name!r} is a directory")
        await self._uploader.hold(entry)
        if entry.image is not None:
            await context.client.delete(entry.image.uri)
            context.listings.kept_times.forget(entry.image.version)
            log.info("deleted %r", entry.image.file_name)
        if entry.local is not None:
            parked = context.parked.release(entry.local)
            if parked is not None:
                # The backup of a photo whose name nothing took over: deleting it deletes
                # the photo.
                await context.client.delete(parked.uri)
                log.info("deleted %r", parked.file_name)
            if entry.local.writers > 0:
                # Still open for writing: the descriptors keep working on the bytes (as on
                # any filesystem) until they are closed; nothing of it is uploaded.
                entry.local.unlinked = True
                await context.staging.forget(entry.local)
            else:
                local, entry.local = entry.local, None
                await context.staging.discard(local)
        context.listings.note_removed(parent, entry.identity)
        context.table.remove(parent, name)

    async def _rename_local(
        self, entry: Entry, new_parent: int, new_name: str, target: Entry | None
    ) -> None:
        """Bytes that live here (a temporary name, or not uploaded yet): the rename is
        local, and a real name uploads them now."""
        context = self._context
        local = entry.local
        assert local is not None
        if target is not None and target.image is not None:
            local.replace = target.image
        elif entry.image is None:
            local.replace = context.parked.take(new_parent, new_name)
        context.listings.note_removed(entry.parent, entry.identity)
        context.table.move(entry, new_parent, new_name)
        context.listings.note_added(new_parent, entry)
        if target is not None and target.local is not None:
            await context.staging.discard(target.local)
            target.local = None
        local.dirty = local.dirty or local.size > 0
        if local.writers == 0 and not is_local_only(new_name):
            await self._uploader.upload_if_needed(entry)
        else:
            await context.journal.record(entry, IntentState.WRITING)

    async def _park(self, entry: Entry, new_name: str) -> None:
        """An uploaded photo renamed to a temporary name in its album (an editor's backup
        before it saves): the photo stays on the service, parked under its old name, and
        `entry` becomes a local copy called `new_name` (see `parking.py`)."""
        context = self._context
        image = entry.image
        assert image is not None
        local = await context.staging.new(now())
        await context.copy_content(image, local)
        local.dirty = False
        local.parked = image
        old_parent, old_name, old_identity = entry.parent, entry.name, entry.identity
        context.parked.park(old_parent, old_name, image)
        context.table.rebind(entry, local_identity())
        entry.image = None
        entry.local = local
        context.listings.note_removed(old_parent, old_identity)
        context.table.move(entry, old_parent, new_name)
        context.listings.note_added(old_parent, entry)
        log.info(
            "%r renamed to %r: kept on the service until its name is written again",
            image.file_name,
            new_name,
        )

    async def _rename_uploaded(self, entry: Entry, new_name: str, target: Entry | None) -> None:
        """Give an uploaded photo a new name: upload it under that name (keeping its title,
        caption and keywords), then delete the old image."""
        context = self._context
        image = entry.image
        assert image is not None
        if image.is_video:
            raise NotPermitted("the service keeps no original of a video to upload again")
        album = context.node(entry.parent)
        assert album.album_uri is not None
        texts = await context.client.image_texts(image)
        # A renamed file keeps its modification time.
        mtime_ns = context.listings.kept_times.get(image.version)
        local = await context.staging.new(now())
        try:
            await context.copy_content(image, local)
            md5 = await context.staging.md5(local)
            replace = target.image if target is not None else None
            album_image_uri = await context.client.upload(
                album.album_uri,
                unescape(new_name),
                UploadSource(local.path, local.size, md5),
                replace=replace,
                texts=texts,
            )
            await context.client.delete(image.uri)
            context.listings.kept_times.forget(image.version)
        finally:
            await context.staging.discard(local)
        context.listings.note_removed(entry.parent, entry.identity)
        if target is not None:
            context.listings.note_removed(entry.parent, target.identity)
        context.table.move(entry, entry.parent, new_name)
        entry.local = None
        self._uploader.adopt(entry, album, album_image_uri)
        entry.image = await self._uploader.read_back(album_image_uri) or image
        if mtime_ns is not None:
            context.listings.kept_times.set(entry.image.version, mtime_ns)
        log.info("renamed %r to %r", image.file_name, unescape(new_name))
