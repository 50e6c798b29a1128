"""Titles, captions and keywords through a real mount, in the desktop's attribute names.

One emulator and one mount (with a 1 s listing TTL) serve the module; each test works in an
album of its own. Attributes are set and read with `setfattr`/`getfattr` (Debian's attr) and
`os.setxattr`, copied with `cp --preserve=xattr`, `cp -a` and `rsync -X`, and every result is
checked through the emulator's own API and request counters.
"""

from __future__ import annotations

import errno
import itertools
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from smugfs.testing.account import Account, requests_to
from smugfs.testing.commands import ok, smugfs_command
from smugfs.testing.emulator import Emulator
from smugfs.testing.media import photo, write
from smugfs.testing.mounts import Mount, is_mounted, mounted, start_mount
from smugfs.testing.waits import wait_for

pytestmark = pytest.mark.fuse

_seeds = itertools.count(7000)
PATCHES = ("PATCH /api/v2/album/{key}/image/{key}", "PATCH /api/v2/node/{key}")


@pytest.fixture(scope="module")
def mount(module_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mount]:
    workdir = tmp_path_factory.mktemp("xattr-mount")
    options = ["xattrs", "listing_ttl=1", "negative_timeout=1"]
    with mounted(module_emulator, workdir, options=options) as mount:
        yield mount


@pytest.fixture
def album(module_account: Account, mount: Mount) -> tuple[str, Path]:
    """A new album with one photo on the service: its URI and its directory in the mount."""
    name = f"Album {next(_seeds)}"
    uri = module_account.create(name)
    module_account.upload(uri, "view.jpg", photo(next(_seeds)))
    # Listed afresh once the root's listing is a TTL old (reading it is not cached).
    wait_for(lambda: name in os.listdir(mount.path))
    wait_for(lambda: "view.jpg" in os.listdir(mount.path / name))
    return uri, mount.path / name


def the_image(module_account: Account, album_uri: str, name: str = "view.jpg") -> dict[str, Any]:
    return module_account.by_name(album_uri)[name]


def getfattr(path: Path) -> dict[str, str]:
    """Every `user.` attribute as `getfattr -d` prints it."""
    out = ok("getfattr", "--absolute-names", "-d", "-e", "text", path)
    values = {}
    for line in out.splitlines():
        if "=" in line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value.strip('"')
    return values


def refusal(call: Callable[[], object]) -> int:
    """The errno of a call that must fail."""
    try:
        call()
    except OSError as exc:
        return exc.errno or 0
    raise AssertionError("it succeeded")


def patches(module_emulator: Emulator) -> int:
    return sum(requests_to(module_emulator, endpoint) for endpoint in PATCHES)


def test_each_attribute_round_trips_to_the_service(
    module_account: Account, mount: Mount, album: tuple[str, Path]
) -> None:
    uri, directory = album
    path = directory / "view.jpg"
    ok("setfattr", "-n", "user.xdg.comment", "-v", "Tram 28 at dusk", path)
    ok("setfattr", "-n", "user.xdg.tags", "-v", "lisbon, tram,night", path)
    os.setxattr(path, "user.dublincore.title", "Alfama em 東京".encode())
    os.setxattr(path, "user.smugmug.hidden", b"1")
    os.setxattr(path, "user.smugmug.latitude", b"38.7139")
    os.setxattr(path, "user.smugmug.longitude", b"-9.1334")
    os.setxattr(path, "user.smugmug.altitude", b"42")
    image = the_image(module_account, uri)
    assert image["Caption"] == "Tram 28 at dusk"
    assert image["KeywordArray"] == ["lisbon", "tram", "night"]
    assert image["Title"] == "Alfama em 東京"
    assert image["Hidden"] is True
    assert float(image["Latitude"]) == pytest.approx(38.7139)
    assert float(image["Longitude"]) == pytest.approx(-9.1334)
    assert image["Altitude"] == 42
    shown = getfattr(path)
    assert shown["user.xdg.comment"] == "Tram 28 at dusk"
    assert shown["user.xdg.tags"] == "lisbon,tram,night"
    assert os.getxattr(path, "user.dublincore.title").decode() == "Alfama em 東京"
    assert shown["user.smugmug.hidden"] == "1"
    assert float(shown["user.smugmug.latitude"]) == pytest.approx(38.7139)
    assert shown["user.smugmug.altitude"] == "42"
    assert shown["user.smugmug.image_key"] == image["ImageKey"]
    assert shown["user.smugmug.md5"] == image["ArchivedMD5"]
    # Removing clears the field on the service.
    for name in ("user.xdg.comment", "user.xdg.tags", "user.smugmug.hidden"):
        os.removexattr(path, name)
    ok("setfattr", "-x", "user.smugmug.latitude", path)
    image = the_image(module_account, uri)
    assert (image["Caption"], image["KeywordArray"], image["Hidden"]) == ("", [], False)
    assert float(image["Latitude"]) == 0
    left = set(os.listxattr(path))
    assert "user.xdg.comment" not in left
    assert "user.xdg.tags" not in left
    assert {"user.dublincore.title", "user.smugmug.hidden", "user.smugmug.md5"} <= left
    assert refusal(lambda: os.removexattr(path, "user.xdg.comment")) == errno.ENODATA
    assert mount.problems() == []


def test_a_folder_or_album_comment_is_its_description(
    module_account: Account, mount: Mount, album: tuple[str, Path]
) -> None:
    uri, directory = album
    ok("setfattr", "-n", "user.xdg.comment", "-v", "Lisbon, spring 2026", directory)
    node = module_account.node(directory.name)
    assert node["Description"] == "Lisbon, spring 2026"
    assert getfattr(directory)["user.xdg.comment"] == "Lisbon, spring 2026"
    assert getfattr(directory)["user.smugmug.node_id"] == node["NodeID"]
    assert refusal(lambda: os.setxattr(directory, "user.xdg.tags", b"a,b")) == errno.ENOTSUP
    assert uri


def test_a_change_made_on_the_service_shows(
    module_account: Account, mount: Mount, album: tuple[str, Path]
) -> None:
    uri, directory = album
    path = directory / "view.jpg"
    assert "user.xdg.comment" not in os.listxattr(path)
    image = the_image(module_account, uri)
    module_account.patch(image["Uri"], {"Caption": "Set on the web", "KeywordArray": ["web"]})

    def shows() -> bool:
        return getfattr(path).get("user.xdg.comment") == "Set on the web"

    wait_for(shows)
    assert os.getxattr(path, "user.xdg.tags") == b"web"


@pytest.mark.parametrize(
    ("name", "value", "code"),
    [
        ("user.xdg.comment", b"\xff\xfe not text", errno.EINVAL),
        ("user.smugmug.latitude", b"north", errno.EINVAL),
        ("user.smugmug.latitude", b"91", errno.EINVAL),
        ("user.smugmug.longitude", b"-180.5", errno.EINVAL),
        ("user.smugmug.altitude", b"-3", errno.EINVAL),
        ("user.smugmug.altitude", b"12.5", errno.EINVAL),
        ("user.smugmug.hidden", b"maybe", errno.EINVAL),
        ("user.xdg.tags", b"sea;sky", errno.EINVAL),
        ("user.color", b"red", errno.ENOTSUP),
        ("user.xdg.origin.url", b"https://example.org", errno.ENOTSUP),
        ("user.smugmug.md5", b"0" * 32, errno.EPERM),
        ("user.smugmug.image_key", b"abc", errno.EPERM),
    ],
)
def test_a_bad_value_or_name_gets_its_errno_with_nothing_sent(
    module_emulator: Emulator,
    module_account: Account,
    mount: Mount,
    album: tuple[str, Path],
    name: str,
    value: bytes,
    code: int,
) -> None:
    uri, directory = album
    path = directory / "view.jpg"
    os.listxattr(path)  # listed once, so the counters below see only the change
    before = patches(module_emulator)
    assert refusal(lambda: os.setxattr(path, name, value)) == code
    assert patches(module_emulator) == before
    image = the_image(module_account, uri)
    assert (image["Caption"], image["Latitude"], image["Hidden"]) == ("", "0.00000000000000", False)


def test_a_read_only_attribute_given_its_own_value_is_accepted(
    module_emulator: Emulator, mount: Mount, album: tuple[str, Path]
) -> None:
    path = album[1] / "view.jpg"
    md5 = os.getxattr(path, "user.smugmug.md5")
    before = patches(module_emulator)
    os.setxattr(path, "user.smugmug.md5", md5)
    assert patches(module_emulator) == before


def test_a_too_long_description_is_refused_with_nothing_sent(
    module_emulator: Emulator, mount: Mount, album: tuple[str, Path]
) -> None:
    directory = album[1]
    os.listxattr(directory)
    before = patches(module_emulator)
    assert refusal(lambda: os.setxattr(directory, "user.xdg.comment", b"d" * 65_536)) == (
        errno.EINVAL
    )
    assert patches(module_emulator) == before


def local_photo(tmp_path: Path, name: str) -> Path:
    """A photo on the local disk carrying a caption, keywords and a title."""
    path = write(tmp_path / "local" / name, photo(next(_seeds)))
    os.setxattr(path, "user.xdg.comment", b"Fado in the Mouraria")
    os.setxattr(path, "user.xdg.tags", b"lisbon,music")
    os.setxattr(path, "user.dublincore.title", b"Noite")
    return path


@pytest.mark.parametrize(
    "copy",
    [
        ["cp", "--preserve=xattr"],
        ["cp", "-a"],
        ["rsync", "-X"],
    ],
)
def test_copying_a_photo_in_keeps_its_caption_keywords_and_title(
    module_account: Account, mount: Mount, album: tuple[str, Path], tmp_path: Path, copy: list[str]
) -> None:
    uri, directory = album
    source = local_photo(tmp_path, "fado.jpg")
    ok(*copy, source, directory / "fado.jpg")
    image = the_image(module_account, uri, "fado.jpg")
    assert image["Caption"] == "Fado in the Mouraria"
    assert image["KeywordArray"] == ["lisbon", "music"]
    assert image["Title"] == "Noite"
    assert getfattr(directory / "fado.jpg")["user.xdg.tags"] == "lisbon,music"
    assert mount.problems() == []


def test_rsync_x_out_brings_them_back_and_in_again(
    module_account: Account, mount: Mount, album: tuple[str, Path], tmp_path: Path
) -> None:
    uri, directory = album
    image = the_image(module_account, uri)
    module_account.patch(image["Uri"], {"Caption": "Miradouro", "KeywordArray": ["view", "city"]})
    wait_for(lambda: getfattr(directory / "view.jpg").get("user.xdg.comment") == "Miradouro")
    out = tmp_path / "out"
    ok("rsync", "-aX", f"{directory}/", f"{out}/")
    local = getfattr(out / "view.jpg")
    assert local["user.xdg.comment"] == "Miradouro"
    assert local["user.xdg.tags"] == "view,city"
    assert local["user.smugmug.image_key"] == image["ImageKey"]
    # Back in under another name: a new photo with the same caption (the service's own
    # attributes that came along are not the new photo's and are left alone).
    os.rename(out / "view.jpg", out / "again.jpg")
    ok("rsync", "-aX", out / "again.jpg", directory / "again.jpg")
    again = the_image(module_account, uri, "again.jpg")
    assert again["Caption"] == "Miradouro"
    assert again["KeywordArray"] == ["view", "city"]
    assert again["ImageKey"] != image["ImageKey"]
    assert mount.problems() == []


def test_with_write_back_the_upload_carries_them_too(
    module_emulator: Emulator, module_account: Account, tmp_path: Path
) -> None:
    name = f"Queued {next(_seeds)}"
    uri = module_account.create(name)
    with mounted(module_emulator, tmp_path / "wb", options=["xattrs", "writeback"]) as mount:
        directory = mount.path / name
        ok("cp", "--preserve=xattr", local_photo(tmp_path, "queued.jpg"), directory / "a.jpg")
        ok("rsync", "-X", local_photo(tmp_path, "synced.jpg"), directory / "b.jpg")
        synced = smugfs_command("sync", str(mount.path), timeout=120)
        assert synced.returncode == 0, synced.stderr
        for photo_name in ("a.jpg", "b.jpg"):
            image = the_image(module_account, uri, photo_name)
            assert image["Caption"] == "Fado in the Mouraria"
            assert image["KeywordArray"] == ["lisbon", "music"]
            assert image["Title"] == "Noite"
        assert mount.problems() == []


def test_a_killed_write_back_mount_uploads_them_next_time(
    module_emulator: Emulator, module_account: Account, tmp_path: Path
) -> None:
    name = f"Killed {next(_seeds)}"
    uri = module_account.create(name)
    options = ["xattrs", "writeback", "request_timeout=3"]
    workdir = tmp_path / "killed"
    mount = start_mount(module_emulator, workdir, options=options)
    try:
        os.listdir(mount.path / name)
        # The service refuses everything, so the queued upload cannot land before the kill.
        module_emulator.configure(fault_rate=1.0, fault_kinds=["503"])
        ok("cp", "--preserve=xattr", local_photo(tmp_path, "late.jpg"), mount.path / name)
        time.sleep(1.0)
        mount.process.send_signal(signal.SIGKILL)
        mount.process.wait(timeout=10)
        wait_for(lambda: not is_mounted(mount.path))
    finally:
        module_emulator.configure(fault_rate=0.0)
        mount.unmount()
    assert module_account.image_count(uri) == 0
    with mounted(module_emulator, workdir, options=options) as again:
        synced = smugfs_command("sync", str(again.path), timeout=120)
        assert synced.returncode == 0, synced.stderr
    image = the_image(module_account, uri, "late.jpg")
    assert image["Caption"] == "Fado in the Mouraria"
    assert image["KeywordArray"] == ["lisbon", "music"]
    assert image["Title"] == "Noite"
