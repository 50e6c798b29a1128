"""Every link the emulator hands out answers: a walk over the sample library that requests each
`Uris` entry of every record it reaches, as the owner and as a public caller with the API key
only, and fails on a 404 or a 5xx unless docs/emulator.md names that link as left unanswered.

The walk is bounded: it follows the first page of each list (16 items), every link of every
record on it, and never the same URI twice, so it reaches every kind of record (users, folders
by path and by ID, nodes, albums, images of every kind, templates) in a few thousand requests.
Action links (no `Locator`: they are POSTed to) are requested too; a GET may answer 405 there,
never 404.

And every link that the real service's recorded records carry is either carried by the
emulator's record of the same kind or named in docs/emulator.md as left out, with its reason.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from smugfs.testing.emulator import Emulator
from smugfs.testing.recorded import recorded_dir

DOC = Path(__file__).resolve().parents[1] / "docs" / "emulator.md"
PAGE_SIZE = 16  # enough for the album holding a PNG and a video after its photos
MAX_REQUESTS = 6000
ENTRY_POINTS = ("/api/v2!authuser", "/api/v2/user/demo", "/api/v2/user/alice")


def unanswered_in_doc() -> set[str]:
    """The endpoint types docs/emulator.md lists under "Links that do not answer"."""
    text = DOC.read_text(encoding="utf-8")
    found = re.search(r"### Links that do not answer\n(.*?)(?:\n## |\n### |\Z)", text, re.S)
    assert found, "docs/emulator.md has no 'Links that do not answer' section"
    return set(re.findall(r"^\| `([A-Za-z]+)` \|", found.group(1), re.M))


def links_of(value: Any) -> Iterator[tuple[str, str]]:
    """(endpoint type, URI) of every `Uris` entry anywhere in a reply."""
    if isinstance(value, dict):
        uris = value.get("Uris")
        if isinstance(uris, dict):
            for name, entry in uris.items():
                if isinstance(entry, dict) and "Uri" in entry:
                    yield str(entry.get("EndpointType", name)), str(entry["Uri"])
                elif isinstance(entry, str):
                    yield name, entry
        for key, inner in value.items():
            if key != "Uris":
                yield from links_of(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from links_of(inner)


def walk(client: httpx.Client, params: dict[str, str]) -> tuple[Counter[str], list[str]]:
    """Request every link reachable from the entry points; (endpoint types seen, failures)."""
    seen: set[str] = set()
    pending: list[tuple[str, str]] = [("Entry", uri) for uri in ENTRY_POINTS]
    kinds: Counter[str] = Counter()
    failures: list[str] = []
    allowed = unanswered_in_doc()
    while pending:
        kind, uri = pending.pop()
        if uri in seen:
            continue
        seen.add(uri)
        assert len(seen) <= MAX_REQUESTS, "the walk did not end"
        reply = client.get(uri, params={"count": str(PAGE_SIZE), **params})
        kinds[kind] += 1
        if reply.status_code == 404 or reply.status_code >= 500:
            if kind not in allowed:
                failures.append(f"{kind} {uri}: {reply.status_code}")
            continue
        if reply.status_code != 200:
            assert reply.status_code in (401, 405), f"{kind} {uri}: {reply.status_code}"
            continue
        pending.extend(link for link in links_of(reply.json()) if link[1] not in seen)
    return kinds, failures


def test_every_link_answers_for_the_owner(sample_emulator: Emulator) -> None:
    with sample_emulator.client() as client:
        kinds, failures = walk(client, {})
    assert failures == []
    # The walk reached every kind of link the records carry, the new ones among them.
    for kind in (
        "Folder",
        "FolderByID",
        "Folders",
        "FolderAlbums",
        "ParentFolders",
        "ParentFolder",
        "AlbumList",
        "UserAlbumTemplates",
        "ImageDownload",
        "ChildNodes",
        "AlbumImages",
        "LargestVideo",
        "ImageSizeDetails",
        "MoveNodes",
        "CollectImages",
    ):
        assert kinds[kind] > 0, kind


def test_every_link_answers_for_a_public_caller(sample_emulator: Emulator) -> None:
    with sample_emulator.plain() as client:
        client.headers["Accept"] = "application/json"
        kinds, failures = walk(client, {"APIKey": sample_emulator.env["SMUGFS_API_KEY"]})
    assert failures == []
    assert kinds["FolderAlbums"] > 0
    assert kinds["ImageDownload"] > 0


# ------------------------------------------------------------------ links of the real service


def left_out_in_doc() -> set[str]:
    """The links docs/emulator.md names as left out of the emulator's records."""
    text = DOC.read_text(encoding="utf-8")
    found = re.search(
        r"### Links of the service's records that the emulator leaves out\n(.*?)(?:\n### |\n## )",
        text,
        re.S,
    )
    assert found, "docs/emulator.md has no section on the links it leaves out"
    rows = [line for line in found.group(1).splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Za-z]+)`", row.split(" | ")[0])}


def recorded_links() -> dict[str, set[str]]:
    """The `Uris` names of every recorded record, by its `UriDescription` (its kind)."""
    kinds: dict[str, set[str]] = {}

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("Uris"), dict) and "UriDescription" in value:
                kinds.setdefault(value["UriDescription"], set()).update(value["Uris"])
            for inner in value.values():
                visit(inner)
        elif isinstance(value, list):
            for inner in value:
                visit(inner)

    for path in sorted(recorded_dir().glob("*/*.json")):
        visit(json.loads(path.read_text(encoding="utf-8")))
    return kinds


def emulator_links(client: httpx.Client) -> dict[str, set[str]]:
    """The `Uris` names of the emulator's records, by kind: the owner's user, a folder node and
    an album node, a folder, an album, an image and an album image (a video among them)."""

    def obj(uri: str, key: str, **params: str) -> dict[str, Any]:
        reply = client.get(uri, params=params)
        assert reply.status_code == 200, reply.text
        found: dict[str, Any] = reply.json()["Response"][key]
        return found

    def names(*records: dict[str, Any]) -> set[str]:
        return {name for record in records for name in record["Uris"]}

    user = obj("/api/v2!authuser", "User")
    travel = obj("/api/v2/user/demo!urlpathlookup", "Folder", urlpath="/Travel")
    album = obj(
        "/api/v2/user/demo!urlpathlookup", "Album", urlpath="/Travel/2024/Iceland-the-Ring-Road"
    )
    images = client.get(album["Uris"]["AlbumImages"]["Uri"], params={"count": 20}).json()
    album_images = images["Response"]["AlbumImage"]
    image = [obj(i["Uris"]["Image"]["Uri"], "Image") for i in album_images]
    return {
        "User By Nickname": names(user),
        "Node with the given id.": names(
            obj(travel["Uri"], "Node"), obj(album["Uris"]["Node"]["Uri"], "Node")
        ),
        "A folder or legacy (sub)category by UrlPath": names(
            obj("/api/v2/folder/user/demo/Travel", "Folder")
        ),
        "Album by key": names(album),
        "Image by key": names(*image),
        "Image from album": names(*album_images),
    }


def test_every_link_of_the_services_records_is_carried_or_named_in_the_doc(
    sample_emulator: Emulator,
) -> None:
    theirs = recorded_links()
    with sample_emulator.client() as client:
        ours = emulator_links(client)
    named = left_out_in_doc()
    missing = {
        kind: sorted(links - ours[kind] - named) for kind, links in theirs.items() if kind in ours
    }
    assert set(theirs) <= set(ours), set(theirs) - set(ours)
    assert all(not links for links in missing.values()), missing
    # The doc names only links the emulator really leaves out.
    carried = set().union(*ours.values())
    assert not (named & carried), named & carried
