"""Going to the background: `smugfs mount` without `--foreground`.

`run_background` starts the same command with `--foreground` in a detached child and returns
once the child reports on its ready pipe that the mount is up, or raises with what it said
instead; `report_to` is the child's side of that pipe.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from smugfs.errors import MountError

READY = "ready"
START_TIMEOUT = 120.0


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
