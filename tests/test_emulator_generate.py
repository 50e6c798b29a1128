"""`smugfs emulator --generate SPEC`: the benchmark library, served as the API serves any other.

The library is checked through the running emulator's API and media URLs: its tree, the sizes
and MD5s of what is downloaded, the service's album capacity, that the same spec gives the same
library again, that a restart keeps it, and that a bad spec is a one-line error.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from smugfs.emulator.generate import Spec
from smugfs.emulator.store import Store
from smugfs.testing.commands import smugfs_command
from smugfs.testing.emulator import running_emulator

MIB = 1024 * 1024
SPEC = "large=3,video=2,photos=4,album=120,tree=12,wide=5003,seed=7"


def items(c: httpx.Client, uri: str, locator: str) -> list[dict[str, Any]]:
    """Every item of a list, 100 a page (bounded)."""
    found: list[dict[str, Any]] = []
    for page in range(100):
        body = c.get(uri, params={"start": 1 + 100 * page, "count": 100}).json()["Response"]
        found.extend(body.get(locator, []))
        if len(found) >= body["Pages"]["Total"]:
            return found
    raise AssertionError(f"{uri} did not end")


def children(c: httpx.Client, node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A folder's children by name."""
    return {child["Name"]: child for child in items(c, node["Uri"] + "!children", "Node")}


def album_images(c: httpx.Client, node: dict[str, Any]) -> list[dict[str, Any]]:
    """An album node's images."""
    return items(c, node["Uris"]["Album"]["Uri"] + "!images", "AlbumImage")


def root(c: httpx.Client) -> dict[str, Any]:
    """The root node of the authenticated user."""
    user = c.get("/api/v2!authuser").json()["Response"]["User"]
    assert user["NickName"] == "bench"
    node: dict[str, Any] = c.get(user["Uris"]["Node"]["Uri"]).json()["Response"]["Node"]
    return node


def test_spec_reads_named_fields_and_keeps_defaults_for_the_others() -> None:
    spec = Spec.parse("large=64, photos=10,seed=3")
    assert (spec.large, spec.photos, spec.seed) == (64, 10, 3)
    assert spec.video == Spec().video
    assert Spec.parse(spec.text()) == spec
    assert Spec.parse("") == Spec()


@pytest.mark.parametrize("text", ["bogus=1", "large", "large=-1", "large=big", "tree=1.5"])
def test_spec_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError, match="spec item"):
        Spec.parse(text)


def test_a_bad_spec_is_a_one_line_error_before_anything_is_served(tmp_path: Path) -> None:
    result = smugfs_command("emulator", "--data", str(tmp_path), "--generate", "photos=many")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "smugfs emulator: --generate: bad number in spec item 'photos=many'"
    ]
    assert not (tmp_path / "state.json").exists()
    assert not (tmp_path / "state.sqlite").exists()


def test_the_generated_library_is_served_with_its_bytes(tmp_path: Path) -> None:
    with (
        running_emulator(tmp_path / "emulator", "--generate", SPEC) as emulator,
        emulator.client() as c,
    ):
        top = children(c, root(c))
        assert set(top) == {"Media", "Listing", "Tree", "Wide"}
        media = children(c, top["Media"])
        assert set(media) == {"Large", "Video", "Photos"}

        for name, mib in (("Large", 3), ("Video", 2)):
            (video,) = album_images(c, media[name])
            assert video["FileName"] == f"{name.lower()}.mp4"
            assert video["IsVideo"] is True
            largest = c.get(video["Uris"]["LargestVideo"]["Uri"]).json()["Response"]
            rendition = largest["LargestVideo"]
            data = httpx.get(rendition["Url"], timeout=30).content
            assert len(data) == rendition["Size"] == mib * MIB
            assert hashlib.md5(data).hexdigest() == rendition["MD5"]
            assert data[4:8] == b"ftyp"  # an MP4 to whoever sniffs it

        photos = album_images(c, media["Photos"])
        assert [p["FileName"] for p in photos] == [f"photo-000{n}.jpg" for n in range(1, 5)]
        md5s = set()
        for photo in photos:
            data = httpx.get(photo["ArchivedUri"], timeout=30).content
            assert MIB <= len(data) == photo["ArchivedSize"] <= 3 * MIB
            assert hashlib.md5(data).hexdigest() == photo["ArchivedMD5"]
            md5s.add(photo["ArchivedMD5"])
            with Image.open(io.BytesIO(data)) as picture:  # a real JPEG at the head
                assert picture.format == "JPEG"
                assert picture.size == (photo["OriginalWidth"], photo["OriginalHeight"])
        assert len(md5s) == len(photos)

        (album,) = children(c, top["Listing"]).values()
        names = [image["FileName"] for image in album_images(c, album)]
        assert names == [f"img-{n:05d}.jpg" for n in range(1, 121)]

        albums = 0
        for folder in children(c, top["Tree"]).values():
            for subfolder in children(c, folder).values():
                for leaf in children(c, subfolder).values():
                    assert leaf["Type"] == "Album"
                    assert len(album_images(c, leaf)) == 2
                    albums += 1
        assert albums == 12

        parts = children(c, top["Wide"])
        sizes = {name: len(album_images(c, node)) for name, node in parts.items()}
        assert sizes == {"Part-00": 5000, "Part-01": 3}  # the service's album capacity


def image_records(data_dir: Path) -> list[tuple[str, str, int]]:
    """(file name, MD5, size) of every image in a data directory's state."""
    store = Store.open(data_dir)
    try:
        return sorted((i.file_name, i.md5, i.size) for i in store.images.values())
    finally:
        store.state.close()


def test_the_same_spec_gives_the_same_library_and_a_restart_keeps_it(tmp_path: Path) -> None:
    spec = "large=1,video=0,photos=3,album=5,tree=2,wide=0,seed=7"
    for name in ("one", "two"):
        with running_emulator(tmp_path / name, "--generate", spec, data_dir=tmp_path / name / "d"):
            pass
    first = image_records(tmp_path / "one" / "d")
    assert first == image_records(tmp_path / "two" / "d")
    assert len(first) == 1 + 3 + 5 + 2 * 2
    with running_emulator(tmp_path / "again", "--generate", spec, data_dir=tmp_path / "one" / "d"):
        pass
    assert image_records(tmp_path / "one" / "d") == first
    other = "large=1,video=0,photos=3,album=5,tree=2,wide=0,seed=8"
    with running_emulator(tmp_path / "three", "--generate", other, data_dir=tmp_path / "3"):
        pass
    assert image_records(tmp_path / "3") != first
