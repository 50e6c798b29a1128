"""Images in the emulated store's albums: uploads stored or replacing an image, PATCH,
deletion with every collected copy, moves and collections, and the `!images` listing with its
eventual-consistency delay."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping
from typing import Any

from smugfs.emulator import image_fields, media_kinds, naming
from smugfs.emulator.model import Album, Image
from smugfs.emulator.node_tree import NodeTree
from smugfs.emulator.refusals import (
    UPLOAD_ALBUM_FULL,
    UPLOAD_EMPTY,
    UPLOAD_TOO_LARGE,
    UPLOAD_UNKNOWN_TYPE,
    ServiceError,
    UploadRefused,
)
from smugfs.emulator.rules import ALBUM_CAPACITY, MAX_PHOTO_BYTES, MAX_VIDEO_BYTES
from smugfs.emulator.tables import Tombstone


class AlbumImages(NodeTree):
    """Adds, changes, lists, moves and deletes the images of albums."""

    def listed_images(self, album: Album) -> list[Image]:
        """The images an `!images` listing shows now, in the album's order.

        With a listing delay set, new images appear only once it has passed and deleted ones
        linger until it has, as on the real service.
        """
        clock = time.monotonic()
        visible = album.image_keys
        if self.visible_at:
            visible = [k for k in visible if self.visible_at.get(k, 0.0) <= clock]
        shown = self.images.many(visible, album.album_key)
        self.tombstones = [t for t in self.tombstones if t.until > clock]
        shown.extend(t.image for t in self.tombstones if t.album_key == album.album_key)
        keys: dict[str, Any] = {
            "Caption": lambda i: i.caption.lower(),
            "Filename": lambda i: i.file_name.lower(),
            "Date Uploaded": lambda i: i.date_uploaded,
            "Date Modified": lambda i: i.last_updated,
            "Date Taken": lambda i: i.date_time_original or i.date_uploaded,
        }
        if album.sort_method in keys:
            shown.sort(key=keys[album.sort_method])
        if album.sort_direction == "Descending":
            shown.reverse()
        return shown

    def add_image(
        self,
        album: Album,
        data: bytes,
        *,
        file_name: str,
        md5: str | None = None,
        replace: Image | None = None,
        fields: Mapping[str, Any] | None = None,
        stamp: str | None = None,
    ) -> Image:
        """Store an upload in `album`, or replace `replace` in place; refusals are faults.
        `md5` is the body's MD5 (hex) when the caller has computed it already. `fields` are the
        descriptive fields sent with it (`title`, `caption`, `keywords`, `hidden`, `latitude`,
        `longitude`, `altitude`): only those change, a replacement keeps the others."""
        if not data:
            raise UploadRefused(UPLOAD_EMPTY, "empty file")
        fmt = media_kinds.sniff_format(data)
        refusal = media_kinds.refusal(fmt)
        if refusal is not None or fmt is None:
            code, message = refusal or (UPLOAD_UNKNOWN_TYPE, "unknown file type")
            raise UploadRefused(code, message)
        is_video = media_kinds.is_video(fmt)
        limit = MAX_VIDEO_BYTES if is_video else MAX_PHOTO_BYTES
        if len(data) > limit:
            raise UploadRefused(UPLOAD_TOO_LARGE, "file too large")
        if replace is None and len(album.image_keys) >= ALBUM_CAPACITY:
            raise UploadRefused(UPLOAD_ALBUM_FULL, "album full")
        taken = media_kinds.exif_datetime_original(data) if not is_video else None
        if fmt == "HEIC":
            # The service keeps HEIC photos only as JPEG, renamed NAME.JPG.
            data = media_kinds.heic_to_jpeg(data)
            md5 = None
            fmt = "JPG"
            file_name = os.path.splitext(file_name)[0] + ".JPG"
        blob, size = self.put_blob(data, md5)
        stamp = stamp or naming.iso(naming.now())
        # What the bytes decide, the same for a new image and a replacement.
        media: dict[str, Any] = {
            "format": fmt,
            "is_video": is_video,
            "blob": blob,
            "size": size,
            "md5": blob,
            "last_updated": stamp,
            "exif": media_kinds.video_summary(data) if is_video else media_kinds.exif_summary(data),
        }
        media["width"], media["height"] = media_kinds.image_dimensions(data)
        if is_video:
            # Videos are re-encoded: what can be downloaded is a different MP4.
            video_blob, video_size = self.put_blob(media_kinds.video_rendition(data))
            media.update(video_blob=video_blob, video_size=video_size, video_md5=video_blob)
            media["format"] = "MP4"
        else:
            media.update(video_blob=None, video_size=0, video_md5="")
        # The service reads EXIF local time as if it were UTC.
        original = f"{media_kinds.exif_date_as_iso(taken)}+00:00" if taken else None
        if replace is not None:
            image = replace
            image.serial += 1
            for attr, value in media.items():
                setattr(image, attr, value)
            image.date_time_original = original or image.date_time_original
        else:
            image = Image(
                image_key=self.new_key(naming.IMAGE_KEY_LENGTH, self.images),
                album_key=album.album_key,
                serial=0,
                file_name=file_name,
                date_uploaded=stamp,
                upload_key=self.new_digits(10),
                date_time_original=original,
                **media,
            )
            self.images[image.image_key] = image
            album.image_keys.append(image.image_key)
            if self.listing_delay > 0:
                self.visible_at[image.image_key] = time.monotonic() + self.listing_delay
        # Only the fields the upload sent change; a replacement keeps the others.
        for attr, value in (fields or {}).items():
            setattr(image, attr, value)
        self._touch_album(self.albums[image.album_key], stamp)
        return image

    def update_image(self, image: Image, fields: dict[str, Any]) -> Image:
        """PATCH of an image (see `image_fields`): every value is checked before any is
        applied, so a bad one is 400 and changes nothing. `FileName` is accepted and ignored,
        as on the real service."""
        try:
            values = image_fields.patch_values(fields)
        except image_fields.BadField as exc:
            raise ServiceError(400, str(exc)) from None
        for attr, value in values.items():
            setattr(image, attr, value)
        image.last_updated = naming.iso(naming.now())
        self._touch_album(self.albums[image.album_key], image.last_updated)
        return image

    def remove_from_album(self, album: Album, image: Image) -> None:
        """DELETE of an album image: the image itself when this is its own album (with every
        collected copy), only the collected copy otherwise."""
        if image.image_key not in album.image_keys:
            raise ServiceError(404, "Not Found")
        if image.album_key == album.album_key:
            self._delete_image(image)
        else:
            album.image_keys.remove(image.image_key)
            self._linger(image, album)
            self._touch_album(album)

    def delete_image(self, image: Image) -> None:
        """DELETE of an image: gone from its album and every album it was collected into."""
        self._delete_image(image)

    def _delete_image(self, image: Image) -> None:
        for album in self.albums.values():
            if image.image_key in album.image_keys:
                album.image_keys.remove(image.image_key)
                self._linger(image, album)
                self._touch_album(album)
        self.images.pop(image.image_key, None)
        self.visible_at.pop(image.image_key, None)
        self.dirty = True

    def _linger(self, image: Image, album: Album) -> None:
        if self.listing_delay > 0:
            until = time.monotonic() + self.listing_delay
            self.tombstones.append(Tombstone(dataclasses.replace(image), album.album_key, until))

    def move_images(self, target: Album, images: list[tuple[Album, Image]]) -> list[Image]:
        """`!moveimages`: the images leave their albums for `target`, all or nothing."""
        stamp = naming.iso(naming.now())
        for source, image in images:
            if source is target:
                continue
            source.image_keys.remove(image.image_key)
            if image.image_key not in target.image_keys:
                target.image_keys.append(image.image_key)
            if image.album_key == source.album_key:
                image.album_key = target.album_key
            image.last_updated = stamp
            self._touch_album(source, stamp)
        self._touch_album(target, stamp)
        return [image for _, image in images]

    def collect_images(self, target: Album, images: list[Image]) -> list[Image]:
        """`!collectimages`: the images also appear in `target` (a no-op where they already do)."""
        for image in images:
            if image.image_key not in target.image_keys:
                target.image_keys.append(image.image_key)
        self._touch_album(target)
        return images

    def _touch_album(self, album: Album, stamp: str | None = None) -> None:
        stamp = stamp or naming.iso(naming.now())
        album.last_updated = stamp
        album.images_last_updated = stamp
        self.touch(self.album_node(album), stamp)
