"""The mount's metadata database under real mounts: a mount killed while it saves listings
leaves a database the next mount opens and serves from, two mounts of one account at once
each keep their own, leaving the account's database whole, and the inodes of photos deleted
on the service are pruned while one a program holds open keeps its own."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from smugfs.testing.account import Account, requests_to
from smugfs.testing.emulator import Emulator
from smugfs.testing.media import photo
from smugfs.testing.mounts import kill, mounted
from smugfs.testing.waits import wait_for

pytestmark = pytest.mark.fuse

ALBUMS = 8
PHOTOS = 12
IMAGES = "GET /api/v2/album/{key}!images"


def _library(account: Account) -> dict[str, list[str]]:
    """Albums A0..A7 of small photos; their file names by album."""
    names: dict[str, list[str]] = {}
    for a in range(ALBUMS):
        uri = account.create(f"A{a}")
        names[f"A{a}"] = sorted(f"p{a}-{n}.jpg" for n in range(PHOTOS))
        for n, name in enumerate(names[f"A{a}"]):
            account.upload(uri, name, photo(a * 100 + n, 2000))
    return names


@pytest.mark.log_expected("the service is unreachable", "the service is reachable again")
def test_a_mount_killed_while_saving_listings_leaves_them_to_the_next(
    emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    names = _library(account)
    with mounted(emulator, tmp_path) as mount:
        assert sorted(os.listdir(mount.path / "A0")) == names["A0"]
        # Slow answers, so the walk is still saving listings when the mount dies.
        emulator.configure(latency_ms=300)
        emulator.reset_stats()
        walker = subprocess.Popen(
            ["find", str(mount.path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_for(lambda: requests_to(emulator, IMAGES) >= 3, "the walk to list albums")
            time.sleep(0.4)
            kill(mount)
        finally:
            walker.wait(timeout=30)
    emulator.configure(latency_ms=0)
    emulator.stop()
    # The service is gone: the next mount starts with what the killed one saved.
    with mounted(emulator, tmp_path) as mount:
        assert sorted(os.listdir(mount.path)) == sorted(names)
        assert sorted(os.listdir(mount.path / "A0")) == names["A0"]
        for album, expected in names.items():
            try:
                listed = sorted(os.listdir(mount.path / album))
            except OSError:
                continue  # never listed before the kill: nothing saved to serve
            assert listed == expected
        assert not any("setting the metadata database" in line for line in mount.problems())
    assert not list((tmp_path / "cache" / "metadata").glob("*.damaged-*"))


@pytest.mark.log_expected("the service is unreachable", "the service is reachable again")
def test_two_mounts_of_one_account_keep_their_own_databases(
    emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    names = _library(account)
    cache = tmp_path / "cache"
    shared = [f"cache_dir={cache}"]
    with mounted(emulator, tmp_path / "one", options=shared) as one:
        with mounted(emulator, tmp_path / "two", options=shared) as two:
            for mount in (one, two):
                for album in ("A0", "A1"):
                    assert sorted(os.listdir(mount.path / album)) == names[album]
            os.mkdir(two.path / "Made")
            assert "Made" in os.listdir(two.path)
            databases = sorted(p.name for p in (cache / "metadata").glob("*.sqlite"))
            assert len(databases) == 2, databases
        assert len(list((cache / "metadata").glob("*.sqlite"))) == 1
        assert sorted(os.listdir(one.path / "A2")) == names["A2"]
        assert one.problems() == []
    emulator.stop()
    with mounted(emulator, tmp_path / "three", options=shared) as three:
        for album in ("A0", "A1", "A2"):
            assert sorted(os.listdir(three.path / album)) == names[album]
        assert not any("setting the metadata database" in line for line in three.problems())


def _inode_rows(cache: Path) -> dict[int, str]:
    """The identities with an inode in the account's database (read beside the mount)."""
    (path,) = (cache / "metadata").glob("*.sqlite")
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return dict(connection.execute("SELECT inode, identity FROM inodes").fetchall())
    finally:
        connection.close()


def test_inodes_of_photos_deleted_on_the_service_go_but_one_held_open_stays(
    emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    uri = account.create("Pruned")
    names = sorted(f"p{n:02d}.jpg" for n in range(PHOTOS))
    payloads = {name: photo(900 + n, 3000) for n, name in enumerate(names)}
    for name in names:
        account.upload(uri, name, payloads[name])
    options = ["listing_ttl=1", "attr_timeout=1", "entry_timeout=1", "negative_timeout=1"]
    with mounted(emulator, tmp_path, options=options) as mount:
        album = mount.path / "Pruned"
        assert sorted(os.listdir(album)) == names
        inodes = {name: os.stat(album / name).st_ino for name in names}
        before = _inode_rows(mount.cache_dir)
        assert set(inodes.values()) <= set(before)
        kept = names[0]
        with open(album / kept, "rb") as held:
            assert held.read() == payloads[kept]
            for image in account.images(uri):
                assert account.http.delete(image["Uris"]["Image"]["Uri"]).status_code == 200
            wait_for(lambda: os.listdir(album) == [], "the listing to show the deletions")

            def pruned() -> bool:
                # The kernel's names of the deleted photos expire and it lets their inodes
                # go; a later look at the album prunes them.
                for name in names[1:]:
                    with contextlib.suppress(FileNotFoundError):
                        os.stat(album / name)
                os.listdir(album)
                rows = _inode_rows(mount.cache_dir)
                return not any(inodes[name] in rows for name in names[1:])

            wait_for(pruned, "the deleted photos' inodes to be pruned", timeout=90)
            rows = _inode_rows(mount.cache_dir)
            assert len(rows) == len(before) - (len(names) - 1)
            # The one held open keeps its inode and still answers.
            assert inodes[kept] in rows
            assert os.fstat(held.fileno()).st_ino == inodes[kept]
            assert os.fstat(held.fileno()).st_size == len(payloads[kept])
        assert mount.problems() == []
