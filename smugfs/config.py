"""Settings of a mount: where the service is, the credentials, caches and timeouts.

Values come from the config file, the saved login, the `SMUGFS_*` environment variables and
`-o` mount options, in rising order of precedence. The `-o` options also arrive from mount(8)
(through mount.fuse3 or the `mount.smugfs` helper), which passes its own generic options along:
those are accepted and mean nothing here. Secrets are kept out of `repr`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

import platformdirs

from smugfs.errors import ConfigurationError
from smugfs.thumbnails.flavours import DEFAULT_FLAVOURS, parse_flavours

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
    # Whether titles, captions, keywords and the service's ids are extended attributes. Off by
    # default: with them on, every `ls -l` costs two requests to the mount per file, which
    # made a warm `ls -l` of 5,000 photos 2-7 times as slow (docs/benchmarks.md).
    xattrs: bool = False
    cache_dir: Path = dataclasses.field(
        default_factory=lambda: Path(platformdirs.user_cache_dir("smugfs"))
    )
    cache_size: int = 2 * 1024**3
    listing_ttl: float = 30.0
    # How long after a change the service's listings may still not show it: a listing fetched
    # sooner after its directory's last change is not reused on its validator alone.
    listing_settle: float = 600.0
    attr_timeout: float = 10.0
    entry_timeout: float = 10.0
    negative_timeout: float = 5.0
    # A lookup of a name a directory's listing lacks lists the directory again when the listing
    # is older than this (at most once per this long per directory), so what another client
    # made on the service is found by name at once rather than after `listing_ttl`.
    relist_on_miss: float = 5.0
    page_size: int = 100
    concurrency: int = 8
    # Read-ahead across files (readahead.py): at most this many files and bytes fetched ahead
    # of a process that reads a directory's files one after another (0 files: none).
    readahead_files: int = 8
    readahead_size: int = 256 * 1024**2
    request_timeout: float = 60.0
    retries: int = 5
    # Whether file managers' thumbnails are made from the service's renditions, and which
    # sizes (flavours of the Thumbnail Managing Standard).
    thumbnails: bool = True
    thumbnail_sizes: tuple[str, ...] = DEFAULT_FLAVOURS
    # Whether close() returns once a written file is staged, its upload left to the background
    # (`upload_queue.py`), instead of once the service confirmed it.
    writeback: bool = False
    # Whether every photo NAME.EXT has a virtual XMP sidecar NAME.EXT.xmp (see sidecars.py).
    sidecars: bool = False
    # How many uploads run at once in the background.
    uploads: int = 4

    @property
    def account_key(self) -> str:
        """A short, stable name for this account at this endpoint, for its own directories
        in the cache (derived from the credentials by a one-way hash: it reveals nothing)."""
        identity = "\0".join(
            [self.endpoint, self.user or "", self.credentials.api_key, self.credentials.token]
        )
        return hashlib.sha256(identity.encode()).hexdigest()[:16]


def _size(text: str) -> int:
    """`512M`, `2G`, `1048576` -> bytes."""
    units = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
    text = text.strip().lower().rstrip("b")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def _switch(text: str) -> bool:
    """`on`/`off` (or yes/no, true/false, 1/0) -> a bool."""
    value = text.strip().lower()
    if value in ("on", "yes", "true", "1"):
        return True
    if value in ("off", "no", "false", "0"):
        return False
    raise ValueError(f"{text!r} is not on or off")


def _seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError("must be more than zero")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("must be more than zero")
    return value


# Mount options (`-o name=value`) that set a Settings field, with their parsers.
OPTION_FIELDS = {
    "cache_dir": ("cache_dir", Path),
    "cache_size": ("cache_size", _size),
    "listing_ttl": ("listing_ttl", _seconds),
    "listing_settle": ("listing_settle", _seconds),
    "attr_timeout": ("attr_timeout", _seconds),
    "entry_timeout": ("entry_timeout", _seconds),
    "negative_timeout": ("negative_timeout", _seconds),
    "relist_on_miss": ("relist_on_miss", _seconds),
    "page_size": ("page_size", int),
    "concurrency": ("concurrency", int),
    "readahead_files": ("readahead_files", int),
    "readahead_size": ("readahead_size", _size),
    "request_timeout": ("request_timeout", _seconds),
    "thumbnails": ("thumbnails", _switch),
    "thumbnail_sizes": ("thumbnail_sizes", parse_flavours),
    "uploads": ("uploads", _positive),
}


# Options mount(8) and /etc/fstab pass to every filesystem. None of them changes a smugfs mount
# (the FUSE mount itself is always nodev, nosuid and noatime). `rw` is among them because mount(8)
# passes it whenever `ro` is absent: it cannot undo `read_only = true` of the config file.
GENERIC_OPTIONS = frozenset(
    {
        "rw",
        "dev",
        "nodev",
        "suid",
        "nosuid",
        "exec",
        "noexec",
        "auto",
        "noauto",
        "user",
        "nouser",
        "users",
        "owner",
        "group",
        "async",
        "sync",
        "dirsync",
        "atime",
        "noatime",
        "diratime",
        "nodiratime",
        "relatime",
        "norelatime",
        "strictatime",
        "lazytime",
        "nolazytime",
        "iversion",
        "noiversion",
        "mand",
        "nomand",
        "silent",
        "loud",
        "defaults",
        "_netdev",
        "nofail",
        "comment",
        "fsname",
        "subtype",
    }
)

# Prefixes of options meant for other programs (x-systemd.automount, x-gvfs-show...).
GENERIC_PREFIXES = ("x-",)

# Options the command line acts on before any settings exist: another config file, where a
# background mount logs and how much (fstab lines have no -v).
COMMAND_OPTIONS = frozenset({"config", "log_file", "log_level"})


def is_known_option(name: str) -> bool:
    """Whether `-o name` means something to a mount (a setting, or a generic option)."""
    return (
        name in OPTION_FIELDS
        or name in GENERIC_OPTIONS
        or name in COMMAND_OPTIONS
        or name in ("ro", "allow_other", "xattrs", "noxattrs", "writeback", "sidecars", "nick")
        or name.startswith(GENERIC_PREFIXES)
    )


# Keys of the config file that are flags (`true` turns them on, as the `-o` option does).
FLAG_KEYS = ("read_only", "allow_other", "xattrs", "writeback", "sidecars")

# Keys of the config file (TOML) besides the mount options above.
FILE_KEYS = {
    "api_key",
    "api_secret",
    "endpoint",
    "upload_url",
    "read_only",
    "allow_other",
    "xattrs",
    "writeback",
    "sidecars",
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


def _credentials(
    env: Mapping[str, str],
    file_values: Mapping[str, object],
    saved: tuple[str, Credentials] | None,
) -> tuple[Credentials, str]:
    """The credentials to use and the endpoint they belong to (unless SMUGFS_ENDPOINT says).

    The API key comes from the environment, else the saved login, else the config file. A saved
    access token is used with the key it was issued for only, so `SMUGFS_API_KEY` and
    `SMUGFS_API_SECRET` in the environment (the way `smugfs login` may have been given them)
    do not hide the login; `SMUGFS_ACCESS_TOKEN` and its secret replace it.
    """
    file_key = str(file_values.get("api_key") or "")
    file_endpoint = str(file_values.get("endpoint") or REAL_ENDPOINT)
    saved_endpoint, saved_credentials = saved if saved is not None else (file_endpoint, None)
    api_key = (
        env.get("SMUGFS_API_KEY")
        or (saved_credentials.api_key if saved_credentials is not None else "")
        or file_key
    )
    login = (
        saved_credentials if saved_credentials and saved_credentials.api_key == api_key else None
    )
    api_secret = (
        env.get("SMUGFS_API_SECRET")
        or (login.api_secret if login is not None else "")
        or (str(file_values.get("api_secret") or "") if file_key in ("", api_key) else "")
    )
    if env.get("SMUGFS_ACCESS_TOKEN"):
        token, token_secret = env["SMUGFS_ACCESS_TOKEN"], env.get("SMUGFS_ACCESS_TOKEN_SECRET", "")
    elif login is not None:
        token, token_secret = login.token, login.token_secret
    else:
        token = token_secret = ""
    credentials = Credentials(api_key, api_secret, token, token_secret)
    return credentials, saved_endpoint if login is not None else file_endpoint


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
    credentials, default_endpoint = _credentials(env, file_values, saved)
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
        elif value is True and name in FLAG_KEYS:
            merged["ro" if name == "read_only" else name] = None
        elif name == "xattrs" and value is False:
            merged["noxattrs"] = None
    merged.update(options or {})
    for name, value in merged.items():
        if name == "ro":
            fields["read_only"] = True
        elif name == "allow_other":
            fields["allow_other"] = True
        elif name in ("xattrs", "writeback", "sidecars"):
            fields[name] = True
        elif name == "noxattrs":
            fields["xattrs"] = False
        elif name == "nick":
            # Another user's public galleries: the same as `smugfs mount --user NICK`.
            if not value:
                raise ConfigurationError("mount option nick needs a value (nick=NICK)")
            fields["user"] = value
            fields["read_only"] = True
        elif name in OPTION_FIELDS:
            field, parse = OPTION_FIELDS[name]
            if value is None:
                raise ConfigurationError(f"mount option {name} needs a value")
            try:
                fields[field] = parse(value)  # type: ignore[operator]
            except ValueError as exc:
                raise ConfigurationError(f"bad value for mount option {name}: {exc}") from exc
        elif (
            name in GENERIC_OPTIONS or name in COMMAND_OPTIONS or name.startswith(GENERIC_PREFIXES)
        ):
            continue
        else:
            raise ConfigurationError(f"unknown mount option {name}")
    return Settings(**fields)  # type: ignore[arg-type]
