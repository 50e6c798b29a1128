"""Copying albums out of a real mount, as a backup does: `cp -r`, `rsync -a` and `tar -c`
through `smugfs mount`, checked byte for byte against what was uploaded and, through the
emulator's counters, for how many requests and bytes they cost; read-ahead across files that
stops for readers that seek or read only heads, and that leaves only right bytes in the cache
when it is cut short by an unmount, faults or a deleted photo.

The album's photos were uploaded in an order that is not the order of their names, so the
listing order (tar's), the inode order (cp's) and the name order (rsync's) differ.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smugfs.testing.account import Account
from smugfs.testing.commands import run
from smugfs.testing.emulator import Emulator
from smugfs.testing.media import photo
from smugfs.testing.mounts import Mount, mounted
from smugfs.testing.waits import wait_for

pytestmark = pytest.mark.fuse

KIB = 1024
ALBUM = "Backup"
PHOTOS = 24
HEAD = 64 * KIB
BLOCK = 128 * KIB


Library = dict[str, bytes]


def _upload_album(emulator: Emulator, album: str, count: int, seed: int) -> Library:
    """An album of `count` photos of 300-900 KiB uploaded in shuffled name order; name ->
    bytes."""
    names = [f"photo-{n:03d}.jpg" for n in range(count)]
    random.Random(seed).shuffle(names)
    sizes = random.Random(seed + 1)
    account = Account(emulator)
    try:
        album_uri = account.create(album)
        photos = {}
        for n, name in enumerate(names):
            photos[name] = photo(seed * 1000 + n, sizes.randint(300 * KIB, 900 * KIB))
            account.upload(album_uri, name, photos[name])
    finally:
        account.close()
    return photos


@pytest.fixture(scope="module")
def library(module_emulator: Emulator) -> tuple[Emulator, Library]:
    """The module emulator, holding the album of photos every test copies out."""
    return module_emulator, _upload_album(module_emulator, ALBUM, PHOTOS, 1)


def _md5s(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in directory.iterdir()}


def _expected(photos: Library) -> dict[str, str]:
    return {name: hashlib.md5(data).hexdigest() for name, data in photos.items()}


def _copy(tool: str, source: Path, target: Path) -> None:
    """Copy directory `source` to `target` (which must not exist) with a real tool."""
    if tool == "cp":
        run("cp", "-r", source, target)
    elif tool == "rsync":
        run("rsync", "-a", f"{source}/", f"{target}/")
    else:
        target.mkdir()
        archive = subprocess.run(
            ["tar", "-c", "-f", "-", "-C", str(source), "."],
            capture_output=True,
            check=True,
            timeout=120,
        ).stdout
        subprocess.run(
            ["tar", "-x", "-f", "-", "-C", str(target)], input=archive, check=True, timeout=120
        )


def _peak_mib(mount: Mount) -> float:
    """The mount process's peak resident memory (VmHWM)."""
    status = Path(f"/proc/{mount.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


@pytest.mark.parametrize("tool", ["cp", "rsync", "tar"])
def test_a_copied_album_is_byte_identical_at_about_one_request_a_photo(
    library: tuple[Emulator, Library], configurable_emulator: Emulator, tmp_path: Path, tool: str
) -> None:
    photos = library[1]
    with mounted(configurable_emulator, tmp_path / "m") as mount:
        source = mount.path / ALBUM
        assert sorted(p.name for p in source.iterdir()) == sorted(photos)
        configurable_emulator.reset_stats()
        _copy(tool, source, tmp_path / "copy")
        stats = configurable_emulator.stats()
        assert mount.problems() == []
        peak = _peak_mib(mount)
    assert _md5s(tmp_path / "copy") == _expected(photos)
    total = sum(len(data) for data in photos.values())
    # Every byte once, nothing twice; a request a photo, but for the first (read a block or
    # two at a time until its reading is clearly sequential).
    assert stats["media_bytes"] == total
    assert stats["media_requests"] <= PHOTOS + 5
    assert peak < 250


@pytest.mark.parametrize("tool", ["cat", "cp", "dd"])
def test_a_photo_read_alone_right_after_mounting_costs_one_request(
    library: tuple[Emulator, Library], configurable_emulator: Emulator, tmp_path: Path, tool: str
) -> None:
    photos = library[1]
    name = sorted(photos)[len(tool)]
    copy = tmp_path / name
    with mounted(configurable_emulator, tmp_path / "m") as mount:
        path = mount.path / ALBUM / name
        assert path.stat().st_size == len(photos[name])
        # What the mount sets just after it starts serving (a reader opening a file a few
        # milliseconds earlier gets the kernel's 128 KiB reads, a GET a block until the
        # reading is clearly sequential).
        device = os.stat(mount.path).st_dev
        setting = Path(f"/sys/class/bdi/{os.major(device)}:{os.minor(device)}/read_ahead_kb")
        wait_for(lambda: setting.read_text().strip() == "1024", "the mount's read-ahead")
        configurable_emulator.reset_stats()
        if tool == "cat":
            with open(copy, "wb") as out:
                subprocess.run(["cat", path], stdout=out, check=True, timeout=60)
        elif tool == "cp":
            run("cp", path, copy)
        else:
            run("dd", f"if={path}", f"of={copy}", "bs=1M", "status=none")
        stats = configurable_emulator.stats()
        assert mount.problems() == []
    assert copy.read_bytes() == photos[name]
    assert stats["media_requests"] == 1
    assert stats["media_bytes"] == len(photos[name])


def test_photos_read_one_after_another_share_a_few_connections(
    library: tuple[Emulator, Library], configurable_emulator: Emulator, tmp_path: Path
) -> None:
    """A real service costs a TCP and TLS handshake for every new connection: a series of
    photos read whole must not open one each."""
    photos = library[1]
    names = sorted(photos)[:20]
    with mounted(configurable_emulator, tmp_path / "m") as mount:
        album = mount.path / ALBUM
        assert sorted(p.name for p in album.iterdir()) == sorted(photos)
        configurable_emulator.reset_stats()
        copies = {
            name: subprocess.run(
                ["cat", album / name], capture_output=True, check=True, timeout=60
            ).stdout
            for name in names
        }
        stats = configurable_emulator.stats()
        assert mount.problems() == []
    assert copies == {name: photos[name] for name in names}
    assert stats["media_requests"] >= len(names)
    assert stats["connections"] <= len(names) // 5


def test_a_second_rsync_copies_nothing(
    library: tuple[Emulator, Library], configurable_emulator: Emulator, tmp_path: Path
) -> None:
    target = tmp_path / "copy"
    with mounted(configurable_emulator, tmp_path / "m") as mount:
        run("rsync", "-a", f"{mount.path / ALBUM}/", f"{target}/")
        configurable_emulator.reset_stats()
        again = run("rsync", "-a", "--stats", f"{mount.path / ALBUM}/", f"{target}/").stdout
        stats = configurable_emulator.stats()
    assert "Number of regular files transferred: 0" in again
    assert stats["media_requests"] == 0
    assert _md5s(target) == _expected(library[1])


READER = """
import os, sys
directory, mode, whole_first = sys.argv[1], sys.argv[2], int(sys.argv[3])
for n, name in enumerate(sorted(os.listdir(directory))):
    with open(os.path.join(directory, name), "rb", buffering=0) as f:
        if n < whole_first:
            while f.read(1 << 20):
                pass
            continue
        assert len(f.read(65536)) == 65536
        if mode == "seek":
            f.seek(-65536, os.SEEK_END)
            f.read(65536)
"""


def _read_as(directory: Path, mode: str, whole_first: int) -> None:
    """One process reads the first `whole_first` files (name order) whole, then the rest as
    `mode` says: `heads` (the first 64 KiB) or `seek` (the first and the last 64 KiB)."""
    subprocess.run(
        [sys.executable, "-c", READER, str(directory), mode, str(whole_first)],
        check=True,
        timeout=120,
    )


@pytest.mark.parametrize("mode", ["heads", "seek"])
def test_read_ahead_stops_for_a_reader_that_seeks_or_reads_only_heads(
    library: tuple[Emulator, Library], configurable_emulator: Emulator, tmp_path: Path, mode: str
) -> None:
    photos = library[1]
    sizes = [len(photos[name]) for name in sorted(photos)]
    ahead = 3
    with mounted(
        configurable_emulator, tmp_path / "m", options=[f"readahead_files={ahead}"]
    ) as mount:
        source = mount.path / ALBUM
        sorted(p.stat().st_size for p in source.iterdir())
        configurable_emulator.reset_stats()
        # Two whole files start a sweep (the next ones are fetched ahead); then the reading
        # changes and the sweep must stop.
        _read_as(source, mode, 2)
        time.sleep(0.5)  # anything still fetched ahead would land now
        fetched = configurable_emulator.stats()["media_bytes"]
        assert mount.problems() == []
    # At most: the two files read whole, the files fetched ahead before the pattern broke, and
    # for every other photo the blocks holding what was read.
    per_file = (2 if mode == "seek" else 1) * BLOCK + BLOCK
    bound = sum(sizes[:2]) + ahead * max(sizes) + (PHOTOS - 2) * per_file
    assert fetched <= bound < sum(sizes)


def test_a_reader_of_heads_fetches_about_what_it_reads(
    library: tuple[Emulator, Library], configurable_emulator: Emulator, tmp_path: Path
) -> None:
    with mounted(configurable_emulator, tmp_path / "m") as mount:
        source = mount.path / ALBUM
        sorted(p.stat().st_size for p in source.iterdir())
        configurable_emulator.reset_stats()
        _read_as(source, "heads", 0)
        fetched = configurable_emulator.stats()["media_bytes"]
    assert fetched <= 2 * HEAD * PHOTOS


def _cache_holds_only_right_bytes(
    emulator: Emulator, workdir: Path, photos: Library, copy: Path
) -> int:
    """Mount again on the same cache, copy the album and compare; the bytes fetched."""
    with mounted(emulator, workdir) as mount:
        emulator.reset_stats()
        run("cp", "-r", mount.path / ALBUM, copy)
        fetched = int(emulator.stats()["media_bytes"])
        # Read once more, now all from the cache.
        assert _md5s(mount.path / ALBUM) == _expected(photos)
        assert mount.problems() == []
    assert _md5s(copy) == _expected(photos)
    return fetched


def test_read_ahead_cut_short_by_an_unmount_leaves_only_right_bytes(
    library: tuple[Emulator, Library], configurable_emulator: Emulator, tmp_path: Path
) -> None:
    photos = library[1]
    workdir = tmp_path / "m"
    # 16 Mbit/s a connection: the album takes seconds, so the unmount comes mid-sweep.
    configurable_emulator.configure(bandwidth_mbps=16)
    with mounted(configurable_emulator, workdir) as mount:
        target = tmp_path / "partial"
        copying = subprocess.Popen(["cp", "-r", str(mount.path / ALBUM), str(target)])
        try:
            deadline = time.monotonic() + 60
            while len(list(target.glob("*"))) < 4 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            copying.kill()
            copying.wait(timeout=30)
        assert len(list(target.glob("*"))) >= 4
    configurable_emulator.configure(bandwidth_mbps=0)
    fetched = _cache_holds_only_right_bytes(
        configurable_emulator, workdir, photos, tmp_path / "copy"
    )
    # What had landed before the unmount was kept and used.
    assert fetched < sum(len(data) for data in photos.values())


def test_read_ahead_through_faults_leaves_only_right_bytes(
    library: tuple[Emulator, Library], configurable_emulator: Emulator, tmp_path: Path
) -> None:
    photos = library[1]
    workdir = tmp_path / "m"
    configurable_emulator.configure(fault_rate=0.2, fault_kinds=["truncate", "drop", "503"], seed=3)
    with mounted(configurable_emulator, workdir) as mount:
        run("cp", "-r", mount.path / ALBUM, tmp_path / "faulty", check=False)
        faults = configurable_emulator.stats()["faults"]
    configurable_emulator.configure(fault_rate=0)
    assert sum(faults.values()) > 0
    _cache_holds_only_right_bytes(configurable_emulator, workdir, photos, tmp_path / "copy")


def test_a_photo_deleted_during_read_ahead_leaves_only_right_bytes(
    library: tuple[Emulator, Library], configurable_emulator: Emulator, tmp_path: Path
) -> None:
    photos = _upload_album(configurable_emulator, "Shrinking", 12, 2)
    account = Account(configurable_emulator)
    try:
        listed = account.by_name(account.album_uri("Shrinking"))
    finally:
        account.close()
    gone = sorted(photos)[6]
    with mounted(configurable_emulator, tmp_path / "m") as mount:
        album = mount.path / "Shrinking"
        assert sorted(p.name for p in album.iterdir()) == sorted(photos)
        with configurable_emulator.client() as client:
            client.delete(listed[gone]["Uri"]).raise_for_status()
        copy = tmp_path / "copy"
        copy.mkdir()
        # rsync copies in name order, so the sweep fetches the deleted photo ahead.
        result = run("rsync", "-a", f"{album}/", f"{copy}/", check=False)
        assert result.returncode != 0
        assert run("cat", album / gone, check=False).returncode != 0
        kept = {name: data for name, data in photos.items() if name != gone}
        for name in kept:
            assert hashlib.md5((album / name).read_bytes()).hexdigest() == _expected(kept)[name]
    assert {n: m for n, m in _md5s(copy).items()} == _expected(kept)
