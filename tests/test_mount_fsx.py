"""Random writes, truncates, reads, fsyncs and reopens of a file in a real mount, checked
against a model after every read (`tests/random_ops.py`, in the manner of fsx): on a photo
staged in an album (each close and fsync uploads it, each reopen stages it again from the
service's version) and on a temporary name that stays local until it is renamed to a real one;
and on a photo of a write-back mount (`-o writeback`), where each close queues the upload and
the photo is read back behind it, so every reopen (for reading, then for writing) races the
queue. The service's copy is checked through the emulator's own API at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from smugfs.testing.account import Account, uploads
from smugfs.testing.commands import smugfs_command
from smugfs.testing.emulator import Emulator
from smugfs.testing.media import JPEG_START, md5
from smugfs.testing.mounts import Mount, mounted
from smugfs.testing.random_ops import RandomFile, Report

pytestmark = pytest.mark.fuse

OPERATIONS = 1500
MAX_SIZE = 384 * 1024
MAX_OP = 48 * 1024


@pytest.fixture
def mount(emulator: Emulator, tmp_path: Path) -> Iterator[Mount]:
    """The fresh emulator's account mounted; its log must stay free of warnings."""
    with mounted(emulator, tmp_path / "mount") as mount:
        yield mount
        assert mount.problems() == []


@pytest.fixture
def writeback_mount(emulator: Emulator, tmp_path: Path) -> Iterator[Mount]:
    """The fresh emulator's account mounted with write-back; its log must stay free of
    warnings."""
    with mounted(emulator, tmp_path / "mount", options=["writeback", "uploads=2"]) as mount:
        yield mount
        assert mount.problems() == []


@pytest.mark.parametrize("seed", [18, 1818])
def test_random_operations_on_a_photo_in_an_album_never_corrupt_it(
    seed: int, emulator: Emulator, account: Account, mount: Mount
) -> None:
    report = check_photo_in_album(emulator, account, mount, seed)
    # Every close uploaded before it returned.
    assert uploads(emulator) >= report.counts["reopen"]


@pytest.mark.parametrize("seed", [13, 1313])
def test_random_operations_on_a_photo_of_a_writeback_mount_never_corrupt_it(
    seed: int, emulator: Emulator, account: Account, writeback_mount: Mount
) -> None:
    check_photo_in_album(emulator, account, writeback_mount, seed)


def check_photo_in_album(emulator: Emulator, account: Account, mount: Mount, seed: int) -> Report:
    """The checker on a new photo in a new album; then the service holds exactly the model,
    as one photo replaced in place by every upload."""
    album_uri = account.create("Fsx")
    path = mount.path / "Fsx" / "fsx.jpg"
    assert os.listdir(path.parent) == []
    emulator.reset_stats()
    tested = RandomFile(path, JPEG_START, seed=seed, max_size=MAX_SIZE, max_op=MAX_OP)
    report = tested.run(OPERATIONS)
    assert report.counts["reopen"] > 10, report
    assert report.counts["fsync"] > 10, report
    # With write-back the last close only queued the upload: wait as a user does.
    synced = smugfs_command("sync", str(mount.path), timeout=180)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    (image,) = account.images(album_uri)
    assert image["FileName"] == "fsx.jpg"
    assert image["ArchivedMD5"] == md5(bytes(tested.model))
    assert image["ArchivedSize"] == len(tested.model)
    assert account.original(image) == bytes(tested.model)
    # One photo, replaced in place by every upload: never a second one.
    assert account.image_count(album_uri) == 1
    assert uploads(emulator) >= 1
    return report


def test_random_operations_on_a_temporary_name_never_corrupt_it(
    emulator: Emulator, account: Account, mount: Mount
) -> None:
    album_uri = account.create("Fsx")
    path = mount.path / "Fsx" / ".fsx.jpg.Xk3q9Z"
    assert os.listdir(path.parent) == []
    emulator.reset_stats()
    tested = RandomFile(path, JPEG_START, seed=1819, max_size=MAX_SIZE, max_op=MAX_OP)
    tested.run(OPERATIONS)
    # A temporary name stays local, whatever it went through.
    assert uploads(emulator) == 0
    assert account.images(album_uri) == []
    # Renamed to a real name (rsync's last step), it uploads as it is.
    final = path.with_name("fsx.jpg")
    os.rename(path, final)
    (image,) = account.images(album_uri)
    assert image["ArchivedMD5"] == md5(bytes(tested.model))
    assert final.read_bytes() == bytes(tested.model)
