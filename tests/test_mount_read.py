"""Browsing and reading a SmugMug account through a real FUSE mount with real tools.

Each test mounts an emulator account with `smugfs mount`, drives the mount with `find`, `stat`,
`ls`, `md5sum`, `cp`, `head`, `dd` and `cat`, and checks what they show against the emulator's
own API and request counters.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from smugfs.testing.account import ALBUM, Account, create_album, upload
from smugfs.testing.commands import run
from smugfs.testing.emulator import Emulator, running_emulator
from smugfs.testing.library import SLASH, album_uri_by_name, list_all, walk
from smugfs.testing.media import photo
from smugfs.testing.mounts import Mount, mounted

pytestmark = pytest.mark.fuse

PAGE_SIZE = 100


@pytest.fixture(scope="module")
def sample_mount(
    sample_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mount]:
    """The sample library mounted once for the read-only tests of this module."""
    with mounted(sample_emulator, tmp_path_factory.mktemp("sample-mount")) as mount:
        yield mount
        assert mount.problems() == []


def _paths(root: Path, kind: str) -> set[str]:
    listing = run("find", root, "-mindepth", "1", "-type", kind, "-printf", "%P\\n").stdout
    return set(filter(None, listing.split("\n")))


def test_find_shows_the_service_tree(sample_emulator: Emulator, sample_mount: Mount) -> None:
    with sample_emulator.client() as client:
        dirs, files = walk(client)
    assert _paths(sample_mount.path, "d") == dirs
    found_files = _paths(sample_mount.path, "f")
    assert set(files) <= found_files
    extra = found_files - set(files)
    assert {p.split("/")[-1] for p in extra} >= {"IMG_0001.JPG", "waterfall.mp4"}
    assert all(p.startswith(("Camera Dumps/", "Travel/2024/Iceland")) for p in extra)
    assert "About Me" not in _paths(sample_mount.path, "d") | found_files


def test_sizes_and_md5_of_every_image_match_the_service(
    sample_emulator: Emulator, sample_mount: Mount
) -> None:
    with sample_emulator.client() as client:
        _, files = walk(client)
    sizes = run("find", sample_mount.path, "-type", "f", "-printf", "%s\\t%P\\n").stdout
    for line in filter(None, sizes.split("\n")):
        size, path = line.split("\t", 1)
        if path in files:
            assert int(size) == files[path].size, path
    result = subprocess_md5(sample_mount.path)
    for path, remote in files.items():
        assert result[path] == remote.md5, path


def subprocess_md5(root: Path) -> dict[str, str]:
    """md5sum of every file under `root`, by relative path."""
    completed = subprocess.run(
        ["bash", "-c", "find . -type f -print0 | xargs -0 md5sum"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    out = {}
    for line in completed.stdout.splitlines():
        digest, path = line.split("  ", 1)
        out[path.removeprefix("./")] = digest
    return out


def test_times_come_from_the_service_and_stay_stable(
    sample_emulator: Emulator, sample_mount: Mount
) -> None:
    album = sample_mount.path / "Travel" / "2024" / "Lisbon"
    first = os.stat(album / "IMG_0001.jpg")
    second = os.stat(album / "IMG_0001.jpg")
    assert first.st_mtime == second.st_mtime
    assert first.st_uid == os.getuid()
    with sample_emulator.client() as client:
        uri = album_uri_by_name(client, "Lisbon")
        images = list_all(client, uri + "!images", "AlbumImage")
    image = next(i for i in images if i["FileName"] == "IMG_0001.jpg")
    expected = api_time(image["LastUpdated"])
    assert first.st_mtime == expected
    directory = os.stat(album)
    assert directory.st_mtime > 0


def api_time(text: str) -> float:
    """Seconds since the epoch of an API timestamp."""
    return dt.datetime.fromisoformat(text).timestamp()


def test_duplicate_file_names_both_appear_and_keep_their_names(
    sample_emulator: Emulator, sample_mount: Mount
) -> None:
    album = sample_mount.path / "Camera Dumps"
    names = sorted(os.listdir(album))
    assert len(names) == 3
    assert "IMG_0001.JPG" in names
    duplicate = next(n for n in names if n.startswith("IMG_0001 ("))
    with sample_emulator.client() as client:
        images = list_all(
            client, album_uri_by_name(client, "Camera Dumps") + "!images", "AlbumImage"
        )
    by_key = {i["ImageKey"]: i for i in images}
    key = duplicate.removeprefix("IMG_0001 (").removesuffix(").JPG")
    assert by_key[key]["FileName"] == "IMG_0001.JPG"
    digest = hashlib.md5((album / duplicate).read_bytes()).hexdigest()
    assert digest == by_key[key]["ArchivedMD5"]
    plain = hashlib.md5((album / "IMG_0001.JPG").read_bytes()).hexdigest()
    assert plain != digest
    assert sorted(os.listdir(album)) == names


def test_a_name_with_a_slash_is_escaped(sample_mount: Mount) -> None:
    album = sample_mount.path / f"5{SLASH}6 Lax vs Scarsdale"
    assert album.is_dir()
    assert len(os.listdir(album)) == 4


def test_an_empty_album_is_an_empty_directory(sample_mount: Mount) -> None:
    album = sample_mount.path / "Empty Album"
    assert album.is_dir()
    assert os.listdir(album) == []


def test_a_missing_name_is_enoent(sample_mount: Mount) -> None:
    result = run("ls", sample_mount.path / "No Such Album", check=False)
    assert result.returncode != 0
    assert "No such file or directory" in result.stderr
    result = run("stat", sample_mount.path / "Empty Album" / "nothing.jpg", check=False)
    assert "No such file or directory" in result.stderr


def test_cp_r_copies_an_album_out_exactly(
    sample_emulator: Emulator, sample_mount: Mount, tmp_path: Path
) -> None:
    run("cp", "-r", sample_mount.path / "Travel" / "2025" / "Kyoto", tmp_path)
    copied = sorted((tmp_path / "Kyoto").iterdir())
    assert len(copied) == 30
    with sample_emulator.client() as client:
        images = list_all(client, album_uri_by_name(client, "Kyoto") + "!images", "AlbumImage")
    expected = {i["FileName"]: i["ArchivedMD5"] for i in images}
    for path in copied:
        assert hashlib.md5(path.read_bytes()).hexdigest() == expected[path.name]


def test_head_and_dd_read_exact_ranges(sample_emulator: Emulator, sample_mount: Mount) -> None:
    with sample_emulator.client() as client:
        images = list_all(
            client, album_uri_by_name(client, "Large Originals") + "!images", "AlbumImage"
        )
        image = next(i for i in images if i["FileName"] == "large-2.jpg")
        original = client.get(image["ArchivedUri"]).content
    path = sample_mount.path / "Large Originals" / "large-2.jpg"
    head = run_bytes(["head", "-c", "1000", str(path)])
    assert head == original[:1000]
    for skip in (0, 3, 1000, len(original) // 4096 - 2):
        chunk = run_bytes(["dd", f"if={path}", "bs=4096", f"skip={skip}", "count=3", "status=none"])
        assert chunk == original[skip * 4096 : (skip + 3) * 4096], skip
    tail = run_bytes(["tail", "-c", "777", str(path)])
    assert tail == original[-777:]


def run_bytes(command: list[str]) -> bytes:
    """Run a tool and return its standard output as bytes."""
    return subprocess.run(command, capture_output=True, check=True, timeout=120).stdout


def test_a_video_is_its_largest_rendition(sample_emulator: Emulator, sample_mount: Mount) -> None:
    path = sample_mount.path / "Travel" / "2024" / "Iceland & the Ring Road" / "waterfall.mp4"
    with sample_emulator.client() as client:
        images = list_all(
            client,
            album_uri_by_name(client, "Iceland & the Ring Road") + "!images",
            "AlbumImage",
        )
        video = next(i for i in images if i["FileName"] == "waterfall.mp4")
        largest = client.get(video["Uris"]["LargestVideo"]["Uri"]).json()["Response"][
            "LargestVideo"
        ]
    assert path.stat().st_size == largest["Size"]
    assert hashlib.md5(path.read_bytes()).hexdigest() == largest["MD5"]


def test_ls_l_of_a_1200_image_album_costs_one_request_per_page(
    sample_emulator: Emulator, tmp_path: Path
) -> None:
    with Account(sample_emulator) as account:
        root = account.root_uri
        archive = account.node("Archive")["Uri"]
        scans = account.album_uri("Archive", "Scans 1990-2010")
        in_root = {
            node["Uris"]["Album"]["Uri"] for node in account.children() if node["Type"] == ALBUM
        }
    # Counted from before the mount and by directory, so a root read by anyone else first (a
    # desktop's indexer looking into each new mount) is counted, and what it lists ahead of
    # time (never the albums of a subfolder) does not count as this listing's.
    sample_emulator.reset_stats()
    with mounted(sample_emulator, tmp_path) as mount:
        listing = run("ls", "-l", mount.path / "Archive" / "Scans 1990-2010").stdout
        stats = sample_emulator.stats()
    assert len(listing.strip().splitlines()) == 1200 + 1  # "total" line
    asked = stats["by_path"]
    assert asked.get(f"GET {scans}!images", 0) == math.ceil(1200 / PAGE_SIZE)
    # One more, alongside the first page: the album's ImagesLastUpdated, which lets the next
    # mount (or this one after the TTL) reuse the listing.
    assert asked.get(f"GET {scans}", 0) == 1
    # The root folder and Archive, listed (once) to look the album up.
    assert asked.get(f"GET {root}!children", 0) == 1
    assert asked.get(f"GET {archive}!children", 0) == 1
    # Looked up, not listed: no other album is listed ahead of time (but those in the root
    # when someone read the root), and nothing is read.
    albums = {path.split()[1].removesuffix("!images") for path in asked if path.endswith("!images")}
    assert albums - in_root == {scans}, asked
    assert stats["media_requests"] == 0


def test_a_second_read_is_served_from_the_cache_even_after_a_remount(
    sample_emulator: Emulator, tmp_path: Path
) -> None:
    relative = Path("Large Originals") / "large-1.jpg"
    with mounted(sample_emulator, tmp_path) as mount:
        first = (mount.path / relative).read_bytes()
    sample_emulator.reset_stats()
    with mounted(sample_emulator, tmp_path) as mount:
        second = (mount.path / relative).read_bytes()
        stats = sample_emulator.stats()
    assert first == second
    assert stats["media_requests"] == 0
    assert stats["media_bytes"] == 0


def test_reading_the_start_of_a_photo_fetches_about_that_much(
    sample_emulator: Emulator, tmp_path: Path
) -> None:
    with mounted(sample_emulator, tmp_path) as mount:
        path = mount.path / "Large Originals" / "large-3.jpg"
        size = path.stat().st_size
        sample_emulator.reset_stats()
        with open(path, "rb") as photo:
            assert len(photo.read(64 * 1024)) == 64 * 1024
        stats = sample_emulator.stats()
    assert stats["media_bytes"] <= 256 * 1024 < size


def _album(emulator: Emulator, name: str) -> str:
    with emulator.client() as client:
        return create_album(client, name)


def test_changes_on_the_service_show_once_the_ttl_has_passed(
    emulator: Emulator, tmp_path: Path
) -> None:
    album_uri = _album(emulator, "Changing")
    kept = upload(emulator, album_uri, "kept.jpg", photo(1, 300_000))
    gone = upload(emulator, album_uri, "gone.jpg", photo(2, 300_000))
    replaced = upload(emulator, album_uri, "replaced.jpg", photo(3, 300_000))
    options = ["listing_ttl=1", "attr_timeout=1", "entry_timeout=1", "negative_timeout=1"]
    with mounted(emulator, tmp_path, options=options) as mount:
        album = mount.path / "Changing"
        assert sorted(os.listdir(album)) == ["gone.jpg", "kept.jpg", "replaced.jpg"]
        with emulator.client() as client:
            client.delete(gone["AlbumImageUri"]).raise_for_status()
        new_bytes = photo(4, 200_000)
        upload(emulator, album_uri, "replaced.jpg", new_bytes, X_Smug_ImageUri=replaced["ImageUri"])
        # Until the listing is refreshed the deleted photo is still listed, but reading it
        # answers ENOENT rather than old bytes.
        result = run("cat", album / "gone.jpg", check=False)
        assert result.returncode != 0
        assert "No such file or directory" in result.stderr
        _album(emulator, "New Album")
        time.sleep(2.5)
        assert sorted(os.listdir(album)) == ["kept.jpg", "replaced.jpg"]
        assert (album / "replaced.jpg").stat().st_size == len(new_bytes)
        assert (album / "replaced.jpg").read_bytes() == new_bytes
        assert (album / "kept.jpg").read_bytes() == photo(1, 300_000)
        assert "New Album" in os.listdir(mount.path)
        assert kept["ImageUri"]


@pytest.mark.parametrize("flag", ["--no-range"])
def test_reads_work_when_the_media_server_ignores_range(flag: str, tmp_path: Path) -> None:
    with running_emulator(tmp_path / "emulator", flag) as emulator:
        album_uri = _album(emulator, "Whole")
        photos = {f"p{n}.jpg": photo(10 + n, 500_000) for n in range(3)}
        for name, data in photos.items():
            upload(emulator, album_uri, name, data)
        with mounted(emulator, tmp_path) as mount:
            for name, data in photos.items():
                assert (mount.path / "Whole" / name).read_bytes() == data
            assert mount.problems() == []


@pytest.mark.log_expected("do not match the size")
def test_bytes_that_fail_their_md5_are_eio_never_wrong_bytes(tmp_path: Path) -> None:
    with running_emulator(tmp_path / "emulator", "--no-range") as emulator:
        album_uri = _album(emulator, "Damaged")
        data = photo(42, 400_000)
        upload(emulator, album_uri, "bad.jpg", data)
        blob = emulator.data_dir / "blobs" / hashlib.md5(data).hexdigest()
        damaged = bytearray(blob.read_bytes())
        damaged[1000] ^= 0xFF
        blob.write_bytes(bytes(damaged))
        with mounted(emulator, tmp_path) as mount:
            result = run("cat", mount.path / "Damaged" / "bad.jpg", check=False)
            assert result.returncode != 0
            assert "Input/output error" in result.stderr
            assert result.stdout == ""


@pytest.mark.log_expected("cached bytes do not match the service's MD5")
def test_a_ranged_file_that_fails_its_md5_is_dropped_from_the_cache(
    emulator: Emulator, tmp_path: Path
) -> None:
    album_uri = _album(emulator, "Checked")
    data = photo(43, 300_000)
    upload(emulator, album_uri, "checked.jpg", data)
    blob = emulator.data_dir / "blobs" / hashlib.md5(data).hexdigest()
    damaged = bytearray(data)
    damaged[5000] ^= 0xFF
    blob.write_bytes(bytes(damaged))
    with mounted(emulator, tmp_path) as mount:
        path = mount.path / "Checked" / "checked.jpg"
        path.read_bytes()
        deadline = time.monotonic() + 10
        while "do not match the service's MD5" not in mount.log():
            assert time.monotonic() < deadline, mount.log()
            time.sleep(0.1)
        blob.write_bytes(data)
        emulator.reset_stats()
        with open(path, "rb") as again:
            # The kernel may still hold pages; a direct read past them must refetch.
            os.posix_fadvise(again.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        run("dd", f"if={path}", "of=/dev/null", "iflag=direct", "bs=128k", "status=none")
        assert emulator.stats()["media_requests"] > 0
