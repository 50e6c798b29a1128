"""The emulator's write side: creating, editing, moving, collecting and deleting nodes, albums
and images through the API v2, and the grants a token needs to do so.

Every change is checked afterwards through the emulator's own API (GET of the object, its
listing, or a 404 where it should be gone). One emulator serves the whole module; each test
builds what it needs under its own uniquely named folder or album.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import httpx
import pytest

from smugfs.testing import account
from smugfs.testing.emulator import Emulator, OAuth1Auth
from smugfs.testing.library import root_uri
from smugfs.testing.media import jpeg

NOT_GRANTED = "The user has not granted the required permissions"
_names = itertools.count(1)


# ---------------------------------------------------------------------------------- helpers


def unique(prefix: str) -> str:
    """A display name not used before in this module."""
    return f"{prefix} {next(_names)}"


def create(c: httpx.Client, parent: str, name: str, type_: str = "Folder", **extra: Any) -> Any:
    """POST `parent!children` and return the new Node (asserting 201)."""
    response = c.post(parent + "!children", json={"Name": name, "Type": type_, **extra})
    assert response.status_code == 201, response.text
    return response.json()["Response"]["Node"]


def album_key(node: dict[str, Any]) -> str:
    """The AlbumKey of an album node (last segment of `Uris.Album`)."""
    uri: str = node["Uris"]["Album"]["Uri"]
    return uri.rsplit("/", 1)[1]


def upload(emu: Emulator, key: str, name: str, data: bytes | None = None) -> dict[str, Any]:
    """Upload bytes into album `key`; returns the `Image` block of a successful reply."""
    return account.upload(emu, f"/api/v2/album/{key}", name, jpeg() if data is None else data)


def listed(c: httpx.Client, key: str) -> list[dict[str, Any]]:
    """Every AlbumImage an album's `!images` lists."""
    response = c.get(f"/api/v2/album/{key}!images", params={"count": 1000})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["Response"].get("AlbumImage", [])
    return items


def image_count(c: httpx.Client, key: str) -> int:
    """The album's `ImageCount`."""
    count: int = c.get(f"/api/v2/album/{key}").json()["Response"]["Album"]["ImageCount"]
    return count


def image_key_of(uri: str) -> str:
    """`ImageKey` from `/api/v2/.../image/KEY-SERIAL`."""
    return uri.rsplit("/", 1)[1].rsplit("-", 1)[0]


def children(c: httpx.Client, node_uri: str) -> list[dict[str, Any]]:
    """Every child node of a folder."""
    response = c.get(node_uri + "!children", params={"count": 200})
    assert response.status_code == 200, response.text
    nodes: list[dict[str, Any]] = response.json()["Response"].get("Node", [])
    return nodes


@pytest.fixture
def folder(module_client: httpx.Client) -> dict[str, Any]:
    """A fresh folder under the root for one test."""
    return create(module_client, root_uri(module_client), unique("Test Folder"))


@pytest.fixture
def album(module_client: httpx.Client, folder: dict[str, Any]) -> dict[str, Any]:
    """A fresh album inside the test's folder."""
    return create(module_client, folder["Uri"], unique("Test Album"), "Album")


# ----------------------------------------------------------------------- POST node!children


def test_creating_an_album_answers_201_created_with_the_node_and_its_album_link(
    module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    response = module_client.post(
        folder["Uri"] + "!children", json={"Name": "Holiday", "Type": "Album"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["Code"] == 201
    assert body["Message"] == "Created"
    node = body["Response"]["Node"]
    assert body["Response"]["Locator"] == "Node"
    assert node["Type"] == "Album"
    assert node["Name"] == "Holiday"
    assert node["UrlName"] == "Holiday"
    assert node["ResponseLevel"] == "Full"
    key = album_key(node)
    album = module_client.get(f"/api/v2/album/{key}").json()["Response"]["Album"]
    assert album["Name"] == "Holiday"
    assert album["NodeID"] == node["NodeID"]
    assert album["ImageCount"] == 0
    assert [n["NodeID"] for n in children(module_client, folder["Uri"])] == [node["NodeID"]]


def test_create_reply_answers_as_the_new_node_like_the_recorded_one(
    module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    # Recorded (bzimmer node_create): Response.Uri is the new node, Locator Node,
    # LocatorType Object, EndpointType Node, and Options describe only POST.
    response = module_client.post(
        folder["Uri"] + "!children", json={"Name": "Shape", "Type": "Album"}
    )
    assert response.status_code == 201
    body = response.json()
    envelope = body["Response"]
    node = envelope["Node"]
    assert envelope["Uri"] == node["Uri"] == f"/api/v2/node/{node['NodeID']}"
    assert envelope["Locator"] == "Node"
    assert envelope["LocatorType"] == "Object"
    assert envelope["EndpointType"] == "Node"
    assert isinstance(node, dict)
    assert "Pages" not in envelope
    options = body["Options"]
    assert options["Methods"] == ["POST"]
    assert list(options["Parameters"]) == ["POST"]
    names = {p["Name"] for p in options["Parameters"]["POST"]}
    assert {"Name", "Type", "UrlName", "AutoRename", "Privacy"} <= names
    name_param = next(p for p in options["Parameters"]["POST"] if p["Name"] == "Name")
    assert name_param["Required"] is True


def test_delete_reply_carries_only_the_delete_method_in_its_options(
    module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    node = create(module_client, folder["Uri"], "Short Lived", "Album")
    body = module_client.delete(node["Uri"]).json()
    assert body["Code"] == 200
    assert body["Message"] == "Ok"
    assert body["Response"]["Uri"] == node["Uri"]
    assert "Node" not in body["Response"]
    assert body["Options"]["Methods"] == ["DELETE"]
    assert body["Options"]["Parameters"] == {"DELETE": []}


def test_create_accepts_a_signed_form_encoded_body(
    module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    # The body as smugcli sends it: form-encoded, no UrlName.
    form = {
        "Name": "Form Made",
        "Type": "Album",
        "Privacy": "Public",
        "SortDirection": "Ascending",
        "SortMethod": "Name",
    }
    response = module_client.post(folder["Uri"] + "!children", data=form)
    assert response.status_code == 201, response.text
    node = response.json()["Response"]["Node"]
    fetched = module_client.get(node["Uri"]).json()["Response"]["Node"]
    assert fetched["Name"] == "Form Made"
    assert fetched["Type"] == "Album"
    assert fetched["Privacy"] == "Public"
    assert fetched["SortMethod"] == "Name"
    assert fetched["SortDirection"] == "Ascending"


def test_create_accepts_a_multipart_form_body(
    module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    response = module_client.post(
        folder["Uri"] + "!children",
        files={"Name": (None, "Multi Part"), "Type": (None, "Album")},
    )
    assert response.status_code == 201, response.text
    node = module_client.get(response.json()["Response"]["Node"]["Uri"]).json()["Response"]["Node"]
    assert (node["Name"], node["Type"]) == ("Multi Part", "Album")


def test_form_body_whose_parameters_were_not_signed_is_refused_401(
    module_emulator: Emulator, module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    url = module_emulator.base_url + folder["Uri"] + "!children"
    # Sign the request as if it had no body, then send it with a form body: the form
    # parameters belong in the signature base string, so the signature no longer matches.
    unsigned = httpx.Request("POST", url)
    signed = next(module_emulator.auth().auth_flow(unsigned))
    response = httpx.post(
        url,
        data={"Name": "Sneaky", "Type": "Folder"},
        headers={"Authorization": signed.headers["Authorization"], "Accept": "application/json"},
    )
    assert response.status_code == 401
    assert "oauth_problem=signature_invalid" in response.json()["Message"]
    assert [n["Name"] for n in children(module_client, folder["Uri"])] == []


def test_json_body_dropped_by_a_signer_without_force_include_body_is_400_name_required(
    module_emulator: Emulator, module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    # authlib's client core sends an empty body for JSON unless force_include_body=True.

    env = module_emulator.env
    auth = OAuth1Auth(
        env["SMUGFS_API_KEY"],
        env["SMUGFS_API_SECRET"],
        token=env["SMUGFS_ACCESS_TOKEN"],
        token_secret=env["SMUGFS_ACCESS_TOKEN_SECRET"],
    )
    with httpx.Client(
        base_url=module_emulator.base_url, auth=auth, headers={"Accept": "application/json"}
    ) as lossy:
        response = lossy.post(folder["Uri"] + "!children", json={"Name": "Lost", "Type": "Album"})
    assert response.status_code == 400
    assert response.json()["Message"] == "Name is required"
    assert children(module_client, folder["Uri"]) == []


def test_type_defaults_to_folder_and_privacy_to_unlisted(
    module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    response = module_client.post(folder["Uri"] + "!children", json={"Name": "Plain"})
    assert response.status_code == 201
    node = module_client.get(response.json()["Response"]["Node"]["Uri"]).json()["Response"]["Node"]
    assert node["Type"] == "Folder"
    assert node["Privacy"] == "Unlisted"
    assert "ChildNodes" in node["Uris"]
    assert "Album" not in node["Uris"]


@pytest.mark.parametrize(
    ("name", "url_name"),
    [
        ("Black & White", "Black-White"),
        ("San Francisco by helicopter 2014", "San-Francisco-by-helicopter-2014"),
        ("2016", "2016"),
        ("2016-08", "2016-08"),
    ],
)
def test_url_name_is_derived_from_name_when_not_sent(
    module_client: httpx.Client, folder: dict[str, Any], name: str, url_name: str
) -> None:
    node = create(module_client, folder["Uri"], name, "Album")
    assert node["UrlName"] == url_name
    assert node["UrlPath"].endswith("/" + url_name)
    assert module_client.get(node["Uri"]).json()["Response"]["Node"]["UrlName"] == url_name


def test_supplied_url_name_starting_with_a_capital_letter_is_kept(
    module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    node = create(module_client, folder["Uri"], "whatever", "Album", UrlName="Chosen-Name")
    assert node["UrlName"] == "Chosen-Name"


@pytest.mark.parametrize("url_name", ["lower-case", "2016", "-Dash"])
def test_supplied_url_name_not_starting_with_a_capital_letter_is_400(
    module_client: httpx.Client, folder: dict[str, Any], url_name: str
) -> None:
    response = module_client.post(
        folder["Uri"] + "!children", json={"Name": "X", "Type": "Album", "UrlName": url_name}
    )
    assert response.status_code == 400
    assert response.json()["Code"] == 400
    assert "Node" not in response.json()["Response"]
    assert children(module_client, folder["Uri"]) == []


@pytest.mark.parametrize("body", [{"Type": "Album"}, {"Name": "", "Type": "Album"}])
def test_missing_or_empty_name_is_400(
    module_client: httpx.Client, folder: dict[str, Any], body: dict[str, str]
) -> None:
    response = module_client.post(folder["Uri"] + "!children", json=body)
    assert response.status_code == 400
    assert children(module_client, folder["Uri"]) == []


def test_sibling_url_name_clash_is_409_unless_auto_rename(
    module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    first = create(module_client, folder["Uri"], "Trip", "Album")
    clash = module_client.post(folder["Uri"] + "!children", json={"Name": "Trip", "Type": "Album"})
    assert clash.status_code == 409
    assert clash.json()["Code"] == 409
    # A different display name with the same UrlName clashes too (UrlNames are unique).
    clash2 = module_client.post(
        folder["Uri"] + "!children", json={"Name": "Other", "UrlName": "Trip"}
    )
    assert clash2.status_code == 409
    assert len(children(module_client, folder["Uri"])) == 1
    renamed = module_client.post(
        folder["Uri"] + "!children", json={"Name": "Trip", "Type": "Album", "AutoRename": True}
    )
    assert renamed.status_code == 201
    second = renamed.json()["Response"]["Node"]
    assert second["Name"] == "Trip"
    assert second["UrlName"] != first["UrlName"]
    names = sorted(n["UrlName"] for n in children(module_client, folder["Uri"]))
    assert names == sorted([first["UrlName"], second["UrlName"]])


def test_same_display_name_with_a_different_url_name_is_allowed(
    module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    create(module_client, folder["Uri"], "Twin", "Album")
    create(module_client, folder["Uri"], "Twin", "Album", UrlName="Twin-Two")
    assert sorted(n["Name"] for n in children(module_client, folder["Uri"])) == ["Twin", "Twin"]


def test_folders_nest_five_deep_below_the_root_and_albums_do_not_count(
    module_client: httpx.Client,
) -> None:
    parent = root_uri(module_client)
    made = []
    for depth in range(1, 6):
        node = create(module_client, parent, unique(f"Depth {depth}"))
        made.append(node)
        parent = node["Uri"]
    too_deep = module_client.post(parent + "!children", json={"Name": "Depth 6", "Type": "Folder"})
    assert too_deep.status_code == 400
    assert children(module_client, parent) == []
    # An album at the deepest level is fine: albums don't count toward the limit.
    album = create(module_client, parent, "Deep Album", "Album")
    assert album["UrlPath"].count("/") == 6
    parents = module_client.get(album["Uri"] + "!parents", params={"count": 50}).json()["Response"]
    assert parents["Pages"]["Total"] == 7


def test_keywords_description_and_privacy_sent_on_create_are_kept(
    module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    node = create(
        module_client,
        folder["Uri"],
        "Tagged",
        "Album",
        Keywords=["sea", "sky"],
        Description="By the sea",
        Privacy="Private",
    )
    fetched = module_client.get(node["Uri"]).json()["Response"]["Node"]
    assert fetched["Keywords"] == ["sea", "sky"]
    assert fetched["Description"] == "By the sea"
    assert fetched["Privacy"] == "Private"
    album = module_client.get(node["Uris"]["Album"]["Uri"]).json()["Response"]["Album"]
    assert album["Keywords"] == "sea; sky"  # a string on albums
    assert album["Privacy"] == "Private"


def test_private_folder_makes_a_public_album_inside_effectively_private(
    module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    private = create(module_client, folder["Uri"], "Closed", Privacy="Private")
    inside = create(module_client, private["Uri"], "Open Inside", "Album", Privacy="Public")
    unlisted = create(module_client, folder["Uri"], "Half Open", Privacy="Unlisted")
    public_inside = create(
        module_client, unlisted["Uri"], "Public Inside", "Album", Privacy="Public"
    )
    node = module_client.get(inside["Uri"]).json()["Response"]["Node"]
    assert node["Privacy"] == "Public"
    assert node["EffectivePrivacy"] == "Private"
    # The album reports the privacy that applies, not its own setting.
    album = module_client.get(inside["Uris"]["Album"]["Uri"]).json()["Response"]["Album"]
    assert album["Privacy"] == "Private"
    # An Unlisted folder does not cap a Public album.
    node = module_client.get(public_inside["Uri"]).json()["Response"]["Node"]
    assert node["EffectivePrivacy"] == "Public"


def test_has_children_follows_creates_and_deletes(
    module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    assert module_client.get(folder["Uri"]).json()["Response"]["Node"]["HasChildren"] is False
    child = create(module_client, folder["Uri"], "Only Child", "Album")
    assert module_client.get(folder["Uri"]).json()["Response"]["Node"]["HasChildren"] is True
    assert module_client.delete(child["Uri"]).status_code == 200
    assert module_client.get(folder["Uri"]).json()["Response"]["Node"]["HasChildren"] is False


def test_children_can_only_be_created_under_folders(
    module_client: httpx.Client, album: dict[str, Any]
) -> None:
    response = module_client.post(
        album["Uri"] + "!children", json={"Name": "Inside", "Type": "Album"}
    )
    assert response.status_code == 400
    listing = module_client.get(album["Uri"] + "!children")
    assert "Node" not in listing.json()["Response"]


# --------------------------------------------------------------------------------- PATCH


def test_patch_node_changes_only_the_fields_sent(
    module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    node = create(module_client, folder["Uri"], "Before", "Album", Description="keep me")
    response = module_client.patch(node["Uri"], json={"Name": "After"})
    assert response.status_code == 200
    assert response.json()["Response"]["Node"]["Name"] == "After"
    fetched = module_client.get(node["Uri"]).json()["Response"]["Node"]
    assert fetched["Name"] == "After"
    assert fetched["UrlName"] == "Before"  # renaming does not move the URL
    assert fetched["Description"] == "keep me"
    assert fetched["DateAdded"] == node["DateAdded"]


def test_patch_url_name_moves_the_path_and_the_old_one_stops_resolving(
    module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    node = create(module_client, folder["Uri"], "Moving", "Album")
    nick = module_client.get("/api/v2!authuser").json()["Response"]["User"]["NickName"]
    old_path = node["UrlPath"]
    response = module_client.patch(node["Uri"], json={"UrlName": "Moved-Here"})
    assert response.status_code == 200
    fetched = module_client.get(node["Uri"]).json()["Response"]["Node"]
    assert fetched["UrlName"] == "Moved-Here"
    assert fetched["UrlPath"] == old_path.rsplit("/", 1)[0] + "/Moved-Here"
    lookup = f"/api/v2/user/{nick}!urlpathlookup"
    assert module_client.get(lookup, params={"urlpath": old_path}).status_code == 404
    assert module_client.get(lookup, params={"urlpath": fetched["UrlPath"]}).status_code == 200


def test_patch_url_name_clash_is_409_and_auto_rename_is_200_with_nothing_changed(
    module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    create(module_client, folder["Uri"], "Taken", "Album")
    other = create(module_client, folder["Uri"], "Free", "Album")
    clash = module_client.patch(other["Uri"], json={"UrlName": "Taken"})
    assert clash.status_code == 409
    assert module_client.get(other["Uri"]).json()["Response"]["Node"]["UrlName"] == "Free"
    quiet = module_client.patch(other["Uri"], json={"UrlName": "Taken", "AutoRename": True})
    assert quiet.status_code == 200
    assert module_client.get(other["Uri"]).json()["Response"]["Node"]["UrlName"] == "Free"


def test_patch_url_name_must_start_with_a_capital_letter(
    module_client: httpx.Client, album: dict[str, Any]
) -> None:
    response = module_client.patch(album["Uri"], json={"UrlName": "lower"})
    assert response.status_code == 400
    assert module_client.get(album["Uri"]).json()["Response"]["Node"]["UrlName"] == album["UrlName"]


def test_patch_album_sort_method_file_name_is_echoed_as_filename(
    module_client: httpx.Client, album: dict[str, Any]
) -> None:
    key = album_key(album)
    response = module_client.patch(f"/api/v2/album/{key}", json={"SortMethod": "FileName"})
    assert response.status_code == 200
    assert response.json()["Response"]["Album"]["SortMethod"] == "Filename"
    assert (
        module_client.get(f"/api/v2/album/{key}").json()["Response"]["Album"]["SortMethod"]
        == "Filename"
    )


def test_patch_album_sort_method_date_time_original_is_accepted_as_date_taken(
    module_client: httpx.Client, album: dict[str, Any]
) -> None:
    # smugcli PATCHes every album it creates with this value and stops on any non-2xx answer.
    key = album_key(album)
    response = module_client.patch(f"/api/v2/album/{key}", json={"SortMethod": "DateTimeOriginal"})
    assert response.status_code == 200, response.text
    assert (
        module_client.get(f"/api/v2/album/{key}").json()["Response"]["Album"]["SortMethod"]
        == "Date Taken"
    )


@pytest.mark.parametrize("value", ["Position", "Caption", "Date Uploaded", "Date Taken"])
def test_patch_album_sort_method_accepts_the_values_it_reports(
    module_client: httpx.Client, album: dict[str, Any], value: str
) -> None:
    key = album_key(album)
    response = module_client.patch(f"/api/v2/album/{key}", json={"SortMethod": value})
    assert response.status_code == 200
    assert (
        module_client.get(f"/api/v2/album/{key}").json()["Response"]["Album"]["SortMethod"] == value
    )


def test_patch_album_invalid_sort_method_is_400_and_changes_nothing(
    module_client: httpx.Client, album: dict[str, Any]
) -> None:
    key = album_key(album)
    before = module_client.get(f"/api/v2/album/{key}").json()["Response"]["Album"]["SortMethod"]
    response = module_client.patch(
        f"/api/v2/album/{key}", json={"SortMethod": "Bogus", "Name": "Renamed"}
    )
    assert response.status_code == 400
    after = module_client.get(f"/api/v2/album/{key}").json()["Response"]["Album"]
    assert after["SortMethod"] == before
    assert after["Name"] == album["Name"]


def test_patch_album_name_reaches_its_node(
    module_client: httpx.Client, album: dict[str, Any]
) -> None:
    key = album_key(album)
    assert (
        module_client.patch(f"/api/v2/album/{key}", json={"Name": "New Title"}).status_code == 200
    )
    assert module_client.get(album["Uri"]).json()["Response"]["Node"]["Name"] == "New Title"


def test_patch_image_changes_metadata_and_silently_ignores_file_name(
    module_emulator: Emulator, module_client: httpx.Client, album: dict[str, Any]
) -> None:
    key = album_key(album)
    uploaded = upload(module_emulator, key, "keep.jpg")
    response = module_client.patch(
        uploaded["ImageUri"],
        json={
            "Title": "A title",
            "Caption": "A caption",
            "Keywords": "one; two",
            "Hidden": True,
            "Latitude": 52.5,
            "Longitude": -1.25,
            "FileName": "renamed.jpg",
        },
    )
    assert response.status_code == 200
    assert response.json()["Message"] == "Ok"
    image = module_client.get(uploaded["ImageUri"]).json()["Response"]["Image"]
    assert image["Title"] == "A title"
    assert image["Caption"] == "A caption"
    assert image["KeywordArray"] == ["one", "two"]
    assert image["Hidden"] is True
    assert float(image["Latitude"]) == pytest.approx(52.5)
    assert float(image["Longitude"]) == pytest.approx(-1.25)
    assert image["FileName"] == "keep.jpg"
    assert [i["FileName"] for i in listed(module_client, key)] == ["keep.jpg"]


@pytest.mark.parametrize(
    "change", [{"Latitude": "north"}, {"Longitude": [1]}, {"Altitude": "high"}]
)
def test_patch_image_with_an_unusable_value_is_400_and_changes_nothing(
    module_emulator: Emulator,
    module_client: httpx.Client,
    album: dict[str, Any],
    change: dict[str, Any],
) -> None:
    uploaded = upload(module_emulator, album_key(album), "geo.jpg")
    before = module_client.get(uploaded["ImageUri"]).json()["Response"]["Image"]
    response = module_client.patch(
        uploaded["ImageUri"], json={"Title": "Should not stick", **change}
    )
    assert response.status_code == 400
    assert response.json()["Code"] == 400
    after = module_client.get(uploaded["ImageUri"]).json()["Response"]["Image"]
    assert after["Title"] == before["Title"]
    assert (after["Latitude"], after["Longitude"]) == (before["Latitude"], before["Longitude"])


def test_patch_album_image_uri_changes_the_image(
    module_emulator: Emulator, module_client: httpx.Client, album: dict[str, Any]
) -> None:
    key = album_key(album)
    uploaded = upload(module_emulator, key, "a.jpg")
    response = module_client.patch(uploaded["AlbumImageUri"], json={"Caption": "via album"})
    assert response.status_code == 200
    assert (
        module_client.get(uploaded["ImageUri"]).json()["Response"]["Image"]["Caption"]
        == "via album"
    )


def test_method_override_patch_on_post(module_client: httpx.Client, album: dict[str, Any]) -> None:
    response = module_client.post(
        album["Uri"], params={"_method": "PATCH"}, json={"Name": "Overridden"}
    )
    assert response.status_code == 200
    assert response.json()["Response"]["Node"]["Name"] == "Overridden"
    assert module_client.get(album["Uri"]).json()["Response"]["Node"]["Name"] == "Overridden"


def test_method_override_delete_on_post(
    module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    node = create(module_client, folder["Uri"], "Doomed", "Album")
    response = module_client.post(node["Uri"], params={"_method": "DELETE"})
    assert response.status_code == 200
    assert module_client.get(node["Uri"]).status_code == 404


# -------------------------------------------------------------------------------- DELETE


def test_deleting_a_folder_deletes_its_whole_subtree(
    module_emulator: Emulator, module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    sub = create(module_client, folder["Uri"], "Sub")
    inner = create(module_client, sub["Uri"], "Inner", "Album")
    top = create(module_client, folder["Uri"], "Top", "Album")
    inner_key, top_key = album_key(inner), album_key(top)
    images = [
        upload(module_emulator, inner_key, "i1.jpg"),
        upload(module_emulator, top_key, "t1.jpg"),
    ]
    response = module_client.delete(folder["Uri"])
    assert response.status_code == 200
    assert response.json()["Code"] == 200
    for uri in (folder["Uri"], sub["Uri"], inner["Uri"], top["Uri"]):
        assert module_client.get(uri).status_code == 404, uri
    for key in (inner_key, top_key):
        assert module_client.get(f"/api/v2/album/{key}").status_code == 404
    for image in images:
        assert module_client.get(image["ImageUri"]).status_code == 404
    assert folder["NodeID"] not in [
        n["NodeID"] for n in children(module_client, root_uri(module_client))
    ]


def test_delete_album_by_album_uri_removes_its_node_and_images(
    module_emulator: Emulator, module_client: httpx.Client, album: dict[str, Any]
) -> None:
    key = album_key(album)
    image = upload(module_emulator, key, "x.jpg")
    response = module_client.delete(f"/api/v2/album/{key}")
    assert response.status_code == 200
    assert module_client.get(f"/api/v2/album/{key}").status_code == 404
    assert module_client.get(album["Uri"]).status_code == 404
    assert module_client.get(image["ImageUri"]).status_code == 404


def test_delete_album_node(module_client: httpx.Client, album: dict[str, Any]) -> None:
    assert module_client.delete(album["Uri"]).status_code == 200
    assert module_client.get(f"/api/v2/album/{album_key(album)}").status_code == 404


def test_delete_album_image_removes_only_that_image(
    module_emulator: Emulator, module_client: httpx.Client, album: dict[str, Any]
) -> None:
    key = album_key(album)
    gone = upload(module_emulator, key, "gone.jpg")
    kept = upload(module_emulator, key, "kept.jpg")
    response = module_client.delete(gone["AlbumImageUri"])
    assert response.status_code == 200
    body = response.json()
    assert body["Code"] == 200
    assert "AlbumImage" not in body["Response"]
    assert module_client.get(gone["ImageUri"]).status_code == 404
    assert module_client.get(gone["AlbumImageUri"]).status_code == 404
    assert module_client.get(kept["ImageUri"]).status_code == 200
    assert [i["FileName"] for i in listed(module_client, key)] == ["kept.jpg"]
    assert image_count(module_client, key) == 1


def test_deleting_the_root_is_refused(module_client: httpx.Client) -> None:
    root = root_uri(module_client)
    response = module_client.delete(root)
    assert 400 <= response.status_code < 500
    assert module_client.get(root).status_code == 200


def test_delete_of_an_unknown_node_is_404(module_client: httpx.Client) -> None:
    assert module_client.delete("/api/v2/node/NoSuch").status_code == 404


def test_date_modified_of_ancestors_moves_on_after_a_change_below_them(
    module_emulator: Emulator, module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    sub = create(module_client, folder["Uri"], "Level")
    album = create(module_client, sub["Uri"], "Leaf", "Album")
    before = {
        u: module_client.get(u).json()["Response"]["Node"] for u in (folder["Uri"], sub["Uri"])
    }
    time.sleep(1.1)  # the API reports whole seconds
    upload(module_emulator, album_key(album), "new.jpg")
    for uri, old in before.items():
        now = module_client.get(uri).json()["Response"]["Node"]
        assert now["DateModified"] > old["DateModified"], uri
        assert now["DateAdded"] == old["DateAdded"]
    root = module_client.get(root_uri(module_client)).json()["Response"]["Node"]
    assert root["DateModified"] >= before[folder["Uri"]]["DateModified"]
    key = album_key(album)
    after_upload = module_client.get(f"/api/v2/album/{key}").json()["Response"]["Album"]
    stamp = module_client.get(folder["Uri"]).json()["Response"]["Node"]["DateModified"]
    time.sleep(1.1)
    assert module_client.delete(album["Uri"]).status_code == 200
    assert module_client.get(folder["Uri"]).json()["Response"]["Node"]["DateModified"] > stamp
    assert (
        after_upload["ImagesLastUpdated"]
        >= after_upload["LastUpdated"]
        >= (before[sub["Uri"]]["DateModified"])
    )


# --------------------------------------------------------------------- moving and collecting


def test_moveimages_moves_an_image_keeping_its_key(
    module_emulator: Emulator, module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    source = album_key(create(module_client, folder["Uri"], "Source", "Album"))
    target = album_key(create(module_client, folder["Uri"], "Target", "Album"))
    moving = upload(module_emulator, source, "move.jpg")
    staying = upload(module_emulator, source, "stay.jpg")
    response = module_client.post(
        f"/api/v2/album/{target}!moveimages", json={"MoveUris": moving["AlbumImageUri"]}
    )
    assert response.status_code == 200
    assert response.json()["Message"] == "Ok"
    assert [i["FileName"] for i in listed(module_client, source)] == ["stay.jpg"]
    moved = listed(module_client, target)
    assert [i["ImageKey"] for i in moved] == [image_key_of(moving["ImageUri"])]
    assert moved[0]["Uri"].startswith(f"/api/v2/album/{target}/image/")
    assert image_count(module_client, source) == 1
    assert image_count(module_client, target) == 1
    assert module_client.get(staying["AlbumImageUri"]).status_code == 200
    assert module_client.get(moving["AlbumImageUri"]).status_code == 404


def test_moveimages_takes_a_comma_separated_batch(
    module_emulator: Emulator, module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    source = album_key(create(module_client, folder["Uri"], "Source", "Album"))
    target = album_key(create(module_client, folder["Uri"], "Target", "Album"))
    uploads = [upload(module_emulator, source, f"{n}.jpg") for n in range(3)]
    uris = ",".join(u["AlbumImageUri"] for u in uploads)
    response = module_client.post(f"/api/v2/album/{target}!moveimages", data={"MoveUris": uris})
    assert response.status_code == 200
    assert listed(module_client, source) == []
    assert sorted(i["FileName"] for i in listed(module_client, target)) == [
        "0.jpg",
        "1.jpg",
        "2.jpg",
    ]


def test_moveimages_with_a_bad_uri_in_the_batch_is_400_and_moves_nothing(
    module_emulator: Emulator, module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    source = album_key(create(module_client, folder["Uri"], "Source", "Album"))
    target = album_key(create(module_client, folder["Uri"], "Target", "Album"))
    good = upload(module_emulator, source, "good.jpg")
    uris = f"{good['AlbumImageUri']},/api/v2/album/{source}/image/Nothing-0"
    response = module_client.post(f"/api/v2/album/{target}!moveimages", json={"MoveUris": uris})
    assert response.status_code == 400
    assert [i["FileName"] for i in listed(module_client, source)] == ["good.jpg"]
    assert listed(module_client, target) == []
    assert image_count(module_client, target) == 0


def test_moveimages_naming_the_same_image_twice_moves_it_once(
    module_emulator: Emulator, module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    source = album_key(create(module_client, folder["Uri"], "Source", "Album"))
    target = album_key(create(module_client, folder["Uri"], "Target", "Album"))
    moving = upload(module_emulator, source, "twice.jpg")
    uris = f"{moving['AlbumImageUri']},{moving['AlbumImageUri']}"
    response = module_client.post(f"/api/v2/album/{target}!moveimages", json={"MoveUris": uris})
    assert response.status_code == 200, response.text
    assert listed(module_client, source) == []
    assert [i["FileName"] for i in listed(module_client, target)] == ["twice.jpg"]
    assert image_count(module_client, target) == 1


def test_deleteimages_naming_the_same_image_twice_deletes_it_once(
    module_emulator: Emulator, module_client: httpx.Client, album: dict[str, Any]
) -> None:
    key = album_key(album)
    gone = upload(module_emulator, key, "gone.jpg")
    kept = upload(module_emulator, key, "kept.jpg")
    uris = f"{gone['AlbumImageUri']},{gone['ImageUri']}"
    response = module_client.post(f"/api/v2/album/{key}!deleteimages", json={"ImageUris": uris})
    assert response.status_code == 200, response.text
    assert [i["FileName"] for i in listed(module_client, key)] == ["kept.jpg"]
    assert module_client.get(gone["ImageUri"]).status_code == 404
    assert module_client.get(kept["ImageUri"]).status_code == 200


def test_collectimages_shows_the_image_in_both_albums(
    module_emulator: Emulator, module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    source = album_key(create(module_client, folder["Uri"], "Source", "Album"))
    target = album_key(create(module_client, folder["Uri"], "Target", "Album"))
    original = upload(module_emulator, source, "shared.jpg")
    key = image_key_of(original["ImageUri"])
    uri = f"/api/v2/album/{target}!collectimages"
    response = module_client.post(uri, json={"CollectUris": original["AlbumImageUri"]})
    assert response.status_code == 200
    assert [i["ImageKey"] for i in listed(module_client, source)] == [key]
    assert [i["ImageKey"] for i in listed(module_client, target)] == [key]
    # Collecting it again is a no-op.
    assert (
        module_client.post(uri, json={"CollectUris": original["AlbumImageUri"]}).status_code == 200
    )
    assert [i["ImageKey"] for i in listed(module_client, target)] == [key]
    assert image_count(module_client, target) == 1
    albums = module_client.get(original["ImageUri"] + "!albums").json()["Response"]["Album"]
    assert sorted(a["AlbumKey"] for a in albums) == sorted([source, target])


def test_removing_a_collected_copy_keeps_the_original(
    module_emulator: Emulator, module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    source = album_key(create(module_client, folder["Uri"], "Source", "Album"))
    target = album_key(create(module_client, folder["Uri"], "Target", "Album"))
    original = upload(module_emulator, source, "o.jpg")
    key = image_key_of(original["ImageUri"])
    module_client.post(
        f"/api/v2/album/{target}!collectimages", json={"CollectUris": original["AlbumImageUri"]}
    ).raise_for_status()
    copy_uri = f"/api/v2/album/{target}/image/{original['ImageUri'].rsplit('/', 1)[1]}"
    assert module_client.delete(copy_uri).status_code == 200
    assert listed(module_client, target) == []
    assert [i["ImageKey"] for i in listed(module_client, source)] == [key]
    assert module_client.get(original["ImageUri"]).status_code == 200


def test_deleting_the_original_removes_its_collected_copies(
    module_emulator: Emulator, module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    source = album_key(create(module_client, folder["Uri"], "Source", "Album"))
    target = album_key(create(module_client, folder["Uri"], "Target", "Album"))
    original = upload(module_emulator, source, "o.jpg")
    module_client.post(
        f"/api/v2/album/{target}!collectimages", json={"CollectUris": original["AlbumImageUri"]}
    ).raise_for_status()
    assert image_count(module_client, target) == 1
    assert module_client.delete(original["AlbumImageUri"]).status_code == 200
    assert listed(module_client, source) == []
    assert listed(module_client, target) == []
    assert image_count(module_client, target) == 0
    assert module_client.get(original["ImageUri"]).status_code == 404


def test_deleteimages_removes_the_listed_images(
    module_emulator: Emulator, module_client: httpx.Client, album: dict[str, Any]
) -> None:
    key = album_key(album)
    uploads = [upload(module_emulator, key, f"d{n}.jpg") for n in range(3)]
    uris = ",".join(u["AlbumImageUri"] for u in uploads[:2])
    response = module_client.post(f"/api/v2/album/{key}!deleteimages", json={"ImageUris": uris})
    assert response.status_code == 200
    assert [i["FileName"] for i in listed(module_client, key)] == ["d2.jpg"]
    for gone in uploads[:2]:
        assert module_client.get(gone["ImageUri"]).status_code == 404


def test_movenodes_moves_an_album_into_a_folder(
    module_emulator: Emulator, module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    destination = create(module_client, folder["Uri"], "Destination")
    album = create(module_client, folder["Uri"], "Wanderer", "Album")
    image = upload(module_emulator, album_key(album), "w.jpg")
    response = module_client.post(
        destination["Uri"] + "!movenodes", json={"MoveUris": album["Uri"]}
    )
    assert response.status_code in (200, 202)
    moved = module_client.get(album["Uri"]).json()["Response"]["Node"]
    assert moved["UrlPath"] == destination["UrlPath"] + "/Wanderer"
    parent = module_client.get(album["Uri"] + "!parent").json()["Response"]["Node"]
    assert parent["NodeID"] == destination["NodeID"]
    assert [n["NodeID"] for n in children(module_client, destination["Uri"])] == [album["NodeID"]]
    assert album["NodeID"] not in [n["NodeID"] for n in children(module_client, folder["Uri"])]
    # The album and its images came along unchanged.
    assert module_client.get(image["ImageUri"]).status_code == 200
    assert image_count(module_client, album_key(album)) == 1


def test_movenodes_into_its_own_subtree_is_400(
    module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    outer = create(module_client, folder["Uri"], "Outer")
    inner = create(module_client, outer["Uri"], "Inner")
    for target in (inner, outer):
        response = module_client.post(target["Uri"] + "!movenodes", json={"MoveUris": outer["Uri"]})
        assert response.status_code == 400
    assert (
        module_client.get(outer["Uri"] + "!parent").json()["Response"]["Node"]["NodeID"]
        == (folder["NodeID"])
    )


def test_movenodes_url_name_clash_is_409(
    module_client: httpx.Client, folder: dict[str, Any]
) -> None:
    destination = create(module_client, folder["Uri"], "Destination")
    create(module_client, destination["Uri"], "Same", "Album")
    mover = create(module_client, folder["Uri"], "Same", "Album")
    response = module_client.post(
        destination["Uri"] + "!movenodes", json={"MoveUris": mover["Uri"]}
    )
    assert response.status_code == 409
    assert (
        module_client.get(mover["Uri"] + "!parent").json()["Response"]["Node"]["NodeID"]
        == (folder["NodeID"])
    )


def test_movenodes_beyond_the_folder_depth_limit_is_400(module_client: httpx.Client) -> None:
    # A chain 4 folders deep below the root, and a 2-level folder tree next to it.
    parent = root_uri(module_client)
    for depth in range(1, 5):
        parent = create(module_client, parent, unique(f"Chain {depth}"))["Uri"]
    tree = create(module_client, root_uri(module_client), unique("Tree"))
    create(module_client, tree["Uri"], "Branch")
    response = module_client.post(parent + "!movenodes", json={"MoveUris": tree["Uri"]})
    assert response.status_code == 400
    assert children(module_client, parent) == []
    # An album may go there: albums don't count.
    album = create(module_client, tree["Uri"], "Leaf Album", "Album")
    assert module_client.post(
        parent + "!movenodes", json={"MoveUris": album["Uri"]}
    ).status_code in (200, 202)
    assert [n["NodeID"] for n in children(module_client, parent)] == [album["NodeID"]]


# --------------------------------------------------------------------------- permissions


def test_read_only_token_reads_but_cannot_write(
    module_emulator: Emulator, folder: dict[str, Any], album: dict[str, Any]
) -> None:
    creds = module_emulator.token(permissions="Read")
    with module_emulator.client(
        token=creds["access_token"], token_secret=creds["access_token_secret"]
    ) as ro:
        assert ro.get("/api/v2!authuser").status_code == 200
        assert ro.get(album["Uri"]).status_code == 200
        parent = folder["Uri"]
        attempts = [
            ro.post(parent + "!children", json={"Name": "Nope", "Type": "Album"}),
            ro.patch(album["Uri"], json={"Name": "Nope"}),
            ro.delete(album["Uri"]),
        ]
        for response in attempts:
            assert response.status_code == 401
            assert response.json()["Message"] == NOT_GRANTED
        node = ro.get(album["Uri"]).json()["Response"]["Node"]
        assert node["Name"] == album["Name"]
        assert "Nope" not in [n["Name"] for n in children(ro, parent)]


def test_add_permission_creates_but_cannot_modify_or_delete(
    module_emulator: Emulator, folder: dict[str, Any]
) -> None:
    creds = module_emulator.token(permissions="Add")
    with module_emulator.client(
        token=creds["access_token"], token_secret=creds["access_token_secret"]
    ) as add:
        made = create(add, folder["Uri"], "Added", "Album")
        response = add.delete(made["Uri"])
        assert response.status_code == 401
        assert response.json()["Message"] == NOT_GRANTED
        assert add.get(made["Uri"]).status_code == 200


def test_another_users_token_cannot_change_the_first_users_nodes(
    module_emulator: Emulator,
    module_client: httpx.Client,
    folder: dict[str, Any],
    album: dict[str, Any],
) -> None:
    with module_emulator.plain() as plain:
        assert plain.post("/emulator/users", json={"nick": "intruder"}).status_code == 201
    creds = module_emulator.token(nick="intruder")
    key = album_key(album)
    image = upload(module_emulator, key, "mine.jpg")
    parent = folder["Uri"]
    with module_emulator.client(
        token=creds["access_token"], token_secret=creds["access_token_secret"]
    ) as o:
        assert o.get("/api/v2!authuser").json()["Response"]["User"]["NickName"] == "intruder"
        attempts = [
            o.post(parent + "!children", json={"Name": "Planted", "Type": "Album"}),
            o.patch(album["Uri"], json={"Name": "Defaced"}),
            o.patch(f"/api/v2/album/{key}", json={"SortMethod": "Caption"}),
            o.patch(image["ImageUri"], json={"Caption": "Defaced"}),
            o.delete(image["AlbumImageUri"]),
            o.delete(album["Uri"]),
            o.post(f"/api/v2/album/{key}!deleteimages", json={"ImageUris": image["ImageUri"]}),
        ]
        for response in attempts:
            assert response.status_code in (401, 403, 404), response.request.url
    assert module_client.get(album["Uri"]).json()["Response"]["Node"]["Name"] == album["Name"]
    assert module_client.get(image["ImageUri"]).json()["Response"]["Image"]["Caption"] == ""
    assert (
        module_client.get(f"/api/v2/album/{key}").json()["Response"]["Album"]["SortMethod"]
        != "Caption"
    )
    assert "Planted" not in [n["Name"] for n in children(module_client, parent)]
