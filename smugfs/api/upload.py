"""Uploads of staged files, landing exactly once.

A file is streamed from its staged copy, signed without its body. A connection that breaks
after the body was sent, a gateway's 5xx or an unreadable reply may still have been applied, so
before sending again the album is asked whether the file landed (`landed_upload`). Texts that
an HTTP header cannot carry unchanged (non-ASCII, line breaks, `%`) are set afterwards with a
PATCH of the new image.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import trio

from smugfs.api.models import RemoteImage, count
from smugfs.api.paging import JsonApi, payload_list
from smugfs.api.retry import Retry
from smugfs.api.transport import json_object
from smugfs.api.wire import FileSpan, ShortFile, forget_stand_in, stand_in
from smugfs.errors import AccessDenied, NotFound, ProtocolError, ServiceUnavailable, UploadRefused

IMAGE_FIELDS = (
    "ImageKey,Serial,FileName,Format,IsVideo,ArchivedUri,ArchivedSize,ArchivedMD5,LastUpdated,"
    "DateTimeUploaded,Date,DateTimeOriginal,Processing,"
    "Title,Caption,KeywordArray,Keywords,Hidden,Latitude,Longitude,Altitude"
)
UPLOAD_CHUNK = 1024 * 1024
# Upload fault codes worth another attempt: a system error, an MD5 that did not survive the trip.
RETRYABLE_UPLOAD_CODES = frozenset({5, 12})


@dataclasses.dataclass(frozen=True)
class UploadSource:
    """A staged file to upload: where it is, its size and its MD5 (hex)."""

    path: Path
    size: int
    md5: str


class _FileBody(httpx.AsyncByteStream):
    """A staged file's bytes as a request body, a chunk at a time: on our own connections
    stand-ins that the connection replaces with the file's bytes, sent by `os.sendfile`
    (`wire.FileSpan`), otherwise read off the trio loop.

    An iterator object rather than an async generator: an upload cut off part way leaves it
    unfinished, and `aclose` (always called by the uploader) closes the file then.
    """

    def __init__(self, source: UploadSource, *, from_file: bool) -> None:
        self._source = source
        self._from_file = from_file
        self._fd: int | None = None
        self._offset = 0
        # The stand-in handed out last, and the span it stands for.
        self._held: tuple[bytes, FileSpan] | None = None

    def __aiter__(self) -> _FileBody:
        return self

    async def __anext__(self) -> bytes:
        source = self._source
        self._check_sent()
        if self._offset >= source.size:
            await self.aclose()
            raise StopAsyncIteration
        if self._fd is None:
            self._fd = await trio.to_thread.run_sync(os.open, source.path, os.O_RDONLY)
        size = min(UPLOAD_CHUNK, source.size - self._offset)
        if self._from_file:
            span = FileSpan(self._fd, self._offset, size)
            chunk = stand_in(span)
            self._held = (chunk, span)
        else:
            chunk = await trio.to_thread.run_sync(os.pread, self._fd, size, self._offset)
            if not chunk:
                await self.aclose()
                raise ProtocolError(f"{source.path} shrank while it was uploaded")
        self._offset += len(chunk)
        return chunk

    def _check_sent(self) -> None:
        """The stand-in handed out last went out as the file's bytes: anything else (a
        connection that sent the stand-in itself) ends the request, whose Content-MD5 then
        does not match what was sent either."""
        held, self._held = self._held, None
        if held is not None:
            forget_stand_in(held[0])
            if not held[1].sent:
                raise ProtocolError(f"{self._source.path}: a body chunk was not sent from it")

    async def aclose(self) -> None:
        if self._held is not None:
            forget_stand_in(self._held[0])
            self._held = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def header_safe(text: str) -> bool:
    """Whether a text travels unchanged in an upload header: printable ASCII without `%`
    (how the uploader decodes anything else is not known)."""
    return text.isascii() and text.isprintable() and "%" not in text


def _upload_fields(
    fields: dict[str, Any], *, replacing: bool
) -> tuple[dict[str, str], dict[str, Any]]:
    """Descriptive fields split into upload headers (`X-Smug-` + the name) and what must be
    PATCHed after the upload: texts a header cannot carry, and values that clear a field (no
    header clears one). A new photo needs no empty field sent, except an empty keyword list,
    which keeps the service from making keywords of the file name."""
    headers: dict[str, str] = {}
    patched: dict[str, Any] = {}
    for name, value in fields.items():
        if not isinstance(value, bool) and not value:
            if replacing or name == "KeywordArray":
                patched[name] = value
            continue
        header, text = name, str(value)
        if isinstance(value, list):
            header, text = "Keywords", "; ".join(str(v) for v in value)
        elif isinstance(value, bool):
            text = "true" if value else "false"
        if header_safe(text):
            headers[header] = text
        else:
            patched[name] = value
    return headers, patched


class Uploader:
    """Uploads into albums; `describe` reads one AlbumImage (for the landed check)."""

    def __init__(self, api: JsonApi, describe: Callable[[str], Awaitable[RemoteImage]]) -> None:
        self.api = api
        self.transport = api.transport
        self._describe = describe

    async def upload(
        self,
        album_uri: str,
        file_name: str,
        source: UploadSource,
        *,
        replace: RemoteImage | None = None,
        texts: dict[str, Any] | None = None,
    ) -> str:
        """Upload a staged file into an album (or over `replace`) with the given descriptive
        fields (`Title`, `Caption`, `Keywords` or `KeywordArray`, `Hidden`, `Latitude`,
        `Longitude`, `Altitude`, as a PATCH names them); returns the new AlbumImage URI once
        the service has confirmed it and taken the fields. Fields that an HTTP header cannot
        carry unchanged, and fields cleared over a replaced photo, are set afterwards with a
        PATCH of the new image, before this returns."""
        in_headers, patched = _upload_fields(texts or {}, replacing=replace is not None)
        stats = self.transport.stats
        # Counted for `smugfs status`: an upload is done once the service has confirmed it.
        stats.uploads_in_flight += 1
        try:
            uri = await self._upload(album_uri, file_name, source, replace, in_headers)
            if patched:
                await self.api.request_json("PATCH", uri, json=patched)
        except BaseException:
            stats.uploads_failed += 1
            raise
        else:
            stats.uploads_done += 1
        finally:
            stats.uploads_in_flight -= 1
        return uri

    async def _upload(
        self,
        album_uri: str,
        file_name: str,
        source: UploadSource,
        replace: RemoteImage | None,
        texts: dict[str, str],
    ) -> str:
        headers = {
            "X-Smug-AlbumUri": album_uri,
            # Percent-encoded unless it travels unchanged (the uploader undoes the encoding).
            "X-Smug-FileName": file_name if header_safe(file_name) else quote(file_name, safe=""),
            "X-Smug-ResponseType": "JSON",
            "X-Smug-Version": "v2",
            "Content-MD5": base64.b64encode(bytes.fromhex(source.md5)).decode(),
            "Content-Length": str(source.size),
            "Content-Type": "application/octet-stream",
        }
        if replace is not None:
            headers["X-Smug-ImageUri"] = replace.image_uri
        for name, value in texts.items():
            headers[f"X-Smug-{name}"] = value
        started = time.time()
        what = f"upload of {file_name}"

        async def attempt() -> str:
            body = _FileBody(source, from_file=self.transport.sends_files)
            try:
                response = await self.transport.exchange(
                    "POST",
                    self.transport.settings.upload_url,
                    what,
                    body=body,
                    headers=headers,
                    auth=self.transport.upload_signer,
                )
                uri = self._accepted(response, what)
            except ShortFile as exc:
                raise ProtocolError(f"{source.path} shrank while it was uploaded") from exc
            except Retry as exc:
                if not exc.applied:
                    raise
                landed = await self.landed_upload(album_uri, file_name, source, replace, started)
                if landed is not None:
                    return landed
                # It did not land: sending it again is safe.
                raise Retry(exc.why, wait=exc.wait, final=exc.final) from exc
            finally:
                await body.aclose()
            self.transport.stats.upload_bytes += source.size
            return uri

        return await self.transport.retrying(what, attempt, idempotent=False)

    @staticmethod
    def _accepted(response: httpx.Response, what: str) -> str:
        """The AlbumImage URI the uploader answered, or why not."""
        status = response.status_code
        if status in (401, 403):
            raise AccessDenied(f"{what}: HTTP {status}")
        if status >= 500:
            raise ServiceUnavailable(f"{what}: HTTP {status}")
        body = json_object(response)
        if body is None:
            raise Retry("malformed reply", applied=True, final=ProtocolError)
        if body.get("stat") == "ok":
            uri = (body.get("Image") or {}).get("AlbumImageUri")
            if not isinstance(uri, str):
                raise ProtocolError(f"{what}: reply without AlbumImageUri")
            return uri
        code = count(body.get("code")) or 0
        why = str(body.get("message") or "refused")
        if code in RETRYABLE_UPLOAD_CODES:
            raise Retry(why)
        raise UploadRefused(code, why)

    async def landed_upload(
        self,
        album_uri: str,
        file_name: str,
        source: UploadSource,
        replace: RemoteImage | None,
        started: float,
    ) -> str | None:
        """The AlbumImage URI of an upload (begun at `started`) that landed although its
        answer was lost, or None: the replaced photo now has the file's MD5, or the album
        holds the name with that MD5 (a video, re-encoded, by its name and upload time)."""
        try:
            if replace is not None:
                current = await self._describe(replace.uri)
                return current.uri if current.md5 == source.md5 else None
            found = await self.api.request_json(
                "GET",
                f"{album_uri}!images",
                params={
                    "FileNames": quote(file_name, safe=""),
                    "count": 100,
                    "_filter": IMAGE_FIELDS,
                },
            )
        except (NotFound, ServiceUnavailable, ProtocolError):
            return None
        for item in payload_list(found, "AlbumImage"):
            image = RemoteImage.parse(item)
            fresh = (image.uploaded or 0) >= started - 60
            if image.file_name == file_name and (
                image.md5 == source.md5 or (image.is_video and fresh)
            ):
                return image.uri
        return None
