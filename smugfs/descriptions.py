"""Titles, captions, keywords and positions through extended attributes (see `xattrs.py` for
the names and their rules).

Reading one shows the service's value as of the listing of the file's directory, which is
fetched again once it is older than `listing_ttl` (the same promise as names and sizes).
Setting one on a photo the service has PATCHes that photo and returns once the service has
taken the value; on a file written through the mount and not uploaded yet it is kept with the
file and sent with its upload, so `cp --preserve=xattr` and `rsync -X` (which set attributes
before the file is closed or renamed into place) upload a photo with its caption. Removing one
clears the field. Every value is checked before anything is sent.

The service's own attributes (`user.smugmug.image_key`, `.md5`...) are read-only; writing one
the value it already has succeeds without a request, and on a file not uploaded yet they are
ignored, so a photo copied out of the mount with its attributes can be copied back in.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from smugfs import xattrs
from smugfs.errors import NoAttribute, NotFound, NotPermitted, UnsupportedAttribute
from smugfs.sidecars import is_sidecar
from smugfs.tree import ROOT_INODE, Entry

if TYPE_CHECKING:
    from smugfs.fs import Filesystem

log = logging.getLogger(__name__)


class Descriptions:
    """getxattr, listxattr, setxattr and removexattr over a `Filesystem`."""

    def __init__(self, fs: Filesystem) -> None:
        self.fs = fs

    async def _current(self, inode: int) -> Entry:
        """The entry, with its directory's listing brought up to date if it is too old (no
        request while it is fresh). A sidecar has no attributes of its own."""
        if is_sidecar(inode):
            raise UnsupportedAttribute("an XMP sidecar has no extended attributes")
        entry = self.fs.table.entry(inode)
        if inode != ROOT_INODE and entry.local is None:
            await self.fs.children_of(entry.parent)
            entry = self.fs.table.entry(inode)
            if not entry.listed:
                raise NotFound(f"{entry.name} is no longer on the service")
        return entry

    @staticmethod
    def _unsent(entry: Entry) -> dict[str, Any] | None:
        """The fields waiting for the upload of a file with bytes not on the service yet."""
        local = entry.local
        if local is not None and (entry.image is None or local.dirty):
            fields: dict[str, Any] = local.fields
            return fields
        return None

    @classmethod
    def values(cls, entry: Entry) -> dict[str, str]:
        """Every attribute of an entry that has a value."""
        if entry.node is not None:
            return xattrs.directory_values(entry.node)
        pending = cls._unsent(entry)
        if pending is not None:
            base = entry.image or (entry.local.replace if entry.local is not None else None)
            return xattrs.photo_values(base, pending)
        return xattrs.photo_values(entry.image)

    async def names(self, inode: int) -> list[str]:
        """`listxattr`."""
        if is_sidecar(inode):
            return []
        return list(self.values(await self._current(inode)))

    async def get(self, inode: int, name: str) -> bytes:
        """`getxattr` of one of this mount's names (`xattrs.is_ours`)."""
        value = self.values(await self._current(inode)).get(name)
        if value is None:
            raise NoAttribute(f"no {name}")
        return value.encode()

    async def set(self, inode: int, name: str, raw: bytes) -> None:
        """`setxattr`: PATCH the photo or directory, or keep the value for the upload."""
        self.fs.changes.require_writable()
        entry = await self._current(inode)
        is_dir = entry.node is not None
        try:
            fields = xattrs.fields_to_set(name, raw, is_dir=is_dir)
        except NotPermitted:
            if self._unsent(entry) is not None and entry.image is None:
                log.debug("%s of a file not uploaded yet is the service's: ignored", name)
                return
            if self.values(entry).get(name, "").encode() == raw:
                return
            raise
        await self._change(entry, fields)

    async def remove(self, inode: int, name: str) -> None:
        """`removexattr`: clear the field (ENODATA if it holds nothing)."""
        self.fs.changes.require_writable()
        entry = await self._current(inode)
        fields = xattrs.fields_to_clear(name, is_dir=entry.node is not None)
        if name not in self.values(entry):
            raise NoAttribute(f"no {name}")
        await self._change(entry, fields)

    async def _change(self, entry: Entry, fields: dict[str, Any]) -> None:
        client = self.fs.client
        if entry.node is not None:
            entry.node = await client.patch_node(entry.node, fields)
            log.info("%s: %s changed", entry.name, ", ".join(fields))
            return
        pending = self._unsent(entry)
        if pending is not None:
            pending.update(fields)
            return
        if entry.image is None:
            raise NotFound(f"{entry.name} is not on the service")
        entry.image = await client.patch_image(entry.image, fields)
        log.info("%s: %s changed", entry.name, ", ".join(fields))
