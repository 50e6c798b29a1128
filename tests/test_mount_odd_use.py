"""Odd but legal use of a mount, through real FUSE and real processes.

A photo written slowly while another process lists and reads its album; a `cp` killed in the
middle of a copy; two remote names that are one file name apart once escaped; two processes
making the same directory at once. Each checks what the service holds through the emulator's
own API, and that the mount stays consistent.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from smugfs.testing.account import ALBUM, Account, uploads
from smugfs.testing.commands import md5sum, ok
from smugfs.testing.emulator import Emulator
from smugfs.testing.media import md5, photo, write
from smugfs.testing.mounts import Mount, mounted, recovered
from smugfs.testing.waits import wait_for

pytestmark = pytest.mark.fuse


@pytest.fixture
def mount(emulator: Emulator, tmp_path: Path) -> Iterator[Mount]:
    """The fresh emulator's account mounted."""
    with mounted(emulator, tmp_path / "mount") as mount:
        yield mount


# A writer that writes its file in small steps with pauses, as a slow program or link would.
SLOW_WRITER = r"""
import os, sys, time
path, data = sys.argv[1], open(sys.argv[2], "rb").read()
step = len(data) // 12 + 1
with open(path, "wb", buffering=0) as out:
    for start in range(0, len(data), step):
        out.write(data[start:start + step])
        time.sleep(0.15)
"""


def test_a_photo_written_slowly_while_another_process_lists_and_reads_the_album(
    emulator: Emulator, account: Account, mount: Mount, tmp_path: Path
) -> None:
    album_uri = account.create("Shoot")
    others = {f"old{n}.jpg": photo(1830 + n, 120_000) for n in range(3)}
    for name, data in others.items():
        account.upload(album_uri, name, data)
    album = mount.path / "Shoot"
    assert sorted(os.listdir(album)) == sorted(others)
    data = photo(1835, 600_000)
    source = write(tmp_path / "new.jpg", data)
    emulator.reset_stats()
    writer = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(album / "new.jpg"), source])
    sizes: list[int] = []
    prefixes_ok = True
    rounds = 0
    try:
        while writer.poll() is None or rounds == 0:
            rounds += 1
            listing = ok("ls", "-l", "--time-style=+", album).splitlines()[1:]
            names = {line.split()[-1]: int(line.split()[4]) for line in listing}
            assert set(others) <= set(names), names
            for name, expected in others.items():
                assert md5sum(album / name) == md5(expected)
            if "new.jpg" in names:
                sizes.append(names["new.jpg"])
                seen = (album / "new.jpg").read_bytes()
                prefixes_ok = prefixes_ok and data.startswith(seen)
        assert writer.wait(timeout=60) == 0
    finally:
        writer.kill()
        writer.wait()
    assert rounds >= 3, "the reader ran while the file was written"
    assert prefixes_ok, "what was read of the file being written is what had been written"
    assert sizes == sorted(sizes), f"the size only grew: {sizes}"
    images = account.by_name(album_uri)
    assert sorted(images) == sorted([*others, "new.jpg"])
    assert images["new.jpg"]["ArchivedMD5"] == md5(data)
    assert account.image_count(album_uri) == 4
    assert uploads(emulator) == 1
    assert md5sum(album / "new.jpg") == md5(data)
    assert mount.problems() == []


# Feeds a FIFO: the first half of the data, then it waits to be killed.
FEEDER = r"""
import sys, time
data = open(sys.argv[2], "rb").read()
with open(sys.argv[1], "wb") as fifo:
    fifo.write(data[: len(data) // 2])
    fifo.flush()
    time.sleep(120)
"""


def kill_cp_halfway(source: Path, target: Path, sig: signal.Signals, tmp_path: Path) -> None:
    """`cp` from a pipe that delivers half of `source`, killed by `sig` once that half is in
    `target` (the copy is then waiting for the rest, in the middle of its work)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    half = source.stat().st_size // 2
    feeder = subprocess.Popen([sys.executable, "-c", FEEDER, str(fifo), str(source)])
    copier = subprocess.Popen(["cp", str(fifo), str(target)], stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: target.exists() and target.stat().st_size >= half, "cp to copy half")
        copier.send_signal(sig)
        assert copier.wait(timeout=60) != 0
    finally:
        copier.kill()
        copier.wait()
        feeder.kill()
        feeder.wait()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
@pytest.mark.log_expected("was not uploaded: its writer was killed")
def test_a_cp_killed_midway_uploads_nothing_and_hands_the_part_back(
    sig: signal.Signals, emulator: Emulator, account: Account, mount: Mount, tmp_path: Path
) -> None:
    album_uri = account.create("Inbox")
    data = photo(1840, 2_000_000)
    source = write(tmp_path / "p.jpg", data)
    target = mount.path / "Inbox" / "p.jpg"
    assert os.listdir(target.parent) == []
    emulator.reset_stats()
    kill_cp_halfway(source, target, sig, tmp_path)
    # Nothing half-uploaded; the part copied is handed back, and the mount shows no trace.
    assert uploads(emulator) == 0
    assert account.images(album_uri) == []
    assert os.listdir(target.parent) == []
    assert not target.exists()
    wait_for(lambda: bool(recovered(mount)), "the report in smugfs status")
    (line,) = recovered(mount)
    assert "Inbox/p.jpg: kept, not uploaded" in line
    assert "killed" in line
    kept = Path(line.rsplit("its bytes are in ", 1)[1].rstrip(")"))
    assert kept.read_bytes() == data[: len(data) // 2]
    # The mount goes on as before: the same copy, not interrupted, lands whole.
    ok("cp", source, target)
    (image,) = account.images(album_uri)
    assert image["ArchivedMD5"] == md5(data)
    assert md5sum(target) == md5(data)
    problems = mount.problems()
    assert len(problems) == 1, problems
    assert "was not uploaded" in problems[0]


@pytest.mark.log_expected("was not uploaded: its writer was killed")
def test_a_cp_killed_midway_over_a_photo_leaves_the_photo_as_it_was(
    emulator: Emulator, account: Account, mount: Mount, tmp_path: Path
) -> None:
    album_uri = account.create("Inbox")
    old = photo(1841, 300_000)
    account.upload(album_uri, "p.jpg", old)
    data = photo(1842, 2_000_000)
    source = write(tmp_path / "p.jpg", data)
    target = mount.path / "Inbox" / "p.jpg"
    assert os.listdir(target.parent) == ["p.jpg"]
    kill_cp_halfway(source, target, signal.SIGTERM, tmp_path)
    (image,) = account.images(album_uri)
    assert image["ArchivedMD5"] == md5(old)
    assert os.listdir(target.parent) == ["p.jpg"]
    assert target.stat().st_size == len(old)
    assert md5sum(target) == md5(old)


def test_remote_names_that_collide_once_escaped_are_both_listed_and_each_opens_its_own(
    account: Account, mount: Mount
) -> None:
    album_uri = account.create("Names")
    slash = photo(1850, 50_000)
    fullwidth = photo(1851, 60_000)
    account.upload(album_uri, "a/b.jpg", slash)
    account.upload(album_uri, "a\uff0fb.jpg", fullwidth)
    names = sorted(os.listdir(mount.path / "Names"))
    assert len(names) == 2, names
    # At once after the listing, each name opens its own photo.
    by_content = {md5((mount.path / "Names" / name).read_bytes()): name for name in names}
    assert set(by_content) == {md5(slash), md5(fullwidth)}
    assert by_content[md5(slash)] == "a\uff0fb.jpg"
    assert os.stat(mount.path / "Names" / by_content[md5(fullwidth)]).st_size == len(fullwidth)
    # And through a fresh listing of its own (`ls -l` stats every name).
    listed = ok("ls", "-l", mount.path / "Names").splitlines()[1:]
    sizes = sorted(int(line.split()[4]) for line in listed)
    assert sizes == sorted([len(slash), len(fullwidth)])
    assert mount.problems() == []


MKDIR = r"""
import errno, os, sys, time
start = float(sys.argv[2])
while time.time() < start:
    pass
try:
    os.mkdir(sys.argv[1])
    print("made")
except OSError as exc:
    print(errno.errorcode[exc.errno])
"""


def test_two_processes_making_one_directory_at_once_make_one_album(
    emulator: Emulator, account: Account, mount: Mount
) -> None:
    for attempt in range(3):
        name = f"Same{attempt}"
        assert name not in os.listdir(mount.path)
        start = time.time() + 0.5
        makers = [
            subprocess.Popen(
                [sys.executable, "-c", MKDIR, str(mount.path / name), str(start)],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        answers = sorted(maker.communicate(timeout=60)[0].strip() for maker in makers)
        assert answers == ["EEXIST", "made"], answers
        same = [c for c in account.children() if c["Name"] == name]
        assert len(same) == 1, same
        assert same[0]["Type"] == ALBUM
        assert os.path.isdir(mount.path / name)
    assert mount.problems() == []


def test_threads_making_one_directory_at_once_make_one_album(
    account: Account, mount: Mount
) -> None:
    """The same within one process: eight threads, one mkdir each."""
    target = mount.path / "Threads"
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def make() -> None:
        barrier.wait()
        try:
            os.mkdir(target)
            outcomes.append("made")
        except OSError as exc:
            outcomes.append(errno.errorcode[exc.errno or 0])

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["EEXIST"] * 7 + ["made"]
    same = [c for c in account.children() if c["Name"] == "Threads"]
    assert len(same) == 1, same


def test_a_desktop_looking_for_its_trash_costs_no_request(
    emulator: Emulator, account: Account, mount: Mount
) -> None:
    """gvfs looks up `.Trash` and `.Trash-UID` at the top of every new mount."""
    emulator.reset_stats()
    for name in (".Trash", f".Trash-{os.getuid()}"):
        assert not (mount.path / name).exists()
    assert emulator.stats()["by_endpoint"] == {}
    # So an album made on the service just after the mount appeared is found at once.
    account.create("Later")
    assert os.path.isdir(mount.path / "Later")


def test_a_file_deleted_while_open_keeps_working_for_its_descriptor_and_is_not_uploaded(
    emulator: Emulator, account: Account, mount: Mount
) -> None:
    album_uri = account.create("Inbox")
    path = mount.path / "Inbox" / "p.jpg"
    assert os.listdir(path.parent) == []
    emulator.reset_stats()
    data = photo(1860, 100_000)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, data[:50_000])
        os.unlink(path)
        assert not path.exists()
        assert os.fstat(fd).st_nlink == 0
        os.write(fd, data[50_000:])
        assert os.pread(fd, len(data), 0) == data
        assert os.fstat(fd).st_size == len(data)
    finally:
        os.close(fd)
    assert uploads(emulator) == 0
    assert account.images(album_uri) == []
    assert os.listdir(path.parent) == []
    assert mount.problems() == []
