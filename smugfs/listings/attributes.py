"""What `stat` shows for an entry of the inode table, from what the service said about it."""

from __future__ import annotations

import dataclasses
import stat

from smugfs.kept_times import KeptTimes
from smugfs.tree import Entry, InodeTable

LOCAL_IO_SIZE = 1024 * 1024


@dataclasses.dataclass(slots=True)
class Attributes:
    """What `stat` shows for an inode (made for every entry of every listing: kept cheap)."""

    inode: int
    mode: int
    nlink: int
    size: int
    mtime: float
    ctime: float
    crtime: float
    uid: int
    gid: int
    # The I/O size `stat` suggests (tools such as cp and Python's open() size buffers by it).
    # 64 KiB: cat and cp read at least 128 KiB whatever it says, and a buffered reader of a
    # photo's head (Python's open()) then reads 64 KiB, so the kernel's first read tells the
    # two apart (`reader.WHOLE_FIRST_READ`).
    io_size: int = 64 * 1024
    # The modification time a tool set, to the nanosecond (`mtime`, a float, loses the
    # nanoseconds that rsync's quick check compares); None for the service's own time.
    mtime_ns: int | None = None

    @property
    def is_dir(self) -> bool:
        """Whether the inode is a directory."""
        return stat.S_ISDIR(self.mode)


def attributes_of(
    entry: Entry, table: InodeTable, kept: KeptTimes, *, read_only: bool, uid: int, gid: int
) -> Attributes:
    """The attributes of an entry: the service's times and sizes, or those of the bytes that
    exist only in this mount; a directory's link count from its listing, when it has one; a
    photo's modification time a tool set, when `kept` has one for its version."""
    writable = 0 if read_only else 0o200
    if entry.node is not None:
        node = entry.node
        mtime = node.date_modified or node.date_added or 0.0
        listing = table.listing(entry.inode)
        # Unknown number of subdirectories: 1 tells find not to count on link counts.
        nlink = 1 if listing is None else 2 + len(listing.dirs)
        return Attributes(
            inode=entry.inode,
            mode=stat.S_IFDIR | 0o555 | writable,
            nlink=nlink,
            size=0,
            mtime=mtime,
            ctime=mtime,
            crtime=node.date_added or mtime,
            uid=uid,
            gid=gid,
        )
    local = entry.local
    if local is not None and (entry.image is None or not local.uploaded):
        # Bytes in this mount: their own size and the time they were last written.
        return Attributes(
            inode=entry.inode,
            mode=stat.S_IFREG | 0o444 | writable,
            nlink=0 if local.unlinked else 1,
            size=local.size,
            mtime=local.mtime,
            ctime=local.mtime,
            crtime=local.mtime,
            uid=uid,
            gid=gid,
            mtime_ns=local.mtime_ns,
            # Larger writes cost less per byte through FUSE (up to 1 MiB a request); reads
            # of the service's files keep small buffers, so reading the start of a photo
            # fetches about that much.
            io_size=LOCAL_IO_SIZE,
        )
    image = entry.image
    if image is None:
        # Deleted while open, its bytes gone: what `fstat` of the descriptor shows.
        return Attributes(
            inode=entry.inode,
            mode=stat.S_IFREG | 0o444 | writable,
            nlink=0,
            size=0,
            mtime=0.0,
            ctime=0.0,
            crtime=0.0,
            uid=uid,
            gid=gid,
        )
    changed = image.last_updated or image.uploaded or 0.0
    kept_ns = kept.get(image.version)
    return Attributes(
        inode=entry.inode,
        mode=stat.S_IFREG | 0o444 | writable,
        nlink=1,
        size=image.size or 0,
        mtime=changed if kept_ns is None else kept_ns / 1e9,
        ctime=changed,
        crtime=image.uploaded or changed,
        uid=uid,
        gid=gid,
        mtime_ns=kept_ns,
    )
