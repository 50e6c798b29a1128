"""The service's rules for an image's descriptive fields: Title, Caption, keywords, Hidden and
its position (Latitude, Longitude, Altitude), as a PATCH or an upload sets them.

What the rules rest on (the image endpoint's own `Options`, recorded from the live service):
Title, Caption and Keywords are `Varchar` without a length limit; `KeywordArray` is an array of
`Varchar`; Latitude is `DECIMAL(16,14)` and Longitude `DECIMAL(17,14)`, both signed; Altitude an
`Integer` from 0 to 16777215; Hidden a `Boolean`. `Keywords` is one `;`-separated string and
`KeywordArray` the same list as an array (each item is one keyword, even one holding a space);
when a PATCH sends both, the array wins.

An upload that names no keywords gets keywords made from its file name, as recorded listings
show (`Von Wong-2807.jpg` -> `Von; Wong; 2807`, `IMG_7058_heic.JPG` -> `7058; heic`,
`A.D.Wheeler_The Enchanted Forest__094910.jpg` -> `A.D.Wheeler; The; Enchanted; forest;
094910`): the stem is cut at spaces, `_`, `-` and brackets, words shorter than three
characters and the camera prefixes `DSC`/`IMG` (and `Edit`) are dropped.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from smugfs.emulator.wire import param

ALTITUDE_MAX = 16_777_215
# DECIMAL(16,14) and DECIMAL(17,14): two and three digits before the point.
LATITUDE_LIMIT = 100.0
LONGITUDE_LIMIT = 1000.0
DESCRIPTION_MAX = 65_535
_Number = TypeVar("_Number", Decimal, float)

_WORD_BREAKS = re.compile(r"[\s_\-()\[\]{}]+")
_NOT_KEYWORDS = frozenset({"dsc", "img", "edit"})
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


class BadField(ValueError):
    """A field value the service refuses (answered with HTTP 400, nothing changed)."""


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        raise BadField("must be text")
    return "" if value is None else str(value)


def boolean(value: Any) -> bool:
    """A `Boolean` parameter: a JSON bool or number, or one of the usual words."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    word = str(value).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise BadField("must be true or false")


def keywords_of_string(value: Any) -> list[str]:
    """The `Keywords` string (`a; b; c`) as a list; an array is taken item by item."""
    if isinstance(value, list):
        return keywords_of_array(value)
    return [part.strip() for part in _text(value).split(";") if part.strip()]


def keywords_of_array(value: Any) -> list[str]:
    """`KeywordArray`: each item one keyword (a string is read as the `;`-separated form)."""
    if not isinstance(value, list):
        return keywords_of_string(value)
    out = []
    for item in value:
        if isinstance(item, dict | list):
            raise BadField("keywords must be text")
        word = str(item).strip()
        if word:
            out.append(word)
    return out


def _parsed(value: Any, parse: Callable[[str], _Number], wanted: str) -> _Number:
    """`value` read as text by `parse`; a bare `true`, an object or an array is no number."""
    if isinstance(value, bool | dict | list):
        raise BadField(f"must be {wanted}")
    try:
        return parse(str(value).strip())
    except (ValueError, InvalidOperation) as exc:
        raise BadField(f"must be {wanted}") from exc


def _decimal(value: Any, limit: float) -> float:
    number = _parsed(value, Decimal, "a number")
    if not number.is_finite() or abs(number) >= Decimal(str(limit)):
        raise BadField(f"must be a number between -{limit:g} and {limit:g}")
    return float(number.quantize(Decimal("1e-14")))


def latitude(value: Any) -> float:
    """`Latitude`: DECIMAL(16,14)."""
    return _decimal(value, LATITUDE_LIMIT)


def longitude(value: Any) -> float:
    """`Longitude`: DECIMAL(17,14)."""
    return _decimal(value, LONGITUDE_LIMIT)


def altitude(value: Any) -> int:
    """`Altitude`: a whole number from 0 to 16777215."""
    number = _parsed(value, float, "a whole number")
    if not math.isfinite(number) or not number.is_integer():
        raise BadField("must be a whole number")
    if not 0 <= number <= ALTITUDE_MAX:
        raise BadField(f"must be between 0 and {ALTITUDE_MAX}")
    return int(number)


# Wire name -> (the record's attribute, the rule that reads the value).
PATCH_FIELDS: dict[str, tuple[str, Any]] = {
    "Title": ("title", _text),
    "Caption": ("caption", _text),
    "Keywords": ("keywords", keywords_of_string),
    "KeywordArray": ("keywords", keywords_of_array),
    "Hidden": ("hidden", boolean),
    "Latitude": ("latitude", latitude),
    "Longitude": ("longitude", longitude),
    "Altitude": ("altitude", altitude),
}


def patch_values(fields: dict[str, Any]) -> dict[str, Any]:
    """The record attributes a PATCH sets, every value checked before any is applied (a bad
    one raises `BadField` naming it). `KeywordArray` wins over `Keywords`."""
    out: dict[str, Any] = {}
    for wire_name, (attr, rule) in PATCH_FIELDS.items():
        if wire_name not in fields or (wire_name == "Keywords" and "KeywordArray" in fields):
            continue
        try:
            out[attr] = rule(fields[wire_name])
        except BadField as exc:
            raise BadField(f"Invalid value for {wire_name}: {exc}") from None
    return out


def keywords_from_file_name(file_name: str) -> list[str]:
    """The keywords the service gives an upload that names none, made from its file name."""
    stem = os.path.splitext(file_name)[0]
    out: list[str] = []
    for word in _WORD_BREAKS.split(stem):
        word = word.strip(".,;:!?'\"")
        if len(word) < 3 or word.lower() in _NOT_KEYWORDS or word in out:
            continue
        out.append(word)
    return out


# The PATCH parameters the image endpoints list in their `Options`.
PATCH_PARAMETERS = (
    param("Title", "Varchar", MIN_CHARS=0, MAX_CHARS="INFINITY"),
    param("Caption", "Varchar", MIN_CHARS=0, MAX_CHARS="INFINITY"),
    param("Keywords", "Varchar", MIN_CHARS=0, MAX_CHARS="INFINITY"),
    param("KeywordArray", "Array", ITEM_TYPE="Varchar", MIN_COUNT=0, MAX_COUNT="INFINITY"),
    param("Hidden", "Boolean"),
    param("Latitude", "DECIMAL", PRECISION=16, SCALE=14, SIGNED=True),
    param("Longitude", "DECIMAL", PRECISION=17, SCALE=14, SIGNED=True),
    param("Altitude", "Integer", MIN_VALUE=0, MAX_VALUE=ALTITUDE_MAX),
)
