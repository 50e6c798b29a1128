"""The API's album and image endpoints: `album/{key}` and its `!images`, moves and
collections, `image/{key}` and its metadata, sizes, largest renditions and albums."""

from __future__ import annotations

import re

from smugfs.emulator.handling import AccessRules, Call, Outcome, file_names, uri_list
from smugfs.emulator.model import Album, Image
from smugfs.emulator.store import ServiceError


class AlbumImageEndpoints(AccessRules):
    """The handlers of albums and the images in them."""

    def album(self, call: Call, match: re.Match[str]) -> Outcome:
        """`album/{key}`."""
        return Outcome(obj=call.view.album(self._album(call, match["album"])))

    def patch_album(self, call: Call, match: re.Match[str]) -> Outcome:
        """PATCH `album/{key}` (e.g. `SortMethod`, `Name`)."""
        album = self._album(call, match["album"])
        self._require(call, self.store.album_node(album).owner, "Modify")
        return Outcome(obj=call.view.album(self.store.update_album(album, call.body)))

    def delete_album(self, call: Call, match: re.Match[str]) -> Outcome:
        """DELETE `album/{key}`: the album with its images."""
        album = self._album(call, match["album"])
        node = self.store.album_node(album)
        self._require(call, node.owner, "Modify")
        self.store.delete_node(node)
        return Outcome(with_options=True)

    def album_images(self, call: Call, match: re.Match[str]) -> Outcome:
        """`album/{key}!images`, optionally only the `FileNames` asked for."""
        album = self._album(call, match["album"])
        images = self.store.listed_images(album)
        if self._viewer(call) != self.store.album_node(album).owner:
            # Hidden photos are the owner's alone: other viewers' listings leave them out.
            images = [i for i in images if not i.hidden]
        names = file_names(call.query)
        if names is not None:
            images = [i for i in images if i.file_name in names]
        key = album.album_key
        return Outcome(items=images, render=lambda image: call.view.image(image, key))

    def _album_images_from(self, call: Call, uris: list[str]) -> list[tuple[Album, Image]]:
        """Resolve AlbumImage (or Image) URIs, all or nothing: a bad one is 400."""
        out = []
        seen: set[tuple[str, str]] = set()
        for uri in uris:
            found = re.fullmatch(r"/api/v2/(?:album/([^/!?]+)/)?image/([^/!?-]+)(?:-\d+)?", uri)
            image = self.store.images.get(found.group(2)) if found else None
            if found is None or image is None:
                raise ServiceError(400, f"Invalid image URI {uri}")
            album_key = found.group(1) or image.album_key
            album = self.store.albums.get(album_key)
            if album is None or image.image_key not in album.image_keys:
                raise ServiceError(400, f"Invalid image URI {uri}")
            self._require(call, self.store.album_node(album).owner, "Modify")
            # The same image named twice in one batch is one move, not a second one that
            # would find it gone.
            if (album.album_key, image.image_key) not in seen:
                seen.add((album.album_key, image.image_key))
                out.append((album, image))
        if not out:
            raise ServiceError(400, "No image URIs given")
        return out

    def move_images(self, call: Call, match: re.Match[str]) -> Outcome:
        """POST `album/{key}!moveimages` with `MoveUris`."""
        target = self._album(call, match["album"])
        self._require(call, self.store.album_node(target).owner, "Modify")
        pairs = self._album_images_from(call, uri_list(call.body.get("MoveUris")))
        moved = self.store.move_images(target, pairs)
        key = target.album_key
        return Outcome(items=moved, render=lambda i: call.view.image(i, key), with_options=True)

    def collect_images(self, call: Call, match: re.Match[str]) -> Outcome:
        """POST `album/{key}!collectimages` with `CollectUris`."""
        target = self._album(call, match["album"])
        self._require(call, self.store.album_node(target).owner, "Modify")
        pairs = self._album_images_from(call, uri_list(call.body.get("CollectUris")))
        collected = self.store.collect_images(target, [image for _, image in pairs])
        key = target.album_key
        return Outcome(items=collected, render=lambda i: call.view.image(i, key), with_options=True)

    def delete_images(self, call: Call, match: re.Match[str]) -> Outcome:
        """POST `album/{key}!deleteimages` with `ImageUris`."""
        album = self._album(call, match["album"])
        self._require(call, self.store.album_node(album).owner, "Modify")
        uris = uri_list(call.body.get("ImageUris"))
        images = [image for _, image in self._album_images_from(call, uris)]
        for image in images:
            self.store.remove_from_album(album, image)
        return Outcome(with_options=True)

    # ------------------------------------------------------------------ images

    def image(self, call: Call, match: re.Match[str]) -> Outcome:
        """`image/{key}-{serial}` or `album/{key}/image/{key}-{serial}`."""
        image, album_key = self._image(call, match)
        return Outcome(obj=call.view.image(image, album_key))

    def patch_image(self, call: Call, match: re.Match[str]) -> Outcome:
        """PATCH of an image: Title, Caption, Keywords, Hidden, GPS; FileName is ignored."""
        image, album_key = self._image(call, match)
        self._require(call, self.store.owner_of_image(image), "Modify")
        self.store.update_image(image, call.body)
        return Outcome(obj=call.view.image(image, album_key))

    def delete_image(self, call: Call, match: re.Match[str]) -> Outcome:
        """DELETE of an album image (or of the image itself)."""
        image, album_key = self._image(call, match)
        self._require(call, self.store.owner_of_image(image), "Modify")
        if album_key:
            self.store.remove_from_album(self.store.albums[album_key], image)
        else:
            self.store.delete_image(image)
        return Outcome(with_options=True)

    def image_metadata(self, call: Call, match: re.Match[str]) -> Outcome:
        """`image!metadata`."""
        return Outcome(obj=call.view.metadata(self._image(call, match)[0]))

    def image_size_details(self, call: Call, match: re.Match[str]) -> Outcome:
        """`image!sizedetails`."""
        return Outcome(obj=call.view.size_details(self._image(call, match)[0]))

    def image_largest(self, call: Call, match: re.Match[str]) -> Outcome:
        """`image!largestimage`."""
        return Outcome(obj=call.view.largest_image(self._image(call, match)[0]))

    def image_largest_video(self, call: Call, match: re.Match[str]) -> Outcome:
        """`image!largestvideo` (404 for a photo)."""
        image = self._image(call, match)[0]
        if not image.is_video:
            raise ServiceError(404, "Not Found")
        return Outcome(obj=call.view.largest_video(image))

    def image_albums(self, call: Call, match: re.Match[str]) -> Outcome:
        """`image!albums`: every album that shows the image."""
        image = self._image(call, match)[0]
        albums = [a for a in self.store.albums.values() if image.image_key in a.image_keys]
        return Outcome(items=albums, render=call.view.album)
