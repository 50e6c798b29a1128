"""Making one photo's thumbnails: its renditions fetched, scaled to each flavour and written.

`Maker` is what `Thumbnailer` calls once it knows which photos of an album lack thumbnails: it
lists an album's renditions, fetches the one each missing flavour is scaled from (the smallest
that covers it, `renditions.choose`), scales and writes the PNGs through `freedesktop`, and
remembers what this mount wrote, so that a photo is not looked at again until its `st_mtime`
or version changes. A failure is counted and logged and leaves that photo to the file manager.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio
from PIL import Image

from smugfs.api.client import RangeIgnored, SmugMugClient
from smugfs.errors import ServiceUnavailable, SmugfsError
from smugfs.thumbnails import freedesktop
from smugfs.thumbnails.flavours import FLAVOURS
from smugfs.thumbnails.freedesktop import Original
from smugfs.thumbnails.renditions import Rendition, choose, renditions_of

log = logging.getLogger(__name__)

# Decoding and encoding are CPU work: at most this many threads at once.
ENCODE_THREADS = 2
# A rendition larger than this is not a thumbnail's source (the largest is 5K, a few MB).
MAX_RENDITION_BYTES = 32 * 1024 * 1024
_DETAILS_PARAMS = {
    "_filter": "ImageKey",
    "_filteruri": "ImageSizeDetails",
    "_expand": "ImageSizeDetails",
    "_expandmethod": "inline",
}


@dataclasses.dataclass
class ThumbnailStats:
    """What the thumbnailer did since the mount started (shown by `smugfs status`)."""

    photos: int = 0
    written: int = 0
    bytes: int = 0
    rendition_bytes: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as JSON."""
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Photo:
    """A file of an album whose thumbnails in some flavours are missing."""

    key: str
    version: str
    original: Original
    missing: list[str]


class Maker:
    """Writes the thumbnails of one photo at a time, and remembers what it wrote."""

    def __init__(self, client: SmugMugClient, flavours: tuple[str, ...], root: Path) -> None:
        self.client = client
        self.flavours = flavours
        self.root = root
        self.stats = ThumbnailStats()
        # (URI, flavour) -> the st_mtime and version its thumbnail in the cache was made for.
        self._made: dict[tuple[str, str], tuple[int, str | None]] = {}
        # Versions of images the service has no renditions for (nothing to write).
        self._bare: set[str] = set()
        self._encode_limit = trio.CapacityLimiter(ENCODE_THREADS)

    def missing(self, original: Original) -> list[str]:
        """The flavours this mount has not made for the file's current `st_mtime` and
        version (none for an image the service has no renditions for)."""
        if original.version in self._bare:
            return []
        made = _made(original)
        return [f for f in self.flavours if self._made.get((original.uri, f)) != made]

    def not_in_cache(self, photos: list[Photo]) -> list[Photo]:
        """Of `photos`, those still missing a current thumbnail on disk (one an earlier mount
        or the file manager made counts). Blocking: run in a thread."""
        out: list[Photo] = []
        for photo in photos:
            missing = []
            for flavour in photo.missing:
                if freedesktop.is_current(self.root, flavour, photo.original):
                    self._made[(photo.original.uri, flavour)] = _made(photo.original)
                else:
                    missing.append(flavour)
            if missing:
                out.append(dataclasses.replace(photo, missing=missing))
        return out

    async def renditions(self, album_uri: str) -> dict[str, list[Rendition]]:
        """Every image's renditions in an album, by image key (one listing, page by page)."""
        items = await self.client.list_all(
            f"{album_uri}!images", "AlbumImage", params=_DETAILS_PARAMS, key="ImageKey"
        )
        found: dict[str, list[Rendition]] = {}
        for item in items:
            key = item.get("ImageKey")
            if isinstance(key, str):
                found[key] = renditions_of(_inline(item, "ImageSizeDetails"))
        return found

    async def make(self, photo: Photo, available: list[Rendition], album: ThumbnailStats) -> int:
        """Fetch the renditions a photo's missing flavours are scaled from, and write them
        (counted in the mount's stats and its `album`'s); returns the bytes fetched."""
        if not available:
            self._bare.add(photo.version)
            return 0
        fetched = 0
        sources: dict[Rendition, list[str]] = {}
        for flavour in photo.missing:
            rendition = choose(available, FLAVOURS[flavour])
            if rendition is not None:
                sources.setdefault(rendition, []).append(flavour)
        try:
            for rendition, flavours in sources.items():
                data = await self._fetch(rendition.url)
                fetched += len(data)
                for counts in (self.stats, album):
                    counts.rendition_bytes += len(data)
                written = await trio.to_thread.run_sync(
                    self._write, data, photo.original, flavours, limiter=self._encode_limit
                )
                for flavour, size in written:
                    self._made[(photo.original.uri, flavour)] = _made(photo.original)
                    for counts in (self.stats, album):
                        counts.written += 1
                        counts.bytes += size
                    log.debug("thumbnail %s (%s) written", photo.original.uri, flavour)
        except (SmugfsError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            # The file manager makes this one itself, as it always did.
            self.stats.failed += 1
            album.failed += 1
            log.info("no thumbnail for %s: %s", photo.original.uri, exc)
            return fetched
        self.stats.photos += 1
        album.photos += 1
        return fetched

    async def _fetch(self, url: str) -> bytes:
        """A rendition's bytes (one ranged GET for the whole, or a plain GET where the media
        server ignores Range)."""
        try:
            return await self.client.get_range(url, 0, MAX_RENDITION_BYTES)
        except RangeIgnored:
            pass
        parts: list[bytes] = []
        size = 0

        def begin() -> Callable[[bytes], Awaitable[None]]:
            nonlocal size
            parts.clear()  # each attempt starts from the first byte
            size = 0
            return keep

        async def keep(chunk: bytes) -> None:
            nonlocal size
            size += len(chunk)
            if size > MAX_RENDITION_BYTES:
                raise ServiceUnavailable("GET rendition: larger than a rendition can be")
            parts.append(chunk)

        await self.client.stream_whole(url, "GET rendition", begin)
        return b"".join(parts)

    def _write(self, data: bytes, original: Original, flavours: list[str]) -> list[tuple[str, int]]:
        """Scale one rendition to `flavours` and write them. Blocking: run in a thread."""
        out: list[tuple[str, int]] = []
        with Image.open(io.BytesIO(data)) as picture:
            largest = max(FLAVOURS[f] for f in flavours)
            # JPEG decodes at 1/2, 1/4 or 1/8 when that still covers the largest flavour.
            picture.draft("RGB", (largest, largest))
            picture.load()
            for flavour in flavours:
                png = freedesktop.encode(freedesktop.scaled(picture, flavour), original)
                freedesktop.write(self.root, flavour, original, png)
                out.append((flavour, len(png)))
        return out


def _made(original: Original) -> tuple[int, str | None]:
    """What a thumbnail in the cache was made for."""
    return original.mtime, original.version


def _inline(item: dict[str, Any], link: str) -> Any:
    """The object `_expandmethod=inline` put into the `Uris` entry `link` of an item."""
    uris = item.get("Uris")
    entry = uris.get(link) if isinstance(uris, dict) else None
    return entry.get(link) if isinstance(entry, dict) else None
