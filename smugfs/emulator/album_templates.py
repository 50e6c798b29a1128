"""Album templates as records: their URIs and wire shape, and albums made from them.

`create_album` is the one way an album is made from a create request, through the folder
endpoints (`folders.py`) or POST `node!children` (`api.py`): the template named by
`AlbumTemplateUri`, if any, presets the album's privacy, password, downloads and sort order,
and the fields sent win over it.
"""

from __future__ import annotations

import re
from typing import Any

from smugfs.emulator.endpoints import E_USER
from smugfs.emulator.links import API, link, user_uri
from smugfs.emulator.model import ALBUM, AlbumTemplate, Node
from smugfs.emulator.store import ServiceError, Store

TEMPLATE_URI = re.compile(r"(?:https?://[^/]+)?/api/v2/albumtemplate/(?P<key>[^/!?]+)")
# The fields a template presets that belong to the album rather than to its node.
ALBUM_FIELDS = ("SortMethod", "SortDirection", "AllowDownloads")


def create_album(
    store: Store,
    parent: Node,
    fields: dict[str, Any],
    *,
    album_sort: bool,
    template_required: bool = False,
) -> Node:
    """A new album under `parent` from a create request's `fields`. `album_sort` says whether
    the request's `SortMethod`/`SortDirection` are the album's (the folder endpoints) or its
    node's (`node!children`). A bad field is 400 before anything is made."""
    preset: dict[str, Any] = {}
    uri = fields.get("AlbumTemplateUri")
    if uri:
        preset = album_settings(by_uri(store, str(uri), parent.owner))
    elif template_required:
        raise ServiceError(400, "AlbumTemplateUri is required")
    sent_to_album = ALBUM_FIELDS if album_sort else ("AllowDownloads",)
    album_fields = {k: v for k, v in preset.items() if k in ALBUM_FIELDS}
    album_fields.update({k: v for k, v in fields.items() if k in sent_to_album})
    node_fields = {k: v for k, v in preset.items() if k not in ALBUM_FIELDS}
    node_fields.update({k: v for k, v in fields.items() if k not in sent_to_album})
    album_fields = store.check_album_fields(album_fields)
    node = store.create_node_from(parent, ALBUM, node_fields)
    if album_fields:
        assert node.album_key is not None
        store.update_album(store.albums[node.album_key], album_fields)
    return node


def template_uri(template: AlbumTemplate) -> str:
    """The API URI of a template."""
    return f"{API}/albumtemplate/{template.key}"


def by_uri(store: Store, uri: str, owner: str) -> AlbumTemplate:
    """The template an `AlbumTemplateUri` names; 400 unless it is one of `owner`'s."""
    found = TEMPLATE_URI.fullmatch(uri.strip())
    template = store.album_templates.get(found["key"]) if found else None
    if template is None or template.owner != owner:
        raise ServiceError(400, f"Invalid AlbumTemplateUri {uri}")
    return template


def album_settings(template: AlbumTemplate) -> dict[str, Any]:
    """The album fields a template presets, as a create request would send them."""
    settings: dict[str, Any] = {
        "Privacy": template.privacy,
        "AllowDownloads": template.allow_downloads,
        "SortMethod": template.sort_method,
        "SortDirection": template.sort_direction,
    }
    if template.password:
        settings["Password"] = template.password
        settings["PasswordHint"] = template.password_hint
    return settings


def render(template: AlbumTemplate) -> dict[str, Any]:
    """A template record: the album settings it presets, under their album field names, and
    the fields a template has that this service keeps at their defaults."""
    return {
        "Name": template.name,
        "AllowDownloads": template.allow_downloads,
        "Backprinting": "",
        "BoutiquePackaging": "Inherit from User",
        "CanRank": True,
        "Clean": False,
        "Comments": True,
        "EXIF": True,
        "External": True,
        "FamilyEdit": False,
        "Filenames": False,
        "FriendEdit": False,
        "Geography": True,
        "Header": "SmugMug",
        "HideOwner": False,
        "InterceptShipping": "Inherit from User",
        "LargestSize": "Original",
        "PackagingBranding": True,
        "Password": template.password,
        "PasswordHint": template.password_hint,
        "Printable": True,
        "Privacy": template.privacy,
        "ProofDays": 0,
        "Protected": False,
        "Public": template.privacy == "Public",
        "Share": True,
        "SmugSearchable": "Inherit from User",
        "SortDirection": template.sort_direction,
        "SortMethod": template.sort_method,
        "SquareThumbs": True,
        "Watermark": False,
        "WorldSearchable": "Inherit from User",
        "Uri": template_uri(template),
        "UriDescription": "Album template",
        "Uris": {"User": link(user_uri(template.owner), E_USER)},
    }
