"""Which of an image's renditions a thumbnail is scaled from.

The service lists an image's renditions in `!sizedetails` (`ImageSizeTiny` 100 px up to
`ImageSize5K`, each with its `Url`, `Width` and `Height`; a video's are of its poster frame).
A thumbnail of a flavour is scaled from the smallest rendition at least as large as the
flavour, so it is sharp and costs the fewest bytes; an image smaller than that gets its largest
rendition, which is as large as the image itself. The original is never used: reading it is
what this avoids.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from smugfs.api.models import count, text


@dataclasses.dataclass(frozen=True, slots=True)
class Rendition:
    """One JPEG rendition of an image."""

    url: str
    width: int
    height: int

    @property
    def longest(self) -> int:
        """Its longest side in pixels."""
        return max(self.width, self.height)


def renditions_of(details: Any) -> list[Rendition]:
    """The usable JPEG renditions in an `ImageSizeDetails` object, smallest first (the
    original and a video's MP4 renditions are left out)."""
    if not isinstance(details, dict):
        return []
    found: list[Rendition] = []
    for name, entry in details.items():
        if not name.startswith("ImageSize") or name == "ImageSizeOriginal":
            continue
        if not isinstance(entry, dict) or entry.get("Usable") is False:
            continue
        url, width, height = (
            text(entry.get("Url")),
            count(entry.get("Width")),
            count(entry.get("Height")),
        )
        if url and width and height:
            found.append(Rendition(url, width, height))
    return sorted(found, key=lambda r: (r.longest, r.width * r.height))


def choose(renditions: list[Rendition], size: int) -> Rendition | None:
    """The smallest rendition whose longest side reaches `size`, else the largest one."""
    if not renditions:
        return None
    for rendition in sorted(renditions, key=lambda r: r.longest):
        if rendition.longest >= size:
            return rendition
    return max(renditions, key=lambda r: r.longest)
