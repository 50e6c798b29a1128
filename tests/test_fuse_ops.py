"""The FUSE adapter (`fuse_ops.FuseOperations`) over a fake core, without a mount.

The adapter is what is under test, so the core below it is a small fake holding a directory
tree in memory and recording what the adapter asked of it; `pyfuse3.readdir_reply` is replaced
by a recorder with a buffer of a chosen size, as the kernel's would fill. Checked: readdir
resumed from any offset (`next_id`), lookup counts taken and forgotten, the one exception
boundary (expected errors answered with their errno, anything else EIO and logged), and names
converted bytes <-> str exactly both ways.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import stat
from collections.abc import Awaitable, Callable
from typing import Any, cast

import pyfuse3
import pytest

from smugfs.config import Settings
from smugfs.errors import NotFound, Offline, ServiceUnavailable
from smugfs.fs import Filesystem
from smugfs.fuse_ops import FuseOperations
from smugfs.listings import Attributes
from smugfs.tree import ROOT_INODE

# What a listing may show: an escaped slash (FULLWIDTH SOLIDUS), non-ASCII, spaces, a dot name.
NAMES = ["a\uff0fb.jpg", "café.jpg", "with space.jpg", ".hidden.jpg"] + [
    f"p{n:03}.jpg" for n in range(20)
]


def _attrs(inode: int, *, directory: bool = False, size: int = 0) -> Attributes:
    mode = (stat.S_IFDIR | 0o755) if directory else (stat.S_IFREG | 0o644)
    return Attributes(inode, mode, 2 if directory else 1, size, 1.5e9, 1.5e9, 1.4e9, 0, 0)


@dataclasses.dataclass
class _Entry:
    parent: int


class FakeChanges:
    """The changing half of the fake core: records calls, refuses what it is told to."""

    def __init__(self, core: FakeCore) -> None:
        self.core = core
        self.calls: list[tuple[Any, ...]] = []
        self.dropped: list[tuple[int, str]] = []

    async def mkdir(self, parent: int, name: str) -> Attributes:
        self.calls.append(("mkdir", parent, name))
        return self.core.add(parent, name, directory=True)

    async def rename(
        self, old_parent: int, old_name: str, new_parent: int, new_name: str, *, no_replace: bool
    ) -> None:
        self.calls.append(("rename", old_parent, old_name, new_parent, new_name, no_replace))

    async def unlink(self, parent: int, name: str) -> None:
        self.calls.append(("unlink", parent, name))
        self.core.raise_if_told("unlink")


class FakeCore:
    """A directory tree in memory standing in for `Filesystem` below the adapter."""

    def __init__(self) -> None:
        self.settings = Settings(entry_timeout=7.0, attr_timeout=8.0, negative_timeout=3.0)
        self.table = self
        self.changes = FakeChanges(self)
        self.attrs: dict[int, Attributes] = {ROOT_INODE: _attrs(ROOT_INODE, directory=True)}
        self.parents: dict[int, int] = {ROOT_INODE: ROOT_INODE}
        self.children: dict[int, dict[str, int]] = {ROOT_INODE: {}}
        self.lookups: dict[int, int] = {}
        self.failures: dict[str, BaseException] = {}
        self.opened: list[tuple[int, bool, bool]] = []

    def add(self, parent: int, name: str, *, directory: bool = False) -> Attributes:
        inode = max(self.attrs) + 1
        self.attrs[inode] = _attrs(inode, directory=directory, size=inode * 1000)
        self.parents[inode] = parent
        self.children[parent][name] = inode
        if directory:
            self.children[inode] = {}
        return self.attrs[inode]

    def raise_if_told(self, call: str) -> None:
        failure = self.failures.get(call)
        if failure is not None:
            raise failure

    def entry(self, inode: int) -> _Entry:
        if inode not in self.attrs:
            raise NotFound(f"inode {inode} is not known")
        return _Entry(self.parents[inode])

    async def getattr(self, inode: int) -> Attributes:
        self.raise_if_told("getattr")
        self.entry(inode)
        return self.attrs[inode]

    async def lookup(self, parent: int, name: str) -> Attributes:
        self.raise_if_told("lookup")
        inode = self.children[parent].get(name)
        if inode is None:
            raise NotFound(f"no {name!r}")
        return self.attrs[inode]

    async def children_of(self, inode: int) -> dict[str, int]:
        return dict(self.children[inode])

    async def list_dir(self, inode: int) -> list[tuple[str, Attributes]]:
        self.raise_if_told("list_dir")
        return [(name, self.attrs[child]) for name, child in self.children[inode].items()]

    def remember(self, inode: int, count: int = 1) -> None:
        self.lookups[inode] = self.lookups.get(inode, 0) + count

    def forget(self, inode: int, count: int) -> None:
        self.raise_if_told("forget")
        self.lookups[inode] = self.lookups[inode] - count

    async def open(
        self, inode: int, *, write: bool = False, truncate: bool = False, pid: int = 0
    ) -> int:
        self.opened.append((inode, write, truncate))
        return 100 + len(self.opened)

    def keep_cache(self, inode: int) -> bool:
        return True

    async def read(self, handle: int, offset: int, size: int) -> bytes:
        self.raise_if_told("read")
        return b"x" * size


class ReaddirBuffer:
    """Stands in for `pyfuse3.readdir_reply`: takes entries until `room` are in the buffer."""

    def __init__(self) -> None:
        self.room = 0
        self.taken: list[tuple[bytes, int, int]] = []

    def __call__(
        self, token: object, name: bytes, attrs: pyfuse3.EntryAttributes, next_id: int
    ) -> bool:
        if self.room <= 0:
            return False
        self.room -= 1
        self.taken.append((name, attrs.st_ino, next_id))
        return True

    def fill(self, room: int) -> list[tuple[bytes, int, int]]:
        """A new buffer of `room` entries; what the last readdir put in it."""
        self.room = room
        self.taken = []
        return self.taken


@pytest.fixture
def core() -> FakeCore:
    fake = FakeCore()
    album = fake.add(ROOT_INODE, "Album", directory=True)
    for name in NAMES:
        fake.add(album.inode, name)
    return fake


@pytest.fixture
def ops(core: FakeCore) -> FuseOperations:
    return FuseOperations(cast(Filesystem, core))


@pytest.fixture
def buffer(monkeypatch: pytest.MonkeyPatch) -> ReaddirBuffer:
    recorder = ReaddirBuffer()
    monkeypatch.setattr(pyfuse3, "readdir_reply", recorder)
    return recorder


CTX = pyfuse3.RequestContext()


def _album(core: FakeCore) -> int:
    return core.children[ROOT_INODE]["Album"]


async def _readdir(
    ops: FuseOperations, fh: int, start: int, room: int, buffer: ReaddirBuffer
) -> list[tuple[bytes, int, int]]:
    taken = buffer.fill(room)
    await ops.readdir(fh, start, cast(pyfuse3.ReaddirToken, object()))
    return list(taken)


async def test_readdir_resumes_from_any_offset_of_its_snapshot(
    ops: FuseOperations, core: FakeCore, buffer: ReaddirBuffer
) -> None:
    album = _album(core)
    fh = await ops.opendir(album, CTX)
    # The listing changes after opendir: the open handle keeps what it saw.
    core.add(album, "later.jpg")
    everything: list[tuple[bytes, int, int]] = []
    start = 0
    for _ in range(100):
        page = await _readdir(ops, fh, start, 5, buffer)
        if not page:
            break
        everything.extend(page)
        start = page[-1][2]
    expected = [b".", b"..", *(os.fsencode(name) for name in NAMES)]
    assert [name for name, _, _ in everything] == expected
    # next_id is the index of the following entry, so the kernel can resume after any one.
    assert [next_id for _, _, next_id in everything] == list(range(1, len(expected) + 1))
    assert everything[0][1] == album
    assert everything[1][1] == ROOT_INODE
    # Resuming from an earlier offset gives the same entries again.
    again = await _readdir(ops, fh, 7, 3, buffer)
    assert again == everything[7:10]
    assert await _readdir(ops, fh, len(expected), 5, buffer) == []
    await ops.releasedir(fh)
    # A released handle lists nothing (the kernel never asks, but nothing breaks if it does).
    assert await _readdir(ops, fh, 0, 5, buffer) == []


async def test_lookup_counts_follow_what_the_kernel_was_given(
    ops: FuseOperations, core: FakeCore, buffer: ReaddirBuffer
) -> None:
    album = _album(core)
    fh = await ops.opendir(album, CTX)
    # A buffer of 4 takes ., .., and two entries; the entry it refused is not counted.
    first = await _readdir(ops, fh, 0, 4, buffer)
    counted = [inode for name, inode, _ in first if name not in (b".", b"..")]
    assert len(counted) == 2
    assert core.lookups == dict.fromkeys(counted, 1)
    await _readdir(ops, fh, first[-1][2], 100, buffer)
    files = set(core.children[album].values())
    assert core.lookups == dict.fromkeys(files, 1)
    assert album not in core.lookups
    assert ROOT_INODE not in core.lookups
    # Each successful lookup takes one more; . and .. and a miss take none.
    target = core.children[album]["café.jpg"]
    attrs = await ops.lookup(album, "café.jpg".encode())
    assert attrs.st_ino == target
    assert core.lookups[target] == 2
    assert (await ops.lookup(album, b"..")).st_ino == ROOT_INODE
    assert (await ops.lookup(album, b".")).st_ino == album
    assert core.lookups.get(ROOT_INODE, 0) == 1
    assert core.lookups.get(album, 0) == 1
    miss = await ops.lookup(album, b"nothing.jpg")
    assert miss.st_ino == 0
    assert miss.entry_timeout == core.settings.negative_timeout
    # forget gives them back.
    await ops.forget([(target, 2), (album, 1)])
    assert core.lookups[target] == 0
    assert core.lookups[album] == 0


async def test_forget_never_raises(
    ops: FuseOperations, core: FakeCore, caplog: pytest.LogCaptureFixture
) -> None:
    core.failures["forget"] = RuntimeError("boom")
    with caplog.at_level(logging.ERROR, logger="smugfs.fuse_ops"):
        await ops.forget([(12345, 1), (ROOT_INODE, 1)])
    assert [r.getMessage() for r in caplog.records] == [
        "forget(12345) failed",
        f"forget({ROOT_INODE}) failed",
    ]


@pytest.mark.parametrize(
    ("failure", "code", "level"),
    [
        (NotFound("gone"), errno.ENOENT, None),
        (Offline("unreachable"), errno.ENETUNREACH, logging.WARNING),
        (ServiceUnavailable("HTTP 503 after 6 attempts"), errno.EIO, logging.WARNING),
        (RuntimeError("a bug"), errno.EIO, logging.ERROR),
        (KeyError("a bug"), errno.EIO, logging.ERROR),
    ],
)
async def test_every_error_leaves_a_handler_as_its_errno_and_unexpected_ones_are_logged(
    ops: FuseOperations,
    core: FakeCore,
    caplog: pytest.LogCaptureFixture,
    failure: Exception,
    code: int,
    level: int | None,
) -> None:
    for call in ("getattr", "lookup", "list_dir", "read", "unlink"):
        core.failures[call] = failure
    album = _album(core)
    requests: list[Callable[[], Awaitable[object]]] = [
        lambda: ops.getattr(album),
        lambda: ops.opendir(album, CTX),
        lambda: ops.read(101, 0, 10),
        lambda: ops.unlink(album, b"p001.jpg", CTX),
    ]
    if not isinstance(failure, NotFound):
        # (A lookup's miss is a negative entry, not an error: see the lookup count test.)
        requests.append(lambda: ops.lookup(album, b"p001.jpg"))
    with caplog.at_level(logging.DEBUG, logger="smugfs.fuse_ops"):
        for request in requests:
            with pytest.raises(pyfuse3.FUSEError) as answered:
                await request()
            assert answered.value.errno == code
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    if level is None:
        assert problems == []
    else:
        assert len(problems) == len(requests)
        assert {r.levelno for r in problems} == {level}
        if level == logging.ERROR:
            # The unexpected ones with their traceback, so the bug can be found.
            assert all(r.exc_info is not None for r in problems)


async def test_names_cross_the_boundary_as_bytes_exactly_both_ways(
    ops: FuseOperations, core: FakeCore, buffer: ReaddirBuffer
) -> None:
    album = _album(core)
    fh = await ops.opendir(album, CTX)
    listed = await _readdir(ops, fh, 2, 100, buffer)
    for name, inode, _ in listed:
        assert isinstance(name, bytes)
        assert (await ops.lookup(album, name)).st_ino == inode
    assert {os.fsdecode(name) for name, _, _ in listed} == set(NAMES)
    # New names arrive as bytes and reach the core as text.
    made = await ops.mkdir(ROOT_INODE, "Été 2024 à Kyoto".encode(), 0o755, CTX)
    assert core.changes.calls[-1] == ("mkdir", ROOT_INODE, "Été 2024 à Kyoto")
    assert made.st_ino == core.children[ROOT_INODE]["Été 2024 à Kyoto"]
    # Names the service cannot keep are refused before the core is asked.
    for raw, code in [
        (b"caf\xe9", errno.EINVAL),
        (b"line\nbreak", errno.EINVAL),
        (b"x" * 256, errno.ENAMETOOLONG),
    ]:
        with pytest.raises(pyfuse3.FUSEError) as refused:
            await ops.mkdir(ROOT_INODE, raw, 0o755, CTX)
        assert refused.value.errno == code
    assert len(core.changes.calls) == 1


async def test_attributes_carry_the_mounts_timeouts_and_exact_sizes(
    ops: FuseOperations, core: FakeCore
) -> None:
    inode = core.children[_album(core)]["p001.jpg"]
    out = await ops.getattr(inode)
    attrs = core.attrs[inode]
    assert out.st_ino == inode
    assert out.st_size == attrs.size
    assert out.st_blocks == (attrs.size + 511) // 512
    assert out.st_mode == attrs.mode
    assert out.entry_timeout == 7.0
    assert out.attr_timeout == 8.0
    assert out.st_mtime_ns == int(attrs.mtime * 1e9)


async def test_open_and_rename_flags_reach_the_core_as_meant(
    ops: FuseOperations, core: FakeCore
) -> None:
    album = _album(core)
    inode = core.children[album]["p001.jpg"]
    reading = await ops.open(inode, os.O_RDONLY, CTX)
    assert (reading.keep_cache, reading.direct_io) == (True, False)
    writing = await ops.open(inode, os.O_WRONLY | os.O_TRUNC, CTX)
    assert (writing.keep_cache, writing.direct_io) == (False, True)
    assert core.opened == [(inode, False, False), (inode, True, True)]
    await ops.rename(
        album, b"p001.jpg", album, "p\uff0f1.jpg".encode(), pyfuse3.RENAME_NOREPLACE, CTX
    )
    assert core.changes.calls[-1] == ("rename", album, "p001.jpg", album, "p\uff0f1.jpg", True)
    with pytest.raises(pyfuse3.FUSEError) as refused:
        await ops.rename(album, b"p001.jpg", album, b"p002.jpg", pyfuse3.RENAME_EXCHANGE, CTX)
    assert refused.value.errno == errno.EINVAL
    assert len(core.changes.calls) == 1
