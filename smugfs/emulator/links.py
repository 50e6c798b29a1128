"""The API's URIs of records and the `Uris` entries that link to them.

A navigable link carries what its endpoint is (`Locator`, `LocatorType`, `UriDescription`,
`EndpointType`, from `endpoints.py`); an action link, POSTed to rather than fetched, carries no
`Locator`, as in the recorded responses.
"""

from __future__ import annotations

from typing import Any

from smugfs.emulator.endpoints import E_FOLDER, E_PARENT_FOLDERS
from smugfs.emulator.model import Image, Node
from smugfs.emulator.store import Store
from smugfs.emulator.wire import Endpoint

API = "/api/v2"


def link(uri: str, endpoint: Endpoint) -> dict[str, Any]:
    """A navigable `Uris` entry to `endpoint` at `uri`."""
    return endpoint.at(uri)


def action(uri: str, endpoint: Endpoint) -> dict[str, Any]:
    """An action `Uris` entry (no `Locator`: it is POSTed to, not fetched)."""
    return {
        "Uri": uri,
        "UriDescription": endpoint.description,
        "EndpointType": endpoint.endpoint_type,
    }


def user_uri(nick: str) -> str:
    """The API URI of a user."""
    return f"{API}/user/{nick}"


def node_uri(node_id: str) -> str:
    """The API URI of a node."""
    return f"{API}/node/{node_id}"


def album_uri(album_key: str) -> str:
    """The API URI of an album."""
    return f"{API}/album/{album_key}"


def image_uri(image: Image) -> str:
    """The API URI of an image, with its serial."""
    return f"{API}/image/{image.image_key}-{image.serial}"


def album_image_uri(album_key: str, image: Image) -> str:
    """The API URI of an image as shown in an album."""
    return f"{API}/album/{album_key}/image/{image.image_key}-{image.serial}"


def folder_id_uri(node_id: str) -> str:
    """The legacy folder API's URI of a folder node by its node ID."""
    return f"{API}/folder/id/{node_id}"


def folder_uri(store: Store, node: Node) -> str:
    """The legacy folder API's URI of a folder node: the owner's nickname and its UrlPath."""
    path = "" if node.parent_id is None else store.url_path(node)
    return f"{API}/folder/user/{node.owner}{path}"


def folder_link(store: Store, node: Node) -> dict[str, Any]:
    """The `Folder` entry of a user or album record: the legacy folder by its UrlPath."""
    return link(folder_uri(store, node), E_FOLDER)


def parent_folders_link(store: Store, node: Node) -> dict[str, Any]:
    """The `ParentFolders` entry of a record inside the folder `node` (recorded on albums and
    folders: the containing folder's `!parents`)."""
    return link(f"{folder_uri(store, node)}!parents", E_PARENT_FOLDERS)
