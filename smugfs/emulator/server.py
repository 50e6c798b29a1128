"""Running the emulator: open the store, make sure credentials exist, serve on 127.0.0.1.

`prepare` opens (or creates) the data directory, adds the sample library or a generated benchmark
library (`generate.py`) when asked, and makes sure there is an application key and a full-access
token for the first user; `serve` binds the loopback socket and runs uvicorn, writing the
`SMUGFS_*` lines to the env file once it listens.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import socket
import tempfile
import threading
from pathlib import Path

import uvicorn
from starlette.requests import ClientDisconnect

from smugfs.emulator import generate, sample
from smugfs.emulator.app import DroppedConnection, Service
from smugfs.emulator.conditions import Settings
from smugfs.emulator.model import ApiKey, Token
from smugfs.emulator.store import Store

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
DEFAULT_USER = "me"


@dataclasses.dataclass
class Credentials:
    """What a client needs to reach the emulator as its first user."""

    api_key: ApiKey
    token: Token


def prepare(
    data_dir: Path,
    *,
    with_sample: bool,
    seed: int | None = None,
    generated: generate.Spec | None = None,
) -> tuple[Store, Credentials]:
    """The store in `data_dir` with its first user's credentials (made if missing), holding
    the sample library and/or a generated benchmark library when asked."""
    data_dir.mkdir(parents=True, exist_ok=True)
    store = Store.open(data_dir, seed)
    if generated is not None:
        generate.build(store, generated)
    if with_sample:
        sample.build(store)
    if not store.users:
        store.create_user(DEFAULT_USER, "SmugMug User")
    api_key = next(iter(store.api_keys.values()), None) or store.create_api_key()
    nick = sample.DEMO_USER if sample.DEMO_USER in store.users else next(iter(store.users))
    token = next(
        (
            t
            for t in store.tokens.values()
            if t.kind == "access"
            and t.nick == nick
            and t.access == "Full"
            and t.permissions == "Modify"
            and t.api_key == api_key.key
        ),
        None,
    ) or store.create_access_token(api_key.key, nick)
    if store.dirty:
        store.save()
    return store, Credentials(api_key, token)


def env_lines(port: int, credentials: Credentials) -> list[str]:
    """The `SMUGFS_*` lines through which clients reach this emulator."""
    base = f"http://{HOST}:{port}"
    return [
        f"SMUGFS_ENDPOINT={base}",
        f"SMUGFS_UPLOAD_URL={base}/upload",
        f"SMUGFS_API_KEY={credentials.api_key.key}",
        f"SMUGFS_API_SECRET={credentials.api_key.secret}",
        f"SMUGFS_ACCESS_TOKEN={credentials.token.token}",
        f"SMUGFS_ACCESS_TOKEN_SECRET={credentials.token.secret}",
    ]


class _QuietDrops(logging.Filter):
    """Keeps injected connection drops, and clients that went away before their request was
    whole (a killed uploader), out of the server's error log: neither is the service's fault."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.exc_info and isinstance(record.exc_info[1], DroppedConnection | ClientDisconnect)
        )


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM: end the process with exit status 0 (the state is saved on the way out)."""
    raise SystemExit(0)


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1 (port 0 picks a free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def serve(
    *,
    port: int,
    data_dir: Path | None,
    with_sample: bool,
    settings: Settings,
    env_file: Path | None,
    announce: bool = True,
    generated: generate.Spec | None = None,
) -> None:
    """Serve until interrupted (SIGINT/SIGTERM end it cleanly, saving the state)."""
    temp: tempfile.TemporaryDirectory[str] | None = None
    if data_dir is None:
        temp = tempfile.TemporaryDirectory(prefix="smugfs-emulator-")
        data_dir = Path(temp.name)
    try:
        store, credentials = prepare(
            data_dir, with_sample=with_sample, seed=settings.seed, generated=generated
        )
        sock = bind(port)
        actual_port = sock.getsockname()[1]
        service = Service(store, settings, env_file)
        service.env_lines = env_lines(actual_port, credentials)
        logging.getLogger("uvicorn.error").addFilter(_QuietDrops())
        config = uvicorn.Config(
            service,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_keep_alive=30,
            limit_concurrency=None,
        )
        server = uvicorn.Server(config)
        if threading.current_thread() is threading.main_thread():
            # uvicorn shuts down cleanly on SIGTERM, then raises the signal once more with the
            # handler that was in place before it started: without one of ours, the process
            # would die of the signal instead of exiting with status 0.
            signal.signal(signal.SIGTERM, _terminated)
        if announce:
            print(
                f"SmugMug emulator serving on http://{HOST}:{actual_port} "
                f"(users: {', '.join(sorted(store.users))}; data in {data_dir})",
                flush=True,
            )
        try:
            server.run(sockets=[sock])
        finally:
            store.close()
    finally:
        if temp is not None:
            temp.cleanup()
