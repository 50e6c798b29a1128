"""Records of the service as the client uses them, parsed leniently from API JSON.

The service's JSON has traps: `Uris` entries are objects or plain strings, `Latitude` is a
string or a number, unknown node types appear, keys go missing on public views. Parsing takes
what is there, fills what is optional, and raises `ProtocolError` only when a field the
filesystem cannot do without is missing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from typing import Any

from smugfs.errors import ProtocolError

FOLDER = "Folder"
ALBUM = "Album"


def uri_of(obj: dict[str, Any], name: str) -> str | None:
    """The URI of link `name` in an object's `Uris`, in either of its shapes."""
    uris = obj.get("Uris")
    entry = uris.get(name) if isinstance(uris, dict) else None
    if isinstance(entry, dict):
        uri = entry.get("Uri")
        return uri if isinstance(uri, str) else None
    return entry if isinstance(entry, str) else None


def timestamp(value: Any) -> float | None:
    """Seconds since the epoch of an API timestamp (ISO 8601; a zone-less one is UTC)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _required(obj: dict[str, Any], key: str, kind: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
        raise ProtocolError(f"{kind} without a usable {key}")
    return str(value)


def count(value: Any) -> int | None:
    """A non-negative whole number the service sent as a number or as a string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and value >= 0 else None


def flag(value: Any) -> bool:
    """A true/false the service sent as a boolean, a number or a string ("false" is false)."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def text(value: Any) -> str | None:
    """A non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def plain_text(value: Any) -> str:
    """A text field as a string ("" when absent or not text)."""
    return value if isinstance(value, str) else ""


def number(value: Any) -> float:
    """A number the service sent as a number or as a string (`"47.97"`, `"168.1 m"`), else 0."""
    if isinstance(value, bool):
        return 0.0
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else 0.0
    if isinstance(value, str):
        found = re.match(r"\s*[-+]?(\d+(\.\d*)?|\.\d+)", value)
        if found:
            return float(found.group(0))
    return 0.0


def keyword_list(obj: dict[str, Any]) -> tuple[str, ...]:
    """An image's keywords: its `KeywordArray`, else its `;`-separated `Keywords`."""
    array = obj.get("KeywordArray")
    if isinstance(array, list):
        return tuple(str(k).strip() for k in array if isinstance(k, str | int) and str(k).strip())
    joined = obj.get("Keywords")
    if isinstance(joined, str):
        return tuple(k.strip() for k in joined.split(";") if k.strip())
    return ()


@dataclasses.dataclass(frozen=True, slots=True)
class RemoteNode:
    """A folder or album node (pages and unknown types keep their `type` and are skipped)."""

    node_id: str
    type: str
    name: str
    url_name: str
    uri: str
    date_added: float | None
    date_modified: float | None
    album_uri: str | None
    children_uri: str | None
    # The folder's or album's description, as the owner wrote it.
    description: str = ""

    @property
    def is_folder(self) -> bool:
        """Whether it holds other nodes."""
        return self.type == FOLDER

    @property
    def is_album(self) -> bool:
        """Whether it holds images."""
        return self.type == ALBUM and self.album_uri is not None

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> RemoteNode:
        """A node from its API JSON."""
        node_id = _required(obj, "NodeID", "node")
        return cls(
            node_id=node_id,
            type=text(obj.get("Type")) or "",
            name=text(obj.get("Name")) or "",
            url_name=text(obj.get("UrlName")) or "",
            uri=text(obj.get("Uri")) or f"/api/v2/node/{node_id}",
            date_added=timestamp(obj.get("DateAdded")),
            date_modified=timestamp(obj.get("DateModified")),
            album_uri=uri_of(obj, "Album"),
            children_uri=uri_of(obj, "ChildNodes") or f"/api/v2/node/{node_id}!children",
            description=plain_text(obj.get("Description")),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class RemoteImage:
    """A photo or video in an album, with what reading it needs.

    For a photo, `size`/`md5`/`media_url` describe the archived original; for a video they
    describe its largest MP4 rendition (filled in from `!largestvideo`).
    """

    image_key: str
    serial: int
    file_name: str
    format: str
    is_video: bool
    uri: str
    image_uri: str
    size: int | None
    md5: str | None
    media_url: str | None
    largest_video_uri: str | None
    last_updated: float | None
    uploaded: float | None
    taken: float | None
    processing: bool
    # What the owner wrote about it and where it was taken (0 where the service has none).
    title: str = ""
    caption: str = ""
    keywords: tuple[str, ...] = ()
    hidden: bool = False
    latitude: float = 0.0
    longitude: float = 0.0
    altitude: int = 0

    def __post_init__(self) -> None:
        # Read back from a saved listing (JSON), the keywords arrive as a list.
        if not isinstance(self.keywords, tuple):
            object.__setattr__(self, "keywords", tuple(self.keywords))

    @property
    def version(self) -> str:
        """What changes whenever the bytes do (the cache key of its content)."""
        return f"{self.image_key}-{self.serial}-{self.md5 or ''}-{self.size}"

    @property
    def readable(self) -> bool:
        """Whether its bytes can be fetched (size and URL known)."""
        return self.size is not None and self.media_url is not None

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> RemoteImage:
        """An image from its API JSON (`AlbumImage` or `Image`)."""
        key = _required(obj, "ImageKey", "image")
        serial = count(obj.get("Serial")) or 0
        is_video = flag(obj.get("IsVideo"))
        format_ = text(obj.get("Format")) or ""
        return cls(
            image_key=key,
            serial=serial,
            file_name=text(obj.get("FileName")) or f"{key}.{(format_ or 'jpg').lower()}",
            format=format_,
            is_video=is_video,
            uri=text(obj.get("Uri")) or f"/api/v2/image/{key}-{serial}",
            image_uri=uri_of(obj, "Image") or f"/api/v2/image/{key}-{serial}",
            # Without a size the file cannot be shown truthfully: it is left out (not readable).
            size=None if is_video else count(obj.get("ArchivedSize")),
            md5=None if is_video else _md5(obj.get("ArchivedMD5")),
            media_url=None if is_video else text(obj.get("ArchivedUri")),
            largest_video_uri=uri_of(obj, "LargestVideo") if is_video else None,
            last_updated=timestamp(obj.get("LastUpdated")),
            uploaded=timestamp(obj.get("DateTimeUploaded") or obj.get("Date")),
            taken=timestamp(obj.get("DateTimeOriginal")),
            processing=flag(obj.get("Processing")),
            title=plain_text(obj.get("Title")),
            caption=plain_text(obj.get("Caption")),
            keywords=keyword_list(obj),
            hidden=flag(obj.get("Hidden")),
            latitude=number(obj.get("Latitude")),
            longitude=number(obj.get("Longitude")),
            altitude=int(number(obj.get("Altitude"))),
        )

    def described_as(self, other: RemoteImage) -> RemoteImage:
        """This image with the title, caption, keywords, hidden flag and position of `other`
        (the same image as a PATCH answered it), keeping what reading it needs."""
        return dataclasses.replace(
            self,
            title=other.title,
            caption=other.caption,
            keywords=other.keywords,
            hidden=other.hidden,
            latitude=other.latitude,
            longitude=other.longitude,
            altitude=other.altitude,
            last_updated=other.last_updated or self.last_updated,
        )

    def with_video(self, largest: dict[str, Any]) -> RemoteImage:
        """This video with its largest rendition's URL, size and MD5."""
        return dataclasses.replace(
            self,
            size=count(largest.get("Size")),
            md5=_md5(largest.get("MD5")),
            media_url=text(largest.get("Url")),
        )


def _md5(value: Any) -> str | None:
    """An MD5 as 32 hex digits (lower case), else None: nothing to check bytes against."""
    if isinstance(value, str) and len(value) == 32:
        try:
            bytes.fromhex(value)
        except ValueError:
            return None
        return value.lower()
    return None
