"""How an image looks on the wire: its record (as `Image` or as `AlbumImage`), `!metadata`,
and its renditions (`!sizedetails`, `!largestimage`, `!largestvideo`).

The `Archived*` fields, the original's size entry and the `ImageDownload` link are shown only to
those who may download the original (`Viewer.downloadable`).
"""

from __future__ import annotations

from typing import Any

from smugfs.emulator.endpoints import (
    E_ALBUM,
    E_IMAGE,
    E_IMAGE_ALBUMS,
    E_IMAGE_DOWNLOAD,
    E_LARGEST_IMAGE,
    E_LARGEST_VIDEO,
    E_METADATA,
    E_SIZE_DETAILS,
    E_USER,
)
from smugfs.emulator.links import API, album_image_uri, album_uri, image_uri, link, user_uri
from smugfs.emulator.model import Image
from smugfs.emulator.renditions import SIZES, listed_sizes, rendition_size
from smugfs.emulator.viewer import Viewer, html


def _rendition(url: str, width: int, height: int, **fields: Any) -> dict[str, Any]:
    """One rendition's entry: where it is, its pixel size, `fields`, and that it may be used."""
    return {
        "Url": url,
        "Width": width,
        "Height": height,
        **fields,
        "Usable": True,
        "Watermarked": False,
    }


class ImageViews(Viewer):
    """The image records and renditions, as the viewer sees them."""

    def image(self, image: Image, album_key: str | None = None) -> dict[str, Any]:
        """An image record; as an `AlbumImage` when `album_key` is given."""
        store = self.store
        owner = store.owner_of_image(image)
        uri = album_image_uri(album_key, image) if album_key else image_uri(image)
        stem = image.image_key
        out: dict[str, Any] = {
            "Altitude": image.altitude,
            "CanEdit": self.owns(owner),
            "CanBuy": False,
            "CanShare": True,
            "Caption": image.caption,
            "Collectable": True,
            "ComponentFileTypes": {
                ("Video" if image.is_video else "Image"): [image.format.lower()]
            },
            "Date": image.date_uploaded,
            "DateTimeUploaded": image.date_uploaded,
            "FileName": image.file_name,
            "Format": image.format,
            "FormattedValues": {
                "Caption": {"html": html(image.caption), "text": image.caption},
                "FileName": {"html": html(image.file_name), "text": image.file_name},
            },
            "Hidden": image.hidden,
            "ImageKey": stem,
            "IsArchive": False,
            "IsVideo": image.is_video,
            "KeywordArray": list(image.keywords),
            "Keywords": "; ".join(image.keywords),
            "LastUpdated": image.last_updated,
            "Latitude": f"{image.latitude:.14f}",
            "Longitude": f"{image.longitude:.14f}",
            "Movable": self.owns(owner),
            "OriginalHeight": image.height,
            "OriginalWidth": image.width,
            "OriginalSize": image.size,
            "PreferredDisplayFileExtension": "MP4" if image.is_video else image.format,
            "Processing": False,
            "Protected": False,
            "Serial": image.serial,
            "Status": "Open",
            "SubStatus": "NFS",
            "ThumbnailUrl": self.media_url(image, "Th"),
            "Title": image.title,
            "UploadKey": image.upload_key,
            "Watermarked": False,
            "Uri": uri,
            "UriDescription": "Image from album" if album_key else "Image by key",
            "WebUri": self.web(
                f"/{owner}{store.url_path(store.album_node(store.albums[image.album_key]))}"
                f"/i-{stem}"
            ),
        }
        if album_key:
            out["Origin"] = "Album" if album_key == image.album_key else "Collected"
        if image.date_time_original:
            out["DateTimeOriginal"] = image.date_time_original
        if self.downloadable(image):
            # A video's archive is its re-encoded MP4, which this URL does not serve: clients
            # download `!largestvideo` instead.
            out["ArchivedUri"] = self.media_url(image, "D")
            out["ArchivedSize"] = image.video_size if image.is_video else image.size
            out["ArchivedMD5"] = image.video_md5 if image.is_video else image.md5
        iuri = image_uri(image)
        uris: dict[str, Any] = {
            "Image": link(iuri, E_IMAGE),
            "ImageAlbum": link(album_uri(image.album_key), E_ALBUM),
            "ImageAlbums": link(f"{iuri}!albums", E_IMAGE_ALBUMS),
            "ImageOwner": link(user_uri(owner), E_USER),
            "ImageMetadata": link(f"{iuri}!metadata", E_METADATA),
            "ImageSizeDetails": link(f"{iuri}!sizedetails", E_SIZE_DETAILS),
            "LargestImage": link(f"{iuri}!largestimage", E_LARGEST_IMAGE),
        }
        if self.downloadable(image):
            # Recorded with the bare image key, unlike the other links of an image.
            uris["ImageDownload"] = link(
                f"{API}/image/{image.image_key}!download", E_IMAGE_DOWNLOAD
            )
        if album_key:
            uris["Album"] = link(album_uri(album_key), E_ALBUM)
        if image.is_video:
            uris["LargestVideo"] = link(f"{iuri}!largestvideo", E_LARGEST_VIDEO)
        out["Uris"] = uris
        return out

    def metadata(self, image: Image) -> dict[str, Any]:
        """`!metadata`: EXIF-like fields; dates without a zone, as the service sends them."""
        out: dict[str, Any] = dict(image.exif)
        modified = image.last_updated[:19]
        out.setdefault("DateTimeModified", modified)
        out.setdefault("DateTimeCreated", (image.date_time_original or image.date_uploaded)[:19])
        out["Uri"] = f"{image_uri(image)}!metadata"
        out["UriDescription"] = E_METADATA.description
        return out

    def _original_shown(self, image: Image) -> bool:
        """Whether the renditions list the original itself (never a video's upload)."""
        return self.downloadable(image) and not image.is_video

    def size_details(self, image: Image) -> dict[str, Any]:
        """`!sizedetails`: every rendition with its URL and pixel size."""
        out: dict[str, Any] = {}
        # A video's image sizes are its poster frame; its MP4 renditions follow.
        for code in listed_sizes(image.width, image.height):
            width, height = rendition_size(image.width, image.height, code)
            out[SIZES[code].name] = _rendition(
                self.media_url(image, code), width, height, Ext="jpg"
            )
        if self._original_shown(image):
            out["ImageSizeOriginal"] = _rendition(
                self.media_url(image, "D"),
                image.width,
                image.height,
                Ext=image.file_name.rpartition(".")[2].lower() or "jpg",
                Size=image.size,
                MD5=image.md5,
            )
        if image.is_video:
            out["VideoSize1920"] = self.largest_video(image)
        out["ImageUrlTemplate"] = self.media_url(image, "#size#")
        out["UsableSizes"] = [k for k in out if k.startswith(("ImageSize", "VideoSize"))]
        out["Uri"] = f"{image_uri(image)}!sizedetails"
        out["UriDescription"] = E_SIZE_DETAILS.description
        return out

    def largest_image(self, image: Image) -> dict[str, Any]:
        """`!largestimage`: the original where it may be downloaded, else the largest size."""
        if self._original_shown(image):
            out = _rendition(
                self.media_url(image, "D"),
                image.width,
                image.height,
                Size=image.size,
                MD5=image.md5,
            )
        else:
            largest = listed_sizes(image.width, image.height)[-1]
            width, height = rendition_size(image.width, image.height, largest)
            out = _rendition(self.media_url(image, largest), width, height)
        out["Uri"] = f"{image_uri(image)}!largestimage"
        out["UriDescription"] = E_LARGEST_IMAGE.description
        return out

    def largest_video(self, image: Image) -> dict[str, Any]:
        """`!largestvideo`: the re-encoded MP4 rendition with its exact size and MD5."""
        return {
            "Url": self.media_url(image, "1920", video=True),
            "Size": image.video_size,
            "MD5": image.video_md5,
            "Width": image.width,
            "Height": image.height,
            "Ext": "mp4",
            "Usable": True,
            "Watermarked": False,
            "Uri": f"{image_uri(image)}!largestvideo",
            "UriDescription": E_LARGEST_VIDEO.description,
        }
