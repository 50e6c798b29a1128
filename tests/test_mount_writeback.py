"""Write-back (`-o writeback`): close() returns once a file is staged, uploads run behind.

Each test mounts a fresh emulator account with write-back, copies photos in with `cp -r`,
waits with `smugfs sync` (or `smugfs unmount`) and checks what the service holds through its
own API: exactly the files copied, each once, with their MD5s. The mount is also killed with
the queue half done, fed a file the service refuses, and served by a service failing one
request in ten.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smugfs.testing.account import Account, uploads
from smugfs.testing.commands import ok, smugfs_command, subprocess_env
from smugfs.testing.emulator import Emulator
from smugfs.testing.media import md5, photo, write
from smugfs.testing.mounts import Mount, is_mounted, mounted, start_mount

pytestmark = pytest.mark.fuse

WRITEBACK = ["writeback", "uploads=4", "request_timeout=3"]


def smugfs(*args: str | os.PathLike[str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run a `smugfs` subcommand (not on a terminal: plain progress lines)."""
    return smugfs_command(*args, timeout=timeout)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll until `condition()` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@contextlib.contextmanager
def service_conditions(emulator: Emulator, **settings: object) -> Iterator[None]:
    """The emulator slowed down or failing as asked, for the duration of a `with` block."""
    emulator.configure(**settings)
    try:
        yield
    finally:
        emulator.configure(fault_rate=0, latency_ms=0, uploads_held=False)


class Shown:
    """A command running on a terminal of its own, and what it has shown so far."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        while chunk := os.read(self.process.stdout.fileno(), 65536):
            self._chunks.append(chunk)

    def text(self) -> str:
        """Everything shown until now."""
        return b"".join(self._chunks).decode(errors="replace")

    def finish(self) -> None:
        """Stop the command if it still runs, and take the rest of what it showed."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        self._reader.join(timeout=30)


@contextlib.contextmanager
def on_a_terminal(command: str) -> Iterator[Shown]:
    """`command` run by `script`, which gives it a terminal of its own; stopped on the way
    out."""
    process = subprocess.Popen(
        ["script", "-qec", command, "/dev/null"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=subprocess_env(),
    )
    shown = Shown(process)
    try:
        yield shown
    finally:
        shown.finish()
        assert process.stdout is not None
        process.stdout.close()


def shoot(folder: Path, count: int, seed: int = 0) -> dict[str, bytes]:
    """`count` small photos in a local folder."""
    photos = {f"IMG_{n:04}.jpg": photo(seed + n, 6_000 + 37 * n) for n in range(count)}
    for name, data in photos.items():
        write(folder / name, data)
    return photos


def landed_exactly(account: Account, album_uri: str, photos: dict[str, bytes]) -> None:
    """The album holds exactly these photos, each once, with their MD5s."""
    images = account.by_name(album_uri)  # each name at most once
    assert account.image_count(album_uri) == len(photos)
    assert {name: image["ArchivedMD5"] for name, image in images.items()} == {
        name: md5(data) for name, data in photos.items()
    }


def copy_in(mount: Mount, source: Path, album: str) -> None:
    """`cp -r` of a folder's photos into an album of the mount."""
    ok("cp", "-r", f"{source}/.", mount.path / album)


def test_cp_r_of_100_photos_then_sync_lands_exactly_100(
    emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    album_uri = account.create("Shoot")
    photos = shoot(tmp_path / "src", 100)
    with mounted(emulator, tmp_path / "mount", options=WRITEBACK) as mount:
        os.listdir(mount.path / "Shoot")
        # Each request waits a little, so the queue is still busy when sync starts.
        with service_conditions(emulator, latency_ms=100):
            copy_in(mount, tmp_path / "src", "Shoot")
            # Listed and readable at once, from the staged bytes, whatever the queue's progress.
            assert sorted(os.listdir(mount.path / "Shoot")) == sorted(photos)
            assert (mount.path / "Shoot" / "IMG_0099.jpg").read_bytes() == photos["IMG_0099.jpg"]
            assert account.image_count(album_uri) < 100
            synced = smugfs("sync", mount.path)
        assert synced.returncode == 0, synced.stderr
        last = synced.stdout.splitlines()[-1]
        found = re.match(r"(\d+) of (\d+) files uploaded", last)
        assert found, synced.stdout
        assert found.group(1) == found.group(2) != "0", synced.stdout
        landed_exactly(account, album_uri, photos)
        assert uploads(emulator) == 100
        status = "\n".join(mount.status())
        assert "queue        0 waiting (0.0 MiB), 0 uploading (0.0 MiB), 100 done" in status
        assert mount.problems() == []


def test_a_mount_killed_with_the_queue_half_done_finishes_it_next_time_none_twice(
    emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    album_uri = account.create("Shoot")
    photos = shoot(tmp_path / "src", 100, seed=300)
    workdir = tmp_path / "mount"
    mount = start_mount(emulator, workdir, options=WRITEBACK)
    try:
        os.listdir(mount.path / "Shoot")
        with service_conditions(emulator, latency_ms=100):
            copy_in(mount, tmp_path / "src", "Shoot")
            wait_for(lambda: account.image_count(album_uri) >= 30, "a third of the uploads")
            mount.process.send_signal(signal.SIGKILL)
            mount.process.wait(timeout=10)
            wait_for(lambda: not is_mounted(mount.path), "the dead mount to go")
    finally:
        mount.unmount()
    assert account.image_count(album_uri) < 100, "the queue was not half done"
    with mounted(emulator, workdir, options=WRITEBACK) as mount:
        synced = smugfs("sync", mount.path)
        assert synced.returncode == 0, synced.stderr
        landed_exactly(account, album_uri, photos)
        assert sorted(os.listdir(mount.path / "Shoot")) == sorted(photos)


@pytest.mark.log_expected("was not uploaded: upload refused")
def test_a_refused_upload_is_reported_by_sync_and_status_and_handed_back(
    emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    album_uri = account.create("Mixed")
    photos = shoot(tmp_path / "src", 3, seed=400)
    notes = write(tmp_path / "src" / "notes.jpg", b"this is text, not a photo\n" * 40)
    with mounted(emulator, tmp_path / "mount", options=WRITEBACK) as mount:
        copy_in(mount, tmp_path / "src", "Mixed")  # close() returned: cp succeeds
        synced = smugfs("sync", mount.path)
        assert synced.returncode == 1
        assert "not uploaded: Mixed/notes.jpg:" in synced.stderr
        assert "recovered" in synced.stderr
        failed = [line for line in mount.status() if line.startswith("failed")]
        assert len(failed) == 1, failed
        assert "Mixed/notes.jpg" in failed[0], failed
        kept = list((mount.cache_dir / "recovered").rglob("notes.jpg"))
        assert len(kept) == 1
        assert kept[0].read_bytes() == notes.read_bytes()
        landed_exactly(account, album_uri, photos)
        assert "notes.jpg" not in os.listdir(mount.path / "Mixed")
        assert any("notes.jpg was not uploaded" in line for line in mount.problems())


def test_unmount_with_a_queue_waits_until_it_is_done(
    emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    album_uri = account.create("Shoot")
    photos = shoot(tmp_path / "src", 20, seed=500)
    with mounted(emulator, tmp_path / "mount", options=WRITEBACK) as mount:
        os.listdir(mount.path / "Shoot")
        with service_conditions(emulator, latency_ms=150):
            copy_in(mount, tmp_path / "src", "Shoot")
            assert account.image_count(album_uri) < 20, "nothing was left in the queue"
            unmounted = smugfs("unmount", mount.path)
        assert unmounted.returncode == 0, unmounted.stderr
        assert "waiting for the queued uploads" in unmounted.stdout
        landed_exactly(account, album_uri, photos)
        mount.process.wait(timeout=30)
        assert "waiting for" in mount.log()
        assert mount.problems() == []


def test_faults_of_every_kind_during_the_queue_lose_nothing_and_double_nothing(
    emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    album_uri = account.create("Shoot")
    photos = shoot(tmp_path / "src", 100, seed=600)
    with mounted(emulator, tmp_path / "mount", options=WRITEBACK) as mount:
        os.listdir(mount.path / "Shoot")
        emulator.reset_stats()
        with service_conditions(emulator, fault_rate=0.1, latency_ms=5, seed=66):
            copy_in(mount, tmp_path / "src", "Shoot")
            synced = smugfs("sync", mount.path)
            faults = emulator.stats()["faults"]
        assert synced.returncode == 0, synced.stderr
        assert sum(faults.values()) >= 10, faults
        landed_exactly(account, album_uri, photos)
        assert sorted(os.listdir(mount.path / "Shoot")) == sorted(photos)
        for name in ("IMG_0000.jpg", "IMG_0050.jpg", "IMG_0099.jpg"):
            assert (mount.path / "Shoot" / name).read_bytes() == photos[name]


def test_a_signal_while_unmount_waits_leaves_the_queue_for_the_next_mount(
    emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    album_uri = account.create("Shoot")
    photos = shoot(tmp_path / "src", 20, seed=700)
    workdir = tmp_path / "mount"
    mount = start_mount(emulator, workdir, options=WRITEBACK)
    try:
        os.listdir(mount.path / "Shoot")
        with service_conditions(emulator, latency_ms=300):
            copy_in(mount, tmp_path / "src", "Shoot")
            ok("fusermount3", "-u", mount.path)
            wait_for(lambda: "waiting for" in mount.log(), "the unmount to wait for the queue")
            mount.process.send_signal(signal.SIGTERM)
            mount.process.wait(timeout=30)
            assert account.image_count(album_uri) < 20, "the queue was done already"
    finally:
        mount.unmount()
    assert "queued uploads are left for the next mount" in mount.log()
    with mounted(emulator, workdir, options=WRITEBACK) as mount:
        synced = smugfs("sync", mount.path)
        assert synced.returncode == 0, synced.stderr
        landed_exactly(account, album_uri, photos)


def test_sync_on_a_terminal_shows_a_progress_bar(
    emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    album_uri = account.create("Shoot")
    photos = shoot(tmp_path / "src", 8, seed=800)
    # The service holds the uploads until sync has shown the whole queue, so sync surely has
    # something to show, however slowly it starts; no request timeout runs out meanwhile.
    with mounted(emulator, tmp_path / "mount", options=["writeback", "uploads=4"]) as mount:
        os.listdir(mount.path / "Shoot")
        with service_conditions(emulator, uploads_held=True):
            copy_in(mount, tmp_path / "src", "Shoot")
            command = f"{sys.executable} -m smugfs sync {mount.path}"
            with on_a_terminal(command) as shown:
                wait_for(lambda: "0/8 files" in shown.text(), "sync to show the queue")
                emulator.configure(uploads_held=False)
                assert shown.process.wait(timeout=120) == 0, shown.text()
        last = shown.text().replace("\r", "\n").strip().splitlines()[-1]
        assert re.match(r"8/8 files: 100%\|", last), shown.text()
        assert "B/s]" in last
        landed_exactly(account, album_uri, photos)


@pytest.mark.log_expected("was not uploaded: upload refused")
def test_an_album_deleted_on_the_service_under_the_queue_loses_no_photo_silently(
    emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    account.create("Shoot")
    photos = shoot(tmp_path / "src", 10, seed=900)
    with mounted(emulator, tmp_path / "mount", options=WRITEBACK) as mount:
        os.listdir(mount.path / "Shoot")
        with service_conditions(emulator, latency_ms=300):
            copy_in(mount, tmp_path / "src", "Shoot")
            deleted = account.http.delete(account.node("Shoot")["Uri"])
            assert deleted.status_code == 200, deleted.text
            synced = smugfs("sync", mount.path)
        assert synced.returncode == 1
        refused = set(re.findall(r"not uploaded: Shoot/(\S+):", synced.stderr))
        uploaded = set(re.findall(r"uploaded '(\S+)'", mount.log()))
        assert refused, synced.stderr
        assert refused.isdisjoint(uploaded)
        assert refused | uploaded == set(photos)
        for name in refused:
            (kept,) = (mount.cache_dir / "recovered").rglob(name)
            assert kept.read_bytes() == photos[name]
