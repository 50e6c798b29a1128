"""smugcli (graveljp/smugcli, from PyPI) as a baseline: another SmugMug client doing the same job.

It is installed once into a virtual environment of its own under the harness's cache directory.
smugcli cannot be told where the service is, so a small launcher replaces the addresses it
hard-codes with the emulator's before running its command line (as docs/compatibility.md
describes); its configuration (`~/.smugcli`, the API key and access token) lives in a `HOME` of
its own. When it cannot be installed, the harness leaves its column out and says so.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchkit.measure import TOOL_TIMEOUT, run_tool
from smugfs.testing.emulator import Emulator

INSTALL_TIMEOUT = 600
LAUNCHER = """\
import sys
from smugcli import smugcli_commands, smugmug, smugmug_oauth

endpoint, upload = sys.argv[1], sys.argv[2]
smugmug.API_ROOT = endpoint
smugmug.API_UPLOAD = upload
smugmug_oauth.API_ORIGIN = endpoint
smugmug_oauth.OAUTH_ORIGIN = endpoint
smugcli_commands.run(sys.argv[3:])
"""


def install(cache_dir: Path) -> Path | None:
    """The Python of a virtual environment holding smugcli (made once), or None if pip fails."""
    venv = cache_dir / "smugcli-venv"
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import smugcli.smugcli_commands"]
    if python.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return python
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(venv)],
            check=True,
            capture_output=True,
            timeout=INSTALL_TIMEOUT,
        )
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "smugcli"],
            check=True,
            capture_output=True,
            timeout=INSTALL_TIMEOUT,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"  smugcli could not be installed: {exc}", flush=True)
        return None
    return python


class SmugCli:
    """Runs smugcli commands against one emulator as its first user."""

    def __init__(self, python: Path, emulator: Emulator, workdir: Path) -> None:
        self.python = python
        self.emulator = emulator
        self.home = workdir / "smugcli-home"
        self.home.mkdir(parents=True, exist_ok=True)
        env = emulator.env
        config = {
            "api_key": [env["SMUGFS_API_KEY"], env["SMUGFS_API_SECRET"]],
            "access_token": [env["SMUGFS_ACCESS_TOKEN"], env["SMUGFS_ACCESS_TOKEN_SECRET"]],
        }
        (self.home / ".smugcli").write_text(json.dumps(config), encoding="utf-8")
        self.launcher = workdir / "smugcli-launcher.py"
        self.launcher.write_text(LAUNCHER, encoding="utf-8")

    def run(self, *args: str) -> str:
        """One smugcli command; what it printed."""
        command = [
            str(self.python),
            str(self.launcher),
            self.emulator.base_url,
            self.emulator.upload_url,
            *args,
        ]
        return run_tool(command, capture=True, timeout=TOOL_TIMEOUT, env={"HOME": str(self.home)})
