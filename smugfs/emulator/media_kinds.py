"""Recognising and transforming uploaded media the way SmugMug does.

The emulator's upload endpoint needs to decide, from the bytes alone, what kind of file it
was given (SmugMug ignores the file name's extension), whether SmugMug would refuse it, how
big the picture is, when it was taken, and what SmugMug would store in its place: HEIC
photos are kept as JPEG and videos are re-encoded, so the archived and largest renditions
of those differ from the uploaded bytes.
"""

from __future__ import annotations

import colorsys
import datetime as dt
import hashlib
import io
import re
import struct
import warnings
from collections.abc import Iterator

from PIL import Image

# ISO-BMFF brands that identify a HEIF still image stored with HEVC.
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
# Structural HEIF brands: shared by HEIC and AVIF, so they only count as HEIC when no more
# specific brand says otherwise.
_HEIF_GENERIC_BRANDS = frozenset({b"mif1", b"msf1"})
# AVIF also rides on HEIF; SmugMug does not take it, so it must not be mistaken for HEIC.
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_MP4_BRANDS = frozenset(
    {
        b"isom",
        b"iso2",
        b"iso3",
        b"iso4",
        b"iso5",
        b"iso6",
        b"mp41",
        b"mp42",
        b"avc1",
        b"M4V ",
        b"M4VH",
        b"M4VP",
        b"dash",
        b"f4v ",
        b"mmp4",
        b"MSNV",
    }
)
_QUICKTIME_BRAND = b"qt  "
# Box types an old QuickTime file may open with when it predates the 'ftyp' box.
_QUICKTIME_FIRST_BOXES = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})

_BMP_INFO_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})

_VIDEO_FORMATS = frozenset({"MP4", "MOV", "AVI", "MPG", "M4V"})

ACCEPTED_FORMATS = frozenset({"JPG", "PNG", "GIF", "HEIC"}) | _VIDEO_FORMATS
"""Every `Format` SmugMug stores an upload as (the rest are refused)."""

_UNKNOWN_TYPE = (64, "unknown file type")
_RAW_NEEDS_SOURCE = (6, "wrong format (RAW uploads require the Source add-on)")

REFUSALS: dict[str, tuple[int, str]] = {
    # BMP and TIFF count as RAW formats (camera RAW files are TIFF-based), which an account
    # only accepts with the Source add-on.
    "BMP": _RAW_NEEDS_SOURCE,
    "TIFF": _RAW_NEEDS_SOURCE,
    "WEBP": _UNKNOWN_TYPE,
    "ICO": _UNKNOWN_TYPE,
}
"""Upload failure (error code, message) SmugMug answers for each kind it recognises but
refuses."""

_EXIF_IFD = 0x8769
_TAG_DATETIME = 306
_TAG_DATETIME_ORIGINAL = 36867
_EXIF_DATE_RE = re.compile(r"\d{4}:\d{2}:\d{2} \d{2}:\d{2}:\d{2}")

_HEIC_JPEG_SIZE = (640, 480)

# Formats told by their first bytes alone: (the prefixes, the `Format`).
_MAGIC: tuple[tuple[tuple[bytes, ...], str], ...] = (
    ((b"\xff\xd8\xff",), "JPG"),
    ((b"\x89PNG\r\n\x1a\n",), "PNG"),
    ((b"GIF87a", b"GIF89a"), "GIF"),
    ((b"\x00\x00\x01\xba",), "MPG"),
    ((b"\x00\x00\x01\x00",), "ICO"),
    ((b"II*\x00", b"MM\x00*"), "TIFF"),
)


def sniff_format(data: bytes) -> str | None:
    """Return the SmugMug `Format` string for the media in `data`, or None if unknown.

    Detection uses magic bytes only. Kinds SmugMug refuses (WEBP, BMP, ICO, TIFF) are still
    named so that `refusal` can answer with the right error.
    """
    head = data[:16]
    for prefixes, fmt in _MAGIC:
        if head.startswith(prefixes):
            return fmt
    if head.startswith(b"RIFF") and len(head) >= 12:
        return {b"WEBP": "WEBP", b"AVI ": "AVI"}.get(head[8:12])
    if head.startswith(b"BM") and _has_bmp_info_header(data):
        return "BMP"
    if head[4:8] == b"ftyp":
        return _format_from_brands(_ftyp_brands(data))
    if len(head) >= 8 and head[4:8] in _QUICKTIME_FIRST_BOXES:
        return "MOV"
    return None


def _has_bmp_info_header(data: bytes) -> bool:
    """Whether a file starting with "BM" carries a known BMP info header size."""
    # Two letters alone would claim any text file that happens to start with "BM".
    if len(data) < 18:
        return False
    (info_size,) = struct.unpack("<I", data[14:18])
    return info_size in _BMP_INFO_HEADER_SIZES


def _ftyp_brands(data: bytes) -> list[bytes]:
    """The major brand followed by the compatible brands of a leading 'ftyp' box."""
    (size,) = struct.unpack(">I", data[:4])
    # A nonsensical size still leaves the brands readable from the bytes we have; the cap
    # keeps a bogus size from turning arbitrary payload into "brands".
    end = min(size if size >= 16 else 64, len(data), 1024)
    brands = [data[8:12]]
    brands.extend(data[offset : offset + 4] for offset in range(16, end - 3, 4))
    return brands


def _format_from_brands(brands: list[bytes]) -> str | None:
    """Map ISO-BMFF brands (major brand first) to a `Format`, or None if none is known."""
    for brand in brands:
        if brand in _AVIF_BRANDS:
            return None
        if brand in _HEIC_BRANDS:
            return "HEIC"
        if brand == _QUICKTIME_BRAND:
            return "MOV"
        if brand in _MP4_BRANDS:
            return "MP4"
    if any(brand in _HEIF_GENERIC_BRANDS for brand in brands):
        return "HEIC"
    return None


def is_video(fmt: str) -> bool:
    """Whether a `Format` string names a video kind."""
    return fmt.upper() in _VIDEO_FORMATS


def refusal(fmt: str | None) -> tuple[int, str] | None:
    """The (error code, message) SmugMug answers when refusing an upload of kind `fmt`.

    Returns None for kinds SmugMug accepts. Unrecognised kinds (None or any other string)
    are refused as an unknown file type.
    """
    if fmt is None:
        return _UNKNOWN_TYPE
    fmt = fmt.upper()
    if fmt in ACCEPTED_FORMATS:
        return None
    return REFUSALS.get(fmt, _UNKNOWN_TYPE)


def image_dimensions(data: bytes) -> tuple[int, int]:
    """Width and height in pixels of an image or video, or (0, 0) if they cannot be told.

    Images are measured by Pillow from their headers (nothing is decoded). For MP4 and MOV
    the display size of the video track comes from its 'tkhd' box; other videos and raw HEIC
    (which Pillow cannot read) give (0, 0).
    """
    fmt = sniff_format(data)
    if fmt in ("MP4", "MOV", "M4V"):
        return _isobmff_video_dimensions(data)
    if fmt is None or is_video(fmt) or fmt == "HEIC":
        return (0, 0)
    image = _open_image(data)
    if image is None:
        return (0, 0)
    with image:
        return image.size


def _open_image(data: bytes) -> Image.Image | None:
    """Open `data` lazily with Pillow, or None if Pillow cannot make sense of it."""
    # Uploads are untrusted: Pillow reports malformed files through a wide range of
    # exception types and warnings, and none of them should fail the upload itself.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return Image.open(io.BytesIO(data))
        except Exception:
            return None


def _iter_boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """Yield (type, payload start, payload end) for each ISO-BMFF box in data[start:end]."""
    offset = start
    while offset + 8 <= end:
        size, box_type = struct.unpack(">I4s", data[offset : offset + 8])
        header = 8
        if size == 1:
            if offset + 16 > end:
                return
            (size,) = struct.unpack(">Q", data[offset + 8 : offset + 16])
            header = 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            return
        yield box_type, offset + header, offset + size
        offset += size


def _find_box(data: bytes, start: int, end: int, box_type: bytes) -> tuple[int, int] | None:
    """Payload bounds of the first box of `box_type` directly inside data[start:end]."""
    for found, payload_start, payload_end in _iter_boxes(data, start, end):
        if found == box_type:
            return payload_start, payload_end
    return None


def _isobmff_video_dimensions(data: bytes) -> tuple[int, int]:
    """Display size of the video track of an MP4/MOV file, or (0, 0)."""
    moov = _find_box(data, 0, len(data), b"moov")
    if moov is None:
        return (0, 0)
    fallback = (0, 0)
    for box_type, start, end in _iter_boxes(data, *moov):
        if box_type != b"trak":
            continue
        size = _tkhd_dimensions(data, start, end)
        if size == (0, 0):
            continue
        if _track_handler(data, start, end) == b"vide":
            return size
        # Files without a handler box can still be measured from their first visual track.
        if fallback == (0, 0):
            fallback = size
    return fallback


def _tkhd_dimensions(data: bytes, start: int, end: int) -> tuple[int, int]:
    """Width and height recorded in the 'tkhd' box of the 'trak' payload data[start:end]."""
    tkhd = _find_box(data, start, end, b"tkhd")
    if tkhd is None:
        return (0, 0)
    payload = data[tkhd[0] : tkhd[1]]
    if not payload:
        return (0, 0)
    # Version 1 widens the time and duration fields to 64 bits, moving width and height.
    offset = 88 if payload[0] == 1 else 76
    if len(payload) < offset + 8:
        return (0, 0)
    width, height = struct.unpack(">II", payload[offset : offset + 8])
    # Both are 16.16 fixed point.
    return (width >> 16, height >> 16)


def _track_handler(data: bytes, start: int, end: int) -> bytes | None:
    """The handler type ('vide', 'soun', ...) of the 'trak' payload data[start:end]."""
    mdia = _find_box(data, start, end, b"mdia")
    if mdia is None:
        return None
    hdlr = _find_box(data, *mdia, b"hdlr")
    if hdlr is None or hdlr[1] - hdlr[0] < 12:
        return None
    return data[hdlr[0] + 8 : hdlr[0] + 12]


def heic_to_jpeg(data: bytes, taken_hint: str | None = None) -> bytes:
    """The JPEG SmugMug stores in place of an uploaded HEIC photo.

    HEVC cannot be decoded here, so the picture is a 640x480 gradient whose colours are
    derived from the upload's MD5: distinct uploads look distinct and the same upload always
    gives the same bytes. `taken_hint` ("YYYY:MM:DD HH:MM:SS"), when given, is kept as the
    JPEG's EXIF DateTimeOriginal, the way SmugMug keeps the photo's capture time.
    """
    digest = hashlib.md5(data).digest()
    corners = []
    for i in range(4):
        hue = digest[i] / 255
        saturation = 0.45 + digest[4 + i] / 255 * 0.5
        value = 0.55 + digest[8 + i] / 255 * 0.45
        red, green, blue = colorsys.hsv_to_rgb(hue, saturation, value)
        corners.append((round(red * 255), round(green * 255), round(blue * 255)))
    seed = Image.new("RGB", (2, 2))
    seed.putdata(corners)
    picture = seed.resize(_HEIC_JPEG_SIZE, Image.Resampling.BILINEAR)
    exif = Image.Exif()
    if taken_hint is not None:
        exif[_TAG_DATETIME] = taken_hint
        exif.get_ifd(_EXIF_IFD)[_TAG_DATETIME_ORIGINAL] = taken_hint
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def video_rendition(data: bytes) -> bytes:
    """The largest MP4 rendition SmugMug serves for an uploaded video.

    SmugMug re-encodes videos, so that rendition never matches the upload byte for byte.
    It is modelled as the upload followed by a top-level 'free' box, which players skip, so
    the file still plays. The box's size and content derive from the upload, making the
    result deterministic yet always different in size and MD5.
    """
    digest = hashlib.sha256(data).digest()
    payload_size = 512 + int.from_bytes(digest[:2], "big") % 3584
    line = b"smugfs rendition " + digest.hex().encode("ascii") + b"\n"
    filler = (line * (payload_size // len(line) + 1))[:payload_size]
    free_box = struct.pack(">I4s", 8 + payload_size, b"free") + filler
    return data + free_box


def exif_datetime_original(data: bytes) -> str | None:
    """When a photo was taken according to its EXIF, as "YYYY:MM:DD HH:MM:SS".

    Reads DateTimeOriginal from the Exif IFD, falling back to the main IFD's DateTime.
    Returns None for data that is not an image, has no usable date, or has the all-zero
    date cameras write when their clock was never set.
    """
    image = _open_image(data)
    if image is None:
        return None
    with image, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            exif = image.getexif()
            candidates = (
                exif.get_ifd(_EXIF_IFD).get(_TAG_DATETIME_ORIGINAL),
                exif.get(_TAG_DATETIME),
            )
        except Exception:
            return None
    for value in candidates:
        text = _exif_text(value)
        if _is_set_date(text):
            return text
    return None


def _is_set_date(text: str | None) -> bool:
    """Whether an EXIF date is one, and not the all-zero date of a camera whose clock was never
    set."""
    return text is not None and bool(_EXIF_DATE_RE.fullmatch(text)) and not text.startswith("0000")


def exif_date_as_iso(text: str) -> str:
    """An EXIF date ("YYYY:MM:DD HH:MM:SS") as ISO 8601 without a zone, as `!metadata` shows it."""
    date, _, clock = text.partition(" ")
    return f"{date.replace(':', '-')}T{clock}"


def _exif_text(value: object) -> str | None:
    """An EXIF ASCII value as a clean string, or None if it is not textual."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    return value.strip("\x00 \t\r\n")


# EXIF tags `!metadata` reports, by the name the API gives them.
_METADATA_TAGS = {"Make": 271, "Model": 272, "Software": 305}
_METADATA_EXIF_TAGS = {"ISO": 34855, "ExposureTime": 33434, "FNumber": 33437, "FocalLength": 37386}


def exif_summary(data: bytes) -> dict[str, str]:
    """The EXIF fields `!metadata` shows for a photo, as text; {} when there are none.

    `DateTimeCreated` keeps the camera's local wall-clock time without a zone, as the service
    reports it.
    """
    image = _open_image(data)
    if image is None:
        return {}
    out: dict[str, str] = {}
    modified: str | None = None
    with image, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            exif = image.getexif()
            modified = _exif_text(exif.get(_TAG_DATETIME))
            sub = exif.get_ifd(_EXIF_IFD)
            for name, tag in _METADATA_TAGS.items():
                text = _exif_text(exif.get(tag))
                if text:
                    out[name] = text
            for name, tag in _METADATA_EXIF_TAGS.items():
                if tag in sub:
                    out[name] = str(sub[tag])
        except Exception:
            return out
    taken = exif_datetime_original(data)
    if taken:
        out["DateTimeCreated"] = exif_date_as_iso(taken)
    if modified is not None and _is_set_date(modified):
        out["DateTimeModified"] = exif_date_as_iso(modified)
    return out


_QUICKTIME_EPOCH = dt.datetime(1904, 1, 1)


def video_summary(data: bytes) -> dict[str, str]:
    """The dates `!metadata` shows for a video: its container's creation and modification times.

    They come from the 'mvhd' box (seconds since 1904, UTC) and are reported in UTC without a
    zone, unlike a photo's EXIF wall-clock times. Unset (zero) times are left out.
    """
    moov = _find_box(data, 0, len(data), b"moov")
    mvhd = _find_box(data, *moov, b"mvhd") if moov is not None else None
    if mvhd is None:
        return {}
    start, end = mvhd
    if end - start >= 20 and data[start] == 1:
        created, modified = struct.unpack(">QQ", data[start + 4 : start + 20])
    elif end - start >= 12:
        created, modified = struct.unpack(">II", data[start + 4 : start + 12])
    else:
        return {}
    out: dict[str, str] = {}
    for name, seconds in (("DateTimeCreated", created), ("DateTimeModified", modified)):
        if 0 < seconds < 2**40:
            stamp = _QUICKTIME_EPOCH + dt.timedelta(seconds=seconds)
            out[name] = stamp.strftime("%Y-%m-%dT%H:%M:%S")
    return out
