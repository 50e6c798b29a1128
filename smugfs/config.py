"""Settings of a mount: where the service is, the credentials, caches and timeouts.

Values come from the `SMUGFS_*` environment variables and `-o` mount options (the config file
and token store join them with login support). Secrets are kept out of `repr`.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

import platformdirs

from smugfs.errors import ConfigurationError

REAL_ENDPOINT = "https://api.smugmug.com"
REAL_UPLOAD_URL = "https://upload.smugmug.com/"


@dataclasses.dataclass(frozen=True)
class Credentials:
    """An application key and, for a user's own account, an access token."""

    api_key: str
    api_secret: str = dataclasses.field(repr=False, default="")
    token: str = dataclasses.field(repr=False, default="")
    token_secret: str = dataclasses.field(repr=False, default="")

    @property
    def has_token(self) -> bool:
        """Whether requests can be signed for a user (else only public reads by API key)."""
        return bool(self.token and self.token_secret and self.api_secret)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a mount needs to know before it starts."""

    endpoint: str = REAL_ENDPOINT
    upload_url: str = REAL_UPLOAD_URL
    credentials: Credentials = dataclasses.field(default_factory=lambda: Credentials(""))
    user: str | None = None
    read_only: bool = False
    allow_other: bool = False
    cache_dir: Path = dataclasses.field(
        default_factory=lambda: Path(platformdirs.user_cache_dir("smugfs"))
    )
    cache_size: int = 2 * 1024**3
    listing_ttl: float = 30.0
    attr_timeout: float = 10.0
    entry_timeout: float = 10.0
    negative_timeout: float = 5.0
    page_size: int = 100
    concurrency: int = 8
    request_timeout: float = 60.0
    retries: int = 5


def _size(text: str) -> int:
    """`512M`, `2G`, `1048576` -> bytes."""
    units = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
    text = text.strip().lower().rstrip("b")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def _seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError("must be more than zero")
    return value


# Mount options (`-o name=value`) that set a Settings field, with their parsers.
OPTION_FIELDS = {
    "cache_dir": ("cache_dir", Path),
    "cache_size": ("cache_size", _size),
    "listing_ttl": ("listing_ttl", _seconds),
    "attr_timeout": ("attr_timeout", _seconds),
    "entry_timeout": ("entry_timeout", _seconds),
    "negative_timeout": ("negative_timeout", _seconds),
    "page_size": ("page_size", int),
    "concurrency": ("concurrency", int),
}


# Keys of the config file (TOML) besides the mount options above.
FILE_KEYS = {
    "api_key",
    "api_secret",
    "endpoint",
    "upload_url",
    "read_only",
    "allow_other",
    "log_level",
    *OPTION_FIELDS,
}


def read_file(path: Path) -> dict[str, object]:
    """The settings of a TOML config file ({} if there is none)."""
    try:
        with open(path, "rb") as source:
            values = tomllib.load(source)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from exc
    unknown = set(values) - FILE_KEYS
    if unknown:
        raise ConfigurationError(f"{path}: unknown setting {sorted(unknown)[0]}")
    return values


def from_environment(
    env: Mapping[str, str] | None = None,
    options: Mapping[str, str | None] | None = None,
    *,
    file_values: Mapping[str, object] | None = None,
    saved: tuple[str, Credentials] | None = None,
) -> Settings:
    """Settings from, in rising order of precedence: the config file, a saved login, the
    `SMUGFS_*` variables and `-o` options."""
    env = os.environ if env is None else env
    file_values = file_values or {}
    if env.get("SMUGFS_API_KEY"):
        credentials = Credentials(
            api_key=env.get("SMUGFS_API_KEY", ""),
            api_secret=env.get("SMUGFS_API_SECRET", ""),
            token=env.get("SMUGFS_ACCESS_TOKEN", ""),
            token_secret=env.get("SMUGFS_ACCESS_TOKEN_SECRET", ""),
        )
        default_endpoint = str(file_values.get("endpoint") or REAL_ENDPOINT)
    elif saved is not None:
        default_endpoint, credentials = saved
    else:
        credentials = Credentials(
            api_key=str(file_values.get("api_key") or ""),
            api_secret=str(file_values.get("api_secret") or ""),
        )
        default_endpoint = str(file_values.get("endpoint") or REAL_ENDPOINT)
    endpoint = env.get("SMUGFS_ENDPOINT", default_endpoint).rstrip("/")
    upload_url = (
        env.get("SMUGFS_UPLOAD_URL")
        or str(file_values.get("upload_url") or "")
        or (REAL_UPLOAD_URL if endpoint == REAL_ENDPOINT else endpoint + "/upload")
    )
    fields: dict[str, object] = {
        "endpoint": endpoint,
        "upload_url": upload_url,
        "credentials": credentials,
    }
    merged: dict[str, str | None] = {}
    for name, value in file_values.items():
        if name in OPTION_FIELDS:
            merged[name] = str(value)
        elif name in ("read_only", "allow_other") and value is True:
            merged["ro" if name == "read_only" else name] = None
    merged.update(options or {})
    for name, value in merged.items():
        if name == "ro":
            fields["read_only"] = True
        elif name == "allow_other":
            fields["allow_other"] = True
        elif name in OPTION_FIELDS:
            field, parse = OPTION_FIELDS[name]
            if value is None:
                raise ConfigurationError(f"mount option {name} needs a value")
            try:
                fields[field] = parse(value)  # type: ignore[operator]
            except ValueError as exc:
                raise ConfigurationError(f"bad value for mount option {name}: {exc}") from exc
        else:
            raise ConfigurationError(f"unknown mount option {name}")
    return Settings(**fields)  # type: ignore[arg-type]
