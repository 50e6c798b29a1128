"""Filling the thumbnail cache for a tree on request (`smugfs thumbnails PATH...`).

The command asks the running mount, which has the listings, the credentials and the names the
kernel shows: it writes a request file beside the mount's status file (JSON: an id and the
paths below the mountpoint), which the mount picks up within `POLL_INTERVAL`, and reads the
progress back from the status file, as `smugfs sync` does. The mount lists the folders below
each path, counts their photos, then fills album after album in the order a file manager
would show them; photos whose thumbnails are current count as done at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any

import trio

from smugfs.errors import SmugfsError
from smugfs.thumbnails.thumbnailer import Thumbnailer
from smugfs.tree import ROOT_INODE

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.5


def request_path(status_file: Path) -> Path:
    """Where requests for the mount reporting to `status_file` are left."""
    return status_file.with_name(status_file.stem + ".thumbnails.json")


def write_request(path: Path, request_id: str, paths: list[str]) -> None:
    """Leave a request for the mount (atomically, owner only)."""
    temporary = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"id": request_id, "paths": paths}, out)
    os.replace(temporary, path)


@dataclasses.dataclass
class RequestProgress:
    """How far a request has come (reported in the status file)."""

    id: str
    photos: int = 0
    done: int = 0
    albums: int = 0
    written: int = 0
    bytes: int = 0
    rendition_bytes: int = 0
    failed: int = 0
    listing: bool = True
    finished: bool = False
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The progress as JSON."""
        return dataclasses.asdict(self)


class Requests:
    """Picks requests up and carries them out with the mount's thumbnailer."""

    def __init__(self, thumbnailer: Thumbnailer, path: Path) -> None:
        self.thumbnailer = thumbnailer
        self.path = path
        self.current: RequestProgress | None = None

    def report(self) -> dict[str, Any] | None:
        """The latest request's progress, for the status file."""
        return self.current.as_dict() if self.current is not None else None

    async def serve(self) -> None:
        """Carry out requests, one at a time, until the mount stops."""
        while True:
            request = await trio.to_thread.run_sync(self._take)
            if request is None:
                await trio.sleep(POLL_INTERVAL)
                continue
            request_id, paths = request
            progress = RequestProgress(request_id)
            self.current = progress
            try:
                await self._fill(paths, progress)
            except SmugfsError as exc:
                progress.error = str(exc)
            except Exception as exc:
                log.exception("filling thumbnails for %s failed", paths)
                progress.error = f"unexpected error: {exc}"
            finally:
                progress.listing = False
                progress.finished = True

    def _take(self) -> tuple[str, list[str]] | None:
        """The request waiting, removed from disk (None when there is none or it is bad)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError:
            return None
        with contextlib.suppress(OSError):
            self.path.unlink()
        try:
            data = json.loads(text)
            request_id = str(data["id"])
            paths = [str(p) for p in data["paths"]]
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed thumbnail request in %s", self.path)
            return None
        return request_id, paths

    async def _fill(self, paths: list[str], progress: RequestProgress) -> None:
        """List the trees below `paths`, then make every album's thumbnails."""
        listings = self.thumbnailer.listings
        albums: list[int] = []
        for path in paths:
            inode = ROOT_INODE
            for name in [part for part in path.split("/") if part]:
                inode = await listings.find(inode, name)
            albums.extend(await self._albums_below(inode))
        progress.albums = len(albums)
        table = listings.table
        sizes = {}
        for album in albums:
            listing = table.listing(album)
            children = listing.children.values() if listing is not None else []
            sizes[album] = sum(1 for child in children if table.entry(child).image is not None)
        progress.photos = sum(sizes.values())
        progress.listing = False

        def one(fetched: int) -> None:
            progress.done += 1
            progress.rendition_bytes += fetched

        for album in albums:
            wanted, made = await self.thumbnailer.fill_album(album, progress=one, budgeted=False)
            # The photos whose thumbnails were already there.
            progress.done += sizes[album] - wanted
            progress.written += made.written
            progress.bytes += made.bytes
            progress.failed += made.failed

    async def _albums_below(self, inode: int) -> list[int]:
        """The albums at and below a directory, in listing order (folders listed as found)."""
        listings = self.thumbnailer.listings
        table = listings.table
        entry = table.entry(inode)
        if entry.node is None:
            raise SmugfsError(f"{table.path(inode)} is not a folder or album")
        if entry.node.is_album:
            await listings.children_of(inode)
            return [inode]
        found: list[int] = []
        for child in (await listings.children_of(inode)).values():
            if table.entry(child).node is not None:
                found.extend(await self._albums_below(child))
        return found
