"""XMP sidecars (`-o sidecars`): beside every photo `NAME.EXT` of an album, a virtual
`NAME.EXT.xmp` holding its title, caption, keywords and position (see `xmp.py`), as digiKam,
darktable and exiftool look for them.

A sidecar is not a file on the service. Reading one renders it from the photo as listed (the
same freshness as the photo's name and size); its size is exact. Writing one, in place or as a
temporary file renamed over it (as exiftool and photo programs save), PATCHes the fields it
changed once it is closed or renamed; it never becomes an upload, and what it holds that the
service cannot keep is logged. Deleting one changes nothing (it is the photo's description,
shown again); renaming one away leaves a local copy under the new name (exiftool's
`NAME.xmp_original`). A photo deleted on the service takes its sidecar with it.

Sidecars have inodes and handles of their own: the photo's inode or a handle number with
`SIDECAR_BIT` set, so no table is needed and a sidecar's inode is as stable as its photo's.
The kernel's references to a sidecar count as references to its photo.
"""

from __future__ import annotations

import dataclasses
import logging
import stat
from typing import TYPE_CHECKING

from smugfs import xmp
from smugfs.errors import NotFound, NotPermitted
from smugfs.listings import Attributes
from smugfs.tree import Entry

if TYPE_CHECKING:
    from smugfs.fs import Filesystem

log = logging.getLogger(__name__)

SUFFIX = ".xmp"
SIDECAR_BIT = 1 << 62


def is_sidecar(number: int) -> bool:
    """Whether an inode or handle number is a sidecar's."""
    return bool(number & SIDECAR_BIT)


def photo_inode(inode: int) -> int:
    """The inode of the photo a sidecar (or the photo itself) stands for."""
    return inode & ~SIDECAR_BIT


@dataclasses.dataclass
class Opened:
    """An open sidecar: the bytes it was opened with, or is being written with."""

    photo: int
    data: bytearray
    written: bool = False


class Sidecars:
    """The sidecars of a `Filesystem`'s photos."""

    def __init__(self, fs: Filesystem) -> None:
        self.fs = fs
        self._open: dict[int, Opened] = {}
        self._next = 1

    @property
    def enabled(self) -> bool:
        """Whether the mount shows sidecars."""
        return self.fs.settings.sidecars

    @staticmethod
    def _has_sidecar(entry: Entry) -> bool:
        return entry.node is None and entry.image is not None

    def attributes(self, photo: Entry) -> Attributes:
        """`stat` of a photo's sidecar: its exact size, the photo's times."""
        assert photo.image is not None
        attrs = self.fs.attributes(photo)
        writable = 0 if self.fs.settings.read_only else 0o200
        return dataclasses.replace(
            attrs,
            inode=photo.inode | SIDECAR_BIT,
            mode=stat.S_IFREG | 0o444 | writable,
            size=xmp.size(photo.image),
        )

    def with_sidecars(self, entries: list[tuple[str, Attributes]]) -> list[tuple[str, Attributes]]:
        """A directory's entries with each photo's sidecar after it."""
        out = []
        for name, attrs in entries:
            out.append((name, attrs))
            if not attrs.is_dir:
                entry = self.fs.table.entry(attrs.inode)
                if self._has_sidecar(entry):
                    out.append((name + SUFFIX, self.attributes(entry)))
        return out

    async def photo_of(self, parent: int, name: str) -> Entry | None:
        """The photo whose sidecar `name` is, if `name` names one in directory `parent`."""
        if not self.enabled or not name.endswith(SUFFIX) or len(name) == len(SUFFIX):
            return None
        inode = (await self.fs.children_of(parent)).get(name[: -len(SUFFIX)])
        if inode is None:
            return None
        entry = self.fs.table.entry(inode)
        return entry if self._has_sidecar(entry) else None

    async def lookup(self, parent: int, name: str) -> Attributes | None:
        """The sidecar called `name`, if there is one."""
        photo = await self.photo_of(parent, name)
        return None if photo is None else self.attributes(photo)

    def _photo(self, inode: int) -> Entry:
        entry = self.fs.table.entry(photo_inode(inode))
        if not self._has_sidecar(entry) or not entry.listed:
            raise NotFound(f"{entry.name} is no longer on the service")
        return entry

    async def getattr(self, inode: int) -> Attributes:
        """`stat` of a sidecar by inode."""
        return self.attributes(self._photo(inode))

    async def open(self, inode: int, *, write: bool, truncate: bool) -> int:
        """Open a sidecar; the handle number has `SIDECAR_BIT` set."""
        if write:
            self.fs.changes.require_writable()
        photo = self._photo(inode)
        assert photo.image is not None
        data = bytearray() if truncate else bytearray(xmp.render(photo.image))
        handle = self._next | SIDECAR_BIT
        self._next += 1
        self._open[handle] = Opened(photo.inode, data, written=truncate)
        return handle

    def _opened(self, handle: int) -> Opened:
        found = self._open.get(handle)
        if found is None:
            raise NotFound("the sidecar is not open")
        return found

    async def read(self, handle: int, offset: int, size: int) -> bytes:
        """Bytes of an open sidecar."""
        return bytes(self._opened(handle).data[offset : offset + size])

    async def write(self, handle: int, offset: int, data: bytes) -> int:
        """Bytes into an open sidecar (kept in memory until it is closed)."""
        opened = self._opened(handle)
        if len(opened.data) < offset:
            opened.data.extend(bytes(offset - len(opened.data)))
        opened.data[offset : offset + len(data)] = data
        opened.written = True
        return len(data)

    def truncate(self, handle: int | None, size: int) -> None:
        """`ftruncate` of an open sidecar (without a handle there is nothing to cut)."""
        if handle is not None and is_sidecar(handle):
            opened = self._opened(handle)
            del opened.data[size:]
            opened.written = True

    async def flush(self, handle: int) -> None:
        """`close()` of a written sidecar: its changes go to the service before it returns."""
        opened = self._opened(handle)
        if opened.written:
            opened.written = False
            await self.apply(self.fs.table.entry(opened.photo), bytes(opened.data))

    async def release(self, handle: int) -> None:
        """The last close of a sidecar handle."""
        self._open.pop(handle, None)

    async def apply(self, photo: Entry, data: bytes) -> None:
        """PATCH what a written sidecar changed (EINVAL, nothing sent, if it cannot be read)."""
        self.fs.changes.require_writable()
        image = photo.image
        if image is None:
            raise NotFound(f"{photo.name} is no longer on the service")
        said = xmp.read(data)
        if said.not_kept:
            log.warning(
                "%s%s: the service keeps no %s", photo.name, SUFFIX, ", ".join(said.not_kept)
            )
        changed = xmp.changes(image, said.fields)
        if not changed:
            log.info("%s%s written unchanged", photo.name, SUFFIX)
            return
        photo.image = await self.fs.client.patch_image(image, changed)
        log.info("%s%s: %s changed", photo.name, SUFFIX, ", ".join(changed))

    async def rename(self, old_parent: int, old_name: str, new_parent: int, new_name: str) -> bool:
        """`mv` from or onto a sidecar; False when neither name is one (an ordinary rename)."""
        source = await self.photo_of(old_parent, old_name)
        target = await self.photo_of(new_parent, new_name)
        if source is None and target is None:
            return False
        self.fs.changes.require_writable()
        if source is not None and target is not None:
            if source is not target:
                raise NotPermitted("a sidecar belongs to its photo")
        elif source is not None:
            await self.copy_out(source, new_parent, new_name)
        else:
            assert target is not None
            await self.rename_over(old_parent, old_name, target)
        return True

    async def rename_over(self, old_parent: int, old_name: str, photo: Entry) -> None:
        """A file (written through the mount) renamed over a sidecar: its content is applied
        as a write of the sidecar, and the file goes (it never becomes an upload)."""
        inode = (await self.fs.children_of(old_parent)).get(old_name)
        if inode is None:
            raise NotFound(f"no {old_name!r}")
        source = self.fs.table.entry(inode)
        local = source.local
        if source.is_dir or local is None or source.image is not None:
            raise NotPermitted("only a file written here can take a sidecar's place")
        data = await self.fs.staging.read(local, 0, local.size)
        await self.apply(photo, data)
        await self.fs.changes.unlink(old_parent, old_name)

    async def copy_out(self, photo: Entry, new_parent: int, new_name: str) -> None:
        """A sidecar renamed away (a backup before a save): a local copy under the new name;
        the sidecar stays, as it is the photo's."""
        assert photo.image is not None
        copy = await self.fs.changes.create(new_parent, new_name)
        assert copy.local is not None  # a created file is staged
        data = xmp.render(photo.image)
        await self.fs.staging.write(copy.local, 0, data)
