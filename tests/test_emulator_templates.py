"""Album templates (`user!albumtemplates`, `albumtemplate/KEY`, `AlbumTemplateUri` on album
creation) and `image!download` (`Response.ImageDownload.Url`, which then serves the original),
through plain httpx with authlib's signer."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest

from smugfs.testing.emulator import Emulator
from smugfs.testing.library import list_all, response_of, root_uri
from smugfs.testing.media import jpeg
from smugfs.testing.recorded import assert_same_link, recorded

JSON = {"Accept": "application/json"}
TEMPLATE_FIELDS = {
    # The fields public clients model for an album template (their types, as sent).
    "Name": str,
    "AllowDownloads": bool,
    "SortMethod": str,
    "SortDirection": str,
    "Public": bool,
    "Password": str,
    "PasswordHint": str,
    "Filenames": bool,
    "EXIF": bool,
    "ProofDays": int,
    "Uri": str,
    "UriDescription": str,
}


def templates_uri(client: httpx.Client) -> str:
    """The user's own `UserAlbumTemplates` link."""
    uri: str = response_of(client.get("/api/v2!authuser"))["User"]["Uris"]["UserAlbumTemplates"][
        "Uri"
    ]
    return uri


# ---------------------------------------------------------------------------------- templates


def test_the_templates_link_is_as_recorded_and_answers_the_list(
    sample_client: httpx.Client,
) -> None:
    user = response_of(sample_client.get("/api/v2!authuser"))["User"]
    theirs = recorded("smugcli/authuser.json")["Response"]["User"]["Uris"]
    assert_same_link(user["Uris"]["UserAlbumTemplates"], theirs["UserAlbumTemplates"])
    body = response_of(sample_client.get(user["Uris"]["UserAlbumTemplates"]["Uri"]))
    assert (body["EndpointType"], body["Locator"], body["LocatorType"]) == (
        "UserAlbumTemplates",
        "AlbumTemplate",
        "Objects",
    )
    assert [t["Name"] for t in body["AlbumTemplate"]] == ["Client Proofing", "Family Events"]
    assert body["Pages"]["Total"] == 2
    for template in body["AlbumTemplate"]:
        for field, type_ in TEMPLATE_FIELDS.items():
            assert isinstance(template[field], type_), field
        assert template["Uris"]["User"]["Uri"] == "/api/v2/user/demo"
        assert response_of(sample_client.get(template["Uri"]))["AlbumTemplate"] == template
    proofing = body["AlbumTemplate"][0]
    assert (proofing["AllowDownloads"], proofing["SortMethod"], proofing["Public"]) == (
        False,
        "Filename",
        False,
    )


def test_no_templates_is_a_list_without_its_payload_key(module_client: httpx.Client) -> None:
    body = response_of(module_client.get(templates_uri(module_client)))
    assert "AlbumTemplate" not in body
    assert body["Pages"]["Total"] == 0
    assert body["Pages"]["Count"] == 0


def test_templates_are_the_owners_alone(
    sample_emulator: Emulator, sample_client: httpx.Client
) -> None:
    first = response_of(sample_client.get(templates_uri(sample_client)))["AlbumTemplate"][0]["Uri"]
    assert sample_client.get("/api/v2/user/alice!albumtemplates").status_code == 401
    alice = response_of(sample_client.get("/api/v2/user/alice"))["User"]
    assert "UserAlbumTemplates" not in alice["Uris"]
    with sample_emulator.plain() as anonymous:
        key = {"APIKey": sample_emulator.env["SMUGFS_API_KEY"]}
        listed = anonymous.get("/api/v2/user/demo!albumtemplates", params=key, headers=JSON)
        assert listed.status_code == 401
        assert anonymous.get(first, params=key, headers=JSON).status_code == 404
    assert sample_client.get("/api/v2/albumtemplate/nothing").status_code == 404


def test_a_template_made_by_post_presets_the_albums_made_with_it(
    module_client: httpx.Client,
) -> None:
    me = response_of(module_client.get("/api/v2!authuser"))["User"]["NickName"]
    made = module_client.post(
        templates_uri(module_client),
        json={"Name": "Weddings", "SortMethod": "Date Taken", "AllowDownloads": False},
    )
    template = response_of(made, 201)["AlbumTemplate"]
    assert (template["Name"], template["SortMethod"], template["AllowDownloads"]) == (
        "Weddings",
        "Date Taken",
        False,
    )
    assert [
        t["Uri"] for t in list_all(module_client, templates_uri(module_client), "AlbumTemplate")
    ] == [template["Uri"]]
    album = response_of(
        module_client.post(
            f"/api/v2/folder/user/{me}!albums",
            json={
                "Name": "June Wedding",
                "AlbumTemplateUri": template["Uri"],
                "Privacy": "Private",
            },
        ),
        201,
    )["Album"]
    # The template's settings, and the fields sent over them.
    assert (album["SortMethod"], album["AllowDownloads"], album["Privacy"]) == (
        "Date Taken",
        False,
        "Private",
    )
    # As smuploader sends it: `!albumfromalbumtemplate`, the template required, and the
    # folder named once more in `FolderUri` (its `!albums` URI).
    other = response_of(
        module_client.post(
            f"/api/v2/folder/user/{me}!albumfromalbumtemplate",
            json={
                "Title": "July Wedding",
                "NiceName": "July-Wedding",
                "OriginalSizes": 1,
                "Filenames": 1,
                "AlbumTemplateUri": template["Uri"],
                "FolderUri": f"/api/v2/folder/user/{me}!albums",
            },
        ),
        201,
    )["Album"]
    assert (other["Name"], other["SortMethod"]) == ("July Wedding", "Date Taken")
    missing = module_client.post(
        f"/api/v2/folder/user/{me}!albumfromalbumtemplate", json={"Name": "No"}
    )
    assert missing.status_code == 400


@pytest.mark.parametrize(
    "body", [{}, {"Name": ""}, {"Name": "x", "SortMethod": "Colour"}, {"Name": "x", "Privacy": "?"}]
)
def test_bad_templates_are_400(module_client: httpx.Client, body: dict[str, Any]) -> None:
    before = len(list_all(module_client, templates_uri(module_client), "AlbumTemplate"))
    assert module_client.post(templates_uri(module_client), json=body).status_code == 400
    assert len(list_all(module_client, templates_uri(module_client), "AlbumTemplate")) == before


def test_making_templates_needs_the_modify_grant(
    module_emulator: Emulator, module_client: httpx.Client
) -> None:
    uri = templates_uri(module_client)
    adder = module_emulator.token(permissions="Add")
    with module_emulator.client(
        token=adder["access_token"], token_secret=adder["access_token_secret"]
    ) as a:
        assert a.post(uri, json={"Name": "Nope"}).status_code == 401
        assert a.get(uri).status_code == 200


# ---------------------------------------------------------------------------------- download


def images_of(client: httpx.Client, path: str) -> list[dict[str, Any]]:
    album = response_of(client.get("/api/v2/user/demo!urlpathlookup", params={"urlpath": path}))
    return list_all(client, album["Album"]["Uris"]["AlbumImages"]["Uri"], "AlbumImage")


def test_image_download_link_is_as_recorded(sample_client: httpx.Client) -> None:
    theirs = recorded("smugcli/album_images.json")["Response"]["AlbumImage"][0]["Uris"]
    image = images_of(sample_client, "/Travel/2024/Lisbon")[0]
    link = image["Uris"]["ImageDownload"]
    assert_same_link(link, theirs["ImageDownload"])
    assert link["Uri"] == f"/api/v2/image/{image['ImageKey']}!download"


def test_image_download_url_serves_the_original(sample_client: httpx.Client) -> None:
    images = images_of(sample_client, "/Travel/2024/Iceland-the-Ring-Road")
    kinds = {image["Format"] for image in images}
    assert {"JPG", "PNG", "MP4"} <= kinds
    for image in images:
        body = response_of(sample_client.get(image["Uris"]["ImageDownload"]["Uri"]))
        assert (body["EndpointType"], body["Locator"], body["LocatorType"]) == (
            "ImageDownload",
            "ImageDownload",
            "Object",
        )
        url = body["ImageDownload"]["Url"]
        data = sample_client.get(url).content
        # The bytes are the archived ones: the original of a photo, the MP4 of a video.
        assert hashlib.md5(data).hexdigest() == image["ArchivedMD5"], image["FileName"]
        assert len(data) == image["ArchivedSize"]
        if not image["IsVideo"]:
            assert url == image["ArchivedUri"]


def test_download_of_a_protected_album_is_refused_to_others(
    module_emulator: Emulator, module_client: httpx.Client
) -> None:
    me = response_of(module_client.get("/api/v2!authuser"))["User"]["NickName"]
    album = response_of(
        module_client.post(
            f"/api/v2/folder/user/{me}!albums",
            json={"Name": "No Downloads", "Privacy": "Public", "AllowDownloads": False},
        ),
        201,
    )["Album"]
    assert module_emulator.upload(album["Uri"], "a.jpg", jpeg(3)).json()["stat"] == "ok"
    mine = list_all(module_client, album["Uris"]["AlbumImages"]["Uri"], "AlbumImage")[0]
    assert response_of(module_client.get(mine["Uris"]["ImageDownload"]["Uri"]))["ImageDownload"][
        "Url"
    ]
    with module_emulator.plain() as anonymous:
        key = {"APIKey": module_emulator.env["SMUGFS_API_KEY"]}
        theirs = response_of(
            anonymous.get(album["Uris"]["AlbumImages"]["Uri"], params=key, headers=JSON)
        )["AlbumImage"][0]
        assert "ImageDownload" not in theirs["Uris"]
        assert "ArchivedUri" not in theirs
        refused = anonymous.get(
            f"/api/v2/image/{theirs['ImageKey']}!download", params=key, headers=JSON
        )
        assert refused.status_code == 403
        assert "ImageDownload" not in refused.json()["Response"]


def test_download_of_an_unknown_image_is_404(sample_client: httpx.Client) -> None:
    assert sample_client.get("/api/v2/image/zzzzzzz!download").status_code == 404


def test_node_children_takes_a_template_for_albums(module_client: httpx.Client) -> None:
    """POST `node!children` documents `AlbumTemplateUri` for albums: the album starts from the
    template, while `SortMethod` sent there stays the node's own."""
    made = module_client.post(
        templates_uri(module_client),
        json={"Name": "Proofs", "SortMethod": "Filename", "AllowDownloads": False},
    )
    template = response_of(made, 201)["AlbumTemplate"]
    children = root_uri(module_client) + "!children"
    node = response_of(
        module_client.post(
            children,
            json={
                "Type": "Album",
                "Name": "Proof Set",
                "AlbumTemplateUri": template["Uri"],
                "SortMethod": "Name",
            },
        ),
        201,
    )["Node"]
    assert node["SortMethod"] == "Name"
    album = response_of(module_client.get(node["Uris"]["Album"]["Uri"]))["Album"]
    assert (album["SortMethod"], album["AllowDownloads"]) == ("Filename", False)
    before = len(list_all(module_client, children, "Node"))
    bad = module_client.post(
        children,
        json={"Type": "Album", "Name": "No Set", "AlbumTemplateUri": "/api/v2/albumtemplate/x"},
    )
    assert bad.status_code == 400
    assert len(list_all(module_client, children, "Node")) == before
    options = module_client.options(children).json()["Options"]["Parameters"]["POST"]
    assert "AlbumTemplateUri" in [p["Name"] for p in options]
