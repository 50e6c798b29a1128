"""What the mount keeps for a photo version that the service has no field for (a tool-set
modification time, attributes), in the metadata database: `kept_times.KeptTimes` and more.

Keys are `RemoteImage.version`, so a photo replaced here or on the web, being a new version,
loses what was kept for the old one. Everything kept is held in memory too (it is only what
tools set on photos through this mount, not something every photo has) and each change is
written through at once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from smugfs.kept_times import load_file
from smugfs.listings.database import Database

log = logging.getLogger(__name__)


class KeptInDatabase:
    """Kept times and attributes by photo version."""

    def __init__(self, database: Database) -> None:
        self._database = database
        kept = database.kept()
        self._times = {version: ns for version, (ns, _) in kept.items() if ns is not None}
        self._attributes = {version: a for version, (_, a) in kept.items() if a is not None}

    def take_over(self, old: Path) -> None:
        """Move the times kept in a file of the earlier format in, and remove that file."""
        times = load_file(old)
        for version, mtime_ns in times.items():
            if version not in self._times:
                self.set(version, mtime_ns)
        if times:
            log.info("moved %d kept file times from %s into the database", len(times), old)
        old.unlink(missing_ok=True)

    def get(self, version: str) -> int | None:
        """See `KeptTimes.get`."""
        return self._times.get(version)

    def set(self, version: str, mtime_ns: int) -> None:
        """See `KeptTimes.set`."""
        if self._times.get(version) != mtime_ns:
            self._times[version] = mtime_ns
            self._database.keep_time(version, mtime_ns)

    def forget(self, version: str) -> None:
        """See `KeptTimes.forget` (attributes go too)."""
        had_time = self._times.pop(version, None) is not None
        had_attributes = self._attributes.pop(version, None) is not None
        if had_time or had_attributes:
            self._database.forget_kept(version)

    def attributes(self, version: str) -> dict[str, Any]:
        """The attributes kept for a photo version (a copy; empty if none)."""
        return dict(self._attributes.get(version, {}))

    def set_attributes(self, version: str, attrs: dict[str, Any]) -> None:
        """Keep attributes (JSON values by name) for a photo version, replacing earlier ones."""
        if self._attributes.get(version) != attrs:
            self._attributes[version] = dict(attrs)
            self._database.keep_attributes(version, attrs)
