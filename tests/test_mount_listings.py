"""Listings that survive a remount, and a mount that keeps working while the service is down.

Each test mounts an emulator account with `smugfs mount`, lists and reads with real tools, and
checks through `/emulator/stats` what the mount asked the service for. The offline tests stop
the emulator process under the mount and start it again on the same port and data directory.
"""

from __future__ import annotations

import errno
import hashlib
import os
import time
from pathlib import Path

import pytest

from smugfs.testing.account import ALBUM, FOLDER, Account, create_album, upload
from smugfs.testing.commands import run
from smugfs.testing.emulator import Emulator, restart
from smugfs.testing.media import photo
from smugfs.testing.mounts import Mount, mounted

pytestmark = pytest.mark.fuse

# Listings are reused on their validator only when fetched this long after the last change
# (the default is minutes; the tests make their libraries and wait this long).
SETTLE = ["listing_settle=1"]
# Long enough for anything uncached to be answered from the service's state, not a retry.
FAST = 3.0


def _requests(emulator: Emulator) -> dict[str, int]:
    counts: dict[str, int] = emulator.stats()["by_endpoint"]
    return counts


def _library(emulator: Emulator) -> tuple[dict[str, bytes], str]:
    """Folder `Trips` holding album `Alps` with three photos; album `Spare` at the root with
    two; album `Deep/L1/L2/L3` with one, deeper than listing ahead reaches from the root.
    Returns the photos by path, and the album URI of `Alps`."""
    account = Account(emulator)
    try:
        parent: str | None = None
        for name in ("Deep", "L1", "L2"):
            parent = account.create(name, FOLDER, parent)
        albums = {
            "Deep/L1/L2/L3": account.create("L3", ALBUM, parent),
            "Trips/Alps": account.create("Alps", ALBUM, account.create("Trips", FOLDER)),
            "Spare": account.create("Spare"),
        }
        photos = {f"Trips/Alps/a{n}.jpg": photo(n) for n in range(3)}
        photos.update({f"Spare/s{n}.jpg": photo(10 + n) for n in range(2)})
        photos["Deep/L1/L2/L3/d.jpg"] = photo(20)
        for path, data in photos.items():
            album, name = path.rsplit("/", 1)
            account.upload(albums[album], name, data)
    finally:
        account.close()
    return photos, albums["Trips/Alps"]


def _listing_requests(counts: dict[str, int]) -> int:
    return sum(v for k, v in counts.items() if k.endswith(("!images", "!children")))


def test_listings_are_revalidated_after_a_remount(emulator: Emulator, tmp_path: Path) -> None:
    _, alps_uri = _library(emulator)
    time.sleep(2.1)  # the library's last change is older than the settle time
    with mounted(emulator, tmp_path, options=SETTLE) as mount:
        assert sorted(os.listdir(mount.path / "Trips" / "Alps")) == ["a0.jpg", "a1.jpg", "a2.jpg"]
        assert sorted(os.listdir(mount.path)) == ["Deep", "Spare", "Trips"]
    saved = list((tmp_path / "cache" / "metadata").glob("*.sqlite"))
    assert len(saved) == 1
    assert saved[0].stat().st_mode & 0o777 == 0o600

    emulator.reset_stats()
    with mounted(emulator, tmp_path, options=SETTLE) as mount:
        listed = run("ls", "-l", mount.path / "Trips" / "Alps").stdout
        assert all(f"a{n}.jpg" in listed for n in range(3))
        counts = _listing_requests(_requests(emulator))
        # Nothing listed again: the folder's DateModified came with the root, the album's
        # ImagesLastUpdated with one small request.
        assert counts == 0, _requests(emulator)
        assert _requests(emulator).get("GET /api/v2/album/{key}") == 1
        assert mount.problems() == []

    # Changes made on the service while nothing was mounted show after the next mount.
    with emulator.client() as client:
        upload(emulator, alps_uri, "new.jpg", photo(99))
        create_album(client, "Later")
    with mounted(emulator, tmp_path, options=SETTLE) as mount:
        assert "new.jpg" in os.listdir(mount.path / "Trips" / "Alps")
        assert sorted(os.listdir(mount.path)) == ["Deep", "Later", "Spare", "Trips"]


@pytest.mark.log_expected("setting the metadata database")
def test_a_garbage_metadata_database_is_set_aside(emulator: Emulator, tmp_path: Path) -> None:
    _library(emulator)
    with mounted(emulator, tmp_path, options=SETTLE) as mount:
        os.listdir(mount.path / "Spare")
    (saved,) = (tmp_path / "cache" / "metadata").glob("*.sqlite")
    saved.write_bytes(b"\x00\xff not a database " * 100)
    with mounted(emulator, tmp_path, options=SETTLE) as mount:
        assert sorted(os.listdir(mount.path / "Spare")) == ["s0.jpg", "s1.jpg"]
        assert any("setting the metadata database" in line for line in mount.problems())
    assert len(list(saved.parent.glob("*.damaged-*"))) == 1


def _timed(*command: str | os.PathLike[str]) -> tuple[float, str, int]:
    began = time.monotonic()
    result = run(*command, check=False, timeout=60)
    return time.monotonic() - began, result.stderr, result.returncode


@pytest.mark.log_expected("the service is unreachable", "the service is reachable again")
def test_cached_listings_and_content_stay_usable_while_the_service_is_down(
    restartable: list[Emulator], tmp_path: Path
) -> None:
    emulator = restartable[0]
    photos, _ = _library(emulator)
    options = ["listing_ttl=1", "attr_timeout=1", "entry_timeout=1", "negative_timeout=1"]
    with mounted(emulator, tmp_path, options=options) as mount:
        alps = mount.path / "Trips" / "Alps"
        assert sorted(os.listdir(alps)) == ["a0.jpg", "a1.jpg", "a2.jpg"]
        assert (alps / "a0.jpg").read_bytes() == photos["Trips/Alps/a0.jpg"]
        assert sorted(os.listdir(mount.path)) == ["Deep", "Spare", "Trips"]

        emulator.stop()
        time.sleep(1.5)  # every listing the mount holds is past its TTL
        elapsed, error, status = _timed("ls", "-l", alps)
        assert status == 0, error
        assert elapsed < FAST
        digest = run("md5sum", alps / "a0.jpg").stdout.split()[0]
        assert digest == hashlib.md5(photos["Trips/Alps/a0.jpg"]).hexdigest()
        # Never listed, never read: the mount says at once that the service is unreachable.
        deep = mount.path / "Deep" / "L1" / "L2" / "L3"
        for command in (("ls", deep), ("cat", alps / "a1.jpg")):
            for _ in range(3):
                elapsed, error, status = _timed(*command)
                assert status != 0
                assert "Network is unreachable" in error, error
                assert elapsed < FAST, (command, elapsed)
        # A change needs the service too: refused at once, and nothing is half made.
        elapsed, error, status = _timed("mkdir", mount.path / "Offline Album")
        assert status != 0
        assert "Network is unreachable" in error, error
        assert elapsed < FAST
        _wait_for_status(mount, "UNREACHABLE")

        restart(restartable)
        deadline = time.monotonic() + 30
        while run("ls", deep, check=False).returncode != 0:
            assert time.monotonic() < deadline, "the mount did not recover"
            time.sleep(0.5)
        assert os.listdir(deep) == ["d.jpg"]
        assert (alps / "a1.jpg").read_bytes() == photos["Trips/Alps/a1.jpg"]
        _wait_for_status(mount, "service", unwanted="UNREACHABLE")
        assert "Offline Album" not in os.listdir(mount.path)
        assert (mount.path / "Spare" / "s1.jpg").read_bytes() == photos["Spare/s1.jpg"]


def _wait_for_status(mount: Mount, wanted: str, unwanted: str | None = None) -> None:
    """Wait until the `service` line of `smugfs status` says `wanted` (and not `unwanted`)."""
    deadline = time.monotonic() + 10
    while True:
        lines = mount.status()
        line = next((x for x in lines if x.startswith("service")), "")
        if wanted in line and (unwanted is None or unwanted not in line):
            return
        assert time.monotonic() < deadline, lines
        time.sleep(0.3)


@pytest.mark.log_expected("the service is unreachable", "the service is reachable again")
def test_a_mount_starts_with_its_saved_tree_while_the_service_is_down(
    restartable: list[Emulator], tmp_path: Path
) -> None:
    emulator = restartable[0]
    photos, _ = _library(emulator)
    with mounted(emulator, tmp_path) as mount:
        assert sorted(os.listdir(mount.path / "Trips" / "Alps")) == ["a0.jpg", "a1.jpg", "a2.jpg"]
        assert (mount.path / "Trips" / "Alps" / "a2.jpg").read_bytes() == photos[
            "Trips/Alps/a2.jpg"
        ]
    emulator.stop()
    with mounted(emulator, tmp_path) as mount:
        alps = mount.path / "Trips" / "Alps"
        assert sorted(os.listdir(mount.path)) == ["Deep", "Spare", "Trips"]
        assert sorted(os.listdir(alps)) == ["a0.jpg", "a1.jpg", "a2.jpg"]
        assert (alps / "a2.jpg").read_bytes() == photos["Trips/Alps/a2.jpg"]
        elapsed, error, status = _timed("cat", alps / "a0.jpg")
        assert status != 0
        assert "Network is unreachable" in error, error
        assert elapsed < FAST
        deep = mount.path / "Deep" / "L1" / "L2" / "L3"
        elapsed, error, status = _timed("ls", deep)
        assert status != 0
        assert "Network is unreachable" in error, error
        assert elapsed < FAST

        restart(restartable)
        deadline = time.monotonic() + 30
        while run("ls", deep, check=False).returncode != 0:
            assert time.monotonic() < deadline, "the mount did not recover"
            time.sleep(0.5)
        assert os.listdir(deep) == ["d.jpg"]
        assert (alps / "a0.jpg").read_bytes() == photos["Trips/Alps/a0.jpg"]


def test_directories_below_a_listed_one_are_listed_ahead(
    emulator: Emulator, tmp_path: Path
) -> None:
    _library(emulator)

    def wait_for(endpoint: str, count: int) -> None:
        deadline = time.monotonic() + 20
        while _requests(emulator).get(endpoint, 0) < count:
            assert time.monotonic() < deadline, _requests(emulator)
            time.sleep(0.1)

    # Counted from before the mount, so whoever reads the root first (this test, or a desktop's
    # indexer looking into every new mount) is counted, and what is listed ahead follows from
    # that read. Each directory is listed once: the listings outlast the test.
    emulator.reset_stats()
    with mounted(emulator, tmp_path, options=["listing_ttl=600"]) as mount:
        assert sorted(os.listdir(mount.path)) == ["Deep", "Spare", "Trips"]
        # Nobody opened them, yet the album in the root and the folders below it get listed
        # in the background (root, Trips, Deep, L1, L2); L2's album is left alone.
        wait_for("GET /api/v2/album/{key}!images", 1)
        wait_for("GET /api/v2/node/{key}!children", 5)
        time.sleep(0.5)
        assert _requests(emulator).get("GET /api/v2/node/{key}!children") == 5
        assert _requests(emulator).get("GET /api/v2/album/{key}!images") == 1
        assert sorted(os.listdir(mount.path / "Spare")) == ["s0.jpg", "s1.jpg"]
        # Reading Trips (listed already) lists its album ahead.
        assert os.listdir(mount.path / "Trips") == ["Alps"]
        wait_for("GET /api/v2/album/{key}!images", 2)
        before = _listing_requests(_requests(emulator))
        assert sorted(os.listdir(mount.path / "Trips" / "Alps")) == ["a0.jpg", "a1.jpg", "a2.jpg"]
        assert _listing_requests(_requests(emulator)) == before
        assert before == 7
        assert mount.problems() == []


def test_what_another_client_made_is_found_by_name_at_once_and_misses_stay_cheap(
    emulator: Emulator, tmp_path: Path
) -> None:
    _, alps_uri = _library(emulator)
    relist = 2.0
    # Listings stay fresh for ten minutes: only the relisting on a miss can find the new names.
    options = ["listing_ttl=600", f"relist_on_miss={relist:g}"]
    with mounted(emulator, tmp_path, options=options) as mount, Account(emulator) as account:
        alps = mount.path / "Trips" / "Alps"
        assert sorted(os.listdir(mount.path)) == ["Deep", "Spare", "Trips"]
        assert sorted(os.listdir(alps)) == ["a0.jpg", "a1.jpg", "a2.jpg"]
        time.sleep(relist + 0.2)  # both listings are older than `relist_on_miss`
        account.create("Made Elsewhere")
        account.upload(alps_uri, "elsewhere.jpg", photo(30))
        emulator.reset_stats()
        assert (mount.path / "Made Elsewhere").is_dir()
        assert (alps / "elsewhere.jpg").stat().st_size == len(photo(30))
        counts = _requests(emulator)
        assert counts.get("GET /api/v2/node/{key}!children") == 1, counts
        assert counts.get("GET /api/v2/album/{key}!images") == 1, counts

        # Names that exist nowhere, each looked up once (no negative entry answers them):
        # the root is listed again at most once per `relist_on_miss`.
        emulator.reset_stats()
        started = time.monotonic()
        misses = 0
        while time.monotonic() - started < 2.5 * relist:
            assert not (mount.path / f"Nowhere {misses}").exists()
            misses += 1
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        relistings = _requests(emulator).get("GET /api/v2/node/{key}!children", 0)
        assert misses > 20
        assert 1 <= relistings <= 1 + elapsed / relist, (relistings, elapsed)
        assert sorted(os.listdir(mount.path)) == ["Deep", "Made Elsewhere", "Spare", "Trips"]
        assert mount.problems() == []


def test_extended_attributes_only_when_asked_for(emulator: Emulator, tmp_path: Path) -> None:
    photos, _ = _library(emulator)
    with mounted(emulator, tmp_path / "plain") as mount:
        photo = mount.path / "Spare" / "s0.jpg"
        with pytest.raises(OSError, match="not supported") as refused:
            os.getxattr(photo, "user.smugmug.md5")
        assert refused.value.errno == errno.EOPNOTSUPP
        assert run("ls", "-l", photo).returncode == 0
    with mounted(emulator, tmp_path / "xattrs", options=["xattrs"]) as mount:
        photo = mount.path / "Spare" / "s0.jpg"
        md5 = os.getxattr(photo, "user.smugmug.md5").decode()
        assert md5 == hashlib.md5(photos["Spare/s0.jpg"]).hexdigest()
        assert "user.smugmug.md5" in os.listxattr(photo)
        with pytest.raises(OSError, match="No data") as missing:
            os.getxattr(photo, "user.other")
        assert missing.value.errno == errno.ENODATA
