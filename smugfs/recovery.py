"""Finishing what a mount that was killed left behind in its staging directory.

A file whose `close()` had asked for its upload holds complete bytes: it is uploaded now,
through the upload queue, once (if a request may have carried it, then once that request could
no longer be applied the service is asked whether it landed after all) and checked against the
MD5 written down before; it is then shown in its album at once, laid over the album's listing
as this mount's own uploads are (the service lists new photos late). A file that was never
closed may hold only part of what its writer meant to write, so it is never uploaded on its
own: it is moved to the `recovered` directory of the cache, where the person finds it under its
path in the mount. Either way the
outcome is logged and listed by `smugfs status` for the life of the mount.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from smugfs.api.client import SmugMugClient, UploadSource
from smugfs.api.models import RemoteImage
from smugfs.errors import NotFound, ServiceUnavailable, SmugfsError, UploadRefused
from smugfs.staging import IntentState, Leftover, Staging, file_digest, hand_back
from smugfs.status_file import KEPT, UPLOADED, WAITING
from smugfs.upload_queue import Job, UploadQueue

log = logging.getLogger(__name__)

# Shows a finished upload in its album at once: (path in the mount, album URI, AlbumImage URI).
ShowFinished = Callable[[str, str, str], Awaitable[None]]


@dataclasses.dataclass
class Recovered:
    """One file a killed mount left behind, and what became of it."""

    path: str
    state: str
    detail: str = ""


@dataclasses.dataclass(eq=False)
class Recovery:
    """The leftovers of earlier mounts of this account, and their outcomes."""

    client: SmugMugClient
    staging: Staging
    kept_dir: Path
    # How long a request may take: an upload cut off by the end of the mount may still be
    # applied by the service until then, so it is not sent again before.
    settle: float
    queue: UploadQueue
    items: list[Recovered] = dataclasses.field(default_factory=list, init=False)
    # Whether every leftover has been queued or handed back.
    scanned: bool = dataclasses.field(default=False, init=False)
    # Lays a finished upload over its album's listing (set once the filesystem is built).
    show: ShowFinished | None = dataclasses.field(default=None, init=False)

    def report(self) -> list[dict[str, str]]:
        """The outcomes, for the status file."""
        return [dataclasses.asdict(item) for item in self.items]

    async def run(self) -> None:
        """Deal with every leftover: keep the incomplete ones, queue the complete ones for
        upload (those no request carried yet first: they need no waiting)."""
        leftovers = await trio.to_thread.run_sync(self.staging.leftovers)
        uploads: list[tuple[Leftover, Recovered]] = []
        for leftover in leftovers:
            if leftover.intent.state != IntentState.UPLOADING and leftover.path.stat().st_size == 0:
                # An empty file never closed: nothing to upload and nothing to keep.
                await trio.to_thread.run_sync(self.staging.drop, leftover.path)
                continue
            item = Recovered(leftover.intent.path, WAITING)
            self.items.append(item)
            if leftover.intent.state == IntentState.UPLOADING:
                uploads.append((leftover, item))
            else:
                await self._keep(leftover, item, "it was never closed, so it may be incomplete")
        uploads.sort(key=lambda upload: upload[0].intent.sent)
        for leftover, item in uploads:
            self.queue.submit(
                leftover.path,
                leftover.intent.path,
                leftover.intent.size,
                functools.partial(self._attempt, leftover, item),
            )
        self.scanned = True

    async def _attempt(self, leftover: Leftover, item: Recovered, job: Job) -> None:
        """One try at uploading a leftover (the queue tries again while the service is
        unavailable); a refusal hands the bytes back before it is raised."""
        try:
            await self._upload_once(leftover, item)
        except ServiceUnavailable as exc:
            item.detail = str(exc)
            raise
        except UploadRefused as exc:
            job.detail = await self._keep(leftover, item, f"the service refused it: {exc}")
            raise
        except SmugfsError as exc:
            job.detail = await self._keep(leftover, item, str(exc))
            raise

    async def _upload_once(self, leftover: Leftover, item: Recovered) -> None:
        intent = leftover.intent
        md5, size = await trio.to_thread.run_sync(file_digest, leftover.path)
        if md5 != intent.md5 or size != intent.size:
            raise SmugfsError("its bytes changed after close() asked for the upload")
        replace: RemoteImage | None = None
        if intent.replaces is not None:
            try:
                replace = await self.client.album_image(intent.replaces)
            except NotFound:
                replace = None  # the photo it was to replace is gone: it is a new photo now
        source = UploadSource(leftover.path, size, md5)
        landed = None
        if intent.sent:
            wait = intent.started + self.settle - time.time()
            if wait > 0:
                item.detail = f"waiting {wait:.0f} s for the interrupted upload to settle"
                log.info("%s: %s", intent.path, item.detail)
                await trio.sleep(wait)
            landed = await self.client.landed_upload(
                intent.album_uri, intent.name, source, replace, intent.started
            )
        if landed is None:
            landed = await self.client.upload(
                intent.album_uri, intent.name, source, replace=replace, texts=intent.fields
            )
            item.detail = "uploaded now"
        else:
            item.detail = "its upload had landed before the mount ended"
        item.state = UPLOADED
        log.info("%s: %s", intent.path, item.detail)
        await trio.to_thread.run_sync(self.staging.drop, leftover.path)
        await self._show(intent.path, intent.album_uri, landed)

    async def _show(self, path: str, album_uri: str, album_image_uri: str) -> None:
        """Show an uploaded leftover in its album at once (the service lists new photos late,
        and this mount may hold a listing made before the upload); if that fails, the
        album's next listing from the service shows it."""
        if self.show is None:
            return
        try:
            await self.show(path, album_uri, album_image_uri)
        except SmugfsError as exc:
            log.info("%s: shown once the service lists it (%s)", path, exc)

    async def hand_back(self, path: str, staged: Path, why: str) -> None:
        """Hand back the bytes of a file this mount will not upload (its writer was killed
        before it closed it): moved to the recovered directory, and reported like a
        leftover."""
        item = Recovered(path, WAITING)
        self.items.append(item)
        await self._keep_bytes(staged, path, item, why)

    async def _keep(self, leftover: Leftover, item: Recovered, why: str) -> str:
        """Hand a leftover's bytes back (see `_keep_bytes`)."""
        return await self._keep_bytes(leftover.path, leftover.intent.path, item, why)

    async def _keep_bytes(self, staged: Path, path: str, item: Recovered, why: str) -> str:
        """Hand the bytes back: move them to the recovered directory under their path;
        returns where they are, in words."""
        target = await trio.to_thread.run_sync(hand_back, staged, path, self.kept_dir)
        where = f"its bytes are in {target}"
        item.state = KEPT
        item.detail = f"{why}; {where}"
        log.warning("%s was not uploaded: %s", path, item.detail)
        return where
