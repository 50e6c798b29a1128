"""A file manager opening an album of camera-sized photos: how long until every photo has its
thumbnails, and how many bytes that fetched, through smugfs (which writes them from SmugMug's
renditions) under the home-link model, against rclone mount of the same bytes.

The file manager is a script doing what the Thumbnail Managing Standard has one do: read the
directory, then for each file in turn (four at once, as tumbler and GNOME's thumbnailer do)
look its `normal` and `large` thumbnails up in the personal cache under the MD5 of its URI,
accept them when `Thumb::MTime` is the file's `st_mtime`, and otherwise read the file and
make them itself with Pillow. The album is `Thumbnails/Camera`, 3000 x 2000 JPEGs of about
3 MB made once per library; the emulator's renditions are made before the clock starts (the
service makes them at upload). rclone serves nginx on loopback (it has no home-link model):
its bytes at the home link's rate are given as the least time they could take there.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import io
import os
import shutil
import tempfile
import time
from pathlib import Path

from PIL import Image

from benchkit.context import RemoteFile, Setup, album_files
from benchkit.measure import MIB, Results, alternate, ratio
from benchkit.network import series, under
from benchkit.report import Row, _f
from benchkit.workloads import Plan
from smugfs.emulator import sample_media
from smugfs.testing.account import FOLDER, Account, create_album, create_node, upload
from smugfs.thumbnails import freedesktop
from smugfs.thumbnails.flavours import DEFAULT_FLAVOURS
from smugfs.thumbnails.freedesktop import Original

ALBUM = ("Thumbnails", "Camera")
# What a person's album of one outing holds (the 200); fewer in quick mode.
PHOTOS = 200
QUICK_PHOTOS = 24
LOOKUP_WORKERS = 4
# The slowest contender gets this long before the run is given up.
ALL_THUMBNAILS_TIMEOUT = 900.0


def _photos(setup: Setup, count: int) -> list[RemoteFile]:
    """The camera-sized album, made on first use (generated and uploaded, then every
    rendition a thumbnail needs asked for once so the emulator has it made)."""
    emulator = setup.emulator
    assert emulator is not None
    with Account(emulator) as account:
        if account.find(*ALBUM) is None:
            _upload(setup, count)
        for image in account.images(account.album_uri(*ALBUM)):
            sizes = account.get(image["Uris"]["ImageSizeDetails"]["Uri"])["ImageSizeDetails"]
            for name in ("ImageSizeThumb", "ImageSizeSmall", "ImageSizeMedium"):
                if name in sizes:
                    account.http.get(sizes[name]["Url"]).raise_for_status()
    return album_files(emulator, ALBUM)[:count]


def _upload(setup: Setup, count: int) -> None:
    """Generate and upload the album's photos."""
    emulator = setup.emulator
    assert emulator is not None
    with emulator.client() as client:
        folder = create_node(client, ALBUM[0], FOLDER)
        album_uri = create_album(client, ALBUM[1], folder["Uri"])

    def one(n: int) -> None:
        data = sample_media.make_camera_jpeg(
            10_000 + n,
            width=3000,
            height=2000,
            taken=dt.datetime(2025, 6, 21, 5, 0) + dt.timedelta(minutes=n),
            title=f"Camera {n:04d}",
        )
        upload(emulator, album_uri, f"DSC{n:05d}.JPG", data)

    print(f"    making an album of {count} camera-sized photos", flush=True)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(one, range(1, count + 1)))


def _thumbnail_of(root: Path, path: Path) -> None:
    """What a thumbnailer does for a file it finds no current thumbnail of: read it whole,
    scale it, save both sizes."""
    facts = path.stat()
    original = Original(freedesktop.file_uri(str(path)), int(facts.st_mtime), facts.st_size)
    with Image.open(io.BytesIO(path.read_bytes())) as picture:
        picture.draft("RGB", (256, 256))
        for flavour in DEFAULT_FLAVOURS:
            png = freedesktop.encode(freedesktop.scaled(picture, flavour), original)
            freedesktop.write(root, flavour, original, png)


def _look_up(root: Path, path: Path) -> bool:
    """The standard's lookup of one file; makes its thumbnails when they are missing.
    Returns whether they were found."""
    facts = path.stat()
    original = Original(freedesktop.file_uri(str(path)), int(facts.st_mtime))
    if all(freedesktop.is_current(root, f, original) for f in DEFAULT_FLAVOURS):
        return True
    _thumbnail_of(root, path)
    return False


def open_album(album: Path, root: Path) -> tuple[float, int]:
    """A file manager opening `album`: the seconds until every file has its thumbnails and
    how many it found made."""
    started = time.monotonic()
    names = sorted(os.listdir(album))
    with concurrent.futures.ThreadPoolExecutor(LOOKUP_WORKERS) as pool:
        found = list(pool.map(lambda name: _look_up(root, album / name), names))
    seconds = time.monotonic() - started
    if seconds > ALL_THUMBNAILS_TIMEOUT:
        raise RuntimeError(f"{album}: {seconds:.0f} s for the thumbnails")
    return seconds, sum(found)


def thumbnails(setup: Setup, plan: Plan, out: Results) -> None:
    """The album opened through smugfs (home link) and rclone (loopback), interleaved."""
    emulator, nginx = setup.emulator, setup.nginx
    assert emulator is not None
    assert nginx is not None
    count = QUICK_PHOTOS if plan.spec.photos < 1000 else PHOTOS
    files = _photos(setup, count)
    setup.serve_files("Camera", files)
    album_bytes = sum(f.size for f in files)
    out.add("thumbnails photos", len(files), "")
    out.add("thumbnails album", album_bytes / MIB, "MiB")
    name = series("thumbnails smugfs", plan.home)
    budget = plan.budget("thumbnails")
    rep = 0
    while budget.more(rep):
        for who in alternate(rep, ["smugfs", "rclone"]):
            if who == "smugfs":
                with under(emulator, plan.home), setup.smugfs(options=["thumbnails=on"]) as m:
                    emulator.reset_stats()
                    seconds, found = open_album(m.path.joinpath(*ALBUM), m.thumbnails)
                    stats = emulator.stats()
                    out.add(name, seconds, "s")
                    out.add(f"{name} found", found, "")
                    out.add(f"{name} originals", stats["original_bytes"] / MIB, "MiB")
                    out.add(f"{name} fetched", stats["media_bytes"] / MIB, "MiB")
            else:
                cache = Path(tempfile.mkdtemp(prefix="thumbnails-"))
                try:
                    with setup.rclone() as rclone:
                        nginx.clear_log()
                        seconds, found = open_album(rclone.path / "Camera", cache)
                        out.add("thumbnails rclone", seconds, "s")
                        out.add("thumbnails rclone found", found, "")
                        out.add("thumbnails rclone fetched", nginx.bytes_sent() / MIB, "MiB")
                finally:
                    shutil.rmtree(cache, ignore_errors=True)
        rep += 1
    out.note(
        f"thumbnails: the file manager is a script doing the standard's lookups, {LOOKUP_WORKERS}"
        f" at once; smugfs under {plan.home.describe()}; rclone (nginx on loopback) has no "
        "home-link model: its bytes at the link's rate are the least it could take there"
    )


def rows(out: Results, plan: Plan) -> list[Row]:
    """The verdict: time until all thumbnails exist and bytes fetched."""
    if not out.runs("thumbnails rclone"):
        return []
    name = series("thumbnails smugfs", plan.home)
    photos = int(out.median("thumbnails photos"))
    smugfs, rclone = out.median(name), out.median("thumbnails rclone")
    fetched, rclone_fetched = out.median(f"{name} fetched"), out.median("thumbnails rclone fetched")
    link = plan.home.link_mbps or plan.home.bandwidth_mbps
    least = rclone_fetched * MIB * 8 / (link * 1e6) if link else float("nan")
    return [
        Row(
            f"file manager opens an album of {photos} camera-sized photos: all thumbnails "
            f"({plan.home.key} link)",
            _f(smugfs, "s", 2),
            f"rclone {_f(rclone, 's', 2)} on loopback, >= {_f(least, 's', 1)} at {link:g} Mbit/s",
            ratio(smugfs, max(rclone, least)),
            "<= 1x rclone",
            "<=",
            1.0,
        ),
        Row(
            f"bytes fetched for those thumbnails (album {out.median('thumbnails album'):.0f} MiB)",
            _f(fetched, "MiB", 1),
            f"rclone {_f(rclone_fetched, 'MiB', 1)}",
            ratio(fetched, rclone_fetched),
            "<= 0.1x rclone",
            "<=",
            0.1,
        ),
    ]
