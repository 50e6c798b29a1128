"""The emulator's library as the tests expect to see it through a mount, and the small pieces
tests build libraries from (a user's root node, every page of a list).

Walks an account through the API (plain signed httpx, not the smugfs client) and says which
paths, sizes and MD5s a mount should show: folders and albums as directories, pages left out,
`/` in a name shown as FULLWIDTH SOLIDUS.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx

SLASH = "\uff0f"


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """An image as the service describes it."""

    path: str
    size: int
    md5: str
    url: str
    image_key: str
    album_uri: str


def response_of(reply: httpx.Response, status: int = 200) -> Any:
    """The `Response` of an API reply, asserting its HTTP status."""
    assert reply.status_code == status, reply.text
    return reply.json()["Response"]


def root_uri(client: httpx.Client) -> str:
    """The authenticated user's root node URI."""
    uri: str = client.get("/api/v2!authuser").json()["Response"]["User"]["Uris"]["Node"]["Uri"]
    return uri


def local_name(remote: str) -> str:
    """The file name a mount shows for a remote name without duplicates or special names."""
    return remote.replace("/", SLASH)


def list_all(client: httpx.Client, uri: str, locator: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list endpoint, page by page."""
    items: list[dict[str, Any]] = []
    start = 1
    for _ in range(1000):
        response = client.get(uri, params={**params, "start": start, "count": 200})
        response.raise_for_status()
        body = response.json()["Response"]
        page = body.get(locator, [])
        items.extend(page)
        pages = body["Pages"]
        if pages["Start"] + pages["Count"] - 1 >= pages["Total"] or not page:
            return items
        start += pages["Count"]
    raise AssertionError("listing did not end")


def walk(client: httpx.Client) -> tuple[set[str], dict[str, RemoteFile]]:
    """(directories, files by path) of the account's tree, paths relative to the root."""
    user = client.get("/api/v2!authuser").json()["Response"]["User"]
    root = user["Uris"]["Node"]["Uri"]
    dirs: set[str] = set()
    files: dict[str, RemoteFile] = {}

    def visit(node_uri: str, prefix: str) -> None:
        for child in list_all(client, node_uri + "!children", "Node"):
            if child["Type"] not in ("Folder", "Album"):
                continue
            path = f"{prefix}{local_name(child['Name'])}"
            dirs.add(path)
            if child["Type"] == "Folder":
                visit(child["Uri"], path + "/")
            else:
                album_uri = child["Uris"]["Album"]["Uri"]
                images = list_all(client, album_uri + "!images", "AlbumImage")
                names = [i["FileName"] for i in images]
                for image in images:
                    if names.count(image["FileName"]) > 1 or image.get("IsVideo"):
                        continue  # named by the dedup rule or a rendition: checked elsewhere
                    file_path = f"{path}/{local_name(image['FileName'])}"
                    files[file_path] = RemoteFile(
                        file_path,
                        image["ArchivedSize"],
                        image["ArchivedMD5"],
                        image["ArchivedUri"],
                        image["ImageKey"],
                        album_uri,
                    )

    visit(root, "")
    return dirs, files


def album_uri_by_name(client: httpx.Client, name: str) -> str:
    """The URI of the root-level album called `name`... searched through the whole tree."""
    user = client.get("/api/v2!authuser").json()["Response"]["User"]
    stack = [user["Uris"]["Node"]["Uri"]]
    while stack:
        for child in list_all(client, stack.pop() + "!children", "Node"):
            if child["Type"] == "Album" and child["Name"] == name:
                uri: str = child["Uris"]["Album"]["Uri"]
                return uri
            if child["Type"] == "Folder":
                stack.append(child["Uri"])
    raise LookupError(name)
