"""A mount killed outright (SIGKILL, the OOM killer) leaves no dead mountpoint behind.

libfuse's own guard (fusermount3's `auto_unmount`) wakes when the mount process's end of a
socket closes and unmounts only if opening the mountpoint then fails with ENOTCONN. The kernel
releases a dying process's files in an order of its own, so that open can reach the connection
before it is torn down and fail with ECONNABORTED instead; the guard then leaves the dead mount
in place ("Transport endpoint is not connected" until someone unmounts it by hand).

`start_guard` starts a small process of our own beside the mount: it waits for the end of a
pipe that only the mount process holds, and then lazily unmounts the mountpoint if, and only
if, a smugfs mount is still there and answers nothing (ENOTCONN or ECONNABORTED to a statfs,
which only the mount process can answer). A mount that unmounted cleanly, or a new mount at the
same place that answers, is left alone. `clear_if_dead` is the same check for `smugfs mount`
itself, so a mountpoint left dead by an older version or another tool is cleared instead of
refused.

Only the standard library and the light `status_file` are imported here: the guard is a
process of its own and starts fast.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from smugfs.status_file import mounted_paths

FSTYPE = "fuse.smugfs"
# Errors a mountpoint whose serving process is gone answers with.
DEAD = frozenset({errno.ENOTCONN, errno.ECONNABORTED})
# How long the guard keeps looking after the mount process ended (the kernel needs a moment
# to tear the connection down, more on a loaded machine).
SETTLE_SECONDS = 10.0
SETTLE_STEP = 0.1


def start_guard(mountpoint: Path) -> None:
    """Start the guard for the mount now at `mountpoint`. The pipe's write end stays open in
    this process until it ends, however it ends (Python's descriptors are not inherited by
    what it starts, so nothing else holds it)."""
    read_end, write_end = os.pipe()
    try:
        subprocess.Popen(
            [sys.executable, "-m", "smugfs.mount_guard", str(mountpoint)],
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        os.close(read_end)
    del write_end  # deliberately never closed


def is_smugfs_mount(mountpoint: Path) -> bool:
    """Whether the kernel shows a smugfs mount at `mountpoint`."""
    return str(mountpoint) in mounted_paths(FSTYPE)


def answers(mountpoint: Path) -> bool | None:
    """True if the mount at `mountpoint` answers, False if it is dead, None if it cannot be
    told yet (any other error).

    Asked with statfs, which the kernel always hands to the mount process. A stat is not
    enough: the kernel answers it from its attribute cache while the root's attributes are
    fresh (attr_timeout, 10 s by default), so a mount killed just after anything walked a
    path through it (a program opening a file there) looks alive to stat for that long."""
    try:
        os.statvfs(mountpoint)
    except OSError as exc:
        return False if exc.errno in DEAD else None
    return True


def unmount_command(mountpoint: Path, *, lazy: bool = False) -> list[str]:
    """The command that unmounts a FUSE mount at `mountpoint` (`lazy`: at once, even while
    something still holds it)."""
    tool = shutil.which("fusermount3") or shutil.which("fusermount")
    if tool:
        return [tool, "-u", *(["-z"] if lazy else []), str(mountpoint)]
    return ["umount", *(["-l"] if lazy else []), str(mountpoint)]


def _unmount_dead(mountpoint: Path) -> bool:
    """Lazily unmount a mountpoint found dead; whether it worked."""
    command = unmount_command(mountpoint, lazy=True)
    return subprocess.run(command, capture_output=True, check=False, timeout=30).returncode == 0


def clear_if_dead(mountpoint: Path) -> bool:
    """Lazily unmount a smugfs mount at `mountpoint` whose process is gone; whether it did."""
    return (
        is_smugfs_mount(mountpoint) and answers(mountpoint) is False and _unmount_dead(mountpoint)
    )


def guard(mountpoint: Path) -> None:
    """Wait until the mount process has ended (standard input reaches its end), then clear
    the mountpoint if it was left dead (bounded)."""
    with contextlib.suppress(OSError):
        while os.read(0, 4096):
            pass
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline and is_smugfs_mount(mountpoint):
        state = answers(mountpoint)
        if state is True:
            return  # someone serves it (a new mount at the same place)
        if state is False and _unmount_dead(mountpoint):
            return
        time.sleep(SETTLE_STEP)


if __name__ == "__main__":
    guard(Path(sys.argv[1]))
