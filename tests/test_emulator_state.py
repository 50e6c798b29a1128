"""The emulator's state file: a data directory of an earlier version (`state.json`) is migrated
and then answers every request as it did; images are read from the file as asked for, and a
change made to one (through any reference to it, whether it stayed in memory or not) is
written back and survives a restart.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx

from smugfs.emulator import state_file
from smugfs.emulator.image_table import ImageTable
from smugfs.emulator.model import Image, to_plain
from smugfs.emulator.state_file import IMAGES, SMALL_KINDS, TOKENS, StateFile
from smugfs.emulator.store import Store
from smugfs.testing.emulator import Emulator, start_emulator


def write_state_json(data_dir: Path) -> None:
    """Turn a data directory back into the layout of versions before the state database:
    every record in one `state.json`, as they wrote it."""
    store = Store.open(data_dir)
    plain: dict[str, Any] = {}
    for kind in SMALL_KINDS:
        records = getattr(store, kind.name).values()
        if kind is TOKENS:
            records = [t for t in records if t.kind == "access"]
        plain[kind.name] = [to_plain(r) for r in records]
    plain[IMAGES.name] = [to_plain(store.images[k]) for k in store.images]
    plain["generation"] = store.generation - 1
    store.state.close()
    for name in ("state.sqlite", "state.sqlite-wal", "state.sqlite-shm"):
        (data_dir / name).unlink(missing_ok=True)
    (data_dir / "state.json").write_text(json.dumps(plain, separators=(",", ":")))


def answers(emulator: Emulator) -> dict[str, Any]:
    """What the service answers about its whole library: the user, every node with its
    children, every album and image, and the bytes of each image."""
    seen: dict[str, Any] = {}
    with emulator.client() as c:

        def get(uri: str, **params: Any) -> Any:
            reply = c.get(uri, params={"count": 1000, **params})
            assert reply.status_code == 200, uri
            body = reply.json()["Response"]
            seen[uri] = body
            return body

        user = get("/api/v2!authuser")["User"]
        nodes = [user["Uris"]["Node"]["Uri"]]
        while nodes:
            node = get(nodes.pop())["Node"]
            if "ChildNodes" in node["Uris"]:
                for child in get(node["Uris"]["ChildNodes"]["Uri"]).get("Node", []):
                    nodes.append(child["Uri"])
            if node["Type"] == "Album":
                album = get(node["Uris"]["Album"]["Uri"])["Album"]
                listing = get(album["Uris"]["AlbumImages"]["Uri"], _expand="ImageSizeDetails")
                for image in listing.get("AlbumImage", []):
                    get(image["Uris"]["Image"]["Uri"])
                    seen[image["ArchivedUri"]] = c.get(image["ArchivedUri"]).content
    return seen


def test_a_data_directory_of_an_earlier_version_is_migrated_and_answers_the_same(
    tmp_path: Path,
) -> None:
    first = start_emulator(tmp_path / "first", sample=True)
    try:
        before = answers(first)
        port = httpx.URL(first.base_url).port
        assert port is not None
    finally:
        first.stop()
    data_dir = first.data_dir
    write_state_json(data_dir)

    second = start_emulator(tmp_path / "second", data_dir=data_dir, port=port)
    try:
        after = answers(second)
    finally:
        second.stop()
    assert after.keys() == before.keys()
    for uri, body in before.items():
        assert after[uri] == body, uri
    assert len([u for u in before if "/image/" in u]) >= 10  # the sample library's photos
    assert not (data_dir / "state.json").exists()
    assert (data_dir / "state.sqlite").exists()


def image(key: str, album: str = "album") -> Image:
    """An image record of no particular media."""
    return Image(
        image_key=key,
        album_key=album,
        serial=0,
        file_name=f"{key}.jpg",
        format="JPG",
        is_video=False,
        blob="b" * 32,
        size=1,
        md5="b" * 32,
        width=1,
        height=1,
        date_uploaded="2025-01-01T09:00:00+00:00",
        last_updated="2025-01-01T09:00:00+00:00",
        upload_key="1",
    )


def reopened(path: Path, capacity: int) -> tuple[StateFile, ImageTable]:
    """The image table of a state file opened afresh."""
    state = StateFile(path)
    return state, ImageTable(state, capacity=capacity)


def test_images_read_back_when_asked_keep_every_change_across_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / state_file.STATE_FILE
    state, table = reopened(path, capacity=8)
    for n in range(100):
        table[f"k{n:03d}"] = image(f"k{n:03d}", album="a" if n < 60 else "b")
    state.commit()
    held = table["k005"]
    # Read far more than the table keeps: the held image stays one object all the same.
    for n in range(100):
        assert table[f"k{n:03d}"].file_name == f"k{n:03d}.jpg"
    assert table["k005"] is held
    table.flush()
    state.commit()
    held.title = "changed while held, after a save"
    table["k050"].caption = "changed, then let go"
    for n in range(100):  # k050 leaves memory with its change
        table[f"k{n:03d}"]
    table["k070"].album_key = "a"
    del table["k099"]
    assert "k099" not in table
    assert "k098" in table
    assert table.count_by_album() == {"a": 61, "b": 38}
    table.flush()
    state.close()
    del held

    state, table = reopened(path, capacity=8)
    assert len(table) == 99
    assert table["k005"].title == "changed while held, after a save"
    assert table["k050"].caption == "changed, then let go"
    assert table["k070"].album_key == "a"
    assert "k099" not in table
    assert sorted(table) == sorted(f"k{n:03d}" for n in range(99))
    assert table.count_by_album() == {"a": 61, "b": 38}
    state.close()


def test_a_change_not_saved_is_not_kept(tmp_path: Path) -> None:
    # A save is one transaction: a crash (here: no commit) keeps the state of the last one.
    path = tmp_path / state_file.STATE_FILE
    state, table = reopened(path, capacity=4)
    table["kept"] = image("kept")
    table.flush()
    state.commit()
    table["kept"].title = "lost"
    for n in range(20):
        table[f"x{n}"] = image(f"x{n}")
    state.db.close()  # as a SIGKILL would leave it: rows written, not committed

    state, table = reopened(path, capacity=4)
    assert table["kept"].title == ""
    assert "x0" not in table
    state.close()


def test_rows_of_a_file_with_another_field_order_read_by_name(tmp_path: Path) -> None:
    path = tmp_path / state_file.STATE_FILE
    state = StateFile(path)
    names = [*reversed(IMAGES.names), "field_of_a_later_version"]
    record = to_plain(image("k1"))
    record["field_of_a_later_version"] = 1
    state.db.execute("INSERT INTO fields (kind, names) VALUES ('images', ?)", (json.dumps(names),))
    state.db.execute(
        "INSERT INTO images (image_key, album_key, data) VALUES ('k1', 'album', ?)",
        (json.dumps([record[n] for n in names]),),
    )
    state.close()
    state, table = reopened(path, capacity=4)
    assert dataclasses.asdict(table["k1"]) == to_plain(image("k1"))
    state.close()


def test_an_albums_total_size_counts_each_image_as_it_is_now(tmp_path: Path) -> None:
    state, table = reopened(tmp_path / state_file.STATE_FILE, capacity=8)
    for n in range(40):
        record = image(f"k{n:02d}", album="a" if n < 30 else "b")
        record.size = n
        table[record.image_key] = record
    table.flush()
    state.commit()
    table["k03"].size = 1000  # changed, still in memory
    table["k04"].size = 2000
    for n in range(30, 40):  # k04 leaves memory with its change
        table[f"k{n:02d}"]
    del table["k05"]
    keys = [f"k{n:02d}" for n in range(30)] + ["k35"]  # k35 collected from album b
    expected = sum(table[k].size for k in keys if k in table)
    assert expected == sum(range(30)) - 3 - 4 - 5 + 1000 + 2000 + 35
    assert table.total_size(keys, "a") == expected
    state.close()


def test_a_state_file_of_the_first_format_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / state_file.STATE_FILE
    first = sqlite3.connect(path)
    first.executescript(
        """
        CREATE TABLE images (
            image_key TEXT PRIMARY KEY, album_key TEXT NOT NULL, data TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX images_by_album ON images (album_key);
        PRAGMA user_version=1;
        """
    )
    codec = state_file.Codec(IMAGES, IMAGES.names)
    first.executemany(
        "INSERT INTO images VALUES (?, ?, ?)",
        [
            (f"k{n}", "a" if n % 2 else "b", codec.encode(image(f"k{n}", "a" if n % 2 else "b")))
            for n in range(10)
        ],
    )
    first.commit()
    first.close()
    state, table = reopened(path, capacity=4)
    assert state.db.execute("PRAGMA user_version").fetchone()[0] == state_file.FORMAT
    assert table.count_by_album() == {"a": 5, "b": 5}
    assert [i.image_key for i in table.many(["k1", "k3", "k0"], "a")] == ["k1", "k3", "k0"]
    assert table["k4"] == image("k4", "b")
    state.close()
