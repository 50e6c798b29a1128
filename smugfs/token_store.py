"""Where a user's SmugMug credentials live between commands: one file only its owner can read.

`smugfs login` saves the API key and secret it used with the access token it obtained;
`smugfs mount` and `smugfs whoami` read them when the `SMUGFS_*` variables do not name
credentials; `smugfs logout` removes the file. The file is created with mode 0600 (never
readable by anyone else, not even for a moment) and replaced atomically.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from pathlib import Path

import platformdirs

from smugfs.config import REAL_ENDPOINT, Credentials
from smugfs.errors import ConfigurationError

TOKEN_FILE = "tokens.json"


def config_dir() -> Path:
    """The user's smugfs configuration directory (`SMUGFS_CONFIG_DIR` overrides it)."""
    override = os.environ.get("SMUGFS_CONFIG_DIR")
    return Path(override) if override else Path(platformdirs.user_config_dir("smugfs"))


def token_path() -> Path:
    """Where the tokens are kept."""
    return config_dir() / TOKEN_FILE


@dataclasses.dataclass(frozen=True)
class SavedLogin:
    """What `smugfs login` keeps: the service, the account and its credentials."""

    endpoint: str
    nick: str
    credentials: Credentials


def save(login: SavedLogin) -> Path:
    """Write the login to the token file (mode 0600) and return its path."""
    path = token_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = {
        "endpoint": login.endpoint,
        "nick": login.nick,
        "api_key": login.credentials.api_key,
        "api_secret": login.credentials.api_secret,
        "access_token": login.credentials.token,
        "access_token_secret": login.credentials.token_secret,
    }
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    # Created 0600 from the start: the secrets are never readable by anyone else.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=2)
    os.replace(tmp, path)
    return path


def load() -> SavedLogin | None:
    """The saved login, or None if there is none."""
    path = token_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from exc
    if path.stat().st_mode & 0o077:
        raise ConfigurationError(f"{path} can be read by others; fix it with: chmod 600 {path}")
    try:
        return SavedLogin(
            endpoint=str(data.get("endpoint") or REAL_ENDPOINT),
            nick=str(data.get("nick") or ""),
            credentials=Credentials(
                api_key=str(data["api_key"]),
                api_secret=str(data.get("api_secret") or ""),
                token=str(data.get("access_token") or ""),
                token_secret=str(data.get("access_token_secret") or ""),
            ),
        )
    except (KeyError, TypeError) as exc:
        raise ConfigurationError(f"{path} is incomplete; run smugfs login again") from exc


def remove() -> bool:
    """Delete the token file; returns whether there was one."""
    try:
        token_path().unlink()
    except FileNotFoundError:
        return False
    return True
