"""The domain exceptions of the client and the one table that turns them into errno values.

Lower layers raise these; only the FUSE adapter (`fuse_ops.py`) converts them, through
`errno_of`, into the `FUSEError` the kernel sees. Messages never contain credentials.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator


class SmugfsError(Exception):
    """Anything that went wrong talking to the service or keeping the filesystem's rules."""

    errno = errno.EIO


class NotFound(SmugfsError):
    """The object does not exist (any more) on the service: 404."""

    errno = errno.ENOENT


class AccessDenied(SmugfsError):
    """The credentials do not allow this: 401/403."""

    errno = errno.EACCES


class AlreadyExists(SmugfsError):
    """A name is taken: 409."""

    errno = errno.EEXIST


class InvalidRequest(SmugfsError):
    """The service refused the request as malformed: 400."""

    errno = errno.EINVAL


class ServiceUnavailable(SmugfsError):
    """The service kept failing (5xx, 429, dropped connections) through every retry."""

    errno = errno.EIO


class Offline(ServiceUnavailable):
    """The service cannot be reached at all (connection refused or timed out): answered at
    once, without retries, until the next probe finds it back."""

    errno = errno.ENETUNREACH


class ProtocolError(SmugfsError):
    """The service answered something the client cannot parse."""

    errno = errno.EIO


class IntegrityError(SmugfsError):
    """Downloaded bytes do not match the size or MD5 the service states."""

    errno = errno.EIO


class NotEmpty(SmugfsError):
    """A directory that still holds something cannot be removed."""

    errno = errno.ENOTEMPTY


class NotPermitted(SmugfsError):
    """The service cannot represent this (a photo in a folder, a folder in an album with
    photos, a bookkeeping file of a desktop tool)."""

    errno = errno.EPERM


class TooDeep(SmugfsError):
    """Folders nest at most five deep on the service."""

    errno = errno.EMLINK


class NameTooLong(SmugfsError):
    """A new name is longer than a file name may be."""

    errno = errno.ENAMETOOLONG


class IsADirectory(SmugfsError):
    """A file operation on a directory."""

    errno = errno.EISDIR


class NotADirectory(SmugfsError):
    """A directory operation on a file."""

    errno = errno.ENOTDIR


class ReadOnly(SmugfsError):
    """A change on a read-only mount."""

    errno = errno.EROFS


class NoAttribute(SmugfsError):
    """An extended attribute the file does not have (or that is empty on the service)."""

    errno = errno.ENODATA


class UnsupportedAttribute(SmugfsError):
    """An extended attribute name the mount does not keep."""

    errno = errno.ENOTSUP


# Upload fault codes of the service and what a unix user sees for each.
UPLOAD_ERRNOS = {
    6: errno.EINVAL,  # a format the service refuses (BMP, TIFF, RAW without the add-on)
    7: errno.EINVAL,  # an empty file
    64: errno.EINVAL,  # an unknown file type
    72: errno.EINVAL,  # a video too small
    14: errno.EFBIG,  # over the size limit
    63: errno.ENOSPC,  # the album is full
    9: errno.ENOENT,  # the album is gone
    10: errno.ENOENT,  # the image to replace is gone
}


class UploadRefused(SmugfsError):
    """The service refused an upload (`"stat": "fail"` with a code)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"upload refused: {message} (code {code})")
        self.code = code
        self.errno = UPLOAD_ERRNOS.get(code, errno.EIO)


class MountError(SmugfsError):
    """Why a mount could not start, in one line for the user."""


class ConfigurationError(SmugfsError):
    """Missing or unusable settings or credentials (reported to the user in one line)."""


# Answers a unix user expects in the normal course of things: worth a debug line, not a warning.
EXPECTED = (
    NotFound,
    AlreadyExists,
    NotEmpty,
    NotPermitted,
    IsADirectory,
    NotADirectory,
    ReadOnly,
    TooDeep,
    NameTooLong,
    InvalidRequest,
    NoAttribute,
    UnsupportedAttribute,
)


def errno_of(exc: BaseException) -> int:
    """The errno a unix user expects for `exc` (EIO for anything unexpected)."""
    if isinstance(exc, SmugfsError):
        return exc.errno
    if isinstance(exc, OSError) and exc.errno:
        return exc.errno
    return errno.EIO


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            out.extend(_leaves(exc))
        else:
            out.append(exc)
    return out


@contextlib.contextmanager
def first_error() -> Iterator[None]:
    """Turn the exception group of concurrent work into its first error, so callers (and the
    errno table) see a NotFound as a NotFound. Groups holding anything that is not an
    `Exception` (a cancellation, KeyboardInterrupt) pass unchanged."""
    try:
        yield
    except BaseExceptionGroup as group:
        leaves = _leaves(group)
        if not all(isinstance(leaf, Exception) for leaf in leaves):
            raise
        chosen = next((leaf for leaf in leaves if isinstance(leaf, SmugfsError)), leaves[0])
        raise chosen from group
