"""Every link the emulator hands out answers: a walk over the sample library that requests each
`Uris` entry of every record it reaches, as the owner and as a public caller with the API key
only, and fails on a 404 or a 5xx unless docs/emulator.md names that link as left unanswered.

The walk is bounded: it follows the first page of each list (16 items), every link of every
record on it, and never the same URI twice, so it reaches every kind of record (users, folders
by path and by ID, nodes, albums, images of every kind, templates) in a few thousand requests.
Action links (no `Locator`: they are POSTed to) are requested too; a GET may answer 405 there,
never 404.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.harness import Emulator

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
