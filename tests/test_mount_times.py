"""Modification times that tools set are kept: rsync's quick check finds nothing to send.

Each test mounts a fresh emulator account, copies photos in with `rsync -a`, `cp -p` or
`touch -d`, and checks what `stat` reports (to the nanosecond) through this mount and the next
one, and what the service received (its upload counter, its images and MD5s).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from smugfs.testing.account import Account, uploads
from smugfs.testing.commands import ok
from smugfs.testing.emulator import Emulator
from smugfs.testing.media import md5, photo, write
from smugfs.testing.mounts import mounted

pytestmark = pytest.mark.fuse

# Short listing and attribute lifetimes, so a change on the service shows within a second.
FRESH = ["listing_ttl=1", "attr_timeout=1", "entry_timeout=1"]


def transferred(rsync_output: str) -> int:
    """How many regular files rsync says it sent (from `--stats`)."""
    found = re.search(r"Number of regular files transferred: ([\d,]+)", rsync_output)
    assert found, rsync_output
    return int(found.group(1).replace(",", ""))


def sources(folder: Path, count: int) -> dict[str, bytes]:
    """`count` photos in a local folder, each with its own nanosecond modification time."""
    photos = {f"p{n}.jpg": photo(500 + n, 40_000) for n in range(count)}
    for n, (name, data) in enumerate(photos.items()):
        path = write(folder / name, data)
        os.utime(path, ns=(1_600_000_000_123_456_789 + n, 1_600_000_000_123_456_789 + n * 1001))
    return photos


def test_rsync_a_twice_sends_nothing_the_second_time_also_after_a_remount(
    emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    album_uri = account.create("Shoot")
    source = tmp_path / "src"
    photos = sources(source, 5)
    workdir = tmp_path / "mount"
    with mounted(emulator, workdir) as mount:
        target = f"{mount.path / 'Shoot'}/"
        first = ok("rsync", "-a", "--stats", f"{source}/", target)
        assert transferred(first) == 5
        for name in photos:
            assert (mount.path / "Shoot" / name).stat().st_mtime_ns == (
                source / name
            ).stat().st_mtime_ns
        emulator.reset_stats()
        second = ok("rsync", "-a", "--stats", f"{source}/", target)
        assert transferred(second) == 0, second
        assert uploads(emulator) == 0
        assert mount.problems() == []
    with mounted(emulator, workdir) as mount:
        target = f"{mount.path / 'Shoot'}/"
        third = ok("rsync", "-a", "--stats", f"{source}/", target)
        assert transferred(third) == 0, third
        assert uploads(emulator) == 0
        # --delete mirrors: a photo gone from the source goes from the album, nothing is sent.
        (source / "p0.jpg").unlink()
        mirrored = ok("rsync", "-a", "--delete", "--stats", f"{source}/", target)
        assert transferred(mirrored) == 0, mirrored
        assert uploads(emulator) == 0
        assert mount.problems() == []
    images = account.by_name(album_uri)
    assert sorted(images) == sorted(set(photos) - {"p0.jpg"})
    for name, image in images.items():
        assert image["ArchivedMD5"] == md5(photos[name])


def test_cp_p_and_touch_d_keep_their_times_across_a_remount(
    emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    account.create("Album")
    source = write(tmp_path / "kept.jpg", photo(601, 30_000))
    os.utime(source, ns=(1_500_000_000_987_654_321, 1_500_000_000_987_654_321))
    workdir = tmp_path / "mount"
    with mounted(emulator, workdir) as mount:
        album = mount.path / "Album"
        ok("cp", "-p", source, album)
        assert (album / "kept.jpg").stat().st_mtime_ns == 1_500_000_000_987_654_321
        write(tmp_path / "later.jpg", photo(602, 30_000))
        ok("cp", tmp_path / "later.jpg", album)
        ok("touch", "-d", "2019-03-04 05:06:07.25 UTC", album / "later.jpg")
        assert (album / "later.jpg").stat().st_mtime_ns == 1_551_675_967_250_000_000
        assert mount.problems() == []
    with mounted(emulator, workdir) as mount:
        album = mount.path / "Album"
        assert (album / "kept.jpg").stat().st_mtime_ns == 1_500_000_000_987_654_321
        assert (album / "later.jpg").stat().st_mtime_ns == 1_551_675_967_250_000_000
        assert mount.problems() == []


def test_a_photo_replaced_on_the_service_reports_the_services_time_again(
    emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    album_uri = account.create("Album")
    source = write(tmp_path / "view.jpg", photo(701, 30_000))
    os.utime(source, ns=(1_400_000_000_000_000_001, 1_400_000_000_000_000_001))
    with mounted(emulator, tmp_path / "mount", options=FRESH) as mount:
        target = mount.path / "Album" / "view.jpg"
        ok("cp", "-p", source, target)
        assert target.stat().st_mtime_ns == 1_400_000_000_000_000_001
        image = account.by_name(album_uri)["view.jpg"]
        account.upload(
            album_uri, "view.jpg", photo(702, 30_000), X_Smug_ImageUri=image["Uris"]["Image"]["Uri"]
        )
        deadline = time.monotonic() + 30
        while target.stat().st_mtime_ns == 1_400_000_000_000_000_001:
            assert time.monotonic() < deadline, "the replaced photo kept the old time"
            time.sleep(0.2)
        # Now the service's time: when it was replaced, not the time cp -p set.
        assert abs(target.stat().st_mtime - time.time()) < 120
        assert md5(target.read_bytes()) == md5(photo(702, 30_000))
        assert mount.problems() == []
