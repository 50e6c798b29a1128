"""`smugfs demo`'s emulator child: the sample library served for exactly as long as the mount."""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from smugfs.background import START_TIMEOUT
from smugfs.errors import ConfigurationError


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
