"""The saved listings file: a round trip, owner-only and atomic, and anything else ignored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smugfs.api.models import RemoteImage, RemoteNode
from smugfs.config import Credentials, Settings
from smugfs.listing_store import ListingStore, Saved, store_path

NODE = RemoteNode.parse(
    {
        "NodeID": "abc",
        "Type": "Album",
        "Name": "Alps",
        "UrlName": "Alps",
        "DateModified": "2024-05-01T10:00:00+00:00",
        "Uris": {"Album": {"Uri": "/api/v2/album/K1"}},
    }
)
IMAGE = RemoteImage.parse(
    {
        "ImageKey": "i1",
        "Serial": 2,
        "FileName": "a.jpg",
        "Format": "JPG",
        "ArchivedUri": "http://x/a.jpg",
        "ArchivedSize": 10,
        "ArchivedMD5": "00",
        "LastUpdated": "2024-05-01T10:00:00+00:00",
    }
)


def _store(tmp_path: Path) -> ListingStore:
    return ListingStore(store_path(tmp_path, "account"))


def test_listings_round_trip_owner_only(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.set_root(NODE)
    store.put("node:root", Saved("v1", 100.0, 800.0, [("Alps", "node:abc", NODE, None)]))
    store.put("node:abc", Saved("v2|1", 100.0, 800.0, [("a.jpg", "image:abc:i1", None, IMAGE)]))
    store.save()
    assert not store.dirty
    assert store.path.stat().st_mode & 0o777 == 0o600
    assert list(store.path.parent.iterdir()) == [store.path]  # no temporary file left

    again = _store(tmp_path)
    again.load()
    assert again.root == NODE
    assert again.get("node:root") == store.get("node:root")
    assert again.get("node:abc") == store.get("node:abc")
    assert len(again) == 2


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\x00\xff not json",
        b"[]",
        b'{"format": "smugfs-listings-0", "listings": {}}',
        b'{"format": "smugfs-listings-1", "listings": {"x": [1]}',
    ],
)
def test_unreadable_or_foreign_files_are_ignored(tmp_path: Path, content: bytes) -> None:
    store = _store(tmp_path)
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(content)
    store.load()
    assert len(store) == 0
    assert store.root is None


def test_a_file_written_with_other_fields_is_ignored(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.put("node:abc", Saved("v", 1.0, 2.0, [("a.jpg", "image:abc:i1", None, IMAGE)]))
    store.save()
    data = json.loads(store.path.read_bytes())
    data["image_fields"] = [*data["image_fields"], "extra"]
    store.path.write_text(json.dumps(data))
    again = _store(tmp_path)
    again.load()
    assert again.get("node:abc") is None


def test_a_listing_is_trusted_only_when_fetched_well_after_its_stamp() -> None:
    assert Saved("v", 100.0, 700.0, []).trusted(600.0)
    assert not Saved("v", 100.0, 699.0, []).trusted(600.0)


def test_accounts_and_endpoints_have_files_of_their_own(tmp_path: Path) -> None:
    one = Settings(endpoint="http://a", credentials=Credentials("k", "s", "t1", "u"))
    other = Settings(endpoint="http://a", credentials=Credentials("k", "s", "t2", "u"))
    elsewhere = Settings(endpoint="http://b", credentials=Credentials("k", "s", "t1", "u"))
    paths = {store_path(tmp_path, s.account_key) for s in (one, other, elsewhere)}
    assert len(paths) == 3
    assert all("t1" not in str(p) for p in paths)
