"""`smugfs sync MOUNTPOINT`, and the wait of `smugfs unmount`: until everything staged landed.

Both read the status file the mount keeps (`status_file.status_path`), which it rewrites as soon as
its upload queue changes. `sync` waits until nothing is queued or uploading (and the leftovers
of earlier mounts are queued), showing its progress (files, bytes, rate, time left; a bar on a
terminal, see `progress.py`), then names every file of this mount
that was not uploaded and why, and exits 1 if there is any. `unmount` shows the same progress
until the mount process has finished its queue and ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from smugfs.errors import SmugfsError
from smugfs.progress import Progress
from smugfs.status_file import KEPT, WAITING, NoStatus, read_status, status_path, writer_alive

POLL = 0.1
MIB = 1024 * 1024
# A running mount rewrites its status every second: one silent this long is stuck.
SILENT_LIMIT = 30.0
# How long the wait follows a mount with nothing queued that is still looking for what
# earlier mounts left to upload (a scan that never ends must not hold the wait for ever).
SCAN_LIMIT = 60.0


class Stalled(SmugfsError):
    """The mount stopped telling what it does, so the wait ends (said in one line)."""


def not_uploaded(status: dict[str, Any]) -> list[str]:
    """Every file this mount did not upload, with why: `PATH: WHY`."""
    lines = [f"{f['path']}: {f['why']}" for f in status.get("queue", {}).get("failed", [])]
    named = {line.split(": ", 1)[0] for line in lines}
    for item in status.get("recovered", []):
        # A file a killed mount never closed, handed back without an upload attempt.
        if item.get("state") == KEPT and item["path"] not in named:
            lines.append(f"{item['path']}: {item.get('detail', 'not uploaded')}")
    return lines


def _pending(status: dict[str, Any]) -> tuple[int, int, bool]:
    """Files and bytes still to upload, and whether anything is still to come."""
    queue = status.get("queue", {})
    files = queue.get("queued", 0) + len(queue.get("uploading", []))
    size = queue.get("queued_bytes", 0) + queue.get("uploading_bytes", 0)
    recovering = not status.get("recovery_scanned", True) or any(
        item.get("state") == WAITING for item in status.get("recovered", [])
    )
    return files, size, files > 0 or recovering or queue.get("following", 0) > 0


class Landed:
    """What has landed since the wait began, shown as it grows."""

    def __init__(self, first: dict[str, Any], out: TextIO) -> None:
        queue = first.get("queue", {})
        self.base_files = queue.get("done", 0)
        self.base_bytes = queue.get("done_bytes", 0)
        self.progress = Progress(out, unit="B", in_bytes=True)

    def show(self, status: dict[str, Any]) -> None:
        """Bring the progress up to date with a status."""
        queue = status.get("queue", {})
        files, size, _ = _pending(status)
        done_files = queue.get("done", 0) - self.base_files
        done_bytes = queue.get("done_bytes", 0) - self.base_bytes
        total_files, total_bytes = done_files + files, done_bytes + size
        self.progress.show(
            done_bytes,
            total_bytes,
            label=f"{done_files}/{total_files} files",
            final=not files,
            line=lambda rate, left: (
                f"{done_files} of {total_files} files uploaded, {done_bytes / MIB:.1f} of "
                f"{total_bytes / MIB:.1f} MiB, {rate / MIB:.1f} MiB/s{left}"
            ),
        )

    def close(self) -> None:
        """End the progress bar."""
        self.progress.close()


def _only_scanning(status: dict[str, Any]) -> bool:
    """Whether all the status still waits for is the scan for earlier mounts' leftovers."""
    files, _, pending = _pending(status)
    recovered = status.get("recovered", [])
    return pending and not files and not any(item.get("state") == WAITING for item in recovered)


def _wait(read: Callable[[], dict[str, Any] | None], out: TextIO) -> dict[str, Any] | None:
    """Follow the status until nothing is left to upload (returns the last status) or there
    is no status any more (the mount ended: returns the last one seen). Raises Stalled when
    the mount stops rewriting its status, or with nothing queued stays scanning for
    leftovers, for longer than their limits."""
    since = time.time()
    last: dict[str, Any] | None = None
    progress: Landed | None = None
    asked = False
    heard = (None, time.monotonic())
    scanning_since: float | None = None
    try:
        while True:
            status = read()
            if status is None or not writer_alive(status):
                # The mount ended (a killed one leaves its last status behind).
                return last
            now = time.monotonic()
            if status.get("updated") != heard[0]:
                heard = (status.get("updated"), now)
            elif now - heard[1] > SILENT_LIMIT:
                raise Stalled(
                    f"the mount process {status.get('pid')} has not reported for "
                    f"{SILENT_LIMIT:.0f} s; see its log and smugfs status"
                )
            if not asked:
                asked = True
                # The mount writes its status again at once, rather than within a second.
                with contextlib.suppress(OSError, KeyError, TypeError):
                    os.kill(int(status["pid"]), signal.SIGUSR1)
            # Only a status written after the wait began shows every file closed before it.
            if status.get("updated", 0) >= since:
                last = status
                if progress is None:
                    progress = Landed(status, out)
                progress.show(status)
                if not _pending(status)[2]:
                    return status
                if not _only_scanning(status):
                    scanning_since = None
                elif scanning_since is None:
                    scanning_since = now
                elif now - scanning_since > SCAN_LIMIT:
                    raise Stalled(
                        f"nothing is queued, but the mount process {status.get('pid')} has "
                        f"not finished looking for what earlier mounts left to upload within "
                        f"{SCAN_LIMIT:.0f} s; it goes on by itself (smugfs status tells)"
                    )
            time.sleep(POLL)
    finally:
        if progress is not None:
            progress.close()


def sync(mountpoint: Path, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """`smugfs sync MOUNTPOINT`: 0 once everything staged landed, 1 naming what did not."""
    try:
        read_status(mountpoint)
        status = _wait(lambda: read_status(mountpoint), out)
    except (NoStatus, Stalled) as exc:
        print(f"smugfs sync: {exc}", file=err)
        return 1
    assert status is not None
    failed = not_uploaded(status)
    for line in failed:
        print(f"smugfs sync: not uploaded: {line}", file=err)
    return 1 if failed else 0


def wait_for_unmount(mountpoint: Path, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """After the kernel let go of a mount: wait while its process finishes the uploads still
    queued; 1 if some were not uploaded."""
    path = status_path(mountpoint)

    def read() -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data

    first = read()
    if first is None or not _pending(first)[2]:
        return 0
    print("waiting for the queued uploads to finish", file=out, flush=True)
    try:
        status = _wait(read, out)
    except Stalled as exc:
        print(f"smugfs unmount: {exc}", file=err)
        return 1
    failed = [] if status is None else not_uploaded(status)
    for line in failed:
        print(f"smugfs unmount: not uploaded: {line}", file=err)
    return 1 if failed else 0
