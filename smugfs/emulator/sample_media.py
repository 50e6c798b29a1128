"""Deterministic generated media for the emulator's built-in demo library.

The demo account is filled with real, viewable pictures made on the fly: each one is a
colourful pattern that differs per index, shows its title, and carries EXIF capture dates so
that date-based features have something to read. The same arguments always produce the same
bytes, which keeps sizes and MD5 sums stable between emulator runs. A small bundled MP4
stands in for every demo video.
"""

from __future__ import annotations

import colorsys
import datetime
import functools
import importlib.resources
import io
import math
import random

from PIL import Image, ImageDraw, ImageFont

_EXIF_IFD = 0x8769
_TAG_IMAGE_DESCRIPTION = 270
_TAG_MAKE = 271
_TAG_MODEL = 272
_TAG_DATETIME = 306
_TAG_DATETIME_ORIGINAL = 36867
_TAG_DATETIME_DIGITIZED = 36868

_EXIF_DATE_FORMAT = "%Y:%m:%d %H:%M:%S"
_CAMERA_MAKE = "smugfs"
_CAMERA_MODEL = "demo camera"

# Spacing hues by the golden ratio keeps neighbouring indices visibly different.
_GOLDEN_RATIO_CONJUGATE = (math.sqrt(5) - 1) / 2

_SMALL_JPEG_QUALITY = 88
_LARGE_JPEG_QUALITY = 95
_CAMERA_JPEG_QUALITY = 90
# How close make_large_jpeg gets to its target before it stops adjusting the picture size.
_LARGE_JPEG_TOLERANCE = 0.1
_LARGE_JPEG_MAX_ATTEMPTS = 4


def make_jpeg(
    index: int, *, width: int, height: int, taken: datetime.datetime, title: str
) -> bytes:
    """A viewable JPEG for demo photo number `index`, dated `taken` and showing `title`.

    EXIF carries DateTimeOriginal, DateTimeDigitized and DateTime (all `taken`), Make,
    Model and ImageDescription (`title`, UTF-8 encoded as most current software writes it).
    """
    picture = _pattern(index, width, height, title)
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=_SMALL_JPEG_QUALITY, exif=_exif(taken, title))
    return out.getvalue()


def make_png(index: int, *, width: int, height: int, title: str) -> bytes:
    """A viewable PNG for demo image number `index`, showing `title`."""
    picture = _pattern(index, width, height, title)
    out = io.BytesIO()
    # Speed matters more than size for demo data; level 1 is several times faster.
    picture.save(out, "PNG", compress_level=1)
    return out.getvalue()


def make_large_jpeg(
    index: int, *, taken: datetime.datetime, title: str, target_bytes: int
) -> bytes:
    """A JPEG of roughly `target_bytes` (within 30%) for exercising large reads.

    Fine grain from a seeded generator is laid over the usual pattern so the encoder cannot
    squeeze it away; the picture's size is then adjusted until the file lands near the
    target. EXIF is the same as `make_jpeg`'s.
    """
    exif = _exif(taken, title)
    # A first guess from typical output of this recipe; the loop corrects it.
    pixels = max(target_bytes / 1.6, 64 * 48)
    encoded = b""
    for _ in range(_LARGE_JPEG_MAX_ATTEMPTS):
        width = max(64, round(math.sqrt(pixels * 4 / 3)))
        height = max(48, round(width * 3 / 4))
        picture = _grainy(_pattern(index, width, height, title), index)
        out = io.BytesIO()
        picture.save(out, "JPEG", quality=_LARGE_JPEG_QUALITY, subsampling=0, exif=exif)
        encoded = out.getvalue()
        ratio = target_bytes / len(encoded)
        if abs(ratio - 1) <= _LARGE_JPEG_TOLERANCE:
            break
        pixels = width * height * ratio
    return encoded


def poster_frame(index: int, *, width: int, height: int) -> Image.Image:
    """The still that stands for a video (its thumbnail renditions): a pattern with a play
    mark, so a file manager's icon of it reads as a video."""
    picture = _pattern(index, width, height, "")
    draw = ImageDraw.Draw(picture)
    side = min(width, height) / 3
    x, y = width / 2, height / 2
    draw.polygon(
        [(x - side / 3, y - side / 2), (x - side / 3, y + side / 2), (x + side / 2, y)],
        fill=(250, 250, 250),
    )
    return picture


def make_camera_jpeg(
    index: int, *, width: int, height: int, taken: datetime.datetime, title: str
) -> bytes:
    """A photo as a camera writes it: `width` x `height` pixels (millions of them) with grain,
    so it weighs a few MB like a real one (about 3 MB at 3000 x 2000). EXIF is the same as
    `make_jpeg`'s."""
    picture = _grainy(_pattern(index, width, height, title), index)
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=_CAMERA_JPEG_QUALITY, exif=_exif(taken, title))
    return out.getvalue()


@functools.cache
def sample_video() -> bytes:
    """The bytes of the small bundled H.264 MP4 used for every demo video (read once)."""
    asset = importlib.resources.files("smugfs.emulator") / "assets" / "sample.mp4"
    return asset.read_bytes()


def _exif(taken: datetime.datetime, title: str) -> Image.Exif:
    """The EXIF block every generated JPEG carries."""
    stamp = taken.strftime(_EXIF_DATE_FORMAT)
    exif = Image.Exif()
    exif[_TAG_MAKE] = _CAMERA_MAKE
    exif[_TAG_MODEL] = _CAMERA_MODEL
    # Pillow would squeeze a str into ASCII, turning accents into '?'; bytes go in as they are.
    exif[_TAG_IMAGE_DESCRIPTION] = title.encode("utf-8")
    exif[_TAG_DATETIME] = stamp
    exif_ifd = exif.get_ifd(_EXIF_IFD)
    exif_ifd[_TAG_DATETIME_ORIGINAL] = stamp
    exif_ifd[_TAG_DATETIME_DIGITIZED] = stamp
    return exif


def _colour(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    """An RGB triple from HSV components in [0, 1]."""
    red, green, blue = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return (round(red * 255), round(green * 255), round(blue * 255))


def _pattern(index: int, width: int, height: int, title: str) -> Image.Image:
    """The picture for `index`: a gradient with a few shapes and `title` across the bottom."""
    rng = random.Random(index)
    hue = index * _GOLDEN_RATIO_CONJUGATE
    # A small grid of colours blown up bilinearly gives a smooth multi-colour gradient far
    # faster than computing one per pixel.
    seed = Image.new("RGB", (3, 3))
    seed.putdata(
        [
            _colour(hue + rng.uniform(-0.12, 0.12), rng.uniform(0.45, 0.9), rng.uniform(0.6, 1))
            for _ in range(9)
        ]
    )
    picture = seed.resize((width, height), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(picture)
    scale = min(width, height)
    for _ in range(6 + rng.randrange(4)):
        x = rng.uniform(-0.1, 1.0) * width
        y = rng.uniform(-0.1, 0.85) * height
        size = rng.uniform(0.12, 0.4) * scale
        box = (x, y, x + size, y + size * rng.uniform(0.6, 1.4))
        fill = _colour(hue + rng.uniform(0.25, 0.75), rng.uniform(0.5, 1), rng.uniform(0.5, 1))
        outline = _colour(hue + 0.5, 0.3, 0.2)
        stroke = max(1, scale // 100)
        if rng.random() < 0.5:
            draw.ellipse(box, fill=fill, outline=outline, width=stroke)
        else:
            draw.rectangle(box, fill=fill, outline=outline, width=stroke)
    _draw_title(draw, width, height, title)
    return picture


def _draw_title(draw: ImageDraw.ImageDraw, width: int, height: int, title: str) -> None:
    """Write `title` on a dark band along the bottom edge so it reads on any background."""
    text_size = max(10, min(width, height) // 14)
    band_top = height - round(text_size * 1.6)
    draw.rectangle((0, band_top, width, height), fill=(20, 20, 28))
    font = _font(text_size)
    # Centred from the measured box rather than an anchor, which bitmap fonts lack.
    _, top, _, bottom = draw.textbbox((0, 0), title, font=font)
    y = (band_top + height - (bottom - top)) / 2 - top
    draw.text((max(4, text_size // 2), y), title, fill=(250, 250, 250), font=font)


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's built-in font at `size` pixels (fixed size without FreeType), loaded once."""
    return ImageFont.load_default(size=size)


def _grainy(picture: Image.Image, index: int) -> Image.Image:
    """`picture` overlaid with seeded per-pixel noise, as film grain."""
    rng = random.Random(index)
    noise = Image.frombytes("RGB", picture.size, rng.randbytes(picture.width * picture.height * 3))
    return Image.blend(picture, noise, 0.3)
