"""XMP sidecars (`-o sidecars`) through a real mount: listed beside each photo with their exact
size, read by exiftool, written in place and by exiftool's temporary-file-and-rename, never
uploaded, and gone with their photo. Every change is checked through the emulator's API and
its request counters.
"""

from __future__ import annotations

import errno
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smugfs import xmp
from smugfs.testing.account import Account, requests_to, uploads
from smugfs.testing.commands import ok
from smugfs.testing.emulator import Emulator
from smugfs.testing.media import photo
from smugfs.testing.mounts import Mount, mounted
from smugfs.testing.waits import wait_for

pytestmark = pytest.mark.fuse

_seeds = itertools.count(9000)
PATCH = "PATCH /api/v2/album/{key}/image/{key}"


@pytest.fixture(scope="module")
def mount(module_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mount]:
    options = ["sidecars", "listing_ttl=1", "negative_timeout=1", "entry_timeout=1"]
    with mounted(
        module_emulator, tmp_path_factory.mktemp("sidecar-mount"), options=options
    ) as mount:
        yield mount


@pytest.fixture
def album(module_account: Account, mount: Mount) -> tuple[str, Path]:
    """An album holding `view.jpg` with a title, caption, keywords and a position."""
    name = f"Album {next(_seeds)}"
    uri = module_account.create(name)
    image = module_account.upload(uri, "view.jpg", photo(next(_seeds)))
    module_account.patch(
        image["AlbumImageUri"],
        {
            "Title": "Alfama",
            "Caption": "Tram 28 & the river <at dusk>",
            "KeywordArray": ["lisbon", "tram"],
            "Latitude": 38.7139,
            "Longitude": -9.1334,
            "Altitude": 42,
        },
    )
    wait_for(lambda: name in os.listdir(mount.path))
    wait_for(lambda: "view.jpg" in os.listdir(mount.path / name))
    return uri, mount.path / name


def exiftool(path: Path) -> dict[str, str]:
    """What exiftool reads from a file (`-s -G1`: group and tag names)."""
    out = ok("exiftool", "-a", "-s", "-G1", "-n", path)
    tags = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        tags[" ".join(key.split())] = value.strip()
    return tags


def the_image(module_account: Account, uri: str) -> dict[str, Any]:
    return module_account.by_name(uri)["view.jpg"]


def test_each_photo_has_a_sidecar_that_exiftool_reads(
    mount: Mount, album: tuple[str, Path]
) -> None:
    _, directory = album
    assert sorted(os.listdir(directory)) == ["view.jpg", "view.jpg.xmp"]
    sidecar = directory / "view.jpg.xmp"
    data = sidecar.read_bytes()
    assert sidecar.stat().st_size == len(data)
    tags = exiftool(sidecar)
    assert tags["[XMP-dc] Title"] == "Alfama"
    assert tags["[XMP-dc] Description"] == "Tram 28 & the river <at dusk>"
    assert tags["[XMP-dc] Subject"] == "lisbon, tram"
    assert float(tags["[XMP-exif] GPSLatitude"]) == pytest.approx(38.7139, abs=1e-6)
    assert float(tags["[XMP-exif] GPSLongitude"]) == pytest.approx(-9.1334, abs=1e-6)
    assert tags["[XMP-exif] GPSAltitude"] == "42"
    assert mount.problems() == []


def test_exiftool_writing_by_rename_patches_only_what_changed(
    module_emulator: Emulator, module_account: Account, mount: Mount, album: tuple[str, Path]
) -> None:
    uri, directory = album
    sidecar = directory / "view.jpg.xmp"
    sidecar.read_bytes()
    module_emulator.reset_stats()
    ok("exiftool", "-overwrite_original", "-XMP-dc:Title=Noite em Alfama", sidecar)
    image = the_image(module_account, uri)
    assert image["Title"] == "Noite em Alfama"
    assert image["Caption"] == "Tram 28 & the river <at dusk>"
    assert image["KeywordArray"] == ["lisbon", "tram"]
    assert image["Altitude"] == 42
    assert requests_to(module_emulator, PATCH) == 1
    assert uploads(module_emulator) == 0
    # The temporary file is gone, and the sidecar shows the new title.
    assert sorted(os.listdir(directory)) == ["view.jpg", "view.jpg.xmp"]
    assert exiftool(sidecar)["[XMP-dc] Title"] == "Noite em Alfama"
    # Its size follows within a second (the mount's attr_timeout is 10 s).
    wait_for(lambda: sidecar.stat().st_size == len(sidecar.read_bytes()), timeout=3)
    assert mount.problems() == []


def test_writing_a_sidecar_in_place_and_by_rename_over(
    module_emulator: Emulator, module_account: Account, mount: Mount, album: tuple[str, Path]
) -> None:
    uri, directory = album
    sidecar = directory / "view.jpg.xmp"
    text = sidecar.read_text()
    sidecar.write_text(text.replace("Alfama", "Mouraria").replace("tram<", "fado<"))
    image = the_image(module_account, uri)
    assert image["Title"] == "Mouraria"
    assert image["KeywordArray"] == ["lisbon", "fado"]
    # A program's save: a temporary file, then a rename over the sidecar.
    temporary = directory / ".view.jpg.xmp.swp"
    temporary.write_text(text.replace("Alfama", "Graça"))
    os.rename(temporary, sidecar)
    assert the_image(module_account, uri)["Title"] == "Graça"
    assert sorted(os.listdir(directory)) == ["view.jpg", "view.jpg.xmp"]
    # Unchanged bytes written back send nothing.
    before = requests_to(module_emulator, PATCH)
    sidecar.write_bytes(sidecar.read_bytes())
    assert requests_to(module_emulator, PATCH) == before
    assert uploads(module_emulator) == 0 or the_image(module_account, uri)["FileName"] == "view.jpg"
    assert module_account.image_count(uri) == 1


@pytest.mark.log_expected("the service keeps no")
def test_what_the_service_cannot_keep_is_logged(
    module_account: Account, mount: Mount, album: tuple[str, Path]
) -> None:
    uri, directory = album
    sidecar = directory / "view.jpg.xmp"
    ok("exiftool", "-overwrite_original", "-XMP-xmp:Rating=4", "-XMP-dc:Creator=Ana", sidecar)
    assert the_image(module_account, uri)["Title"] == "Alfama"
    said = "\n".join(mount.problems())
    assert "view.jpg.xmp: the service keeps no" in said
    assert "xmp:Rating" in said
    assert "dc:creator" in said


@pytest.mark.parametrize(
    "content",
    [
        b"not xml at all",
        # An entity bomb: the hardened parser refuses entities outright.
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
        b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>&b;</x:xmpmeta>",
    ],
)
def test_a_sidecar_that_cannot_be_read_is_refused_with_nothing_sent(
    module_emulator: Emulator,
    module_account: Account,
    mount: Mount,
    album: tuple[str, Path],
    content: bytes,
) -> None:
    uri, directory = album
    sidecar = directory / "view.jpg.xmp"
    before = requests_to(module_emulator, PATCH)
    descriptor = os.open(sidecar, os.O_WRONLY | os.O_TRUNC)
    os.write(descriptor, content)
    with pytest.raises(OSError, match="Invalid argument") as refused:
        os.close(descriptor)
    assert refused.value.errno == errno.EINVAL
    assert requests_to(module_emulator, PATCH) == before
    assert the_image(module_account, uri)["Title"] == "Alfama"
    assert xmp.read(sidecar.read_bytes()).fields["Title"] == "Alfama"


def test_the_sidecar_of_a_deleted_photo_disappears(
    module_account: Account, mount: Mount, album: tuple[str, Path]
) -> None:
    uri, directory = album
    sidecar = directory / "view.jpg.xmp"
    assert sidecar.exists()
    image = the_image(module_account, uri)
    assert module_account.http.delete(image["Uri"]).status_code == 200
    wait_for(lambda: os.listdir(directory) == [])
    wait_for(lambda: not sidecar.exists())
    # Removing a sidecar changes nothing; it is the photo's, not a file of its own.
    other = module_account.upload(uri, "again.jpg", photo(next(_seeds)))
    wait_for(lambda: "again.jpg.xmp" in os.listdir(directory))
    os.unlink(directory / "again.jpg.xmp")
    assert "again.jpg.xmp" in os.listdir(directory)
    assert module_account.image(other["AlbumImageUri"])["FileName"] == "again.jpg"
