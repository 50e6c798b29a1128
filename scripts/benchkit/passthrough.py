"""A read-only pyfuse3 filesystem that shows a local directory: the FUSE ceiling, no network.

`scripts/bench` reads a file from a tmpfs through this mount to learn how fast pyfuse3 and the
kernel's FUSE round trips can go on this machine at all; a network mount cannot beat it. It
answers only what reading needs (lookup, getattr, opendir, readdir, open, read, release), with
the underlying inode numbers, and reads with `os.pread` on a descriptor per open file.

    python scripts/benchkit/passthrough.py SOURCE MOUNTPOINT
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyfuse3
import trio


class Passthrough(pyfuse3.Operations):
    """SOURCE's tree, read-only; inode numbers are the source's (the root is ROOT_INODE)."""

    def __init__(self, source: Path) -> None:
        super().__init__()
        self.source = source
        self.root_ino = source.stat().st_ino
        self.paths: dict[int, Path] = {pyfuse3.ROOT_INODE: source}
        self.files: dict[int, int] = {}

    def _ino(self, st_ino: int) -> int:
        return pyfuse3.ROOT_INODE if st_ino == self.root_ino else st_ino

    def _path(self, inode: int) -> Path:
        path = self.paths.get(inode)
        if path is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return path

    def _attributes(self, path: Path) -> pyfuse3.EntryAttributes:
        try:
            st = os.lstat(path)
        except OSError as exc:
            raise pyfuse3.FUSEError(exc.errno or errno.EIO) from None
        attrs = pyfuse3.EntryAttributes()
        attrs.st_ino = self._ino(st.st_ino)
        attrs.st_mode = st.st_mode & ~0o222  # read-only
        attrs.st_nlink = st.st_nlink
        attrs.st_uid = st.st_uid
        attrs.st_gid = st.st_gid
        attrs.st_size = st.st_size
        attrs.st_blksize = 128 * 1024
        attrs.st_blocks = st.st_blocks
        attrs.st_atime_ns = st.st_atime_ns
        attrs.st_mtime_ns = st.st_mtime_ns
        attrs.st_ctime_ns = st.st_ctime_ns
        # Long timeouts, as a network mount would keep its attributes: only reads are measured.
        attrs.attr_timeout = 60
        attrs.entry_timeout = 60
        self.paths[attrs.st_ino] = path
        return attrs

    async def lookup(
        self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        return self._attributes(self._path(parent_inode) / os.fsdecode(name))

    async def getattr(self, inode: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        return self._attributes(self._path(inode))

    async def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
        if not stat.S_ISDIR(os.lstat(self._path(inode)).st_mode):
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        return inode

    async def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        names = sorted(os.listdir(self._path(fh)))
        for index in range(start_id, len(names)):
            attrs = self._attributes(self._path(fh) / names[index])
            if not pyfuse3.readdir_reply(token, os.fsencode(names[index]), attrs, index + 1):
                return

    async def releasedir(self, fh: int) -> None:
        return None

    async def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        if flags & (os.O_WRONLY | os.O_RDWR):
            raise pyfuse3.FUSEError(errno.EROFS)
        fd = os.open(self._path(inode), os.O_RDONLY)
        self.files[fd] = inode
        return pyfuse3.FileInfo(fh=fd, keep_cache=True)

    async def read(self, fh: int, off: int, size: int) -> bytes:
        return os.pread(fh, size, off)

    async def release(self, fh: int) -> None:
        self.files.pop(fh, None)
        os.close(fh)


def main(argv: list[str]) -> int:
    """Mount SOURCE at MOUNTPOINT until unmounted or signalled."""
    if len(argv) != 2:
        print("usage: passthrough.py SOURCE MOUNTPOINT", file=sys.stderr)
        return 2
    source, mountpoint = Path(argv[0]).resolve(), Path(argv[1])
    options = set(pyfuse3.default_options) | {"fsname=passthrough", "ro", "auto_unmount"}
    pyfuse3.init(Passthrough(source), str(mountpoint), options)

    def stop(*_: Any) -> None:
        # pyfuse3.main ends once the kernel drops the mount; fusermount3 -u does that.
        subprocess.run(["fusermount3", "-u", "-z", str(mountpoint)], check=False, timeout=30)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        trio.run(pyfuse3.main)
    finally:
        pyfuse3.close(unmount=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
