"""File managers' thumbnails made by the mount from the service's renditions.

Each test mounts an emulator with `smugfs mount` (thumbnails on, the personal cache in the
test's own `$XDG_CACHE_HOME`), opens albums with `ls` as a file manager's directory read does,
and checks the cache a file manager would read: a thumbnail for every photo and video, under
the name of its `file://` URI at the mountpoint, for the `st_mtime` and size the mount shows,
looking like the photo; and the emulator's own counters: renditions fetched, no originals.
"""

from __future__ import annotations

import io
import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat

from smugfs.emulator.sample import CAMERA_ALBUM, CAMERA_ALBUM_SIZE
from smugfs.testing.account import Account
from smugfs.testing.commands import run
from smugfs.testing.emulator import Emulator
from smugfs.testing.library import album_uri_by_name, list_all
from smugfs.testing.media import jpeg
from smugfs.testing.mounts import Mount, mounted
from smugfs.testing.waits import wait_for
from smugfs.thumbnails import freedesktop
from smugfs.thumbnails.flavours import DEFAULT_FLAVOURS, FLAVOURS

CAMERA_PATH = Path("Travel") / "2025" / CAMERA_ALBUM
ON = "thumbnails=on"


@pytest.fixture
def sample_thumbnail_mount(sample_emulator: Emulator, tmp_path: Path) -> Iterator[Mount]:
    """The sample library freshly mounted with thumbnails on and an empty thumbnail cache."""
    with mounted(sample_emulator, tmp_path, options=[ON]) as mount:
        yield mount
        assert mount.problems() == []


def thumbnail_of(mount: Mount, path: Path, flavour: str) -> Path:
    """Where a file manager looks for the thumbnail of `path` (a file in the mount)."""
    return freedesktop.thumbnail_path(mount.thumbnails, flavour, freedesktop.file_uri(str(path)))


def check_thumbnail(mount: Mount, path: Path, flavour: str, mimetype: str) -> Image.Image:
    """The thumbnail of `path` is one a file manager accepts; returns its picture."""
    thumbnail = thumbnail_of(mount, path, flavour)
    assert thumbnail.exists(), f"no {flavour} thumbnail of {path}"
    facts = os.stat(path)
    picture = Image.open(thumbnail)
    assert picture.format == "PNG"
    assert picture.mode == "RGBA"
    assert max(picture.size) <= FLAVOURS[flavour]
    keys = picture.text  # type: ignore[attr-defined]
    assert keys["Thumb::URI"] == freedesktop.file_uri(str(path))
    assert keys["Thumb::MTime"] == str(int(facts.st_mtime))
    assert keys["Thumb::Size"] == str(facts.st_size)
    assert keys["Thumb::Mimetype"] == mimetype
    return picture


def looks_alike(thumbnail: Image.Image, original: bytes) -> float:
    """The mean per-channel difference between a thumbnail and its original scaled to it."""
    with Image.open(io.BytesIO(original)) as source:
        expected = source.convert("RGB").resize(thumbnail.size, Image.Resampling.LANCZOS)
    difference = ImageStat.Stat(ImageChops.difference(thumbnail.convert("RGB"), expected)).mean
    return max(difference)


def images_of(emulator: Emulator, album: str) -> list[dict[str, Any]]:
    """An album's images as the emulator lists them."""
    with emulator.client() as client:
        return list_all(client, album_uri_by_name(client, album) + "!images", "AlbumImage")


def originals_by_name(emulator: Emulator, album: str) -> dict[str, bytes]:
    """The original bytes of an album's photos, fetched straight from the emulator (which
    counts them: take its stats first)."""
    with emulator.client() as client:
        return {
            i["FileName"]: client.get(i["ArchivedUri"]).content for i in images_of(emulator, album)
        }


def test_an_album_opened_first_after_mounting_has_every_thumbnail_when_its_listing_returns(
    sample_emulator: Emulator, sample_thumbnail_mount: Mount
) -> None:
    mount = sample_thumbnail_mount
    sample_emulator.reset_stats()
    album = mount.path / CAMERA_PATH
    names = run("ls", album).stdout.split()
    assert len(names) == CAMERA_ALBUM_SIZE
    # Right after the directory read, before anything else asks: all of them, both sizes.
    for name in names:
        for flavour in DEFAULT_FLAVOURS:
            assert thumbnail_of(mount, album / name, flavour).exists(), (name, flavour)
    stats = sample_emulator.stats()
    assert stats["original_bytes"] == 0
    assert stats["rendition_bytes"] > 0
    originals = originals_by_name(sample_emulator, CAMERA_ALBUM)
    album_bytes = sum(len(data) for data in originals.values())
    # Two renditions a photo, a few percent of the originals' bytes.
    assert stats["rendition_bytes"] < album_bytes * 0.05
    for name in names:
        for flavour in DEFAULT_FLAVOURS:
            picture = check_thumbnail(mount, album / name, flavour, "image/jpeg")
            assert max(picture.size) == FLAVOURS[flavour]
            assert looks_alike(picture, originals[name]) < 10, (name, flavour)
    status = next(line for line in mount.status() if line.startswith("thumbnails"))
    assert f"{2 * CAMERA_ALBUM_SIZE} written for {CAMERA_ALBUM_SIZE} photos" in status
    assert "wrote 24 (normal, large)" in mount.log()


def test_albums_of_a_folder_just_opened_get_thumbnails_before_they_are_opened(
    sample_emulator: Emulator, sample_thumbnail_mount: Mount
) -> None:
    mount = sample_thumbnail_mount
    sample_emulator.reset_stats()
    run("ls", mount.path / CAMERA_PATH.parent)
    album = mount.path / CAMERA_PATH
    expected = [album / i["FileName"] for i in images_of(sample_emulator, CAMERA_ALBUM)]
    wait_for(
        lambda: all(thumbnail_of(mount, p, "large").exists() for p in expected),
        "the thumbnails of an album not opened yet",
        timeout=60,
    )
    assert sample_emulator.stats()["original_bytes"] == 0
    for path in expected:
        check_thumbnail(mount, path, "normal", "image/jpeg")


def test_a_video_gets_its_poster_thumbnail_and_a_png_photo_its_own(
    sample_emulator: Emulator, sample_thumbnail_mount: Mount
) -> None:
    mount = sample_thumbnail_mount
    album = mount.path / "Travel" / "2024" / "Iceland & the Ring Road"
    run("ls", album)
    check_thumbnail(mount, album / "waterfall.mp4", "normal", "video/mp4")
    check_thumbnail(mount, album / "panorama.png", "large", "image/png")
    # A 320 x 240 photo: its largest rendition is its own size, scaled to the flavour.
    small = check_thumbnail(mount, album / "DSC_0001.jpg", "large", "image/jpeg")
    assert small.size == (256, 192)


def test_a_replaced_photo_gets_a_new_thumbnail(
    emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    album_uri = account.create("Beach")
    for n in (1, 2):
        account.upload(album_uri, f"p{n}.jpg", jpeg(n, (1200, 800)))
    with mounted(emulator, tmp_path, options=[ON, "listing_ttl=1"]) as mount:
        album = mount.path / "Beach"
        run("ls", album)
        before = check_thumbnail(mount, album / "p1.jpg", "normal", "image/jpeg").convert("RGB")
        image = account.by_name(album_uri)["p1.jpg"]
        replacement = jpeg(7, (1200, 800))
        account.upload(
            album_uri, "p1.jpg", replacement, X_Smug_ImageUri=image["Uris"]["Image"]["Uri"]
        )
        thumbnail = thumbnail_of(mount, album / "p1.jpg", "normal")

        def replaced() -> bool:
            # Opening the album again, as a file manager reloading it does.
            run("ls", album)
            return looks_alike(Image.open(thumbnail), replacement) < 10

        # Also when the replacement lands within the second of the upload (the same
        # `st_mtime`): the thumbnail is of the new version.
        wait_for(replaced, "a thumbnail of the new version", timeout=60)
        after = check_thumbnail(mount, album / "p1.jpg", "normal", "image/jpeg")
        assert looks_alike(after, replacement) < 10
        assert looks_alike(before, replacement) > 10
        assert mount.problems() == []


def test_thumbnails_off_writes_nothing(sample_emulator: Emulator, tmp_path: Path) -> None:
    with mounted(sample_emulator, tmp_path, options=["thumbnails=off"]) as mount:
        sample_emulator.reset_stats()
        run("ls", mount.path / CAMERA_PATH)
        run("ls", mount.path / CAMERA_PATH.parent)
        assert not mount.thumbnails.exists()
        assert sample_emulator.stats()["rendition_bytes"] == 0
        assert "thumbnails   off" in mount.status()


def photos_below(emulator: Emulator, mount: Mount, folder: Path) -> list[Path]:
    """Every file below a folder of the mount (walked by find, as a person would)."""
    listing = run("find", mount.path / folder, "-type", "f").stdout.split("\n")
    return [Path(line) for line in listing if line]


def test_the_thumbnails_command_fills_a_folder_with_progress_and_a_summary(
    sample_emulator: Emulator, sample_thumbnail_mount: Mount
) -> None:
    mount = sample_thumbnail_mount
    sample_emulator.reset_stats()
    command = [sys.executable, "-m", "smugfs", "thumbnails", str(mount.path / "Travel")]
    # On a terminal: the progress bar.
    # (`script` gives it a terminal; one of no width would hide the bar.)
    shell = f"stty cols 120 rows 40; {shlex.join(command)}"
    on_terminal = run("script", "-qec", shell, "/dev/null", timeout=300)
    assert "photo/s" in on_terminal.stdout, on_terminal.stdout
    summary = on_terminal.stdout.strip().splitlines()[-1]
    assert "thumbnails: 80 photos in 4 albums" in summary, summary
    assert "0 failed" in summary
    files = photos_below(sample_emulator, mount, Path("Travel"))
    assert len(files) == 80
    for path in files:
        for flavour in DEFAULT_FLAVOURS:
            assert thumbnail_of(mount, path, flavour).exists(), (path, flavour)
    assert sample_emulator.stats()["original_bytes"] == 0
    # Again, not on a terminal: plain lines; nothing left to make.
    again = run(*command, timeout=300)
    assert "80 of 80 photos" in again.stdout
    assert "0 thumbnails written" in again.stdout.strip().splitlines()[-1]


def test_the_thumbnails_command_refuses_a_path_outside_any_mount(tmp_path: Path) -> None:
    refused = run(sys.executable, "-m", "smugfs", "thumbnails", str(tmp_path), check=False)
    assert refused.returncode == 1
    assert "not in a running smugfs mount" in refused.stderr
