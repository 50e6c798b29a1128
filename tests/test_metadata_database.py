"""The metadata database on its own: what it keeps survives reopening, a damaged, cut-off or
foreign file is set aside and rebuilt, two mounts of one account each get their own, the
listings file of the earlier format is moved in, and a killed writer leaves it usable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio

from smugfs.api.models import RemoteImage, RemoteNode
from smugfs.listings import legacy
from smugfs.listings.database import Database, Validator, database_path
from smugfs.listings.kept import KeptInDatabase
from smugfs.tree import ROOT_INODE, Child

KEY = "account"
ROOT = RemoteNode.parse(
    {"NodeID": "root", "Type": "Folder", "Name": "", "UrlName": "", "Uri": "/api/v2/node/root"}
)
ALBUM = RemoteNode.parse(
    {
        "NodeID": "abc",
        "Type": "Album",
        "Name": "Alps",
        "UrlName": "Alps",
        "DateModified": "2024-05-01T10:00:00+00:00",
        "Uris": {"Album": {"Uri": "/api/v2/album/K1"}},
    }
)


def image(n: int, serial: int = 1) -> RemoteImage:
    return RemoteImage.parse(
        {
            "ImageKey": f"i{n}",
            "Serial": serial,
            "FileName": f"a{n}.jpg",
            "Format": "JPG",
            "ArchivedUri": f"http://x/a{n}.jpg",
            "ArchivedSize": 10 + n,
            "ArchivedMD5": f"{n:032x}",
            "LastUpdated": "2024-05-01T10:00:00+00:00",
        }
    )


def photos(count: int) -> list[Child]:
    return [(f"a{n}.jpg", f"image:abc:i{n}", None, image(n)) for n in range(count)]


def fill(database: Database, count: int = 3) -> int:
    """Save the root's listing (one album) and the album's (`count` photos); the album's
    inode."""
    database.set_root(ROOT)
    job = database.save_listing(
        ROOT_INODE, [("Alps", "node:abc", ALBUM, None)], Validator("v", 1, 9)
    )
    album = box(database, job)[0]
    box(database, database.save_listing(album, photos(count), Validator("w", 1, 9)))
    return album


def box(database: Database, job: object) -> list[int]:
    """Run a writer job and return its result (outside trio)."""
    result: list[list[int]] = []
    database.writer.submit(job, lambda value, error: result.append(value))  # type: ignore[arg-type]
    database.writer.flush_blocking()
    return result[0]


def test_listings_inodes_and_kept_times_survive_reopening(tmp_path: Path) -> None:
    database = Database.open(tmp_path, KEY)
    album = fill(database)
    kept = KeptInDatabase(database)
    kept.set(image(1).version, 123)
    kept.set_attributes(image(1).version, {"user.label": "red"})
    database.close()
    path = database_path(tmp_path, KEY)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700

    again = Database.open(tmp_path, KEY)
    try:
        assert again.root() == ROOT
        assert again.inode_of("node:abc") == album
        assert again.validator(album) == Validator("w", 1, 9)
        listing = again.listing(album)
        assert listing is not None
        assert [(name, identity) for _, name, identity, _, _ in listing] == [
            (f"a{n}.jpg", f"image:abc:i{n}") for n in range(3)
        ]
        assert listing[2][4] == image(2)
        kept = KeptInDatabase(again)
        assert kept.get(image(1).version) == 123
        assert kept.attributes(image(1).version) == {"user.label": "red"}
        # A replaced photo is a new version: nothing kept for it.
        assert kept.get(image(1, serial=2).version) is None
        # New identities get inodes the earlier ones never had.
        assert next(again.inodes) > max(inode for inode, *_ in listing)
    finally:
        again.close()


def test_a_listing_saved_again_writes_only_what_changed(tmp_path: Path) -> None:
    database = Database.open(tmp_path, KEY)
    try:
        album = fill(database, 2000)
        changes_before = database.connection.total_changes
        writer = database.writer._connection
        before = writer.total_changes
        box(
            database,
            database.save_listing(
                album,
                [*photos(2000), ("new.jpg", "image:abc:x", None, image(9999))],
                Validator("w2", 2, 9),
            ),
        )
        # One new child and the listing's validator.
        assert writer.total_changes - before == 3
        assert database.connection.total_changes == changes_before
        listing = database.listing(album)
        assert listing is not None
        assert listing[-1][1] == "new.jpg"
    finally:
        database.close()


@pytest.mark.parametrize("damage", ["garbage", "cut", "foreign", "newer"])
def test_an_unusable_file_is_set_aside_and_rebuilt(tmp_path: Path, damage: str) -> None:
    database = Database.open(tmp_path, KEY)
    fill(database, 3000)
    database.close()
    path = database_path(tmp_path, KEY)
    if damage == "garbage":
        path.write_bytes(os.urandom(64 * 1024))
    elif damage == "cut":
        with path.open("r+b") as file:
            file.truncate(path.stat().st_size // 2)
    else:
        import sqlite3

        connection = sqlite3.connect(path)
        if damage == "foreign":
            connection.execute("UPDATE meta SET value='someone-else' WHERE key='account'")
        else:
            connection.execute("PRAGMA user_version=99")
        connection.commit()
        connection.close()
    again = Database.open(tmp_path, KEY)
    try:
        assert again.root() is None
        assert again.inode_of("node:abc") is None
        fill(again)
        assert again.listing(again.inode_of("node:abc") or 0) is not None
    finally:
        again.close()
    assert len(list(path.parent.glob(f"{path.name}.damaged-*"))) == 1


def test_two_mounts_of_one_account_each_have_their_own(tmp_path: Path) -> None:
    first = Database.open(tmp_path, KEY)
    album = fill(first)
    second = Database.open(tmp_path, KEY)
    try:
        assert second.path != first.path
        assert second.root() is None  # nothing shared
        box(second, second.save_listing(ROOT_INODE, [], Validator("other", 1, 9)))
        assert first.listing(ROOT_INODE) is not None
        assert len(first.listing(ROOT_INODE) or []) == 1
    finally:
        second.close()
    assert not second.path.exists()
    first.close()
    again = Database.open(tmp_path, KEY)
    try:
        assert again.validator(album) == Validator("w", 1, 9)
        assert len(again.listing(ROOT_INODE) or []) == 1
    finally:
        again.close()


def test_listings_of_the_earlier_format_are_moved_in(tmp_path: Path) -> None:
    """A cache from before the database: one JSON file of listings (`legacy.py`)."""
    node_fields = list(RemoteNode.__dataclass_fields__)
    image_fields = list(RemoteImage.__dataclass_fields__)

    def record(value: object, fields: list[str]) -> list[object]:
        return [getattr(value, field) for field in fields]

    old = legacy.store_path(tmp_path, KEY)
    old.parent.mkdir(parents=True)
    old.write_text(
        json.dumps(
            {
                "format": legacy.FORMAT,
                "node_fields": node_fields,
                "image_fields": image_fields,
                "root": record(ROOT, node_fields),
                "listings": {
                    "node:root": [
                        "v",
                        1,
                        9,
                        [["Alps", "node:abc", record(ALBUM, node_fields), None]],
                    ],
                    "node:abc": [
                        "w",
                        1,
                        9,
                        [["a0.jpg", "image:abc:i0", None, record(image(0), image_fields)]],
                    ],
                },
            }
        )
    )
    database = Database.open(tmp_path, KEY)
    try:
        assert database.root() == ROOT
        album = database.inode_of("node:abc")
        assert album is not None
        assert database.validator(album) == Validator("w", 1, 9)
        assert [child[4] for child in database.listing(album) or []] == [image(0)]
        assert [child[1] for child in database.listing(ROOT_INODE) or []] == ["Alps"]
    finally:
        database.close()
    assert not old.exists()


WRITER = """
import sys, time
from pathlib import Path
from tests.test_metadata_database import Database, Validator, photos, fill, ROOT_INODE
database = Database.open(Path(sys.argv[1]), "account")
album = fill(database, 10)
print(album, flush=True)
n = 0
while True:
    n += 1
    job = database.save_listing(album, photos(10 + n % 4000), Validator(f"v{n}", 1, 9))
    database.writer.submit(job)
    if n % 50 == 0:
        database.writer.flush_blocking()
"""


def test_a_writer_killed_mid_transaction_leaves_a_usable_database(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).parent.parent,
    )
    try:
        assert process.stdout is not None
        album = int(process.stdout.readline())
        time.sleep(2.0)  # well into the stream of listing saves
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    database = Database.open(tmp_path, KEY)
    try:
        assert not list(tmp_path.glob("metadata/*.damaged-*"))
        listing = database.listing(album)
        assert listing is not None
        assert len(listing) >= 10
        saved = database.validator(album)
        assert saved is not None
        # The listing is whole: as many children as the save that wrote its validator.
        assert len(listing) == 10 + int(saved.validator[1:]) % 4000 or saved.validator == "w"
    finally:
        database.close()


def inode_rows(database: Database) -> int:
    """How many identities have an inode."""
    return int(database.connection.execute("SELECT count(*) FROM inodes").fetchone()[0])


def test_inodes_of_photos_gone_from_listings_are_pruned_unless_held(tmp_path: Path) -> None:
    database = Database.open(tmp_path, KEY)
    try:
        album = fill(database, 600)
        listing = database.listing(album)
        assert listing is not None
        inodes = [inode for inode, *_ in listing]
        assert inode_rows(database) == 602  # the root, the album, its photos
        # The service now lists the first 10 photos only.
        box(database, database.save_listing(album, photos(10), Validator("w2", 2, 9)))
        held = {inodes[100], inodes[599]}
        pruned = trio.run(database.prune, held.__contains__)
        assert pruned == 255  # a batch of 256 at a time (one of them held): bounded work
        while trio.run(database.prune, held.__contains__):
            pass
        assert inode_rows(database) == 2 + 10 + len(held)
        for inode in held:
            assert database.connection.execute(
                "SELECT 1 FROM inodes WHERE inode=?", (inode,)
            ).fetchone()
        # Still listed photos and the album keep theirs, as does a photo listed again.
        assert database.inode_of("node:abc") == album
        assert database.inode_of("image:abc:i9") == inodes[9]
        box(database, database.save_listing(album, photos(101), Validator("w3", 3, 9)))
        assert database.inode_of("image:abc:i100") == inodes[100]
        # The kernel let the last one go: the next pass removes it.
        assert trio.run(database.prune, lambda inode: False) == 1
        assert database.inode_of("image:abc:i599") is None
        assert trio.run(database.prune, lambda inode: False) == 0
        assert not database.gone_waiting
    finally:
        database.close()


def test_a_schema_1_file_is_migrated_and_its_history_pruned(tmp_path: Path) -> None:
    database = Database.open(tmp_path, KEY)
    album = fill(database, 20)
    database.close()
    path = database_path(tmp_path, KEY)
    import sqlite3

    # As version 1 left it: no `gone` table, and rows of photos no listing shows any more.
    connection = sqlite3.connect(path)
    connection.execute("DROP TABLE gone")
    connection.execute("DELETE FROM children WHERE dir=? AND pos >= 5", (album,))
    connection.execute("PRAGMA user_version=1")
    connection.commit()
    connection.close()

    again = Database.open(tmp_path, KEY)
    try:
        assert again.connection.execute("PRAGMA user_version").fetchone()[0] == 2
        assert inode_rows(again) == 22
        assert trio.run(again.prune, lambda inode: False) == 15
        assert inode_rows(again) == 7
        listing = again.listing(album)
        assert listing is not None
        assert [name for _, name, *_ in listing] == [f"a{n}.jpg" for n in range(5)]
    finally:
        again.close()
    assert not list(path.parent.glob(f"{path.name}.damaged-*"))
