"""Modification times that tools set on photos, kept by the mount.

`rsync -a`, `cp -p`, `touch -d` and `tar -x` set a file's modification time after writing it,
and `rsync`'s quick check compares it (to the nanosecond) with the source's on the next run.
The service has no field that could hold such a time without changing what the owner sees on
the web (an image's writable fields are its title, caption, keywords, location and whether it
is hidden; its dates are the service's own), so the time is kept with the mount's metadata,
keyed by the photo's *version* (`RemoteImage.version`: image key, serial, MD5 and size). A
photo replaced, here or on the web, is a new version and shows the service's time again; a
deleted one's time is forgotten.

`KeptTimes` is the interface the filesystem uses (get, set and forget by version);
`listings/kept.py` implements it in the mount's metadata database. Times kept by earlier
versions in one file per account (`times/<account>.json`) are read once by `load_file` and
moved into the database.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


class KeptTimes(Protocol):
    """Times tools set on photos, by photo version, in nanoseconds since the epoch."""

    def get(self, version: str) -> int | None:
        """The time kept for a photo version, if any."""

    def set(self, version: str, mtime_ns: int) -> None:
        """Keep a time for a photo version."""

    def forget(self, version: str) -> None:
        """Drop the time of a photo version (deleted, or replaced by a new version)."""


def times_path(cache_dir: Path, account_key: str) -> Path:
    """Where an account's kept times live in the cache directory."""
    return cache_dir / "times" / f"{account_key}.json"


def load_file(path: Path) -> dict[str, int]:
    """The times kept in a file of the earlier format (blocking); an unreadable file gives
    none, never an error."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring the kept file times in %s: %s", path, exc)
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, int) and v >= 0}
