"""Real file managers from Debian (pcmanfm, Thunar with tumbler, Nautilus) on a virtual screen,
browsing a mount of the emulator: the thumbnails they show come from SmugMug's renditions.

Each file manager opens an album of a dozen camera-sized photos (3000 x 2000, about 3 MB each)
twice: straight away, by its path, as the first thing it asks the mount for; and through its
folder, opened first, then the album. Every photo must then have the thumbnails the file
manager looks for, made by the mount (not by the file manager), looking like the photo, and the
originals the emulator sent must stay under 10% of the album's bytes (without the mount's
thumbnails each of these file managers reads all of them). A screenshot of every case is saved
in the test's directory (and in `$SMUGFS_TEST_OUTPUT` when set) for a person to look at. One
emulator, one mount and one screen serve all cases; each file manager is stopped when its case
ends.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from smugfs.emulator import sample_media
from smugfs.testing.account import Account
from smugfs.testing.desktop import Desktop, desktop, missing_programs
from smugfs.testing.emulator import Emulator
from smugfs.testing.mounts import Mount, mounted
from smugfs.thumbnails import freedesktop
from smugfs.thumbnails.flavours import DEFAULT_FLAVOURS

PHOTOS = 12
# What each file manager is started with to show a directory (a second start of the same
# program opens another window of the running one).
COMMANDS = {
    "pcmanfm": ["pcmanfm"],
    "thunar": ["thunar"],
    "nautilus": ["nautilus", "--new-window"],
}
FILE_MANAGER_TIMEOUT = 90.0
QUIET = 3.0

pytestmark = pytest.mark.skipif(
    bool(missing_programs(*COMMANDS)),
    reason=f"file managers not installed (scripts/_setup installs them): "
    f"{missing_programs(*COMMANDS)}",
)


@pytest.fixture(scope="module")
def library(module_emulator: Emulator) -> tuple[Emulator, dict[str, bytes]]:
    """The module emulator with the camera-sized photos, collected into one album per case
    (each in a folder of its own, so opening one case's folder prepares no other case's album);
    and the photos' bytes by file name."""
    with Account(module_emulator) as account:
        source = account.create("Camera")
        photos: dict[str, bytes] = {}
        for n in range(1, PHOTOS + 1):
            name = f"DSC{n:05d}.JPG"
            photos[name] = sample_media.make_camera_jpeg(
                n,
                width=3000,
                height=2000,
                taken=dt.datetime(2025, 6, 21, 5, 4 * n),
                title=f"Harbour {n:02d}",
            )
            account.upload(source, name, photos[name])
        uris = ",".join(i["Uri"] for i in account.images(source))
        for program in COMMANDS:
            for case in ("direct", "parent"):
                folder = account.create(f"{program}-{case}", "Folder")
                album = account.create("Harbour", parent_uri=folder)
                reply = account.http.post(f"{album}!collectimages", json={"CollectUris": uris})
                assert reply.status_code == 200, reply.text
    return module_emulator, photos


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the mount, the screen's home and the screenshots of this module live."""
    return tmp_path_factory.mktemp("file-managers")


@pytest.fixture(scope="module")
def fm_mount(library: tuple[Emulator, dict[str, bytes]], workdir: Path) -> Iterator[Mount]:
    """One mount with thumbnails on, writing into the screen user's cache."""
    emulator, _ = library
    env = {"XDG_CACHE_HOME": str(workdir / "home" / ".cache")}
    with mounted(emulator, workdir / "mount", options=["thumbnails=on"], env=env) as mount:
        yield mount
        assert mount.problems() == []


@pytest.fixture(scope="module")
def screen(workdir: Path) -> Iterator[Desktop]:
    """One virtual screen and session bus for every file manager of this module."""
    home = workdir / "home"
    with desktop(home, home / ".cache", workdir / "logs") as running:
        yield running


def thumbnail_path(mount: Mount, path: Path, flavour: str) -> Path:
    """Where a file manager looks up the thumbnail of `path`."""
    return freedesktop.thumbnail_path(mount.thumbnails, flavour, freedesktop.file_uri(str(path)))


def all_thumbnails(mount: Mount, album: Path, names: list[str]) -> bool:
    """Whether every photo has every default thumbnail."""
    return all(
        thumbnail_path(mount, album / name, flavour).exists()
        for name in names
        for flavour in DEFAULT_FLAVOURS
    )


def wait_until(condition: object, what: str, timeout: float) -> None:
    """Poll `condition()` until it holds (bounded)."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.2)


def wait_for_quiet(emulator: Emulator, timeout: float) -> None:
    """Wait until the emulator has served no media for QUIET seconds (bounded): the file
    manager has fetched whatever it was going to."""
    deadline = time.monotonic() + timeout
    last, since = emulator.stats()["media_requests"], time.monotonic()
    while time.monotonic() - since < QUIET and time.monotonic() < deadline:
        time.sleep(0.5)
        now = emulator.stats()["media_requests"]
        if now != last:
            last, since = now, time.monotonic()


def show(screen: Desktop, program: str, path: Path) -> None:
    """Start `program` showing `path` in a window large enough for the whole album."""
    window = screen.show(program, [*COMMANDS[program], path], path.name, FILE_MANAGER_TIMEOUT)
    screen.run("xdotool", "windowmove", window, "0", "0")
    screen.run("xdotool", "windowsize", window, "1260", "780")


def looks_alike(thumbnail: Path, original: bytes) -> float:
    """The mean per-channel difference between a thumbnail and the original scaled to it."""
    with Image.open(thumbnail) as shown, Image.open(io.BytesIO(original)) as source:
        picture = shown.convert("RGB")
        expected = source.convert("RGB").resize(picture.size, Image.Resampling.LANCZOS)
        return max(ImageStat.Stat(ImageChops.difference(picture, expected)).mean)


@pytest.mark.parametrize("case", ["direct", "parent"])
@pytest.mark.parametrize("program", list(COMMANDS))
def test_a_file_manager_shows_thumbnails_made_from_renditions(
    library: tuple[Emulator, dict[str, bytes]],
    fm_mount: Mount,
    screen: Desktop,
    workdir: Path,
    program: str,
    case: str,
) -> None:
    emulator, photos = library
    folder = fm_mount.path / f"{program}-{case}"
    album = folder / "Harbour"
    names = sorted(photos)
    emulator.reset_stats()
    try:
        if case == "parent":
            show(screen, program, folder)
            # A person looks at the folder for a moment before opening the album.
            time.sleep(2)
        show(screen, program, album)
        wait_until(
            lambda: all_thumbnails(fm_mount, album, names),
            f"{program} to find a thumbnail of every photo",
            FILE_MANAGER_TIMEOUT,
        )
        wait_for_quiet(emulator, FILE_MANAGER_TIMEOUT)
        stats = emulator.stats()
    finally:
        # Also when it failed: what the screen showed says why.
        shot = screen.screenshot(workdir / f"{program}-{case}.png")
        for process in list(screen.processes[1:]):
            screen.stop(process)
            screen.processes.remove(process)
    print(
        f"screenshot: {shot}; emulator: {stats['original_bytes']} original bytes, "
        f"{stats['rendition_bytes']} rendition bytes"
    )
    album_bytes = sum(len(data) for data in photos.values())
    assert stats["original_bytes"] < album_bytes * 0.10, stats
    for name in names:
        facts = os.stat(album / name)
        for flavour in DEFAULT_FLAVOURS:
            path = thumbnail_path(fm_mount, album / name, flavour)
            with Image.open(path) as picture:
                keys = picture.text  # type: ignore[attr-defined]
                # The mount's thumbnail, not one the file manager made itself.
                assert keys["Software"] == freedesktop.SOFTWARE
                assert keys["Thumb::MTime"] == str(int(facts.st_mtime))
            assert looks_alike(path, photos[name]) < 10, (name, flavour)
    # Kept where a person (or CI) collects test output, when asked to.
    output = os.environ.get("SMUGFS_TEST_OUTPUT")
    if output:
        Path(output).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(output) / shot.name)
