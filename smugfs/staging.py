"""Staging: the local files behind writes, before (and while) they become photos.

A file created or rewritten through the mount is written to a staging file in the cache
directory. When it is closed it is uploaded (see `fs.py`); until the service has confirmed the
upload, and until its listing shows the new image, reads are served from here. Files that
desktop tools write for their own bookkeeping, and temporary names such as rsync's
`.NAME.XXXXXX`, stay local: they are never uploaded under such a name.

All file I/O runs in worker threads, never on the trio loop. The staging directory is private
(0700); leftovers of a mount that ended without confirming their upload are removed at start,
since no `close()` ever reported them as saved.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import re
import shutil
import uuid
from pathlib import Path

import trio

from smugfs.api.models import RemoteImage

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
    r"^\..*|.*~$|.*\.(swp|swx|swo|tmp|temp|part|crdownload|partial)$", re.IGNORECASE
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
    # The image this file replaces when it is uploaded (written over an existing photo).
    replace: RemoteImage | None = None
    # Bytes written since the last upload.
    dirty: bool = False
    # Uploaded and confirmed; kept only to serve reads until the listing shows the image.
    uploaded: bool = False
    writers: int = 0
    # The photo this file is the backup copy of (renamed to a temporary name), while parked.
    parked: RemoteImage | None = None


class Staging:
    """The staging directory and the operations on its files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        if directory.exists():
            shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    async def new(self, mtime: float) -> LocalFile:
        """An empty staging file."""
        path = self.directory / uuid.uuid4().hex

        def create() -> int:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)

        fd = await trio.to_thread.run_sync(create)
        return LocalFile(path, fd, mtime)

    async def write(self, local: LocalFile, offset: int, data: bytes) -> int:
        """Write bytes at `offset`; the file grows as needed."""
        written = await trio.to_thread.run_sync(os.pwrite, local.fd, data, offset)
        local.size = max(local.size, offset + written)
        local.dirty = True
        return int(written)

    async def read(self, local: LocalFile, offset: int, size: int) -> bytes:
        """Bytes of a staging file."""
        data: bytes = await trio.to_thread.run_sync(os.pread, local.fd, size, offset)
        return data

    async def truncate(self, local: LocalFile, size: int) -> None:
        """Cut or extend a staging file to `size`."""
        await trio.to_thread.run_sync(os.ftruncate, local.fd, size)
        local.size = size
        local.dirty = True

    async def md5(self, local: LocalFile) -> str:
        """The MD5 (hex) of a staging file's content."""

        def digest() -> str:
            md5 = hashlib.md5()
            offset = 0
            while offset < local.size:
                chunk = os.pread(local.fd, min(CHUNK, local.size - offset), offset)
                if not chunk:
                    break
                md5.update(chunk)
                offset += len(chunk)
            return md5.hexdigest()

        return await trio.to_thread.run_sync(digest)

    async def discard(self, local: LocalFile) -> None:
        """Remove a staging file."""

        def remove() -> None:
            with contextlib.suppress(OSError):
                os.close(local.fd)
            local.path.unlink(missing_ok=True)

        await trio.to_thread.run_sync(remove)
