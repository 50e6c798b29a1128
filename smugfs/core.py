"""The filesystem core of one account, built and closed in one place: the client, the content
cache, the read path, staging, the upload queue, recovery and the `Filesystem` over them.

The mount builds its core here, and so do the tests that drive the core in-process without
FUSE, so both run the same objects wired the same way. Nothing here knows about the kernel:
`mount.py` adds pyfuse3, the status file and thumbnails (which need the mountpoint).
"""

from __future__ import annotations

import dataclasses

import trio

from smugfs.api.client import SmugMugClient
from smugfs.cache_store import ContentCache
from smugfs.config import Settings
from smugfs.fs import Filesystem
from smugfs.reader import ReadPath
from smugfs.recovery import Recovery
from smugfs.staging import Staging, kept_dir
from smugfs.upload_queue import UploadQueue


@dataclasses.dataclass
class Core:
    """What a mount of one account is made of, below the FUSE adapter."""

    settings: Settings
    client: SmugMugClient
    cache: ContentCache
    read_path: ReadPath
    staging: Staging
    uploads: UploadQueue
    recovery: Recovery
    fs: Filesystem

    @classmethod
    async def open(cls, settings: Settings) -> Core:
        """Build the core (the cache's and staging's directories are scanned off the loop).
        Nothing is sent to the service yet: `fs.start()` does that. If building fails, what
        was opened is closed again."""
        client = SmugMugClient(settings)
        cache: ContentCache | None = None
        try:
            cache = await trio.to_thread.run_sync(
                ContentCache, settings.cache_dir / "content", settings.cache_size
            )
            read_path = ReadPath(client, cache)
            staging = await trio.to_thread.run_sync(
                Staging, settings.cache_dir / "staging" / settings.account_key
            )
            uploads = UploadQueue(settings.uploads)
            recovery = Recovery(
                client, staging, kept_dir(settings.cache_dir), settings.request_timeout, uploads
            )
            fs = Filesystem(client, settings, read_path, staging, uploads, recovery.hand_back)
            recovery.show = fs.changes.show_finished_upload
        except BaseException:
            with trio.CancelScope(shield=True):
                if cache is not None:
                    await cache.close()
                await client.aclose()
            raise
        return cls(settings, client, cache, read_path, staging, uploads, recovery, fs)

    def attach(self, nursery: trio.Nursery) -> None:
        """Start the core's background work in `nursery`: fetches ahead of readers, queued
        uploads, listings ahead of a walk and the periodic save of the listings."""
        self.read_path.attach(nursery)
        self.uploads.attach(nursery)
        nursery.start_soon(self.fs.keep_listings_saved)
        self.fs.attach(nursery)

    async def close(self) -> None:
        """Close open files, the metadata database, the cache and the connections (shielded:
        closing finishes even when the caller is being cancelled)."""
        with trio.CancelScope(shield=True):
            try:
                await self.fs.close()
            finally:
                try:
                    await self.cache.close()
                finally:
                    await self.client.aclose()
