"""Mounting for tests: `smugfs mount` as a real process on a real FUSE mountpoint.

A `Mount` runs `python -m smugfs mount --foreground` against an emulator, waits until the kernel
shows the mount, and is always unmounted in teardown (also when the test failed), with a lazy
unmount as the last resort so no test leaves a mount behind. The mount's log is kept; tests fail
when it holds a WARNING or ERROR they did not expect (the log rule of `tests/conftest.py`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from smugfs.status_file import mounted_paths
from smugfs.testing.commands import smugfs_command, subprocess_env
from smugfs.testing.emulator import Emulator
from smugfs.testing.waits import wait_for

MOUNT_TIMEOUT = 60.0


def is_mounted(path: Path) -> bool:
    """Whether the kernel shows a mount at `path` (read from /proc: never stats the mount)."""
    return str(path) in mounted_paths()


@dataclasses.dataclass
class Mount:
    """A running mount process and where it is mounted."""

    process: subprocess.Popen[bytes]
    path: Path
    log_path: Path
    cache_dir: Path
    # The personal thumbnail cache the mount writes to ($XDG_CACHE_HOME/thumbnails of its own).
    thumbnails: Path
    # How much of the log the log rule has judged.
    judged: int = 0

    def log(self) -> str:
        """Everything the mount logged so far."""
        return self.log_path.read_text(errors="replace")

    def problems(self) -> list[str]:
        """Log lines at WARNING or above."""
        return _problems(self.log())

    def unjudged_problems(self) -> list[str]:
        """Log lines at WARNING or above that the log rule has not judged yet (a mount shared
        by several tests is judged a test at a time)."""
        text = self.log()
        start, self.judged = self.judged, len(text)
        return _problems(text[start:])

    def status(self) -> list[str]:
        """What `smugfs status` says about this mount, line by line."""
        result = smugfs_command("status", str(self.path))
        assert result.returncode == 0, result.stderr
        return result.stdout.splitlines()

    def unmount(self) -> None:
        """Unmount and wait for the process; escalate until both are gone."""
        stop_fuse_process(self.process, self.path)


def _problems(text: str) -> list[str]:
    return [
        line
        for line in text.splitlines()
        if " WARNING " in line or " ERROR " in line or "Traceback" in line
    ]


# Every mount started and not judged to the end yet: after each test, the log rule
# (`conftest.py`) fails it on a WARNING or ERROR it did not say it expects.
STARTED: list[Mount] = []


def stop_fuse_process(process: subprocess.Popen[bytes], path: Path) -> None:
    """Unmount a FUSE filesystem served by `process` and wait for the process; escalate (kill,
    lazy unmount) until both are gone."""
    if is_mounted(path):
        subprocess.run(["fusermount3", "-u", str(path)], check=False, capture_output=True)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    if is_mounted(path):
        subprocess.run(["fusermount3", "-uz", str(path)], check=False, capture_output=True)


def start_mount(
    emulator: Emulator,
    workdir: Path,
    *,
    options: Sequence[str] = (),
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Mount:
    """Mount the emulator's first user at `workdir/mnt` and wait until it is up. Thumbnails
    are off unless the options say otherwise (they fetch renditions the other tests do not
    count on) and go to a cache of the test's own."""
    path = workdir / "mnt"
    path.mkdir(parents=True, exist_ok=True)
    cache_dir = workdir / "cache"
    log_path = workdir / "mount.log"
    child_env = subprocess_env()
    child_env.update(emulator.env)
    child_env["XDG_CACHE_HOME"] = str(workdir / "xdg-cache")
    child_env.update(env or {})
    if not any(option.startswith("thumbnails=") for option in options):
        options = [*options, "thumbnails=off"]
    command = [
        sys.executable,
        "-m",
        "smugfs",
        "mount",
        str(path),
        "--foreground",
        "-v",
        "-o",
        ",".join([f"cache_dir={cache_dir}", *options]),
        *extra_args,
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=child_env, stdin=subprocess.DEVNULL
        )
    mount = Mount(
        process, path, log_path, cache_dir, Path(child_env["XDG_CACHE_HOME"]) / "thumbnails"
    )
    STARTED.append(mount)
    deadline = time.monotonic() + MOUNT_TIMEOUT
    while not is_mounted(path):
        if process.poll() is not None:
            raise RuntimeError(f"mount exited with {process.returncode}: {mount.log()}")
        if time.monotonic() > deadline:
            mount.unmount()
            raise RuntimeError(f"mount did not come up: {mount.log()}")
        time.sleep(0.05)
    return mount


@contextlib.contextmanager
def mounted(emulator: Emulator, workdir: Path, **kwargs: object) -> Iterator[Mount]:
    """A mount for the duration of a `with` block, unmounted also on failure."""
    mount = start_mount(emulator, workdir, **kwargs)  # type: ignore[arg-type]
    try:
        yield mount
    finally:
        mount.unmount()


def kill(mount: Mount) -> None:
    """Kill the mount process outright and wait until the kernel has let go of the mount."""
    mount.process.send_signal(signal.SIGKILL)
    mount.process.wait(timeout=10)
    wait_for(lambda: not is_mounted(mount.path), "the dead mount to be unmounted")


def settled(lines: list[str]) -> bool:
    """Whether `recovered` lines are there and give their verdict (a status written while
    recovery still waits for the service shows "waiting for the service" first)."""
    return bool(lines) and not any("waiting for the service" in line for line in lines)


def recovered(mount: Mount) -> list[str]:
    """The `recovered` lines of `smugfs status`."""
    return [line for line in mount.status() if line.startswith("recovered")]
