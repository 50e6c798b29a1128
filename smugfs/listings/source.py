"""A directory's listing as the service shows it, with the validator that tells later whether
it changed: the images of an album (with its `ImagesLastUpdated`), the folders and albums of a
folder (with its `DateModified`). What a filesystem cannot show is left out, logged once."""

from __future__ import annotations

import logging
import math

import trio

from smugfs.api.client import SmugMugClient
from smugfs.api.models import RemoteImage, RemoteNode
from smugfs.errors import first_error
from smugfs.names import Named, assign_names
from smugfs.tree import Child, Entry, image_identity, node_identity

log = logging.getLogger(__name__)


class ListingSource:
    """Fetches listings from the service and names their children."""

    def __init__(self, client: SmugMugClient) -> None:
        self.client = client
        self._skipped: set[str] = set()

    async def fetch(self, entry: Entry) -> tuple[list[Child], str, float]:
        """A directory's listing from the service, with its validator and the validator's
        time (an album's is asked for alongside its first page)."""
        node = entry.node
        assert node is not None
        children: list[Child] = []
        if node.is_album:
            assert node.album_uri is not None
            album_uri = node.album_uri
            found: list[RemoteImage] = []
            stamp: tuple[str, float] = ("", math.inf)

            async def list_images() -> None:
                found.extend(await self.client.album_images(album_uri))

            async def ask_stamp() -> None:
                nonlocal stamp
                stamp = await self.client.album_stamp(album_uri)

            with first_error():
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(list_images)
                    nursery.start_soon(ask_stamp)
            images = [i for i in found if self._readable(i)]
            names = assign_names(
                [Named(i.file_name, i.image_key, age=i.uploaded or 0.0) for i in images]
            )
            for name, image in zip(names, images, strict=True):
                identity = image_identity(node.node_id, image.image_key)
                children.append(Child(name, identity, None, image))
            return children, stamp[0], stamp[1]
        if node.is_folder:
            nodes = [n for n in await self.client.children(node) if self._shown(n)]
            names = assign_names(
                [
                    Named(n.name, n.node_id, age=n.date_added or 0.0, fallback=n.url_name)
                    for n in nodes
                ]
            )
            for name, child in zip(names, nodes, strict=True):
                children.append(Child(name, node_identity(child.node_id), child, None))
        validator, when = folder_validator(node)
        return children, validator, when

    def _shown(self, node: RemoteNode) -> bool:
        """Folders and albums are shown; pages and unknown types are left out (logged once)."""
        if node.is_folder or node.is_album:
            return True
        self._leave_out(
            node.node_id,
            "%r: a %s node is not a folder or album",
            node.name,
            node.type or "typeless",
        )
        return False

    def _readable(self, image: RemoteImage) -> bool:
        """Images whose bytes cannot be had (a video still processing, an original the account
        may not download) are left out (logged once), rather than shown as empty files."""
        if image.readable:
            return True
        self._leave_out(
            image.image_key,
            "%r: the service offers no downloadable file for it yet",
            image.file_name,
        )
        return False

    def _leave_out(self, key: str, why: str, *args: object) -> None:
        """Log once per node or image that it is left out of listings, and why."""
        if key not in self._skipped:
            self._skipped.add(key)
            log.info("leaving out " + why, *args)


def folder_validator(node: RemoteNode) -> tuple[str, float]:
    """A folder's validator: its `DateModified` (never trusted when the service gives none)."""
    if node.date_modified is None:
        return "", math.inf
    return repr(node.date_modified), node.date_modified
