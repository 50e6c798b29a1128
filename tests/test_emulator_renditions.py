"""The emulator's renditions: every size `!sizedetails` lists is a real JPEG of that size.

A thumbnailer that takes SmugMug's renditions instead of the originals needs, for every image,
the sizes the service lists (never larger than the original), at URLs shaped like the real
ones, answering JPEGs of exactly the stated pixel size that look like the photo; `ThumbnailUrl`
in every listing record and `_expand=ImageSizeDetails` on `!images` to find them without a
request per image; a video's poster frame; and `/emulator/stats` telling rendition bytes from
original bytes. Requests are plain httpx against the sample library's camera-sized album.
"""

from __future__ import annotations

import io
import re
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from PIL import Image as PILImage
from PIL import ImageChops, ImageStat

from smugfs.emulator.sample import CAMERA_ALBUM, CAMERA_ALBUM_SIZE
from smugfs.testing.account import Account
from smugfs.testing.emulator import Emulator
from smugfs.testing.media import jpeg

API = "/api/v2"
# `/photos/<UrlPath>/i-<ImageKey>/<Serial>/<token>/<size>/<name>-<size>.jpg`, as the service's.
MEDIA_URL = re.compile(
    r"/photos/(?P<path>.+)/i-(?P<key>[^/]+)/(?P<serial>\d+)/(?P<token>[0-9a-f]+)/"
    r"(?P<size>[^/]+)/(?P<name>[^/]+)"
)
ORDER = ["Ti", "Th", "S", "M", "L", "XL", "X2", "X3", "X4", "X5", "4K", "5K"]


def album_images_uri(client: httpx.Client, name: str) -> str:
    """The `!images` URI of the sample album called `name`."""
    body = client.get(f"{API}/user/demo!albums", params={"count": 100}).json()
    album = next(a for a in body["Response"]["Album"] if a["Name"] == name)
    uri: str = album["Uris"]["AlbumImages"]["Uri"]
    return uri


@pytest.fixture(scope="module")
def camera_listing(owner: httpx.Client) -> dict[str, Any]:
    """The camera-sized album's `!images`, with every image's size details expanded."""
    uri = album_images_uri(owner, CAMERA_ALBUM)
    body: dict[str, Any] = owner.get(
        uri, params={"count": 100, "_expand": "ImageSizeDetails"}
    ).json()
    return body


def details_of(listing: dict[str, Any], image: dict[str, Any]) -> dict[str, Any]:
    """An image's `!sizedetails` as expanded into the listing."""
    found: dict[str, Any] = listing["Expansions"][image["Uris"]["ImageSizeDetails"]["Uri"]]
    return found["ImageSizeDetails"]  # type: ignore[no-any-return]


def test_camera_album_holds_a_dozen_camera_sized_photos(camera_listing: dict[str, Any]) -> None:
    images = camera_listing["Response"]["AlbumImage"]
    assert len(images) == CAMERA_ALBUM_SIZE
    for image in images:
        assert max(image["OriginalWidth"], image["OriginalHeight"]) == 3000
        assert 2 * 1024 * 1024 < image["ArchivedSize"] < 6 * 1024 * 1024
    assert {(i["OriginalWidth"], i["OriginalHeight"]) for i in images} == {
        (3000, 2000),
        (2000, 3000),
    }


def test_expand_on_images_gives_every_image_its_size_details(
    camera_listing: dict[str, Any], owner: httpx.Client
) -> None:
    images = camera_listing["Response"]["AlbumImage"]
    assert len(camera_listing["Expansions"]) == len(images)
    first = images[0]
    direct = owner.get(first["Uris"]["ImageSizeDetails"]["Uri"]).json()["Response"]
    assert direct["ImageSizeDetails"] == details_of(camera_listing, first)


def test_every_listed_rendition_is_a_jpeg_of_its_stated_size_at_a_real_url_shape(
    camera_listing: dict[str, Any], anonymous: httpx.Client
) -> None:
    landscape, portrait = (
        next(
            i
            for i in camera_listing["Response"]["AlbumImage"]
            if (i["OriginalWidth"] > i["OriginalHeight"]) == wide
        )
        for wide in (True, False)
    )
    for image in (landscape, portrait):
        details = details_of(camera_listing, image)
        listed = [code for code in ORDER if f"ImageSize{size_name(code)}" in details]
        # Never enlarged: the sizes run up to the original and stop there.
        assert listed[:10] == ORDER[:10]
        assert details["UsableSizes"][: len(listed)] == [
            f"ImageSize{size_name(code)}" for code in listed
        ]
        for code in listed:
            entry = details[f"ImageSize{size_name(code)}"]
            match = MEDIA_URL.fullmatch(urlsplit(entry["Url"]).path)
            assert match is not None, entry["Url"]
            assert match["key"] == image["ImageKey"]
            assert match["size"] == code
            assert unquote(match["name"]) == image["FileName"].rpartition(".")[0] + f"-{code}.jpg"
            reply = anonymous.get(entry["Url"])
            assert reply.status_code == 200, entry["Url"]
            assert reply.headers["content-type"] == "image/jpeg"
            with PILImage.open(io.BytesIO(reply.content)) as picture:
                assert picture.format == "JPEG"
                assert picture.size == (entry["Width"], entry["Height"])
            assert entry["Width"] <= image["OriginalWidth"]
            assert entry["Height"] <= image["OriginalHeight"]
        assert image["ThumbnailUrl"] == details["ImageSizeThumb"]["Url"]
    # The landscape photo stops at the size as large as itself; 5K would enlarge it.
    landscape_details = details_of(camera_listing, landscape)
    assert "ImageSize5K" not in landscape_details
    assert (
        landscape_details["ImageSize4K"]["Width"],
        landscape_details["ImageSize4K"]["Height"],
    ) == (
        3000,
        2000,
    )
    assert (
        landscape_details["ImageSizeMedium"]["Width"],
        landscape_details["ImageSizeMedium"]["Height"],
    ) == (
        600,
        400,
    )


def size_name(code: str) -> str:
    """The `ImageSize...` suffix of a size code."""
    return {
        "Ti": "Tiny",
        "Th": "Thumb",
        "S": "Small",
        "M": "Medium",
        "L": "Large",
        "XL": "XLarge",
        "X2": "X2Large",
        "X3": "X3Large",
        "X4": "X4Large",
        "X5": "X5Large",
        "4K": "4K",
        "5K": "5K",
    }[code]


def test_a_rendition_looks_like_its_original_scaled_down(
    camera_listing: dict[str, Any], anonymous: httpx.Client
) -> None:
    image = camera_listing["Response"]["AlbumImage"][0]
    small = details_of(camera_listing, image)["ImageSizeSmall"]
    rendition = PILImage.open(io.BytesIO(anonymous.get(small["Url"]).content)).convert("RGB")
    original = PILImage.open(io.BytesIO(anonymous.get(image["ArchivedUri"]).content))
    expected = original.convert("RGB").resize(rendition.size, PILImage.Resampling.LANCZOS)
    difference = ImageStat.Stat(ImageChops.difference(rendition, expected)).mean
    assert max(difference) < 8, difference
    # And not like another photo of the album.
    other = camera_listing["Response"]["AlbumImage"][1]
    other_original = PILImage.open(io.BytesIO(anonymous.get(other["ArchivedUri"]).content))
    unlike = other_original.convert("RGB").resize(rendition.size, PILImage.Resampling.LANCZOS)
    assert max(ImageStat.Stat(ImageChops.difference(rendition, unlike)).mean) > 20


def test_repeated_rendition_requests_answer_the_same_bytes_kept_on_disk(
    sample_emulator: Emulator, camera_listing: dict[str, Any], anonymous: httpx.Client
) -> None:
    image = camera_listing["Response"]["AlbumImage"][2]
    url = details_of(camera_listing, image)["ImageSizeX2Large"]["Url"]
    first = anonymous.get(url)
    second = anonymous.get(url)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    kept = list((sample_emulator.data_dir / "renditions").glob("*-X2.jpg"))
    assert any(path.read_bytes() == first.content for path in kept)


def test_a_video_has_a_poster_frame_thumbnail(owner: httpx.Client, anonymous: httpx.Client) -> None:
    uri = album_images_uri(owner, "Iceland & the Ring Road")
    images = owner.get(uri, params={"count": 100}).json()["Response"]["AlbumImage"]
    video = next(i for i in images if i["IsVideo"])
    details = owner.get(video["Uris"]["ImageSizeDetails"]["Uri"]).json()["Response"][
        "ImageSizeDetails"
    ]
    assert "VideoSize1920" in details
    thumb = details["ImageSizeThumb"]
    assert video["ThumbnailUrl"] == thumb["Url"]
    reply = anonymous.get(thumb["Url"])
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "image/jpeg"
    with PILImage.open(io.BytesIO(reply.content)) as picture:
        assert picture.size == (thumb["Width"], thumb["Height"])
    # The original of a video is still not served under a photo's size code.
    assert anonymous.get(thumb["Url"].replace("/Th/", "/D/")).status_code == 404


def test_stats_count_rendition_bytes_apart_from_original_bytes(
    emulator: Emulator, account: Account
) -> None:
    album = account.create("Stats")
    account.upload(album, "p.jpg", jpeg(7, (1200, 800)))
    image = account.images(album)[0]
    emulator.reset_stats()
    with httpx.Client(timeout=30.0) as plain:
        thumb = plain.get(image["ThumbnailUrl"]).content
        original = plain.get(image["ArchivedUri"]).content
    stats = emulator.stats()
    assert stats["rendition_bytes"] == len(thumb) > 0
    assert stats["original_bytes"] == len(original) > len(thumb)
    assert stats["media_bytes"] == len(thumb) + len(original)
    assert stats["rendition_requests"] == 1
    assert stats["media_requests"] == 2
