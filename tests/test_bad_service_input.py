"""Replies no faithful service sends, and the client surviving them.

The emulator answers like SmugMug, so the client's handling of a service that misbehaves (wrong
types, missing fields, a `Pages` block that lies, bodies that are not JSON) is tested here
against crafted replies served through httpx's transport hook: the client under test is the
real one, only the service is replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from smugfs.api.client import SmugMugClient
from smugfs.api.models import RemoteImage, RemoteNode, count, flag
from smugfs.config import Credentials, Settings
from smugfs.errors import ProtocolError

ENDPOINT = "http://127.0.0.1:9"


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> SmugMugClient:
    """The real client, talking to `handler` instead of a service."""
    settings = Settings(
        endpoint=ENDPOINT,
        credentials=Credentials("key", "secret", "token", "token-secret"),
        retries=2,
    )
    return SmugMugClient(settings, transport=httpx.MockTransport(handler))


def reply(payload: dict[str, Any]) -> httpx.Response:
    """An API reply in the envelope."""
    return httpx.Response(200, json={"Response": payload, "Code": 200, "Message": "Ok"})


def node(n: int) -> dict[str, Any]:
    """A child node as the service lists it."""
    return {"NodeID": f"n{n}", "Type": "Album", "Name": f"Album {n}", "Uris": {}}


ROOT = RemoteNode.parse({"NodeID": "root", "Type": "Folder", "Name": ""})


async def listed_ids(handler: Callable[[httpx.Request], httpx.Response]) -> list[str]:
    """The NodeIDs the client lists in the root folder of the service `handler` plays."""
    client = client_for(handler)
    try:
        return [child.node_id for child in await client.children(ROOT)]
    finally:
        await client.aclose()


# ---------------------------------------------------------------------------- records


def test_numbers_and_flags_sent_as_strings_are_understood() -> None:
    image = RemoteImage.parse(
        {
            "ImageKey": "k1",
            "Serial": "3",
            "IsVideo": "false",
            "ArchivedSize": "12345",
            "ArchivedMD5": "0123456789ABCDEF0123456789ABCDEF",
            "ArchivedUri": "http://127.0.0.1:9/photos/k1.jpg",
            "FileName": "a.jpg",
        }
    )
    assert (image.serial, image.is_video, image.size) == (3, False, 12345)
    assert image.md5 == "0123456789abcdef0123456789abcdef"
    assert image.readable


@pytest.mark.parametrize(
    "junk",
    [
        {"ArchivedSize": "12 MB"},
        {"ArchivedSize": -5},
        {"ArchivedSize": True},
        {"ArchivedSize": None},
        {"ArchivedUri": 17},
    ],
)
def test_an_image_without_a_usable_size_or_url_is_not_readable(junk: dict[str, Any]) -> None:
    fields = {"ImageKey": "k", "ArchivedSize": 10, "ArchivedUri": "http://127.0.0.1:9/p", **junk}
    assert not RemoteImage.parse(fields).readable


def test_junk_in_optional_fields_is_ignored() -> None:
    image = RemoteImage.parse(
        {
            "ImageKey": "k2",
            "Serial": "x",
            "FileName": 12,
            "Format": ["JPG"],
            "ArchivedMD5": "not an md5",
            "Uris": "none",
            "LastUpdated": 5,
            "Processing": "no",
        }
    )
    assert image.serial == 0
    assert image.file_name == "k2.jpg"
    assert image.md5 is None
    assert image.last_updated is None
    assert not image.processing
    folder = RemoteNode.parse({"NodeID": 7, "Type": None, "Name": {"x": 1}, "Uris": []})
    assert (folder.node_id, folder.type, folder.name) == ("7", "", "")
    assert not folder.is_folder
    assert not folder.is_album


@pytest.mark.parametrize("record", [{}, {"NodeID": None}, {"NodeID": ""}, {"NodeID": True}])
def test_a_node_without_an_id_is_a_protocol_error(record: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError):
        RemoteNode.parse(record)


def test_count_and_flag() -> None:
    assert [count(v) for v in (3, "4", 5.0, " 6 ", -1, 1.5, "x", None, True)] == [
        3,
        4,
        5,
        6,
        None,
        None,
        None,
        None,
        None,
    ]
    assert [flag(v) for v in (True, "true", "1", "false", "0", "", 0, None)] == [
        True,
        True,
        True,
        False,
        False,
        False,
        False,
        False,
    ]


# ---------------------------------------------------------------------------- listings


async def test_pages_without_a_total_are_followed_by_their_links() -> None:
    pages = {1: [node(1), node(2)], 3: [node(3), node(4)], 5: [node(5)]}

    def handler(request: httpx.Request) -> httpx.Response:
        start = int(parse_qs(request.url.query.decode()).get("start", ["1"])[0])
        following = start + 2 if start + 2 in pages else None
        block: dict[str, Any] = {"Count": len(pages[start])}
        if following is not None:
            block["NextPage"] = f"/api/v2/node/root!children?start={following}&count=2"
        return reply({"Node": pages[start], "Pages": block})

    assert await listed_ids(handler) == ["n1", "n2", "n3", "n4", "n5"]


async def test_a_total_smaller_than_the_list_is_not_believed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        start = int(parse_qs(request.url.query.decode()).get("start", ["1"])[0])
        if start == 1:
            block = {"Total": 1, "NextPage": "/api/v2/node/root!children?start=3&count=2"}
            return reply({"Node": [node(1), node(2)], "Pages": block})
        return reply({"Node": [node(3)], "Pages": {"Total": 1}})

    assert await listed_ids(handler) == ["n1", "n2", "n3"]


async def test_a_total_larger_than_the_list_ends_with_the_list() -> None:
    requests: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        query = parse_qs(request.url.query.decode())
        start, size = int(query["start"][0]), int(query["count"][0])
        requests.append(start)
        items = [node(n) for n in range(start, min(start + size, 4))]
        return reply({"Node": items, "Pages": {"Total": 500, "RequestedCount": size}})

    assert await listed_ids(handler) == ["n1", "n2", "n3"]
    assert len(requests) == 5  # 500 announced, at 100 a page


async def test_a_record_without_an_id_is_left_out_and_the_rest_listed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        items = [node(1), {"Name": "no id"}, "not an object", node(2)]
        return reply({"Node": items, "Pages": {"Total": 4, "Count": 4}})

    assert await listed_ids(handler) == ["n1", "n2"]


async def test_replies_that_are_not_json_are_retried_then_a_protocol_error() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, content=b'{"Response": {"Node": [', headers={})

    client = client_for(handler)
    try:
        with pytest.raises(ProtocolError, match="malformed"):
            await client.children(ROOT)
    finally:
        await client.aclose()
    assert len(calls) == 3  # the first try and two retries


async def test_an_album_that_does_not_say_how_many_images_it_holds_is_an_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return reply({"Album": {"ImageCount": "many"}})

    client = client_for(handler)
    try:
        with pytest.raises(ProtocolError):
            await client.image_count("/api/v2/album/x")
    finally:
        await client.aclose()
