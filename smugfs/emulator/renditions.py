"""The renditions the media server makes of an image: the size table, the pixel size of each,
the sizes `!sizedetails` lists for an original, and the hash segment of media URLs."""

from __future__ import annotations

import hashlib

# Renditions the media server makes on demand: size code -> the box it is fitted into (width,
# height), as the service's size table states them. Every code names a real URL segment.
SIZE_CODES: dict[str, tuple[int, int]] = {
    "Ti": (100, 100),
    "Th": (150, 150),
    "S": (400, 300),
    "M": (600, 450),
    "L": (800, 600),
    "XL": (1024, 768),
    "X2": (1280, 960),
    "X3": (1600, 1200),
    "X4": (2048, 1536),
    "X5": (2560, 1920),
    "4K": (3840, 2160),
    "5K": (5120, 2880),
}
SIZE_NAMES: dict[str, str] = {
    "Ti": "ImageSizeTiny",
    "Th": "ImageSizeThumb",
    "S": "ImageSizeSmall",
    "M": "ImageSizeMedium",
    "L": "ImageSizeLarge",
    "XL": "ImageSizeXLarge",
    "X2": "ImageSizeX2Large",
    "X3": "ImageSizeX3Large",
    "X4": "ImageSizeX4Large",
    "X5": "ImageSizeX5Large",
    "4K": "ImageSize4K",
    "5K": "ImageSize5K",
}
# Always listed, however small the original: what listings point at (`ThumbnailUrl`).
_ALWAYS_LISTED = ("Ti", "Th")


def media_token(blob: str, serial: int) -> str:
    """The hash segment of a media URL: changes whenever the bytes do."""
    return hashlib.sha1(f"{blob}/{serial}".encode()).hexdigest()[:10]


def rendition_size(width: int, height: int, box: tuple[int, int]) -> tuple[int, int]:
    """The pixel size of a rendition fitted into `box` (never enlarged): what `!sizedetails`
    states and exactly what the media server makes."""
    scale = min(1.0, box[0] / max(width, 1), box[1] / max(height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def listed_sizes(width: int, height: int) -> list[str]:
    """The size codes `!sizedetails` lists for an original of `width` x `height`: every size
    that scales it down, then the first one that would not (the original's own pixel size),
    so the largest rendition listed is as large as the original and none is enlarged."""
    codes: list[str] = []
    for code, box in SIZE_CODES.items():
        fitted = rendition_size(width, height, box)
        codes.append(code)
        if fitted == (width, height) and code not in _ALWAYS_LISTED:
            break
    return codes
