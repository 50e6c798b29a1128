"""Uploading a staged file: at close and at fsync, or through the queue with write-back.

`close()` and `fsync()` return the service's verdict: the upload is made before they return,
or (with write-back, at close) queued once the bytes and the intent are on disk. Only the
service's confirmation is waited for; reading the new photo back and settling the staged copy
run behind, in the queue's nursery, keyed by the staging file so that a later change of the
same file waits for them (`UploadQueue.after`).

The file's lock (`LocalFile.lock`) is held from the check that the file still needs its upload
to the end of the upload, so two closes or fsyncs of one file never upload it twice and no
write lands in the middle of one; after each wait, `entry.local is local` says whether the
file is still the one this upload is for.
"""

from __future__ import annotations

import contextlib
import functools
import logging

from smugfs.api.client import UploadSource
from smugfs.api.models import RemoteImage, RemoteNode
from smugfs.api.retry import Retry, RetryPolicy
from smugfs.changes.context import ChangeContext
from smugfs.changes.settling import Settling
from smugfs.errors import NotADirectory, NotFound, NotPermitted, ServiceUnavailable, SmugfsError
from smugfs.names import unescape
from smugfs.staging import IntentState, LocalFile, is_local_only, kept_dir
from smugfs.tree import ROOT_INODE, Entry, image_identity
from smugfs.upload_queue import Job

log = logging.getLogger(__name__)

# Reading back a just-uploaded image: the service may describe it only after a while.
READ_BACK = RetryPolicy(retries=2, first_delay=0.2)


class Uploader:
    """Uploads staged files and makes their entries stand for what the service then holds."""

    def __init__(self, context: ChangeContext, settling: Settling) -> None:
        self._context = context
        self._settling = settling

    async def upload_if_needed(self, entry: Entry, *, closing: bool = True) -> None:
        """Upload a staged file that has new bytes and a real name; returns once the service
        confirmed it (at `close()`, and at `fsync()` with `closing` false).

        While the file stays open for writing the staging copy stays too, so writes go on,
        and the next upload replaces the version this one made in place. A refusal at close
        leaves nothing behind: a new file is dropped, a replacement leaves the photo it would
        have replaced as it was. A refusal at fsync is reported and the writing goes on.

        With write-back, a close queues the upload once the bytes and the intent are on disk,
        and returns at once; a refusal then hands the bytes back in `recovered/` and is
        reported by `smugfs status` and `smugfs sync`."""
        local = entry.local
        if local is None or not local.dirty or is_local_only(entry.name) or local.size == 0:
            return
        if local.unlinked:
            return  # deleted while open: nothing to upload
        album = self._context.node(entry.parent)
        if not album.is_album or album.album_uri is None:
            raise NotPermitted("photos go into albums")
        if self._context.settings.writeback and closing and await self._queue(entry, local):
            return
        async with local.lock:
            # Another close or fsync of the same file may have uploaded it meanwhile.
            if entry.local is not local or not local.dirty:
                return
            uri = await self._upload_staged(entry, local, album, closing=closing)
        if closing:
            # close() has its answer; the new photo is read back behind it.
            follow = functools.partial(self.describe, entry, local, uri)
            await self._context.uploads.after(local, follow)
        else:
            await self.describe(entry, local, uri)

    async def _queue(self, entry: Entry, local: LocalFile) -> bool:
        """Write-back: once the bytes and the intent are on disk, leave the upload to the
        queue (`upload_queue.py`). Returns False when there is nothing to send (the bytes of
        the photo it replaces), which is then done at once."""
        context = self._context
        md5 = await context.staging.md5(local)
        if local.replace is not None and local.replace.md5 == md5:
            return False
        await context.journal.record(entry, IntentState.UPLOADING, md5, sent=False, durable=True)
        path = context.table.path(entry.inode)

        async def attempt(job: Job) -> None:
            async with local.lock:
                if entry.local is not local or not local.dirty:
                    return  # deleted, or uploaded some other way, meanwhile
                try:
                    # The album it goes to may have gone meanwhile: that is a refusal too.
                    album = context.node(entry.parent)
                    uri = await self._upload_staged(entry, local, album, closing=False)
                except ServiceUnavailable:
                    # Tried again by the queue, or by the next mount.
                    await context.journal.record(entry, IntentState.UPLOADING, md5)
                    raise
                except SmugfsError:
                    where = await context.staging.hand_back(
                        local, path, kept_dir(context.settings.cache_dir)
                    )
                    job.detail = f"its bytes are in {where}"
                    entry.local = None
                    if entry.image is None:
                        with contextlib.suppress(NotFound):
                            context.listings.note_removed(entry.parent, entry.identity)
                            context.table.remove(entry.parent, entry.name)
                    raise
            await context.uploads.after(local, functools.partial(self.describe, entry, local, uri))

        context.uploads.submit(local, path, local.size, attempt)
        log.info("queued %r (%d bytes) for upload", unescape(entry.name), local.size)
        return True

    async def hold(self, entry: Entry) -> None:
        """Before a file's bytes, name or place change: a queued upload of it is taken back
        (the next close queues it again), a running one is waited for."""
        local = entry.local
        if local is not None and await self._context.uploads.withdraw(local):
            await self._context.journal.record(entry, IntentState.WRITING)

    async def wait_for(self, entry: Entry) -> bool:
        """Wait for the queued or running upload of a file, if there is one, and raise the
        service's refusal; returns whether there was one."""
        local = entry.local
        job = None if local is None else self._context.uploads.job_of(local)
        if job is None:
            return False
        await job.outcome()
        return True

    async def _upload_staged(
        self, entry: Entry, local: LocalFile, album: RemoteNode, *, closing: bool
    ) -> str | None:
        """Upload a staged file (or, with the bytes of the photo it replaces, only what was
        said about it); returns the new AlbumImage URI, or None when nothing was uploaded.
        What the service holds now is described by `describe` afterwards."""
        context = self._context
        assert album.album_uri is not None
        md5 = await context.staging.md5(local)
        remote_name = unescape(entry.name)
        if local.replace is not None and local.replace.md5 == md5:
            await self._unchanged(entry, local, album, local.replace)
            return None
        log.info("uploading %r (%d bytes)", remote_name, local.size)
        await context.journal.record(entry, IntentState.UPLOADING, md5)
        # What was said about it (setxattr) goes with the upload; what is said meanwhile waits.
        sent = dict(local.fields)
        try:
            album_image_uri = await context.client.upload(
                album.album_uri,
                remote_name,
                UploadSource(local.path, local.size, md5),
                replace=local.replace,
                texts=sent,
            )
        except SmugfsError:
            if closing:
                await self._settling.drop_staged(entry)
            else:
                await context.journal.record(entry, IntentState.WRITING)
            raise
        local.dirty = False
        for name, value in sent.items():
            if local.fields.get(name) == value:
                del local.fields[name]
        await context.staging.forget(local)
        log.info("uploaded %r", remote_name)
        self.adopt(entry, album, album_image_uri)
        return album_image_uri

    async def _unchanged(
        self, entry: Entry, local: LocalFile, album: RemoteNode, image: RemoteImage
    ) -> None:
        """The same bytes as the photo it would replace (rsync and editors rewrite unchanged
        files): nothing to upload, only what was said about it, and the entry stands for it."""
        log.info("%r is unchanged; not uploading it again", unescape(entry.name))
        if local.fields:
            # Its bytes are the same, but what was said about it is new.
            image = await self._context.client.patch_image(image, local.fields)
            local.fields = {}
        if local.mtime_ns is not None:
            self._context.listings.kept_times.set(image.version, local.mtime_ns)
        local.dirty = False
        local.synced, local.prime = image, False
        renamed_over = entry.image is None
        entry.image = image
        if renamed_over:
            # A temporary file renamed over the photo: the entry now stands for it.
            self._context.table.rebind(entry, image_identity(album.node_id, image.image_key))
            self._context.listings.note_added(entry.parent, entry)

    async def describe(self, entry: Entry, local: LocalFile, uri: str | None) -> None:
        """After an upload: read the new photo back (it may be described only after a
        while), let the entry and its staging copy stand for it, then let the copy go
        (`Settling.settle`). Nothing waits for this but a change of the same file."""
        if uri is not None:
            image = await self.read_back(uri)
            synced = local.synced
            if (
                image is not None
                and entry.local is local
                and synced is not None
                and not synced.readable
                and synced.image_key == image.image_key
            ):
                # Still the image this upload made, known only by its URI until now.
                entry.image = image
                local.synced = local.replace = image
                if local.mtime_ns is not None:
                    self._context.listings.kept_times.set(image.version, local.mtime_ns)
                if local.fields:
                    # Titles, captions or keywords set while it was uploaded.
                    later, local.fields = local.fields, {}
                    patched = await self._context.client.patch_image(image, later)
                    entry.image = local.synced = local.replace = patched
        if entry.local is local:
            await self._settling.settle(entry)

    async def read_back(self, album_image_uri: str) -> RemoteImage | None:
        """A just-uploaded image as the service describes it, or None if it does not yet."""

        async def attempt() -> RemoteImage:
            try:
                return await self._context.client.album_image(album_image_uri)
            except NotFound as exc:
                raise Retry("not described yet", final=NotFound) from exc

        try:
            return await READ_BACK.run(f"reading back {album_image_uri}", attempt)
        except NotFound:
            return None

    def adopt(self, entry: Entry, album: RemoteNode, album_image_uri: str) -> None:
        """Make the entry stand for the uploaded image, and its staging copy (if any) the
        version the service now holds, known by its URI until `describe` reads it back."""
        key = album_image_uri.rsplit("/", 1)[-1].split("-")[0]
        self._context.table.rebind(entry, image_identity(album.node_id, key))
        self._context.listings.note_added(entry.parent, entry)
        local = entry.local
        if local is not None and local.replace is not None:
            self._context.listings.kept_times.forget(local.replace.version)
        if local is not None:
            # What the next upload of these bytes replaces: the image just made.
            local.synced = RemoteImage.parse({"ImageKey": key, "Uri": album_image_uri})
            local.replace, local.prime = local.synced, True

    async def show_finished(self, path: str, album_uri: str, album_image_uri: str) -> None:
        """Show a photo whose upload this mount finished for an earlier one (`recovery.py`)
        in its album at once, as this mount's own uploads are: laid over the album's listing
        until the service lists it. Left to the service's listing if the album is no longer
        at `path`, the name was written again through this mount meanwhile, or the photo
        cannot be read back."""
        context = self._context
        *directories, name = path.split("/")
        album = ROOT_INODE
        try:
            for directory in directories:
                album = await context.listings.find(album, directory)
            node = context.node(album)
            existing = await context.child(album, name)
        except (NotFound, NotADirectory):
            return
        if node.album_uri != album_uri or (existing is not None and existing.local is not None):
            return
        image = await self.read_back(album_image_uri)
        if image is None:
            return
        identity = image_identity(node.node_id, image.image_key)
        entry = context.table.add(album, name, identity, image=image)
        context.listings.note_added(album, entry)
