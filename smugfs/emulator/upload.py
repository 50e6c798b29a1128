"""The upload endpoint: raw bytes plus `X-Smug-*` headers in, an upload-style JSON reply out.

The real uploader answers in its own legacy format, not the v2 envelope, and reports refusals
as HTTP 200 with `"stat":"fail"` and a numeric code: a client that checks only the HTTP status
misses them. `Content-MD5` is accepted as hex or base64, `X-Smug-ImageUri` replaces an image in
place (same key, serial + 1), and several images may share a file name in one album.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from smugfs.emulator import image_fields
from smugfs.emulator import store as store_module
from smugfs.emulator.links import album_image_uri, image_uri
from smugfs.emulator.oauth import Principal
from smugfs.emulator.store import Store, UploadRefused, truthy
from smugfs.emulator.views import View

METHOD = "smugmug.images.upload"
UPLOAD_INVALID_IMAGE = 10
_ALBUM_URI = re.compile(r"(?:https?://[^/]+)?/api/v2/album/([^/!?]+)")
_IMAGE_URI = re.compile(r"(?:https?://[^/]+)?/api/v2/(?:album/[^/]+/)?image/([^/!?-]+)(?:-\d+)?")


def fail(code: int, message: str) -> dict[str, Any]:
    """An upload refusal body."""
    return {"stat": "fail", "method": METHOD, "code": code, "message": message}


def md5_matches(header: str, digest: bytes) -> bool:
    """Whether `Content-MD5` (hex or base64 of the digest) matches the body's MD5 digest."""
    text = header.strip()
    if re.fullmatch(r"[0-9a-fA-F]{32}", text):
        return text.lower() == digest.hex()
    try:
        return base64.b64decode(text, validate=True) == digest
    except (binascii.Error, ValueError):
        return False


def upload(
    store: Store,
    view: View,
    principal: Principal,
    headers: Mapping[str, str],
    data: bytes,
    *,
    path_name: str = "",
    part_name: str = "",
) -> dict[str, Any]:
    """Handle one upload; returns the reply body (HTTP 200 whether it worked or not)."""
    for required in ("X-Smug-Version", "X-Smug-ResponseType"):
        if not headers.get(required):
            return fail(store_module.UPLOAD_SYSTEM_ERROR, f"missing {required} header")
    album_match = _ALBUM_URI.fullmatch(headers.get("X-Smug-AlbumUri", "").strip())
    album = store.albums.get(album_match.group(1)) if album_match else None
    if album is None:
        return fail(store_module.UPLOAD_INVALID_ALBUM, "invalid album")
    owner = store.album_node(album).owner
    if principal.nick != owner or principal.access != "Full":
        return fail(store_module.UPLOAD_INVALID_ALBUM, "invalid album (not yours)")
    if not principal.may("Add"):
        return fail(
            store_module.UPLOAD_SYSTEM_ERROR, "The user has not granted the required permissions"
        )
    # Computed once: the blob is named by it too.
    digest = hashlib.md5(data).digest()
    content_md5 = headers.get("Content-MD5")
    if content_md5 and not md5_matches(content_md5, digest):
        return fail(store_module.UPLOAD_BAD_MD5, "MD5 sum mismatch")
    replace = None
    if headers.get("X-Smug-ImageUri"):
        image_match = _IMAGE_URI.fullmatch(headers["X-Smug-ImageUri"].strip())
        replace = store.images.get(image_match.group(1)) if image_match else None
        if replace is None or replace.image_key not in album.image_keys:
            return fail(UPLOAD_INVALID_IMAGE, "invalid image to replace")
    file_name = headers.get("X-Smug-FileName", "") or part_name or path_name
    if "%" in file_name:
        file_name = unquote(file_name)
    if not file_name:
        file_name = replace.file_name if replace else "upload"
    fields = sent_fields(headers)
    if replace is None and "keywords" not in fields:
        # A new image whose upload names no keywords gets keywords made from its file name.
        fields["keywords"] = image_fields.keywords_from_file_name(file_name)
    try:
        image = store.add_image(
            album,
            data,
            md5=digest.hex(),
            file_name=file_name,
            replace=replace,
            fields=fields,
        )
    except UploadRefused as exc:
        return fail(exc.code, exc.message)
    node = store.album_node(album)
    return {
        "stat": "ok",
        "method": METHOD,
        "Image": {
            "StatusImageReplaceUri": None,
            "ImageUri": image_uri(image),
            "AlbumImageUri": album_image_uri(album.album_key, image),
            "URL": view.web(f"/{owner}{store.url_path(node)}/n-{node.node_id}/i-{image.image_key}"),
        },
        "Asset": {
            "AssetComponentUri": f"/api/v2/library/asset/{image.image_key}/component/i/"
            f"{image.image_key}",
            "AssetUri": f"/api/v2/library/asset/{image.image_key}",
        },
    }


def sent_fields(headers: Mapping[str, str]) -> dict[str, Any]:
    """The image fields an upload's headers set, by the image's attribute names."""
    fields: dict[str, Any] = {}
    for header, (attr, read) in FIELD_HEADERS.items():
        text = headers.get(header)
        value = None if text is None else read(text)
        if value is not None:
            fields[attr] = value
    return fields


def _text(value: str) -> str:
    return unquote(value) if "%" in value else value


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _whole(value: str) -> int | None:
    number = _number(value)
    return int(number) if number is not None and math.isfinite(number) else None


# The image fields an upload may set, by header: the image's attribute and how the header's text
# reads (None: a value that is ignored).
FIELD_HEADERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "X-Smug-Title": ("title", _text),
    "X-Smug-Caption": ("caption", _text),
    "X-Smug-Keywords": ("keywords", image_fields.keywords_of_string),
    "X-Smug-Hidden": ("hidden", truthy),
    "X-Smug-Latitude": ("latitude", _number),
    "X-Smug-Longitude": ("longitude", _number),
    "X-Smug-Altitude": ("altitude", _whole),
}
