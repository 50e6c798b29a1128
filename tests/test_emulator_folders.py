"""The legacy folder endpoints (`folder/user/NICK[/PATH]`, `folder/id/ID` and their `!folders`,
`!albums`, `!parents`, `!parent`, `!albumlist`): their shapes against the recorded ones, their
agreement with the node tree, creating albums and folders through them under the service's
UrlName and duplicate rules, and their refusals.

Reads use the shared sample emulator; writes a fresh one per module. Every check goes through
plain httpx with authlib's signer.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest

from smugfs.testing.emulator import Emulator
from smugfs.testing.library import list_all, response_of, root_uri
from smugfs.testing.recorded import assert_fields_like, assert_same_link, recorded

FOLDER = "/api/v2/folder/user"
_names = itertools.count(1)


def nick(client: httpx.Client) -> str:
    name: str = response_of(client.get("/api/v2!authuser"))["User"]["NickName"]
    return name


def unique(prefix: str) -> str:
    return f"{prefix} {next(_names)}"


def recorded_folder() -> dict[str, Any]:
    """The folder record the service sent as an expansion of an album (`Events`)."""
    body = recorded("bzimmer-smugmug/album_2XrGxm_expansions.json")
    folder: dict[str, Any] = body["Expansions"]["/api/v2/folder/user/cmac/Events"]["Folder"]
    return folder


# ---------------------------------------------------------------------------------- reading


def test_the_users_folder_link_answers_the_root_folder(sample_client: httpx.Client) -> None:
    user = response_of(sample_client.get("/api/v2!authuser"))["User"]
    theirs = recorded("smugcli/authuser.json")["Response"]["User"]["Uris"]
    assert_same_link(user["Uris"]["Folder"], theirs["Folder"])
    assert user["Uris"]["Folder"]["Uri"] == f"{FOLDER}/demo"
    body = response_of(sample_client.get(user["Uris"]["Folder"]["Uri"]))
    assert (body["Locator"], body["LocatorType"], body["EndpointType"]) == (
        "Folder",
        "Object",
        "Folder",
    )
    root = body["Folder"]
    node = response_of(sample_client.get(user["Uris"]["Node"]["Uri"]))["Node"]
    assert (root["NodeID"], root["UrlPath"], root["Name"]) == (node["NodeID"], "/", "")
    assert "Pages" not in body
    # The root has no parent to link to.
    assert "ParentFolder" not in root["Uris"]
    assert "ParentFolders" not in root["Uris"]


def test_a_folder_record_has_the_recorded_fields_and_links(sample_client: httpx.Client) -> None:
    ours = response_of(sample_client.get(f"{FOLDER}/demo/Travel"))["Folder"]
    theirs = recorded_folder()
    assert_fields_like(ours, {k: v for k, v in theirs.items() if k != "Uris"})
    assert ours["Uri"] == f"{FOLDER}/demo/Travel"
    assert ours["UriDescription"] == theirs["UriDescription"]
    assert ours["IsEmpty"] is False
    for name, link in ours["Uris"].items():
        assert name in theirs["Uris"], name
        assert_same_link(link, theirs["Uris"][name])
    uris = {name: link["Uri"] for name, link in ours["Uris"].items()}
    assert uris["Folders"] == f"{FOLDER}/demo/Travel!folders"
    assert uris["FolderAlbums"] == f"{FOLDER}/demo/Travel!albums"
    # Recorded: a folder's ParentFolders are those of the folder holding it.
    assert uris["ParentFolders"] == f"{FOLDER}/demo!parents"
    assert uris["FolderByID"] == f"/api/v2/folder/id/{ours['NodeID']}"
    assert uris["Node"] == f"/api/v2/node/{ours['NodeID']}"


def test_folder_nodes_link_their_folder_by_id(sample_client: httpx.Client) -> None:
    theirs = recorded("smugcli/root_node.json")["Response"]["Node"]["Uris"]["FolderByID"]
    children = response_of(
        sample_client.get(root_uri(sample_client) + "!children", params={"count": 50})
    )["Node"]
    for child in children:
        if child["Type"] != "Folder":
            assert "FolderByID" not in child["Uris"]
            continue
        link = child["Uris"]["FolderByID"]
        assert_same_link(link, theirs)
        folder = response_of(sample_client.get(link["Uri"]))
        assert folder["EndpointType"] == "FolderByID"
        assert folder["Folder"]["NodeID"] == child["NodeID"]
        assert folder["Folder"]["Uri"] == f"{FOLDER}/demo{child['UrlPath']}"


def test_path_form_and_id_form_are_the_same_folder(sample_client: httpx.Client) -> None:
    by_path = response_of(sample_client.get(f"{FOLDER}/demo/Travel/2024"))["Folder"]
    by_id = response_of(sample_client.get(f"/api/v2/folder/id/{by_path['NodeID']}"))["Folder"]
    assert by_id == by_path
    node = response_of(sample_client.get(f"/api/v2/node/{by_path['NodeID']}"))["Node"]
    for field in ("Name", "UrlName", "UrlPath", "NodeID", "DateAdded", "DateModified"):
        assert by_path[field] == node[field], field
    # UrlPath segments match regardless of case, as `!urlpathlookup` does.
    assert (
        response_of(sample_client.get(f"{FOLDER}/demo/travel/2024"))["Folder"]["NodeID"]
        == node["NodeID"]
    )


def test_folders_and_albums_agree_with_the_node_tree(sample_client: httpx.Client) -> None:
    pending = [root_uri(sample_client)]
    checked = 0
    while pending:
        node_uri = pending.pop()
        node_id = node_uri.rsplit("/", 1)[1]
        children = list_all(sample_client, node_uri + "!children", "Node")
        folders = list_all(sample_client, f"/api/v2/folder/id/{node_id}!folders", "Folder")
        albums = list_all(sample_client, f"/api/v2/folder/id/{node_id}!albums", "Album")
        assert [f["NodeID"] for f in folders] == [
            n["NodeID"] for n in children if n["Type"] == "Folder"
        ]
        assert [a["NodeID"] for a in albums] == [
            n["NodeID"] for n in children if n["Type"] == "Album"
        ]
        for album in albums:
            assert album == response_of(sample_client.get(album["Uri"]))["Album"]
        pending.extend(f"/api/v2/node/{f['NodeID']}" for f in folders)
        checked += 1
    assert checked >= 8


def test_lists_carry_pages_and_the_payload_key_goes_when_empty(sample_client: httpx.Client) -> None:
    body = response_of(sample_client.get(f"{FOLDER}/demo!folders", params={"count": 2}))
    assert (body["EndpointType"], body["Locator"], body["LocatorType"]) == (
        "Folders",
        "Folder",
        "Objects",
    )
    assert [f["Name"] for f in body["Folder"]] == ["Travel", "Family"]
    assert body["Pages"]["Total"] == 3
    assert body["Pages"]["NextPage"] == f"{FOLDER}/demo!folders?count=2&start=3"
    empty = response_of(sample_client.get(f"{FOLDER}/demo/Travel/2024!folders"))
    assert "Folder" not in empty
    assert empty["Pages"]["Total"] == 0
    albums = response_of(sample_client.get(f"{FOLDER}/demo/Travel/2024!albums"))
    assert albums["EndpointType"] == "FolderAlbums"
    assert [a["Name"] for a in albums["Album"]] == ["Lisbon", "Iceland & the Ring Road"]
    assert "Album" not in response_of(sample_client.get(f"{FOLDER}/demo/Travel!albums"))


def test_parents_run_from_the_folder_to_the_root(sample_client: httpx.Client) -> None:
    body = response_of(sample_client.get(f"{FOLDER}/demo/Family/Birthdays/2023!parents"))
    assert body["EndpointType"] == "ParentFolders"
    assert [f["UrlPath"] for f in body["Folder"]] == [
        "/Family/Birthdays/2023",
        "/Family/Birthdays",
        "/Family",
        "/",
    ]
    node_id = body["Folder"][0]["NodeID"]
    nodes = response_of(sample_client.get(f"/api/v2/node/{node_id}!parents"))["Node"]
    assert [f["NodeID"] for f in body["Folder"]] == [n["NodeID"] for n in nodes]
    parent = response_of(sample_client.get(f"{FOLDER}/demo/Family/Birthdays/2023!parent"))["Folder"]
    assert parent["UrlPath"] == "/Family/Birthdays"
    assert sample_client.get(f"{FOLDER}/demo!parent").status_code == 404


def test_album_list_holds_every_album_below_the_folder(sample_client: httpx.Client) -> None:
    body = response_of(sample_client.get(f"{FOLDER}/demo/Travel!albumlist"))
    assert (body["EndpointType"], body["LocatorType"]) == ("AlbumList", "List")
    assert "Pages" not in body
    # The node tree below the folder, breadth first in the owner's order.
    travel = response_of(sample_client.get(f"{FOLDER}/demo/Travel"))["Folder"]
    expected: list[str] = []
    pending = [travel["Uris"]["Node"]["Uri"]]
    while pending:
        for child in list_all(sample_client, pending.pop(0) + "!children", "Node"):
            if child["Type"] == "Folder":
                pending.append(child["Uri"])
            elif child["Type"] == "Album":
                expected.append(child["UrlPath"])
    assert [a["UrlPath"] for a in body["AlbumList"]] == expected
    assert expected[:3] == [
        "/Travel/2024/Lisbon",
        "/Travel/2024/Iceland-the-Ring-Road",
        "/Travel/2025/Kyoto",
    ]
    for entry in body["AlbumList"]:
        assert set(entry) == {"Uri", "Name", "UrlPath"}
        album = response_of(sample_client.get(entry["Uri"]))["Album"]
        assert (album["UrlPath"], album["Name"]) == (entry["UrlPath"], entry["Name"])


def test_albums_link_their_folder_as_recorded(sample_client: httpx.Client) -> None:
    theirs = recorded("bzimmer-smugmug/album_2XrGxm_expansions.json")["Response"]["Album"]
    album = response_of(sample_client.get(f"{FOLDER}/demo/Travel/2024!albums"))["Album"][0]
    for name in ("Folder", "ParentFolders"):
        assert_same_link(album["Uris"][name], theirs["Uris"][name])
    assert album["Uris"]["Folder"]["Uri"] == f"{FOLDER}/demo/Travel/2024"
    assert album["Uris"]["ParentFolders"]["Uri"] == f"{FOLDER}/demo/Travel/2024!parents"
    folder = response_of(sample_client.get(album["Uris"]["Folder"]["Uri"]))["Folder"]
    assert folder["UrlPath"] == "/Travel/2024"


@pytest.mark.parametrize(
    "path",
    [
        f"{FOLDER}/demo/Nowhere",
        f"{FOLDER}/demo/Travel/2024/Lisbon",  # an album, not a folder
        f"{FOLDER}/demo/About-Me",  # a page
        f"{FOLDER}/nobody",
        f"{FOLDER}/demo/Nowhere!albums",
        "/api/v2/folder/id/zzzzzz",
        "/api/v2/folder/id/zzzzzz!folders",
    ],
)
def test_what_is_no_folder_is_404_in_the_envelope(sample_client: httpx.Client, path: str) -> None:
    reply = sample_client.get(path)
    assert reply.status_code == 404
    body = reply.json()
    assert body["Code"] == 404
    assert "Folder" not in body["Response"]
    assert "Album" not in body["Response"]


def test_an_album_node_has_no_folder_by_id(sample_client: httpx.Client) -> None:
    album = response_of(sample_client.get(f"{FOLDER}/demo/Travel/2024!albums"))["Album"][0]
    assert sample_client.get(f"/api/v2/folder/id/{album['NodeID']}").status_code == 404


def test_others_see_only_public_folders_and_albums(sample_emulator: Emulator) -> None:
    with sample_emulator.plain() as anonymous:
        key = {"APIKey": sample_emulator.env["SMUGFS_API_KEY"]}
        albums = anonymous.get(f"{FOLDER}/alice!albums", params=key, headers=JSON)
        assert [a["Name"] for a in response_of(albums)["Album"]] == ["Street"]
        root = response_of(anonymous.get(f"{FOLDER}/alice", params=key, headers=JSON))["Folder"]
        assert root["ResponseLevel"] == "Public"
        assert "Privacy" not in root
        demo = response_of(anonymous.get(f"{FOLDER}/demo!albums", params=key, headers=JSON))
        assert "Private Moments" not in [a["Name"] for a in demo["Album"]]


JSON = {"Accept": "application/json"}


# ---------------------------------------------------------------------------------- writing


def test_post_albums_creates_an_album_from_the_deprecated_names(
    module_client: httpx.Client,
) -> None:
    """As smuploader sends it: `Title` and `NiceName` in a JSON body, plus fields the service
    takes and this one ignores."""
    me = nick(module_client)
    name = unique("Summer Trip")
    url_name = name.replace(" ", "-")
    reply = module_client.post(
        f"{FOLDER}/{me}!albums",
        json={"Title": name, "NiceName": url_name, "OriginalSizes": 1, "Filenames": 1},
    )
    body = response_of(reply, 201)
    assert (body["EndpointType"], body["Locator"]) == ("Album", "Album")
    album = body["Album"]
    assert body["Uri"] == album["Uri"] == f"/api/v2/album/{album['AlbumKey']}"
    assert (album["Name"], album["UrlName"], album["NiceName"]) == (name, url_name, url_name)
    assert album == response_of(module_client.get(album["Uri"]))["Album"]
    children = list_all(module_client, root_uri(module_client) + "!children", "Node")
    assert album["NodeID"] in [n["NodeID"] for n in children if n["Type"] == "Album"]
    listed = list_all(module_client, f"{FOLDER}/{me}!albums", "Album")
    assert album["AlbumKey"] in [a["AlbumKey"] for a in listed]


def test_post_albums_in_a_subfolder_from_a_form_body(module_client: httpx.Client) -> None:
    """As smugler sends it: `Name` and `UrlName` form-encoded, to the folder's own link."""
    me = nick(module_client)
    folder = response_of(
        module_client.post(f"{FOLDER}/{me}!folders", json={"Name": unique("Events")}), 201
    )
    link = folder["Folder"]["Uris"]["FolderAlbums"]["Uri"]
    album = response_of(
        module_client.post(link, data={"Name": "Day One", "UrlName": "Day-One"}), 201
    )["Album"]
    assert album["UrlPath"] == folder["Folder"]["UrlPath"] + "/Day-One"
    assert album["Uris"]["Folder"]["Uri"] == folder["Folder"]["Uri"]


def test_post_albums_derives_a_url_name_and_applies_album_fields(
    module_client: httpx.Client,
) -> None:
    me = nick(module_client)
    album = response_of(
        module_client.post(
            f"{FOLDER}/{me}!albums",
            json={
                "Name": unique("2026 Trip & More"),
                "SortMethod": "Date Taken",
                "SortDirection": "Descending",
                "Privacy": "Public",
                "Keywords": "sea; sand",
            },
        ),
        201,
    )["Album"]
    assert album["UrlName"].startswith("2026-Trip-More")
    assert (album["SortMethod"], album["SortDirection"]) == ("Date Taken", "Descending")
    assert album["Privacy"] == "Public"
    assert album["Keywords"] == "sea; sand"


def test_duplicate_url_name_is_409_unless_auto_rename(module_client: httpx.Client) -> None:
    me = nick(module_client)
    name = unique("Twice")
    url_name = name.replace(" ", "-")
    response_of(
        module_client.post(f"{FOLDER}/{me}!albums", json={"Name": name, "UrlName": url_name}), 201
    )
    clash = module_client.post(f"{FOLDER}/{me}!albums", json={"Name": name, "UrlName": url_name})
    assert clash.status_code == 409
    assert clash.json()["Code"] == 409
    assert "Album" not in clash.json()["Response"]
    # A folder of that UrlName clashes too: siblings share one namespace.
    assert module_client.post(f"{FOLDER}/{me}!folders", json={"Name": name}).status_code == 409
    renamed = module_client.post(
        f"{FOLDER}/{me}!albums", json={"Name": name, "UrlName": url_name, "AutoRename": True}
    )
    assert response_of(renamed, 201)["Album"]["UrlName"] != url_name
    same_names = [
        n
        for n in list_all(module_client, root_uri(module_client) + "!children", "Node")
        if n["Name"] == name
    ]
    assert len(same_names) == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Name": "x", "UrlName": "lower-case"}, "UrlName"),
        ({"Name": "x", "UrlName": "9Lives"}, "UrlName"),
        ({"UrlName": "No-Name"}, "Name is required"),
        ({"Name": "   "}, "Name is required"),
        ({"Name": "x", "SortMethod": "Colour"}, "SortMethod"),
        ({"Name": "x", "Privacy": "Secret"}, "Privacy"),
        ({"Name": "x", "AlbumTemplateUri": "/api/v2/albumtemplate/nothing"}, "AlbumTemplateUri"),
    ],
)
def test_bad_album_fields_are_400_and_make_nothing(
    module_client: httpx.Client, body: dict[str, Any], message: str
) -> None:
    me = nick(module_client)
    before = len(list_all(module_client, root_uri(module_client) + "!children", "Node"))
    reply = module_client.post(f"{FOLDER}/{me}!albums", json=body)
    assert reply.status_code == 400, reply.text
    assert message in reply.json()["Message"]
    assert len(list_all(module_client, root_uri(module_client) + "!children", "Node")) == before


def test_post_folders_creates_a_folder_and_keeps_the_depth_limit(
    module_client: httpx.Client,
) -> None:
    me = nick(module_client)
    path = ""
    for depth in range(1, 6):
        name = unique("Level") if depth == 1 else f"Level {depth}"
        body = response_of(
            module_client.post(f"{FOLDER}/{me}{path}!folders", json={"Name": name}), 201
        )
        folder = body["Folder"]
        assert body["Uri"] == folder["Uri"] == f"{FOLDER}/{me}{folder['UrlPath']}"
        assert folder["IsEmpty"] is True
        node = response_of(module_client.get(f"/api/v2/node/{folder['NodeID']}"))["Node"]
        assert (node["Type"], node["Name"]) == ("Folder", name)
        path = folder["UrlPath"]
    deeper = module_client.post(f"{FOLDER}/{me}{path}!folders", json={"Name": "Level 6"})
    assert deeper.status_code == 400
    # Albums don't count towards the limit.
    response_of(module_client.post(f"{FOLDER}/{me}{path}!albums", json={"Name": "Deep Album"}), 201)


def test_writes_need_the_owners_grant(
    module_emulator: Emulator, module_client: httpx.Client
) -> None:
    me = nick(module_client)
    body = {"Name": unique("Refused")}
    with module_emulator.plain() as anonymous:
        unsigned = anonymous.post(f"{FOLDER}/{me}!albums", json=body, headers=JSON)
        assert unsigned.status_code == 401
        key = {"APIKey": module_emulator.env["SMUGFS_API_KEY"]}
        api_key_only = anonymous.post(f"{FOLDER}/{me}!albums", params=key, json=body, headers=JSON)
        assert api_key_only.status_code == 401
    reader = module_emulator.token(permissions="Read")
    with module_emulator.client(
        token=reader["access_token"], token_secret=reader["access_token_secret"]
    ) as r:
        refused = r.post(f"{FOLDER}/{me}!folders", json=body)
        assert refused.status_code == 401
        assert refused.json()["Message"] == "The user has not granted the required permissions"
        assert r.get(f"{FOLDER}/{me}!albums").status_code == 200
    names = [
        n["Name"] for n in list_all(module_client, root_uri(module_client) + "!children", "Node")
    ]
    assert body["Name"] not in names


def test_another_users_folder_cannot_be_written(sample_emulator: Emulator) -> None:
    with sample_emulator.client() as demo:
        reply = demo.post(f"{FOLDER}/alice!albums", json={"Name": "Not Mine"})
        assert reply.status_code == 401
        assert "Not Mine" not in [
            a["Name"] for a in response_of(demo.get(f"{FOLDER}/alice!albums"))["Album"]
        ]
