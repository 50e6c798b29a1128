"""A mount's lifecycle: check, build the objects, mount, serve, and always unmount.

`run_foreground` does everything in this process: it checks the mountpoint, reaches the service
(so bad credentials or an unreachable service fail before anything is mounted; with the service
unreachable, a mount that saved its listings earlier starts with those), mounts with
`pyfuse3.init`, serves until SIGINT/SIGTERM or `fusermount3 -u`, and unmounts in a `finally`, so
a crash does not leave a dead "Transport endpoint is not connected" mount behind.
Going to the background is `background.py`'s, the status file `status_report.py`'s and the
demo's emulator child `demo_child.py`'s.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pyfuse3
import trio

from smugfs import config, mount_guard
from smugfs.background import READY
from smugfs.core import Core
from smugfs.errors import (
    AccessDenied,
    MountError,
    ServiceUnavailable,
    first_error,
)
from smugfs.fuse_ops import FuseOperations
from smugfs.status_file import mounted_paths, status_path
from smugfs.status_report import Reported, report_status
from smugfs.thumbnails.requests import Requests, request_path
from smugfs.thumbnails.thumbnailer import Thumbnailer

log = logging.getLogger(__name__)

READ_AHEAD_KB = 1024
# How often the read-ahead is checked after the mount starts serving, for how long, and how
# many checks in a row it must have held (see `_tune_read_ahead_when_serving`).
_TUNE_EVERY = 0.02
_TUNE_CHECKS = 250
_TUNE_HELD = 10


def check_mountpoint(mountpoint: Path) -> Path:
    """The absolute mountpoint, or a MountError that says what is wrong with it."""
    path = Path(os.path.abspath(mountpoint))
    if str(path) in mounted_paths():
        if not mount_guard.clear_if_dead(path):
            raise MountError(f"{path} is already mounted (unmount it first: smugfs unmount {path})")
        log.warning("%s was a dead mount of smugfs (its process was killed): cleared", path)
    try:
        is_dir = path.is_dir()
    except OSError as exc:
        raise MountError(f"{path}: {exc.strerror}") from exc
    if not path.exists():
        raise MountError(f"mountpoint {path} does not exist")
    if not is_dir:
        raise MountError(f"mountpoint {path} is not a directory")
    return path


def check_credentials(settings: config.Settings) -> None:
    """Refuse to start without credentials (one line that says what to do)."""
    credentials = settings.credentials
    if not credentials.api_key:
        raise MountError(
            "no SmugMug credentials: set SMUGFS_API_KEY (and SMUGFS_API_SECRET, "
            "SMUGFS_ACCESS_TOKEN, SMUGFS_ACCESS_TOKEN_SECRET), or try `smugfs demo`"
        )
    if not credentials.has_token and settings.user is None:
        raise MountError(
            "an API key alone can only read another user's public galleries: "
            "name them with --user NICK (or -o nick=NICK), or run smugfs login"
        )


def _set_read_ahead(mountpoint: Path) -> bool:
    """Let the kernel send larger reads (fewer round trips, fewer GETs); root only. Returns
    whether it can be set."""
    device = mounted_paths().get(str(mountpoint))
    try:
        Path(f"/sys/class/bdi/{device}/read_ahead_kb").write_text(str(READ_AHEAD_KB))
    except OSError as exc:
        log.debug("read-ahead stays at the kernel default: %s", exc.strerror)
        return False
    return True


async def _tune_read_ahead_when_serving(mountpoint: Path) -> None:
    """Raise the read-ahead as soon as the kernel's FUSE handshake is done: the handshake's
    reply sets it back to 128 KiB if it is raised earlier, and a file opened before it is
    raised keeps 128 KiB reads (a photo read then costs several GETs instead of one). The
    handshake is not observable from here, so the setting is applied at once and again
    whenever it was set back, until it has held for `_TUNE_HELD` checks in a row."""
    held = 0
    for _ in range(_TUNE_CHECKS):
        await trio.sleep(_TUNE_EVERY)
        value = await trio.to_thread.run_sync(_read_ahead_of, mountpoint)
        if value is None:
            continue  # not mounted yet
        if value == READ_AHEAD_KB:
            held += 1
            if held >= _TUNE_HELD:
                log.debug("read-ahead of %s set to %d KiB", mountpoint, READ_AHEAD_KB)
                return
            continue
        held = 0
        if not await trio.to_thread.run_sync(_set_read_ahead, mountpoint):
            return  # not ours to set (not root)


def _read_ahead_of(mountpoint: Path) -> int | None:
    """The mount's read-ahead in KiB, if it can be read."""
    device = mounted_paths().get(str(mountpoint))
    if device is None:
        return None
    try:
        return int(Path(f"/sys/class/bdi/{device}/read_ahead_kb").read_text())
    except (OSError, ValueError):
        return None


def fuse_options(settings: config.Settings) -> set[str]:
    """pyfuse3 mount options for these settings."""
    options = set(pyfuse3.default_options)
    options |= {"fsname=smugfs", "subtype=smugfs", "noatime", "auto_unmount"}
    if settings.read_only:
        options.add("ro")
    if settings.allow_other:
        options.add("allow_other")
    return options


def run_foreground(
    settings: config.Settings,
    mountpoint: Path,
    *,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Mount and serve until unmounted or signalled; raises MountError if it cannot start."""
    mountpoint = check_mountpoint(mountpoint)
    check_credentials(settings)
    mounted = False

    async def serve() -> None:
        nonlocal mounted
        core: Core | None = None
        try:
            with first_error():
                async with trio.open_nursery() as nursery:
                    # Signals are handled from the start: one that arrives before the mount
                    # serves cancels the start-up (the `finally` below still unmounts).
                    stop = _Stop(nursery.cancel_scope)
                    await nursery.start(_stop_on_signal, stop)
                    core = await Core.open(settings)
                    client, cache, fs = core.client, core.cache, core.fs
                    uploads, recovery = core.uploads, core.recovery
                    try:
                        await fs.start()
                    except AccessDenied as exc:
                        raise MountError(
                            f"the service refused the credentials ({exc}); run smugfs login "
                            "again, or check the SMUGFS_* variables"
                        ) from exc
                    except ServiceUnavailable as exc:
                        raise MountError(f"cannot reach {settings.endpoint}: {exc}") from exc
                    pyfuse3.init(FuseOperations(fs), str(mountpoint), fuse_options(settings))
                    mounted = True
                    mount_guard.start_guard(mountpoint)
                    log.info("mounted %s at %s", settings.endpoint, mountpoint)
                    if ready is not None:
                        ready(READY)
                    core.attach(nursery)
                    if settings.thumbnails:
                        fs.thumbnails = Thumbnailer(
                            client, fs.listings, mountpoint, settings.thumbnail_sizes
                        )
                        fs.thumbnails.attach(nursery)
                        fs.thumbnail_requests = Requests(
                            fs.thumbnails, request_path(status_path(mountpoint))
                        )
                        nursery.start_soon(fs.thumbnail_requests.serve)
                    nursery.start_soon(
                        report_status,
                        mountpoint,
                        Reported(settings, client, cache, recovery, fs, uploads),
                    )
                    if not settings.read_only:
                        nursery.start_soon(recovery.run)
                    stop.serving = True
                    nursery.start_soon(_tune_read_ahead_when_serving, mountpoint)
                    await pyfuse3.main()
                    # Unmounted (or signalled): the kernel lets go of the mountpoint at once,
                    # and the uploads still queued are finished before the process ends.
                    pyfuse3.close(unmount=True)
                    mounted = False
                    log.info("unmounted %s", mountpoint)
                    with trio.CancelScope() as stop.draining:
                        await uploads.drain(log.info)
                    nursery.cancel_scope.cancel()
        finally:
            if core is not None:
                await core.close()

    try:
        trio.run(serve)
    finally:
        if mounted:
            pyfuse3.close(unmount=True)
            log.info("unmounted %s", mountpoint)


@dataclasses.dataclass
class _Stop:
    """What a signal ends: the start-up, the serving, or the wait for queued uploads."""

    startup: trio.CancelScope
    serving: bool = False
    draining: trio.CancelScope | None = None


async def _stop_on_signal(
    stop: _Stop, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """On SIGINT, SIGTERM or SIGHUP: cancel start-up, or end `pyfuse3.main` if it serves;
    one while queued uploads are finished after unmounting leaves them journaled for the next
    mount of the account."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        task_status.started()
        async for signum in signals:
            if stop.draining is not None:
                log.warning("signal %d: the queued uploads are left for the next mount", signum)
                stop.draining.cancel()
                return
            log.info("signal %d: unmounting", signum)
            if not stop.serving:
                stop.startup.cancel()
                return
            pyfuse3.terminate()
