"""Every endpoint the emulator serves, as the service describes it in each reply from it and in
the `Uris` links that lead to it: `EndpointType`, `Locator`, `LocatorType`, `UriDescription`,
the methods with their parameters and permissions, the page sizes of lists.

The router (`api.py` and the modules that add routes) answers for these endpoints, and the record
views (`views.py`, `folders.py`) link to them, so a link and the endpoint it names always agree.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from smugfs.emulator import image_fields
from smugfs.emulator.wire import Endpoint, param

Parameters = tuple[dict[str, Any], ...]
# The owner may change and delete the object (`Permissions` of PATCH and DELETE).
OWNER_EDITS = {"PATCH": "Modify", "DELETE": "Modify"}


def endpoint(
    endpoint_type: str,
    locator: str,
    locator_type: str,
    description: str,
    *,
    writes: dict[str, str] | None = None,
    readable: bool = True,
    **details: Any,
) -> Endpoint:
    """An endpoint read by GET (unless not `readable`) and written by the methods of `writes`,
    each with the permission it takes; `details` are further `Endpoint` fields."""
    writes = writes or {}
    methods = (("GET",) if readable else ()) + tuple(writes)
    return Endpoint(
        endpoint_type,
        locator,
        locator_type,
        description,
        methods,
        permissions=dict(writes),
        **details,
    )


def uris_action(
    endpoint_type: str, locator: str, description: str, parameter: str, what: str
) -> Endpoint:
    """A POST that acts on the objects a comma-separated list of URIs names (moves, collections,
    deletes), owner only."""
    return endpoint(
        endpoint_type,
        locator,
        "Objects",
        description,
        readable=False,
        writes={"POST": "Modify"},
        parameters={"POST": (param(parameter, "Varchar", f"Comma-separated {what}"),)},
    )


def create_answer(
    answered: Endpoint, permission: str, parameters: Parameters | None = None
) -> Endpoint:
    """What a create answers as: the new object's endpoint, with the POST that made it."""
    return dataclasses.replace(
        answered,
        methods=("POST",),
        parameters={} if parameters is None else {"POST": parameters},
        permissions={"POST": permission},
    )


def required(entry: dict[str, Any]) -> dict[str, Any]:
    """A parameter entry marked as required."""
    return {**entry, "Required": True}


def _select(name: str, default: str, options: list[str], description: str = "") -> dict[str, Any]:
    return param(name, "Select", description, Default=default, OPTIONS=options)


_DIRECTIONS = ["Ascending", "Descending"]
CHILDREN_GET: Parameters = (
    param(
        "Type",
        "Select",
        "Only return nodes of this type",
        Default="All",
        OPTIONS=["All", "Folder", "Album", "Page", "System Album"],
        MIN_COUNT=1,
        MAX_COUNT="INFINITY",
    ),
    _select(
        "SortMethod",
        "Organizer",
        ["Organizer", "SortIndex", "DateAdded", "DateModified", "Name"],
        "Order of the nodes",
    ),
    _select("SortDirection", "Ascending", _DIRECTIONS),
)
CHILDREN_POST: Parameters = (
    param(
        "AutoRename",
        "Boolean",
        "Whether to generate a unique UrlName if it is taken",
        Default=False,
    ),
    param(
        "AlbumTemplateUri",
        "Uri",
        "Album settings to start from (albums only)",
        MAX_LENGTH="INFINITY",
        Locator=["AlbumTemplate"],
    ),
    param("Description", "Text", "", MIN_CHARS=0, MAX_CHARS=65535),
    param("Keywords", "Array", "", MIN_COUNT=0, MAX_COUNT="INFINITY"),
    required(param("Name", "Varchar", "", MIN_CHARS=1, MAX_CHARS=254)),
    _select("Privacy", "Unlisted", ["Public", "Unlisted", "Private"]),
    _select("SecurityType", "None", ["None", "Password", "GrantAccess"]),
    _select("SortDirection", "Descending", _DIRECTIONS),
    _select("SortMethod", "DateModified", ["SortIndex", "Name", "DateAdded", "DateModified"]),
    required(_select("Type", "Folder", ["Album", "Page", "Folder"])),
    param("UrlName", "Varchar", "Must start with a capital letter", MIN_CHARS=1, MAX_CHARS=60),
)
FILENAMES_GET: Parameters = (
    param(
        "FileNames",
        "Varchar",
        "A list of filenames (percent-encoded and comma-separated); if used, an image will only "
        "be included in the result set if its file name is in the list",
        Default="",
        MIN_CHARS=0,
        MAX_CHARS="INFINITY",
    ),
)
_IMAGE_PATCH = {"PATCH": image_fields.PATCH_PARAMETERS}

# ---------------------------------------------------------------------- users

E_AUTHUSER = endpoint("AuthUser", "User", "Object", "Currently authenticated user")
E_USER = endpoint("User", "User", "Object", "User By Nickname")
E_USER_ALBUMS = endpoint("UserAlbums", "Album", "Objects", "All of user's albums")
E_PATH_LOOKUP = endpoint(
    "UrlPathLookup", "Folder,Album,Page", "Object", "Lookup user's folder, album, or page by path"
)
E_PROFILE = endpoint("UserProfile", "UserProfile", "Object", "User's profile information")

# ---------------------------------------------------------------------- nodes

E_NODE = endpoint("Node", "Node", "Object", "Node with the given id.", writes=OWNER_EDITS)
E_CHILDREN = endpoint(
    "ChildNodes",
    "Node",
    "Objects",
    "Child nodes of the given node.",
    writes={"POST": "Add"},
    max_count=200,
    parameters={"GET": CHILDREN_GET, "POST": CHILDREN_POST},
)
E_NODE_CREATED = create_answer(E_NODE, "Add", CHILDREN_POST)
E_PARENTS = endpoint(
    "ParentNodes",
    "Node",
    "Objects",
    "Hierarchy of nodes from the given node (inclusive) to the root node.",
    # Recorded: `!parents?count=100` and `!parents` alike answer RequestedCount 7.
    max_count=7,
)
E_PARENT = endpoint("ParentNode", "Node", "Object", "Parent node of the given node.")
E_MOVE_NODES = uris_action(
    "MoveNodes", "Node", "Moves one or more nodes into a folder node", "MoveUris", "node URIs"
)

# ---------------------------------------------------------------------- albums

E_ALBUM = endpoint("Album", "Album", "Object", "Album by key", writes=OWNER_EDITS)
E_ALBUM_IMAGES = endpoint(
    "AlbumImages",
    "AlbumImage",
    "Objects",
    "Images from album",
    max_count=1000,
    parameters={"GET": FILENAMES_GET},
    default_count=100,
)
E_MOVE_IMAGES = uris_action(
    "MoveAlbumImages", "AlbumImage", "Move images into album", "MoveUris", "AlbumImage URIs"
)
E_COLLECT_IMAGES = uris_action(
    "CollectImages", "AlbumImage", "Collect images into album", "CollectUris", "image URIs"
)
E_DELETE_IMAGES = uris_action(
    "DeleteAlbumImages", "AlbumImage", "Delete images from album", "ImageUris", "image URIs"
)

# ---------------------------------------------------------------------- images

E_ALBUM_IMAGE = endpoint(
    "AlbumImage",
    "AlbumImage",
    "Object",
    "Image from album",
    writes=OWNER_EDITS,
    parameters=_IMAGE_PATCH,
)
E_IMAGE = endpoint(
    "Image", "Image", "Object", "Image by key", writes=OWNER_EDITS, parameters=_IMAGE_PATCH
)
E_METADATA = endpoint("ImageMetadata", "ImageMetadata", "Object", "Metadata for image")
E_SIZE_DETAILS = endpoint(
    "ImageSizeDetails", "ImageSizeDetails", "Object", "Detailed size information for image"
)
E_LARGEST_IMAGE = endpoint(
    "LargestImage", "LargestImage", "Object", "Largest size available for image"
)
E_LARGEST_VIDEO = endpoint(
    "LargestVideo", "LargestVideo", "Object", "Largest size available for video"
)
E_IMAGE_ALBUMS = endpoint("ImageAlbums", "Album", "Objects", "Albums the image is included in")
E_IMAGE_DOWNLOAD = endpoint("ImageDownload", "ImageDownload", "Object", "Download image")

# ---------------------------------------------------------------------- legacy folders

FOLDER_DESCRIPTION = "A folder or legacy (sub)category by UrlPath"
E_FOLDER = endpoint("Folder", "Folder", "Object", FOLDER_DESCRIPTION)
E_FOLDER_BY_ID = endpoint("FolderByID", "Folder", "Object", "Get folder by its ID")
E_FOLDERS = endpoint(
    "Folders", "Folder", "Objects", "Folders inside of the folder", writes={"POST": "Add"}
)
E_FOLDER_ALBUMS = endpoint(
    "FolderAlbums", "Album", "Objects", "Albums inside of the folder", writes={"POST": "Add"}
)
E_ALBUM_FROM_TEMPLATE = endpoint(
    "AlbumFromAlbumTemplate",
    "Album",
    "Object",
    "Create an album from an album template",
    readable=False,
    writes={"POST": "Add"},
)
E_PARENT_FOLDERS = endpoint(
    "ParentFolders",
    "Folder",
    "Objects",
    "The sequence of parent folders, from the given folder to the root",
)
E_PARENT_FOLDER = endpoint("ParentFolder", "Folder", "Object", "Parent folder")
E_ALBUM_LIST = endpoint("AlbumList", "AlbumList", "List", "List of user's albums")
E_FOLDER_CREATED = create_answer(E_FOLDER, "Add")
E_ALBUM_CREATED = create_answer(E_ALBUM, "Add")

# ---------------------------------------------------------------------- album templates

E_TEMPLATES = endpoint(
    "UserAlbumTemplates",
    "AlbumTemplate",
    "Objects",
    "User's album templates",
    writes={"POST": "Modify"},
)
E_TEMPLATE = endpoint("AlbumTemplate", "AlbumTemplate", "Object", "Album template")
E_TEMPLATE_CREATED = create_answer(E_TEMPLATE, "Modify")
