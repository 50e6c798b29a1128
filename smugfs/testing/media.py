"""Photo bytes for tests and benchmarks, and the files that hold them."""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path

from PIL import Image


def jpeg(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    """A small real JPEG whose bytes differ per seed."""
    colour = (seed * 37 % 256, seed * 91 % 256, (seed * 53 + 120) % 256)
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", quality=90)
    return out.getvalue()


def photo(seed: int, size: int = 200_000) -> bytes:
    """JPEG-looking bytes (the service recognises a photo by its first bytes)."""
    rng = random.Random(seed)
    return b"\xff\xd8\xff\xe0" + rng.randbytes(size)


def md5(data: bytes) -> str:
    """Hex MD5 of bytes."""
    return hashlib.md5(data).hexdigest()


def write(path: Path, data: bytes) -> Path:
    """A local file with these bytes (directories made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
