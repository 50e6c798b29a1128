"""Running programs as a user does: the smugfs command line and real tools (ls, cp, md5sum...)
as child processes, with what they print captured and checked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import smugfs

# The directory holding the smugfs package (the checkout, for an editable install).
PACKAGE_ROOT = Path(smugfs.__file__).resolve().parent.parent


def start_children_as_a_shell_does() -> None:
    """Give the test process the signal state a user's shell gives a program it starts, so
    that every child inherits it: nothing blocked, SIGINT and SIGQUIT not ignored.

    A program's ignored signals and signal mask survive fork and exec. A shell without job
    control starts a background job (`scripts/test &`, a CI runner, nohup) with SIGINT and
    SIGQUIT ignored; Python then leaves SIGINT ignored, and every `cp` or mount a test starts
    would shrug off the Ctrl-C the test sends it."""
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGQUIT) == signal.SIG_IGN:
        signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def subprocess_env() -> dict[str, str]:
    """The environment for child processes (the package importable from the checkout)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PACKAGE_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def smugfs_command(
    *args: str | os.PathLike[str],
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 30,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m smugfs ARGS` to completion as a user does, not on a terminal: in `env`
    (`subprocess_env()` by default), reading `input` or nothing."""
    return subprocess.run(
        [sys.executable, "-m", "smugfs", *[os.fspath(arg) for arg in args]],
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=subprocess_env() if env is None else env,
        check=False,
    )


def run(
    *command: str | os.PathLike[str], check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a real tool (ls, cp, find, md5sum...) and capture what it says."""
    return subprocess.run(
        [os.fspath(c) for c in command],
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
    )


def ok(*command: str | os.PathLike[str]) -> str:
    """Run a real tool that must succeed; its standard output."""
    result = run(*command, check=False)
    assert result.returncode == 0, f"{command}: {result.stderr}"
    return result.stdout


def fails(*command: str | os.PathLike[str]) -> str:
    """Run a real tool that must fail; what it said on standard error."""
    result = run(*command, check=False)
    assert result.returncode != 0, f"{command} succeeded: {result.stdout}"
    return result.stderr


def md5sum(path: Path) -> str:
    """`md5sum` of a file, through the mount when the path is in it."""
    return ok("md5sum", path).split()[0]


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The error a failed command printed, checked to be one line without a traceback."""
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("smugfs: ")
    return lines[0]


def processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line contains `text` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline and int(entry.name) != os.getpid():
                found.append(int(entry.name))
    return found
