"""A running mount's status file: what it holds, how often it is written, how a person reads it.

`report_status` keeps the file current (every second, as soon as the upload queue changes, and
at once on SIGUSR1 from `smugfs sync`); `describe_status` turns it into the lines of
`smugfs status`. Where the file lives and reading it are `status_file.py`'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from smugfs.status_file import process_start, remove_dead_statuses, status_path
from smugfs.upload_queue import describe as describe_queue

if TYPE_CHECKING:
    # Only the mount builds a report; `smugfs status` reads one without these imports.
    from smugfs import config
    from smugfs.api.client import SmugMugClient
    from smugfs.cache_store import ContentCache
    from smugfs.fs import Filesystem
    from smugfs.recovery import Recovery
    from smugfs.upload_queue import UploadQueue

log = logging.getLogger(__name__)

STATUS_INTERVAL = 1.0
QUEUE_STATUS_INTERVAL = 0.1


def _write_status(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


@dataclasses.dataclass(frozen=True)
class Reported:
    """The parts of a mount whose state the status file reports."""

    settings: config.Settings
    client: SmugMugClient
    cache: ContentCache
    recovery: Recovery
    fs: Filesystem
    uploads: UploadQueue


async def report_status(mountpoint: Path, parts: Reported) -> None:
    """Keep the status file of this mount current (read by `smugfs status` and `smugfs
    sync`): every second, as soon as the upload queue changes, and at once when asked
    (SIGUSR1, sent by `smugfs sync` so that with nothing to wait for it returns at once)."""
    path = status_path(mountpoint)
    started = time.time()
    asked = _Asked()
    try:
        # Mounts killed earlier could not remove their own.
        await trio.to_thread.run_sync(remove_dead_statuses)
        with trio.open_signal_receiver(signal.SIGUSR1) as requests:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(asked.listen, requests)
                while True:
                    data = _status_of(mountpoint, started, parts)
                    await trio.to_thread.run_sync(_write_status, path, data)
                    with trio.move_on_after(STATUS_INTERVAL):
                        await asked.either(parts.uploads.changed)
                        await trio.sleep(QUEUE_STATUS_INTERVAL)
    except OSError as exc:
        log.warning("cannot write the status file %s: %s", path, exc.strerror)
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


class _Asked:
    """SIGUSR1 received since the status file was last written."""

    def __init__(self) -> None:
        self._event = trio.Event()

    async def listen(self, requests: AsyncIterator[int]) -> None:
        """Note every signal."""
        async for _ in requests:
            self._event.set()

    async def either(self, other: Callable[[], Awaitable[None]]) -> None:
        """Wait for a signal or for `other()`, whichever comes first."""
        async with trio.open_nursery() as nursery:

            async def wait(what: Callable[[], Awaitable[None]]) -> None:
                await what()
                nursery.cancel_scope.cancel()

            nursery.start_soon(wait, self._event.wait)
            nursery.start_soon(wait, other)
        if self._event.is_set():
            self._event = trio.Event()


def _status_of(mountpoint: Path, started: float, parts: Reported) -> dict[str, Any]:
    """What the status file says now."""
    stats = parts.client.stats
    return {
        "mountpoint": str(mountpoint),
        "endpoint": parts.settings.endpoint,
        "reachable": not parts.client.offline,
        "pid": os.getpid(),
        # With the pid, this names the mount's process (a pid is reused once it ended).
        "process_start": process_start(os.getpid()),
        "started": started,
        "updated": time.time(),
        "read_only": parts.settings.read_only,
        "cache": {
            "used_bytes": parts.cache.used_bytes,
            "budget_bytes": parts.cache.budget,
            "directory": str(parts.settings.cache_dir),
        },
        "uploads": {
            "in_flight": stats.uploads_in_flight,
            "done": stats.uploads_done,
            "failed": stats.uploads_failed,
            "bytes": stats.upload_bytes,
        },
        "requests": {
            "sent": stats.requests,
            "retried": stats.retries,
            "errors": stats.errors,
            "media_bytes": stats.media_bytes,
        },
        "rate_limit": {
            "remaining": stats.rate_limit_remaining,
            "reset": stats.rate_limit_reset,
        },
        "recovered": parts.recovery.report(),
        "thumbnails": parts.fs.thumbnails.stats.as_dict() if parts.fs.thumbnails else None,
        "thumbnail_request": (
            parts.fs.thumbnail_requests.report() if parts.fs.thumbnail_requests else None
        ),
        "queue": parts.uploads.report(),
        # Until the leftovers of earlier mounts are queued, `smugfs sync` waits.
        "recovery_scanned": parts.recovery.scanned or parts.settings.read_only,
    }


def describe_status(status: dict[str, Any]) -> list[str]:
    """`smugfs status` in lines a person reads."""
    cache = status["cache"]
    uploads = status["uploads"]
    requests = status["requests"]
    limit = status["rate_limit"]
    mib = 1024 * 1024
    lines = [
        f"mountpoint   {status['mountpoint']} (process {status['pid']})",
        f"service      {status['endpoint']}"
        + ("  read-only" if status["read_only"] else "")
        + ("" if status.get("reachable", True) else "  UNREACHABLE: showing what is cached"),
        f"cache        {cache['used_bytes'] / mib:.1f} MiB of {cache['budget_bytes'] / mib:.0f}"
        f" MiB in {cache['directory']}",
        f"uploads      {uploads['in_flight']} in flight, {uploads['done']} done, "
        f"{uploads['failed']} failed ({uploads['bytes'] / mib:.1f} MiB sent)",
        *describe_queue(status.get("queue", {})),
        f"requests     {requests['sent']} sent, {requests['retried']} retried, "
        f"{requests['errors']} errors; {requests['media_bytes'] / mib:.1f} MiB read",
    ]
    if limit["remaining"] is not None:
        reset = time.strftime("%H:%M:%S", time.localtime(limit["reset"] or 0))
        lines.append(f"rate limit   {limit['remaining']} requests left until {reset}")
    else:
        lines.append("rate limit   not reported yet")
    thumbnails = status.get("thumbnails")
    if thumbnails is None:
        lines.append("thumbnails   off")
    else:
        lines.append(
            f"thumbnails   {thumbnails['written']} written for {thumbnails['photos']} photos "
            f"({thumbnails['bytes'] / mib:.1f} MiB) from {thumbnails['rendition_bytes'] / mib:.1f}"
            f" MiB of renditions, {thumbnails['failed']} failed"
        )
    for item in status.get("recovered", []):
        # Files an earlier mount of this account was killed before it finished.
        detail = f" ({item['detail']})" if item.get("detail") else ""
        lines.append(f"recovered    {item['path']}: {item['state']}{detail}")
    return lines
