"""Making file managers' thumbnails from the service's renditions, before they are asked for.

A file manager opening an album looks every file's thumbnail up in the personal cache right
after reading the directory, and reads the whole original of each one it does not find. So
thumbnails are made when an album is opened (its directory read, which is held until the first
screenful is written, at most `HOLD_LIMIT` seconds) and when it is about to be opened (the
first `AHEAD_ALBUMS` albums of a folder just read): the album's renditions are asked for in one
listing (`!images` with `_expand=ImageSizeDetails`, page by page), then fetched in listing
order, `FETCH_CONCURRENCY` at once, scaled and written by `maker.Maker`. A thumbnail in the
cache for the file's current `st_mtime` and version is left alone; a photo replaced on the
service (a new MD5, a new `LastUpdated` and so `st_mtime`) gets a new one. Nothing is written
for a file without renditions. `Attention` keeps walks (find, rsync) and long browsing sessions
from fetching renditions for the whole library.
"""

from __future__ import annotations

import dataclasses
import logging
import mimetypes
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import trio

from smugfs.api.client import SmugMugClient
from smugfs.api.models import RemoteImage
from smugfs.errors import SmugfsError
from smugfs.listings import Listings
from smugfs.thumbnails import freedesktop
from smugfs.thumbnails.attention import Attention
from smugfs.thumbnails.freedesktop import Original
from smugfs.thumbnails.maker import Maker, Photo, ThumbnailStats
from smugfs.thumbnails.renditions import Rendition

log = logging.getLogger(__name__)

# How many of an album's photos (in listing order) a file manager shows at first: the album's
# directory read waits for theirs, at most HOLD_LIMIT seconds.
FIRST_SCREENFUL = 100
HOLD_LIMIT = 10.0
# Albums of a folder just read whose thumbnails are made ahead of their opening.
AHEAD_ALBUMS = 8
FETCH_CONCURRENCY = 32


@dataclasses.dataclass
class _Job:
    """The thumbnails of one album being made."""

    inode: int
    ahead: bool
    first: trio.Event = dataclasses.field(default_factory=trio.Event)
    done: trio.Event = dataclasses.field(default_factory=trio.Event)


class Thumbnailer:
    """Fills the personal thumbnail cache for the albums a person opens or is about to."""

    def __init__(
        self,
        client: SmugMugClient,
        listings: Listings,
        mountpoint: Path,
        flavours: tuple[str, ...],
        *,
        root: Path | None = None,
        attention: Attention | None = None,
    ) -> None:
        self.listings = listings
        self.mountpoint = mountpoint
        self.attention = attention if attention is not None else Attention()
        self.maker = Maker(client, flavours, root if root is not None else freedesktop.cache_root())
        self.stats = self.maker.stats
        self._nursery: trio.Nursery | None = None
        self._jobs: dict[int, _Job] = {}
        self._budget_logged = False

    def attach(self, nursery: trio.Nursery) -> None:
        """Let thumbnails be made in the mount's nursery (none before this)."""
        self._nursery = nursery

    # ------------------------------------------------------------------ hooks

    async def listed(self, inode: int) -> None:
        """The kernel reads directory `inode` (called before its listing is asked for): an
        album gets its thumbnails, its renditions listed alongside its listing, and the read
        waits for the first screenful (bounded); a folder's first albums get theirs ahead.
        During a walk nothing happens and nothing waits."""
        if self._nursery is None:
            return
        table = self.listings.table
        entry = table.entry(inode)
        self.attention.read(inode)
        if entry.node is None or self.attention.walking:
            return
        if entry.node.is_album:
            job = self._start(inode, ahead=False)
            with trio.move_on_after(HOLD_LIMIT):
                await job.first.wait()
            return
        children = await self.listings.children_of(inode)
        albums = [child for child in children.values() if table.entry(child).is_album]
        for album in albums[:AHEAD_ALBUMS]:
            self._start(album, ahead=True)

    def _start(self, inode: int, *, ahead: bool) -> _Job:
        """The album's job: the one running, else a new one."""
        job = self._jobs.get(inode)
        if job is not None and not job.done.is_set():
            # Opened while it was only being made ahead: a walk no longer stops it.
            job.ahead = job.ahead and ahead
            return job
        job = _Job(inode, ahead)
        self._jobs[inode] = job
        assert self._nursery is not None
        self._nursery.start_soon(self._run, job)
        return job

    async def _run(self, job: _Job) -> None:
        """Make an album's thumbnails; whatever fails is logged, never raised into the mount."""
        try:
            await self.fill_album(job.inode, job=job)
        except SmugfsError as exc:
            log.info("no thumbnails for %s: %s", self._path(job.inode), exc)
        except Exception:
            log.exception("making thumbnails for %s failed", self._path(job.inode))
        finally:
            job.first.set()
            job.done.set()
            if self._jobs.get(job.inode) is job:
                del self._jobs[job.inode]

    # ------------------------------------------------------------------ an album

    async def fill_album(
        self,
        inode: int,
        *,
        job: _Job | None = None,
        progress: Callable[[int], None] | None = None,
        budgeted: bool = True,
    ) -> tuple[int, ThumbnailStats]:
        """Make the missing thumbnails of the album `inode`, in listing order; returns how
        many of its photos needed any, and what was done for them. `progress(rendition_bytes)`
        is called as each photo is done. An album asked for on purpose (`budgeted=False`)
        does not count against the budget."""
        # This album's own counts (other albums' jobs run at the same time).
        mine = ThumbnailStats()
        started = time.monotonic()
        table = self.listings.table
        entry = table.entry(inode)
        if entry.node is None or entry.node.album_uri is None:
            return 0, mine
        album_uri = entry.node.album_uri
        found: dict[str, list[Rendition]] = {}

        async def ask_renditions() -> None:
            found.update(await self.maker.renditions(album_uri))

        if table.listing(inode) is None:
            # Not listed yet (an album about to be opened): both lists at once.
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.listings.children_of, inode)
                nursery.start_soon(ask_renditions)
            asked = True
        else:
            asked = False
        wanted = await trio.to_thread.run_sync(self.maker.not_in_cache, self._photos_of(inode))
        if not wanted:
            return 0, mine
        if budgeted and not self.attention.spend(len(wanted)):
            if not self._budget_logged:
                self._budget_logged = True
                log.info(
                    "thumbnail budget spent: leaving %s (and more) to the file manager",
                    self._path(inode),
                )
            return 0, mine
        if not asked:
            await ask_renditions()
        first = min(FIRST_SCREENFUL, len(wanted))
        done = 0
        queue: Iterator[Photo] = iter(wanted)

        async def worker() -> None:
            nonlocal done
            # One shared iterator: photos are taken in listing order whatever order the
            # workers run in.
            for photo in queue:
                if job is not None and job.ahead and self.attention.walking:
                    return
                fetched = await self.maker.make(photo, found.get(photo.key, []), mine)
                done += 1
                if progress is not None:
                    progress(fetched)
                if job is not None and done >= first:
                    job.first.set()

        async with trio.open_nursery() as nursery:
            for _ in range(min(FETCH_CONCURRENCY, len(wanted))):
                nursery.start_soon(worker)
        if mine.written:
            log.info(
                "thumbnails: wrote %d (%s) for %d photos of %s in %.1f s from %.1f MiB of "
                "renditions",
                mine.written,
                ", ".join(self.maker.flavours),
                mine.photos,
                self._path(inode),
                time.monotonic() - started,
                mine.rendition_bytes / 1024**2,
            )
        return len(wanted), mine

    def _photos_of(self, inode: int) -> list[Photo]:
        """The album's files (listing order) whose thumbnails this mount has not made for
        their current `st_mtime`."""
        table = self.listings.table
        listing = table.listing(inode)
        if listing is None:
            return []
        album_path = self.mountpoint / table.path(inode)
        photos: list[Photo] = []
        for name, child in listing.children.items():
            entry = table.entry(child)
            image = entry.image
            if image is None or entry.local is not None:
                continue
            attributes = self.listings.attributes(entry)
            original = Original(
                uri=freedesktop.file_uri(str(album_path / name)),
                mtime=int(attributes.mtime),
                size=attributes.size,
                mimetype=_mimetype(name, image),
                version=image.version,
            )
            missing = self.maker.missing(original)
            if missing:
                photos.append(Photo(image.image_key, image.version, original, missing))
        return photos

    def _path(self, inode: int) -> str:
        """An album's path below the mountpoint, for the log."""
        try:
            return self.listings.table.path(inode) or "/"
        except SmugfsError:
            return f"inode {inode}"


def _mimetype(name: str, image: RemoteImage) -> str | None:
    """The MIME type a file manager gives the file (by its name, as GIO guesses first)."""
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed:
        return guessed
    return "video/mp4" if image.is_video else None
