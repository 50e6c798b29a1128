"""What existing SmugMug clients rely on, found by running them against the emulator.

See docs/compatibility.md: an album PATCH with the `SortMethod` smugcli sends after creating
every album, `Uris` as plain strings at `_verbosity=1` (main object and expansions alike), and
a video's `!metadata` dates taken from its container, which smugcli compares on every re-sync.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from pathlib import Path

import httpx

from smugfs.testing.emulator import Emulator

SAMPLE_VIDEO = Path(__file__).parent.parent / "smugfs" / "emulator" / "assets" / "sample.mp4"
QUICKTIME_EPOCH_OFFSET = 2_082_844_800  # seconds from 1904-01-01 to 1970-01-01


def new_album(c: httpx.Client, name: str) -> tuple[str, str]:
    """(AlbumKey, NodeID) of a new album under the root, created the way smugcli does."""
    root = c.get("/api/v2!authuser").json()["Response"]["User"]["Uris"]["Node"]["Uri"]
    response = c.post(
        root + "!children",
        data={
            "Name": name,
            "Type": "Album",
            "Privacy": "Public",
            "SortMethod": "Name",
            "SortDirection": "Ascending",
        },
    )
    assert response.status_code == 201, response.text
    node = response.json()["Response"]["Node"]
    return node["Uris"]["Album"]["Uri"].rsplit("/", 1)[1], node["NodeID"]


def test_album_sort_method_accepts_the_image_field_names_clients_send(emulator: Emulator) -> None:
    with emulator.client() as c:
        key, _ = new_album(c, "Sorted")
        sent_by_smugcli = c.patch(f"/api/v2/album/{key}", json={"SortMethod": "DateTimeOriginal"})
        assert sent_by_smugcli.status_code == 200, sent_by_smugcli.text
        assert sent_by_smugcli.json()["Response"]["Album"]["SortMethod"] == "Date Taken"
        by_file_name = c.patch(f"/api/v2/album/{key}", json={"SortMethod": "FileName"})
        assert by_file_name.json()["Response"]["Album"]["SortMethod"] == "Filename"
        assert c.patch(f"/api/v2/album/{key}", json={"SortMethod": "Bogus"}).status_code == 400


def test_verbosity_1_gives_uris_as_strings_in_the_object_and_its_expansions(
    emulator: Emulator,
) -> None:
    with emulator.client() as c:
        key, node_id = new_album(c, "Lean")
        body = c.get(f"/api/v2/album/{key}", params={"_verbosity": "1", "_expand": "Node"}).json()
        uris = body["Response"]["Album"]["Uris"]
        assert uris["Node"] == f"/api/v2/node/{node_id}"
        assert all(isinstance(v, str) for v in uris.values())
        expanded = body["Expansions"][uris["Node"]]["Node"]
        assert expanded["Uris"]["Album"] == f"/api/v2/album/{key}"
        assert "Options" not in body
        default = c.get(f"/api/v2/album/{key}").json()["Response"]["Album"]["Uris"]
        assert default["Node"]["Uri"] == f"/api/v2/node/{node_id}"


def test_video_metadata_dates_come_from_the_container_in_utc(emulator: Emulator) -> None:
    data = bytearray(SAMPLE_VIDEO.read_bytes())
    at = data.find(b"mvhd")
    assert at > 0
    assert data[at + 4] == 0  # version 0: 32-bit creation and modification times
    created = 1_748_772_000 + QUICKTIME_EPOCH_OFFSET  # 2025-06-01T10:00:00Z
    struct.pack_into(">II", data, at + 8, created, created + 90)
    with emulator.client() as c:
        key, _ = new_album(c, "Videos")
        headers = {
            "X-Smug-AlbumUri": f"/api/v2/album/{key}",
            "X-Smug-FileName": "clip.mp4",
            "X-Smug-ResponseType": "JSON",
            "X-Smug-Version": "v2",
            "Content-MD5": base64.b64encode(hashlib.md5(bytes(data)).digest()).decode(),
        }
        with httpx.Client(auth=emulator.auth(), timeout=30) as up:
            reply = up.post(emulator.upload_url, content=bytes(data), headers=headers).json()
        assert reply["stat"] == "ok", reply
        image = c.get(reply["Image"]["ImageUri"]).json()["Response"]["Image"]
        metadata_uri = image["Uris"]["ImageMetadata"]["Uri"]
        metadata = c.get(metadata_uri).json()["Response"]["ImageMetadata"]
    assert metadata["DateTimeCreated"] == "2025-06-01T10:00:00"
    assert metadata["DateTimeModified"] == "2025-06-01T10:01:30"
