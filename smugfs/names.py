"""Remote names as file names, and back.

A SmugMug name may contain `/` or NUL, may be `.` or `..`, may be empty, and several images in
one album (or nodes in one folder) may share a name. `escape` turns any remote name into a legal
file name and `unescape` reverses it exactly; `assign_names` gives every item of a listing a
distinct name that depends only on the items themselves, never on the order the service lists
them in, so a name stays the same across listings and remounts.

Escaping: `/` becomes FULLWIDTH SOLIDUS (U+FF0F) and NUL becomes SYMBOL FOR NULL (U+2400), the
way other cloud mounts do; a name that already contains one of those characters, or the quote
SINGLE HIGH-REVERSED-9 QUOTATION MARK (U+201B), has each of them prefixed with that quote so the
mapping stays reversible. `.` and `..` get a leading quote too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from smugfs.errors import InvalidRequest, NameTooLong

SLASH = "\uff0f"
NUL = "\u2400"
QUOTE = "\u201b"
_ESCAPES = {"/": SLASH, "\x00": NUL}
_SPECIAL = (SLASH, NUL, QUOTE)
MAX_NAME_BYTES = 255


def new_name(raw: bytes) -> str:
    """A name a person gives a new file or directory, checked: the service keeps names as
    text, so bytes that are not UTF-8 and control characters are refused (EINVAL), and so is
    a name longer than a file name may be (ENAMETOOLONG)."""
    if len(raw) > MAX_NAME_BYTES:
        raise NameTooLong(f"a name is at most {MAX_NAME_BYTES} bytes")
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("the name is not UTF-8 text") from exc
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        raise InvalidRequest("the name contains a control character")
    return name


def escape(name: str) -> str:
    """A legal file name for a remote name (reversible with `unescape`)."""
    out = []
    for ch in name:
        if ch in _SPECIAL:
            out.append(QUOTE + ch)
        else:
            out.append(_ESCAPES.get(ch, ch))
    local = "".join(out)
    if local in (".", ".."):
        local = QUOTE + local
    return local


def unescape(local: str) -> str:
    """The remote name a local file name stands for (the inverse of `escape`)."""
    if local in (QUOTE + ".", QUOTE + ".."):
        return local[1:]
    out = []
    chars = iter(local)
    for ch in chars:
        if ch == QUOTE:
            following = next(chars, "")
            out.append(following if following in _SPECIAL else QUOTE + following)
        elif ch == SLASH:
            out.append("/")
        elif ch == NUL:
            out.append("\x00")
        else:
            out.append(ch)
    return "".join(out)


@dataclasses.dataclass(frozen=True)
class Named:
    """An item to name: its remote name, a key unique in the listing, and its age.

    Among items sharing a name, the oldest (then the smallest key) keeps the plain name; the
    others get their key added, which never changes.
    """

    remote_name: str
    key: str
    age: float = 0.0
    fallback: str = ""


def with_suffix(local: str, suffix: str) -> str:
    """`IMG_0001.JPG` + `ABC` -> `IMG_0001 (ABC).JPG`: the suffix goes before the extension,
    and the stem is shortened if the result would pass the 255-byte limit."""
    stem, dot, extension = local.rpartition(".")
    if not dot or not stem:
        stem, extension = local, ""
    tail = f" ({suffix})" + (f".{extension}" if extension else "")
    while stem and len((stem + tail).encode()) > MAX_NAME_BYTES:
        stem = stem[:-1]
    return stem + tail


def _fit(local: str) -> str:
    """Shorten a name to the 255-byte limit of file names, keeping its extension."""
    if len(local.encode()) <= MAX_NAME_BYTES:
        return local
    stem, dot, extension = local.rpartition(".")
    tail = (dot + extension) if dot and len(extension) <= 10 else ""
    body = stem if tail else local
    while len((body + tail).encode()) > MAX_NAME_BYTES:
        body = body[:-1]
    return body + tail


def assign_names(items: Sequence[Named]) -> list[str]:
    """A distinct local name for each item, in the items' order."""
    base = [_fit(escape(item.remote_name) or escape(item.fallback) or item.key) for item in items]
    groups: dict[str, list[int]] = {}
    for index, name in enumerate(base):
        groups.setdefault(name, []).append(index)
    names = list(base)
    taken = set(base)
    for name, members in groups.items():
        if len(members) < 2:
            continue
        ordered = sorted(members, key=lambda i: (items[i].age, items[i].key))
        for index in ordered[1:]:
            candidate = with_suffix(name, items[index].key)
            serial = 2
            while candidate in taken:
                candidate = with_suffix(name, f"{items[index].key}-{serial}")
                serial += 1
            names[index] = candidate
            taken.add(candidate)
    return names
