"""Where a running mount reports what it does, and reading that report; kept free of the
mount's own imports, so `smugfs sync`, `status` and `unmount` start quickly."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import platformdirs

from smugfs.errors import SmugfsError

# What became of a file a killed mount left behind, as the status file reports it.
UPLOADED = "uploaded"
WAITING = "waiting for the service"
KEPT = "kept, not uploaded"


class NoStatus(SmugfsError):
    """There is no running smugfs mount to report on (said in one line for the user)."""


def mounted_paths() -> dict[str, str]:
    """Mount points of this system with their `major:minor` device numbers."""
    found: dict[str, str] = {}
    with contextlib.suppress(OSError), open("/proc/self/mountinfo", encoding="utf-8") as info:
        for line in info:
            fields = line.split()
            if len(fields) > 4:
                # Mount points are octal-escaped in mountinfo (a space is \040).
                path = fields[4].encode().decode("unicode_escape")
                found[path] = fields[2]
    return found


def status_path(mountpoint: Path) -> Path:
    """Where a mount at `mountpoint` reports what it is doing."""
    key = hashlib.sha1(str(Path(os.path.abspath(mountpoint))).encode()).hexdigest()[:16]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "smugfs" if runtime else Path(platformdirs.user_state_dir("smugfs"))
    return base / f"mount-{key}.json"


def read_status(mountpoint: Path) -> dict[str, Any]:
    """The status a running mount reports, or NoStatus saying why there is none."""
    path = Path(os.path.abspath(mountpoint))
    if str(path) not in mounted_paths():
        raise NoStatus(f"{path} is not mounted")
    try:
        data: dict[str, Any] = json.loads(status_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NoStatus(
            f"{path} is mounted but reports no status (not a smugfs mount of this user?)"
        ) from exc
    return data
