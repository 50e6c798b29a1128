"""Starting emulators for tests and benchmarks, and talking to them with plain httpx.

An emulator runs as its own process (`python -m smugfs emulator`), exactly as a user starts it,
on a free loopback port; its `--env-file` says how to reach it. Requests are signed with
authlib's OAuth 1.0a client core (`OAuth1Auth` here), never with the smugfs client: the emulator
is checked against an independent speaker of the protocol.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import subprocess
import sys
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import httpx
from authlib.oauth1 import ClientAuth

START_TIMEOUT = 60.0


class OAuth1Auth(httpx.Auth):
    """authlib's RFC 5849 client core (`authlib.oauth1.ClientAuth`, the same arguments) as an
    httpx `Auth`: a request goes out as the core prepares it, form parameters signed, and a body
    that is not a form dropped unless `force_include_body=True`, as some clients do."""

    requires_request_body = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.core = ClientAuth(*args, **kwargs)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        url, headers, body = self.core.prepare(
            request.method, str(request.url), request.headers, request.content
        )
        content = body.encode() if isinstance(body, str) else bytes(body or b"")
        headers["Content-Length"] = str(len(content))
        yield httpx.Request(
            request.method, url, headers=headers, content=content, extensions=request.extensions
        )


@dataclasses.dataclass
class Emulator:
    """A running emulator process and the credentials of its first user."""

    process: subprocess.Popen[bytes]
    env: dict[str, str]
    data_dir: Path
    log_path: Path

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`."""
        return self.env["SMUGFS_ENDPOINT"]

    @property
    def upload_url(self) -> str:
        """The upload endpoint."""
        return self.env["SMUGFS_UPLOAD_URL"]

    def auth(
        self,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        token: str | None = None,
        token_secret: str | None = None,
        anonymous: bool = False,
    ) -> OAuth1Auth:
        """An OAuth 1.0a signer for the first user (or the credentials given)."""
        # force_include_body: authlib otherwise drops JSON and binary bodies from the request.
        return OAuth1Auth(
            api_key or self.env["SMUGFS_API_KEY"],
            api_secret or self.env["SMUGFS_API_SECRET"],
            token=None if anonymous else (token or self.env["SMUGFS_ACCESS_TOKEN"]),
            token_secret=None
            if anonymous
            else (token_secret or self.env["SMUGFS_ACCESS_TOKEN_SECRET"]),
            force_include_body=True,
        )

    def client(self, **auth: Any) -> httpx.Client:
        """A signed client asking for JSON, as every real API client does."""
        return httpx.Client(
            base_url=self.base_url,
            auth=self.auth(**auth),
            headers={"Accept": "application/json"},
            timeout=30.0,
        )

    def plain(self) -> httpx.Client:
        """An unsigned client (for `/emulator/` paths, public media and refusals)."""
        return httpx.Client(base_url=self.base_url, timeout=30.0)

    def upload(self, album_uri: str, name: str, data: bytes, **headers: str) -> httpx.Response:
        """POST bytes to the upload endpoint as a client does (signed in the Authorization
        header, body not signed); extra `X-Smug-*` headers as keyword arguments, with `_`
        for `-` (`X_Smug_ImageUri=...`)."""
        return httpx.post(
            self.upload_url,
            content=data,
            auth=self.auth(),
            headers={
                "X-Smug-AlbumUri": album_uri,
                "X-Smug-Version": "v2",
                "X-Smug-ResponseType": "JSON",
                "X-Smug-FileName": name,
                **{key.replace("_", "-"): value for key, value in headers.items()},
            },
            timeout=30,
        )

    def stats(self) -> dict[str, Any]:
        """`GET /emulator/stats`."""
        with self.plain() as c:
            result: dict[str, Any] = c.get("/emulator/stats").json()
            return result

    def reset_stats(self) -> None:
        """`POST /emulator/stats/reset`."""
        with self.plain() as c:
            c.post("/emulator/stats/reset").raise_for_status()

    def configure(self, **settings: Any) -> dict[str, Any]:
        """`POST /emulator/config` with the given settings."""
        with self.plain() as c:
            response = c.post("/emulator/config", json=settings)
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

    def token(
        self, *, nick: str | None = None, access: str = "Full", permissions: str = "Modify"
    ) -> dict[str, str]:
        """A new access token from `POST /emulator/tokens`."""
        with self.plain() as c:
            body: dict[str, Any] = {"access": access, "permissions": permissions}
            if nick:
                body["nick"] = nick
            response = c.post("/emulator/tokens", json=body)
            response.raise_for_status()
            result: dict[str, str] = response.json()
            return result

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit within 10 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def emulator_command(port: int, data_dir: Path, env_file: Path, *args: str) -> list[str]:
    """The command line of `smugfs emulator` on `port`, keeping its state in `data_dir` and
    writing its account's settings to `env_file`."""
    return [
        sys.executable,
        "-m",
        "smugfs",
        "emulator",
        "--port",
        str(port),
        "--data",
        str(data_dir),
        "--env-file",
        str(env_file),
        *args,
    ]


def start_emulator(
    workdir: Path,
    *args: str,
    sample: bool = False,
    data_dir: Path | None = None,
    port: int = 0,
) -> Emulator:
    """Start `smugfs emulator` on a free port (or `port`: the same service started again on
    its data directory) and wait until it serves."""
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = data_dir or workdir / "data"
    env_file = workdir / "emulator.env"
    env_file.unlink(missing_ok=True)
    log_path = workdir / "emulator.log"
    command = emulator_command(port, data_dir, env_file, *args)
    if sample:
        command.append("--sample")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT
    while not env_file.exists():
        if process.poll() is not None:
            raise RuntimeError(f"emulator exited: {log_path.read_text(errors='replace')}")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("emulator did not start in time")
        time.sleep(0.05)
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    return Emulator(process, env, data_dir, log_path)


@contextlib.contextmanager
def running_emulator(
    workdir: Path, *args: str, sample: bool = False, data_dir: Path | None = None
) -> Iterator[Emulator]:
    """An emulator for the duration of a `with` block (stopped also on failure)."""
    emulator = start_emulator(workdir, *args, sample=sample, data_dir=data_dir)
    try:
        yield emulator
    finally:
        emulator.stop()


def restart(started: list[Emulator]) -> Emulator:
    """Start the last emulator of `started` again on its port and data directory (after a test
    stopped it), and add it to the list."""
    old = started[-1]
    port = httpx.URL(old.base_url).port
    assert port is not None
    emulator = start_emulator(old.log_path.parent, data_dir=old.data_dir, port=port)
    started.append(emulator)
    return emulator
