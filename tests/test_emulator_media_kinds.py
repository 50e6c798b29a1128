"""Tests for the emulator's media recognition/transformation and its generated demo media."""

from __future__ import annotations

import datetime
import hashlib
import io
import struct
from typing import Any

import pytest
from PIL import Image, features

from smugfs.emulator import media_kinds, sample_media
from smugfs.testing import media

TAKEN = datetime.datetime(2019, 7, 14, 9, 26, 53)
TAKEN_EXIF = "2019:07:14 09:26:53"


def _box(box_type: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), box_type) + payload


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    return _box(b"ftyp", major + b"\x00\x00\x00\x00" + b"".join(compatible))


def _top_level_boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of each top-level box, asserting they tile the whole file."""
    boxes = []
    offset = 0
    while offset < len(data):
        size, box_type = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            (size,) = struct.unpack(">Q", data[offset + 8 : offset + 16])
        assert size >= 8
        boxes.append((box_type, offset, size))
        offset += size
    assert offset == len(data)
    return boxes


@pytest.mark.parametrize(
    ("pillow_format", "expected", "save_args"),
    [
        ("JPEG", "JPG", {}),
        ("PNG", "PNG", {}),
        ("GIF", "GIF", {}),
        ("BMP", "BMP", {}),
        ("ICO", "ICO", {}),
        ("TIFF", "TIFF", {}),
        ("TIFF", "TIFF", {"compression": "tiff_lzw"}),
        pytest.param(
            "WEBP",
            "WEBP",
            {},
            marks=pytest.mark.skipif(not features.check("webp"), reason="no WebP in Pillow"),
        ),
    ],
)
def test_sniff_pillow_images(pillow_format: str, expected: str, save_args: dict[str, Any]) -> None:
    assert media_kinds.sniff_format(media.picture(fmt=pillow_format, **save_args)) == expected


def test_sniff_big_endian_tiff() -> None:
    assert media_kinds.sniff_format(b"MM\x00*\x00\x00\x00\x08" + bytes(32)) == "TIFF"


def test_sniff_sample_video_is_mp4() -> None:
    assert media_kinds.sniff_format(sample_media.sample_video()) == "MP4"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_ftyp(b"heic", b"mif1", b"heic") + _box(b"meta", bytes(16)), "HEIC"),
        (_ftyp(b"mif1", b"mif1", b"heic"), "HEIC"),
        (_ftyp(b"heix", b"mif1"), "HEIC"),
        (_ftyp(b"msf1", b"msf1", b"hevc"), "HEIC"),
        (_ftyp(b"avif", b"avif", b"mif1", b"miaf"), None),
        (_ftyp(b"mif1", b"avif", b"miaf"), None),
        (_ftyp(b"isom", b"isom", b"iso2", b"avc1", b"mp41") + _box(b"moov", b""), "MP4"),
        (_ftyp(b"mp42", b"mp42", b"isom"), "MP4"),
        (_ftyp(b"M4V ", b"M4V ", b"M4A ", b"mp42"), "MP4"),
        (_ftyp(b"dash", b"iso6", b"mp41"), "MP4"),
        (_ftyp(b"XXXX", b"YYYY", b"mp41"), "MP4"),
        (_ftyp(b"XXXX", b"YYYY"), None),
        (_ftyp(b"qt  ", b"qt  "), "MOV"),
        (_box(b"moov", bytes(24)), "MOV"),
        (_box(b"wide", b"") + _box(b"mdat", bytes(16)), "MOV"),
        (_box(b"free", bytes(8)), "MOV"),
        (b"RIFF\x24\x00\x00\x00AVI LIST" + bytes(16), "AVI"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(16), None),
        (b"\x00\x00\x01\xba\x44\x00\x04\x00\x04\x01" + bytes(8), "MPG"),
        (b"%PDF-1.7\n", None),
        (b"BMW service history, 2019 to 2024\n", None),
        (b"hello, world", None),
        (b"", None),
    ],
)
def test_sniff_hand_built(data: bytes, expected: str | None) -> None:
    assert media_kinds.sniff_format(data) == expected


@pytest.mark.parametrize("fmt", ["MP4", "MOV", "AVI", "MPG", "M4V", "mp4"])
def test_is_video(fmt: str) -> None:
    assert media_kinds.is_video(fmt)


@pytest.mark.parametrize("fmt", ["JPG", "PNG", "GIF", "HEIC", "WEBP", "TIFF", ""])
def test_is_not_video(fmt: str) -> None:
    assert not media_kinds.is_video(fmt)


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("BMP", (6, "wrong format (RAW uploads require the Source add-on)")),
        ("TIFF", (6, "wrong format (RAW uploads require the Source add-on)")),
        ("WEBP", (64, "unknown file type")),
        ("ICO", (64, "unknown file type")),
        (None, (64, "unknown file type")),
        ("XYZ", (64, "unknown file type")),
        ("JPG", None),
        ("PNG", None),
        ("GIF", None),
        ("HEIC", None),
        ("MP4", None),
        ("MOV", None),
        ("AVI", None),
        ("MPG", None),
        ("M4V", None),
    ],
)
def test_refusal(fmt: str | None, expected: tuple[int, str] | None) -> None:
    assert media_kinds.refusal(fmt) == expected


def test_every_sniffed_kind_is_accepted_or_refused() -> None:
    for fmt in ["JPG", "PNG", "GIF", "HEIC", "MP4", "MOV", "AVI", "MPG"]:
        assert media_kinds.refusal(fmt) is None
    for fmt in ["WEBP", "BMP", "ICO", "TIFF"]:
        assert media_kinds.refusal(fmt) is not None


@pytest.mark.parametrize("pillow_format", ["JPEG", "PNG", "GIF"])
def test_image_dimensions(pillow_format: str) -> None:
    assert media_kinds.image_dimensions(media.picture(size=(123, 45), fmt=pillow_format)) == (
        123,
        45,
    )


def test_image_dimensions_of_generated_media() -> None:
    jpeg = sample_media.make_jpeg(3, width=400, height=300, taken=TAKEN, title="t")
    png = sample_media.make_png(3, width=320, height=240, title="t")
    assert media_kinds.image_dimensions(jpeg) == (400, 300)
    assert media_kinds.image_dimensions(png) == (320, 240)
    assert media_kinds.image_dimensions(media_kinds.heic_to_jpeg(b"heic")) == (640, 480)


def test_image_dimensions_of_video() -> None:
    video = sample_media.sample_video()
    assert media_kinds.image_dimensions(video) == (320, 240)
    assert media_kinds.image_dimensions(media_kinds.video_rendition(video)) == (320, 240)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image at all",
        b"\xff\xd8\xff\xe0 truncated jpeg",
        _ftyp(b"heic", b"mif1"),
        _ftyp(b"isom", b"isom") + _box(b"moov", _box(b"trak", _box(b"tkhd", bytes(10)))),
        b"RIFF\x24\x00\x00\x00AVI LIST" + bytes(16),
    ],
)
def test_image_dimensions_unknown(data: bytes) -> None:
    assert media_kinds.image_dimensions(data) == (0, 0)


def test_exif_date_round_trip() -> None:
    jpeg = sample_media.make_jpeg(1, width=320, height=240, taken=TAKEN, title="Sunrise")
    assert media_kinds.exif_datetime_original(jpeg) == TAKEN_EXIF


def test_exif_date_falls_back_to_datetime() -> None:
    exif = Image.Exif()
    exif[306] = "2001:02:03 04:05:06"
    jpeg = media.picture(fmt="JPEG", exif=exif)
    assert media_kinds.exif_datetime_original(jpeg) == "2001:02:03 04:05:06"


def test_exif_date_prefers_original() -> None:
    exif = Image.Exif()
    exif[306] = "2001:02:03 04:05:06"
    exif.get_ifd(0x8769)[36867] = "1999:12:31 23:59:58"
    jpeg = media.picture(fmt="JPEG", exif=exif)
    assert media_kinds.exif_datetime_original(jpeg) == "1999:12:31 23:59:58"


@pytest.mark.parametrize(
    "data",
    [
        media.picture(fmt="JPEG"),
        b"plain text",
        b"",
        sample_media.sample_video(),
    ],
)
def test_exif_date_absent(data: bytes) -> None:
    assert media_kinds.exif_datetime_original(data) is None


def test_exif_date_ignores_unset_clock() -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = "0000:00:00 00:00:00"
    assert media_kinds.exif_datetime_original(media.picture(fmt="JPEG", exif=exif)) is None


def test_make_jpeg_is_deterministic_and_varies_by_index() -> None:
    first = sample_media.make_jpeg(7, width=320, height=240, taken=TAKEN, title="Harbour")
    again = sample_media.make_jpeg(7, width=320, height=240, taken=TAKEN, title="Harbour")
    other = sample_media.make_jpeg(8, width=320, height=240, taken=TAKEN, title="Harbour")
    assert first == again
    assert first != other


@pytest.mark.parametrize(("width", "height"), [(320, 240), (400, 300)])
def test_make_jpeg_is_a_small_real_jpeg(width: int, height: int) -> None:
    for index in range(20):
        jpeg = sample_media.make_jpeg(
            index, width=width, height=height, taken=TAKEN, title=f"Photo {index}"
        )
        assert 5_000 <= len(jpeg) <= 30_000
        with Image.open(io.BytesIO(jpeg)) as picture:
            assert picture.format == "JPEG"
            assert picture.size == (width, height)
            picture.load()


def test_make_jpeg_exif_fields() -> None:
    jpeg = sample_media.make_jpeg(2, width=320, height=240, taken=TAKEN, title="Café at dusk")
    with Image.open(io.BytesIO(jpeg)) as picture:
        exif = picture.getexif()
    exif_ifd = exif.get_ifd(0x8769)
    assert exif[271] == "smugfs"
    assert exif[272] == "demo camera"
    assert exif[306] == TAKEN_EXIF
    assert exif_ifd[36867] == TAKEN_EXIF
    assert exif_ifd[36868] == TAKEN_EXIF
    # Pillow reads EXIF ASCII as Latin-1; the stored bytes are UTF-8.
    assert exif[270].encode("latin-1").decode("utf-8") == "Café at dusk"


def test_make_png() -> None:
    png = sample_media.make_png(4, width=320, height=240, title="Map")
    assert png == sample_media.make_png(4, width=320, height=240, title="Map")
    assert media_kinds.sniff_format(png) == "PNG"
    with Image.open(io.BytesIO(png)) as picture:
        assert picture.format == "PNG"
        picture.load()


@pytest.mark.parametrize("target", [200_000, 3_000_000])
def test_make_large_jpeg_size(target: int) -> None:
    jpeg = sample_media.make_large_jpeg(5, taken=TAKEN, title="Large", target_bytes=target)
    assert 0.7 * target <= len(jpeg) <= 1.3 * target
    assert media_kinds.sniff_format(jpeg) == "JPG"
    assert media_kinds.exif_datetime_original(jpeg) == TAKEN_EXIF
    with Image.open(io.BytesIO(jpeg)) as picture:
        picture.load()


def test_make_large_jpeg_is_deterministic() -> None:
    first = sample_media.make_large_jpeg(9, taken=TAKEN, title="L", target_bytes=300_000)
    assert first == sample_media.make_large_jpeg(9, taken=TAKEN, title="L", target_bytes=300_000)


def test_sample_video_is_small_h264_mp4() -> None:
    video = sample_media.sample_video()
    assert 30_000 <= len(video) <= 80_000
    types = [box_type for box_type, _, _ in _top_level_boxes(video)]
    assert types[0] == b"ftyp"
    assert b"moov" in types
    assert b"mdat" in types
    assert b"avc1" in video


def test_video_rendition_appends_free_box() -> None:
    video = sample_media.sample_video()
    rendition = media_kinds.video_rendition(video)
    assert rendition.startswith(video)
    assert len(rendition) > len(video)
    assert hashlib.md5(rendition).digest() != hashlib.md5(video).digest()
    box_type, offset, size = _top_level_boxes(rendition)[-1]
    assert box_type == b"free"
    assert offset == len(video)
    assert offset + size == len(rendition)
    assert media_kinds.sniff_format(rendition) == "MP4"


def test_video_rendition_is_deterministic_per_input() -> None:
    video = sample_media.sample_video()
    assert media_kinds.video_rendition(video) == media_kinds.video_rendition(video)
    other = video + _box(b"skip", b"x")
    assert (
        media_kinds.video_rendition(other)[len(other) :]
        != (media_kinds.video_rendition(video)[len(video) :])
    )


def test_heic_to_jpeg() -> None:
    heic = _ftyp(b"heic", b"mif1", b"heic") + _box(b"mdat", b"pretend hevc")
    jpeg = media_kinds.heic_to_jpeg(heic)
    assert jpeg == media_kinds.heic_to_jpeg(heic)
    assert jpeg != media_kinds.heic_to_jpeg(heic + b"!")
    assert media_kinds.sniff_format(jpeg) == "JPG"
    with Image.open(io.BytesIO(jpeg)) as picture:
        assert picture.format == "JPEG"
        assert picture.size == (640, 480)
        picture.load()
    assert media_kinds.exif_datetime_original(jpeg) is None


def test_heic_to_jpeg_keeps_taken_hint() -> None:
    jpeg = media_kinds.heic_to_jpeg(b"heic bytes", taken_hint=TAKEN_EXIF)
    assert media_kinds.exif_datetime_original(jpeg) == TAKEN_EXIF
