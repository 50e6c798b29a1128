"""The emulator keeps the service's rules for an image's descriptive fields: Title, Caption,
Keywords and KeywordArray, Hidden, Latitude/Longitude/Altitude, the keywords an upload gets
from its file name, hidden photos in other viewers' listings, and a node's Description.

Each test talks to the emulator over HTTP as any client would (httpx, OAuth 1.0a signed) and
reads the result back through the API.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import httpx
import pytest

from smugfs.emulator.image_fields import keywords_from_file_name
from smugfs.testing import account
from smugfs.testing.account import create_album, create_node
from smugfs.testing.emulator import Emulator
from smugfs.testing.media import jpeg

_seeds = itertools.count(500)


@pytest.fixture
def album(module_client: httpx.Client) -> str:
    """A new public album's key."""
    return create_album(module_client, f"Fields {next(_seeds)}", Privacy="Public").rsplit("/", 1)[1]


def upload(emu: Emulator, album: str, name: str, **headers: str) -> dict[str, Any]:
    """Upload a fresh JPEG; the reply's `Image` block."""
    return account.upload(emu, f"/api/v2/album/{album}", name, jpeg(next(_seeds)), **headers)


def image_of(c: httpx.Client, uri: str) -> dict[str, Any]:
    response = c.get(uri)
    assert response.status_code == 200, response.text
    image: dict[str, Any] = response.json()["Response"]["Image"]
    return image


@pytest.mark.parametrize(
    ("file_name", "keywords"),
    [
        # As recorded listings of the real service show them.
        ("Von Wong-2807.jpg", ["Von", "Wong", "2807"]),
        ("SF by air for 48 inch print-5978.jpg", ["air", "for", "inch", "print", "5978"]),
        ("IMG_7058_heic.JPG", ["7058", "heic"]),
        ("Nikon_D70.jpg", ["Nikon", "D70"]),
        ("DSC_4301t (2).jpg", ["4301t"]),
        ("Brian P. Kemp.jpg", ["Brian", "Kemp"]),
        (
            "Leon_Sinks_Geological_Area_10713_ID_1.jpg",
            ["Leon", "Sinks", "Geological", "Area", "10713"],
        ),
    ],
)
def test_keywords_from_file_names_follow_the_recorded_service(
    file_name: str, keywords: list[str]
) -> None:
    assert keywords_from_file_name(file_name) == keywords


def test_an_upload_without_keywords_gets_them_from_its_file_name(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    plain = upload(module_emulator, album, "Lisbon tram-0042.jpg")
    got = image_of(module_client, plain["ImageUri"])
    assert got["KeywordArray"] == ["Lisbon", "tram", "0042"]
    assert got["Keywords"] == "Lisbon; tram; 0042"
    tagged = upload(module_emulator, album, "Lisbon tram-0043.jpg", X_Smug_Keywords="yellow; hill")
    assert image_of(module_client, tagged["ImageUri"])["KeywordArray"] == ["yellow", "hill"]


def test_keywords_string_and_array(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    uri = upload(module_emulator, album, "k.jpg")["ImageUri"]
    assert module_client.patch(uri, json={"Keywords": "sea; sky, blue ;; "}).status_code == 200
    got = image_of(module_client, uri)
    # The string is `;`-separated only: a comma belongs to the keyword.
    assert got["KeywordArray"] == ["sea", "sky, blue"]
    assert got["Keywords"] == "sea; sky, blue"
    # Each array item is one keyword, spaces and all; the array wins over the string.
    response = module_client.patch(
        uri, json={"KeywordArray": ["Tomales Bay State Park", " fog "], "Keywords": "ignored"}
    )
    assert response.status_code == 200
    assert image_of(module_client, uri)["KeywordArray"] == ["Tomales Bay State Park", "fog"]
    assert module_client.patch(uri, json={"KeywordArray": []}).status_code == 200
    assert image_of(module_client, uri)["Keywords"] == ""


def test_texts_of_any_length_and_script(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    uri = upload(module_emulator, album, "t.jpg")["ImageUri"]
    caption = "Über den Dächern - 東京\n" * 4000  # far past any header or column size
    assert module_client.patch(uri, json={"Title": "Ötztal", "Caption": caption}).status_code == 200
    got = image_of(module_client, uri)
    assert (got["Title"], got["Caption"]) == ("Ötztal", caption)
    assert got["FormattedValues"]["Caption"]["text"] == caption


@pytest.mark.parametrize(
    "change",
    [
        {"Latitude": 100},  # DECIMAL(16,14): two digits before the point
        {"Latitude": "NaN"},
        {"Longitude": -1000.5},  # DECIMAL(17,14)
        {"Altitude": -1},
        {"Altitude": 16_777_216},
        {"Altitude": 12.5},
        {"Hidden": "perhaps"},
        {"Caption": {"text": "x"}},
        {"KeywordArray": [["nested"]]},
    ],
)
def test_a_value_out_of_the_service_range_is_400_and_changes_nothing(
    module_emulator: Emulator, module_client: httpx.Client, album: str, change: dict[str, Any]
) -> None:
    uri = upload(module_emulator, album, "r.jpg")["ImageUri"]
    before = image_of(module_client, uri)
    response = module_client.patch(uri, json={"Title": "Must not stick", **change})
    assert response.status_code == 400, response.text
    after = image_of(module_client, uri)
    assert after["Title"] == before["Title"]
    assert after["LastUpdated"] == before["LastUpdated"]


def test_position_limits_and_precision(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    uri = upload(module_emulator, album, "g.jpg")["ImageUri"]
    fields = {"Latitude": "-89.123456789012341", "Longitude": 179.5, "Altitude": "16777215"}
    assert module_client.patch(uri, json=fields).status_code == 200
    got = image_of(module_client, uri)
    assert got["Latitude"] == "-89.12345678901234"  # 14 decimals, as the service prints them
    assert got["Longitude"] == "179.50000000000000"
    assert got["Altitude"] == 16_777_215


def test_a_patch_moves_the_album_stamp_on(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    uri = upload(module_emulator, album, "s.jpg")["ImageUri"]
    before = module_client.get(f"/api/v2/album/{album}").json()["Response"]["Album"][
        "ImagesLastUpdated"
    ]
    image_before = image_of(module_client, uri)["LastUpdated"]
    # Stamps have a resolution of a second.
    time.sleep(1.1)
    assert module_client.patch(uri, json={"Caption": "moved on"}).status_code == 200
    after = module_client.get(f"/api/v2/album/{album}").json()["Response"]["Album"][
        "ImagesLastUpdated"
    ]
    assert after > before
    assert image_of(module_client, uri)["LastUpdated"] > image_before


def test_hidden_photos_are_listed_for_the_owner_only(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    shown = upload(module_emulator, album, "shown.jpg")
    hidden = upload(module_emulator, album, "hidden.jpg")
    assert module_client.patch(hidden["ImageUri"], json={"Hidden": True}).status_code == 200
    mine = module_client.get(f"/api/v2/album/{album}!images").json()["Response"]["AlbumImage"]
    assert {(i["FileName"], i["Hidden"]) for i in mine} == {
        ("shown.jpg", False),
        ("hidden.jpg", True),
    }
    with module_emulator.client(anonymous=True) as public:
        theirs = public.get(f"/api/v2/album/{album}!images").json()["Response"]["AlbumImage"]
    assert [i["FileName"] for i in theirs] == ["shown.jpg"]
    assert shown["ImageUri"] != hidden["ImageUri"]


def test_the_patch_parameters_are_in_the_options(
    module_emulator: Emulator, module_client: httpx.Client, album: str
) -> None:
    uri = upload(module_emulator, album, "o.jpg")["ImageUri"]
    options = module_client.options(uri).json()["Options"]
    params = {p["Name"]: p for p in options["Parameters"]["PATCH"]}
    assert set(params) >= {"Title", "Caption", "Keywords", "KeywordArray", "Hidden", "Altitude"}
    assert params["Latitude"]["PRECISION"] == 16
    assert params["Altitude"]["MAX_VALUE"] == 16_777_215


def test_a_node_description_is_at_most_65535_characters(module_client: httpx.Client) -> None:
    node = create_node(module_client, f"Described {next(_seeds)}")
    assert module_client.patch(node["Uri"], json={"Description": "d" * 65_535}).status_code == 200
    assert module_client.patch(node["Uri"], json={"Description": "d" * 65_536}).status_code == 400
    assert module_client.get(node["Uri"]).json()["Response"]["Node"]["Description"] == "d" * 65_535
