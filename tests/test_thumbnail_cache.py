"""The personal thumbnail cache's format (freedesktop Thumbnail Managing Standard 0.9.0).

File managers find a thumbnail only under the MD5 of the file's URI escaped exactly as GLib
escapes it, use it only when its keys match the file, and read the cache while it is written;
so the names, the PNG's keys and pixel format, the permissions and the atomic replace are what
these tests check, with real files in a temporary directory. The expected URIs are what GLib's
`g_filename_to_uri` gives for the same paths.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest
from PIL import Image

from smugfs.thumbnails import freedesktop
from smugfs.thumbnails.flavours import FLAVOURS, parse_flavours
from smugfs.thumbnails.freedesktop import Original
from smugfs.thumbnails.renditions import Rendition, choose, renditions_of

ALBUM = "/mnt/smug/Travel/2024/Iceland & the Ring Road"


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ("DSC 1.jpg", "DSC%201.jpg"),
        ("Zürich #1?.jpg", "Z%C3%BCrich%20%231%3F.jpg"),
        ("100%[x]{y}.jpg", "100%25%5Bx%5D%7By%7D.jpg"),
        ("a'b(c)*+,;=@~!$.jpg", "a'b(c)*+,%3B=@~!$.jpg"),
        ('tab\tx<>"|^`\\.jpg', "tab%09x%3C%3E%22%7C%5E%60%5C.jpg"),
    ],
)
def test_odd_names_are_escaped_as_glib_escapes_them(name: str, escaped: str) -> None:
    uri = freedesktop.file_uri(f"{ALBUM}/{name}")
    assert uri == f"file:///mnt/smug/Travel/2024/Iceland%20&%20the%20Ring%20Road/{escaped}"


def test_a_relative_path_has_no_uri() -> None:
    with pytest.raises(ValueError, match="not an absolute path"):
        freedesktop.file_uri("Travel/a.jpg")


def test_the_name_is_the_md5_of_the_uri_as_in_the_standard() -> None:
    # The standard's own example.
    name = freedesktop.thumbnail_name("file:///home/jens/photos/me.png")
    assert name == "c6ee772d9e49320e97ec29a7eb5b1697.png"


def test_the_cache_root_follows_xdg_cache_home(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "c"), "HOME": "/home/x"}
    assert freedesktop.cache_root(env) == tmp_path / "c" / "thumbnails"
    # Unset or relative: ~/.cache, as the XDG Base Directory specification says.
    assert freedesktop.cache_root({"HOME": "/home/x"}) == Path("/home/x/.cache/thumbnails")
    relative = {"XDG_CACHE_HOME": "rel", "HOME": "/home/x"}
    assert freedesktop.cache_root(relative) == Path("/home/x/.cache/thumbnails")


def photo(size: tuple[int, int], colour: tuple[int, int, int] = (200, 40, 10)) -> Image.Image:
    """A plain RGB picture of `size`."""
    return Image.new("RGB", size, colour)


def put(root: Path, flavour: str, original: Original, picture: Image.Image) -> Path:
    """Scale, encode and write one thumbnail."""
    png = freedesktop.encode(freedesktop.scaled(picture, flavour), original)
    return freedesktop.write(root, flavour, original, png)


@pytest.mark.parametrize(("flavour", "limit"), sorted(FLAVOURS.items()))
def test_a_thumbnail_is_an_8_bit_rgba_png_with_the_keys_and_no_larger_than_its_flavour(
    tmp_path: Path, flavour: str, limit: int
) -> None:
    root = tmp_path / "cache" / "thumbnails"
    original = Original(f"file://{ALBUM}/DSC%201.jpg", 1718000000, 3_145_728, "image/jpeg")
    path = put(root, flavour, original, photo((1600, 1067)))
    assert path == root / flavour / freedesktop.thumbnail_name(original.uri)
    with Image.open(path) as picture:
        assert picture.format == "PNG"
        assert picture.mode == "RGBA"
        # 8 bits per sample, colour type 6 (RGBA), straight from the IHDR chunk.
        raw = path.read_bytes()
        assert raw[24] == 8
        assert raw[25] == 6
        assert max(picture.size) == limit
        assert picture.size == (limit, round(1067 * limit / 1600))
        assert picture.text["Thumb::URI"] == original.uri
        assert picture.text["Thumb::MTime"] == "1718000000"
        assert picture.text["Thumb::Size"] == "3145728"
        assert picture.text["Thumb::Mimetype"] == "image/jpeg"
    assert freedesktop.read_original(path) == original
    assert freedesktop.is_current(root, flavour, original)


def test_a_small_picture_is_not_enlarged(tmp_path: Path) -> None:
    original = Original("file:///m/a.jpg", 1)
    path = put(tmp_path / "thumbnails", "large", original, photo((90, 60)))
    with Image.open(path) as picture:
        assert picture.size == (90, 60)


def test_directories_made_are_0700_and_files_0600(tmp_path: Path) -> None:
    root = tmp_path / "cache" / "thumbnails"
    old = os.umask(0)
    try:
        path = put(root, "normal", Original("file:///m/a.jpg", 1), photo((300, 200)))
    finally:
        os.umask(old)
    for directory in (root.parent, root, root / "normal"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_changed_version_replaces_the_old_thumbnail_atomically(tmp_path: Path) -> None:
    root = tmp_path / "thumbnails"
    before = Original("file:///m/a.jpg", 1000, 10, "image/jpeg")
    after = Original("file:///m/a.jpg", 2000, 20, "image/jpeg")
    first = put(root, "normal", before, photo((300, 200), (255, 0, 0)))
    reader = first.open("rb")  # a file manager reading while the new one lands
    assert not freedesktop.is_current(root, "normal", after)
    second = put(root, "normal", after, photo((300, 200), (0, 0, 255)))
    assert second == first
    # The reader still has the whole old file; the name now holds the whole new one.
    with Image.open(io.BytesIO(reader.read())) as old:
        assert old.text["Thumb::MTime"] == "1000"
        assert old.convert("RGB").getpixel((5, 5)) == (255, 0, 0)
    reader.close()
    assert freedesktop.is_current(root, "normal", after)
    assert not freedesktop.is_current(root, "normal", before)
    with Image.open(second) as new:
        assert new.convert("RGB").getpixel((5, 5)) == (0, 0, 255)
    assert sorted(p.name for p in (root / "normal").iterdir()) == [first.name]


def test_a_new_version_within_the_same_second_is_not_current(tmp_path: Path) -> None:
    root = tmp_path / "thumbnails"
    before = Original("file:///m/a.jpg", 1000, 10, "image/jpeg", version="K-0-aaa-10")
    after = Original("file:///m/a.jpg", 1000, 12, "image/jpeg", version="K-1-bbb-12")
    put(root, "normal", before, photo((300, 200)))
    assert freedesktop.is_current(root, "normal", before)
    assert not freedesktop.is_current(root, "normal", after)
    # A file manager's own thumbnail (no version key) is current for its mtime.
    assert freedesktop.is_current(root, "normal", Original("file:///m/a.jpg", 1000))


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    root = tmp_path / "thumbnails"
    original = Original("file:///m/a.jpg", 1)
    # A directory where the thumbnail should go: the rename fails.
    (root / "normal" / freedesktop.thumbnail_name(original.uri)).mkdir(parents=True)
    with pytest.raises(IsADirectoryError):
        put(root, "normal", original, photo((300, 200)))
    assert [p.name for p in (root / "normal").iterdir()] == [
        freedesktop.thumbnail_name(original.uri)
    ]


def test_an_unreadable_or_keyless_file_is_not_a_current_thumbnail(tmp_path: Path) -> None:
    root = tmp_path / "thumbnails"
    original = Original("file:///m/a.jpg", 1)
    path = freedesktop.thumbnail_path(root, "normal", original.uri)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a png")
    assert freedesktop.read_original(path) is None
    assert not freedesktop.is_current(root, "normal", original)
    photo((10, 10)).save(path, "PNG")
    assert not freedesktop.is_current(root, "normal", original)
    # A thumbnail of another file under this name (an MD5 collision, a copied cache).
    other = Original("file:///m/b.jpg", 1)
    path.write_bytes(freedesktop.encode(photo((10, 10)).convert("RGBA"), other))
    assert not freedesktop.is_current(root, "normal", original)


def test_the_smallest_rendition_at_least_as_large_as_the_flavour_is_chosen() -> None:
    details = {
        "ImageSizeTiny": {"Url": "u/Ti", "Width": 100, "Height": 67},
        "ImageSizeThumb": {"Url": "u/Th", "Width": 150, "Height": 100},
        "ImageSizeSmall": {"Url": "u/S", "Width": 200, "Height": 300},
        "ImageSizeMedium": {"Url": "u/M", "Width": 300, "Height": 450},
        "ImageSizeLarge": {"Url": "u/L", "Width": 400, "Height": 600},
        "ImageSizeOriginal": {"Url": "u/D", "Width": 2000, "Height": 3000},
        "VideoSize1920": {"Url": "u/1920", "Width": 1920, "Height": 1080},
        "ImageSizeX2Large": {"Url": "u/X2", "Width": 640, "Height": 960, "Usable": False},
        "UsableSizes": ["ImageSizeTiny"],
    }
    found = renditions_of(details)
    assert [r.url for r in found] == ["u/Ti", "u/Th", "u/S", "u/M", "u/L"]
    assert choose(found, 128) == Rendition("u/Th", 150, 100)
    assert choose(found, 256) == Rendition("u/S", 200, 300)
    # Portrait: Medium's 450 px fall short of 512; Large reaches it.
    assert choose(found, 512) == Rendition("u/L", 400, 600)
    # Nothing reaches 1024: the largest rendition, never the original.
    assert choose(found, 1024) == Rendition("u/L", 400, 600)
    assert choose([], 128) is None
    assert renditions_of(None) == []


def test_the_sizes_made_are_a_setting_naming_flavours() -> None:
    assert parse_flavours("large, normal") == ("normal", "large")
    assert parse_flavours("xx-large") == ("xx-large",)
    with pytest.raises(ValueError, match="unknown thumbnail size 'huge'"):
        parse_flavours("normal,huge")
    with pytest.raises(ValueError, match="no thumbnail size"):
        parse_flavours(" , ")
