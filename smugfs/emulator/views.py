"""How each record looks on the wire: users, nodes, albums, images and their `Uris` maps.

Every function returns the JSON object the real service sends for that record, shaped after the
recorded responses (field names, `Uris` entries with `Locator`/`LocatorType` for navigable links
and without them for action links, owner-only fields left out of public views). Absolute URLs
(`WebUri`, media URLs) are built on `View.base_url`, the address the client reached us at.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any
from urllib.parse import quote

from smugfs.emulator.model import ALBUM, FOLDER, Album, Image, Node, User
from smugfs.emulator.store import Store

API = "/api/v2"

# Renditions the media server makes on demand: size code -> the box it is fitted into (width,
# height), as the service's size table states them. Every code names a real URL segment.
SIZE_CODES: dict[str, tuple[int, int]] = {
    "Ti": (100, 100),
    "Th": (150, 150),
    "S": (400, 300),
    "M": (600, 450),
    "L": (800, 600),
    "XL": (1024, 768),
    "X2": (1280, 960),
    "X3": (1600, 1200),
    "X4": (2048, 1536),
    "X5": (2560, 1920),
    "4K": (3840, 2160),
    "5K": (5120, 2880),
}
SIZE_NAMES: dict[str, str] = {
    "Ti": "ImageSizeTiny",
    "Th": "ImageSizeThumb",
    "S": "ImageSizeSmall",
    "M": "ImageSizeMedium",
    "L": "ImageSizeLarge",
    "XL": "ImageSizeXLarge",
    "X2": "ImageSizeX2Large",
    "X3": "ImageSizeX3Large",
    "X4": "ImageSizeX4Large",
    "X5": "ImageSizeX5Large",
    "4K": "ImageSize4K",
    "5K": "ImageSize5K",
}
# Always listed, however small the original: what listings point at (`ThumbnailUrl`).
_ALWAYS_LISTED = ("Ti", "Th")


def link(uri: str, locator: str, locator_type: str, description: str, endpoint: str) -> Any:
    """A navigable `Uris` entry."""
    return {
        "Uri": uri,
        "Locator": locator,
        "LocatorType": locator_type,
        "UriDescription": description,
        "EndpointType": endpoint,
    }


def action(uri: str, description: str, endpoint: str) -> Any:
    """An action `Uris` entry (no `Locator`: it is POSTed to, not fetched)."""
    return {"Uri": uri, "UriDescription": description, "EndpointType": endpoint}


def user_uri(nick: str) -> str:
    """The API URI of a user."""
    return f"{API}/user/{nick}"


def node_uri(node_id: str) -> str:
    """The API URI of a node."""
    return f"{API}/node/{node_id}"


def album_uri(album_key: str) -> str:
    """The API URI of an album."""
    return f"{API}/album/{album_key}"


def folder_uri(store: Store, node: Node) -> str:
    """The legacy folder API's URI of a folder node: the owner's nickname and its UrlPath."""
    path = "" if node.parent_id is None else store.url_path(node)
    return f"{API}/folder/user/{node.owner}{path}"


def folder_link(store: Store, node: Node) -> Any:
    """The `Folder` entry of a user or album record: the legacy folder by its UrlPath."""
    return link(
        folder_uri(store, node),
        "Folder",
        "Object",
        "A folder or legacy (sub)category by UrlPath",
        "Folder",
    )


def parent_folders_link(store: Store, node: Node) -> Any:
    """The `ParentFolders` entry of a record inside the folder `node` (recorded on albums and
    folders: the containing folder's `!parents`)."""
    return link(
        f"{folder_uri(store, node)}!parents",
        "Folder",
        "Objects",
        "The sequence of parent folders, from the given folder to the root",
        "ParentFolders",
    )


def image_uri(image: Image) -> str:
    """The API URI of an image, with its serial."""
    return f"{API}/image/{image.image_key}-{image.serial}"


def album_image_uri(album_key: str, image: Image) -> str:
    """The API URI of an image as shown in an album."""
    return f"{API}/album/{album_key}/image/{image.image_key}-{image.serial}"


def media_token(blob: str, serial: int) -> str:
    """The hash segment of a media URL: changes whenever the bytes do."""
    return hashlib.sha1(f"{blob}/{serial}".encode()).hexdigest()[:10]


def rendition_size(width: int, height: int, box: tuple[int, int]) -> tuple[int, int]:
    """The pixel size of a rendition fitted into `box` (never enlarged): what `!sizedetails`
    states and exactly what the media server makes."""
    scale = min(1.0, box[0] / max(width, 1), box[1] / max(height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def listed_sizes(width: int, height: int) -> list[str]:
    """The size codes `!sizedetails` lists for an original of `width` x `height`: every size
    that scales it down, then the first one that would not (the original's own pixel size),
    so the largest rendition listed is as large as the original and none is enlarged."""
    codes: list[str] = []
    for code, box in SIZE_CODES.items():
        fitted = rendition_size(width, height, box)
        codes.append(code)
        if fitted == (width, height) and code not in _ALWAYS_LISTED:
            break
    return codes


@dataclasses.dataclass
class View:
    """Who is looking (the owner sees `Full` records, anyone else `Public` ones) and from where."""

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

    # ------------------------------------------------------------------ users

    def user(self, user: User) -> dict[str, Any]:
        """A user record (`user/{nick}`, `!authuser`)."""
        nick = user.nick
        base = user_uri(nick)
        out: dict[str, Any] = {
            "Domain": "",
            "DomainOnly": "",
            "FriendsView": False,
            "Name": user.name,
            "NickName": nick,
            "QuickShare": False,
            "RefTag": "",
            "SortBy": "LastUpdated",
            "ViewPassHint": "",
            "ViewPassword": "",
            "Uri": base,
            "UriDescription": "User By Nickname",
            "WebUri": self.web(f"/{nick}"),
            "ResponseLevel": self.level(nick),
        }
        if self.owns(nick):
            out.update(
                {
                    "AccountStatus": "Active",
                    "FirstName": user.first_name,
                    "LastName": user.last_name,
                    "ImageCount": sum(
                        1
                        for i in self.store.images.values()
                        if self.store.owner_of_image(i) == nick
                    ),
                    "IsTrial": False,
                    "Plan": "Power",
                }
            )
        uris: dict[str, Any] = {
            "Node": link(
                node_uri(user.root_node_id), "Node", "Object", "Node with the given id.", "Node"
            ),
            "UserAlbums": link(
                f"{base}!albums", "Album", "Objects", "All of user's albums", "UserAlbums"
            ),
            "UrlPathLookup": link(
                f"{base}!urlpathlookup",
                "Folder,Album,Page",
                "Object",
                "Lookup user's folder, album, or page by path",
                "UrlPathLookup",
            ),
            "UserProfile": link(
                f"{base}!profile",
                "UserProfile",
                "Object",
                "User's profile information",
                "UserProfile",
            ),
            "Folder": folder_link(self.store, self.store.nodes[user.root_node_id]),
        }
        if self.owns(nick):
            uris["UserAlbumTemplates"] = link(
                f"{base}!albumtemplates",
                "AlbumTemplate",
                "Objects",
                "User's album templates",
                "UserAlbumTemplates",
            )
        out["Uris"] = uris
        return out

    def profile(self, user: User) -> dict[str, Any]:
        """A user's profile (`!profile`)."""
        return {
            "DisplayName": user.name,
            "FirstName": user.first_name,
            "LastName": user.last_name,
            "BioText": "",
            "Uri": f"{user_uri(user.nick)}!profile",
            "UriDescription": "User's profile information",
            "Uris": {
                "User": link(user_uri(user.nick), "User", "Object", "User By Nickname", "User")
            },
        }

    # ------------------------------------------------------------------ nodes

    def node(self, node: Node) -> dict[str, Any]:
        """A node record (`node/{id}`, `!children` items, `!parents` items)."""
        store = self.store
        uri = node_uri(node.node_id)
        has_children = node.type == FOLDER and bool(node.children)
        out: dict[str, Any] = {
            "DateAdded": node.date_added,
            "DateModified": node.date_modified,
            "Description": node.description,
            "EffectiveSecurityType": node.security_type,
            "FormattedValues": {
                "Name": {"html": _html(node.name)},
                "Description": {"html": _html(node.description), "text": node.description},
            },
            "HasChildren": has_children,
            "IsRoot": node.parent_id is None,
            "Keywords": list(node.keywords),
            "Name": node.name,
            "NodeID": node.node_id,
            "PasswordHint": node.password_hint,
            "SecurityType": node.security_type,
            "ShowCoverImage": True,
            "SortDirection": node.sort_direction,
            "SortMethod": node.sort_method,
            "Type": node.type,
            "UrlName": node.url_name,
            "UrlPath": store.url_path(node),
            "Uri": uri,
            "WebUri": self.web(f"/{node.owner}" + store.url_path(node).rstrip("/")),
            "UriDescription": "Node with the given id.",
            "ResponseLevel": self.level(node.owner),
        }
        if node.parent_id is not None:
            out["SortIndex"] = node.sort_index
        if self.owns(node.owner):
            out.update(
                {
                    "Privacy": node.privacy,
                    "EffectivePrivacy": store.effective_privacy(node),
                    "SmugSearchable": "Inherit from User",
                    "WorldSearchable": "Inherit from User",
                    "HideOwner": False,
                }
            )
        uris: dict[str, Any] = {}
        if node.type == FOLDER:
            uris["FolderByID"] = link(
                f"{API}/folder/id/{node.node_id}",
                "Folder",
                "Object",
                "Get folder by its ID",
                "FolderByID",
            )
            uris["ChildNodes"] = link(
                f"{uri}!children",
                "Node",
                "Objects",
                "Child nodes of the given node.",
                "ChildNodes",
            )
            if self.owns(node.owner):
                uris["MoveNodes"] = action(
                    f"{uri}!movenodes", "Moves one or more nodes into a folder node", "MoveNodes"
                )
        if node.type == ALBUM and node.album_key:
            uris["Album"] = link(
                album_uri(node.album_key), "Album", "Object", "Album by key", "Album"
            )
        if node.parent_id is not None:
            uris["ParentNode"] = link(
                f"{uri}!parent", "Node", "Object", "Parent node of the given node.", "ParentNode"
            )
        uris["ParentNodes"] = link(
            f"{uri}!parents",
            "Node",
            "Objects",
            "Hierarchy of nodes from the given node (inclusive) to the root node.",
            "ParentNodes",
        )
        uris["User"] = link(user_uri(node.owner), "User", "Object", "User By Nickname", "User")
        out["Uris"] = uris
        return out

    # ------------------------------------------------------------------ albums

    def album(self, album: Album) -> dict[str, Any]:
        """An album record (`album/{key}`, `!albums` items)."""
        store = self.store
        node = store.album_node(album)
        uri = album_uri(album.album_key)
        out: dict[str, Any] = {
            "AlbumKey": album.album_key,
            "AllowDownloads": album.allow_downloads,
            "CanShare": True,
            "Description": node.description,
            "External": True,
            "HasDownloadPassword": False,
            "ImageCount": len(album.image_keys),
            "ImagesLastUpdated": album.images_last_updated,
            "Keywords": "; ".join(node.keywords),
            "LastUpdated": album.last_updated,
            "Name": node.name,
            "NiceName": node.url_name,
            "NodeID": node.node_id,
            "PasswordHint": node.password_hint,
            "Protected": False,
            "SecurityType": node.security_type,
            "SortDirection": album.sort_direction,
            "SortMethod": album.sort_method,
            "Title": node.name,
            "UrlName": node.url_name,
            "UrlPath": store.url_path(node),
            "Uri": uri,
            "UriDescription": "Album by key",
            "WebUri": self.web(f"/{node.owner}" + store.url_path(node)),
            "ResponseLevel": self.level(node.owner),
        }
        if self.owns(node.owner):
            sizes = sum(store.images[k].size for k in album.image_keys if k in store.images)
            out.update(
                {
                    # The album reports the privacy that applies, not its own setting.
                    "Privacy": store.effective_privacy(node),
                    "OriginalSizes": sizes,
                    "TotalSizes": sizes,
                }
            )
        uris: dict[str, Any] = {
            "AlbumImages": link(
                f"{uri}!images", "AlbumImage", "Objects", "Images from album", "AlbumImages"
            ),
            "Node": link(
                node_uri(node.node_id), "Node", "Object", "Node with the given id.", "Node"
            ),
            "User": link(user_uri(node.owner), "User", "Object", "User By Nickname", "User"),
        }
        if node.parent_id is not None:
            parent = store.nodes[node.parent_id]
            uris["Folder"] = folder_link(store, parent)
            uris["ParentFolders"] = parent_folders_link(store, parent)
        if self.owns(node.owner):
            uris["MoveAlbumImages"] = action(
                f"{uri}!moveimages", "Move images into album", "MoveAlbumImages"
            )
            uris["CollectImages"] = action(
                f"{uri}!collectimages", "Collect images into album", "CollectImages"
            )
            uris["DeleteAlbumImages"] = action(
                f"{uri}!deleteimages", "Delete images from album", "DeleteAlbumImages"
            )
        out["Uris"] = uris
        return out

    # ------------------------------------------------------------------ images

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
                "Caption": {"html": _html(image.caption), "text": image.caption},
                "FileName": {"html": _html(image.file_name), "text": image.file_name},
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
            if image.is_video:
                # A video's archive is its re-encoded MP4, which this URL does not serve:
                # clients download `!largestvideo` instead.
                out["ArchivedUri"] = self.media_url(image, "D")
                out["ArchivedSize"] = image.video_size
                out["ArchivedMD5"] = image.video_md5
            else:
                out["ArchivedUri"] = self.media_url(image, "D")
                out["ArchivedSize"] = image.size
                out["ArchivedMD5"] = image.md5
        iuri = image_uri(image)
        uris: dict[str, Any] = {
            "Image": link(iuri, "Image", "Object", "Image by key", "Image"),
            "ImageAlbum": link(
                album_uri(image.album_key), "Album", "Object", "Album by key", "Album"
            ),
            "ImageAlbums": link(
                f"{iuri}!albums",
                "Album",
                "Objects",
                "Albums the image is included in",
                "ImageAlbums",
            ),
            "ImageOwner": link(user_uri(owner), "User", "Object", "User By Nickname", "User"),
            "ImageMetadata": link(
                f"{iuri}!metadata",
                "ImageMetadata",
                "Object",
                "Metadata for image",
                "ImageMetadata",
            ),
            "ImageSizeDetails": link(
                f"{iuri}!sizedetails",
                "ImageSizeDetails",
                "Object",
                "Detailed size information for image",
                "ImageSizeDetails",
            ),
            "LargestImage": link(
                f"{iuri}!largestimage",
                "LargestImage",
                "Object",
                "Largest size available for image",
                "LargestImage",
            ),
        }
        if self.downloadable(image):
            # Recorded with the bare image key, unlike the other links of an image.
            uris["ImageDownload"] = link(
                f"{API}/image/{image.image_key}!download",
                "ImageDownload",
                "Object",
                "Download image",
                "ImageDownload",
            )
        if album_key:
            uris["Album"] = link(album_uri(album_key), "Album", "Object", "Album by key", "Album")
        if image.is_video:
            uris["LargestVideo"] = link(
                f"{iuri}!largestvideo",
                "LargestVideo",
                "Object",
                "Largest size available for video",
                "LargestVideo",
            )
        out["Uris"] = uris
        return out

    def metadata(self, image: Image) -> dict[str, Any]:
        """`!metadata`: EXIF-like fields; dates without a zone, as the service sends them."""
        out: dict[str, Any] = dict(image.exif)
        modified = image.last_updated[:19]
        out.setdefault("DateTimeModified", modified)
        out.setdefault("DateTimeCreated", (image.date_time_original or image.date_uploaded)[:19])
        out["Uri"] = f"{image_uri(image)}!metadata"
        out["UriDescription"] = "Metadata for image"
        return out

    def size_details(self, image: Image) -> dict[str, Any]:
        """`!sizedetails`: every rendition with its URL and pixel size."""
        out: dict[str, Any] = {}
        # A video's image sizes are its poster frame; its MP4 renditions follow.
        for code in listed_sizes(image.width, image.height):
            width, height = rendition_size(image.width, image.height, SIZE_CODES[code])
            out[SIZE_NAMES[code]] = {
                "Url": self.media_url(image, code),
                "Width": width,
                "Height": height,
                "Ext": "jpg",
                "Usable": True,
                "Watermarked": False,
            }
        if self.downloadable(image) and not image.is_video:
            out["ImageSizeOriginal"] = {
                "Url": self.media_url(image, "D"),
                "Width": image.width,
                "Height": image.height,
                "Ext": image.file_name.rpartition(".")[2].lower() or "jpg",
                "Size": image.size,
                "MD5": image.md5,
                "Usable": True,
                "Watermarked": False,
            }
        if image.is_video:
            out["VideoSize1920"] = self.largest_video(image)
        out["ImageUrlTemplate"] = self.media_url(image, "#size#")
        out["UsableSizes"] = [k for k in out if k.startswith(("ImageSize", "VideoSize"))]
        out["Uri"] = f"{image_uri(image)}!sizedetails"
        out["UriDescription"] = "Detailed size information for image"
        return out

    def largest_image(self, image: Image) -> dict[str, Any]:
        """`!largestimage`: the original where it may be downloaded, else the largest size."""
        if self.downloadable(image) and not image.is_video:
            return {
                "Url": self.media_url(image, "D"),
                "Width": image.width,
                "Height": image.height,
                "Size": image.size,
                "MD5": image.md5,
                "Usable": True,
                "Watermarked": False,
                "Uri": f"{image_uri(image)}!largestimage",
                "UriDescription": "Largest size available for image",
            }
        largest = listed_sizes(image.width, image.height)[-1]
        width, height = rendition_size(image.width, image.height, SIZE_CODES[largest])
        return {
            "Url": self.media_url(image, largest),
            "Width": width,
            "Height": height,
            "Usable": True,
            "Watermarked": False,
            "Uri": f"{image_uri(image)}!largestimage",
            "UriDescription": "Largest size available for image",
        }

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
            "UriDescription": "Largest size available for video",
        }


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
