"""The service's limits and allowed values, and how it reads loose parameter values.

What the real service accepts for a node's or album's fields, how deep folders nest, how much an
album or an upload may hold, and the checks of a node's fields that refuse a value with 400;
`truthy` and `keyword_list` read booleans and keywords the various ways clients send them.
"""

from __future__ import annotations

from typing import Any

from smugfs.emulator.image_fields import DESCRIPTION_MAX
from smugfs.emulator.model import ALBUM, FOLDER, PAGE
from smugfs.emulator.naming import NAME_MAX, valid_supplied_url_name
from smugfs.emulator.refusals import ServiceError

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

URL_NAME_REFUSAL = "UrlName must start with a capital letter and hold letters, digits and -"
# A node's fields that take one of a list of values, with the refusal of any other.
NODE_CHOICES: dict[str, tuple[tuple[str, ...], str]] = {
    "Privacy": (PRIVACY_VALUES, f"Privacy must be one of {', '.join(PRIVACY_VALUES)}"),
    "SecurityType": (SECURITY_TYPES, "Invalid SecurityType"),
    "SortMethod": (NODE_SORT_METHODS, "Invalid SortMethod"),
    "SortDirection": (SORT_DIRECTIONS, "Invalid SortDirection"),
}


def checked_name(value: Any) -> str:
    """A `Name` as sent, trimmed; 400 unless it is text of 1 to 254 characters."""
    if not isinstance(value, str) or not value.strip():
        raise ServiceError(400, "Name is required")
    name = value.strip()
    if len(name) > NAME_MAX:
        raise ServiceError(400, f"Name must be 1 to {NAME_MAX} characters")
    return name


def check_node_fields(fields: dict[str, Any]) -> None:
    """400 for a node field sent with a value the service does not take (`Description`,
    `UrlName`, `Privacy`, `SecurityType`, `SortMethod`, `SortDirection`); `Name` is
    `checked_name`'s."""
    if "Description" in fields and len(str(fields["Description"])) > DESCRIPTION_MAX:
        raise ServiceError(400, f"Description must be at most {DESCRIPTION_MAX} characters")
    if "UrlName" in fields and not valid_supplied_url_name(str(fields["UrlName"])):
        raise ServiceError(400, URL_NAME_REFUSAL)
    for field, (allowed, refusal) in NODE_CHOICES.items():
        if field in fields and fields[field] not in allowed:
            raise ServiceError(400, refusal)


def truthy(value: Any) -> bool:
    """A boolean parameter as clients send it: a JSON bool, or "1"/"true"/"yes"/"on"."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def keyword_list(value: Any) -> list[str]:
    """Keywords as clients send them: an array, or one `;`- or `,`-separated string."""
    parts = value if isinstance(value, list) else str(value).replace(",", ";").split(";")
    return [str(part).strip() for part in parts if str(part).strip()]
