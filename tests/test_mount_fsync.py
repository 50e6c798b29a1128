"""fsync() in the middle of a write, through a real FUSE mount.

A program writes part of a photo into an album, makes it durable (fsync, fdatasync,
sync_file_range, `dd conv=fsync`), writes the rest and closes. What fsync returned for is on
the service when it returns; the writing goes on; and once the file is closed the service holds
the whole file, as one photo, replaced in place (same image key) when fsync had uploaded an
earlier version of it. Every check reads the service through the emulator's own API.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from smugfs.testing.account import Account, uploads
from smugfs.testing.commands import md5sum, ok
from smugfs.testing.emulator import Emulator
from smugfs.testing.media import md5, photo, write
from smugfs.testing.mounts import Mount, kill, mounted, recovered, settled
from smugfs.testing.waits import wait_for

pytestmark = pytest.mark.fuse

# A writer driven step by step over its standard input: each line names one step, and the
# writer answers "done" when the step returned (or the errno's name when it failed).
WRITER = r"""
import ctypes, errno, os, sys
path, data = sys.argv[1], open(sys.argv[2], "rb").read()
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
written = 0
for line in sys.stdin:
    step, _, arg = line.strip().partition(" ")
    try:
        if step == "write":
            end = int(arg) if arg else len(data)
            while written < end:
                written += os.write(fd, data[written:end])
        elif step == "fsync":
            os.fsync(fd)
        elif step == "fdatasync":
            os.fdatasync(fd)
        elif step == "sync_file_range":
            # SYNC_FILE_RANGE_WAIT_BEFORE | WRITE | WAIT_AFTER over the whole file.
            if libc.sync_file_range(fd, ctypes.c_int64(0), ctypes.c_int64(0), 7) != 0:
                raise OSError(ctypes.get_errno(), "sync_file_range")
        elif step == "close":
            os.close(fd)
        print("done", flush=True)
    except OSError as exc:
        print(errno.errorcode.get(exc.errno, str(exc.errno)), flush=True)
"""


class Writer:
    """A writing process whose steps the test takes one at a time."""

    def __init__(self, target: Path, data: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(target), str(data)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def step(self, line: str) -> str:
        """Take one step and return what the writer said about it."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def finish(self) -> None:
        """End the writer (its descriptors close with it)."""
        try:
            self.process.communicate(timeout=60)
        finally:
            self.process.kill()
            self.process.communicate()


def write_in_steps(target: Path, source: Path, *steps: str) -> None:
    """Write `source` into `target` by a writer taking these steps, each of which succeeds."""
    writer = Writer(target, source)
    try:
        for step in steps:
            assert writer.step(step) == "done", step
    finally:
        writer.finish()


@pytest.fixture
def mount(emulator: Emulator, tmp_path: Path) -> Iterator[Mount]:
    """The fresh emulator's account mounted; its log must stay free of warnings."""
    with mounted(emulator, tmp_path / "mount") as mount:
        yield mount
        assert mount.problems() == []


@pytest.mark.parametrize("sync", ["fsync", "fdatasync"])
def test_fsync_mid_write_uploads_what_was_written_and_close_replaces_it_whole(
    sync: str, emulator: Emulator, account: Account, mount: Mount, tmp_path: Path
) -> None:
    album_uri = account.create("Inbox")
    data = photo(1801, 1_088_588)
    half = len(data) // 2
    source = write(tmp_path / "p.jpg", data)
    writer = Writer(mount.path / "Inbox" / "p.jpg", source)
    try:
        assert writer.step(f"write {half}") == "done"
        assert writer.step(sync) == "done"
        # What fsync returned for is on the service.
        (synced,) = account.images(album_uri)
        assert synced["ArchivedMD5"] == md5(data[:half])
        assert writer.step("write") == "done"
        assert writer.step("close") == "done"
    finally:
        writer.finish()
    (image,) = account.images(album_uri)
    assert image["ImageKey"] == synced["ImageKey"], "replaced in place, not added"
    assert image["ArchivedMD5"] == md5(data)
    assert image["ArchivedSize"] == len(data)
    assert account.image_count(album_uri) == 1
    assert account.original(image) == data
    assert md5sum(mount.path / "Inbox" / "p.jpg") == md5(data)


def test_several_fsyncs_and_an_unchanged_close_upload_once_per_change(
    emulator: Emulator, account: Account, mount: Mount, tmp_path: Path
) -> None:
    album_uri = account.create("Inbox")
    data = photo(1802, 600_000)
    source = write(tmp_path / "p.jpg", data)
    assert ok("ls", mount.path / "Inbox") == ""
    emulator.reset_stats()
    writer = Writer(mount.path / "Inbox" / "p.jpg", source)
    try:
        assert writer.step("write 200000") == "done"
        assert writer.step("fsync") == "done"
        assert writer.step("fsync") == "done"  # nothing new: nothing sent
        assert uploads(emulator) == 1
        assert writer.step("write 400000") == "done"
        assert writer.step("sync_file_range") == "done"
        assert writer.step("write") == "done"
        assert writer.step("fsync") == "done"
        assert uploads(emulator) == 2
        assert writer.step("close") == "done"  # the service already holds these bytes
    finally:
        writer.finish()
    assert uploads(emulator) == 2
    (image,) = account.images(album_uri)
    assert image["ArchivedMD5"] == md5(data)
    assert account.image_count(album_uri) == 1


def test_fsync_of_a_photo_opened_for_rewriting_replaces_it_in_place_once_closed(
    emulator: Emulator, account: Account, mount: Mount, tmp_path: Path
) -> None:
    album_uri = account.create("Inbox")
    old = account.upload(album_uri, "p.jpg", photo(1803, 300_000))
    assert ok("ls", mount.path / "Inbox").split() == ["p.jpg"]
    data = photo(1804, 500_000)
    source = write(tmp_path / "p.jpg", data)
    write_in_steps(
        mount.path / "Inbox" / "p.jpg", source, "write 100000", "fsync", "write", "close"
    )
    (image,) = account.images(album_uri)
    assert image["ImageKey"] == old["ImageUri"].rsplit("/", 1)[1].split("-")[0]
    assert image["ArchivedMD5"] == md5(data)
    assert account.image_count(album_uri) == 1


@pytest.mark.parametrize("conv", ["fsync", "fdatasync"])
def test_dd_conv_fsync_uploads_the_whole_file_once(
    conv: str, emulator: Emulator, account: Account, mount: Mount, tmp_path: Path
) -> None:
    album_uri = account.create("Inbox")
    data = photo(1805, 900_000)
    source = write(tmp_path / "p.jpg", data)
    ok("ls", mount.path / "Inbox")
    emulator.reset_stats()
    target = mount.path / "Inbox" / "p.jpg"
    ok("dd", f"if={source}", f"of={target}", "bs=64k", f"conv={conv}", "status=none")
    assert uploads(emulator) == 1
    (image,) = account.images(album_uri)
    assert image["ArchivedMD5"] == md5(data)
    assert image["ArchivedSize"] == len(data)
    assert md5sum(target) == md5(data)


def test_a_file_written_by_two_processes_in_turn_lands_whole(
    account: Account, mount: Mount, tmp_path: Path
) -> None:
    """`(cat a; cat b) > photo`: each cat closes its copy of the descriptor (a flush) while
    the shell still holds the file open for the next one."""
    album_uri = account.create("Inbox")
    data = photo(1806, 400_000)
    first = write(tmp_path / "a", data[:150_000])
    second = write(tmp_path / "b", data[150_000:])
    target = mount.path / "Inbox" / "p.jpg"
    ok("sh", "-c", '(cat "$1"; cat "$2") > "$3"', "sh", first, second, target)
    (image,) = account.images(album_uri)
    assert image["ArchivedMD5"] == md5(data)
    assert account.image_count(album_uri) == 1
    assert md5sum(target) == md5(data)


@pytest.mark.parametrize("kind", ["500", "drop"])
def test_fsync_then_close_land_exactly_once_while_the_service_fails(
    kind: str, emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    album_uri = account.create("Inbox")
    files = {f"f{n}.jpg": photo(1810 + n, 150_000) for n in range(4)}
    with mounted(emulator, tmp_path / "mount") as mount:
        os.listdir(mount.path / "Inbox")
        emulator.reset_stats()
        emulator.configure(fault_rate=0.4, fault_kinds=[kind], seed=18)
        try:
            for name, data in files.items():
                source = write(tmp_path / name, data)
                steps = ("write 50000", "fsync", "write", "close")
                write_in_steps(mount.path / "Inbox" / name, source, *steps)
        finally:
            emulator.configure(fault_rate=0)
        stats = emulator.stats()
        assert stats["faults"].get(kind, 0) > 0, stats
        assert account.image_count(album_uri) == len(files)
        images = account.by_name(album_uri)
        assert {name: i["ArchivedMD5"] for name, i in images.items()} == {
            name: md5(data) for name, data in files.items()
        }
        assert mount.problems() == []


@pytest.mark.log_expected("was not uploaded: it was never closed")
def test_a_mount_killed_between_fsync_and_close_keeps_the_synced_version_and_hands_back_the_rest(
    emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    album_uri = account.create("Inbox")
    data = photo(1820, 300_000)
    source = write(tmp_path / "p.jpg", data)
    workdir = tmp_path / "mount"
    with mounted(emulator, workdir) as mount:
        writer = Writer(mount.path / "Inbox" / "p.jpg", source)
        try:
            assert writer.step("write 100000") == "done"
            assert writer.step("fsync") == "done"
            assert writer.step("write 250000") == "done"
            kill(mount)
        finally:
            writer.process.kill()
            writer.process.communicate()
    (image,) = account.images(album_uri)
    assert image["ArchivedMD5"] == md5(data[:100_000])
    with mounted(emulator, workdir) as mount:
        wait_for(lambda: settled(recovered(mount)), "the recovery report's verdict")
        (line,) = recovered(mount)
        assert "Inbox/p.jpg: kept, not uploaded" in line
        kept = Path(line.rsplit("its bytes are in ", 1)[1].rstrip(")"))
        assert kept.read_bytes() == data[:250_000]
        (after,) = account.images(album_uri)
        assert after["ImageKey"] == image["ImageKey"]
        assert after["ArchivedMD5"] == md5(data[:100_000])
        assert md5sum(mount.path / "Inbox" / "p.jpg") == md5(data[:100_000])
