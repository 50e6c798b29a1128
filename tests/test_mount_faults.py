"""The mount under an unreliable service: every fault the emulator can inject, at 10 %.

Each test runs real tools through a real mount while the emulator answers one request in ten
with a fault drawn from all its kinds (429, 500, 503, a dropped connection, a truncated body, a
gateway's 502 after the request ran, a reply cut into invalid JSON) and adds latency. What must
hold: every byte copied out equals the original, every photo copied in lands exactly once with
its MD5, and a sequence of directory changes leaves the service in exactly the expected state.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from smugfs.testing.account import ALBUM, FOLDER, Account
from smugfs.testing.commands import ok
from smugfs.testing.emulator import Emulator
from smugfs.testing.media import md5, photo, write
from smugfs.testing.mounts import Mount, mounted

pytestmark = pytest.mark.fuse

FAULT_RATE = 0.1
LATENCY_MS = 15


@pytest.fixture
def faulty(emulator: Emulator) -> Iterator[Emulator]:
    """The fresh emulator, failing one request in ten once a test calls `start_faults`."""
    try:
        yield emulator
    finally:
        emulator.configure(fault_rate=0, latency_ms=0)


def start_faults(emulator: Emulator, seed: int) -> None:
    """From now on, one request in ten fails (all kinds) and each waits a little."""
    emulator.reset_stats()
    emulator.configure(fault_rate=FAULT_RATE, latency_ms=LATENCY_MS, seed=seed)


def stop_faults(emulator: Emulator) -> dict[str, int]:
    """Back to a reliable service; the faults injected meanwhile, by kind."""
    faults: dict[str, int] = emulator.stats()["faults"]
    emulator.configure(fault_rate=0, latency_ms=0)
    return faults


def errors_in(mount: Mount) -> list[str]:
    """Log lines of the mount at ERROR (a retried fault is logged at INFO)."""
    return [line for line in mount.log().splitlines() if " ERROR " in line or "Traceback" in line]


def test_an_album_of_200_photos_copies_out_byte_identical(
    faulty: Emulator, account: Account, tmp_path: Path
) -> None:
    album_uri = account.create("Big")
    originals = {f"p{n:03}.jpg": photo(1000 + n, 40_000 + 997 * n) for n in range(200)}
    for name, data in originals.items():
        account.upload(album_uri, name, data)
    with mounted(faulty, tmp_path / "mount") as mount:
        start_faults(faulty, seed=61)
        try:
            ok("cp", "-r", mount.path / "Big", tmp_path / "out")
        finally:
            faults = stop_faults(faulty)
        assert sum(faults.values()) >= 10, faults
        assert len(faults) >= 4, faults
        copied = {path.name: path.read_bytes() for path in (tmp_path / "out").iterdir()}
        assert sorted(copied) == sorted(originals)
        wrong = [name for name, data in originals.items() if copied[name] != data]
        assert wrong == []
        assert errors_in(mount) == []


def test_50_photos_copied_in_land_exactly_once_with_their_md5(
    faulty: Emulator, account: Account, tmp_path: Path
) -> None:
    album_uri = account.create("Incoming")
    photos = {f"in{n:02}.jpg": photo(2000 + n, 30_000 + 1009 * n) for n in range(50)}
    sources = [write(tmp_path / "src" / name, data) for name, data in photos.items()]
    with mounted(faulty, tmp_path / "mount") as mount:
        os.listdir(mount.path / "Incoming")
        start_faults(faulty, seed=62)
        try:
            ok("cp", *sources, mount.path / "Incoming")
        finally:
            faults = stop_faults(faulty)
        assert sum(faults.values()) >= 5, faults
        assert account.image_count(album_uri) == 50
        images = account.by_name(album_uri)  # each name at most once
        assert {name: image["ArchivedMD5"] for name, image in images.items()} == {
            name: md5(data) for name, data in photos.items()
        }
        assert sorted(os.listdir(mount.path / "Incoming")) == sorted(photos)
        assert errors_in(mount) == []


def test_a_sequence_of_mkdir_mv_and_rm_ends_in_exactly_the_expected_state(
    faulty: Emulator, account: Account, tmp_path: Path
) -> None:
    keep = account.create("Keep")
    account.upload(keep, "a.jpg", photo(3001))
    account.upload(keep, "b.jpg", photo(3002))
    account.upload(keep, "c.jpg", photo(3003))
    account.create("Scratch")
    with mounted(faulty, tmp_path / "mount") as mount:
        root = mount.path
        os.listdir(root)
        start_faults(faulty, seed=63)
        try:
            ok("mkdir", "-p", root / "Trips" / "2026" / "Porto")
            ok("mkdir", root / "Trips" / "2026" / "Braga")
            ok("mkdir", "-p", root / "Later" / "Inner")
            ok("mv", root / "Later", root / "Trips" / "Someday")
            ok("mv", root / "Trips" / "2026" / "Braga", root / "Trips" / "Someday" / "Braga")
            ok("mv", root / "Keep" / "a.jpg", root / "Trips" / "2026" / "Porto" / "a.jpg")
            ok("rm", root / "Keep" / "b.jpg")
            ok("rmdir", root / "Scratch")
            ok("mv", root / "Keep", root / "Kept")
        finally:
            faults = stop_faults(faulty)
        assert sum(faults.values()) >= 2, faults
        assert errors_in(mount) == []

    def tree(uri: str | None = None) -> dict[str, object]:
        out: dict[str, object] = {}
        for child in account.children(uri):
            if child["Type"] == FOLDER:
                out[child["Name"]] = tree(child["Uri"])
            else:
                assert child["Type"] == ALBUM
                album = child["Uris"]["Album"]["Uri"]
                out[child["Name"]] = sorted(i["FileName"] for i in account.images(album))
        return out

    assert tree() == {
        "Trips": {"2026": {"Porto": ["a.jpg"]}, "Someday": {"Inner": [], "Braga": []}},
        "Kept": ["c.jpg"],
    }
