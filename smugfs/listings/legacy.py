"""Saved listings in the format before the metadata database: one JSON file per account,

    listings/<Settings.account_key>.json

read once to move them into the database (`database.py`), then removed. A file that cannot
be read, is not JSON, or was written with other record fields is left out (logged), never an
error. Blocking: read it in a worker thread.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, TypeVar

from smugfs.api.models import RemoteImage, RemoteNode
from smugfs.tree import Child

log = logging.getLogger(__name__)

FORMAT = "smugfs-listings-1"
_NODE_FIELDS = [f.name for f in dataclasses.fields(RemoteNode)]
_IMAGE_FIELDS = [f.name for f in dataclasses.fields(RemoteImage)]

R = TypeVar("R")


@dataclasses.dataclass(slots=True)
class Saved:
    """A directory's listing as fetched from the service (before this mount's own changes are
    laid over it), its validator, the validator's time and when the listing was fetched (both
    seconds since the epoch)."""

    validator: str
    stamp: float
    fetched: float
    children: list[Child]


def store_path(cache_dir: Path, key: str) -> Path:
    """The file of the account named by `key` (`Settings.account_key`, a hash that reveals
    nothing of the credentials)."""
    return cache_dir / "listings" / f"{key}.json"


def load(path: Path) -> tuple[RemoteNode | None, dict[str, Saved]]:
    """The root folder and the saved listings by directory identity (`node:<NodeID>`) of an
    old listings file; nothing if there is none or it cannot be used."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, {}
    except OSError as exc:
        log.warning("ignoring the saved listings %s: %s", path, exc.strerror)
        return None, {}
    try:
        return _decode(json.loads(raw))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        log.warning("ignoring the saved listings %s: %s", path, exc or type(exc).__name__)
        return None, {}


def _decode(data: Any) -> tuple[RemoteNode | None, dict[str, Saved]]:
    """The records of an old listings file; raises ValueError on anything else."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("not a listings file of this version")
    if data.get("node_fields") != _NODE_FIELDS or data.get("image_fields") != _IMAGE_FIELDS:
        raise ValueError("written with other record fields")

    def node(value: Any) -> RemoteNode | None:
        return _record(RemoteNode, _NODE_FIELDS, value)

    def image(value: Any) -> RemoteImage | None:
        return _record(RemoteImage, _IMAGE_FIELDS, value)

    saved: dict[str, Saved] = {}
    for identity, (validator, stamp, fetched, children) in data["listings"].items():
        saved[str(identity)] = Saved(
            str(validator),
            float(stamp),
            float(fetched),
            [Child(str(name), str(ident), node(n), image(i)) for name, ident, n, i in children],
        )
    return node(data["root"]), saved


def _record(cls: type[R], fields: list[str], value: Any) -> R | None:
    """A node or image from its field values (None stays None); ValueError if they do not
    fit the record."""
    if value is None:
        return None
    if len(value) != len(fields):
        raise ValueError(f"a {cls.__name__} record of the wrong length")
    return cls(*value)
