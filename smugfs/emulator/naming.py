"""Names, keys and timestamps as the SmugMug service forms them.

The emulator derives `UrlName`s from display names, checks supplied ones, makes object keys in
the service's alphabet and formats every timestamp the way the API prints it (ISO 8601 UTC with
an explicit `+00:00`).
"""

from __future__ import annotations

import datetime as dt
import random
import re
import unicodedata

KEY_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
NODE_ID_LENGTH = 6
ALBUM_KEY_LENGTH = 6
IMAGE_KEY_LENGTH = 7
URL_NAME_MAX = 60
NAME_MAX = 254

# A UrlName a client supplies must start with a capital letter (the service refused lower-case
# and digit-first ones); one the service derives itself may start with a digit.
_SUPPLIED_URL_NAME = re.compile(r"[A-Z][A-Za-z0-9-]{0,59}")
_WORD = re.compile(r"[A-Za-z0-9]+")


def make_key(rng: random.Random, length: int) -> str:
    """A new random key in the service's alphabet (the caller checks uniqueness)."""
    return "".join(rng.choice(KEY_ALPHABET) for _ in range(length))


def derive_url_name(name: str) -> str:
    """The UrlName the service derives from a display name.

    Words of ASCII letters and digits are kept and joined by `-`; apostrophes vanish inside a
    word (`SmugMug's` -> `SmugMugs`); everything else separates words. A lower-case first letter
    is capitalised. A name with no usable word gets `Untitled`.
    """
    folded = unicodedata.normalize("NFKD", name)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    folded = folded.replace("'", "").replace("\u2019", "")
    words = _WORD.findall(folded)
    url_name = "-".join(words)[:URL_NAME_MAX].rstrip("-")
    if not url_name:
        return "Untitled"
    return url_name[0].upper() + url_name[1:]


def valid_supplied_url_name(url_name: str) -> bool:
    """Whether a client-supplied UrlName meets the service's rules."""
    return _SUPPLIED_URL_NAME.fullmatch(url_name) is not None


def unique_url_name(wanted: str, taken: set[str]) -> str:
    """`wanted`, or `wanted-2`, `wanted-3`... whichever is not taken (case-insensitively)."""
    lowered = {t.lower() for t in taken}
    if wanted.lower() not in lowered:
        return wanted
    for n in range(2, 100_000):
        suffix = f"-{n}"
        candidate = wanted[: URL_NAME_MAX - len(suffix)] + suffix
        if candidate.lower() not in lowered:
            return candidate
    raise RuntimeError("no free UrlName")  # pragma: no cover - 100k siblings cannot happen


def now() -> dt.datetime:
    """The service's clock, truncated to whole seconds as the API reports times."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def iso(moment: dt.datetime) -> str:
    """A timestamp as the API prints it: `2014-09-13T01:08:32+00:00`."""
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat()


def parse_iso(text: str) -> dt.datetime:
    """The inverse of `iso`."""
    return dt.datetime.fromisoformat(text)
