"""`image/{key}!download` (`Uris.ImageDownload` of an image): where to download the original.

The reply's `ImageDownload.Url` is the media URL of the original's exact bytes, the same as
`ArchivedUri`; for a video it is the MP4 rendition (`!largestvideo`), the only form of a video
the media server hands out, so that the bytes behind it match `ArchivedSize`/`ArchivedMD5`
either way. The link, like the `Archived*` fields, is shown only to those who may download the
original (the owner, or anyone when the album allows downloads); others get 403.
"""

from __future__ import annotations

import re

from smugfs.emulator.api import IMAGE_KEY, Api
from smugfs.emulator.endpoints import E_IMAGE_DOWNLOAD
from smugfs.emulator.handling import Call, Outcome, RouteSpec
from smugfs.emulator.links import API
from smugfs.emulator.store import ServiceError


def routes(api: Api) -> list[RouteSpec]:
    """The download endpoint for `Api`'s router."""

    def download(call: Call, match: re.Match[str]) -> Outcome:
        image = api._image(call, match)[0]
        view = call.view
        if not view.downloadable(image):
            raise ServiceError(403, "Downloads are not allowed for this image")
        return Outcome(
            obj={
                "Url": view.media_url(
                    image, "1920" if image.is_video else "D", video=image.is_video
                ),
                "Uri": f"{API}/image/{image.image_key}!download",
                "UriDescription": E_IMAGE_DOWNLOAD.description,
            }
        )

    return [(f"/image/{IMAGE_KEY}!download", E_IMAGE_DOWNLOAD, {"GET": download})]
