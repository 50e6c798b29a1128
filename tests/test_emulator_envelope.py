"""The API v2 envelope and its query conventions, as the emulator puts them on the wire.

Every reply is `{"Response": ..., "Code": ..., "Message": ...}`; `Response` echoes the request
URI and names the payload's key (`Locator`), lists carry `Pages` and leave the payload key out
when empty, errors carry the request metadata and no payload. The query conventions
(`_filter`, `_filteruri`, `_shorturis`, `_expand`, `_expandmethod`, `_verbosity`, `_pretty`,
`_accept`) and the `Accept` rule are checked against what the real service sends, as recorded
from it by public clients.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from smugfs.testing.emulator import Emulator

API = "/api/v2"
RESPONSE_METADATA = {"Uri", "Locator", "LocatorType", "UriDescription", "EndpointType"}
SHORT_OPTIONS = {"Methods", "ParameterDescription", "Parameters"}


@pytest.fixture(scope="module")
def client(sample_emulator: Emulator) -> Iterator[httpx.Client]:
    """The sample owner's signed client."""
    with sample_emulator.client() as signed:
        yield signed


@pytest.fixture(scope="module")
def uris(client: httpx.Client) -> dict[str, str]:
    """API URIs of a few sample records."""
    user = client.get(f"{API}!authuser").json()["Response"]["User"]
    root = user["Uris"]["Node"]["Uri"]
    albums = client.get(user["Uris"]["UserAlbums"]["Uri"], params={"count": 100}).json()
    by_name = {a["Name"]: a for a in albums["Response"]["Album"]}
    kyoto = by_name["Kyoto"]
    image = client.get(kyoto["Uris"]["AlbumImages"]["Uri"], params={"count": 1}).json()
    first = image["Response"]["AlbumImage"][0]
    travel = next(
        n
        for n in client.get(root + "!children").json()["Response"]["Node"]
        if n["Name"] == "Travel"
    )
    return {
        "root": root,
        "travel": travel["Uri"],
        "kyoto": kyoto["Uri"],
        "kyoto_images": kyoto["Uris"]["AlbumImages"]["Uri"],
        "kyoto_node": kyoto["Uris"]["Node"]["Uri"],
        "empty_images": by_name["Empty Album"]["Uris"]["AlbumImages"]["Uri"],
        "album_image": first["Uri"],
        "image": first["Uris"]["Image"]["Uri"],
    }


def response_of(reply: httpx.Response, status: int = 200) -> dict[str, Any]:
    """The `Response` of a JSON reply with the given status, after checking the envelope."""
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert body["Code"] == status
    assert isinstance(body["Message"], str)
    assert body["Message"]
    assert set(body["Response"]) >= RESPONSE_METADATA
    result: dict[str, Any] = body["Response"]
    return result


# ---------------------------------------------------------------------- envelope


def test_object_reply_puts_the_payload_under_its_locator(
    client: httpx.Client, uris: dict[str, str]
) -> None:
    reply = client.get(uris["kyoto"])
    body = reply.json()
    assert body["Code"] == 200
    assert body["Message"] == "Ok"
    response = response_of(reply)
    assert response["Uri"] == uris["kyoto"]
    assert response["Locator"] == "Album"
    assert response["LocatorType"] == "Object"
    assert response["EndpointType"] == "Album"
    assert response["UriDescription"] == "Album by key"
    assert isinstance(response["Album"], dict)
    assert response["Album"]["Uri"] == uris["kyoto"]
    assert "Pages" not in response


def test_api_replies_carry_json_cache_and_rate_limit_headers(
    client: httpx.Client, uris: dict[str, str]
) -> None:
    for reply in (client.get(uris["kyoto"]), client.get(f"{API}/album/Zz9zZz")):
        assert reply.headers["content-type"] == "application/json; charset=utf-8"
        assert reply.headers["cache-control"] == "private, no-store, no-cache, max-age=0"
        assert int(reply.headers["x-ratelimit-remaining"]) > 0
        assert int(reply.headers["x-ratelimit-reset"]) > 1_700_000_000


def test_list_reply_puts_an_array_under_its_locator(
    client: httpx.Client, uris: dict[str, str]
) -> None:
    response = response_of(client.get(uris["kyoto_images"], params={"count": 5}))
    assert response["Locator"] == "AlbumImage"
    assert response["LocatorType"] == "Objects"
    assert response["EndpointType"] == "AlbumImages"
    assert isinstance(response["AlbumImage"], list)
    assert len(response["AlbumImage"]) == 5
    assert response["Pages"]["Count"] == 5


@pytest.mark.parametrize(
    "query",
    [
        "count=3&start=2",
        "start=2&count=3",
        "count=3&_filter=FileName%2CImageKey&Extra=a%20b",
        "_shorturis&count=2",
        "count=2&_pretty=true",
    ],
)
def test_response_uri_echoes_the_query_string_as_sent(
    client: httpx.Client, uris: dict[str, str], query: str
) -> None:
    uri = f"{uris['kyoto_images']}?{query}"
    assert response_of(client.get(uri))["Uri"] == uri


def test_response_uri_of_an_object_echoes_its_query(
    client: httpx.Client, uris: dict[str, str]
) -> None:
    uri = uris["travel"] + "?_filter=Name&_shorturis="
    assert response_of(client.get(uri))["Uri"] == uri


@pytest.mark.parametrize("name", ["root", "travel", "kyoto", "album_image", "image"])
def test_single_objects_never_carry_pages(
    client: httpx.Client, uris: dict[str, str], name: str
) -> None:
    response = response_of(client.get(uris[name]))
    assert response["LocatorType"] == "Object"
    assert "Pages" not in response


@pytest.mark.parametrize(
    "path",
    ["{root}!children", "{kyoto_node}!parents", "{kyoto_images}", "{image}!albums", "user"],
)
def test_every_list_carries_pages(client: httpx.Client, uris: dict[str, str], path: str) -> None:
    uri = f"{API}/user/demo!albums" if path == "user" else path.format(**uris)
    response = response_of(client.get(uri))
    assert response["LocatorType"] == "Objects"
    pages = response["Pages"]
    assert {"Total", "Start", "Count", "RequestedCount", "FirstPage", "LastPage"} <= set(pages)
    assert pages["Count"] == len(response[response["Locator"]])


def test_empty_album_leaves_out_the_payload_key(client: httpx.Client, uris: dict[str, str]) -> None:
    reply = client.get(uris["empty_images"])
    response = response_of(reply)
    assert response["Locator"] == "AlbumImage"
    assert "AlbumImage" not in response
    assert '"AlbumImage":' not in reply.text
    assert response["Pages"]["Total"] == 0
    assert response["Pages"]["Count"] == 0


def test_empty_folder_leaves_out_the_payload_key(emulator: Emulator) -> None:
    with emulator.client() as fresh:
        user = response_of(fresh.get(f"{API}!authuser"))["User"]
        response = response_of(fresh.get(user["Uris"]["Node"]["Uri"] + "!children"))
    assert response["Locator"] == "Node"
    assert "Node" not in response
    assert response["Pages"]["Total"] == 0
    assert response["Pages"]["Start"] == 1


def test_filtered_empty_list_leaves_out_the_payload_key(
    client: httpx.Client, uris: dict[str, str]
) -> None:
    response = response_of(client.get(uris["travel"] + "!children", params={"Type": "Page"}))
    assert "Node" not in response
    assert response["Pages"]["Total"] == 0


@pytest.mark.parametrize(
    ("uri", "locator", "endpoint_type"),
    [
        (f"{API}/node/Zz9zZz", "Node", "Node"),
        (f"{API}/node/Zz9zZz!children", "Node", "ChildNodes"),
        (f"{API}/album/Zz9zZz", "Album", "Album"),
        (f"{API}/album/Zz9zZz!images", "AlbumImage", "AlbumImages"),
        (f"{API}/image/Zz9zZz9-0", "Image", "Image"),
        (f"{API}/image/Zz9zZz9-0!metadata", "ImageMetadata", "ImageMetadata"),
    ],
)
def test_unknown_record_is_404_in_the_envelope_without_payload(
    client: httpx.Client, uri: str, locator: str, endpoint_type: str
) -> None:
    reply = client.get(uri)
    response = response_of(reply, 404)
    assert reply.json()["Message"] == "Not Found"
    assert response["Uri"] == uri
    assert response["Locator"] == locator
    assert response["EndpointType"] == endpoint_type
    assert locator not in response
    assert "Pages" not in response


def test_image_of_another_album_is_404(client: httpx.Client, uris: dict[str, str]) -> None:
    key = uris["image"].rsplit("/", 1)[1]
    other = uris["empty_images"].removesuffix("!images")
    response = response_of(client.get(f"{other}/image/{key}"), 404)
    assert "AlbumImage" not in response


@pytest.mark.parametrize(
    ("method", "uri", "locator"),
    [
        ("PUT", "{travel}", "Node"),
        ("POST", "{kyoto_images}", "AlbumImage"),
        ("DELETE", f"{API}!authuser", "User"),
        ("PATCH", "{image}!metadata", "ImageMetadata"),
    ],
)
def test_wrong_method_is_405_in_the_envelope_without_payload(
    client: httpx.Client, uris: dict[str, str], method: str, uri: str, locator: str
) -> None:
    target = uri.format(**uris)
    reply = client.request(method, target, json={} if method in ("POST", "PATCH") else None)
    response = response_of(reply, 405)
    assert response["Uri"] == target
    assert response["Locator"] == locator
    assert locator not in response


def test_error_replies_are_json_too(client: httpx.Client) -> None:
    reply = client.get(f"{API}/no/such/endpoint")
    body = reply.json()
    assert reply.status_code == 404
    assert body["Code"] == 404
    assert body["Response"]["Uri"] == f"{API}/no/such/endpoint"


# ---------------------------------------------------------------------- Options and verbosity


def test_object_get_carries_no_options_or_request(
    client: httpx.Client, uris: dict[str, str]
) -> None:
    body = client.get(uris["kyoto"]).json()
    assert set(body) == {"Response", "Code", "Message"}


def test_list_with_get_parameters_carries_short_options(
    client: httpx.Client, uris: dict[str, str]
) -> None:
    children = client.get(uris["root"] + "!children").json()
    options = children["Options"]
    assert set(options) == SHORT_OPTIONS
    assert options["Methods"] == ["GET", "POST"]
    names = {p["Name"] for p in options["Parameters"]["GET"]}
    assert {"Type", "SortMethod", "SortDirection"} <= names
    assert "Request" not in children
    images = client.get(uris["kyoto_images"]).json()
    assert [p["Name"] for p in images["Options"]["Parameters"]["GET"]] == ["FileNames"]
    assert "Varchar" in images["Options"]["ParameterDescription"]


def test_list_without_get_parameters_carries_no_options(
    client: httpx.Client, uris: dict[str, str]
) -> None:
    # As recorded for `!parents` at the default verbosity.
    body = client.get(uris["kyoto_node"] + "!parents").json()
    assert set(body) == {"Response", "Code", "Message"}


def test_verbosity_1_drops_options(client: httpx.Client, uris: dict[str, str]) -> None:
    body = client.get(uris["root"] + "!children", params={"_verbosity": "1"}).json()
    assert set(body) == {"Response", "Code", "Message"}
    assert body["Response"]["Node"]


def test_verbosity_3_adds_request_and_full_options(
    client: httpx.Client, uris: dict[str, str]
) -> None:
    uri = uris["kyoto"] + "?_verbosity=3"
    body = client.get(uri).json()
    assert body["Request"]["Version"] == "v2"
    assert body["Request"]["Method"] == "GET"
    assert body["Request"]["Uri"] == uri
    options = body["Options"]
    assert set(options) >= SHORT_OPTIONS
    assert {"GET", "PATCH", "DELETE"} <= set(options["Methods"])
    assert options["MethodDetails"]["GET"]["Permissions"] == ["Read"]
    assert options["MethodDetails"]["PATCH"]["Permissions"] == ["Modify"]
    assert "application/json" in options["MediaTypes"]
    assert body["Response"]["Album"]["Uri"] == uris["kyoto"]


def test_options_request_describes_the_endpoint(client: httpx.Client, uris: dict[str, str]) -> None:
    reply = client.options(uris["root"] + "!children")
    assert reply.status_code == 200
    body = reply.json()
    assert body["Code"] == 200
    options = body["Options"]
    assert options["Methods"] == ["GET", "POST"]
    post = {p["Name"]: p for p in options["Parameters"]["POST"]}
    assert post["Name"]["Required"] is True
    assert post["Name"]["MAX_CHARS"] == 254
    assert "Type" in {p["Name"] for p in options["Parameters"]["GET"]}
    assert options["MethodDetails"]["POST"]["Permissions"] == ["Add"]
    response = body["Response"]
    assert response["EndpointType"] == "ChildNodes"
    assert "Node" not in response


def test_create_and_delete_replies_carry_options(emulator: Emulator) -> None:
    with emulator.client() as fresh:
        user = response_of(fresh.get(f"{API}!authuser"))["User"]
        children = user["Uris"]["Node"]["Uri"] + "!children"
        created = fresh.post(children, json={"Name": "Holding", "Type": "Folder"})
        assert created.status_code == 201
        body = created.json()
        assert body["Code"] == 201
        assert body["Message"] == "Created"
        assert "POST" in body["Options"]["Methods"]
        assert "POST" in body["Options"]["Parameters"]
        node = body["Response"]["Node"]
        deleted = fresh.delete(node["Uri"])
        assert deleted.status_code == 200
        gone = deleted.json()
        assert gone["Code"] == 200
        assert "DELETE" in gone["Options"]["Methods"]
        assert "Node" not in gone["Response"]
        assert gone["Response"]["Uri"] == node["Uri"]


# ---------------------------------------------------------------------- Accept, _accept, _pretty


def test_without_accept_json_the_api_answers_the_html_browser(
    sample_emulator: Emulator, uris: dict[str, str]
) -> None:
    with httpx.Client(base_url=sample_emulator.base_url, auth=sample_emulator.auth()) as browser:
        page = browser.get(uris["kyoto"], headers={"Accept": "text/html"})
        bare = browser.get(uris["kyoto"])
    for reply in (page, bare):
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/html")
        assert reply.text.lstrip().lower().startswith("<!doctype html")
        assert uris["kyoto"] in reply.text


def test_accept_override_in_the_query_answers_json(
    sample_emulator: Emulator, uris: dict[str, str]
) -> None:
    with httpx.Client(base_url=sample_emulator.base_url, auth=sample_emulator.auth()) as browser:
        reply = browser.get(
            uris["kyoto"], params={"_accept": "application/json"}, headers={"Accept": "text/html"}
        )
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json()["Response"]["Album"]["Name"] == "Kyoto"


def test_pretty_indents_the_json(client: httpx.Client, uris: dict[str, str]) -> None:
    compact = client.get(uris["kyoto"])
    pretty = client.get(uris["kyoto"], params={"_pretty": ""})
    assert "\n" not in compact.text.strip()
    assert "\n  " in pretty.text
    assert pretty.json()["Response"]["Album"] == compact.json()["Response"]["Album"]
    assert json.loads(pretty.text)["Code"] == 200


# ---------------------------------------------------------------------- _filter, _filteruri


def test_filter_keeps_only_the_named_fields(client: httpx.Client, uris: dict[str, str]) -> None:
    album = response_of(client.get(uris["kyoto"], params={"_filter": "Name,ImageCount"}))["Album"]
    assert album["Name"] == "Kyoto"
    assert album["ImageCount"] == 30
    for dropped in ("AlbumKey", "NodeID", "UrlPath", "LastUpdated", "Privacy"):
        assert dropped not in album


def test_filter_applies_to_every_list_item(client: httpx.Client, uris: dict[str, str]) -> None:
    images = response_of(
        client.get(uris["kyoto_images"], params={"_filter": "FileName", "count": 4})
    )["AlbumImage"]
    assert len(images) == 4
    for image in images:
        assert "FileName" in image
        assert "ArchivedMD5" not in image
        assert "ImageKey" not in image


def test_filteruri_keeps_only_the_named_links(client: httpx.Client, uris: dict[str, str]) -> None:
    album = response_of(client.get(uris["kyoto"], params={"_filteruri": "Node,User"}))["Album"]
    assert set(album["Uris"]) == {"Node", "User"}
    assert album["Name"] == "Kyoto"


def test_empty_filteruri_removes_every_link(client: httpx.Client, uris: dict[str, str]) -> None:
    album = response_of(client.get(uris["kyoto"] + "?_filteruri="))["Album"]
    assert not album.get("Uris")
    assert album["AlbumKey"]


def test_shorturis_turns_links_into_strings(client: httpx.Client, uris: dict[str, str]) -> None:
    full = response_of(client.get(uris["travel"]))["Node"]["Uris"]
    short = response_of(client.get(uris["travel"] + "?_shorturis"))["Node"]["Uris"]
    assert set(short) == set(full)
    assert short == {name: entry["Uri"] for name, entry in full.items()}


# ---------------------------------------------------------------------- _expand


def _check_expansion(entry: dict[str, Any], uri: str, locator: str, locator_type: str) -> Any:
    assert entry["Uri"] == uri
    assert entry["Locator"] == locator
    assert entry["LocatorType"] == locator_type
    assert entry["EndpointType"]
    return entry[locator]


def test_expand_puts_the_linked_object_in_expansions(
    client: httpx.Client, uris: dict[str, str]
) -> None:
    body = client.get(uris["kyoto"], params={"_expand": "Node"}).json()
    album = body["Response"]["Album"]
    node_uri = album["Uris"]["Node"]["Uri"]
    assert set(body["Expansions"]) == {node_uri}
    node = _check_expansion(body["Expansions"][node_uri], node_uri, "Node", "Object")
    assert node["NodeID"] == album["NodeID"]
    assert node["Name"] == "Kyoto"


def test_expand_of_several_links(client: httpx.Client, uris: dict[str, str]) -> None:
    body = client.get(uris["kyoto"], params={"_expand": "Node,User"}).json()
    album_uris = body["Response"]["Album"]["Uris"]
    assert set(body["Expansions"]) == {album_uris["Node"]["Uri"], album_uris["User"]["Uri"]}
    user = body["Expansions"][album_uris["User"]["Uri"]]
    assert _check_expansion(user, album_uris["User"]["Uri"], "User", "Object")["NickName"] == "demo"


def test_expand_of_a_list_link_carries_its_pages(
    client: httpx.Client, uris: dict[str, str]
) -> None:
    body = client.get(uris["kyoto"], params={"_expand": "AlbumImages"}).json()
    images_uri = body["Response"]["Album"]["Uris"]["AlbumImages"]["Uri"]
    entry = body["Expansions"][images_uri]
    images = _check_expansion(entry, images_uri, "AlbumImage", "Objects")
    assert images
    assert entry["Pages"]["Total"] == 30


def test_expand_on_a_list_expands_every_item(client: httpx.Client, uris: dict[str, str]) -> None:
    body = client.get(uris["kyoto_images"], params={"count": 3, "_expand": "ImageMetadata"}).json()
    images = body["Response"]["AlbumImage"]
    wanted = {i["Uris"]["ImageMetadata"]["Uri"] for i in images}
    assert len(wanted) == 3
    assert set(body["Expansions"]) == wanted
    for uri in wanted:
        metadata = _check_expansion(body["Expansions"][uri], uri, "ImageMetadata", "Object")
        assert metadata["DateTimeCreated"]


def test_nested_expand_follows_links_of_expanded_objects(
    client: httpx.Client, uris: dict[str, str]
) -> None:
    body = client.get(uris["travel"], params={"_expand": "ChildNodes.ChildNodes"}).json()
    expansions = body["Expansions"]
    children_uri = body["Response"]["Node"]["Uris"]["ChildNodes"]["Uri"]
    years = _check_expansion(expansions[children_uri], children_uri, "Node", "Objects")
    assert sorted(n["Name"] for n in years) == ["2024", "2025"]
    for year in years:
        grandchildren_uri = year["Uris"]["ChildNodes"]["Uri"]
        albums = _check_expansion(
            expansions[grandchildren_uri], grandchildren_uri, "Node", "Objects"
        )
        assert {a["Type"] for a in albums} == {"Album"}
    assert len(expansions) == 3


def test_expand_survives_a_uri_filter_that_hides_the_link(
    client: httpx.Client, uris: dict[str, str]
) -> None:
    body = client.get(uris["kyoto"], params={"_expand": "Node", "_filteruri": "User"}).json()
    assert set(body["Response"]["Album"]["Uris"]) == {"User"}
    assert len(body["Expansions"]) == 1
    (entry,) = body["Expansions"].values()
    assert entry["Node"]["Name"] == "Kyoto"


def test_expand_of_an_unknown_link_is_ignored(client: httpx.Client, uris: dict[str, str]) -> None:
    body = client.get(uris["kyoto"], params={"_expand": "NoSuchLink"}).json()
    assert body["Code"] == 200
    assert not body.get("Expansions")


def test_expandmethod_inline_nests_the_object_in_its_link(
    client: httpx.Client, uris: dict[str, str]
) -> None:
    body = client.get(uris["kyoto"], params={"_expand": "Node", "_expandmethod": "inline"}).json()
    assert not body.get("Expansions")
    link = body["Response"]["Album"]["Uris"]["Node"]
    assert link["Locator"] == "Node"
    assert link["Node"]["Name"] == "Kyoto"
    assert link["Uri"] == link["Node"]["Uri"]


def test_page_links_drop_expand(client: httpx.Client, uris: dict[str, str]) -> None:
    body = client.get(uris["kyoto_images"], params={"count": 2, "_expand": "ImageMetadata"}).json()
    next_page = body["Response"]["Pages"]["NextPage"]
    assert "_expand" not in next_page
    followed = client.get(next_page).json()
    assert not followed.get("Expansions")
    assert len(followed["Response"]["AlbumImage"]) == 2
