"""What the workloads run against: the emulators, nginx over the same bytes, fresh mounts.

`Setup` starts everything on 127.0.0.1 and keeps a list of every mount it made, so that
`close()` (called in the harness's `finally`, also on Ctrl-C) unmounts whatever a failed
workload left behind and stops the servers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from benchkit.servers import FuseProcess, Nginx, start_nginx, start_passthrough, start_rclone
from smugfs.emulator import state_file
from smugfs.testing.account import Account
from smugfs.testing.emulator import Emulator, start_emulator
from smugfs.testing.mounts import Mount, start_mount

SETTLE_SECONDS = 1.0


@dataclasses.dataclass
class RemoteFile:
    """A file of the generated library as the API describes it."""

    name: str
    url: str
    size: int
    md5: str


def album_files(emulator: Emulator, path: tuple[str, ...]) -> list[RemoteFile]:
    """The files of the album at `path`; a video's URL is its largest rendition's."""
    with Account(emulator) as account:
        files = []
        for image in account.images(account.album_uri(*path)):
            if image.get("IsVideo"):
                video = account.get(image["Uris"]["LargestVideo"]["Uri"])["LargestVideo"]
                url, size, md5 = video["Url"], video["Size"], video["MD5"]
            else:
                url, size, md5 = image["ArchivedUri"], image["ArchivedSize"], image["ArchivedMD5"]
            files.append(RemoteFile(image["FileName"], url, int(size), md5))
    return files


class Setup:
    """The servers of one benchmark run and every mount made against them."""

    def __init__(self, workdir: Path, library: Path) -> None:
        self.workdir = workdir
        self.library = library
        self.emulator: Emulator | None = None
        self.uploads: Emulator | None = None
        self.nginx: Nginx | None = None
        self.mounts: list[Mount] = []
        self.fuse: list[FuseProcess] = []
        self.counter = 0
        # smugcli's Python, when it could be installed (benchkit.smugcli).
        self.smugcli_python: Path | None = None

    # ----------------------------------------------------------------- servers

    def start(self) -> None:
        """The library's emulator (on a copy of the cached data directory: the emulator
        writes its state back), an empty one for uploads, and nginx."""
        data = self._copy_library(self.workdir / "data")
        self.emulator = start_emulator(self.workdir / "emulator", data_dir=data)
        self.uploads = start_emulator(self.workdir / "uploads")
        self.nginx = start_nginx(self.workdir / "nginx")

    @contextlib.contextmanager
    def twin(self) -> Iterator[Emulator]:
        """A second emulator on another copy of the library, stopped afterwards."""
        where = self.new_dir("twin")
        data = self._copy_library(where / "data")
        emulator = start_emulator(where / "emulator", data_dir=data)
        try:
            yield emulator
        finally:
            emulator.stop()
            shutil.rmtree(where, ignore_errors=True)

    def _copy_library(self, data: Path) -> Path:
        """A data directory with the library's state (copied) and blobs (hard-linked)."""
        (data / "blobs").mkdir(parents=True)
        state_file.copy_state(self.library, data)
        for blob in (self.library / "blobs").iterdir():
            os.link(blob, data / "blobs" / blob.name)  # same bytes, no copy
        return data

    def serve_files(self, folder: str, files: list[RemoteFile]) -> None:
        """Have nginx serve the same bytes as the emulator (links to its blobs)."""
        assert self.nginx is not None
        assert self.emulator is not None
        where = self.nginx.prefix / "www" / folder
        where.mkdir(parents=True, exist_ok=True)
        for file in files:
            (where / file.name).symlink_to(self.emulator.data_dir / "blobs" / file.md5)

    def close(self) -> None:
        """Unmount everything still mounted, then stop the servers."""
        for mount in self.mounts:
            mount.unmount()
        for fuse in self.fuse:
            fuse.unmount()
        for server in (self.nginx, self.emulator, self.uploads):
            if server is not None:
                server.stop()

    # ----------------------------------------------------------------- mounts

    def new_dir(self, kind: str) -> Path:
        """A fresh directory for one mount."""
        self.counter += 1
        return self.workdir / "mounts" / f"{kind}-{self.counter:03d}"

    @contextlib.contextmanager
    def smugfs(
        self,
        emulator: Emulator | None = None,
        where: Path | None = None,
        keep: bool = False,
        options: Sequence[str] = (),
    ) -> Iterator[Mount]:
        """A smugfs mount (fresh cache directory unless `where` names one used before) with
        these `-o` options, unmounted afterwards; its directory removed unless `keep`."""
        emulator = emulator or self.emulator
        assert emulator is not None
        where = where or self.new_dir("smugfs")
        mount = start_mount(emulator, where, options=options)
        self.mounts.append(mount)
        try:
            # A mount tunes itself (read-ahead) just after it serves; people start using it a
            # moment later, not within those first milliseconds.
            time.sleep(SETTLE_SECONDS)
            yield mount
            problems = mount.problems()
            if problems:
                print("    the mount logged:\n      " + "\n      ".join(problems[:5]), flush=True)
        finally:
            mount.unmount()
            self.mounts.remove(mount)
            if not keep:
                shutil.rmtree(where, ignore_errors=True)

    def rclone(self) -> contextlib.AbstractContextManager[FuseProcess]:
        """An rclone mount of nginx's tree, unmounted afterwards."""
        assert self.nginx is not None
        url = self.nginx.url("")
        return self._other_mount("rclone", lambda where: start_rclone(url, where))

    def passthrough(self, source: Path) -> contextlib.AbstractContextManager[FuseProcess]:
        """The pyfuse3 passthrough of `source`, unmounted afterwards."""
        return self._other_mount("passthrough", lambda where: start_passthrough(source, where))

    @contextlib.contextmanager
    def _other_mount(
        self, name: str, start: Callable[[Path], FuseProcess]
    ) -> Iterator[FuseProcess]:
        """A FUSE mount of another program, started by `start(mountpoint)` in a new
        directory, unmounted and removed afterwards."""
        where = self.new_dir(name)
        mount = start(where)
        self.fuse.append(mount)
        try:
            yield mount
        finally:
            mount.unmount()
            self.fuse.remove(mount)
            shutil.rmtree(where, ignore_errors=True)
