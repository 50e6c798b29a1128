"""Extended attributes as the desktop names them, and the service fields behind them.

A file manager, `getfattr`, `cp --preserve=xattr` and `rsync -X` see a photo's title, caption
and keywords in the freedesktop names (the Common Extended Attributes that KDE's Baloo and
Dolphin read and write), plus a few of the service's own:

| attribute | photo | folder / album |
|---|---|---|
| `user.xdg.comment` | Caption | Description |
| `user.xdg.tags` | KeywordArray, comma-separated | — |
| `user.dublincore.title` | Title | — |
| `user.smugmug.hidden` | Hidden (`0`/`1`) | — |
| `user.smugmug.latitude`, `.longitude`, `.altitude` | Latitude, Longitude, Altitude | — |
| `user.smugmug.image_key`, `.format`, `.md5`, `.uri` | read-only | — |
| `user.smugmug.node_id`, `.type`, `.url_name`, `.uri` | — | read-only |

This module is pure: it says which names exist, what each shows, and turns a value written to
one into the fields a PATCH sends, checking it first (UTF-8, the service's limits, numbers), so
that a bad value is refused before anything is sent. No I/O, no FUSE.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

from smugfs.api.models import RemoteImage, RemoteNode
from smugfs.errors import InvalidRequest, NotPermitted, UnsupportedAttribute

COMMENT = "user.xdg.comment"
TAGS = "user.xdg.tags"
TITLE = "user.dublincore.title"
HIDDEN = "user.smugmug.hidden"
LATITUDE = "user.smugmug.latitude"
LONGITUDE = "user.smugmug.longitude"
ALTITUDE = "user.smugmug.altitude"
SERVICE_PREFIX = "user.smugmug."

# The service's limits: a node's Description holds at most 65535 characters; an image's
# Title, Caption and Keywords have none of their own (the kernel caps a value at 64 KiB).
DESCRIPTION_MAX = 65_535
ALTITUDE_MAX = 16_777_215

# What a photo's writable attributes are in the service's fields.
PHOTO_FIELDS = {
    COMMENT: "Caption",
    TAGS: "KeywordArray",
    TITLE: "Title",
    HIDDEN: "Hidden",
    LATITUDE: "Latitude",
    LONGITUDE: "Longitude",
    ALTITUDE: "Altitude",
}
DIRECTORY_FIELDS = {COMMENT: "Description"}
PHOTO_READ_ONLY = tuple(SERVICE_PREFIX + k for k in ("image_key", "format", "md5", "uri"))
DIRECTORY_READ_ONLY = tuple(SERVICE_PREFIX + k for k in ("node_id", "type", "url_name", "uri"))
# Every name this mount answers; anything else is refused at once, with no lookup at all
# (`ls -l` asks for `security.selinux` and `system.posix_acl_access` of every file).
KNOWN = frozenset([*PHOTO_FIELDS, *PHOTO_READ_ONLY, *DIRECTORY_READ_ONLY])


def is_ours(name: str) -> bool:
    """Whether `name` is one of the attributes this mount keeps (cheap: a set lookup)."""
    return name in KNOWN


def _coordinate(value: float) -> str:
    """A coordinate as the shortest decimal that reads back as the same number."""
    return repr(value) if value != int(value) else str(int(value))


def shown(field: str, value: Any) -> str:
    """How a photo's service field shows as its attribute's value ("" for none)."""
    if field == "KeywordArray":
        return ",".join(value)
    if field == "Hidden":
        return "1" if value else "0"
    if field in ("Latitude", "Longitude"):
        return _coordinate(float(value)) if value else ""
    if field == "Altitude":
        return str(int(value)) if value else ""
    return str(value)


def photo_values(
    image: RemoteImage | None, pending: dict[str, Any] | None = None
) -> dict[str, str]:
    """Every attribute of a photo that has a value (empty texts and a 0 position are none;
    `hidden` always has one), with the fields set on it through the mount but not sent yet
    (`pending`) laid over the service's. A photo not on the service yet (`image` None) shows
    only what was set on it."""
    values: dict[str, str] = {}
    if image is not None:
        current = {
            "Title": image.title,
            "Caption": image.caption,
            "KeywordArray": image.keywords,
            "Hidden": image.hidden,
            "Latitude": image.latitude,
            "Longitude": image.longitude,
            "Altitude": image.altitude,
        }
        values = {name: shown(field, current[field]) for name, field in PHOTO_FIELDS.items()}
        values.update(
            {
                SERVICE_PREFIX + "image_key": image.image_key,
                SERVICE_PREFIX + "format": image.format,
                SERVICE_PREFIX + "md5": image.md5 or "",
                SERVICE_PREFIX + "uri": image.uri,
            }
        )
    for name, field in PHOTO_FIELDS.items():
        if pending and field in pending:
            values[name] = shown(field, pending[field])
    return {name: value for name, value in values.items() if value}


def directory_values(node: RemoteNode) -> dict[str, str]:
    """Every attribute of a folder or album that has a value."""
    values = {
        COMMENT: node.description,
        SERVICE_PREFIX + "node_id": node.node_id,
        SERVICE_PREFIX + "type": node.type,
        SERVICE_PREFIX + "url_name": node.url_name,
        SERVICE_PREFIX + "uri": node.uri,
    }
    return {name: value for name, value in values.items() if value}


def _decode(name: str, raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest(f"{name}: the value is not UTF-8 text") from None
    if "\x00" in text:
        raise InvalidRequest(f"{name}: the value holds a NUL character")
    return text


def _number(name: str, text: str, limit: float) -> float:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InvalidRequest(f"{name}: {text!r} is not a number") from None
    if not value.is_finite() or abs(value) > Decimal(limit):
        raise InvalidRequest(f"{name}: {text!r} is not between -{limit:g} and {limit:g}")
    return float(value)


def _altitude(text: str) -> int:
    try:
        value = float(text.strip())
    except ValueError:
        raise InvalidRequest(f"{ALTITUDE}: {text!r} is not a number") from None
    if not math.isfinite(value) or not value.is_integer() or not 0 <= value <= ALTITUDE_MAX:
        raise InvalidRequest(f"{ALTITUDE}: {text!r} is not a whole number of metres 0-16777215")
    return int(value)


def _flag(text: str) -> bool:
    word = text.strip().lower()
    if word in ("1", "true", "yes"):
        return True
    if word in ("0", "false", "no", ""):
        return False
    raise InvalidRequest(f"{HIDDEN}: {text!r} is not 0 or 1")


def _tags(text: str) -> list[str]:
    tags = []
    for part in text.split(","):
        tag = part.strip()
        if not tag:
            continue
        if ";" in tag:
            # The service keeps keywords as one `;`-separated text too: it would split it.
            raise InvalidRequest(f"{TAGS}: a keyword cannot hold ';' ({tag!r})")
        if tag not in tags:
            tags.append(tag)
    return tags


def is_read_only(name: str, *, is_dir: bool) -> bool:
    """Whether `name` is one of the service's own attributes of a photo or directory."""
    return name in (DIRECTORY_READ_ONLY if is_dir else PHOTO_READ_ONLY)


def writable_field(name: str, *, is_dir: bool) -> str:
    """The service field behind a writable attribute; NotPermitted (EPERM) for a read-only
    one, UnsupportedAttribute (ENOTSUP) for a name this mount does not keep."""
    field = (DIRECTORY_FIELDS if is_dir else PHOTO_FIELDS).get(name)
    if field is None:
        if is_read_only(name, is_dir=is_dir):
            raise NotPermitted(f"{name} is the service's and cannot be changed")
        raise UnsupportedAttribute(f"{name} is not an attribute this mount keeps")
    return field


def fields_to_set(name: str, raw: bytes, *, is_dir: bool) -> dict[str, Any]:
    """The service fields that setting attribute `name` to `raw` changes: checked here, so a
    bad value (InvalidRequest, EINVAL), an unknown name (UnsupportedAttribute, ENOTSUP) or a
    read-only one (NotPermitted, EPERM) is refused before anything is sent."""
    field = writable_field(name, is_dir=is_dir)
    text = _decode(name, raw)
    value: Any
    if name == COMMENT and is_dir and len(text) > DESCRIPTION_MAX:
        raise InvalidRequest(f"{name}: a description holds at most {DESCRIPTION_MAX} characters")
    if name in (COMMENT, TITLE):
        value = text
    elif name == TAGS:
        value = _tags(text)
    elif name == HIDDEN:
        value = _flag(text)
    elif name == LATITUDE:
        value = _number(name, text, 90)
    elif name == LONGITUDE:
        value = _number(name, text, 180)
    else:
        value = _altitude(text)
    return {field: value}


def fields_to_clear(name: str, *, is_dir: bool) -> dict[str, Any]:
    """The service fields that removing attribute `name` resets (same refusals as setting)."""
    field = writable_field(name, is_dir=is_dir)
    empty: dict[str, Any] = {
        "Caption": "",
        "Description": "",
        "Title": "",
        "KeywordArray": [],
        "Hidden": False,
        "Latitude": 0,
        "Longitude": 0,
        "Altitude": 0,
    }
    return {field: empty[field]}
