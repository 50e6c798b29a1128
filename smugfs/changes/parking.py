"""Photos renamed to a temporary name, kept on the service under the name they had.

An editor saving a photo often renames it to a backup name first, then writes a new file under
the old name. Renaming an uploaded photo would mean uploading it again, so instead the photo
stays on the service, *parked* under its old place (directory, name), and the renamed file is a
local copy of its bytes (`FileMoves`). A file then written under the old name replaces the photo
in place, same key and captions (`Writes.create`, or a local file renamed there); deleting the
copy while the photo is still parked deletes the photo (`FileMoves.unlink`).
"""

from __future__ import annotations

from smugfs.api.models import RemoteImage
from smugfs.staging import LocalFile


class Parked:
    """The parked photos, by the directory and name they had."""

    def __init__(self) -> None:
        self._photos: dict[tuple[int, str], RemoteImage] = {}

    def park(self, parent: int, name: str, image: RemoteImage) -> None:
        """`image`, called `name` in `parent`, is parked there."""
        self._photos[(parent, name)] = image

    def take(self, parent: int, name: str) -> RemoteImage | None:
        """The photo parked at this place, if any, which a file written there replaces (it is
        parked no more)."""
        return self._photos.pop((parent, name), None)

    def release(self, local: LocalFile) -> RemoteImage | None:
        """The photo a backup copy stands for, if it is still parked; it is parked no more
        (its copy is being deleted, and the photo with it)."""
        if local.parked is None:
            return None
        for place, image in self._photos.items():
            if image is local.parked:
                del self._photos[place]
                return image
        return None
