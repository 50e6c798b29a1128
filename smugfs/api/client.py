"""The SmugMug API v2 client: the endpoints the filesystem uses, over the HTTP layer.

`SmugMugClient` is what the rest of smugfs calls. It names the service's endpoints (nodes,
albums, images, moves) and hands the work to the layer's parts, each with one job:

- `transport.py`: connections, one attempt of a request, the table of answers worth another
  attempt, errors (`wire.py`: the connections themselves);
- `retry.py`: the one retry policy every loop of requests runs under;
- `paging.py`: the JSON envelope and lists page by page;
- `writes.py`: changes that must happen once although an answer can be lost;
- `media.py`: ranged and whole reads of media files;
- `upload.py`: uploads of staged files, landing exactly once.

Only `smugfs.errors` (and `RangeIgnored`) leave the layer: no httpx type or exception.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import trio

from smugfs.api.media import Media, RangeIgnored
from smugfs.api.models import RemoteImage, RemoteNode, count, timestamp, uri_of
from smugfs.api.paging import JsonApi, parsed, payload
from smugfs.api.transport import RequestStats, Transport, path_of
from smugfs.api.upload import IMAGE_FIELDS, Uploader, UploadSource
from smugfs.api.writes import post_once
from smugfs.config import Settings
from smugfs.errors import NotFound, ProtocolError, first_error

__all__ = ["RangeIgnored", "RequestStats", "SmugMugClient", "UploadSource", "moved_image_uri"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class SmugMugClient:
    """One account's view of the service."""

    def __init__(
        self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self._transport = Transport(settings, transport=transport)
        self._api = JsonApi(self._transport)
        self._media = Media(self._transport)
        uploader = Uploader(self._api, self.album_image)
        self.stats: RequestStats = self._transport.stats
        # The parts' own methods, under the names the filesystem calls.
        self.request_json = self._api.request_json
        self.list_all = self._api.list_all
        self.get_range = self._media.get_range
        self.stream_range = self._media.stream_range
        self.stream_range_into = self._media.stream_range_into
        self.stream_whole = self._media.stream_whole
        self.upload = uploader.upload
        self.landed_upload = uploader.landed_upload

    @property
    def offline(self) -> bool:
        """Whether the service was unreachable at the last attempt (and not probed since)."""
        return self._transport.offline

    async def aclose(self) -> None:
        """Close the connections."""
        await self._transport.aclose()

    def url(self, uri: str) -> str:
        """An absolute URL for an API URI (`/api/v2/...`) or an absolute one as given."""
        return self._transport.url(uri)

    async def post_once(
        self,
        uri: str,
        body: dict[str, Any],
        landed: Callable[[], Awaitable[T | None]],
        parse: Callable[[dict[str, Any]], T],
    ) -> T:
        """POST a change that must happen once (see `writes.py`)."""
        return await post_once(self._api, uri, body, landed, parse)

    # ------------------------------------------------------------------ the account

    async def root_node(self, user: str | None = None) -> RemoteNode:
        """The root folder of `user`, or of the token's owner."""
        if user is None:
            me = await self.request_json("GET", "/api/v2!authuser")
            obj = me.get("User") or {}
        else:
            found = await self.request_json("GET", f"/api/v2/user/{user}")
            obj = found.get("User") or {}
        node_uri = uri_of(obj, "Node")
        if not node_uri:
            raise ProtocolError("the user has no root node")
        node = await self.request_json("GET", node_uri)
        return RemoteNode.parse(payload(node, "Node"))

    async def node(self, uri: str) -> RemoteNode:
        """One node."""
        return RemoteNode.parse(payload(await self.request_json("GET", uri), "Node"))

    async def children(self, node: RemoteNode) -> list[RemoteNode]:
        """A folder's child nodes, in the owner's order."""
        assert node.children_uri is not None
        items = await self.list_all(node.children_uri, "Node", key="NodeID")
        return parsed(items, RemoteNode.parse)

    async def album_images(self, album_uri: str) -> list[RemoteImage]:
        """An album's images; videos get their largest rendition's URL and size."""
        items = await self.list_all(
            f"{album_uri}!images",
            "AlbumImage",
            params={"_filteruri": "Image,LargestVideo", "_filter": IMAGE_FIELDS},
            key="ImageKey",
        )
        images = parsed(items, RemoteImage.parse)
        videos = [i for i, image in enumerate(images) if image.is_video]
        if videos:

            async def complete(index: int) -> None:
                async with self._api.limit:
                    images[index] = await self.with_video(images[index])

            with first_error():
                async with trio.open_nursery() as nursery:
                    for index in videos:
                        nursery.start_soon(complete, index)
        return images

    async def with_video(self, image: RemoteImage) -> RemoteImage:
        """A video with its largest rendition filled in (unreadable if there is none yet)."""
        uri = image.largest_video_uri or f"{image.image_uri}!largestvideo"
        try:
            found = await self.request_json("GET", uri)
        except NotFound:
            log.info("video %s has no downloadable rendition yet", image.file_name)
            return image
        return image.with_video(found.get("LargestVideo") or {})

    async def album_image(self, uri: str) -> RemoteImage:
        """One image of an album, with a video's rendition filled in."""
        found = await self.request_json("GET", uri)
        image_payload = found.get("AlbumImage") or found.get("Image")
        if not isinstance(image_payload, dict):
            raise ProtocolError("reply without AlbumImage")
        image = RemoteImage.parse(image_payload)
        return await self.with_video(image) if image.is_video else image

    async def patch_image(self, image: RemoteImage, fields: dict[str, Any]) -> RemoteImage:
        """Change an image's descriptive fields (Title, Caption, KeywordArray, Hidden,
        Latitude, Longitude, Altitude); the image as the service now describes it."""
        patched = await self.request_json("PATCH", image.uri, json=fields)
        image_payload = patched.get("AlbumImage") or patched.get("Image")
        if not isinstance(image_payload, dict):
            raise ProtocolError("reply without AlbumImage")
        return image.described_as(RemoteImage.parse(image_payload))

    async def image_texts(self, image: RemoteImage) -> dict[str, str]:
        """An image's Title, Caption and Keywords (kept when it is re-uploaded)."""
        found = await self.request_json("GET", image.image_uri)
        image_payload = found.get("Image") or {}
        return {k: str(image_payload.get(k) or "") for k in ("Title", "Caption", "Keywords")}

    async def album_stamp(self, album_uri: str) -> tuple[str, float]:
        """What tells whether an album's images changed: its `ImagesLastUpdated` with its
        `ImageCount` (as one text), and that time in seconds since the epoch."""
        found = await self.request_json(
            "GET", album_uri, params={"_filter": "ImagesLastUpdated,ImageCount"}
        )
        album = found.get("Album") or {}
        stamp = album.get("ImagesLastUpdated")
        when = timestamp(stamp)
        if when is None:
            raise ProtocolError(f"{album_uri}: album without ImagesLastUpdated")
        return f"{stamp}|{album.get('ImageCount')}", when

    async def image_count(self, album_uri: str) -> int:
        """How many images an album holds, asked afresh."""
        found = await self.request_json("GET", album_uri)
        album = found.get("Album")
        images = count(album.get("ImageCount")) if isinstance(album, dict) else None
        if images is None:
            # Never guessed: a wrong zero would let rmdir delete an album with photos.
            raise ProtocolError(f"{album_uri}: the service did not say how many images it holds")
        return images

    # ------------------------------------------------------------------ changes

    async def create_node(self, parent: RemoteNode, name: str, type_: str) -> RemoteNode:
        """A new album or folder named `name` under the folder `parent` (UrlName derived by the
        service); made once, even when an answer is lost. The caller has checked that the
        folder holds no `name`, so one found there after a lost answer is the one it made."""
        assert parent.children_uri is not None

        async def landed() -> RemoteNode | None:
            for child in await self.children(parent):
                if child.name == name and child.type == type_:
                    return child
            return None

        return await self.post_once(
            parent.children_uri,
            {"Type": type_, "Name": name},
            landed,
            lambda reply: RemoteNode.parse(payload(reply, "Node")),
        )

    async def patch_node(self, node: RemoteNode, fields: dict[str, Any]) -> RemoteNode:
        """Change fields of a node (409 on a UrlName clash becomes AlreadyExists)."""
        patched = await self.request_json("PATCH", node.uri, json=fields)
        return RemoteNode.parse(payload(patched, "Node"))

    async def delete(self, uri: str) -> None:
        """DELETE an object; one already gone counts as deleted."""
        try:
            await self.request_json("DELETE", uri)
        except NotFound:
            log.info("%s was already gone", path_of(self.url(uri)))

    async def move_nodes(self, target: RemoteNode, nodes: list[RemoteNode]) -> None:
        """Move nodes into the folder `target` (`!movenodes`), once."""
        moving = {node.node_id for node in nodes}

        async def landed() -> bool | None:
            there = {child.node_id for child in await self.children(target)}
            return True if moving <= there else None

        await self.post_once(
            f"{target.uri}!movenodes",
            {"MoveUris": ",".join(n.uri for n in nodes)},
            landed,
            lambda reply: True,
        )

    async def move_images(self, album_uri: str, images: list[RemoteImage]) -> None:
        """Move images (by their AlbumImage URIs) into an album (`!moveimages`), once."""

        async def landed() -> bool | None:
            # Asked image by image: the album's listing may show a moved image late.
            for image in images:
                try:
                    await self.request_json("GET", moved_image_uri(album_uri, image))
                except NotFound:
                    return None
            return True

        await self.post_once(
            f"{album_uri}!moveimages",
            {"MoveUris": ",".join(i.uri for i in images)},
            landed,
            lambda reply: True,
        )


def moved_image_uri(album_uri: str, image: RemoteImage) -> str:
    """The AlbumImage URI an image has in `album_uri` after `!moveimages` (same key)."""
    return f"{album_uri}/image/{image.image_key}-{image.serial}"
