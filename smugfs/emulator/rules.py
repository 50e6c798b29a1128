"""The service's limits and allowed values, and how it reads loose parameter values.

What the real service accepts for a node's or album's fields, how deep folders nest, how much an
album or an upload may hold; `truthy` and `keyword_list` read booleans and keywords the various
ways clients send them.
"""

from __future__ import annotations

from typing import Any

from smugfs.emulator.model import ALBUM, FOLDER, PAGE

MAX_FOLDER_DEPTH = 5
ALBUM_CAPACITY = 5000
MAX_PHOTO_BYTES = 500 * 1024 * 1024
MAX_VIDEO_BYTES = 3 * 1024 * 1024 * 1024
NODE_TYPES = (FOLDER, ALBUM, PAGE)
PRIVACY_VALUES = ("Public", "Unlisted", "Private")
SECURITY_TYPES = ("None", "Password", "GrantAccess")
NODE_SORT_METHODS = ("SortIndex", "Name", "DateAdded", "DateModified")
SORT_DIRECTIONS = ("Ascending", "Descending")
ALBUM_SORT_METHODS = (
    "Position",
    "Caption",
    "Filename",
    "Date Uploaded",
    "Date Modified",
    "Date Taken",
)
# Image field names the service also takes as an album SortMethod, stored as the option they
# name: `FileName` is echoed back as `Filename`, and smugcli's `DateTimeOriginal` (sent after
# every album it creates, against the real service) is accepted as `Date Taken`.
ALBUM_SORT_ALIASES = {"FileName": "Filename", "DateTimeOriginal": "Date Taken"}


def truthy(value: Any) -> bool:
    """A boolean parameter as clients send it: a JSON bool, or "1"/"true"/"yes"/"on"."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def keyword_list(value: Any) -> list[str]:
    """Keywords as clients send them: an array, or one `;`- or `,`-separated string."""
    parts = value if isinstance(value, list) else str(value).replace(",", ";").split(";")
    return [str(part).strip() for part in parts if str(part).strip()]
