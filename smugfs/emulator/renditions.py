"""The renditions the media server makes of an image: the size table, the pixel size of each,
the sizes `!sizedetails` lists for an original, and the hash segment of media URLs."""

from __future__ import annotations

import hashlib
from typing import NamedTuple


class Size(NamedTuple):
    """A rendition size: what `!sizedetails` lists it under, and the box (width, height) the
    original is fitted into, as the service's size table states them."""

    name: str
    box: tuple[int, int]


# Renditions the media server makes on demand, by size code: every code names a real URL
# segment.
SIZES: dict[str, Size] = {
    "Ti": Size("ImageSizeTiny", (100, 100)),
    "Th": Size("ImageSizeThumb", (150, 150)),
    "S": Size("ImageSizeSmall", (400, 300)),
    "M": Size("ImageSizeMedium", (600, 450)),
    "L": Size("ImageSizeLarge", (800, 600)),
    "XL": Size("ImageSizeXLarge", (1024, 768)),
    "X2": Size("ImageSizeX2Large", (1280, 960)),
    "X3": Size("ImageSizeX3Large", (1600, 1200)),
    "X4": Size("ImageSizeX4Large", (2048, 1536)),
    "X5": Size("ImageSizeX5Large", (2560, 1920)),
    "4K": Size("ImageSize4K", (3840, 2160)),
    "5K": Size("ImageSize5K", (5120, 2880)),
}
# Always listed, however small the original: what listings point at (`ThumbnailUrl`).
_ALWAYS_LISTED = ("Ti", "Th")


def media_token(blob: str, serial: int) -> str:
    """The hash segment of a media URL: changes whenever the bytes do."""
    return hashlib.sha1(f"{blob}/{serial}".encode()).hexdigest()[:10]


def rendition_size(width: int, height: int, code: str) -> tuple[int, int]:
    """The pixel size of the rendition `code` of a `width` x `height` original (never enlarged):
    what `!sizedetails` states and exactly what the media server makes."""
    box = SIZES[code].box
    scale = min(1.0, box[0] / max(width, 1), box[1] / max(height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def listed_sizes(width: int, height: int) -> list[str]:
    """The size codes `!sizedetails` lists for an original of `width` x `height`: every size
    that scales it down, then the first one that would not (the original's own pixel size),
    so the largest rendition listed is as large as the original and none is enlarged."""
    codes: list[str] = []
    for code in SIZES:
        codes.append(code)
        if rendition_size(width, height, code) == (width, height) and code not in _ALWAYS_LISTED:
            break
    return codes
