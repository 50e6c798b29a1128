"""The attribute table and its checks (`smugfs.xattrs`), without a mount."""

from __future__ import annotations

import dataclasses

import pytest

from smugfs import xattrs
from smugfs.api.models import RemoteImage, RemoteNode
from smugfs.errors import InvalidRequest, NotPermitted, UnsupportedAttribute

IMAGE = RemoteImage.parse(
    {
        "ImageKey": "k1",
        "FileName": "a.jpg",
        "Format": "JPG",
        "ArchivedMD5": "0" * 32,
        "Title": "T",
        "Caption": "",
        "KeywordArray": ["sea", "sky"],
        "Hidden": False,
        "Latitude": "47.97377777777800",
        "Longitude": "0.00000000000000",
        "Altitude": 0,
    }
)


def test_a_photo_shows_its_fields_in_the_desktop_names() -> None:
    values = xattrs.photo_values(IMAGE)
    assert values[xattrs.TITLE] == "T"
    assert values[xattrs.TAGS] == "sea,sky"
    assert values[xattrs.HIDDEN] == "0"
    assert values[xattrs.LATITUDE] == "47.973777777778"
    assert values["user.smugmug.md5"] == "0" * 32
    # Empty texts and a 0 position are no attribute at all.
    assert xattrs.COMMENT not in values
    assert xattrs.LONGITUDE not in values
    assert xattrs.ALTITUDE not in values


def test_fields_not_sent_yet_are_laid_over() -> None:
    pending = {"Caption": "New", "KeywordArray": [], "Altitude": 12}
    values = xattrs.photo_values(IMAGE, pending)
    assert values[xattrs.COMMENT] == "New"
    assert xattrs.TAGS not in values
    assert values[xattrs.ALTITUDE] == "12"
    assert xattrs.photo_values(None, {"Title": "Only"}) == {xattrs.TITLE: "Only"}


def test_a_directory_shows_its_description() -> None:
    node = RemoteNode.parse({"NodeID": "n1", "Type": "Album", "Description": "About"})
    values = xattrs.directory_values(node)
    assert values[xattrs.COMMENT] == "About"
    assert values["user.smugmug.node_id"] == "n1"
    assert (
        xattrs.directory_values(dataclasses.replace(node, description="")).get(xattrs.COMMENT)
        is None
    )


@pytest.mark.parametrize(
    ("name", "raw", "fields"),
    [
        (xattrs.COMMENT, "Über".encode(), {"Caption": "Über"}),
        (xattrs.TITLE, b"", {"Title": ""}),
        (xattrs.TAGS, b" sea, sky,,sea , a b", {"KeywordArray": ["sea", "sky", "a b"]}),
        (xattrs.HIDDEN, b"1", {"Hidden": True}),
        (xattrs.HIDDEN, b"0\n", {"Hidden": False}),
        (xattrs.LATITUDE, b"-90", {"Latitude": -90.0}),
        (xattrs.LONGITUDE, b"179.999", {"Longitude": 179.999}),
        (xattrs.ALTITUDE, b"16777215", {"Altitude": 16_777_215}),
    ],
)
def test_values_become_the_service_fields(name: str, raw: bytes, fields: dict[str, object]) -> None:
    assert xattrs.fields_to_set(name, raw, is_dir=False) == fields


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        (xattrs.COMMENT, b"\xc3\x28"),
        (xattrs.COMMENT, b"a\x00b"),
        (xattrs.TAGS, b"a;b"),
        (xattrs.HIDDEN, b"2"),
        (xattrs.LATITUDE, b"90.0001"),
        (xattrs.LATITUDE, b"nan"),
        (xattrs.LONGITUDE, b"1e3"),
        (xattrs.ALTITUDE, b"-1"),
        (xattrs.ALTITUDE, b"16777216"),
        (xattrs.ALTITUDE, b"1.5"),
        (xattrs.ALTITUDE, b"inf"),
    ],
)
def test_bad_values_are_refused(name: str, raw: bytes) -> None:
    with pytest.raises(InvalidRequest):
        xattrs.fields_to_set(name, raw, is_dir=False)


def test_names_are_refused_by_kind() -> None:
    with pytest.raises(UnsupportedAttribute):
        xattrs.fields_to_set("user.other", b"x", is_dir=False)
    with pytest.raises(UnsupportedAttribute):
        xattrs.fields_to_set(xattrs.TAGS, b"x", is_dir=True)
    with pytest.raises(NotPermitted):
        xattrs.fields_to_set("user.smugmug.md5", b"x", is_dir=False)
    with pytest.raises(NotPermitted):
        xattrs.fields_to_clear("user.smugmug.node_id", is_dir=True)
    with pytest.raises(InvalidRequest):
        xattrs.fields_to_set(xattrs.COMMENT, b"d" * 65_536, is_dir=True)
    assert xattrs.fields_to_set(xattrs.COMMENT, b"d" * 65_536, is_dir=False)
    assert xattrs.fields_to_set(xattrs.COMMENT, b"About", is_dir=True) == {"Description": "About"}


def test_clearing() -> None:
    assert xattrs.fields_to_clear(xattrs.TAGS, is_dir=False) == {"KeywordArray": []}
    assert xattrs.fields_to_clear(xattrs.COMMENT, is_dir=True) == {"Description": ""}
    assert xattrs.fields_to_clear(xattrs.LATITUDE, is_dir=False) == {"Latitude": 0}


def test_only_our_names_are_looked_at() -> None:
    assert xattrs.is_ours(xattrs.COMMENT)
    assert xattrs.is_ours("user.smugmug.uri")
    for name in ("security.selinux", "system.posix_acl_access", "security.capability"):
        assert not xattrs.is_ours(name)
