"""A mount's lifecycle: check, build the objects, mount, serve, and always unmount.

`run_foreground` does everything in this process: it checks the mountpoint, reaches the service
(so bad credentials or an unreachable service fail before anything is mounted; with the service
unreachable, a mount that saved its listings earlier starts with those), mounts with
`pyfuse3.init`, serves until SIGINT/SIGTERM or `fusermount3 -u`, and unmounts in a `finally`, so
a crash does not leave a dead "Transport endpoint is not connected" mount behind.
`run_background` starts the same in a detached child and returns once the child reports the
mount is up (or prints why it is not). `smugfs demo` adds an emulator child that lives exactly
as long as the mount.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pyfuse3
import trio

from smugfs import config
from smugfs.api.client import SmugMugClient
from smugfs.cache_store import ContentCache
from smugfs.core import Core
from smugfs.errors import (
    AccessDenied,
    ConfigurationError,
    ServiceUnavailable,
    SmugfsError,
    first_error,
)
from smugfs.fs import Filesystem
from smugfs.fuse_ops import FuseOperations
from smugfs.recovery import Recovery
from smugfs.status_file import mounted_paths, status_path
from smugfs.thumbnails.requests import Requests, request_path
from smugfs.thumbnails.thumbnailer import Thumbnailer
from smugfs.upload_queue import UploadQueue
from smugfs.upload_queue import describe as describe_queue

log = logging.getLogger(__name__)

READY = "ready"
START_TIMEOUT = 120.0
READ_AHEAD_KB = 1024


class MountError(SmugfsError):
    """Why a mount could not start, in one line for the user."""


def check_mountpoint(mountpoint: Path) -> Path:
    """The absolute mountpoint, or a MountError that says what is wrong with it."""
    path = Path(os.path.abspath(mountpoint))
    if str(path) in mounted_paths():
        raise MountError(f"{path} is already mounted (unmount it first: smugfs unmount {path})")
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


def _tune_read_ahead(mountpoint: Path) -> bool:
    """Let the kernel send larger reads (fewer round trips, fewer GETs); root only. Returns
    whether the setting holds."""
    device = mounted_paths().get(str(mountpoint))
    if device is None:
        return False
    setting = Path(f"/sys/class/bdi/{device}/read_ahead_kb")
    try:
        setting.write_text(str(READ_AHEAD_KB))
        return setting.read_text().strip() == str(READ_AHEAD_KB)
    except OSError as exc:
        log.debug("read-ahead stays at the kernel default: %s", exc.strerror)
        return True


async def _tune_read_ahead_when_serving(mountpoint: Path) -> None:
    """Raise the read-ahead once the kernel's FUSE handshake is done: the handshake's reply
    sets it back to 128 KiB if it is raised earlier."""
    for attempt in range(10):
        await trio.sleep(0.2 * (attempt + 1))
        if await trio.to_thread.run_sync(_tune_read_ahead, mountpoint):
            log.debug("read-ahead of %s set to %d KiB", mountpoint, READ_AHEAD_KB)
            return


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
                        _report_status,
                        mountpoint,
                        _Reported(settings, client, cache, recovery, fs, uploads),
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


STATUS_INTERVAL = 1.0
QUEUE_STATUS_INTERVAL = 0.1


def _write_status(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


@dataclasses.dataclass(frozen=True)
class _Reported:
    """The parts of a mount whose state the status file reports."""

    settings: config.Settings
    client: SmugMugClient
    cache: ContentCache
    recovery: Recovery
    fs: Filesystem
    uploads: UploadQueue


async def _report_status(mountpoint: Path, parts: _Reported) -> None:
    """Keep the status file of this mount current (read by `smugfs status` and `smugfs
    sync`): every second, as soon as the upload queue changes, and at once when asked
    (SIGUSR1, sent by `smugfs sync` so that with nothing to wait for it returns at once)."""
    path = status_path(mountpoint)
    started = time.time()
    asked = _Asked()
    try:
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


def _status_of(mountpoint: Path, started: float, parts: _Reported) -> dict[str, Any]:
    """What the status file says now."""
    stats = parts.client.stats
    return {
        "mountpoint": str(mountpoint),
        "endpoint": parts.settings.endpoint,
        "reachable": not parts.client.offline,
        "pid": os.getpid(),
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


def run_background(child_args: list[str], log_file: Path | None) -> None:
    """Start `smugfs ... --foreground` detached; return once it says the mount is up."""
    read_end, write_end = os.pipe()
    output: int | object = subprocess.DEVNULL
    log_handle = None
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_handle = open(log_file, "ab")  # noqa: SIM115 - handed to the child
        output = log_handle
    try:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "smugfs",
                *child_args,
                "--foreground",
                "--ready-fd",
                str(write_end),
            ],
            pass_fds=(write_end,),
            stdin=subprocess.DEVNULL,
            stdout=output,  # type: ignore[arg-type]
            stderr=output,  # type: ignore[arg-type]
            start_new_session=True,
        )
    finally:
        os.close(write_end)
        if log_handle is not None:
            log_handle.close()
    message = _read_report(read_end, child)
    if message != READY:
        raise MountError(message or "the mount process ended without saying why")


def _read_report(read_end: int, child: subprocess.Popen[bytes]) -> str:
    """What the child wrote to its ready pipe (empty if it died first)."""
    chunks = []
    deadline = time.monotonic() + START_TIMEOUT
    with os.fdopen(read_end, "rb") as pipe:
        os.set_blocking(pipe.fileno(), False)
        while time.monotonic() < deadline:
            try:
                chunk = pipe.read()
            except BlockingIOError:
                chunk = None
            if chunk:
                chunks.append(chunk)
                if chunk.endswith(b"\n"):
                    break
            elif chunk == b"" or child.poll() is not None:
                break
            time.sleep(0.02)
        else:
            child.terminate()
            return f"the mount did not come up within {START_TIMEOUT:.0f} s"
    return b"".join(chunks).decode(errors="replace").strip()


def report_to(fd: int | None) -> Callable[[str], None]:
    """A function that writes one line to the parent's ready pipe (then closes it)."""

    def report(message: str) -> None:
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.write(fd, (message.replace("\n", " ") + "\n").encode())
            os.close(fd)

    return report


# --------------------------------------------------------------------- the demo


@dataclasses.dataclass
class DemoService:
    """The emulator child that serves the demo library for as long as the mount runs."""

    process: subprocess.Popen[bytes]
    env: dict[str, str]


def _die_with_parent() -> None:
    """In the emulator child: end when the mount process ends, however it ends."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


@contextlib.contextmanager
def demo_service(data_dir: Path) -> Iterator[DemoService]:
    """Start the emulator with the sample library in `data_dir`; stop it afterwards."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="smugfs-demo-") as temp:
        env_file = Path(temp) / "emulator.env"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "smugfs",
                "emulator",
                "--sample",
                "--port",
                "0",
                "--data",
                str(data_dir),
                "--env-file",
                str(env_file),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent,  # only prctl runs there: no locks involved
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not env_file.exists():
                if process.poll() is not None:
                    error = (process.stderr.read() if process.stderr else b"").decode()
                    raise ConfigurationError(
                        "the demo service did not start: "
                        + (error.strip().splitlines() or ["no reason given"])[-1]
                    )
                if time.monotonic() > deadline:
                    raise ConfigurationError("the demo service did not start in time")
                time.sleep(0.05)
            env = dict(
                line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line
            )
            yield DemoService(process, env)
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
