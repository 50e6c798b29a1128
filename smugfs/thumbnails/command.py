"""`smugfs thumbnails PATH...`: fill the thumbnail cache for folders on purpose.

Each path must be in a running smugfs mount of this user; the mount does the work (see
`requests.py`) and this shows its progress (photos done of all, rendition bytes, rate and time
left; a bar on a terminal, see `progress.py`) and a summary.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from smugfs import status_file
from smugfs.errors import SmugfsError
from smugfs.progress import Progress
from smugfs.thumbnails.requests import request_path, write_request

MIB = 1024 * 1024
POLL = 0.25
# A mount whose status file stops changing this long is gone or stuck.
STALE_AFTER = 30.0


def locate(path: Path) -> tuple[Path, str]:
    """The smugfs mount holding `path` and the path below its mountpoint."""
    absolute = Path(os.path.abspath(path))
    mounts = sorted(status_file.mounted_paths(), key=len, reverse=True)
    for mountpoint in mounts:
        inside = absolute == Path(mountpoint) or Path(mountpoint) in absolute.parents
        if inside and status_file.status_path(Path(mountpoint)).exists():
            return Path(mountpoint), str(absolute.relative_to(mountpoint))
    raise SmugfsError(f"{absolute} is not in a running smugfs mount of this user")


def run(paths: list[Path], out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Fill the cache for `paths`; 0 when every photo has its thumbnails, 1 otherwise."""
    try:
        groups: dict[Path, list[str]] = {}
        for path in paths:
            mountpoint, below = locate(path)
            if not os.path.isdir(path):
                raise SmugfsError(f"{path} is not a folder or album")
            groups.setdefault(mountpoint, []).append("" if below == "." else below)
        failed = False
        for mountpoint, below_paths in groups.items():
            failed |= not _fill(mountpoint, below_paths, out)
    except SmugfsError as exc:
        print(f"smugfs: {exc}", file=err)
        return 1
    except KeyboardInterrupt:
        return 130
    return 1 if failed else 0


def _fill(mountpoint: Path, paths: list[str], out: TextIO) -> bool:
    """Ask one mount to fill `paths` and follow it to the end; whether all went well."""
    status = status_file.read_status(mountpoint)
    if status.get("thumbnails") is None:
        raise SmugfsError(f"{mountpoint} is mounted with thumbnails=off")
    request_id = secrets.token_hex(8)
    write_request(request_path(status_file.status_path(mountpoint)), request_id, paths)
    started = time.monotonic()
    progress = Progress(out, unit="photo")
    try:
        while True:
            status = status_file.read_status(mountpoint)
            report = status.get("thumbnail_request") or {}
            if time.time() - float(status.get("updated", 0)) > STALE_AFTER:
                raise SmugfsError(f"{mountpoint} stopped reporting (is the mount stuck?)")
            if report.get("id") == request_id:
                _show(progress, report)
                if report.get("finished"):
                    break
            time.sleep(POLL)
    finally:
        progress.close()
    if report.get("error"):
        raise SmugfsError(f"{mountpoint}: {report['error']}")
    elapsed = time.monotonic() - started
    print(
        f"thumbnails: {report['photos']} photos in {report['albums']} albums; "
        f"{report['written']} thumbnails written ({report['bytes'] / MIB:.1f} MiB) from "
        f"{report['rendition_bytes'] / MIB:.1f} MiB of renditions, {report['failed']} failed, "
        f"in {elapsed:.1f} s",
        file=out,
    )
    return not report["failed"]


def _show(progress: Progress, report: dict[str, Any]) -> None:
    """Show a progress report of the mount."""
    fetched = report["rendition_bytes"] / MIB
    listing = report["listing"]
    progress.show(
        report["done"],
        None if listing else report["photos"],
        label="listing" if listing else "thumbnails",
        postfix="" if listing else f"{fetched:.1f} MiB",
        final=report["finished"],
        line=lambda rate, left: (
            f"{report['done']} of {report['photos']} photos, {fetched:.1f} MiB of renditions, "
            f"{rate:.1f} photos/s{left}"
        ),
    )
