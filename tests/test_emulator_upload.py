"""The emulator's upload endpoint: raw bytes with `X-Smug-*` headers, signed in the
`Authorization` header only, answered in the uploader's own legacy JSON (`stat`, `method`,
`Image`, `Asset`), with refusals as HTTP 200 `stat: fail` plus a code.

After each upload (or refusal) the album is read back through the API: what is listed, its
`ArchivedMD5`/`ArchivedSize`, and that nothing at all was stored after a refusal.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import os
import struct
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

import smugfs.emulator
from smugfs.testing import media
from smugfs.testing.account import create_album
from smugfs.testing.emulator import Emulator, OAuth1Auth
from smugfs.testing.media import jpeg

SAMPLE_MP4 = Path(smugfs.emulator.__file__).parent / "assets" / "sample.mp4"


_albums = itertools.count(1)


@pytest.fixture
def album(module_client: httpx.Client) -> str:
    """The AlbumKey of a fresh album under the root."""
    return create_album(module_client, f"Uploads {next(_albums)}").rsplit("/", 1)[1]


# ---------------------------------------------------------------------------------- helpers


def heic(payload: bytes = b"not really hevc, but the container says heic") -> bytes:
    """A minimal ISO-BMFF file whose `ftyp` box names the HEIC brand."""
    brands = b"heic" + b"\x00\x00\x00\x00" + b"mif1heic"
    ftyp = struct.pack(">I4s", 8 + len(brands), b"ftyp") + brands
    mdat = struct.pack(">I4s", 8 + len(payload), b"mdat") + payload
    return ftyp + mdat


def smug_headers(album: str, name: str | None = "photo.jpg", **extra: str) -> dict[str, str]:
    """The headers every upload carries."""
    headers = {
        "X-Smug-AlbumUri": f"/api/v2/album/{album}",
        "X-Smug-Version": "v2",
        "X-Smug-ResponseType": "JSON",
    }
    if name is not None:
        headers["X-Smug-FileName"] = name
    headers.update(extra)
    return headers


def post_upload(
    emu: Emulator,
    data: bytes,
    headers: dict[str, str],
    *,
    method: str = "POST",
    url: str | None = None,
    **auth: Any,
) -> httpx.Response:
    """Send one upload signed with the first user's token (or the credentials given)."""
    with httpx.Client(auth=emu.auth(**auth), timeout=30) as client:
        return client.request(method, url or emu.upload_url, content=data, headers=headers)


def upload_ok(emu: Emulator, album: str, data: bytes, name: str, **extra: str) -> dict[str, Any]:
    """Upload and return the `Image` block, asserting success."""
    response = post_upload(emu, data, smug_headers(album, name, **extra))
    assert response.status_code == 200
    body = response.json()
    assert body["stat"] == "ok", body
    image: dict[str, Any] = body["Image"]
    return image


def listed(c: httpx.Client, album: str) -> list[dict[str, Any]]:
    """Every AlbumImage the album lists."""
    response = c.get(f"/api/v2/album/{album}!images", params={"count": 1000})
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["Response"].get("AlbumImage", [])
    return items


def image_count(c: httpx.Client, album: str) -> int:
    """The album's `ImageCount`."""
    count: int = c.get(f"/api/v2/album/{album}").json()["Response"]["Album"]["ImageCount"]
    return count


def user_image_count(c: httpx.Client) -> int:
    """The user's `ImageCount` (owner view)."""
    count: int = c.get("/api/v2!authuser").json()["Response"]["User"]["ImageCount"]
    return count


def assert_refused(c: httpx.Client, album: str, response: httpx.Response) -> dict[str, Any]:
    """An upload refusal: HTTP 200, `stat: fail`, a numeric code, and the album unchanged."""
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    assert body["stat"] == "fail"
    assert body["method"] == "smugmug.images.upload"
    assert isinstance(body["code"], int)
    assert body["message"]
    assert "Image" not in body
    assert image_count(c, album) == 0
    assert listed(c, album) == []
    return body


# -------------------------------------------------------------------------------- success


def test_successful_upload_reply_has_the_uploader_shape(
    module_emulator: Emulator, album: str
) -> None:
    response = post_upload(module_emulator, jpeg(), smug_headers(album, "first.jpg"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["stat"] == "ok"
    assert body["method"] == "smugmug.images.upload"
    assert "Response" not in body  # not the v2 envelope
    image = body["Image"]
    assert set(image) >= {"ImageUri", "AlbumImageUri", "StatusImageReplaceUri", "URL"}
    assert image["StatusImageReplaceUri"] is None
    key = image["ImageUri"].rsplit("/", 1)[1]
    assert image["ImageUri"] == f"/api/v2/image/{key}"
    assert image["AlbumImageUri"] == f"/api/v2/album/{album}/image/{key}"
    assert key.endswith("-0")
    assert image["URL"].startswith("http")
    image_key = key.rsplit("-", 1)[0]
    assert body["Asset"]["AssetUri"] == f"/api/v2/library/asset/{image_key}"
    assert body["Asset"]["AssetComponentUri"].startswith(body["Asset"]["AssetUri"] + "/component/")


def test_uploaded_image_is_listed_with_archived_md5_and_size_of_the_bytes(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    data = jpeg(size=(40, 30))
    before = user_image_count(module_client)
    image = upload_ok(module_emulator, album, data, "exact.jpg")
    items = listed(module_client, album)
    assert len(items) == 1
    item = items[0]
    assert item["FileName"] == "exact.jpg"
    assert item["Format"] == "JPG"
    assert item["IsVideo"] is False
    assert item["ArchivedMD5"] == hashlib.md5(data).hexdigest()
    assert item["ArchivedSize"] == len(data)
    assert item["OriginalSize"] == len(data)
    assert (item["OriginalWidth"], item["OriginalHeight"]) == (40, 30)
    assert item["Uri"] == image["AlbumImageUri"]
    assert item["Uris"]["Image"]["Uri"] == image["ImageUri"]
    assert image_count(module_client, album) == 1
    assert user_image_count(module_client) == before + 1
    with httpx.Client(auth=module_emulator.auth(), timeout=30) as media:
        download = media.get(item["ArchivedUri"])
    assert download.status_code == 200
    assert download.content == data


@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_content_md5_as_hex_or_base64_is_accepted(
    module_emulator: Emulator, module_client: httpx.Client, album: str, encoding: str
) -> None:
    data = jpeg()
    digest = hashlib.md5(data)
    value = digest.hexdigest() if encoding == "hex" else base64.b64encode(digest.digest()).decode()
    upload_ok(module_emulator, album, data, "md5.jpg", **{"Content-MD5": value})
    assert [i["ArchivedMD5"] for i in listed(module_client, album)] == [digest.hexdigest()]


def test_upload_needs_no_accept_or_content_type_header(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    data = jpeg()
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    with httpx.Client(auth=module_emulator.auth(), timeout=30) as client:
        del client.headers["accept"]
        request = client.build_request(
            "POST",
            module_emulator.upload_url,
            content=data,
            headers=smug_headers(album, "bare.jpg", **{"Content-MD5": md5}),
        )
        assert "accept" not in request.headers
        assert "content-type" not in request.headers  # as smugcli sends it
        response = client.send(request)
    assert response.status_code == 200
    assert response.json()["stat"] == "ok"
    assert [i["FileName"] for i in listed(module_client, album)] == ["bare.jpg"]


def test_upload_body_is_not_part_of_the_signature(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    # Sign the request without its body (what requests-oauthlib does for binary bodies),
    # then send the bytes: the uploader checks only the Authorization header.
    data = jpeg()
    bodyless = httpx.Request("POST", module_emulator.upload_url)
    signed = next(module_emulator.auth().auth_flow(bodyless))
    assert "oauth_body_hash" not in signed.headers["Authorization"]
    headers = {
        **smug_headers(album, "unsigned-body.jpg"),
        "Authorization": signed.headers["Authorization"],
    }
    response = httpx.post(module_emulator.upload_url, content=data, headers=headers, timeout=30)
    assert response.status_code == 200
    assert response.json()["stat"] == "ok"
    assert [i["ArchivedMD5"] for i in listed(module_client, album)] == [
        hashlib.md5(data).hexdigest()
    ]


def test_put_upload_takes_the_file_name_from_the_path(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    data = jpeg()
    response = post_upload(
        module_emulator,
        data,
        smug_headers(album, None),
        method="PUT",
        url=module_emulator.upload_url + "/put-name.jpg",
    )
    assert response.status_code == 200
    assert response.json()["stat"] == "ok"
    items = listed(module_client, album)
    assert [i["FileName"] for i in items] == ["put-name.jpg"]
    assert items[0]["ArchivedMD5"] == hashlib.md5(data).hexdigest()


def test_multipart_form_upload_works(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    data = jpeg()
    with httpx.Client(auth=module_emulator.auth(), timeout=30) as client:
        response = client.post(
            module_emulator.upload_url,
            files={"upload_file": ("multi.jpg", data, "image/jpeg")},
            headers=smug_headers(album, None),
        )
    assert response.status_code == 200
    assert response.json()["stat"] == "ok", response.text
    items = listed(module_client, album)
    assert [i["FileName"] for i in items] == ["multi.jpg"]
    assert items[0]["ArchivedMD5"] == hashlib.md5(data).hexdigest()
    assert items[0]["ArchivedSize"] == len(data)


def test_title_caption_and_keywords_headers_are_applied(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    image = upload_ok(
        module_emulator,
        album,
        jpeg(),
        "tagged.jpg",
        **{
            "X-Smug-Title": "Sunset",
            "X-Smug-Caption": "Over the bay",
            "X-Smug-Keywords": "sea; sky; red",
        },
    )
    got = module_client.get(image["ImageUri"]).json()["Response"]["Image"]
    assert got["Title"] == "Sunset"
    assert got["Caption"] == "Over the bay"
    assert got["KeywordArray"] == ["sea", "sky", "red"]


def test_hidden_and_location_headers_are_applied(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    headers = {
        "X-Smug-Hidden": "true",
        "X-Smug-Latitude": "12.5",
        "X-Smug-Longitude": "-3.25",
        "X-Smug-Altitude": "100",
    }
    image = upload_ok(module_emulator, album, jpeg(), "where.jpg", **headers)
    got = module_client.get(image["ImageUri"]).json()["Response"]["Image"]
    assert got["Hidden"] is True
    assert float(got["Latitude"]) == pytest.approx(12.5)
    assert float(got["Longitude"]) == pytest.approx(-3.25)
    assert got["Altitude"] == 100


def test_percent_encoded_file_name_header_is_decoded(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    upload_ok(module_emulator, album, jpeg(), "caf%C3%A9%20au%20lait.jpg")
    assert [i["FileName"] for i in listed(module_client, album)] == ["caf\u00e9 au lait.jpg"]


def test_file_name_header_sent_twice_arrives_joined(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    # The real uploader named such an image "foo.jpg, foo.jpg" (phpSmug#19).
    headers = [(k, v) for k, v in smug_headers(album, None).items()]
    headers += [("X-Smug-FileName", "twice.jpg"), ("X-Smug-FileName", "twice.jpg")]
    with httpx.Client(auth=module_emulator.auth(), timeout=30) as client:
        response = client.post(module_emulator.upload_url, content=jpeg(), headers=headers)
    assert response.json()["stat"] == "ok"
    assert [i["FileName"] for i in listed(module_client, album)] == ["twice.jpg, twice.jpg"]


def test_absolute_album_uri_header_is_accepted(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    headers = smug_headers(album, "abs.jpg")
    headers["X-Smug-AlbumUri"] = f"https://api.smugmug.com/api/v2/album/{album}"
    assert post_upload(module_emulator, jpeg(), headers).json()["stat"] == "ok"
    assert [i["FileName"] for i in listed(module_client, album)] == ["abs.jpg"]


def test_duplicate_file_names_in_one_album_are_both_accepted(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    first = upload_ok(module_emulator, album, jpeg(), "same.jpg")
    second = upload_ok(module_emulator, album, jpeg(), "same.jpg")
    assert first["ImageUri"] != second["ImageUri"]
    items = listed(module_client, album)
    assert [i["FileName"] for i in items] == ["same.jpg", "same.jpg"]
    assert len({i["ImageKey"] for i in items}) == 2
    assert image_count(module_client, album) == 2
    names = module_client.get(
        f"/api/v2/album/{album}!images", params={"FileNames": "same.jpg"}
    ).json()
    assert names["Response"]["Pages"]["Total"] == 2


def test_identical_bytes_uploaded_twice_are_two_images(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    data = jpeg()
    upload_ok(module_emulator, album, data, "a.jpg")
    upload_ok(module_emulator, album, data, "b.jpg")
    items = listed(module_client, album)
    assert sorted(i["FileName"] for i in items) == ["a.jpg", "b.jpg"]
    assert {i["ArchivedMD5"] for i in items} == {hashlib.md5(data).hexdigest()}


# ------------------------------------------------------------------------------ replacing


def test_image_uri_header_replaces_in_place(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    old_data, new_data = jpeg(), jpeg(size=(48, 36))
    original = upload_ok(
        module_emulator,
        album,
        old_data,
        "replace.jpg",
        **{"X-Smug-Title": "Kept title", "X-Smug-Caption": "Kept caption"},
    )
    key = original["ImageUri"].rsplit("/", 1)[1].rsplit("-", 1)[0]
    before = module_client.get(original["ImageUri"]).json()["Response"]["Image"]
    response = post_upload(
        module_emulator,
        new_data,
        smug_headers(album, "replace.jpg", **{"X-Smug-ImageUri": before["Uri"]}),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["stat"] == "ok", body
    assert body["Image"]["ImageUri"] == f"/api/v2/image/{key}-{before['Serial'] + 1}"
    items = listed(module_client, album)
    assert len(items) == 1
    after = items[0]
    assert after["ImageKey"] == key
    assert after["Serial"] == before["Serial"] + 1
    assert after["ArchivedMD5"] == hashlib.md5(new_data).hexdigest()
    assert after["ArchivedSize"] == len(new_data)
    assert (after["OriginalWidth"], after["OriginalHeight"]) == (48, 36)
    assert after["Title"] == "Kept title"
    assert after["Caption"] == "Kept caption"
    assert after["FileName"] == "replace.jpg"
    assert image_count(module_client, album) == 1
    with httpx.Client(auth=module_emulator.auth(), timeout=30) as media:
        assert media.get(after["ArchivedUri"]).content == new_data
        # The old bytes' URL does not serve the new bytes.
        assert media.get(before["ArchivedUri"]).status_code == 404


def test_replacement_with_new_headers_updates_title_and_caption(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    original = upload_ok(module_emulator, album, jpeg(), "r.jpg", **{"X-Smug-Title": "Old"})
    upload_ok(
        module_emulator,
        album,
        jpeg(),
        "r.jpg",
        **{
            "X-Smug-ImageUri": original["ImageUri"],
            "X-Smug-Title": "New",
            "X-Smug-Caption": "Fresh",
        },
    )
    (item,) = listed(module_client, album)
    assert item["Title"] == "New"
    assert item["Caption"] == "Fresh"


def test_replacing_an_image_of_another_album_is_refused(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    other_key = create_album(module_client, "Elsewhere").rsplit("/", 1)[1]
    foreign = upload_ok(module_emulator, other_key, jpeg(), "foreign.jpg")
    response = post_upload(
        module_emulator,
        jpeg(),
        smug_headers(album, "x.jpg", **{"X-Smug-ImageUri": foreign["ImageUri"]}),
    )
    assert_refused(module_client, album, response)
    assert len(listed(module_client, other_key)) == 1


# ------------------------------------------------------------------------------- refusals


def test_wrong_content_md5_is_refused_with_stat_fail(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    data = jpeg()
    wrong = hashlib.md5(data + b"x").hexdigest()
    response = post_upload(
        module_emulator, data, smug_headers(album, "bad.jpg", **{"Content-MD5": wrong})
    )
    assert_refused(module_client, album, response)
    wrong64 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    response = post_upload(
        module_emulator, data, smug_headers(album, "bad.jpg", **{"Content-MD5": wrong64})
    )
    assert_refused(module_client, album, response)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(media.picture(fmt="WEBP"), id="webp"),
        pytest.param(os.urandom(4096), id="random"),
    ],
)
def test_unknown_file_type_is_refused_with_code_64(
    module_emulator: Emulator, module_client: httpx.Client, album: str, data: bytes
) -> None:
    body = assert_refused(
        module_client, album, post_upload(module_emulator, data, smug_headers(album, "odd.jpg"))
    )
    assert body["code"] == 64


def test_bmp_is_refused_with_code_6(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    body = assert_refused(
        module_client,
        album,
        post_upload(module_emulator, media.picture(fmt="BMP"), smug_headers(album, "old.bmp")),
    )
    assert body["code"] == 6


def test_empty_body_is_refused(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    assert_refused(
        module_client, album, post_upload(module_emulator, b"", smug_headers(album, "empty.jpg"))
    )


@pytest.mark.parametrize("album_uri", ["/api/v2/album/NoSuch", "", "/api/v2/node/Whatever"])
def test_unknown_album_is_refused(
    module_emulator: Emulator, module_client: httpx.Client, album: str, album_uri: str
) -> None:
    before = user_image_count(module_client)
    headers = smug_headers(album, "lost.jpg")
    if album_uri:
        headers["X-Smug-AlbumUri"] = album_uri
    else:
        del headers["X-Smug-AlbumUri"]
    response = post_upload(module_emulator, jpeg(), headers)
    assert response.status_code == 200
    body = response.json()
    assert body["stat"] == "fail"
    assert isinstance(body["code"], int)
    assert user_image_count(module_client) == before


def test_unsigned_upload_is_refused_and_stores_nothing(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    response = httpx.post(
        module_emulator.upload_url,
        content=jpeg(),
        headers=smug_headers(album, "anon.jpg"),
        timeout=30,
    )
    assert response.status_code in (200, 401)
    assert response.json()["stat"] == "fail"
    assert image_count(module_client, album) == 0


def test_upload_signed_in_the_query_string_is_refused(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    # The uploader reads OAuth parameters from the Authorization header only.
    auth = OAuth1Auth(
        module_emulator.env["SMUGFS_API_KEY"],
        module_emulator.env["SMUGFS_API_SECRET"],
        token=module_emulator.env["SMUGFS_ACCESS_TOKEN"],
        token_secret=module_emulator.env["SMUGFS_ACCESS_TOKEN_SECRET"],
        signature_type="QUERY",
        force_include_body=True,
    )
    with httpx.Client(auth=auth, timeout=30) as client:
        response = client.post(
            module_emulator.upload_url, content=jpeg(), headers=smug_headers(album, "q.jpg")
        )
    assert "oauth_signature=" in str(response.request.url)
    assert response.json()["stat"] == "fail"
    assert "oauth_problem=" in response.json()["message"]
    assert image_count(module_client, album) == 0


def test_header_signed_upload_to_a_url_with_a_query_string_works(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    response = post_upload(
        module_emulator,
        jpeg(),
        smug_headers(album, "qs.jpg"),
        url=module_emulator.upload_url + "?source=test",
    )
    assert response.json()["stat"] == "ok"
    assert [i["FileName"] for i in listed(module_client, album)] == ["qs.jpg"]


def test_upload_with_a_tampered_signature_is_refused(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    response = post_upload(
        module_emulator, jpeg(), smug_headers(album, "t.jpg"), api_secret="not-the-secret"
    )
    assert response.json()["stat"] == "fail"
    assert "oauth_problem=signature_invalid" in response.json()["message"]
    assert image_count(module_client, album) == 0


def test_read_only_token_cannot_upload(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    creds = module_emulator.token(permissions="Read")
    response = post_upload(
        module_emulator,
        jpeg(),
        smug_headers(album, "ro.jpg"),
        token=creds["access_token"],
        token_secret=creds["access_token_secret"],
    )
    assert response.json()["stat"] == "fail"
    assert image_count(module_client, album) == 0


def test_another_user_cannot_upload_into_the_album(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    with module_emulator.plain() as plain:
        plain.post("/emulator/users", json={"nick": "stranger"})
    creds = module_emulator.token(nick="stranger")
    response = post_upload(
        module_emulator,
        jpeg(),
        smug_headers(album, "stranger.jpg"),
        token=creds["access_token"],
        token_secret=creds["access_token_secret"],
    )
    assert response.json()["stat"] == "fail"
    assert image_count(module_client, album) == 0


@pytest.mark.parametrize("missing", ["X-Smug-Version", "X-Smug-ResponseType"])
def test_required_headers_missing_is_refused(
    module_emulator: Emulator, module_client: httpx.Client, album: str, missing: str
) -> None:
    headers = smug_headers(album, "h.jpg")
    del headers[missing]
    assert_refused(module_client, album, post_upload(module_emulator, jpeg(), headers))


# ------------------------------------------------------------------------- converted media


def test_heic_is_stored_as_a_jpeg_named_name_jpg(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    data = heic()
    upload_ok(module_emulator, album, data, "IMG_7058.HEIC")
    (item,) = listed(module_client, album)
    assert item["FileName"] == "IMG_7058.JPG"
    assert item["Format"] == "JPG"
    assert item["ArchivedMD5"] != hashlib.md5(data).hexdigest()
    with httpx.Client(auth=module_emulator.auth(), timeout=30) as media:
        stored = media.get(item["ArchivedUri"]).content
    assert stored.startswith(b"\xff\xd8\xff")
    assert hashlib.md5(stored).hexdigest() == item["ArchivedMD5"]
    assert len(stored) == item["ArchivedSize"]
    picture = Image.open(io.BytesIO(stored))
    assert picture.format == "JPEG"


def test_mp4_is_accepted_as_a_video_whose_largest_rendition_differs_from_the_upload(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    data = SAMPLE_MP4.read_bytes()
    image = upload_ok(module_emulator, album, data, "clip.mp4")
    (item,) = listed(module_client, album)
    assert item["FileName"] == "clip.mp4"
    assert item["Format"] == "MP4"
    assert item["IsVideo"] is True
    assert "LargestVideo" in item["Uris"]
    response = module_client.get(image["ImageUri"] + "!largestvideo")
    assert response.status_code == 200
    largest = response.json()["Response"]["LargestVideo"]
    assert largest["MD5"] != hashlib.md5(data).hexdigest()
    with httpx.Client(auth=module_emulator.auth(), timeout=30) as media:
        rendition = media.get(largest["Url"]).content
    assert len(rendition) == largest["Size"]
    assert hashlib.md5(rendition).hexdigest() == largest["MD5"]
    assert rendition != data
