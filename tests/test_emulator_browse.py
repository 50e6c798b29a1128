"""Reading a library through the emulator: paging, the browse endpoints and the sample library.

Everything here reads. The session-wide sample emulator serves the built-in `demo` library (a
folder tree, a 1,200-image album, an empty album, duplicate file names, a name with `/`, a
private album, a page and a video); tests that need a file name the sample lacks upload it to a
fresh emulator of their own. Requests are signed with authlib through the harness, as a
third-party client would sign them, and every shape is checked against what the real service
sends (see the recorded responses and `smugmug-api.md`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
import pytest
from PIL import Image as PILImage

from smugfs.testing.account import create_album, upload
from smugfs.testing.emulator import Emulator
from smugfs.testing.media import jpeg

API = "/api/v2"
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")
KEY_CHARS = re.compile(r"[A-Za-z0-9]+")
BIG_ALBUM = "Scans 1990-2010"
CAMERA_ALBUM = "Harbour at Dawn"
BIG_ALBUM_SIZE = 1200
OWNER = "demo"
OTHER = "alice"
MAX_PAGES = 200


# ---------------------------------------------------------------------- helpers


def get(client: httpx.Client, uri: str, **params: Any) -> dict[str, Any]:
    """GET an API URI and return the JSON body, insisting on 200."""
    response = client.get(uri, params=params or None)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["Code"] == 200
    return body


def payload(body: dict[str, Any]) -> Any:
    """What `Response[Locator]` holds."""
    response = body["Response"]
    return response[response["Locator"]]


def listing(client: httpx.Client, uri: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list endpoint, following `NextPage`."""
    items: list[dict[str, Any]] = []
    body = get(client, uri, **params)
    for _ in range(MAX_PAGES):
        response = body["Response"]
        items.extend(response.get(response["Locator"], []))
        next_page = response["Pages"].get("NextPage")
        if not next_page:
            return items
        body = get(client, next_page)
    raise AssertionError(f"{uri} did not end within {MAX_PAGES} pages")


def link_params(uri: str) -> dict[str, str]:
    """The query parameters of a page link."""
    return dict(parse_qsl(urlsplit(uri).query, keep_blank_values=True))


@dataclasses.dataclass
class Library:
    """Where things are in the sample library, as the owner sees it."""

    root_uri: str
    albums: dict[str, dict[str, Any]]
    nodes: dict[str, dict[str, Any]]

    def album_uri(self, name: str) -> str:
        return str(self.albums[name]["Uri"])

    def images_uri(self, name: str) -> str:
        return str(self.albums[name]["Uris"]["AlbumImages"]["Uri"])


@pytest.fixture(scope="module")
def owner(sample_emulator: Emulator) -> Iterator[httpx.Client]:
    """A client signed with the sample owner's full-access token."""
    with sample_emulator.client() as client:
        yield client


@pytest.fixture(scope="module")
def other_user(sample_emulator: Emulator) -> Iterator[httpx.Client]:
    """A client signed with a token of the second sample user."""
    token = sample_emulator.token(nick=OTHER, access="Full", permissions="Read")
    with sample_emulator.client(
        token=token["access_token"], token_secret=token["access_token_secret"]
    ) as client:
        yield client


class ApiKeyOnly(httpx.Auth):
    """Names the application with `?APIKey=` on every request and signs nothing."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.url = request.url.copy_add_param("APIKey", self.api_key)
        yield request


@pytest.fixture(scope="module")
def public(sample_emulator: Emulator) -> Iterator[httpx.Client]:
    """An unsigned client that names the application with `?APIKey=` only."""
    with httpx.Client(
        base_url=sample_emulator.base_url,
        headers={"Accept": "application/json"},
        auth=ApiKeyOnly(sample_emulator.env["SMUGFS_API_KEY"]),
        timeout=30.0,
    ) as client:
        yield client


@pytest.fixture(scope="module")
def library(owner: httpx.Client) -> Library:
    """The sample library's albums (by name) and nodes (by UrlPath)."""
    user = payload(get(owner, f"{API}!authuser"))
    root_uri = user["Uris"]["Node"]["Uri"]
    albums = {a["Name"]: a for a in listing(owner, user["Uris"]["UserAlbums"]["Uri"], count=100)}
    nodes: dict[str, dict[str, Any]] = {}
    pending = [payload(get(owner, root_uri))]
    while pending:
        node = pending.pop()
        nodes[node["UrlPath"]] = node
        if "ChildNodes" in node["Uris"]:
            pending.extend(listing(owner, node["Uris"]["ChildNodes"]["Uri"], count=200))
    return Library(root_uri, albums, nodes)


# ---------------------------------------------------------------------- paging


def test_first_page_reports_total_start_count_and_links(
    owner: httpx.Client, library: Library
) -> None:
    pages = get(owner, library.images_uri("Kyoto"), count=10)["Response"]["Pages"]
    assert pages["Total"] == 30
    assert pages["Start"] == 1
    assert pages["Count"] == 10
    assert pages["RequestedCount"] == 10
    assert "PrevPage" not in pages
    assert link_params(pages["FirstPage"]) == {"count": "10", "start": "1"}
    assert link_params(pages["NextPage"]) == {"count": "10", "start": "11"}
    assert link_params(pages["LastPage"]) == {"count": "10", "start": "21"}
    for name in ("FirstPage", "NextPage", "LastPage"):
        assert urlsplit(pages[name]).path == library.images_uri("Kyoto")


def test_middle_page_has_both_neighbours_and_last_page_no_next(
    owner: httpx.Client, library: Library
) -> None:
    middle = get(owner, library.images_uri("Kyoto"), count=10, start=11)["Response"]
    assert middle["Pages"]["Start"] == 11
    assert middle["Pages"]["Count"] == 10
    assert link_params(middle["Pages"]["PrevPage"]) == {"count": "10", "start": "1"}
    assert link_params(middle["Pages"]["NextPage"]) == {"count": "10", "start": "21"}

    last = get(owner, library.images_uri("Kyoto"), count=12, start=25)["Response"]
    assert last["Pages"]["Start"] == 25
    assert last["Pages"]["Count"] == 6
    assert len(last["AlbumImage"]) == 6
    assert "NextPage" not in last["Pages"]


def test_pages_hold_consecutive_slices_of_one_order(owner: httpx.Client, library: Library) -> None:
    whole = [i["ImageKey"] for i in payload(get(owner, library.images_uri("Kyoto"), count=30))]
    first = [i["ImageKey"] for i in payload(get(owner, library.images_uri("Kyoto"), count=7))]
    second = payload(get(owner, library.images_uri("Kyoto"), count=7, start=8))
    assert first == whole[:7]
    assert [i["ImageKey"] for i in second] == whole[7:14]


def test_page_links_keep_endpoint_filters_and_drop_underscore_and_unknown_parameters(
    owner: httpx.Client, library: Library
) -> None:
    pages = get(
        owner,
        library.root_uri + "!children",
        Type="Album",
        SortMethod="Name",
        count=2,
        _expand="Album",
        _filter="Name",
        _shorturis="",
        Unrelated="x",
    )["Response"]["Pages"]
    for name in ("FirstPage", "NextPage", "LastPage"):
        assert link_params(pages[name]) == {
            "Type": "Album",
            "SortMethod": "Name",
            "count": "2",
            "start": link_params(pages[name])["start"],
        }, pages[name]


def test_children_count_is_clamped_to_200(owner: httpx.Client, library: Library) -> None:
    pages = get(owner, library.root_uri + "!children", count=100_000)["Response"]["Pages"]
    assert pages["RequestedCount"] == 200
    assert link_params(pages["FirstPage"])["count"] == "200"


def test_images_count_is_clamped_to_1000(owner: httpx.Client, library: Library) -> None:
    response = get(owner, library.images_uri(BIG_ALBUM), count=5000, _filter="ImageKey")["Response"]
    pages = response["Pages"]
    assert pages["RequestedCount"] == 1000
    assert pages["Count"] == 1000
    assert len(response["AlbumImage"]) == 1000
    assert link_params(pages["NextPage"]) == {"count": "1000", "start": "1001"}


def test_album_images_default_page_is_100_as_recorded(
    owner: httpx.Client, library: Library
) -> None:
    # The recorded service answers `!images` without `count` with RequestedCount 100.
    pages = get(owner, library.images_uri(BIG_ALBUM))["Response"]["Pages"]
    assert pages["RequestedCount"] == 100
    assert pages["Count"] == 100
    assert link_params(pages["NextPage"]) == {"count": "100", "start": "101"}


def test_parents_count_is_clamped_to_7_as_recorded(owner: httpx.Client, library: Library) -> None:
    lisbon = library.nodes["/Travel/2024/Lisbon"]
    pages = get(owner, lisbon["Uris"]["ParentNodes"]["Uri"], count=100)["Response"]["Pages"]
    assert pages["RequestedCount"] == 7
    assert pages["Total"] == 4


def test_walking_the_big_album_by_next_page_yields_every_image_once(
    owner: httpx.Client, library: Library
) -> None:
    keys: list[str] = []
    uri: str | None = library.images_uri(BIG_ALBUM) + "?count=250"
    requests = 0
    while uri and requests < MAX_PAGES:
        response = get(owner, uri)["Response"]
        keys.extend(i["ImageKey"] for i in response["AlbumImage"])
        assert response["Pages"]["Total"] == BIG_ALBUM_SIZE
        uri = response["Pages"].get("NextPage")
        requests += 1
    assert requests == 5
    assert len(keys) == BIG_ALBUM_SIZE
    assert len(set(keys)) == BIG_ALBUM_SIZE


def test_client_rewriting_start_in_response_uri_walks_the_big_album(
    owner: httpx.Client, library: Library
) -> None:
    # A client (smugcli) takes Response.Uri and rewrites its `start=` for the next page.
    uri = library.images_uri(BIG_ALBUM) + "?count=300&start=1&_filter=ImageKey,FileName"
    names: list[str] = []
    for _ in range(MAX_PAGES):
        response = get(owner, uri)["Response"]
        assert response["Uri"] == uri
        names.extend(i["FileName"] for i in response["AlbumImage"])
        pages = response["Pages"]
        after = pages["Start"] + pages["Count"]
        if after > pages["Total"]:
            break
        uri = re.sub(r"start=\d+", f"start={after}", response["Uri"])
    assert sorted(names) == [f"scan-{n:04d}.jpg" for n in range(1, BIG_ALBUM_SIZE + 1)]


def test_empty_list_pages_report_zero_items(owner: httpx.Client, library: Library) -> None:
    response = get(owner, library.images_uri("Empty Album"), count=10)["Response"]
    assert "AlbumImage" not in response
    pages = response["Pages"]
    assert pages["Total"] == 0
    assert pages["Count"] == 0
    assert pages["Start"] == 1
    assert "NextPage" not in pages
    assert "PrevPage" not in pages
    # As recorded from the service: an empty list's LastPage starts at 1 - count.
    assert link_params(pages["LastPage"]) == {"count": "10", "start": "-9"}


# ---------------------------------------------------------------------- users


def test_authuser_is_the_token_owner(owner: httpx.Client) -> None:
    body = get(owner, f"{API}!authuser")
    response = body["Response"]
    assert response["EndpointType"] == "AuthUser"
    assert response["Locator"] == "User"
    assert response["LocatorType"] == "Object"
    user = response["User"]
    assert user["NickName"] == OWNER
    assert user["Uri"] == f"{API}/user/{OWNER}"
    assert user["ResponseLevel"] == "Full"
    node = user["Uris"]["Node"]
    assert node["Locator"] == "Node"
    assert re.fullmatch(rf"{API}/node/[A-Za-z0-9]{{6}}", node["Uri"])


def test_owner_sees_own_user_in_full(owner: httpx.Client) -> None:
    user = payload(get(owner, f"{API}/user/{OWNER}"))
    assert user["ResponseLevel"] == "Full"
    assert user["ImageCount"] > BIG_ALBUM_SIZE
    for field in ("AccountStatus", "FirstName", "LastName", "Plan"):
        assert field in user


def test_another_users_record_is_public(owner: httpx.Client) -> None:
    user = payload(get(owner, f"{API}/user/{OTHER}"))
    assert user["NickName"] == OTHER
    assert user["ResponseLevel"] == "Public"
    for field in ("AccountStatus", "FirstName", "ImageCount", "Plan"):
        assert field not in user


def test_unknown_user_is_404(owner: httpx.Client) -> None:
    response = owner.get(f"{API}/user/nobody-here")
    assert response.status_code == 404
    assert response.json()["Response"]["Locator"] == "User"


def test_user_albums_lists_every_album_of_the_user(owner: httpx.Client) -> None:
    body = get(owner, f"{API}/user/{OWNER}!albums", count=100)
    response = body["Response"]
    assert response["EndpointType"] == "UserAlbums"
    assert response["Locator"] == "Album"
    assert response["LocatorType"] == "Objects"
    names = {a["Name"] for a in response["Album"]}
    assert names == {
        "Lisbon",
        "Iceland & the Ring Road",
        "Kyoto",
        CAMERA_ALBUM,
        "Emma turns 7",
        BIG_ALBUM,
        "Empty Album",
        "Camera Dumps",
        "5/6 Lax vs Scarsdale",
        "Private Moments",
        "Large Originals",
    }
    assert response["Pages"]["Total"] == 11


def test_url_path_lookup_finds_an_album_under_its_own_locator(
    owner: httpx.Client, library: Library
) -> None:
    body = get(owner, f"{API}/user/{OWNER}!urlpathlookup", urlpath="/Travel/2024/Lisbon")
    response = body["Response"]
    assert response["EndpointType"] == "UrlPathLookup"
    assert response["Locator"] == "Album"
    assert response["Album"]["AlbumKey"] == library.albums["Lisbon"]["AlbumKey"]
    assert response["Album"]["UrlPath"] == "/Travel/2024/Lisbon"


def test_url_path_lookup_finds_a_folder(owner: httpx.Client, library: Library) -> None:
    response = get(owner, f"{API}/user/{OWNER}!urlpathlookup", urlpath="/Travel/2024")["Response"]
    found = response[response["Locator"]]
    assert response["Locator"] == "Folder"
    assert found["Name"] == "2024"
    assert found["UrlPath"] == "/Travel/2024"
    assert found["NodeID"] == library.nodes["/Travel/2024"]["NodeID"]


def test_url_path_lookup_of_a_missing_path_is_404(owner: httpx.Client) -> None:
    response = owner.get(f"{API}/user/{OWNER}!urlpathlookup", params={"urlpath": "/Travel/1999"})
    assert response.status_code == 404
    assert response.json()["Code"] == 404


# ---------------------------------------------------------------------- nodes


def test_root_node_is_a_folder_without_parent(owner: httpx.Client, library: Library) -> None:
    response = get(owner, library.root_uri)["Response"]
    assert response["EndpointType"] == "Node"
    node = response["Node"]
    assert node["IsRoot"] is True
    assert node["Type"] == "Folder"
    assert node["UrlPath"] == "/"
    assert node["Name"] == ""
    assert "ParentNode" not in node["Uris"]
    assert owner.get(library.root_uri + "!parent").status_code == 404


def test_root_children_in_organizer_order_include_the_page(
    owner: httpx.Client, library: Library
) -> None:
    response = get(owner, library.root_uri + "!children", count=50)["Response"]
    assert response["EndpointType"] == "ChildNodes"
    assert response["Locator"] == "Node"
    children = response["Node"]
    assert [(c["Name"], c["Type"]) for c in children] == [
        ("Travel", "Folder"),
        ("Family", "Folder"),
        ("Archive", "Folder"),
        ("Empty Album", "Album"),
        ("Camera Dumps", "Album"),
        ("5/6 Lax vs Scarsdale", "Album"),
        ("Private Moments", "Album"),
        ("Large Originals", "Album"),
        ("About Me", "Page"),
    ]
    indexes = [c["SortIndex"] for c in children]
    assert indexes == sorted(indexes)


@pytest.mark.parametrize(
    ("type_", "expected"),
    [
        ("Folder", ["Travel", "Family", "Archive"]),
        (
            "Album",
            [
                "Empty Album",
                "Camera Dumps",
                "5/6 Lax vs Scarsdale",
                "Private Moments",
                "Large Originals",
            ],
        ),
        ("Page", ["About Me"]),
        ("All", None),
    ],
)
def test_children_type_filter(
    owner: httpx.Client, library: Library, type_: str, expected: list[str] | None
) -> None:
    children = payload(get(owner, library.root_uri + "!children", Type=type_, count=50))
    if expected is None:
        assert len(children) == 9
    else:
        assert [c["Name"] for c in children] == expected
        assert {c["Type"] for c in children} == {type_}


def test_children_sort_by_name_both_ways(owner: httpx.Client, library: Library) -> None:
    ascending = payload(get(owner, library.root_uri + "!children", SortMethod="Name", count=50))
    names = [c["Name"] for c in ascending]
    assert names == sorted(names, key=str.lower)
    assert names[0] == "5/6 Lax vs Scarsdale"
    descending = payload(
        get(
            owner,
            library.root_uri + "!children",
            SortMethod="Name",
            SortDirection="Descending",
            count=50,
        )
    )
    assert [c["Name"] for c in descending] == names[::-1]


def test_children_sort_by_date_added(owner: httpx.Client, library: Library) -> None:
    newest_first = payload(
        get(
            owner,
            library.root_uri + "!children",
            SortMethod="DateAdded",
            SortDirection="Descending",
            count=50,
        )
    )
    added = [c["DateAdded"] for c in newest_first]
    assert added == sorted(added, reverse=True)
    assert newest_first[0]["Name"] == "About Me"
    assert newest_first[-1]["Name"] == "Travel"


def test_parents_go_from_the_node_up_to_the_root(owner: httpx.Client, library: Library) -> None:
    lisbon = library.nodes["/Travel/2024/Lisbon"]
    response = get(owner, lisbon["Uris"]["ParentNodes"]["Uri"])["Response"]
    assert response["EndpointType"] == "ParentNodes"
    assert response["LocatorType"] == "Objects"
    chain = response["Node"]
    assert [n["Name"] for n in chain] == ["Lisbon", "2024", "Travel", ""]
    assert chain[0]["NodeID"] == lisbon["NodeID"]
    assert chain[-1]["IsRoot"] is True
    assert [n["IsRoot"] for n in chain[:-1]] == [False, False, False]


def test_parent_is_the_containing_folder(owner: httpx.Client, library: Library) -> None:
    lisbon = library.nodes["/Travel/2024/Lisbon"]
    response = get(owner, lisbon["Uris"]["ParentNode"]["Uri"])["Response"]
    assert response["EndpointType"] == "ParentNode"
    assert "Pages" not in response
    assert response["Node"]["NodeID"] == library.nodes["/Travel/2024"]["NodeID"]


def test_folder_tree_is_several_levels_deep(library: Library) -> None:
    assert {
        "/",
        "/Travel",
        "/Travel/2024",
        "/Travel/2025",
        "/Family",
        "/Family/Birthdays",
        "/Family/Birthdays/2023",
        "/Archive",
    } <= {path for path, node in library.nodes.items() if node["Type"] == "Folder"}
    party = library.nodes["/Family/Birthdays/2023/Emma-turns-7"]
    assert party["Type"] == "Album"


def test_folder_uris_are_navigable_links_and_move_nodes_an_action(library: Library) -> None:
    travel = library.nodes["/Travel"]
    uris = travel["Uris"]
    for name in ("ChildNodes", "ParentNode", "ParentNodes", "User"):
        entry = uris[name]
        assert set(entry) == {"Uri", "Locator", "LocatorType", "UriDescription", "EndpointType"}
    assert uris["ChildNodes"]["Uri"] == travel["Uri"] + "!children"
    assert uris["ChildNodes"]["LocatorType"] == "Objects"
    move = uris["MoveNodes"]
    assert set(move) == {"Uri", "UriDescription", "EndpointType"}
    assert move["Uri"] == travel["Uri"] + "!movenodes"


def test_album_node_has_no_children_even_with_images(library: Library) -> None:
    node = library.nodes["/Travel/2024/Lisbon"]
    assert node["HasChildren"] is False
    assert "ChildNodes" not in node["Uris"]
    assert node["Uris"]["Album"]["Uri"] == library.album_uri("Lisbon")
    assert library.nodes["/Travel"]["HasChildren"] is True


def test_node_dates_are_iso_utc(library: Library) -> None:
    for node in library.nodes.values():
        assert ISO_UTC.fullmatch(node["DateAdded"]), node["DateAdded"]
        assert ISO_UTC.fullmatch(node["DateModified"]), node["DateModified"]


def test_node_ids_are_six_characters(library: Library) -> None:
    for node in library.nodes.values():
        assert len(node["NodeID"]) == 6
        assert KEY_CHARS.fullmatch(node["NodeID"])


def test_name_with_a_slash_keeps_it_and_gets_a_clean_url_name(
    owner: httpx.Client, library: Library
) -> None:
    album = payload(get(owner, library.album_uri("5/6 Lax vs Scarsdale")))
    assert album["Name"] == "5/6 Lax vs Scarsdale"
    assert "/" not in album["UrlName"]
    assert album["UrlPath"] == "/" + album["UrlName"]
    found = get(owner, f"{API}/user/{OWNER}!urlpathlookup", urlpath=album["UrlPath"])["Response"]
    assert found["Album"]["AlbumKey"] == album["AlbumKey"]
    images = payload(get(owner, album["Uris"]["AlbumImages"]["Uri"]))
    assert len(images) == 4


# ---------------------------------------------------------------------- albums and images


def test_album_record_and_action_links(owner: httpx.Client, library: Library) -> None:
    response = get(owner, library.album_uri("Lisbon"))["Response"]
    assert response["EndpointType"] == "Album"
    assert response["Locator"] == "Album"
    album = response["Album"]
    assert len(album["AlbumKey"]) == 6
    assert KEY_CHARS.fullmatch(album["AlbumKey"])
    assert album["ImageCount"] == 24
    assert album["NodeID"] == library.nodes["/Travel/2024/Lisbon"]["NodeID"]
    assert album["ResponseLevel"] == "Full"
    assert album["Privacy"] == "Public"
    for field in ("LastUpdated", "ImagesLastUpdated"):
        assert ISO_UTC.fullmatch(album[field])
    uris = album["Uris"]
    assert uris["AlbumImages"]["Locator"] == "AlbumImage"
    assert uris["AlbumImages"]["LocatorType"] == "Objects"
    assert uris["Node"]["Uri"] == library.nodes["/Travel/2024/Lisbon"]["Uri"]
    for action in ("MoveAlbumImages", "CollectImages"):
        assert set(uris[action]) == {"Uri", "UriDescription", "EndpointType"}
    assert uris["MoveAlbumImages"]["Uri"] == album["Uri"] + "!moveimages"
    assert uris["CollectImages"]["Uri"] == album["Uri"] + "!collectimages"


def test_album_images_are_album_image_records(owner: httpx.Client, library: Library) -> None:
    response = get(owner, library.images_uri("Lisbon"), count=100)["Response"]
    assert response["EndpointType"] == "AlbumImages"
    assert response["Locator"] == "AlbumImage"
    images = response["AlbumImage"]
    assert [i["FileName"] for i in images] == [f"IMG_{n:04d}.jpg" for n in range(1, 25)]
    key = library.albums["Lisbon"]["AlbumKey"]
    for image in images:
        assert len(image["ImageKey"]) == 7
        assert KEY_CHARS.fullmatch(image["ImageKey"])
        serial = image["Serial"]
        assert image["Uri"] == f"{API}/album/{key}/image/{image['ImageKey']}-{serial}"
        assert image["Uris"]["Image"]["Uri"] == f"{API}/image/{image['ImageKey']}-{serial}"
        assert image["Format"] == "JPG"
        assert image["IsVideo"] is False
        assert re.fullmatch(r"[0-9a-f]{32}", image["ArchivedMD5"])
        assert image["ArchivedSize"] == image["OriginalSize"] > 0
        for field in ("Date", "DateTimeUploaded", "LastUpdated", "DateTimeOriginal"):
            assert ISO_UTC.fullmatch(image[field]), (field, image[field])


def test_album_image_and_image_endpoints_show_the_same_image(
    owner: httpx.Client, library: Library
) -> None:
    listed = payload(get(owner, library.images_uri("Lisbon"), count=1))[0]
    in_album = get(owner, listed["Uri"])["Response"]
    assert in_album["EndpointType"] == "AlbumImage"
    assert in_album["Locator"] == "AlbumImage"
    assert in_album["AlbumImage"]["ImageKey"] == listed["ImageKey"]
    alone = get(owner, listed["Uris"]["Image"]["Uri"])["Response"]
    assert alone["EndpointType"] == "Image"
    assert alone["Locator"] == "Image"
    image = alone["Image"]
    assert image["Uri"] == listed["Uris"]["Image"]["Uri"]
    for field in ("ImageKey", "Serial", "FileName", "ArchivedMD5", "ArchivedSize", "ArchivedUri"):
        assert image[field] == listed[field]


def test_image_metadata_has_zoneless_dates(owner: httpx.Client, library: Library) -> None:
    image = payload(get(owner, library.images_uri("Lisbon"), count=1))[0]
    response = get(owner, image["Uris"]["ImageMetadata"]["Uri"])["Response"]
    assert response["EndpointType"] == "ImageMetadata"
    metadata = response["ImageMetadata"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", metadata["DateTimeCreated"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", metadata["DateTimeModified"])
    # The capture time read from EXIF, as DateTimeOriginal (read as if it were UTC).
    assert image["DateTimeOriginal"].startswith(metadata["DateTimeCreated"])
    # The recorded service names this link with the bare image key.
    bare = f"{API}/image/{image['ImageKey']}!metadata"
    assert payload(get(owner, bare))["DateTimeCreated"] == metadata["DateTimeCreated"]


def test_size_details_and_largest_image_describe_the_original(
    owner: httpx.Client, library: Library
) -> None:
    image = payload(get(owner, library.images_uri("Lisbon"), count=1))[0]
    details = get(owner, image["Uris"]["ImageSizeDetails"]["Uri"])["Response"]
    assert details["EndpointType"] == "ImageSizeDetails"
    sizes = details["ImageSizeDetails"]
    thumb = sizes["ImageSizeThumb"]
    assert max(thumb["Width"], thumb["Height"]) <= 150
    assert thumb["Url"].startswith("http")
    original = sizes["ImageSizeOriginal"]
    assert original["Size"] == image["ArchivedSize"]
    assert original["MD5"] == image["ArchivedMD5"]
    assert (original["Width"], original["Height"]) == (
        image["OriginalWidth"],
        image["OriginalHeight"],
    )
    largest = get(owner, image["Uris"]["LargestImage"]["Uri"])["Response"]
    assert largest["EndpointType"] == "LargestImage"
    assert largest["LargestImage"]["Size"] == image["ArchivedSize"]
    assert largest["LargestImage"]["MD5"] == image["ArchivedMD5"]
    assert largest["LargestImage"]["Url"] == image["ArchivedUri"]


def test_largest_video_is_404_for_a_photo(owner: httpx.Client, library: Library) -> None:
    image = payload(get(owner, library.images_uri("Lisbon"), count=1))[0]
    response = owner.get(image["Uris"]["Image"]["Uri"] + "!largestvideo")
    assert response.status_code == 404
    body = response.json()
    assert body["Code"] == 404
    assert body["Response"]["Locator"] == "LargestVideo"
    assert "LargestVideo" not in body["Response"]


def test_image_albums_lists_the_album_holding_it(owner: httpx.Client, library: Library) -> None:
    image = payload(get(owner, library.images_uri("Kyoto"), count=1))[0]
    response = get(owner, image["Uris"]["ImageAlbums"]["Uri"])["Response"]
    assert response["EndpointType"] == "ImageAlbums"
    assert response["Locator"] == "Album"
    assert [a["AlbumKey"] for a in response["Album"]] == [library.albums["Kyoto"]["AlbumKey"]]
    assert response["Pages"]["Total"] == 1


def test_image_uris_are_navigable_links(owner: httpx.Client, library: Library) -> None:
    image = payload(get(owner, library.images_uri("Kyoto"), count=1))[0]
    for name in ("Image", "ImageMetadata", "ImageSizeDetails", "LargestImage", "ImageAlbums"):
        entry = image["Uris"][name]
        assert set(entry) == {"Uri", "Locator", "LocatorType", "UriDescription", "EndpointType"}
        assert owner.get(entry["Uri"]).status_code == 200, name


def test_duplicate_file_names_are_two_different_images(
    owner: httpx.Client, library: Library
) -> None:
    images = payload(get(owner, library.images_uri("Camera Dumps")))
    twins = [i for i in images if i["FileName"] == "IMG_0001.JPG"]
    assert len(twins) == 2
    assert twins[0]["ImageKey"] != twins[1]["ImageKey"]
    assert twins[0]["ArchivedMD5"] != twins[1]["ArchivedMD5"]
    contents = [owner.get(i["ArchivedUri"]).content for i in twins]
    assert contents[0] != contents[1]
    assert [hashlib.md5(c).hexdigest() for c in contents] == [i["ArchivedMD5"] for i in twins]


def test_file_names_filter_returns_only_the_named_images(
    owner: httpx.Client, library: Library
) -> None:
    response = get(owner, library.images_uri("Camera Dumps"), FileNames="IMG_0001.JPG")["Response"]
    assert [i["FileName"] for i in response["AlbumImage"]] == ["IMG_0001.JPG", "IMG_0001.JPG"]
    assert response["Pages"]["Total"] == 2
    several = payload(
        get(owner, library.images_uri("Lisbon"), FileNames="IMG_0003.jpg,IMG_0010.jpg")
    )
    assert sorted(i["FileName"] for i in several) == ["IMG_0003.jpg", "IMG_0010.jpg"]
    none = get(owner, library.images_uri("Lisbon"), FileNames="nothing.jpg")["Response"]
    assert "AlbumImage" not in none
    assert none["Pages"]["Total"] == 0


def test_file_names_filter_handles_commas_and_spaces_in_names(emulator: Emulator) -> None:
    with emulator.client() as client:
        album = payload(get(client, create_album(client, "Odd Names", Privacy="Public")))
        for n, name in enumerate(["a,b.jpg", "two words.jpg", "plain.jpg", "other.jpg"]):
            upload(emulator, album["Uri"], name, jpeg(n))
        images_uri = album["Uris"]["AlbumImages"]["Uri"]
        wanted = ",".join(quote(n, safe="") for n in ["a,b.jpg", "two words.jpg", "plain.jpg"])
        first = get(client, f"{images_uri}?FileNames={wanted}&count=2")["Response"]
        assert first["Pages"]["Total"] == 3
        names = [i["FileName"] for i in first["AlbumImage"]]
        # Following NextPage keeps the filter intact, names with commas included.
        second = get(client, first["Pages"]["NextPage"])["Response"]
        assert second["Pages"]["Total"] == 3
        names += [i["FileName"] for i in second["AlbumImage"]]
        assert sorted(names) == ["a,b.jpg", "plain.jpg", "two words.jpg"]
        only_comma = payload(get(client, f"{images_uri}?FileNames={quote('a,b.jpg', safe='')}"))
        assert [i["FileName"] for i in only_comma] == ["a,b.jpg"]


# ---------------------------------------------------------------------- sample media


def test_sample_jpegs_decode_and_carry_exif_capture_dates(
    owner: httpx.Client, library: Library
) -> None:
    image = payload(get(owner, library.images_uri("Emma turns 7"), count=1))[0]
    data = owner.get(image["ArchivedUri"]).content
    with PILImage.open(io.BytesIO(data)) as picture:
        picture.load()
        assert picture.format == "JPEG"
        assert picture.size == (image["OriginalWidth"], image["OriginalHeight"])
        exif = picture.getexif().get_ifd(0x8769)
    taken = exif[36867]  # DateTimeOriginal
    assert re.fullmatch(r"\d{4}:\d\d:\d\d \d\d:\d\d:\d\d", taken)
    day, clock = taken.split(" ")
    assert image["DateTimeOriginal"] == f"{day.replace(':', '-')}T{clock}+00:00"


def test_sample_png_decodes(owner: httpx.Client, library: Library) -> None:
    images = payload(get(owner, library.images_uri("Iceland & the Ring Road"), count=100))
    png = next(i for i in images if i["FileName"] == "panorama.png")
    assert png["Format"] == "PNG"
    with PILImage.open(io.BytesIO(owner.get(png["ArchivedUri"]).content)) as picture:
        picture.load()
        assert picture.format == "PNG"
        assert picture.size == (png["OriginalWidth"], png["OriginalHeight"])


def test_sample_video_is_listed_as_a_video(owner: httpx.Client, library: Library) -> None:
    images = payload(get(owner, library.images_uri("Iceland & the Ring Road"), count=100))
    assert len(images) == 14
    video = next(i for i in images if i["FileName"] == "waterfall.mp4")
    assert video["IsVideo"] is True
    assert video["Format"] == "MP4"
    assert video["Uris"]["LargestVideo"]["Locator"] == "LargestVideo"
    largest = get(owner, video["Uris"]["LargestVideo"]["Uri"])["Response"]
    assert largest["EndpointType"] == "LargestVideo"
    assert largest["LargestVideo"]["Size"] > 0


# ---------------------------------------------------------------------- privacy


def _private_album_uris(library: Library) -> list[str]:
    album = library.albums["Private Moments"]
    return [
        album["Uri"],
        album["Uris"]["AlbumImages"]["Uri"],
        album["Uris"]["Node"]["Uri"],
        album["Uris"]["Node"]["Uri"] + "!parents",
    ]


def test_private_album_is_visible_to_its_owner(owner: httpx.Client, library: Library) -> None:
    album = library.albums["Private Moments"]
    assert album["Privacy"] == "Private"
    for uri in _private_album_uris(library):
        assert owner.get(uri).status_code == 200, uri
    images = payload(get(owner, album["Uris"]["AlbumImages"]["Uri"]))
    assert len(images) == 3
    assert owner.get(images[0]["Uris"]["Image"]["Uri"]).status_code == 200


@pytest.mark.parametrize("who", ["public", "other_user"])
def test_private_album_is_invisible_to_others(
    request: pytest.FixtureRequest, owner: httpx.Client, library: Library, who: str
) -> None:
    client: httpx.Client = request.getfixturevalue(who)
    for uri in _private_album_uris(library):
        response = client.get(uri)
        assert response.status_code == 404, uri
        assert response.json()["Code"] == 404
    image = payload(get(owner, library.images_uri("Private Moments")))[0]
    assert client.get(image["Uris"]["Image"]["Uri"]).status_code == 404
    assert client.get(image["Uri"]).status_code == 404
    children = payload(get(client, library.root_uri + "!children", count=50))
    assert "Private Moments" not in {c["Name"] for c in children}
    assert len(children) == 8
    albums = payload(get(client, f"{API}/user/{OWNER}!albums", count=100))
    assert "Private Moments" not in {a["Name"] for a in albums}
    assert len(albums) == 10
    lookup = client.get(
        f"{API}/user/{OWNER}!urlpathlookup",
        params={"urlpath": library.albums["Private Moments"]["UrlPath"]},
    )
    assert lookup.status_code == 404


def test_other_users_private_album_is_invisible_to_the_sample_owner(
    owner: httpx.Client, other_user: httpx.Client
) -> None:
    theirs = {a["Name"] for a in payload(get(other_user, f"{API}/user/{OTHER}!albums"))}
    assert theirs == {"Street", "Drafts"}
    seen = {a["Name"] for a in payload(get(owner, f"{API}/user/{OTHER}!albums"))}
    assert seen == {"Street"}


# ---------------------------------------------------------------------- public reads


def test_public_reads_see_public_nodes_without_owner_fields(
    public: httpx.Client, library: Library
) -> None:
    travel = get(public, library.nodes["/Travel"]["Uri"])["Response"]["Node"]
    assert travel["ResponseLevel"] == "Public"
    for field in ("Privacy", "EffectivePrivacy", "SmugSearchable", "WorldSearchable"):
        assert field not in travel
    assert "MoveNodes" not in travel["Uris"]
    album = payload(get(public, library.album_uri("Lisbon")))
    assert album["ResponseLevel"] == "Public"
    for field in ("Privacy", "OriginalSizes", "TotalSizes"):
        assert field not in album
    assert "MoveAlbumImages" not in album["Uris"]
    image = payload(get(public, library.images_uri("Lisbon"), count=1))[0]
    assert image["CanEdit"] is False
    user = payload(get(public, f"{API}/user/{OWNER}"))
    assert user["ResponseLevel"] == "Public"
    assert "ImageCount" not in user


def test_public_reads_walk_the_tree(public: httpx.Client, library: Library) -> None:
    folders = payload(get(public, library.root_uri + "!children", Type="Folder"))
    assert [f["Name"] for f in folders] == ["Travel", "Family", "Archive"]
    assert len(listing(public, library.images_uri(BIG_ALBUM), count=1000)) == BIG_ALBUM_SIZE


def test_public_reads_have_no_authenticated_user(public: httpx.Client) -> None:
    response = public.get(f"{API}!authuser")
    assert response.status_code == 401
    assert response.json()["Code"] == 401


def test_request_without_credentials_is_refused_with_an_oauth_problem(
    sample_emulator: Emulator, library: Library
) -> None:
    with httpx.Client(
        base_url=sample_emulator.base_url, headers={"Accept": "application/json"}
    ) as bare:
        response = bare.get(library.album_uri("Lisbon"))
    assert response.status_code == 401
    body = response.json()
    assert body["Code"] == 401
    assert body["Message"].startswith("oauth_problem=")
    assert body["Response"]["Uri"] == library.album_uri("Lisbon")
    assert body["Response"]["Locator"] == "Album"
    assert body["Response"]["EndpointType"] == "Album"
    assert "Album" not in body["Response"]


def test_unknown_api_key_is_refused(sample_emulator: Emulator, library: Library) -> None:
    with httpx.Client(
        base_url=sample_emulator.base_url, headers={"Accept": "application/json"}
    ) as bare:
        response = bare.get(library.album_uri("Lisbon"), params={"APIKey": "not-a-key"})
    assert response.status_code == 401
    body = response.json()
    assert body["Code"] == 401
    assert body["Message"].startswith("oauth_problem=")
    assert "Album" not in body["Response"]
