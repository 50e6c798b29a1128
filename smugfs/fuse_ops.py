"""The pyfuse3 adapter: kernel requests in, `Filesystem` calls, kernel replies out.

This module only translates: bytes names to str and back, `Attributes` to `EntryAttributes`,
directory snapshots for readdir tokens, lookup counts, and the one exception boundary
(`_answer`) where domain errors become `FUSEError` through `errors.errno_of`. Anything
unexpected is logged and answered with EIO, so no kernel request is ever left unanswered.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, ParamSpec, TypeVar, cast

import pyfuse3
import trio

from smugfs import xattrs
from smugfs.config import Settings
from smugfs.descriptions import Descriptions
from smugfs.errors import EXPECTED, NotFound, SmugfsError, errno_of
from smugfs.fs import Filesystem
from smugfs.listings import Attributes
from smugfs.names import new_name
from smugfs.sidecars import Sidecars, is_sidecar, photo_inode

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

BLOCK_SIZE = 128 * 1024
SIDECAR_ATTR_TIMEOUT = 1.0
# The attribute names getxattr answers, as the kernel sends them.
OUR_NAMES = frozenset(os.fsencode(name) for name in xattrs.KNOWN)


def _answer(
    handler: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """The exception boundary of a handler: only FUSEError leaves it."""

    @functools.wraps(handler)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await handler(*args, **kwargs)
        except (pyfuse3.FUSEError, trio.Cancelled):
            raise
        except EXPECTED as exc:
            # An expected answer, not a problem: debug level.
            log.debug("%s: %s", handler.__name__, exc)
            raise pyfuse3.FUSEError(errno_of(exc)) from None
        except SmugfsError as exc:
            log.warning("%s failed: %s", handler.__name__, exc)
            raise pyfuse3.FUSEError(errno_of(exc)) from None
        except Exception:
            log.exception("%s failed unexpectedly", handler.__name__)
            raise pyfuse3.FUSEError(errno.EIO) from None

    return wrapper


def entry_attributes(attrs: Attributes, settings: Settings) -> pyfuse3.EntryAttributes:
    """Attributes as the kernel takes them, with the mount's cache timeouts."""
    out = pyfuse3.EntryAttributes()
    out.st_ino = attrs.inode
    out.generation = 0
    out.entry_timeout = settings.entry_timeout
    out.attr_timeout = settings.attr_timeout
    if is_sidecar(attrs.inode):
        # A sidecar's size changes whenever its photo's fields do: kept briefly.
        out.attr_timeout = min(settings.attr_timeout, SIDECAR_ATTR_TIMEOUT)
    out.st_mode = attrs.mode
    out.st_nlink = attrs.nlink
    out.st_uid = attrs.uid
    out.st_gid = attrs.gid
    out.st_rdev = 0
    out.st_size = attrs.size
    out.st_blksize = attrs.io_size
    out.st_blocks = (attrs.size + 511) // 512
    mtime_ns = int(attrs.mtime * 1e9) if attrs.mtime_ns is None else attrs.mtime_ns
    out.st_mtime_ns = mtime_ns
    out.st_atime_ns = mtime_ns
    out.st_ctime_ns = int(attrs.ctime * 1e9)
    out.st_birthtime_ns = int(attrs.crtime * 1e9)
    return out


def negative_entry(settings: Settings) -> pyfuse3.EntryAttributes:
    """A lookup's miss, which the kernel caches for the mount's `negative_timeout`."""
    negative = pyfuse3.EntryAttributes()
    negative.st_ino = 0
    negative.entry_timeout = settings.negative_timeout
    return negative


def statvfs() -> pyfuse3.StatvfsData:
    """Sizes for `df`: the service has no fixed capacity, so a large, steady one."""
    out = pyfuse3.StatvfsData()
    out.f_bsize = BLOCK_SIZE
    out.f_frsize = BLOCK_SIZE
    total_blocks = (1 << 50) // BLOCK_SIZE
    out.f_blocks = total_blocks
    out.f_bfree = total_blocks
    out.f_bavail = total_blocks
    out.f_files = 1 << 32
    out.f_ffree = 1 << 31
    out.f_favail = 1 << 31
    out.f_namemax = 255
    return out


class FuseOperations(pyfuse3.Operations):
    """pyfuse3 request handlers over a `Filesystem`."""

    def __init__(self, fs: Filesystem) -> None:
        super().__init__()
        self.fs = fs
        self.descriptions = Descriptions(fs)
        self.sidecars = Sidecars(fs)
        # Per open directory: (name, attributes, whether the kernel takes a reference to it).
        self._dirs: dict[int, list[tuple[bytes, Attributes, bool]]] = {}
        self._next_dir = 1

    def entry_attributes(self, attrs: Attributes) -> pyfuse3.EntryAttributes:
        """Attributes as the kernel takes them, with this mount's cache timeouts."""
        return entry_attributes(attrs, self.fs.settings)

    # ------------------------------------------------------------------ lookups

    @_answer
    async def lookup(
        self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext | None = None
    ) -> pyfuse3.EntryAttributes:
        """A child by name; a miss is cached by the kernel for `negative_timeout`."""
        text = os.fsdecode(name)
        if text in (".", ".."):
            inode = parent_inode
            if text == "..":
                inode = self.fs.table.entry(parent_inode).parent
            attrs = await self.fs.getattr(inode)
        else:
            try:
                attrs = await self.fs.lookup(parent_inode, text)
            except NotFound:
                sidecar = await self.sidecars.lookup(parent_inode, text)
                if sidecar is not None:
                    self.fs.remember(photo_inode(sidecar.inode))
                    return self.entry_attributes(sidecar)
                return negative_entry(self.fs.settings)
        self.fs.remember(attrs.inode)
        return self.entry_attributes(attrs)

    @_answer
    async def getattr(
        self, inode: int, ctx: pyfuse3.RequestContext | None = None
    ) -> pyfuse3.EntryAttributes:
        """`stat`: from what was listed, never a network request."""
        if is_sidecar(inode):
            return self.entry_attributes(await self.sidecars.getattr(inode))
        return self.entry_attributes(await self.fs.getattr(inode))

    async def forget(self, inode_list: Sequence[tuple[int, int]]) -> None:
        """The kernel dropped references; never raises (pyfuse3 rule 2)."""
        for inode, count in inode_list:
            try:
                # A sidecar's references are its photo's.
                self.fs.forget(photo_inode(inode), count)
            except Exception:  # forget must not fail
                log.exception("forget(%d) failed", inode)

    # ------------------------------------------------------------------ directories

    @_answer
    async def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
        """Snapshot the listing for this handle so readdir can resume at any offset."""
        entries = await self.fs.list_dir(inode)
        if self.sidecars.enabled:
            entries = self.sidecars.with_sidecars(entries)
        own = await self.fs.getattr(inode)
        parent = await self.fs.getattr(self.fs.table.entry(inode).parent)
        handle = self._next_dir
        self._next_dir += 1
        # `.` and `..` come first, as `ls -a` expects; the kernel takes no reference for them.
        self._dirs[handle] = [
            (b".", own, False),
            (b"..", parent, False),
            *((os.fsencode(name), attrs, True) for name, attrs in entries),
        ]
        return handle

    @_answer
    async def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        """Entries from `start_id` until the kernel's buffer is full."""
        entries = self._dirs.get(fh, [])
        for index in range(start_id, len(entries)):
            name, attrs, counted = entries[index]
            if not pyfuse3.readdir_reply(token, name, self.entry_attributes(attrs), index + 1):
                break
            if counted:
                self.fs.remember(photo_inode(attrs.inode))

    @_answer
    async def releasedir(self, fh: int) -> None:
        """Drop the handle's snapshot."""
        self._dirs.pop(fh, None)

    # ------------------------------------------------------------------ files

    @_answer
    async def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        """Open a file; opening for writing stages it for upload at close."""
        write = bool(flags & (os.O_WRONLY | os.O_RDWR))
        if is_sidecar(inode):
            handle = await self.sidecars.open(inode, write=write, truncate=bool(flags & os.O_TRUNC))
            return pyfuse3.FileInfo(fh=handle, keep_cache=False, direct_io=True)
        handle = await self.fs.open(
            inode, write=write, truncate=bool(flags & os.O_TRUNC), pid=ctx.pid
        )
        # Written files go around the page cache, so every write reaches the staging copy.
        keep = False if write else self.fs.keep_cache(inode)
        return pyfuse3.FileInfo(fh=handle, keep_cache=keep, direct_io=write)

    @_answer
    async def create(
        self, parent_inode: int, name: bytes, mode: int, flags: int, ctx: pyfuse3.RequestContext
    ) -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes]:
        """A new file in an album, staged until it is closed (a photo's sidecar: written over)."""
        photo = await self.sidecars.photo_of(parent_inode, os.fsdecode(name))
        if photo is not None:
            sidecar = self.sidecars.attributes(photo)
            handle = await self.sidecars.open(sidecar.inode, write=True, truncate=True)
            self.fs.remember(photo.inode)
            info = pyfuse3.FileInfo(fh=handle, keep_cache=False, direct_io=True)
            return info, self.entry_attributes(sidecar)
        entry = await self.fs.changes.create(parent_inode, new_name(name))
        handle = await self.fs.open(entry.inode, write=True, truncate=False, pid=ctx.pid)
        self.fs.remember(entry.inode)
        attrs = self.entry_attributes(await self.fs.getattr(entry.inode))
        return pyfuse3.FileInfo(fh=handle, keep_cache=False, direct_io=True), attrs

    @_answer
    async def read(self, fh: int, off: int, size: int) -> bytes:
        """Bytes of an open file."""
        if is_sidecar(fh):
            return await self.sidecars.read(fh, off, size)
        # pyfuse3 replies with any buffer; the cache hands out the bytearray it read into.
        return cast(bytes, await self.fs.read(fh, off, size))

    @_answer
    async def write(self, fh: int, off: int, buf: bytes) -> int:
        """Bytes into an open file's staging copy."""
        if is_sidecar(fh):
            return await self.sidecars.write(fh, off, buf)
        return await self.fs.write(fh, off, buf)

    @_answer
    async def flush(self, fh: int) -> None:
        """`close()`: a written file is uploaded before this returns."""
        await self._upload(fh, self.fs.flush)

    @_answer
    async def fsync(self, fh: int, datasync: bool) -> None:
        """`fsync()`, `fdatasync()`: what was written so far is on the service."""
        await self._upload(fh, self.fs.fsync)

    async def _upload(self, fh: int, upload: Callable[[int], Awaitable[None]]) -> None:
        """What `flush` and `fsync` share: a sidecar's written fields are PATCHed; a file's
        bytes are uploaded by `upload`, after which (refused or not) the kernel forgets the
        names of files the filesystem dropped on its own (a refused upload, a killed writer's
        file), so `stat` agrees with `ls` at once."""
        if is_sidecar(fh):
            return await self.sidecars.flush(fh)
        try:
            await upload(fh)
        finally:
            self._invalidate_dropped()

    def _invalidate_dropped(self) -> None:
        dropped = self.fs.changes.dropped
        while dropped:
            parent, name = dropped.pop()
            pyfuse3.invalidate_entry_async(parent, os.fsencode(name), ignore_enoent=True)

    @_answer
    async def release(self, fh: int) -> None:
        """Close an open file."""
        if is_sidecar(fh):
            return await self.sidecars.release(fh)
        await self.fs.release(fh)

    # ------------------------------------------------------------------ the rest

    @_answer
    async def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        """Sizes for `df` (see `statvfs`)."""
        return statvfs()

    def _xattrs_on(self) -> None:
        # ENOSYS makes the kernel stop asking for the rest of the mount.
        if not self.fs.settings.xattrs:
            raise pyfuse3.FUSEError(errno.ENOSYS)

    async def getxattr(self, inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> bytes:
        """A title, caption, keywords... (see `descriptions.py`). Names this mount does not
        keep are answered first and at once, without a lookup: `ls -l` asks two of every
        file (`security.selinux`, `system.posix_acl_access`)."""
        if not self.fs.settings.xattrs:
            raise pyfuse3.FUSEError(errno.ENOSYS)
        if name not in OUR_NAMES:
            raise pyfuse3.FUSEError(pyfuse3.ENOATTR)
        return await self._getxattr(inode, os.fsdecode(name))

    @_answer
    async def _getxattr(self, inode: int, name: str) -> bytes:
        return await self.descriptions.get(inode, name)

    @_answer
    async def listxattr(self, inode: int, ctx: pyfuse3.RequestContext) -> Sequence[bytes]:
        """The names `getxattr` answers with a value."""
        self._xattrs_on()
        return [os.fsencode(name) for name in await self.descriptions.names(inode)]

    @_answer
    async def setxattr(
        self, inode: int, name: bytes, value: bytes, ctx: pyfuse3.RequestContext
    ) -> None:
        """Change a title, caption, keywords... on the service (or with the upload)."""
        self._xattrs_on()
        await self.descriptions.set(inode, os.fsdecode(name), value)

    @_answer
    async def removexattr(self, inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        """Clear a title, caption, keywords... on the service."""
        self._xattrs_on()
        await self.descriptions.remove(inode, os.fsdecode(name))

    # ------------------------------------------------------------------ changes

    @_answer
    async def mkdir(
        self, parent_inode: int, name: bytes, mode: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        """A new album (see `changes.Directories.mkdir`)."""
        attrs = await self.fs.changes.mkdir(parent_inode, new_name(name))
        self.fs.remember(attrs.inode)
        return self.entry_attributes(attrs)

    @_answer
    async def rmdir(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        """Delete an empty album or folder."""
        await self.fs.changes.rmdir(parent_inode, os.fsdecode(name))

    @_answer
    async def unlink(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        """Delete a photo (deleting its sidecar changes nothing: it is shown again)."""
        if await self.sidecars.photo_of(parent_inode, os.fsdecode(name)) is not None:
            return self.fs.changes.require_writable()
        await self.fs.changes.unlink(parent_inode, os.fsdecode(name))

    @_answer
    async def rename(
        self,
        parent_inode_old: int,
        name_old: bytes,
        parent_inode_new: int,
        name_new: bytes,
        flags: int,
        ctx: pyfuse3.RequestContext,
    ) -> None:
        """`mv` within the mount."""
        if flags & pyfuse3.RENAME_EXCHANGE:
            raise pyfuse3.FUSEError(errno.EINVAL)
        if await self.sidecars.rename(
            parent_inode_old, os.fsdecode(name_old), parent_inode_new, new_name(name_new)
        ):
            return
        await self.fs.changes.rename(
            parent_inode_old,
            os.fsdecode(name_old),
            parent_inode_new,
            new_name(name_new),
            no_replace=bool(flags & pyfuse3.RENAME_NOREPLACE),
        )

    @_answer
    async def setattr(
        self,
        inode: int,
        attr: pyfuse3.EntryAttributes,
        fields: pyfuse3.SetattrFields,
        fh: int | None,
        ctx: pyfuse3.RequestContext,
    ) -> pyfuse3.EntryAttributes:
        """Size changes truncate; a modification time is kept (so `rsync -a` finds the file
        unchanged next time); modes and owners are accepted and not kept (so `cp -a` and
        `rsync -a` work)."""
        self.fs.changes.require_writable()
        if is_sidecar(inode):
            if fields.update_size:
                self.sidecars.truncate(fh, attr.st_size)
            return self.entry_attributes(await self.sidecars.getattr(inode))
        entry = self.fs.table.entry(inode)
        if fields.update_size:
            await self.fs.changes.truncate(entry, attr.st_size)
        if fields.update_mtime:
            self.fs.changes.set_mtime(entry, attr.st_mtime_ns)
        return self.entry_attributes(await self.fs.getattr(inode))
