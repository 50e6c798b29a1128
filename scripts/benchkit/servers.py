"""The processes a benchmark starts besides the emulator: nginx, rclone mount, the passthrough.

Each is started on 127.0.0.1 or on a mountpoint of our own, waited for with a bound, and stopped
by its owner in a `finally` (FUSE processes are unmounted with `fusermount3 -u`, then killed,
then lazily unmounted, so nothing outlives a run). `Meter` reads a process's peak resident
memory and CPU time from /proc.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from smugfs.testing.mounts import is_mounted, stop_fuse_process

NGINX = "/usr/sbin/nginx"
RCLONE = "rclone"
HOST = "127.0.0.1"
READY_TIMEOUT = 30.0
PASSTHROUGH = Path(__file__).resolve().parent / "passthrough.py"


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (nginx binds it itself)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_listening(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    """Wait until something accepts connections on `port`, or fail if `process` died."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {READY_TIMEOUT:.0f} s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclasses.dataclass
class Nginx:
    """An nginx of our own, serving one directory on a loopback port."""

    process: subprocess.Popen[bytes]
    port: int
    prefix: Path

    def url(self, name: str) -> str:
        """The URL of a file in the served directory."""
        return f"http://{HOST}:{self.port}/{name}"

    @property
    def access_log(self) -> Path:
        """One line per request: the bytes nginx sent for it."""
        return self.prefix / "access.log"

    def bytes_sent(self) -> int:
        """Bytes sent since the access log was last cleared (headers included)."""
        try:
            lines = self.access_log.read_text(encoding="ascii").split()
        except FileNotFoundError:
            return 0
        return sum(int(value) for value in lines if value.isdigit())

    def clear_log(self) -> None:
        """Start counting anew (nginx keeps appending to the emptied file)."""
        if self.access_log.exists():
            os.truncate(self.access_log, 0)

    def stop(self) -> None:
        """Fast shutdown (SIGTERM), then SIGKILL if it lingers."""
        stop_process(self.process)


def start_nginx(prefix: Path) -> Nginx:
    """Start nginx serving `prefix/www` on a free loopback port (in the foreground), with
    directory listings (rclone's HTTP remote reads them) and symbolic links followed."""
    for name in ("www", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / name).mkdir(parents=True, exist_ok=True)
    port = free_port()
    # A master running as root hands requests to workers running as `nobody`, who could not
    # read our private temporary directory; keep them root on a machine where we are root.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"""{user}daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    log_format sent '$bytes_sent';
    access_log {prefix}/access.log sent;
    sendfile on;
    default_type application/octet-stream;
    types {{ image/jpeg jpg; video/mp4 mp4; }}
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen {HOST}:{port};
        root {prefix}/www;
        autoindex on;
        autoindex_exact_size on;
    }}
}}
""",
        encoding="utf-8",
    )
    with open(prefix / "nginx.out", "wb") as log:
        process = subprocess.Popen(
            [NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Nginx(process, port, prefix)
    try:
        wait_listening(port, process, "nginx")
    except BaseException:
        server.stop()
        raise
    return server


@dataclasses.dataclass
class FuseProcess:
    """A FUSE filesystem served by a process of ours (rclone, the passthrough)."""

    name: str
    process: subprocess.Popen[bytes]
    path: Path
    log_path: Path

    def unmount(self) -> None:
        """Unmount and wait for the process; escalate until both are gone."""
        stop_fuse_process(self.process, self.path)


def _start_fuse(name: str, command: list[str], path: Path, log_path: Path) -> FuseProcess:
    path.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    mount = FuseProcess(name, process, path, log_path)
    deadline = time.monotonic() + READY_TIMEOUT
    while not is_mounted(path):
        if process.poll() is not None or time.monotonic() > deadline:
            mount.unmount()
            raise RuntimeError(f"{name} did not mount: {log_path.read_text(errors='replace')}")
        time.sleep(0.05)
    return mount


def start_rclone(url: str, workdir: Path) -> FuseProcess:
    """`rclone mount` of an HTTP remote (nginx's directory listings) with its defaults
    (`--vfs-cache-mode off`), read-only, with an empty config and a cache of its own."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "rclone.conf"
    config.touch()
    command = [
        RCLONE,
        "mount",
        ":http:",
        str(workdir / "mnt"),
        "--http-url",
        url,
        "--read-only",
        "--config",
        str(config),
        "--cache-dir",
        str(workdir / "cache"),
    ]
    return _start_fuse("rclone", command, workdir / "mnt", workdir / "rclone.log")


def start_passthrough(source: Path, workdir: Path) -> FuseProcess:
    """Our pyfuse3 passthrough of `source` (a tmpfs directory)."""
    workdir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(PASSTHROUGH), str(source), str(workdir / "mnt")]
    return _start_fuse("passthrough", command, workdir / "mnt", workdir / "passthrough.log")


class Meter:
    """Peak resident memory and CPU time of one process, from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.tick = os.sysconf("SC_CLK_TCK")

    def cpu_seconds(self) -> float:
        """User plus system CPU time so far."""
        with open(f"/proc/{self.pid}/stat", encoding="ascii") as stat:
            # The command name may hold spaces: the fields start after its closing ")".
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.tick

    def peak_mib(self) -> float:
        """VmHWM: the most memory the process has held resident, in MiB."""
        with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")


def set_read_ahead(path: Path, kib: int) -> None:
    """Set the read-ahead of the FUSE mount at `path` (root only; ignored otherwise)."""
    device = os.stat(path).st_dev
    setting = Path(f"/sys/class/bdi/{os.major(device)}:{os.minor(device)}/read_ahead_kb")
    with contextlib.suppress(OSError):
        setting.write_text(str(kib))


def read_ahead(path: Path) -> int:
    """The read-ahead of the mount at `path` in KiB (0 if it cannot be read)."""
    device = os.stat(path).st_dev
    setting = Path(f"/sys/class/bdi/{os.major(device)}:{os.minor(device)}/read_ahead_kb")
    try:
        return int(setting.read_text().strip())
    except (OSError, ValueError):
        return 0
