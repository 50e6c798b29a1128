"""The thumbnail sizes of the Thumbnail Managing Standard, and which a mount makes by default."""

from __future__ import annotations

# Flavour -> the largest width or height of its thumbnails.
FLAVOURS: dict[str, int] = {"normal": 128, "large": 256, "x-large": 512, "xx-large": 1024}
# What pcmanfm, Thunar (tumbler), Nemo and Dolphin (normal) and Nautilus (large) ask for at
# their default zoom on a screen of scale 1 (see docs/thumbnails.md).
DEFAULT_FLAVOURS: tuple[str, ...] = ("normal", "large")


def parse_flavours(text: str) -> tuple[str, ...]:
    """`normal,large` -> the flavours named, in size order; ValueError for an unknown one."""
    names = {name.strip() for name in text.split(",") if name.strip()}
    unknown = names - set(FLAVOURS)
    if unknown:
        raise ValueError(
            f"unknown thumbnail size {sorted(unknown)[0]!r} (one of {', '.join(FLAVOURS)})"
        )
    if not names:
        raise ValueError("no thumbnail size named")
    return tuple(name for name in FLAVOURS if name in names)
