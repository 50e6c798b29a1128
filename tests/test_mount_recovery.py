"""A mount killed in the middle of a write: nothing the person wrote is lost.

The mount process is killed with SIGKILL (no chance to clean up) while `cp` waits for its
upload, or while a program still has a file open for writing. The next mount of the same
account, with the same cache, finishes the upload exactly once, or hands the incomplete bytes
back in the cache's `recovered` directory; `smugfs status` lists either outcome.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smugfs.testing.account import Account
from smugfs.testing.commands import ok
from smugfs.testing.emulator import Emulator
from smugfs.testing.media import md5, photo, write
from smugfs.testing.mounts import kill, mounted, recovered, settled
from smugfs.testing.waits import wait_for

pytestmark = pytest.mark.fuse


def test_a_mount_killed_during_an_upload_finishes_it_at_the_next_mount(
    emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    album_uri = account.create("Inbox")
    data = photo(4001, 300_000)
    source = write(tmp_path / "src" / "p.jpg", data)
    workdir = tmp_path / "mount"
    # The next mount waits this long before it sends an interrupted upload again.
    options = ["request_timeout=8"]
    with mounted(emulator, workdir, options=options) as mount:
        os.listdir(mount.path / "Inbox")
        # Every request now waits, so the upload is still in flight when the mount dies.
        emulator.configure(latency_ms=3000)
        copier = subprocess.Popen(
            ["cp", str(source), str(mount.path / "Inbox")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(lambda: "uploading 'p.jpg'" in mount.log(), "the upload to start")
            time.sleep(0.5)
            kill(mount)
            assert copier.wait(timeout=30) != 0, "cp cannot have succeeded"
        finally:
            copier.kill()
            copier.wait()
            emulator.configure(latency_ms=0)
    with mounted(emulator, workdir, options=options) as mount:
        wait_for(lambda: any("uploaded" in line for line in recovered(mount)), "the upload")
        lines = recovered(mount)
        assert len(lines) == 1, lines
        assert "Inbox/p.jpg: uploaded" in lines[0]
        images = account.by_name(album_uri)
        assert list(images) == ["p.jpg"]
        assert images["p.jpg"]["ArchivedMD5"] == md5(data)
        assert account.image_count(album_uri) == 1
        assert ok("md5sum", mount.path / "Inbox" / "p.jpg").split()[0] == md5(data)
    # Done is done: a third mount has nothing left to recover.
    with mounted(emulator, workdir) as mount:
        time.sleep(1.5)
        assert recovered(mount) == []
        assert account.image_count(album_uri) == 1


WRITER = """
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
os.write(fd, bytes.fromhex(sys.argv[2]))
print("written", flush=True)
time.sleep(60)
"""


@pytest.mark.log_expected("was not uploaded: it was never closed")
def test_a_file_still_being_written_when_the_mount_dies_is_handed_back(
    emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    album_uri = account.create("Drafts")
    part = photo(4002, 50_000)
    workdir = tmp_path / "mount"
    with mounted(emulator, workdir) as mount:
        target = mount.path / "Drafts" / "half.jpg"
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(target), part.hex()],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert writer.stdout is not None
            assert writer.stdout.readline().strip() == "written"
            kill(mount)
        finally:
            writer.kill()
            writer.communicate()
    with mounted(emulator, workdir) as mount:
        wait_for(lambda: settled(recovered(mount)), "the recovery report's verdict")
        (line,) = recovered(mount)
        assert "Drafts/half.jpg: kept, not uploaded" in line
        assert "never closed" in line
        kept = Path(line.rsplit("its bytes are in ", 1)[1].rstrip(")"))
        assert kept.read_bytes() == part
        assert kept.is_relative_to(mount.cache_dir / "recovered")
        assert account.images(album_uri) == []
        assert os.listdir(mount.path / "Drafts") == []


def test_an_upload_finished_at_the_next_mount_is_listed_in_its_album_at_once(
    emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    album_uri = account.create("Inbox")
    first, data = photo(4003, 200_000), photo(4004, 300_000)
    workdir = tmp_path / "mount"
    # One upload at a time, so p.jpg waits in the queue behind a.jpg, whose upload the service
    # holds unanswered: p.jpg is staged and queued, and no request has carried it yet.
    options = ["writeback", "uploads=1", "request_timeout=5"]
    with mounted(emulator, workdir, options=options) as mount:
        assert os.listdir(mount.path / "Inbox") == []
        emulator.configure(uploads_held=True)
        try:
            write(mount.path / "Inbox" / "a.jpg", first)
            wait_for(lambda: emulator.stats()["upload_bytes"] >= len(first), "a.jpg's upload")
            write(mount.path / "Inbox" / "p.jpg", data)
            kill(mount)
        finally:
            emulator.configure(uploads_held=False)
    wait_for(lambda: account.image_count(album_uri) == 1, "the held upload of a.jpg to land")
    # The service now lists new photos late (as SmugMug does): only the mount can show it.
    emulator.configure(listing_delay_ms=15_000)
    with mounted(emulator, workdir, options=options) as mount:
        wait_for(lambda: any("Inbox/p.jpg: uploaded" in line for line in recovered(mount)), "p.jpg")
        listed = {
            line.split()[-1]: line.split()
            for line in ok("ls", "-l", mount.path / "Inbox").splitlines()[1:]
        }
        assert sorted(listed) == ["a.jpg", "p.jpg"], listed
        assert listed["p.jpg"][4] == str(len(data))
        assert account.image_count(album_uri) == 2
        assert [i["FileName"] for i in account.images(album_uri)] == ["a.jpg"]  # p.jpg: late
        assert ok("md5sum", mount.path / "Inbox" / "p.jpg").split()[0] == md5(data)
    # Once the service lists it, it holds each photo exactly once.
    wait_for(lambda: len(account.images(album_uri)) > 1, "the service to list p.jpg", timeout=60)
    images = account.by_name(album_uri)
    assert sorted(images) == ["a.jpg", "p.jpg"]
    assert account.image_count(album_uri) == 2
    assert images["p.jpg"]["ArchivedMD5"] == md5(data)
