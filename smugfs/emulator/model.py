"""The emulated service's records: users, nodes, albums, images, API keys and tokens.

Plain dataclasses with no behaviour beyond (de)serialisation; `store.py` keeps the invariants
between them. Times are kept as the API prints them (ISO 8601 strings) so a record round-trips
through the state file unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

FOLDER = "Folder"
ALBUM = "Album"
PAGE = "Page"


@dataclasses.dataclass
class User:
    """An account: its nickname, display name and root folder node."""

    nick: str
    name: str
    root_node_id: str
    first_name: str = ""
    last_name: str = ""
    password: str = ""


@dataclasses.dataclass
class Node:
    """A folder, album or page in a user's tree; albums also have an `Album` record."""

    node_id: str
    type: str
    name: str
    url_name: str
    owner: str
    parent_id: str | None
    date_added: str
    date_modified: str
    description: str = ""
    keywords: list[str] = dataclasses.field(default_factory=list)
    privacy: str = "Unlisted"
    security_type: str = "None"
    password: str = ""
    password_hint: str = ""
    sort_method: str = "SortIndex"
    sort_direction: str = "Ascending"
    sort_index: int = 0
    album_key: str | None = None
    children: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Album:
    """The album side of an album node: its images in position order."""

    album_key: str
    node_id: str
    last_updated: str
    images_last_updated: str
    sort_method: str = "Position"
    sort_direction: str = "Ascending"
    allow_downloads: bool = True
    # Keys of the images shown in this album, uploaded here or collected from elsewhere.
    image_keys: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Image:
    """A photo or video, owned by the album it was uploaded to (`album_key`)."""

    image_key: str
    album_key: str
    serial: int
    file_name: str
    format: str
    is_video: bool
    blob: str
    size: int
    md5: str
    width: int
    height: int
    date_uploaded: str
    last_updated: str
    upload_key: str
    date_time_original: str | None = None
    title: str = ""
    caption: str = ""
    keywords: list[str] = dataclasses.field(default_factory=list)
    hidden: bool = False
    latitude: float = 0.0
    longitude: float = 0.0
    altitude: int = 0
    # Videos are re-encoded: the largest MP4 rendition is a different blob from the upload.
    video_blob: str | None = None
    video_size: int = 0
    video_md5: str = ""
    exif: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class AlbumTemplate:
    """A user's preset of album settings, applied to albums created with it."""

    key: str
    owner: str
    name: str
    privacy: str = "Public"
    allow_downloads: bool = True
    sort_method: str = "Position"
    sort_direction: str = "Ascending"
    password: str = ""
    password_hint: str = ""


@dataclasses.dataclass
class Token:
    """An OAuth token: a request token during login, an access token afterwards."""

    token: str
    secret: str
    api_key: str
    kind: str  # "request" or "access"
    nick: str = ""
    access: str = "Full"
    permissions: str = "Modify"
    callback: str = "oob"
    verifier: str = ""
    created: float = 0.0


@dataclasses.dataclass
class ApiKey:
    """A registered application: its key and secret."""

    key: str
    secret: str
    name: str = "smugfs"


_T = TypeVar("_T")


def to_plain(record: Any) -> dict[str, Any]:
    """A record as JSON-ready data."""
    return dataclasses.asdict(record)


def from_plain(cls: type[_T], data: dict[str, Any]) -> _T:
    """A record from JSON data, ignoring fields this version does not know."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})
