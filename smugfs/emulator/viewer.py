"""Who is looking at the records and from where: what every record view is built on.

The owner sees `Full` records, anyone else `Public` ones; absolute URLs (`WebUri`, media URLs)
are built on `base_url`, the address the client reached us at.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import quote

from smugfs.emulator.model import Image
from smugfs.emulator.renditions import media_token
from smugfs.emulator.store import Store


@dataclasses.dataclass
class Viewer:
    """The viewer (None when anonymous), the store they look at, and the address they used."""

    store: Store
    base_url: str
    viewer: str | None = None

    def owns(self, nick: str) -> bool:
        """Whether the viewer is the owner of `nick`'s records."""
        return self.viewer == nick

    def level(self, nick: str) -> str:
        """The `ResponseLevel` of a record owned by `nick`."""
        return "Full" if self.owns(nick) else "Public"

    def web(self, path: str) -> str:
        """The site URL of a path in the owner's site."""
        return self.base_url + quote(path, safe="/-_.~")

    def media_url(self, image: Image, size_code: str, *, video: bool = False) -> str:
        """The media URL of an image's rendition `size_code` (`D` is the original)."""
        node = self.store.album_node(self.store.albums[image.album_key])
        blob = image.video_blob if video and image.video_blob else image.blob
        stem, _, ext = image.file_name.rpartition(".")
        if video:
            ext = "mp4"
        elif size_code != "D":
            ext = "jpg"
        name = f"{stem or image.file_name}-{size_code}.{(ext or 'jpg').lower()}"
        path = (
            f"/photos{self.store.url_path(node).rstrip('/')}/i-{image.image_key}/{image.serial}/"
            f"{media_token(blob, image.serial)}/{size_code}/{quote(name, safe='')}"
        )
        return self.base_url + path

    def downloadable(self, image: Image) -> bool:
        """Whether the viewer may download the original (Archived* fields shown)."""
        album = self.store.albums[image.album_key]
        return self.owns(self.store.owner_of_image(image)) or album.allow_downloads


def html(text: str) -> str:
    """Text as the `html` form of `FormattedValues` shows it."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
