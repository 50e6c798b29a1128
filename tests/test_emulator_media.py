"""The emulator's media server: the bytes behind `ArchivedUri`, renditions and videos.

A client that trusts `ArchivedSize`/`ArchivedMD5` must get exactly those bytes from
`ArchivedUri`; byte ranges must behave like a real HTTP server's (206, 416, suffix ranges) and,
with Range switched off at run time, like a server that ignores them; private media need a
signature of the owner; a replaced image's old URL stops answering; and `/emulator/stats` counts
exactly the bytes sent. Requests are plain httpx, signed with authlib where needed.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

import httpx
import pytest
from PIL import Image as PILImage

from smugfs.emulator import sample_media
from smugfs.testing.account import create_album, upload
from smugfs.testing.emulator import Emulator
from smugfs.testing.media import jpeg

API = "/api/v2"


@pytest.fixture(scope="module")
def albums(owner: httpx.Client) -> dict[str, dict[str, Any]]:
    """The sample albums by name."""
    body = owner.get(f"{API}/user/demo!albums", params={"count": 100}).json()
    return {a["Name"]: a for a in body["Response"]["Album"]}


def images_of(client: httpx.Client, album: dict[str, Any]) -> list[dict[str, Any]]:
    """Every image of an album (one page is enough for the sample's small albums)."""
    body = client.get(album["Uris"]["AlbumImages"]["Uri"], params={"count": 1000}).json()
    assert body["Response"]["Pages"]["Total"] == len(body["Response"].get("AlbumImage", []))
    images: list[dict[str, Any]] = body["Response"].get("AlbumImage", [])
    return images


@pytest.fixture(scope="module")
def kyoto_image(owner: httpx.Client, albums: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One public sample photo."""
    return images_of(owner, albums["Kyoto"])[0]


def image_record(client: httpx.Client, uri: str) -> dict[str, Any]:
    """The `Image` (or `AlbumImage`) at an API URI."""
    response = client.get(uri).json()["Response"]
    record: dict[str, Any] = response[response["Locator"]]
    return record


# ---------------------------------------------------------------------- archived originals


def test_archived_uri_serves_exactly_the_archived_bytes_for_every_image(
    owner: httpx.Client, anonymous: httpx.Client, albums: dict[str, dict[str, Any]]
) -> None:
    images = images_of(owner, albums["Kyoto"])
    assert len(images) == 30
    for image in images:
        reply = anonymous.get(image["ArchivedUri"])
        assert reply.status_code == 200, image["FileName"]
        assert reply.headers["content-type"] == "image/jpeg"
        assert int(reply.headers["content-length"]) == image["ArchivedSize"]
        assert len(reply.content) == image["ArchivedSize"]
        assert hashlib.md5(reply.content).hexdigest() == image["ArchivedMD5"]


def test_large_originals_arrive_whole(
    owner: httpx.Client, anonymous: httpx.Client, albums: dict[str, dict[str, Any]]
) -> None:
    images = images_of(owner, albums["Large Originals"])
    assert len(images) == 3
    for image in images:
        assert image["ArchivedSize"] > 1024 * 1024
        data = anonymous.get(image["ArchivedUri"]).content
        assert len(data) == image["ArchivedSize"]
        assert hashlib.md5(data).hexdigest() == image["ArchivedMD5"]


def test_unknown_media_path_is_404(anonymous: httpx.Client, kyoto_image: dict[str, Any]) -> None:
    key = kyoto_image["ImageKey"]
    wrong = kyoto_image["ArchivedUri"].replace(f"i-{key}/", "i-Zz9Zz9Z/")
    assert anonymous.get(wrong).status_code == 404


# ---------------------------------------------------------------------- ranges


@pytest.fixture(scope="module")
def original(anonymous: httpx.Client, kyoto_image: dict[str, Any]) -> bytes:
    """The whole original of the sample photo used for range requests."""
    return anonymous.get(kyoto_image["ArchivedUri"]).content


def test_whole_file_announces_byte_ranges(
    anonymous: httpx.Client, kyoto_image: dict[str, Any]
) -> None:
    reply = anonymous.get(kyoto_image["ArchivedUri"])
    assert reply.headers["accept-ranges"] == "bytes"
    # Rate-limit headers come with API replies only, not with media downloads.
    assert "x-ratelimit-remaining" not in reply.headers


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, None),
        ("bytes=-50", -50, None),
        ("bytes=1000-1000", 1000, 1000),
    ],
)
def test_range_request_gets_206_with_the_slice(
    anonymous: httpx.Client,
    kyoto_image: dict[str, Any],
    original: bytes,
    header: str,
    first: int,
    last: int | None,
) -> None:
    size = len(original)
    start = first if first >= 0 else size + first
    end = size - 1 if last is None else last
    reply = anonymous.get(kyoto_image["ArchivedUri"], headers={"Range": header})
    assert reply.status_code == 206
    assert reply.headers["content-range"] == f"bytes {start}-{end}/{size}"
    assert int(reply.headers["content-length"]) == end - start + 1
    assert reply.content == original[start : end + 1]


def test_range_running_past_the_end_is_cut_to_the_file(
    anonymous: httpx.Client, kyoto_image: dict[str, Any], original: bytes
) -> None:
    size = len(original)
    reply = anonymous.get(
        kyoto_image["ArchivedUri"], headers={"Range": f"bytes={size - 10}-{size + 500}"}
    )
    assert reply.status_code == 206
    assert reply.headers["content-range"] == f"bytes {size - 10}-{size - 1}/{size}"
    assert reply.content == original[-10:]


@pytest.mark.parametrize("header", ["bytes={size}-", "bytes={beyond}-{far}"])
def test_range_starting_past_the_end_is_416(
    anonymous: httpx.Client, kyoto_image: dict[str, Any], original: bytes, header: str
) -> None:
    size = len(original)
    wanted = header.format(size=size, beyond=size + 10, far=size + 20)
    reply = anonymous.get(kyoto_image["ArchivedUri"], headers={"Range": wanted})
    assert reply.status_code == 416
    assert reply.headers["content-range"] == f"bytes */{size}"
    assert reply.content == b""


def test_head_gives_the_length_without_a_body(
    anonymous: httpx.Client, kyoto_image: dict[str, Any]
) -> None:
    reply = anonymous.head(kyoto_image["ArchivedUri"])
    assert reply.status_code == 200
    assert int(reply.headers["content-length"]) == kyoto_image["ArchivedSize"]
    assert reply.headers["content-type"] == "image/jpeg"
    assert reply.content == b""


def test_range_switched_off_at_run_time_sends_the_whole_file(emulator: Emulator) -> None:
    data = jpeg(1, (400, 300))
    with emulator.client() as client:
        album_uri = create_album(client, "Media", Privacy="Public")
        uploaded = upload(emulator, album_uri, "whole.jpg", data)
        archived = image_record(client, uploaded["ImageUri"])["ArchivedUri"]
    with httpx.Client(timeout=30.0) as media:
        assert media.get(archived, headers={"Range": "bytes=0-99"}).status_code == 206
        emulator.configure(range_enabled=False)
        reply = media.get(archived, headers={"Range": "bytes=0-99"})
        assert reply.status_code == 200
        assert reply.content == data
        assert int(reply.headers["content-length"]) == len(data)
        assert "accept-ranges" not in reply.headers
        assert "content-range" not in reply.headers
        assert "accept-ranges" not in media.head(archived).headers
        emulator.configure(range_enabled=True)
        again = media.get(archived, headers={"Range": "bytes=0-99"})
        assert again.status_code == 206
        assert again.content == data[:100]


# ---------------------------------------------------------------------- private media


@pytest.fixture(scope="module")
def private_image(owner: httpx.Client, albums: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A photo of the sample's private album, as its owner sees it."""
    return images_of(owner, albums["Private Moments"])[0]


def test_private_media_unsigned_is_401(
    anonymous: httpx.Client, private_image: dict[str, Any]
) -> None:
    assert anonymous.get(private_image["ArchivedUri"]).status_code == 401
    assert anonymous.get(private_image["ThumbnailUrl"]).status_code == 401


def test_private_media_with_only_an_api_key_is_401(
    sample_emulator: Emulator, anonymous: httpx.Client, private_image: dict[str, Any]
) -> None:
    reply = anonymous.get(
        private_image["ArchivedUri"], params={"APIKey": sample_emulator.env["SMUGFS_API_KEY"]}
    )
    assert reply.status_code == 401


def test_private_media_signed_by_the_owner_is_served(
    owner: httpx.Client, private_image: dict[str, Any]
) -> None:
    reply = owner.get(private_image["ArchivedUri"])
    assert reply.status_code == 200
    assert hashlib.md5(reply.content).hexdigest() == private_image["ArchivedMD5"]
    part = owner.get(private_image["ArchivedUri"], headers={"Range": "bytes=0-9"})
    assert part.status_code == 206
    assert part.content == reply.content[:10]


def test_private_media_signed_by_someone_else_is_401(
    sample_emulator: Emulator, private_image: dict[str, Any]
) -> None:
    token = sample_emulator.token(nick="alice", access="Full", permissions="Read")
    with sample_emulator.client(
        token=token["access_token"], token_secret=token["access_token_secret"]
    ) as stranger:
        assert stranger.get(private_image["ArchivedUri"]).status_code == 401


# ---------------------------------------------------------------------- renditions and video


@pytest.mark.parametrize("album", ["Kyoto", "Large Originals"])
def test_thumbnail_rendition_is_a_jpeg_within_its_stated_size(
    owner: httpx.Client,
    anonymous: httpx.Client,
    albums: dict[str, dict[str, Any]],
    album: str,
) -> None:
    image = images_of(owner, albums[album])[0]
    details = owner.get(image["Uris"]["ImageSizeDetails"]["Uri"]).json()["Response"]
    thumb = details["ImageSizeDetails"]["ImageSizeThumb"]
    reply = anonymous.get(thumb["Url"])
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "image/jpeg"
    assert reply.content[:3] == b"\xff\xd8\xff"
    with PILImage.open(io.BytesIO(reply.content)) as picture:
        picture.load()
        assert picture.format == "JPEG"
        width, height = picture.size
    assert width <= thumb["Width"]
    assert height <= thumb["Height"]
    assert max(width, height) <= 150
    assert len(reply.content) < image["ArchivedSize"]
    assert image["ThumbnailUrl"] == thumb["Url"]


def test_video_largest_rendition_matches_its_size_and_md5_but_not_the_upload(
    owner: httpx.Client, anonymous: httpx.Client, albums: dict[str, dict[str, Any]]
) -> None:
    video = next(i for i in images_of(owner, albums["Iceland & the Ring Road"]) if i["IsVideo"])
    assert video["FileName"] == "waterfall.mp4"
    largest = owner.get(video["Uris"]["LargestVideo"]["Uri"]).json()["Response"]["LargestVideo"]
    reply = anonymous.get(largest["Url"])
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "video/mp4"
    assert len(reply.content) == largest["Size"]
    assert hashlib.md5(reply.content).hexdigest() == largest["MD5"]
    uploaded = sample_media.sample_video()
    # The service re-encodes videos: what can be downloaded is not what was uploaded.
    assert largest["MD5"] != hashlib.md5(uploaded).hexdigest()
    assert video["ArchivedMD5"] != hashlib.md5(uploaded).hexdigest()
    tail = anonymous.get(largest["Url"], headers={"Range": "bytes=-100"})
    assert tail.status_code == 206
    assert tail.content == reply.content[-100:]


# ---------------------------------------------------------------------- replace, stats


def test_replacing_in_place_retires_the_old_url(emulator: Emulator) -> None:
    before_bytes, after_bytes = jpeg(2, (200, 150)), jpeg(3, (120, 90))
    with emulator.client() as client:
        album_uri = create_album(client, "Media", Privacy="Public")
        first = upload(emulator, album_uri, "swap.jpg", before_bytes)
        old = image_record(client, first["ImageUri"])
        assert old["Serial"] == 0
        with httpx.Client(timeout=30.0) as media:
            assert media.get(old["ArchivedUri"]).content == before_bytes
            second = upload(
                emulator, album_uri, "swap.jpg", after_bytes, X_Smug_ImageUri=old["Uri"]
            )
            new = image_record(client, second["ImageUri"])
            assert new["ImageKey"] == old["ImageKey"]
            assert new["Serial"] == old["Serial"] + 1
            assert second["ImageUri"] == f"{API}/image/{old['ImageKey']}-{new['Serial']}"
            assert new["ArchivedMD5"] == hashlib.md5(after_bytes).hexdigest()
            assert new["ArchivedSize"] == len(after_bytes)
            assert new["ArchivedUri"] != old["ArchivedUri"]
            assert media.get(old["ArchivedUri"]).status_code == 404
            assert media.get(new["ArchivedUri"]).content == after_bytes
        listed = client.get(album_uri + "!images").json()["Response"]["AlbumImage"]
        assert [(i["ImageKey"], i["Serial"]) for i in listed] == [(old["ImageKey"], 1)]


def test_stats_count_exactly_the_media_bytes_served(emulator: Emulator) -> None:
    data = jpeg(4, (300, 200))
    with emulator.client() as client:
        album_uri = create_album(client, "Media", Privacy="Public")
        uploaded = upload(emulator, album_uri, "counted.jpg", data)
        archived = image_record(client, uploaded["ImageUri"])["ArchivedUri"]
    before = emulator.stats()
    with httpx.Client(timeout=30.0) as media:
        whole = media.get(archived).content
        part = media.get(archived, headers={"Range": "bytes=10-59"}).content
        head = media.head(archived)
    assert len(whole) == len(data)
    assert len(part) == 50
    assert head.content == b""
    after = emulator.stats()
    assert after["media_bytes"] - before["media_bytes"] == len(data) + 50
    assert after["media_requests"] - before["media_requests"] == 3
