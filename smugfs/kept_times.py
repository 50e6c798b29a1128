"""Modification times that tools set on photos, kept by the mount.

`rsync -a`, `cp -p`, `touch -d` and `tar -x` set a file's modification time after writing it,
and `rsync`'s quick check compares it (to the nanosecond) with the source's on the next run.
The service has no field that could hold such a time without changing what the owner sees on
the web (an image's writable fields are its title, caption, keywords, location and whether it
is hidden; its dates are the service's own), so the time is kept with the mount's metadata,
keyed by the photo's *version* (`RemoteImage.version`: image key, serial, MD5 and size). A
photo replaced, here or on the web, is a new version and shows the service's time again; a
deleted one's time is forgotten.

`KeptTimes` is the interface the filesystem uses (get, set and forget by version).
`KeptTimesFile` implements it with one small file per account in the cache directory
(`times/<account>.json`, mode 0600, replaced atomically), loaded at start and written shortly
after each change and at unmount. Another store (a database holding the rest of the mount's
metadata) can stand in for it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Protocol

import trio

from smugfs.private_file import write_private

log = logging.getLogger(__name__)

# How soon after a change the kept times are written to disk.
SAVE_INTERVAL = 1.0


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


class KeptTimesFile:
    """Kept times in memory, saved to one private file per account."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._times: dict[str, int] = {}
        self._dirty = False
        self._changed = trio.Event()

    def get(self, version: str) -> int | None:
        """See `KeptTimes.get`."""
        return self._times.get(version)

    def set(self, version: str, mtime_ns: int) -> None:
        """See `KeptTimes.set`."""
        if self._times.get(version) != mtime_ns:
            self._times[version] = mtime_ns
            self._touched()

    def forget(self, version: str) -> None:
        """See `KeptTimes.forget`."""
        if self._times.pop(version, None) is not None:
            self._touched()

    def _touched(self) -> None:
        self._dirty = True
        self._changed.set()

    def load(self) -> None:
        """Read the saved times (blocking); an unreadable file is ignored (and rewritten at
        the next change), never an error."""
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("ignoring the kept file times in %s: %s", self.path, exc)
            return
        if isinstance(data, dict):
            self._times = {str(k): v for k, v in data.items() if isinstance(v, int) and v >= 0}

    async def save(self) -> None:
        """Write the times to disk if they changed."""
        if not self._dirty:
            return
        self._dirty = False
        data = json.dumps(self._times, separators=(",", ":")).encode()
        try:
            await trio.to_thread.run_sync(write_private, self.path, data)
        except OSError as exc:
            self._dirty = True
            log.warning("cannot save the kept file times to %s: %s", self.path, exc.strerror)

    async def keep_saved(self) -> None:
        """Write the times shortly after each change, for as long as the mount runs."""
        while True:
            await self._changed.wait()
            self._changed = trio.Event()
            await trio.sleep(SAVE_INTERVAL)
            await self.save()
