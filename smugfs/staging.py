"""Staging: the local files behind writes, before (and while) they become photos.

A file created or rewritten through the mount is written to a staging file in the cache
directory. When it is closed it is uploaded (see `changes/`); until the service has confirmed
the upload, and until its listing shows the new image, reads are served from here. Files that
desktop tools write for their own bookkeeping, and temporary names such as rsync's
`.NAME.XXXXXX`, stay local: they are never uploaded under such a name.

A staging file meant for the service has an intent beside it (`ID.json`: where it goes, under
which name, whether `close()` has asked for its upload), so that a mount killed in the middle
of a write or an upload leaves enough behind for the next mount to finish the job or hand the
bytes back (`recovery.py`). Staging files without an intent are scratch and are removed at the
next start. One mount at a time owns a staging directory (an advisory lock); a second mount of
the same account gets a directory of its own.

All file I/O runs in worker threads, never on the trio loop. Staging directories are private
(0700), intents and data 0600.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import trio

from smugfs.api.models import RemoteImage
from smugfs.digests import RunningDigest
from smugfs.errors import NotFound
from smugfs.locks import try_exclusive_lock
from smugfs.xattrs import PHOTO_FIELDS

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024

# Names of files that desktop tools and editors keep for themselves.
_JUNK = re.compile(
    r"^(\.DS_Store|\._.*|Thumbs\.db|ehthumbs\.db|desktop\.ini|\.directory|\.hidden|"
    r"\.~lock\..*#|4913|\.nfs.*)$",
    re.IGNORECASE,
)
# Names that are temporary by convention: rsync's `.name.XXXXXX`, editors' swap and backup
# files, browsers' partial downloads. They become photos only when renamed to a real name.
_TEMPORARY = re.compile(
    r"^\..*|.*~$|.*\.(swp|swx|swo|tmp|temp|part|crdownload|partial)$"
    # XMP sidecars and the temporary files programs write them through
    # (`NAME.xmp_exiftool_tmp`, `NAME.xmp.tmp`): never photos.
    r"|.*\.xmp([._~-].*)?$",
    re.IGNORECASE,
)
# Directory names desktop tools create for themselves (trash, thumbnails): never albums.
_BOOKKEEPING_DIRS = re.compile(r"^(\.Trash(-\d+)?|\.Trashes|\.thumbnails|\.cache|\..*)$")


def is_local_only(name: str) -> bool:
    """Whether a file with this name stays in the mount and is never uploaded as it is."""
    return bool(_JUNK.match(name) or _TEMPORARY.match(name))


def is_bookkeeping_dir(name: str) -> bool:
    """Whether a directory with this name is a desktop tool's and must not become an album."""
    return bool(_BOOKKEEPING_DIRS.match(name))


@dataclasses.dataclass(eq=False)
class LocalFile:
    """A staging file and what it is for."""

    path: Path
    fd: int
    mtime: float
    size: int = 0
    # The modification time a tool set (utimens) since the last write, in nanoseconds: kept
    # for the photo these bytes become (see `kept_times.py`).
    mtime_ns: int | None = None
    # The image this file replaces when it is uploaded (written over an existing photo).
    replace: RemoteImage | None = None
    # Bytes written since the last upload.
    dirty: bool = False
    # Uploaded and confirmed; kept only to serve reads until the listing shows the image.
    uploaded: bool = False
    writers: int = 0
    # The image the service holds with exactly these bytes, once an upload (at fsync, or at the
    # close of one of several descriptors) confirmed them while the file stayed open for
    # writing: the writing goes on here, and the next upload replaces that image in place.
    synced: RemoteImage | None = None
    # Whether those bytes reached the service from here (worth keeping in the content cache).
    prime: bool = False
    # Held while the bytes change or are uploaded, so an upload reads a file nobody is writing
    # and two closes of one file never upload it twice.
    lock: trio.Lock = dataclasses.field(default_factory=trio.Lock, repr=False)
    # Deleted while still open for writing: the open descriptors keep their bytes until they
    # are closed, and nothing of it is uploaded.
    unlinked: bool = False
    # Reads and writes under way, and whether the file was discarded (its descriptor is closed
    # by the last of them then).
    in_use: int = 0
    discarded: bool = False
    # The photo this file is the backup copy of (renamed to a temporary name), while parked.
    parked: RemoteImage | None = None
    # Descriptive fields set on it (setxattr) before it is uploaded: sent with the upload.
    fields: dict[str, Any] = dataclasses.field(default_factory=dict)
    # The MD5 of the bytes written so far, while they are written from start to end (as cp
    # and rsync write), so the upload needs no second pass over the file.
    digest: RunningDigest = dataclasses.field(default_factory=RunningDigest, repr=False)


class IntentState(enum.StrEnum):
    """What an intent says about its staging file."""

    # Still being written: never closed, so its bytes may be incomplete.
    WRITING = "writing"
    # Complete, and asked to be uploaded by `close()`.
    UPLOADING = "uploading"


@dataclasses.dataclass(frozen=True)
class Intent:
    """Where a staging file is going: enough to finish or report it after a crash."""

    state: IntentState
    album_uri: str
    # The file's path in the mount, for people (`Travel/Lisbon/p.jpg`).
    path: str
    # The file name on the service.
    name: str
    # The AlbumImage URI of the photo it replaces, if any.
    replaces: str | None = None
    md5: str = ""
    size: int = 0
    started: float = 0.0
    # Whether the upload may have been sent (so the service may have applied it): false for a
    # file a write-back `close()` queued that no request has carried yet.
    sent: bool = True
    # The title, caption, keywords... set on it (setxattr) to go with the upload.
    fields: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def parse(cls, data: Any) -> Intent | None:
        """An intent read back from its file, or None if it is not one."""
        if not isinstance(data, dict):
            return None
        try:
            intent = cls(
                state=IntentState(data["state"]),
                album_uri=str(data["album_uri"]),
                path=str(data["path"]),
                name=str(data["name"]),
                replaces=None if data.get("replaces") is None else str(data["replaces"]),
                md5=str(data.get("md5") or ""),
                size=int(data.get("size") or 0),
                started=float(data.get("started") or 0.0),
                sent=data.get("sent") is not False,
                fields=_fields(data.get("fields")),
            )
        except (KeyError, TypeError, ValueError):
            return None
        return intent if intent.name and intent.album_uri else None


def _fields(value: Any) -> dict[str, Any]:
    """An intent's upload fields, keeping only the known names."""
    if not isinstance(value, dict):
        return {}
    known = PHOTO_FIELDS.values()
    return {str(k): v for k, v in value.items() if k in known}


@dataclasses.dataclass(frozen=True)
class Leftover:
    """A staging file a mount left behind, with its intent."""

    path: Path
    intent: Intent


class Staging:
    """A staging directory owned by this mount, and the operations on its files."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = _lock(directory)
        if self._lock is None:
            # Another mount of the same account owns it: use one of our own beside it.
            directory = directory.with_name(f"{directory.name}.{os.getpid()}")
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(mode=0o700)
            self._lock = _lock(directory)
        self.directory = directory

    def leftovers(self) -> list[Leftover]:
        """What mounts that ended without finishing left behind, here and in the spare
        directories of mounts that are gone; scratch files and spare directories are removed.
        Blocking: call it in a worker thread."""
        found: list[Leftover] = []
        spares = sorted(self.directory.parent.glob(f"{self.directory.name.split('.')[0]}.*"))
        for directory in [self.directory, *spares]:
            if directory == self.directory:
                found.extend(_leftovers_in(directory))
                continue
            lock = _lock(directory)
            if lock is None:
                continue  # a live mount's
            try:
                for leftover in _leftovers_in(directory):
                    target = self.directory / leftover.path.name
                    os.replace(leftover.path, target)
                    os.replace(_intent_path(leftover.path), _intent_path(target))
                    found.append(Leftover(target, leftover.intent))
                shutil.rmtree(directory, ignore_errors=True)
            finally:
                os.close(lock)
        return found

    async def record(self, local: LocalFile, intent: Intent, *, durable: bool = False) -> None:
        """Write (or replace) the intent of a staging file; `durable` also has the file's
        bytes and its intent reach the disk before this returns (a write-back `close()`)."""

        def save() -> None:
            path = _intent_path(local.path)
            temporary = path.with_name(path.name + ".tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(dataclasses.asdict(intent), out)
                if durable:
                    out.flush()
                    os.fsync(out.fileno())
            if durable:
                os.fsync(local.fd)
            os.replace(temporary, path)
            if durable:
                directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    os.fsync(directory)
                finally:
                    os.close(directory)

        await trio.to_thread.run_sync(save)

    async def hand_back(self, local: LocalFile, mount_path: str, kept_dir: Path) -> Path:
        """Move a staging file that will not be uploaded to `kept_dir` under its path in the
        mount (its intent goes); returns where it is now."""

        _let_go(local)
        return await trio.to_thread.run_sync(hand_back, local.path, mount_path, kept_dir)

    async def pass_on(self, local: LocalFile, take: Callable[[Path], Awaitable[None]]) -> None:
        """Give a staging file whose job is done to `take` (the content cache, which may move
        it away), then remove what is left of it. Its descriptor is closed first (see
        `_let_go`), so nothing writes to the file once `take` has it."""
        _let_go(local)
        try:
            await take(local.path)
        finally:
            await trio.to_thread.run_sync(_remove, local.path)

    def drop(self, path: Path) -> None:
        """Remove a leftover's file and intent (blocking: call it in a worker thread)."""
        _remove(path)

    async def forget(self, local: LocalFile) -> None:
        """Drop a staging file's intent: its job is done (uploaded, or now local only)."""
        await trio.to_thread.run_sync(_intent_path(local.path).unlink, True)

    async def new(self, mtime: float) -> LocalFile:
        """An empty staging file."""
        path = self.directory / uuid.uuid4().hex

        def create() -> int:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)

        fd = await trio.to_thread.run_sync(create)
        return LocalFile(path, fd, mtime)

    async def write(self, local: LocalFile, offset: int, data: bytes) -> int:
        """Write bytes at `offset`; the file grows as needed. The bytes are hashed after this
        returns (see `digests.py`)."""
        async with local.lock:
            with _in_use(local) as fd:
                written: int = await trio.to_thread.run_sync(os.pwrite, fd, data, offset)
            await local.digest.wrote(offset, data, written)
        local.size = max(local.size, offset + written)
        local.dirty = True
        return written

    async def read(self, local: LocalFile, offset: int, size: int) -> bytes:
        """Bytes of a staging file."""
        with _in_use(local) as fd:
            data: bytes = await trio.to_thread.run_sync(os.pread, fd, size, offset)
        return data

    async def truncate(self, local: LocalFile, size: int) -> None:
        """Cut or extend a staging file to `size`."""
        async with local.lock:
            with _in_use(local) as fd:
                await trio.to_thread.run_sync(os.ftruncate, fd, size)
        local.size = size
        local.dirty = True
        if size == 0:
            local.digest = RunningDigest()
        elif local.digest.length != size:
            local.digest.lose()

    async def md5(self, local: LocalFile) -> str:
        """The MD5 (hex) of a staging file's content."""
        running = await local.digest.hexdigest(local.size)
        if running is not None:
            return running
        md5, _ = await trio.to_thread.run_sync(file_digest, local.path)
        return md5

    async def discard(self, local: LocalFile) -> None:
        """Remove a staging file; I/O under way finishes first (see `_let_go`)."""
        _let_go(local)
        await trio.to_thread.run_sync(_remove, local.path)


def file_digest(path: Path) -> tuple[str, int]:
    """The MD5 (hex) and size of a file's content (blocking: call it in a worker thread)."""
    md5 = hashlib.md5()
    size = 0
    with open(path, "rb") as data:
        while chunk := data.read(CHUNK):
            md5.update(chunk)
            size += len(chunk)
    return md5.hexdigest(), size


def kept_dir(cache_dir: Path) -> Path:
    """Where staged bytes that will not be uploaded are handed back, under their paths."""
    return cache_dir / "recovered"


def hand_back(path: Path, mount_path: str, kept_dir: Path) -> Path:
    """Move a staged file to `kept_dir/<time>/<its path in the mount>` (never over another
    file) and drop its intent; returns the new path. Blocking: call it in a worker thread."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    relative = Path(*[part for part in mount_path.split("/") if part not in ("", "..", ".")])
    target = kept_dir / stamp / relative
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    n = 1
    while target.exists():
        n += 1
        target = target.with_name(f"{relative.stem} ({n}){relative.suffix}")
    os.replace(path, target)
    _intent_path(path).unlink(missing_ok=True)
    return target


@contextlib.contextmanager
def _in_use(local: LocalFile) -> Iterator[int]:
    """The descriptor of a staging file, kept open until the I/O done with it ends; a file
    discarded already is gone (ENOENT)."""
    if local.discarded:
        raise NotFound("the staged file was dropped")
    local.in_use += 1
    try:
        yield local.fd
    finally:
        local.in_use -= 1
        if local.discarded and local.in_use == 0:
            _close(local)


def _let_go(local: LocalFile) -> None:
    """Mark a staging file dropped: no new I/O starts on it, and its descriptor is closed now
    or by the last I/O under way (a descriptor closed under a read or write could be reused
    by another file before that runs)."""
    local.discarded = True
    if local.in_use == 0:
        _close(local)


def _remove(data: Path) -> None:
    """Remove a staging file and its intent (blocking: call it in a worker thread)."""
    _intent_path(data).unlink(missing_ok=True)
    data.unlink(missing_ok=True)


def _close(local: LocalFile) -> None:
    """Close a staging file's descriptor (once; closing a regular file does not block)."""
    if local.fd >= 0:
        with contextlib.suppress(OSError):
            os.close(local.fd)
        local.fd = -1


def _intent_path(data: Path) -> Path:
    return data.with_name(data.name + ".json")


def _lock(directory: Path) -> int | None:
    """An exclusive advisory lock on a staging directory, or None if a live mount holds it."""
    return try_exclusive_lock(directory / ".lock")


def _leftovers_in(directory: Path) -> list[Leftover]:
    """The staging files with an intent in `directory`; every other file there is removed."""
    found = []
    for path in sorted(directory.iterdir()):
        name = path.name
        if name == ".lock":
            continue
        if name.endswith(".json"):
            if not path.with_name(name[: -len(".json")]).exists():
                path.unlink(missing_ok=True)  # an intent whose file is gone
            continue
        if name.endswith(".tmp"):
            path.unlink(missing_ok=True)  # an intent half written when the mount ended
            continue
        intent = None
        with contextlib.suppress(OSError, ValueError):
            intent = Intent.parse(json.loads(_intent_path(path).read_text(encoding="utf-8")))
        if intent is None:
            path.unlink(missing_ok=True)
            _intent_path(path).unlink(missing_ok=True)
            continue
        found.append(Leftover(path, intent))
    return found
