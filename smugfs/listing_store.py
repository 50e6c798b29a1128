"""Directory listings kept between mounts: what each directory held when it was last fetched,
with the stamp that tells whether the service has changed it since.

A mount lists a directory once and keeps the listing here with its *validator*: for an album
its `ImagesLastUpdated` and `ImageCount`, for a folder its node's `DateModified` (which the
service moves on whenever the node or anything below it changes). After a remount, or once a
listing has outlived `listing_ttl`, `fs.py` asks the service for the validator alone (one small
request, or none for a folder whose parent was just listed) and reuses the listing when it
matches, instead of fetching every page again.

A listing is trusted again only if it was fetched at least `settle` seconds after its stamp:
the service's listings lag behind its changes (deleted images stay listed for minutes), so a
listing fetched right after a change may not show it although its stamp already does.

Everything lives in one file per account and endpoint, in the cache directory:

    listings/<Settings.account_key>.json        mode 0600, replaced atomically

A file that cannot be read, is not JSON, or was written with other record fields is ignored
(and replaced at the next save), never an error. No I/O happens outside `load` and `save`,
which block and are meant to run in a worker thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from smugfs.api.models import RemoteImage, RemoteNode

log = logging.getLogger(__name__)

FORMAT = "smugfs-listings-1"
_NODE_FIELDS = [f.name for f in dataclasses.fields(RemoteNode)]
_IMAGE_FIELDS = [f.name for f in dataclasses.fields(RemoteImage)]

# (file name, identity, node, image) of one child, as `tree.InodeTable.store_listing` takes it.
Child = tuple[str, str, RemoteNode | None, RemoteImage | None]


@dataclasses.dataclass(slots=True)
class Saved:
    """A directory's listing as fetched from the service (before this mount's own changes are
    laid over it), its validator, the validator's time and when the listing was fetched (both
    seconds since the epoch)."""

    validator: str
    stamp: float
    fetched: float
    children: list[Child]

    def trusted(self, settle: float) -> bool:
        """Whether the listing was fetched long enough after its stamp to show that change."""
        return self.fetched >= self.stamp + settle


def store_path(cache_dir: Path, key: str) -> Path:
    """The file of the account named by `key` (`Settings.account_key`, a hash that reveals
    nothing of the credentials)."""
    return cache_dir / "listings" / f"{key}.json"


class ListingStore:
    """The saved listings of one account, by directory identity (`node:<NodeID>`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.root: RemoteNode | None = None
        self._saved: dict[str, Saved] = {}
        self.dirty = False

    def __len__(self) -> int:
        return len(self._saved)

    def get(self, identity: str) -> Saved | None:
        """The saved listing of a directory, if any."""
        return self._saved.get(identity)

    def put(self, identity: str, saved: Saved) -> None:
        """Keep a directory's listing (saved to disk at the next `save`)."""
        self._saved[identity] = saved
        self.dirty = True

    def drop(self, identity: str) -> None:
        """Forget a directory's listing (it was deleted, or its listing is known to be wrong)."""
        if self._saved.pop(identity, None) is not None:
            self.dirty = True

    def set_root(self, root: RemoteNode) -> None:
        """The account's root folder as the service last showed it."""
        if root != self.root:
            self.root = root
            self.dirty = True

    # ------------------------------------------------------------------ disk

    def load(self) -> None:
        """Read the saved listings; anything unreadable or foreign leaves the store empty."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("ignoring the saved listings %s: %s", self.path, exc.strerror)
            return
        try:
            data = json.loads(raw)
            root, saved = _decode(data)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            log.warning("ignoring the saved listings %s: %s", self.path, exc or type(exc).__name__)
            return
        self.root, self._saved, self.dirty = root, saved, False
        log.debug("%d saved listings from %s", len(saved), self.path)

    def snapshot(self) -> tuple[RemoteNode | None, dict[str, Saved]]:
        """What `write` saves, taken on the event loop (a saved listing is replaced, never
        changed, so a shallow copy stays whole while a worker thread writes it)."""
        self.dirty = False
        return self.root, dict(self._saved)

    def save(self) -> None:
        """Write every listing to disk now (blocking)."""
        self.write(self.snapshot())

    def write(self, snapshot: tuple[RemoteNode | None, dict[str, Saved]]) -> None:
        """Write a snapshot to disk, atomically and readable by the owner only."""
        data = _encode(*snapshot)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(prefix=self.path.name, suffix=".tmp", dir=self.path.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            self.dirty = True
            log.warning("cannot save the listings to %s: %s", self.path, exc.strerror)


def _encode(root: RemoteNode | None, saved: dict[str, Saved]) -> bytes:
    """Records as lists of their field values, with the field names once in the header, so a
    file written with other fields is recognised as foreign."""

    def node(value: RemoteNode | None) -> list[Any] | None:
        return None if value is None else [getattr(value, f) for f in _NODE_FIELDS]

    def image(value: RemoteImage | None) -> list[Any] | None:
        return None if value is None else [getattr(value, f) for f in _IMAGE_FIELDS]

    listings = {
        identity: [
            s.validator,
            s.stamp,
            s.fetched,
            [[name, ident, node(n), image(i)] for name, ident, n, i in s.children],
        ]
        for identity, s in saved.items()
    }
    data = {
        "format": FORMAT,
        "node_fields": _NODE_FIELDS,
        "image_fields": _IMAGE_FIELDS,
        "root": node(root),
        "listings": listings,
    }
    return json.dumps(data, separators=(",", ":")).encode("utf-8")


def _decode(data: Any) -> tuple[RemoteNode | None, dict[str, Saved]]:
    """The inverse of `_encode`; raises ValueError on anything else."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("not a listings file of this version")
    if data.get("node_fields") != _NODE_FIELDS or data.get("image_fields") != _IMAGE_FIELDS:
        raise ValueError("written with other record fields")

    def node(value: Any) -> RemoteNode | None:
        if value is None:
            return None
        if len(value) != len(_NODE_FIELDS):
            raise ValueError("a node record of the wrong length")
        return RemoteNode(*value)

    def image(value: Any) -> RemoteImage | None:
        if value is None:
            return None
        if len(value) != len(_IMAGE_FIELDS):
            raise ValueError("an image record of the wrong length")
        return RemoteImage(*value)

    saved: dict[str, Saved] = {}
    for identity, (validator, stamp, fetched, children) in data["listings"].items():
        saved[str(identity)] = Saved(
            str(validator),
            float(stamp),
            float(fetched),
            [(str(name), str(ident), node(n), image(i)) for name, ident, n, i in children],
        )
    return node(data["root"]), saved
