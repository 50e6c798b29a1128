"""A virtual desktop for tests that run real file managers: Xvfb, a D-Bus session, windows.

`Desktop` starts Xvfb on a free display and a D-Bus session bus (what Thunar's thumbnailer
tumbler and Nautilus are started through), gives the environment a file manager runs in (its
own HOME and XDG directories, the cache the mount writes thumbnails to), runs programs there,
takes screenshots and stops everything it started, by process id, also when a test failed.
Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from smugfs.status_file import process_start

# What a file-manager test needs installed (scripts/_setup installs them).
PROGRAMS = ("Xvfb", "dbus-launch", "xdotool", "import")
START_TIMEOUT = 30.0


def missing_programs(*names: str) -> list[str]:
    """Which of `names` (and the desktop's own programs) are not installed."""
    return [name for name in (*PROGRAMS, *names) if shutil.which(name) is None]


@dataclasses.dataclass
class Desktop:
    """A running virtual screen with its session bus."""

    display: str
    env: dict[str, str]
    processes: list[subprocess.Popen[bytes]]
    bus_pid: int
    logs: Path

    def start(
        self, name: str, command: Sequence[str | os.PathLike[str]]
    ) -> subprocess.Popen[bytes]:
        """Start a program on the screen, its output in `logs/NAME.log`."""
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(
            [os.fspath(c) for c in command],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.processes.append(process)
        return process

    def window_named(self, title: str, timeout: float = START_TIMEOUT) -> str:
        """The id of a visible window whose title contains `title` (waits until one shows,
        bounded). A program started again hands its path to the running one and exits, so
        windows are found by what they show, not by process."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.run("xdotool", "search", "--onlyvisible", "--name", re.escape(title))
            if found.returncode == 0 and found.stdout.split():
                return found.stdout.split()[-1]
            time.sleep(0.2)
        raise TimeoutError(f"no window titled {title!r} within {timeout:.0f} s")

    def show(
        self,
        name: str,
        command: Sequence[str | os.PathLike[str]],
        title: str,
        timeout: float = START_TIMEOUT,
    ) -> str:
        """Start `command` and return the id of the window titled `title` it shows.

        A program that shows nothing within a third of `timeout` is looked at (what it waits
        in, the windows on the screen, the end of its log), stopped and started once more, as
        a person would; if that shows nothing either, the error carries both looks."""
        looks: list[str] = []
        for attempt, share in enumerate((timeout / 3, timeout * 2 / 3)):
            process = self.start(name, command)
            try:
                return self.window_named(title, timeout=share)
            except TimeoutError:
                looks.append(
                    f"attempt {attempt + 1}, {share:.0f} s: {self._look_at(name, process)}"
                )
                self.stop(process)
        raise TimeoutError(
            f"no window titled {title!r} within {timeout:.0f} s; " + "; ".join(looks)
        )

    def _look_at(self, name: str, process: subprocess.Popen[bytes]) -> str:
        """What a program that shows no window is doing: its state and the kernel function each
        of its threads waits in, the visible windows' titles, its log's last lines."""
        state = "exited" if process.poll() is not None else _waits_in(process.pid)
        ids = self.run("xdotool", "search", "--onlyvisible", "--name", "").stdout.split()
        titles = [self.run("xdotool", "getwindowname", i).stdout.strip() for i in ids[:20]]
        log = (self.logs / f"{name}.log").read_text(errors="replace").splitlines()[-8:]
        return f"process {process.pid} {state}; windows {titles}; log {log}"

    def screenshot(self, path: Path) -> Path:
        """The whole screen as a PNG at `path`."""
        result = self.run("import", "-window", "root", str(path), timeout=30)
        if result.returncode != 0:
            raise RuntimeError(f"screenshot failed: {result.stderr}")
        return path

    def run(self, *command: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
        """Run a short command on the screen (xdotool, import) and capture its output."""
        return subprocess.run(
            command, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        """Stop a program started here (its process group), escalating to SIGKILL."""
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        # Helpers it started in its group (thumbnailers) go with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

    def close(self) -> None:
        """Stop every program, what the bus started for them (tumblerd, GVfs daemons, the
        tracker miners), the bus and the screen, and wait until all of them are gone.

        The bus forks into the background and the services it starts are handed to init, so
        they are found by the session they run in (this desktop's own XDG_RUNTIME_DIR, which
        each of them inherits), not by parentage. Left running, they would look into the
        mounts the next tests make (a new mount's root listed before the test looks)."""
        for process in reversed(self.processes[1:]):
            self.stop(process)
        session = f"XDG_RUNTIME_DIR={self.env['XDG_RUNTIME_DIR']}".encode()
        stragglers = [pid for pid in _processes_with(session) if pid != os.getpid()]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in stragglers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 10
            while (stragglers := [p for p in stragglers if process_start(p) is not None]) and (
                time.monotonic() < deadline
            ):
                time.sleep(0.1)
        self.stop(self.processes[0])
        if stragglers:
            raise RuntimeError(f"desktop processes would not stop: {stragglers}")


def _processes_with(variable: bytes) -> list[int]:
    """The processes whose environment holds `variable` (NAME=VALUE), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if variable in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
    return found


def _waits_in(pid: int) -> str:
    """Each thread of `pid` as NAME:STATE:WCHAN (a thread stuck in a FUSE request shows
    request_wait_answer), from /proc."""
    threads = []
    for task in sorted(Path(f"/proc/{pid}/task").glob("*")):
        with contextlib.suppress(OSError):
            name = (task / "comm").read_text().strip()
            state = (task / "stat").read_text().rpartition(")")[2].split()[0]
            threads.append(f"{name}:{state}:{(task / 'wchan').read_text().strip() or '-'}")
    return "threads " + " ".join(threads)


def _free_display() -> int:
    """A display number no X server uses."""
    for number in range(90, 200):
        if (
            not Path(f"/tmp/.X11-unix/X{number}").exists()
            and not Path(f"/tmp/.X{number}-lock").exists()
        ):
            return number
    raise RuntimeError("no free X display number")


@contextlib.contextmanager
def desktop(home: Path, cache_home: Path, logs: Path) -> Iterator[Desktop]:
    """A virtual 1280 x 800 screen and a session bus for programs whose HOME is `home` and
    whose thumbnail cache is in `cache_home`; everything stopped on leaving."""
    for directory in (home, cache_home, logs, home / ".config", home / "runtime"):
        directory.mkdir(parents=True, exist_ok=True)
    (home / "runtime").chmod(0o700)
    number = _free_display()
    display = f":{number}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CACHE_HOME": str(cache_home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_RUNTIME_DIR": str(home / "runtime"),
        "DISPLAY": display,
        "LANG": "C.UTF-8",
        # No accessibility bus or GVfs daemons: they are not what is tested and slow start-up.
        "NO_AT_BRIDGE": "1",
        "GTK_A11Y": "none",
        # GTK 4 (Nautilus) draws with cairo: GL on a virtual screen stalls its frame clock.
        "GSK_RENDERER": "cairo",
    }
    processes: list[subprocess.Popen[bytes]] = []
    with open(logs / "xvfb.log", "wb") as log:
        server = subprocess.Popen(
            ["Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    processes.append(server)
    bus_pid = 0
    screen = Desktop(display, env, processes, bus_pid, logs)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Xvfb did not start: {(logs / 'xvfb.log').read_text()}")
            time.sleep(0.1)
        bus = subprocess.run(
            ["dbus-launch", "--sh-syntax"],
            env=env,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=True,
        )
        for line in bus.stdout.splitlines():
            name, _, value = line.partition("=")
            value = value.rstrip(";").strip("'")
            if name == "DBUS_SESSION_BUS_ADDRESS":
                env[name] = value
            elif name == "DBUS_SESSION_BUS_PID":
                screen.bus_pid = int(value)
        yield screen
    finally:
        screen.close()
