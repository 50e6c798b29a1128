"""Photo bytes for tests and benchmarks, made one way, and the files that hold them.

Two kinds, both reproducible from a seed:

- `photo`: bytes the service takes for a JPEG (it recognises a photo by its first bytes) of any
  size, cheap to make at camera sizes; nothing decodes the rest.
- `picture` (`jpeg` for a JPEG): a real image encoded by Pillow, for what decodes it
  (renditions, thumbnails, the formats the service accepts).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import random
from pathlib import Path
from typing import Any

from PIL import Image

# The start of a JPEG file (start of image, then an APP0 segment's marker).
JPEG_START = b"\xff\xd8\xff\xe0"
# Random bytes are drawn in pieces this big (one draw of hundreds of MiB overflows).
PIECE = 16 * 1024 * 1024
# Seeds for pictures that only need to differ from every other one: far from the small seeds
# tests give explicitly.
_FRESH = itertools.count(1_000_000)


def seeded_bytes(seed: int, size: int) -> bytes:
    """`size` random bytes, the same for the same seed."""
    rng = random.Random(seed)
    if size <= PIECE:
        return rng.randbytes(size)
    out = bytearray()
    while len(out) < size:
        out += rng.randbytes(min(PIECE, size - len(out)))
    return bytes(out)


def photo(seed: int, size: int = 200_000) -> bytes:
    """JPEG-looking bytes: the JPEG start, then `size` seeded random bytes."""
    return JPEG_START + seeded_bytes(seed, size)


def picture(
    seed: int | None = None,
    size: tuple[int, int] = (64, 48),
    fmt: str = "JPEG",
    *,
    length: int | None = None,
    **save_options: Any,
) -> bytes:
    """A real image of `size` pixels in a format Pillow writes (JPEG, PNG, GIF, WEBP, BMP...),
    its colour and bytes set by `seed` (a new seed each call when none is given: bytes that
    differ from every other picture's). `length` pads it with seeded bytes after its end, as
    some cameras do, to make a picture of that many bytes; `save_options` go to Pillow."""
    seed = next(_FRESH) if seed is None else seed
    colour = (seed * 37 % 256, seed * 91 % 256, (seed * 53 + 120) % 256)
    mode = "P" if fmt == "GIF" else "RGB"
    image = Image.new(mode, size, seed % 256 if mode == "P" else colour)
    if fmt == "JPEG":
        # The colour repeats every 256 seeds; the comment keeps the bytes apart.
        save_options = {"quality": 90, "comment": f"seed {seed}".encode(), **save_options}
    out = io.BytesIO()
    image.save(out, fmt, **save_options)
    data = out.getvalue()
    if length is not None:
        assert length >= len(data), f"a {fmt} of {size} takes {len(data)} bytes"
        data += seeded_bytes(seed, length - len(data))
    return data


def jpeg(
    seed: int | None = None, size: tuple[int, int] = (64, 48), *, length: int | None = None
) -> bytes:
    """A small real JPEG (`picture` in JPEG)."""
    return picture(seed, size, "JPEG", length=length)


def md5(data: bytes) -> str:
    """Hex MD5 of bytes."""
    return hashlib.md5(data).hexdigest()


def write(path: Path, data: bytes) -> Path:
    """A local file with these bytes (directories made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
