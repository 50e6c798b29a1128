"""Changing the library through the mount: mkdir, rmdir, rename, unlink and uploads.

The rules, and why:

- A new directory is an album, because that is where photos go. A directory made inside an
  album that holds no photos turns that album into a folder (the service cannot change a node's
  type, so the empty album is replaced by a folder of the same name), so `mkdir -p A/B/C` gives
  folders A and B and the album C. A folder cannot hold photos and an album with photos cannot
  hold directories (EPERM); folders nest at most five deep (EMLINK).
- `rmdir` asks the service afresh whether a directory is empty and refuses otherwise
  (ENOTEMPTY): the service deletes a folder with everything in it, so a stale listing must never
  decide.
- A file written through the mount is staged locally and uploaded when it is closed; `close()`
  returns only once the service has confirmed it, or reports why not. Writing over an existing
  photo replaces it in place (same image key, captions and links). Names that desktop tools and
  editors use for themselves, and temporary names, stay local until renamed to a real name
  (rsync's temp-file-then-rename), which then uploads.
- The service ignores a change of `FileName`, so renaming an uploaded photo uploads its bytes
  under the new name (with its title, caption and keywords) and deletes the old image. Moving a
  photo to another album uses `!moveimages` (same image key).
- Every change is laid over the service's listings until they show it (`Listings.note_added`,
  `Listings.note_removed`), because the service lists new and deleted images late.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from smugfs.api.client import SmugMugClient, UploadSource, moved_image_uri
from smugfs.api.models import ALBUM, FOLDER, RemoteImage, RemoteNode
from smugfs.api.retry import Retry, RetryPolicy
from smugfs.config import Settings
from smugfs.errors import (
    AlreadyExists,
    IsADirectory,
    NotADirectory,
    NotEmpty,
    NotFound,
    NotPermitted,
    ReadOnly,
    ServiceUnavailable,
    SmugfsError,
    TooDeep,
)
from smugfs.kept_times import KeptTimes
from smugfs.listings import Attributes, Listings
from smugfs.names import unescape
from smugfs.reader import ReadPath
from smugfs.staging import (
    UPLOADING,
    WRITING,
    Intent,
    LocalFile,
    Staging,
    is_bookkeeping_dir,
    is_local_only,
    kept_dir,
)
from smugfs.tree import (
    ROOT_INODE,
    Entry,
    InodeTable,
    image_identity,
    local_identity,
    node_identity,
)
from smugfs.upload_queue import Job, UploadQueue

log = logging.getLogger(__name__)

# Hands back the bytes of a file that will not be uploaded: (path in the mount, staged file, why).
HandBack = Callable[[str, Path, str], Awaitable[None]]

MAX_FOLDER_DEPTH = 5
# Reading back a just-uploaded image: the service may describe it only after a while.
READ_BACK = RetryPolicy(retries=2, first_delay=0.2)


class Changes:
    """The changing half of the filesystem, working on the listings it shares with reads."""

    def __init__(
        self,
        listings: Listings,
        client: SmugMugClient,
        settings: Settings,
        staging: Staging,
        read_path: ReadPath,
        uploads: UploadQueue,
        hand_back: HandBack | None = None,
    ) -> None:
        self.listings = listings
        # Where the bytes of a file that will not be uploaded go (`Recovery.hand_back`).
        self.hand_back = hand_back
        # Files this filesystem removed on its own (a refused upload, a killed writer), not by
        # a request that tells the kernel (unlink, rename): (directory, name) until the kernel
        # has been told to forget its cached lookups of them.
        self.dropped: list[tuple[int, str]] = []
        self.client = client
        self.settings = settings
        self.staging = staging
        self.read_path = read_path
        # The uploads that run in the background (write-back, and what killed mounts left).
        self.uploads = uploads
        # Photos renamed to a temporary name, by the directory and name they had.
        self._parked: dict[tuple[int, str], RemoteImage] = {}

    @property
    def table(self) -> InodeTable:
        """The inode table of the listings."""
        return self.listings.table

    async def _children(self, inode: int) -> dict[str, int]:
        return await self.listings.children_of(inode)

    def attributes(self, entry: Entry) -> Attributes:
        """What `stat` shows for an entry."""
        return self.listings.attributes(entry)

    def note_added(self, parent: int, entry: Entry) -> None:
        """See `Listings.note_added`."""
        self.listings.note_added(parent, entry)

    def note_removed(self, parent: int, identity: str) -> None:
        """See `Listings.note_removed`."""
        self.listings.note_removed(parent, identity)

    def mark_fresh(self, inode: int) -> None:
        """See `Listings.mark_fresh`."""
        self.listings.mark_fresh(inode)

    @property
    def kept_times(self) -> KeptTimes:
        """The times tools set on photos (see `kept_times.py`)."""
        return self.listings.kept_times

    # ------------------------------------------------------------------ helpers

    def require_writable(self) -> None:
        """Refuse every change on a read-only mount."""
        if self.settings.read_only:
            raise ReadOnly("the mount is read-only")

    async def child(self, parent: int, name: str) -> Entry | None:
        """The entry called `name` in directory `parent`, if any."""
        inode = (await self._children(parent)).get(name)
        return None if inode is None else self.table.entry(inode)

    def _node(self, inode: int) -> RemoteNode:
        node = self.table.entry(inode).node
        if node is None:
            raise NotADirectory("not a directory")
        return node

    def _folder_depth(self, inode: int) -> int:
        """How many folders below the root a directory is (the root is 0)."""
        depth = 0
        while inode != ROOT_INODE:
            inode = self.table.entry(inode).parent
            depth += 1
        return depth

    # ------------------------------------------------------------------ directories

    async def mkdir(self, parent: int, name: str) -> Attributes:
        """A new album (turning an empty parent album into a folder first)."""
        self.require_writable()
        if is_bookkeeping_dir(name):
            raise NotPermitted(f"{name!r} is a desktop tool's directory; it is not kept")
        children = await self._children(parent)
        if name in children:
            raise AlreadyExists(f"{name!r} exists")
        entry = self.table.entry(parent)
        node = self._node(parent)
        if node.is_album:
            if children:
                raise NotPermitted(f"{entry.name!r} is an album with photos: no directories")
            node = await self._album_to_folder(entry)
        created = await self.client.create_node(node, unescape(name), ALBUM)
        new = self.table.add(parent, name, node_identity(created.node_id), node=created)
        self.table.store_listing(new.inode, [])
        self.mark_fresh(new.inode)
        self.note_added(parent, new)
        log.info("created album %r", created.name)
        return self.attributes(new)

    async def _album_to_folder(self, entry: Entry) -> RemoteNode:
        """Replace an empty album by a folder of the same name (a node cannot change type)."""
        album = entry.node
        assert album is not None
        assert album.album_uri is not None
        if self._folder_depth(entry.inode) > MAX_FOLDER_DEPTH:
            raise TooDeep(f"folders nest at most {MAX_FOLDER_DEPTH} deep")
        if await self.client.image_count(album.album_uri) > 0:
            raise NotPermitted(f"{entry.name!r} is an album with photos: no directories")
        parent = self._node(entry.parent)
        await self.client.delete(album.uri)
        folder = await self.client.create_node(parent, album.name, FOLDER)
        old_identity = entry.identity
        self.table.rebind(entry, node_identity(folder.node_id))
        entry.node = folder
        self.table.store_listing(entry.inode, [])
        self.note_removed(entry.parent, old_identity)
        self.note_added(entry.parent, entry)
        log.info("turned the empty album %r into a folder", folder.name)
        return folder

    async def rmdir(self, parent: int, name: str) -> None:
        """Delete an empty album or folder; anything in it (on the service, now) refuses."""
        self.require_writable()
        entry = await self.child(parent, name)
        if entry is None:
            raise NotFound(f"no {name!r}")
        node = entry.node
        if node is None:
            raise NotADirectory(f"{name!r} is not a directory")
        listing = self.table.listing(entry.inode)
        if listing is not None and listing.children:
            raise NotEmpty(f"{name!r} is not empty")
        # Ask the service afresh: it deletes a folder with its whole subtree.
        if node.is_album and node.album_uri is not None:
            if await self.client.image_count(node.album_uri) > 0:
                raise NotEmpty(f"{name!r} still holds photos on the service")
        elif node.is_folder and await self.client.children(node):
            raise NotEmpty(f"{name!r} still holds albums or folders on the service")
        await self.client.delete(node.uri)
        self.note_removed(parent, entry.identity)
        self.table.remove(parent, name)
        log.info("deleted %s %r", node.type.lower(), node.name)

    # ------------------------------------------------------------------ files

    async def unlink(self, parent: int, name: str) -> None:
        """Delete a photo from its album (or drop a file that exists only here)."""
        self.require_writable()
        entry = await self.child(parent, name)
        if entry is None:
            raise NotFound(f"no {name!r}")
        if entry.is_dir:
            raise IsADirectory(f"{name!r} is a directory")
        await self.hold_upload(entry)
        if entry.image is not None:
            await self.client.delete(entry.image.uri)
            self.kept_times.forget(entry.image.version)
            log.info("deleted %r", entry.image.file_name)
        if entry.local is not None:
            parked = self._parked_by(entry.local)
            if parked is not None:
                # The backup of a photo whose name nothing took over: deleting it deletes
                # the photo.
                del self._parked[parked]
                await self.client.delete(entry.local.parked.uri)
                log.info("deleted %r", entry.local.parked.file_name)
            if entry.local.writers > 0:
                # Still open for writing: the descriptors keep working on the bytes (as on
                # any filesystem) until they are closed; nothing of it is uploaded.
                entry.local.unlinked = True
                await self.staging.forget(entry.local)
            else:
                local, entry.local = entry.local, None
                await self.staging.discard(local)
        self.note_removed(parent, entry.identity)
        self.table.remove(parent, name)

    async def create(self, parent: int, name: str) -> Entry:
        """A new, empty file in an album, staged until it is closed."""
        self.require_writable()
        directory = self.table.entry(parent)
        if directory.node is None or not directory.node.is_album:
            raise NotPermitted("photos go into albums; a folder holds only albums and folders")
        existing = await self.child(parent, name)
        if existing is not None:
            await self.prepare_write(existing, truncate=True)
            return existing
        local = await self.staging.new(_now())
        local.replace = self._parked.pop((parent, name), None)
        entry = self.table.add(parent, name, local_identity(), local=local)
        self.note_added(parent, entry)
        await self._journal(entry, WRITING)
        return entry

    async def _journal(
        self, entry: Entry, state: str, md5: str = "", *, sent: bool = True, durable: bool = False
    ) -> None:
        """Write down where a staged file is going (see `staging.Intent`), so that a mount
        killed before its upload is confirmed leaves enough for the next one to finish it.
        Files that stay local have nothing to finish."""
        local = entry.local
        if local is None:
            return
        album = self.table.entry(entry.parent).node
        if local.unlinked or is_local_only(entry.name) or album is None or album.album_uri is None:
            await self.staging.forget(local)
            return
        intent = Intent(
            state=state,
            album_uri=album.album_uri,
            path=self.table.path(entry.inode),
            name=unescape(entry.name),
            replaces=local.replace.uri if local.replace is not None else None,
            md5=md5,
            size=local.size,
            started=time.time(),
            sent=sent,
            fields=dict(local.fields),
        )
        await self.staging.record(local, intent, durable=durable)

    def _parked_by(self, local: LocalFile) -> tuple[int, str] | None:
        """The place of the photo a backup file stands for, while that photo is parked."""
        if local.parked is None:
            return None
        for place, image in self._parked.items():
            if image is local.parked:
                return place
        return None

    async def _park(self, entry: Entry, new_name: str) -> None:
        """An uploaded photo renamed to a temporary name (an editor's backup before it saves):
        the photo stays on the service, parked under its old name, and the renamed file is a
        local copy. A file then written under the old name replaces the photo in place (same
        key and captions); deleting the copy while the photo is still parked deletes it."""
        image = entry.image
        assert image is not None
        local = await self.staging.new(_now())
        await self._copy_content(image, local)
        local.dirty = False
        local.parked = image
        old_parent, old_name, old_identity = entry.parent, entry.name, entry.identity
        self._parked[(old_parent, old_name)] = image
        self.table.rebind(entry, local_identity())
        entry.image = None
        entry.local = local
        self.note_removed(old_parent, old_identity)
        self.table.move(entry, old_parent, new_name)
        self.note_added(old_parent, entry)
        log.info(
            "%r renamed to %r: kept on the service until its name is written again",
            image.file_name,
            new_name,
        )

    async def prepare_write(self, entry: Entry, *, truncate: bool) -> LocalFile:
        """Make sure a file has a staging copy to write to (its current bytes unless the file
        is truncated); writing over a photo replaces that photo when the file is closed."""
        self.require_writable()
        if entry.is_dir:
            raise IsADirectory(f"{entry.name!r} is a directory")
        await self.hold_upload(entry)
        local: LocalFile | None = entry.local
        if local is None or local.uploaded:
            if local is not None:
                await self.staging.discard(local)
            local = await self.staging.new(_now())
            local.replace = entry.image
            if entry.image is not None and not truncate:
                await self._copy_content(entry.image, local)
                local.dirty = False
            entry.local = local
            await self._journal(entry, WRITING)
        if truncate and local.size:
            await self.will_change(entry, local)
            await self.staging.truncate(local, 0)
        return local

    async def _copy_content(self, image: RemoteImage, local: LocalFile) -> None:
        """Bring a photo's current bytes into a staging file (through the content cache)."""
        opened = await self.read_path.open(image)
        try:
            offset = 0
            size = image.size or 0
            while offset < size:
                chunk = await opened.read(offset, min(4 * 1024 * 1024, size - offset))
                if not chunk:
                    break
                await self.staging.write(local, offset, bytes(chunk))
                offset += len(chunk)
        finally:
            await opened.close()

    def set_mtime(self, entry: Entry, mtime_ns: int) -> None:
        """A tool set a file's modification time (`utimens`): kept for the bytes being
        written (and then for the photo they become), or for the photo as it is."""
        local = entry.local
        if local is not None:
            local.mtime = mtime_ns / 1e9
            local.mtime_ns = mtime_ns
        if entry.image is not None and (local is None or not local.dirty):
            self.kept_times.set(entry.image.version, mtime_ns)

    async def truncate(self, entry: Entry, size: int) -> None:
        """Set a file's size (`truncate`, `O_TRUNC`); uploads it if nothing has it open."""
        local = await self.prepare_write(entry, truncate=size == 0)
        if local.size != size:
            await self.will_change(entry, local)
            await self.staging.truncate(local, size)
        local.mtime = _now()
        local.mtime_ns = None
        if local.writers == 0:
            await self.upload_if_needed(entry)

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
        album = self._node(entry.parent)
        if not album.is_album or album.album_uri is None:
            raise NotPermitted("photos go into albums")
        if self.settings.writeback and closing and await self._queue_upload(entry, local):
            return
        async with local.lock:
            # Another close or fsync of the same file may have uploaded it meanwhile.
            if entry.local is not local or not local.dirty:
                return
            uri = await self._upload_staged(entry, local, album, closing=closing)
        await self._describe(entry, local, uri)

    async def _queue_upload(self, entry: Entry, local: LocalFile) -> bool:
        """Write-back: once the bytes and the intent are on disk, leave the upload to the
        queue (`upload_queue.py`). Returns False when there is nothing to send (the bytes of
        the photo it replaces), which is then done at once."""
        md5 = await self.staging.md5(local)
        if local.replace is not None and local.replace.md5 == md5:
            return False
        await self._journal(entry, UPLOADING, md5, sent=False, durable=True)
        path = self.table.path(entry.inode)

        async def attempt(job: Job) -> None:
            async with local.lock:
                if entry.local is not local or not local.dirty:
                    return  # deleted, or uploaded some other way, meanwhile
                try:
                    # The album it goes to may have gone meanwhile: that is a refusal too.
                    album = self._node(entry.parent)
                    uri = await self._upload_staged(entry, local, album, closing=False)
                except ServiceUnavailable:
                    # Tried again by the queue, or by the next mount.
                    await self._journal(entry, UPLOADING, md5)
                    raise
                except SmugfsError:
                    where = await self.staging.hand_back(
                        local, path, kept_dir(self.settings.cache_dir)
                    )
                    job.detail = f"its bytes are in {where}"
                    entry.local = None
                    if entry.image is None:
                        with contextlib.suppress(NotFound):
                            self.note_removed(entry.parent, entry.identity)
                            self.table.remove(entry.parent, entry.name)
                    raise
            await self.uploads.after(local, functools.partial(self._describe, entry, local, uri))

        self.uploads.submit(local, path, local.size, attempt)
        log.info("queued %r (%d bytes) for upload", unescape(entry.name), local.size)
        return True

    async def hold_upload(self, entry: Entry) -> None:
        """Before a file's bytes, name or place change: a queued upload of it is taken back
        (the next close queues it again), a running one is waited for."""
        local = entry.local
        if local is not None and await self.uploads.withdraw(local):
            await self._journal(entry, WRITING)

    async def wait_for_upload(self, entry: Entry) -> bool:
        """Wait for the queued or running upload of a file, if there is one, and raise the
        service's refusal; returns whether there was one."""
        local = entry.local
        job = None if local is None else self.uploads.job_of(local)
        if job is None:
            return False
        await job.outcome()
        return True

    async def _upload_staged(
        self, entry: Entry, local: LocalFile, album: RemoteNode, *, closing: bool
    ) -> str | None:
        """Upload a staged file (or, with the bytes of the photo it replaces, only what was
        said about it); returns the new AlbumImage URI, or None when nothing was uploaded.
        What the service holds now is described by `_describe` afterwards."""
        assert album.album_uri is not None
        md5 = await self.staging.md5(local)
        remote_name = unescape(entry.name)
        if local.replace is not None and local.replace.md5 == md5:
            # The same bytes as the photo it would replace (rsync and editors rewrite
            # unchanged files): nothing to upload.
            log.info("%r is unchanged; not uploading it again", remote_name)
            image = local.replace
            if local.fields:
                # Its bytes are the same, but what was said about it is new.
                image = await self.client.patch_image(image, local.fields)
                local.fields = {}
            if local.mtime_ns is not None:
                self.kept_times.set(image.version, local.mtime_ns)
            local.dirty = False
            local.synced, local.prime = image, False
            if entry.image is not None:
                entry.image = image
            else:
                # A temporary file renamed over the photo: the entry now stands for it.
                entry.image = image
                self.table.rebind(entry, image_identity(album.node_id, image.image_key))
                self.note_added(entry.parent, entry)
            return None
        log.info("uploading %r (%d bytes)", remote_name, local.size)
        await self._journal(entry, UPLOADING, md5)
        # What was said about it (setxattr) goes with the upload; what is said meanwhile waits.
        sent = dict(local.fields)
        try:
            album_image_uri = await self.client.upload(
                album.album_uri,
                remote_name,
                UploadSource(local.path, local.size, md5),
                replace=local.replace,
                texts=sent,
            )
        except SmugfsError:
            if closing:
                await self._drop_staged(entry)
            else:
                await self._journal(entry, WRITING)
            raise
        local.dirty = False
        for name, value in sent.items():
            if local.fields.get(name) == value:
                del local.fields[name]
        await self.staging.forget(local)
        log.info("uploaded %r", remote_name)
        self._adopt_upload(entry, album, album_image_uri)
        return album_image_uri

    async def _describe(self, entry: Entry, local: LocalFile, uri: str | None) -> None:
        """After an upload: read the new photo back (it may be described only after a
        while), let the entry and its staging copy stand for it, then let the copy go
        (`settle`). Nothing waits for this but a change of the same file."""
        if uri is not None:
            image = await self._read_back(uri)
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
                    self.kept_times.set(image.version, local.mtime_ns)
                if local.fields:
                    # Titles, captions or keywords set while it was uploaded.
                    later, local.fields = local.fields, {}
                    entry.image = local.synced = local.replace = await self.client.patch_image(
                        image, later
                    )
        if entry.local is local:
            await self.settle(entry)

    async def will_change(self, entry: Entry, local: LocalFile) -> None:
        """Called before the bytes of a staging file change: once they differ from the
        version the service holds, a mount that dies hands them back (they were never closed)
        and the next upload replaces that version."""
        if not local.dirty and local.synced is not None:
            # Under the file's lock: a settling of the copy (`_settle`) that runs behind the
            # last close forgets the intent under it, and must not forget this one.
            async with local.lock:
                if not local.dirty and local.synced is not None:
                    await self._journal(entry, WRITING)

    async def settle(self, entry: Entry) -> None:
        """Once nothing writes a file any more and the service holds its bytes, its staging
        copy goes and reads are served by the service's version (put in the content cache
        when the bytes were just uploaded); a version the service does not describe yet, or
        re-encoded (a video), keeps serving the staged bytes."""
        local = entry.local
        if local is not None and local.unlinked and local.writers == 0:
            entry.local = None
            await self.staging.discard(local)
            return
        if local is None or local.writers > 0 or local.dirty:
            return
        # One settling at a time (a release and the end of an upload may both ask).
        async with local.lock:
            if entry.local is local:
                await self._settle(entry, local)

    async def _settle(self, entry: Entry, local: LocalFile) -> None:
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
                await self.staging.discard(local)
            return
        image = local.synced
        await self.staging.forget(local)
        same = not image.md5 or image.md5 == await self.staging.md5(local)
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
        if local.prime:
            await self.read_path.prime(image, local.path)
            if reopened():
                return
        entry.local = None
        await self.staging.discard(local)

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
            if local.dirty and local.size and self.hand_back is not None:
                why = "its writer was killed before it closed the file"
                await self.hand_back(self.table.path(entry.inode), local.path, why)
            await self._drop_staged(entry)

    async def _drop_staged(self, entry: Entry) -> None:
        """Forget a file's staged bytes; a file the service does not hold leaves the listing."""
        local = entry.local
        if local is None:
            return
        entry.local = None
        await self.staging.discard(local)
        if entry.image is None:
            self.note_removed(entry.parent, entry.identity)
            self.table.remove(entry.parent, entry.name)
            self.dropped.append((entry.parent, entry.name))

    async def _read_back(self, album_image_uri: str) -> RemoteImage | None:
        """A just-uploaded image as the service describes it, or None if it does not yet."""

        async def attempt() -> RemoteImage:
            try:
                return await self.client.album_image(album_image_uri)
            except NotFound as exc:
                raise Retry("not described yet", final=NotFound) from exc

        try:
            return await READ_BACK.run(f"reading back {album_image_uri}", attempt)
        except NotFound:
            return None

    def _adopt_upload(self, entry: Entry, album: RemoteNode, album_image_uri: str) -> None:
        """Make the entry stand for the uploaded image, and its staging copy (if any) the
        version the service now holds, known by its URI until `_describe` reads it back."""
        key = album_image_uri.rsplit("/", 1)[-1].split("-")[0]
        identity = image_identity(album.node_id, key)
        self.table.rebind(entry, identity)
        self.note_added(entry.parent, entry)
        local = entry.local
        if local is not None and local.replace is not None:
            self.kept_times.forget(local.replace.version)
        if local is not None:
            # What the next upload of these bytes replaces: the image just made.
            local.synced = RemoteImage.parse({"ImageKey": key, "Uri": album_image_uri})
            local.replace, local.prime = local.synced, True

    # ------------------------------------------------------------------ rename

    async def rename(
        self, old_parent: int, old_name: str, new_parent: int, new_name: str, *, no_replace: bool
    ) -> None:
        """`mv` within the mount."""
        self.require_writable()
        entry = await self.child(old_parent, old_name)
        if entry is None:
            raise NotFound(f"no {old_name!r}")
        target = await self.child(new_parent, new_name)
        if target is entry:
            return
        if target is not None and no_replace:
            raise AlreadyExists(f"{new_name!r} exists")
        if entry.is_dir:
            await self._rename_dir(entry, new_parent, new_name, target)
        else:
            await self._rename_file(entry, new_parent, new_name, target)

    async def _rename_dir(
        self, entry: Entry, new_parent: int, new_name: str, target: Entry | None
    ) -> None:
        if target is not None:
            raise AlreadyExists(f"{new_name!r} exists")
        if is_bookkeeping_dir(new_name):
            raise NotPermitted(f"{new_name!r} is a desktop tool's directory")
        node = entry.node
        assert node is not None
        destination = self._node(new_parent)
        if not destination.is_folder:
            raise NotPermitted("albums hold photos, not directories")
        old_parent = entry.parent
        if new_parent != old_parent:
            await self.client.move_nodes(destination, [node])
        if new_name != entry.name:
            remote = unescape(new_name)
            fields: dict[str, str] = {"Name": remote}
            url_name = _url_name(remote)
            if url_name:
                fields["UrlName"] = url_name
            try:
                node = await self.client.patch_node(node, fields)
            except SmugfsError:
                if new_parent != old_parent:
                    # Moved but not renamed (the name is taken there): put it back, so a
                    # refused mv changes nothing.
                    await self.client.move_nodes(self._node(old_parent), [node])
                raise
            entry.node = node
        self.note_removed(old_parent, entry.identity)
        self.table.move(entry, new_parent, new_name)
        self.note_added(new_parent, entry)
        log.info("moved %s %r", node.type.lower(), node.name)

    async def _rename_file(
        self, entry: Entry, new_parent: int, new_name: str, target: Entry | None
    ) -> None:
        if target is not None and target.is_dir:
            raise IsADirectory(f"{new_name!r} is a directory")
        await self.hold_upload(entry)
        if target is not None:
            await self.hold_upload(target)
        destination = self._node(new_parent)
        if not destination.is_album and not is_local_only(new_name):
            raise NotPermitted("photos go into albums")
        old_parent = entry.parent
        if entry.image is None or (entry.local is not None and entry.local.dirty):
            # Bytes that live here (a temporary name, or not uploaded yet): the rename is
            # local, and a real name uploads them now.
            local = entry.local
            assert local is not None
            if target is not None and target.image is not None:
                local.replace = target.image
            elif entry.image is None:
                local.replace = self._parked.pop((new_parent, new_name), None)
            self.note_removed(old_parent, entry.identity)
            replaced = target
            self.table.move(entry, new_parent, new_name)
            self.note_added(new_parent, entry)
            if replaced is not None and replaced.local is not None:
                await self.staging.discard(replaced.local)
                replaced.local = None
            local.dirty = local.dirty or local.size > 0
            if local.writers == 0 and not is_local_only(new_name):
                await self.upload_if_needed(entry)
            else:
                await self._journal(entry, WRITING)
            return
        image = entry.image
        if new_parent == old_parent and is_local_only(new_name) and target is None:
            await self._park(entry, new_name)
            return
        if new_parent != old_parent:
            assert destination.album_uri is not None
            await self.client.move_images(destination.album_uri, [image])
            image = await self.client.album_image(moved_image_uri(destination.album_uri, image))
            entry.image = image
            self.note_removed(old_parent, entry.identity)
            self.table.rebind(entry, image_identity(destination.node_id, image.image_key))
            if target is not None and target.image is not None and new_name == entry.name:
                await self.client.delete(target.image.uri)
                self.note_removed(new_parent, target.identity)
            self.table.move(entry, new_parent, entry.name)
            self.note_added(new_parent, entry)
        if new_name != entry.name:
            await self._rename_uploaded(entry, new_name, target)

    async def _rename_uploaded(self, entry: Entry, new_name: str, target: Entry | None) -> None:
        """Give an uploaded photo a new name: upload it under that name (keeping its title,
        caption and keywords), then delete the old image."""
        image = entry.image
        assert image is not None
        if image.is_video:
            raise NotPermitted("the service keeps no original of a video to upload again")
        album = self._node(entry.parent)
        assert album.album_uri is not None
        texts = await self.client.image_texts(image)
        # A renamed file keeps its modification time.
        mtime_ns = self.kept_times.get(image.version)
        local = await self.staging.new(_now())
        try:
            await self._copy_content(image, local)
            md5 = await self.staging.md5(local)
            replace = target.image if target is not None else None
            album_image_uri = await self.client.upload(
                album.album_uri,
                unescape(new_name),
                UploadSource(local.path, local.size, md5),
                replace=replace,
                texts=texts,
            )
            await self.client.delete(image.uri)
            self.kept_times.forget(image.version)
        finally:
            await self.staging.discard(local)
        old_identity = entry.identity
        self.note_removed(entry.parent, old_identity)
        if target is not None:
            self.note_removed(entry.parent, target.identity)
        self.table.move(entry, entry.parent, new_name)
        entry.local = None
        self._adopt_upload(entry, album, album_image_uri)
        entry.image = await self._read_back(album_image_uri) or image
        if mtime_ns is not None:
            self.kept_times.set(entry.image.version, mtime_ns)
        log.info("renamed %r to %r", image.file_name, unescape(new_name))


def _now() -> float:
    """Wall-clock time: the times of files that exist only in this mount (the service has
    none for them yet)."""
    return time.time()


def _url_name(name: str) -> str | None:
    """The UrlName for a renamed node, by the service's rules; None when the service would
    not take one supplied (it must start with a capital letter), so the old one is kept."""
    words = "".join(ch if ch.isascii() and ch.isalnum() else " " for ch in name.replace("'", ""))
    url_name = "-".join(words.split())[:60].rstrip("-")
    if not url_name:
        return None
    url_name = url_name[0].upper() + url_name[1:]
    return url_name if url_name[0].isalpha() else None
