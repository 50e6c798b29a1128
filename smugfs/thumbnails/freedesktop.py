"""The personal thumbnail cache of the freedesktop.org Thumbnail Managing Standard (0.9.0).

File managers (Nautilus, Nemo, Thunar through tumbler, pcmanfm, Dolphin) look a file's
thumbnail up in `$XDG_CACHE_HOME/thumbnails/<flavour>/` under the MD5 of the file's canonical
`file://` URI, and use it when its `Thumb::MTime` is the file's `st_mtime`; otherwise they read
the whole file to make one. This module writes thumbnails they accept: 8-bit RGBA PNGs no
larger than the flavour, with the standard's keys, in directories only the owner may enter,
written to a temporary file and renamed into place so a reader never sees half of one. No
FUSE and no network here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from PIL import Image, PngImagePlugin

from smugfs.thumbnails.flavours import FLAVOURS

SOFTWARE = "smugfs"
VERSION_KEY = "X-Smugfs::Version"
# Characters a path keeps unescaped in a `file://` URI, as GLib's `g_filename_to_uri` (which
# the file managers above use) leaves them; everything else, and every byte of a non-ASCII
# character, becomes `%XX`.
_PATH_SAFE = "!$&'()*+,-./:=@_~"


@dataclasses.dataclass(frozen=True, slots=True)
class Original:
    """What a thumbnail says about the file it stands for."""

    uri: str
    mtime: int
    size: int | None = None
    mimetype: str | None = None
    # The service's version of the file (kept under a key of this program's own, as the
    # standard allows): a photo replaced within the same second keeps its `st_mtime`.
    version: str | None = None


def file_uri(path: str) -> str:
    """The canonical `file://` URI of an absolute path, escaped as the standard asks."""
    if not path.startswith("/"):
        raise ValueError(f"not an absolute path: {path!r}")
    return "file://" + quote(os.fsencode(path), safe=_PATH_SAFE)


def thumbnail_name(uri: str) -> str:
    """The file name of a URI's thumbnail in every flavour's directory."""
    return hashlib.md5(uri.encode("utf-8")).hexdigest() + ".png"


def cache_root(environ: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CACHE_HOME/thumbnails` of this process's user (`~/.cache` when the variable is
    unset or not absolute, as the XDG Base Directory specification says)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        home = env.get("HOME") or os.path.expanduser("~")
        base = os.path.join(home, ".cache")
    return Path(base) / "thumbnails"


def thumbnail_path(root: Path, flavour: str, uri: str) -> Path:
    """Where the `flavour` thumbnail of `uri` lives below `root`."""
    return root / flavour / thumbnail_name(uri)


def read_original(path: Path) -> Original | None:
    """The keys of a thumbnail on disk, or None when there is none or it is unreadable."""
    try:
        with Image.open(path) as picture:
            keys = dict(getattr(picture, "text", {}))
    except (OSError, SyntaxError, ValueError):
        return None
    uri, mtime = keys.get("Thumb::URI"), keys.get("Thumb::MTime", "")
    if not uri or not mtime.strip().isdigit():
        return None
    size = keys.get("Thumb::Size", "")
    return Original(
        uri=uri,
        mtime=int(mtime),
        size=int(size) if size.strip().isdigit() else None,
        mimetype=keys.get("Thumb::Mimetype") or None,
        version=keys.get(VERSION_KEY) or None,
    )


def is_current(root: Path, flavour: str, original: Original) -> bool:
    """Whether the cache holds a thumbnail of `original` that a file manager would accept
    (same URI and modification time) of the same version, when `original` names one."""
    found = read_original(thumbnail_path(root, flavour, original.uri))
    if found is None or found.uri != original.uri or found.mtime != original.mtime:
        return False
    return original.version is None or found.version == original.version


def scaled(picture: Image.Image, flavour: str) -> Image.Image:
    """`picture` as an 8-bit RGBA image fitted into the flavour's square (never enlarged)."""
    limit = FLAVOURS[flavour]
    out = picture.convert("RGBA")
    if max(out.size) > limit:
        scale = limit / max(out.size)
        size = (max(1, round(out.width * scale)), max(1, round(out.height * scale)))
        out = out.resize(size, Image.Resampling.LANCZOS)
    return out


def encode(picture: Image.Image, original: Original) -> bytes:
    """The PNG of a thumbnail (already scaled) with the standard's keys."""
    keys = PngImagePlugin.PngInfo()
    keys.add_text("Thumb::URI", original.uri)
    keys.add_text("Thumb::MTime", str(original.mtime))
    if original.size is not None:
        keys.add_text("Thumb::Size", str(original.size))
    if original.mimetype:
        keys.add_text("Thumb::Mimetype", original.mimetype)
    if original.version:
        keys.add_text(VERSION_KEY, original.version)
    keys.add_text("Software", SOFTWARE)
    out = io.BytesIO()
    # Level 1: a thumbnail is written once and read a few times; encoding time matters more.
    picture.save(out, "PNG", pnginfo=keys, compress_level=1)
    return out.getvalue()


def write(root: Path, flavour: str, original: Original, png: bytes) -> Path:
    """Put a thumbnail's PNG in place atomically (replacing an older one); directories that
    are made are 0700, the file 0600. Returns its path."""
    directory = root / flavour
    for level in (root.parent, root, directory):
        with contextlib.suppress(FileExistsError):
            level.mkdir(mode=0o700)
    target = directory / thumbnail_name(original.uri)
    # mkstemp makes the file 0600 in the same directory, so the rename is atomic.
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".smugfs-", suffix=".png")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(png)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return target
