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


def mounted_paths(fstype: str | None = None) -> dict[str, str]:
    """Mount points of this system (of type `fstype` only, when given) with their
    `major:minor` device numbers. Read from mountinfo: never stats a mountpoint, which may
    not answer."""
    found: dict[str, str] = {}
    with contextlib.suppress(OSError), open("/proc/self/mountinfo", encoding="utf-8") as info:
        for line in info:
            fields, _, rest = line.partition(" - ")
            parts = fields.split()
            if len(parts) > 4 and (fstype is None or rest.split()[:1] == [fstype]):
                # Mount points are octal-escaped in mountinfo (a space is \040).
                path = parts[4].encode().decode("unicode_escape")
                found[path] = parts[2]
    return found


def status_dir() -> Path:
    """Where mounts report what they are doing, one file each."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return Path(runtime) / "smugfs" if runtime else Path(platformdirs.user_state_dir("smugfs"))


def status_path(mountpoint: Path) -> Path:
    """Where a mount at `mountpoint` reports what it is doing."""
    key = hashlib.sha1(str(Path(os.path.abspath(mountpoint))).encode()).hexdigest()[:16]
    return status_dir() / f"mount-{key}.json"


def process_start(pid: int) -> int | None:
    """When process `pid` started (clock ticks after boot), None if there is no such process.
    With its pid this names one process: a pid is given again to another after its process
    ended."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as stat:
            text = stat.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces and parentheses.
    fields = text.rsplit(")", 1)[-1].split()
    if len(fields) < 20 or fields[0] == "Z":
        return None  # a zombie has ended; only its exit status is left
    return int(fields[19])


def writer_alive(status: dict[str, Any]) -> bool:
    """Whether the process that wrote `status` still runs. A status without the process's
    start time (written by an older smugfs) counts its pid alone."""
    try:
        pid = int(status["pid"])
    except (KeyError, TypeError, ValueError):
        return True  # nothing to check: counts as running
    started = process_start(pid)
    if started is None:
        return False
    recorded = status.get("process_start")
    return recorded is None or recorded == started


def remove_dead_statuses() -> list[Path]:
    """Remove the status files of mounts whose process is gone (killed, so it could not remove
    its own); returns them. Files of running mounts, and any that cannot be read as a status,
    are left alone."""
    removed = []
    for path in status_dir().glob("mount-*.json"):
        try:
            status = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(status, dict) and "pid" in status and not writer_alive(status):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


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
