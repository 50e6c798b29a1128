"""`smugfs thumbnails PATH...`: fill the thumbnail cache for folders on purpose.

Each path must be in a running smugfs mount of this user; the mount does the work (see
`requests.py`) and this shows its progress: a bar on a terminal (photos done of all, rendition
bytes, rate and time left, from tqdm), a line every few seconds otherwise, and a summary.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from smugfs import status_file
from smugfs.errors import SmugfsError
from smugfs.thumbnails.requests import request_path, write_request

MIB = 1024 * 1024
POLL = 0.25
PLAIN_EVERY = 5.0
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
    shown = Display(out)
    try:
        while True:
            status = status_file.read_status(mountpoint)
            report = status.get("thumbnail_request") or {}
            if time.time() - float(status.get("updated", 0)) > STALE_AFTER:
                raise SmugfsError(f"{mountpoint} stopped reporting (is the mount stuck?)")
            if report.get("id") == request_id:
                shown.update(report, time.monotonic() - started)
                if report.get("finished"):
                    break
            time.sleep(POLL)
    finally:
        shown.close()
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


class Display:
    """Progress as a bar on a terminal, or as a line now and then."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.bar: tqdm[Any] | None = None
        self.last_line = 0.0
        if out.isatty():
            self.bar = tqdm(file=out, unit="photo", dynamic_ncols=True, leave=True)

    def update(self, report: dict[str, Any], elapsed: float) -> None:
        """Show a progress report of the mount."""
        fetched = report["rendition_bytes"] / MIB
        if self.bar is not None:
            if report["listing"]:
                self.bar.set_description("listing", refresh=True)
                return
            self.bar.set_description("thumbnails", refresh=False)
            self.bar.total = report["photos"]
            self.bar.n = report["done"]
            self.bar.set_postfix_str(f"{fetched:.1f} MiB", refresh=False)
            self.bar.refresh()
            return
        if time.monotonic() - self.last_line < PLAIN_EVERY and not report["finished"]:
            return
        self.last_line = time.monotonic()
        rate = report["done"] / max(elapsed, 1e-6)
        left = report["photos"] - report["done"]
        eta = f", about {left / rate:.0f} s left" if rate > 0 and left else ""
        print(
            f"{report['done']} of {report['photos']} photos, {fetched:.1f} MiB of renditions, "
            f"{rate:.1f} photos/s{eta}",
            file=self.out,
            flush=True,
        )

    def close(self) -> None:
        """End the bar."""
        if self.bar is not None:
            self.bar.close()
