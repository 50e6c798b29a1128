"""The content cache's files on disk: their names, the block map's format, and the blocking I/O
on them that runs in worker threads (or before the cache serves anything).

    <sha256 of the version>.data     sparse file of `size` bytes; only present blocks are written
    <sha256 of the version>.map      block map: header (size, block size, CRC) + bitmap
    <sha256 of the version>.map.tmp  a map being written; renamed over `.map` when complete

A map on disk never claims a block whose bytes are not on disk: data is flushed before a map
naming it is written (`save_state`), a map is replaced atomically (`replace_map`), and a stale
map is removed or emptied before the bytes it describes are dropped (`open_storage`,
`forget_storage`).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import mmap
import os
import re
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

# What O_DIRECT needs aligned (memory, file offset, length): a page covers every logical block
# size in use; a write it refuses (EINVAL) goes through the page cache instead.
DIRECT_ALIGN = 4096
_NOT_DIRECT = (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP)
# Reads done in one piece by `md5_of`, so hashing a 4 GiB video needs 1 MiB of memory.
_HASH_CHUNK = 1024 * 1024

_MAGIC = b"SMFSMAP1"
# magic, content size, block size, CRC-32 of the bitmap; the bitmap follows (bit i = block i).
_HEADER = struct.Struct("<8sQII")
DATA_SUFFIX = ".data"
MAP_SUFFIX = ".map"
TMP_SUFFIX = ".map.tmp"
OUR_NAME = re.compile(r"([0-9a-f]{64})(\.data|\.map|\.map\.tmp)")


def paths_of(directory: Path, key: str) -> tuple[Path, Path]:
    """The data file and the block map of the version whose stem is `key`."""
    return directory / (key + DATA_SUFFIX), directory / (key + MAP_SUFFIX)


def key_of(version: str) -> str:
    """The file name stem of a version: fixed length, safe in a path, whatever the version."""
    return hashlib.sha256(version.encode("utf-8")).hexdigest()


def block_count(size: int, block_size: int) -> int:
    return -(-size // block_size)


def bitmap_length(blocks: int) -> int:
    return (blocks + 7) // 8


def present_bytes(bitmap: bytes | bytearray, size: int, block_size: int) -> int:
    """Bytes held by the present blocks (the last block may be short)."""
    bits = int.from_bytes(bitmap, "little")
    total = bits.bit_count() * block_size
    blocks = block_count(size, block_size)
    if blocks and bits >> (blocks - 1) & 1:
        total -= blocks * block_size - size
    return total


def needed_length(bitmap: bytes | bytearray, size: int, block_size: int) -> int:
    """The data file length the present blocks imply (a shorter file lost some of them)."""
    return min(int.from_bytes(bitmap, "little").bit_length() * block_size, size)


def encode_map(size: int, block_size: int, bitmap: bytes) -> bytes:
    return _HEADER.pack(_MAGIC, size, block_size, zlib.crc32(bitmap)) + bitmap


def decode_map(raw: bytes, block_size: int) -> tuple[int, bytearray] | None:
    """The content size and bitmap of a well-formed map made with `block_size`, else None."""
    if len(raw) < _HEADER.size:
        return None
    magic, size, stored_block_size, crc = _HEADER.unpack_from(raw)
    bitmap = raw[_HEADER.size :]
    if magic != _MAGIC or stored_block_size != block_size:
        return None
    blocks = block_count(size, block_size)
    if len(bitmap) != bitmap_length(blocks) or zlib.crc32(bitmap) != crc:
        return None
    if int.from_bytes(bitmap, "little").bit_length() > blocks:
        return None
    return size, bytearray(bitmap)


# --- Blocking helpers. They run in worker threads (or in the constructor, before serving). ---


def read_map(path: Path, block_size: int) -> tuple[int, bytearray] | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    return decode_map(raw, block_size)


def remove_quietly(path: Path) -> None:
    """Delete `path`; a failure only leaves a file the next startup scan deals with."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("cannot remove cache file %s: %s", path, exc)


def remove_all(*paths: Path) -> None:
    for path in paths:
        remove_quietly(path)


def write_all(fd: int, data: bytes | bytearray | memoryview, offset: int) -> None:
    view = memoryview(data)
    while len(view):
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def write_parts(fd: int, parts: Sequence[memoryview], offset: int, direct: int | None) -> None:
    """Write buffers one after another from `offset`, in one system call where it takes them
    all (a thread hop per call is the cost this saves). Through `direct` (the same file opened
    O_DIRECT) where memory, offset and length allow it, else through `fd`."""
    views = [part.cast("B") for part in parts]
    if direct is not None:
        done = _write_direct(direct, views, offset)
        views = _after(views, done)
        offset += done
    while views:
        written = os.pwritev(fd, views, offset)
        offset += written
        views = _after(views, written)


def _write_direct(direct: int, views: list[memoryview], offset: int) -> int:
    """Write what of `views` O_DIRECT can take (the aligned start of page-aligned buffers);
    how many bytes were written, 0 if none could be.

    O_DIRECT copies nothing into the page cache: on this kind of machine the page cache's copy
    was the largest cost of a cold read, as each new page the cache file took first had to be
    faulted in. The bytes are then read back from the disk, not from memory, but a read of
    bytes just received is answered from the receive buffer, and nothing else reads them soon.
    """
    aligned: list[memoryview] = []
    for view in views:
        # Buffers from the pool (`buffer_pool`) start at a page; others are not tried.
        if not isinstance(view.obj, mmap.mmap) or len(view) % DIRECT_ALIGN:
            break
        aligned.append(view)
    if not aligned or offset % DIRECT_ALIGN:
        return 0
    done = 0
    total = sum(len(view) for view in aligned)
    while done < total:
        try:
            written = os.pwritev(direct, aligned, offset + done)
        except OSError as exc:
            if exc.errno in _NOT_DIRECT:
                return done  # not aligned as this filesystem needs: the rest is buffered
            raise
        done += written
        aligned = _after(aligned, written)
        if not written or written % DIRECT_ALIGN:
            break
    return done


def _after(views: list[memoryview], count: int) -> list[memoryview]:
    """What is left of `views` once their first `count` bytes are written."""
    left = list(views)
    while left and count >= len(left[0]):
        count -= len(left[0])
        left.pop(0)
    if left and count:
        left[0] = left[0][count:]
    return left


def read_upto(fd: int, offset: int, length: int) -> bytes:
    """Up to `length` bytes at `offset`; fewer only if the file ends first."""
    parts: list[bytes] = []
    while length > 0:
        chunk = os.pread(fd, length, offset)
        if not chunk:
            break
        parts.append(chunk)
        offset += len(chunk)
        length -= len(chunk)
    return b"".join(parts)


def read_cached(fd: int, buffer: memoryview, offset: int) -> int:
    """Fill `buffer` from `offset` with what the page cache holds, without ever waiting for the
    disk (RWF_NOWAIT); how many bytes it got, 0 where the kernel cannot tell without waiting."""
    try:
        return os.preadv(fd, [buffer], offset, os.RWF_NOWAIT)
    except (BlockingIOError, OSError):
        # EAGAIN: not (all) cached; EOPNOTSUPP/EINVAL: a filesystem without the flag.
        return 0


def read_into(fd: int, buffer: memoryview, offset: int, ahead: int = 0) -> int:
    """Fill `buffer` from `offset`; fewer bytes only if the file ends first. Then have the
    kernel start reading the `ahead` bytes that follow, so the next reads find them in memory."""
    done = 0
    while done < len(buffer):
        got = os.preadv(fd, [buffer[done:]], offset + done)
        if not got:
            break
        done += got
    if ahead > 0 and done == len(buffer):
        os.posix_fadvise(fd, offset + done, ahead, os.POSIX_FADV_WILLNEED)
    return done


def md5_of(fd: int, size: int) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    offset = 0
    while offset < size:
        chunk = read_upto(fd, offset, min(_HASH_CHUNK, size - offset))
        if not chunk:
            raise LookupError("cached data file is shorter than its block map says")
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()


def replace_map(map_path: Path, image: bytes) -> None:
    """Write a map so that readers of `map_path` see the old one or the new one, never half."""
    tmp = map_path.with_name(map_path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        write_all(fd, image, 0)
    finally:
        os.close(fd)
    os.replace(tmp, map_path)


def save_state(fd: int, map_path: Path, image: bytes | None, last_use: float) -> None:
    """Save a map (if given) and stamp the data file with the last use, read back at startup."""
    if image is not None:
        # The map may name blocks written just now: make their bytes durable first.
        os.fdatasync(fd)
        replace_map(map_path, image)
    os.utime(fd, (last_use, last_use))


def save_and_close(
    fd: int, direct: int | None, map_path: Path, image: bytes | None, last_use: float
) -> None:
    """Save the map as `save_state` does, then close both descriptors of the data file."""
    try:
        save_state(fd, map_path, image, last_use)
    except OSError as exc:
        # The map on disk is then an older one, which only claims blocks that are there.
        log.warning("cannot save the block map %s: %s", map_path, exc)
    finally:
        if direct is not None:
            os.close(direct)
        os.close(fd)


def move_in(source: Path, size: int, data_path: Path, map_path: Path, block_size: int) -> None:
    """Make a complete file of `size` bytes the data file of a version, with a map naming
    every block: moved, not copied (nothing may write to `source` any more)."""
    fd = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if os.fstat(fd).st_size != size:
            raise OSError(f"{source} is not {size} bytes long")
        # The map names every block: their bytes must be durable first.
        os.fdatasync(fd)
    finally:
        os.close(fd)
    # No map may claim the bytes of another file while this one takes its name.
    remove_quietly(map_path)
    os.rename(source, data_path)
    blocks = block_count(size, block_size)
    every = ((1 << blocks) - 1).to_bytes(bitmap_length(blocks), "little")
    replace_map(map_path, encode_map(size, block_size, every))


def forget_storage(fd: int, map_path: Path, empty_image: bytes) -> None:
    # The empty map goes first: a crash in between then leaves no map claiming truncated bytes.
    replace_map(map_path, empty_image)
    os.ftruncate(fd, 0)


def open_direct(data_path: Path) -> int | None:
    """The data file opened again for O_DIRECT writes; None where its filesystem has none."""
    try:
        return os.open(data_path, os.O_WRONLY | os.O_DIRECT | os.O_CLOEXEC)
    except OSError as exc:
        log.debug("no O_DIRECT writes to %s: %s", data_path, exc)
        return None


def open_storage(
    data_path: Path, map_path: Path, size: int, block_size: int
) -> tuple[int, int | None, bytearray]:
    """Open (or create) a data file, again for O_DIRECT writes where its filesystem allows
    (`open_direct`), and load its map, or start empty if the map does not fit."""
    fd = os.open(data_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    direct: int | None = None
    try:
        direct = open_direct(data_path)
        decoded = read_map(map_path, block_size)
        if decoded is not None:
            stored_size, bitmap = decoded
            if stored_size == size and os.fstat(fd).st_size >= needed_length(
                bitmap, size, block_size
            ):
                return fd, direct, bitmap
            log.info("ignoring the block map %s: made for other content", map_path)
        # Remove the stale map before dropping the bytes it describes (see `forget_storage`).
        remove_quietly(map_path)
        os.ftruncate(fd, 0)
        return fd, direct, bytearray(bitmap_length(block_count(size, block_size)))
    except BaseException:
        if direct is not None:
            os.close(direct)
        os.close(fd)
        raise
