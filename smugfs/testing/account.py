"""The emulator's account seen through its own API.

`Account` reads and changes an emulator account with signed httpx (never the smugfs client), so
tests check what the service holds, not what the mount believes; `uploads` and `requests_to`
count what the emulator received. Albums and folders are made by `create_node` and photos
uploaded by `upload`, the one way for every test and benchmark that needs them made (those
that test the making itself send their own requests).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from smugfs.testing.emulator import Emulator
from smugfs.testing.library import list_all, root_uri
from smugfs.testing.media import md5

FOLDER = "Folder"
ALBUM = "Album"


# ---------------------------------------------------------------------------- making things


def create_node(
    client: httpx.Client,
    name: str,
    type_: str = ALBUM,
    parent_uri: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A new album or folder below `parent_uri` (the root by default), with any other fields
    given (`Privacy="Public"`...); its `Node` record, asserting the service made it."""
    response = client.post(
        (parent_uri or root_uri(client)) + "!children",
        json={"Type": type_, "Name": name, **fields},
    )
    assert response.status_code == 201, response.text
    node: dict[str, Any] = response.json()["Response"]["Node"]
    return node


def album_uri_of(node: dict[str, Any]) -> str:
    """The Album URI of an album's node record."""
    uri: str = node["Uris"]["Album"]["Uri"]
    return uri


def create_album(
    client: httpx.Client, name: str, parent_uri: str | None = None, **fields: Any
) -> str:
    """A new album (`create_node`); its Album URI."""
    return album_uri_of(create_node(client, name, ALBUM, parent_uri, **fields))


def upload(
    emulator: Emulator, album_uri: str, name: str, data: bytes, **headers: str
) -> dict[str, Any]:
    """Upload bytes into an album as a client does, with their MD5 and any `X-Smug-*` headers
    given (`X_Smug_Caption=...`); the reply's `Image`, asserting the service took them."""
    # Percent-encoded unless it travels unchanged, as clients send it.
    sent_name = name if name.isascii() else quote(name, safe="")
    response = emulator.upload(album_uri, sent_name, data, Content_MD5=md5(data), **headers)
    body = response.json()
    assert body["stat"] == "ok", body
    image: dict[str, Any] = body["Image"]
    return image


# ---------------------------------------------------------------------------- the account


class Account:
    """The emulator's account as its own API shows it: a signed httpx client and lookups."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.http = emulator.client()
        user = self.get("/api/v2!authuser")["User"]
        self.root_uri: str = user["Uris"]["Node"]["Uri"]

    def close(self) -> None:
        """Close the connections."""
        self.http.close()

    def __enter__(self) -> Account:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, uri: str, **params: Any) -> dict[str, Any]:
        """The `Response` object of a GET (which must succeed)."""
        response = self.http.get(uri, params=params)
        response.raise_for_status()
        body: dict[str, Any] = response.json()["Response"]
        return body

    def status(self, uri: str) -> int:
        """The HTTP status of a GET (404 once an object is gone)."""
        return self.http.get(uri).status_code

    def children(self, node_uri: str | None = None) -> list[dict[str, Any]]:
        """The child nodes of a folder (the root by default)."""
        return list_all(self.http, (node_uri or self.root_uri) + "!children", "Node")

    def find(self, *names: str) -> dict[str, Any] | None:
        """The node at a path of names below the root, or None."""
        node: dict[str, Any] | None = None
        uri = self.root_uri
        for name in names:
            if node is not None and node["Type"] != FOLDER:
                return None
            node = next((c for c in self.children(uri) if c["Name"] == name), None)
            if node is None:
                return None
            uri = node["Uri"]
        return node

    def node(self, *names: str) -> dict[str, Any]:
        """The node at a path of names below the root (it must exist)."""
        found = self.find(*names)
        assert found is not None, f"no {'/'.join(names)} on the service"
        return found

    def album_uri(self, *names: str) -> str:
        """The Album URI of the album at a path of names."""
        node = self.node(*names)
        assert node["Type"] == ALBUM, node
        uri: str = node["Uris"]["Album"]["Uri"]
        return uri

    def parents(self, node: dict[str, Any]) -> list[str]:
        """Names of a node's ancestors, nearest first (`!parents` lists the node first)."""
        chain = list_all(self.http, node["Uri"] + "!parents", "Node")
        assert chain[0]["NodeID"] == node["NodeID"]
        return [n["Name"] for n in chain[1:]]

    def create(
        self, name: str, type_: str = ALBUM, parent_uri: str | None = None, **fields: Any
    ) -> str:
        """A new album (its Album URI) or folder (its node URI)."""
        node = create_node(self.http, name, type_, parent_uri or self.root_uri, **fields)
        uri: str = album_uri_of(node) if type_ == ALBUM else node["Uri"]
        return uri

    def images(self, album_uri: str) -> list[dict[str, Any]]:
        """An album's images as `!images` lists them."""
        return list_all(self.http, album_uri + "!images", "AlbumImage")

    def by_name(self, album_uri: str) -> dict[str, dict[str, Any]]:
        """An album's images by file name (each name at most once)."""
        images = self.images(album_uri)
        names = [i["FileName"] for i in images]
        assert len(names) == len(set(names)), names
        return {i["FileName"]: i for i in images}

    def image_count(self, album_uri: str) -> int:
        """The album's own ImageCount."""
        count: int = self.get(album_uri)["Album"]["ImageCount"]
        return count

    def image(self, uri: str) -> dict[str, Any]:
        """One image (by its Image or AlbumImage URI)."""
        body = self.get(uri)
        found: dict[str, Any] = body.get("AlbumImage") or body["Image"]
        return found

    def original(self, image: dict[str, Any]) -> bytes:
        """The archived original's bytes."""
        response = self.http.get(image["ArchivedUri"])
        response.raise_for_status()
        return response.content

    def upload(self, album_uri: str, name: str, data: bytes, **headers: str) -> dict[str, Any]:
        """Upload bytes into an album (`upload`); the reply's `Image`."""
        return upload(self.emulator, album_uri, name, data, **headers)

    def patch(self, uri: str, fields: dict[str, Any]) -> None:
        """PATCH an object."""
        response = self.http.patch(uri, json=fields)
        assert response.status_code == 200, response.text


def uploads(emulator: Emulator) -> int:
    """How many uploads the emulator received since its counters were reset."""
    return int(emulator.stats()["by_endpoint"].get("POST /upload", 0))


def requests_to(emulator: Emulator, endpoint: str) -> int:
    """How many requests an endpoint (`"METHOD /api/v2/..."`, keys as `{key}`) received."""
    return int(emulator.stats()["by_endpoint"].get(endpoint, 0))
