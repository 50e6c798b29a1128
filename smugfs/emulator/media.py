"""The media server: photo and video bytes at the URLs the API hands out.

A media URL names an image, its serial and a token derived from its bytes
(`/photos/<UrlPath>/i-<ImageKey>/<Serial>/<token>/<size>/<name>`), so once an image is replaced
its old URLs answer 404 instead of new bytes. `D` is the archived original (not served for
videos, as on the real service), a number such as `1920` is a video's MP4 rendition, and the
other size codes (`Ti`, `Th`, `S` ... `5K`) are JPEG renditions (a video's are of its poster
frame), made on first request and kept on disk. HTTP Range requests get 206 unless Range
support is switched off, in which case the whole file is sent as a server that ignores Range
would.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path

from PIL import Image as PILImage

from smugfs.emulator import sample_media
from smugfs.emulator.model import Image
from smugfs.emulator.renditions import SIZES, media_token, rendition_size
from smugfs.emulator.store import Store

MEDIA_PATH = re.compile(
    # The file name comes last and may hold a `/` once its percent-encoding is undone.
    r"/photos/(?:.*/)?i-(?P<key>[^/]+)/(?P<serial>\d+)/(?P<token>[^/]+)/(?P<size>[^/]+)/.+"
)
CONTENT_TYPES = {
    "JPG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "MP4": "video/mp4",
}
CHUNK = 1024 * 1024


@dataclasses.dataclass
class MediaFile:
    """What a media URL resolves to: a file on disk (a blob) or bytes made on demand (a
    rendition)."""

    image: Image
    content_type: str
    etag: str
    body: Path | bytes

    @property
    def size(self) -> int:
        """The length in bytes."""
        if isinstance(self.body, bytes):
            return len(self.body)
        return self.body.stat().st_size


class Renditions:
    """JPEG renditions, made once and kept: on disk beside the blobs (so a restarted emulator
    and repeated requests cost a file read, not a decode of a camera-sized original) and the
    most recent few in memory. Safe to call from worker threads."""

    def __init__(self, limit: int = 256) -> None:
        self._cache: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def get(self, store: Store, image: Image, size_code: str) -> bytes:
        """The JPEG of `image` (a video's poster frame) fitted into `size_code`'s box."""
        key = (image.blob, size_code)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        path = store.data_dir / "renditions" / f"{image.blob}-{size_code}.jpg"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = _scaled(store, image, size_code)
            path.parent.mkdir(exist_ok=True)
            partial = path.with_name(f".{path.name}.{threading.get_ident()}")
            partial.write_bytes(data)
            partial.replace(path)
        with self._lock:
            self._cache[key] = data
            if len(self._cache) > self._limit:
                self._cache.popitem(last=False)
        return data


def _scaled(store: Store, image: Image, size_code: str) -> bytes:
    """A new JPEG of `image` at the size `size_code`, exactly the size `!sizedetails` states."""
    if image.is_video:
        # No decoder for the MP4 here: the poster frame is a picture drawn from the video's
        # identity, the same on every run, at the video's pixel size.
        seed = int(image.blob[:8], 16)
        picture = sample_media.poster_frame(seed, width=image.width, height=image.height)
    else:
        picture = PILImage.open(store.blob_path(image.blob))
    with picture:
        # Pillow's own thumbnail rounding differs from the stated sizes: resize to them.
        size = rendition_size(picture.width, picture.height, size_code)
        picture.draft("RGB", size)
        scaled = picture.convert("RGB").resize(size, PILImage.Resampling.LANCZOS)
    out = io.BytesIO()
    scaled.save(out, "JPEG", quality=85)
    return out.getvalue()


def resolve(store: Store, renditions: Renditions, path: str) -> MediaFile | None:
    """The media a path names, or None when it names nothing current."""
    match = MEDIA_PATH.fullmatch(path)
    if match is None:
        return None
    image = store.images.get(match["key"])
    if image is None or int(match["serial"]) != image.serial:
        return None
    size = match["size"]
    if size.isdigit():
        if not image.is_video or image.video_blob is None:
            return None
        if match["token"] != media_token(image.video_blob, image.serial):
            return None
        return MediaFile(image, "video/mp4", image.video_md5, store.blob_path(image.video_blob))
    if match["token"] != media_token(image.blob, image.serial):
        return None
    if size in SIZES:
        data = renditions.get(store, image, size)
        return MediaFile(image, "image/jpeg", f"{image.md5}-{size}", data)
    if image.is_video:
        return None
    if size in ("D", "O"):
        content_type = CONTENT_TYPES.get(image.format, "application/octet-stream")
        return MediaFile(image, content_type, image.md5, store.blob_path(image.blob))
    return None


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def parse_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """The byte range asked for as (first, last) inclusive; None for the whole file; False when
    it cannot be satisfied (416). Only single ranges are honoured, as most servers do."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or (not match[1] and not match[2]):
        return None
    if not match[1]:
        suffix = int(match[2])
        if suffix == 0:
            return False
        return max(0, size - suffix), size - 1
    first = int(match[1])
    last = int(match[2]) if match[2] else size - 1
    if first >= size or last < first:
        return False
    return first, min(last, size - 1)


def read_chunk(fd: int, offset: int, length: int) -> bytes:
    """Read from an open media file (a blocking call, kept out of async code's sight)."""
    return os.pread(fd, length, offset)


def open_file(path: Path) -> int:
    """Open a media file for reading."""
    return os.open(path, os.O_RDONLY)


def close_file(fd: int) -> None:
    """Close a media file opened by `open_file`."""
    os.close(fd)
