"""The refusals the emulated service makes, apart from HTTP.

The store and the endpoint helpers raise these; the API layer turns them into the wire format
(an HTTP status and message, or an upload's `"stat":"fail"` with its code).
"""

from __future__ import annotations


class ServiceError(Exception):
    """A refusal the API answers with an HTTP status (400, 404, 409...) and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class UploadRefused(Exception):
    """A refusal the upload endpoint answers with `"stat":"fail"` and a numeric code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# Upload fault codes. 5, 6, 63, 64 and 72 were seen on the real service; the others are this
# emulator's choices for failures whose real code is not known (docs/emulator.md lists them).
UPLOAD_SYSTEM_ERROR = 5
UPLOAD_EMPTY = 7
UPLOAD_INVALID_ALBUM = 9
UPLOAD_BAD_MD5 = 12
UPLOAD_TOO_LARGE = 14
UPLOAD_ALBUM_FULL = 63
UPLOAD_UNKNOWN_TYPE = 64
UPLOAD_VIDEO_TOO_SMALL = 72
