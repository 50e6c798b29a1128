"""An upload's body sent from its staged file (`os.sendfile` on the client's own connections),
checked at the emulator: the photo lands with its bytes and MD5, a file cut short is an error
that lands nothing, and a refusal is the service's verdict as before.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from smugfs.api.client import SmugMugClient, UploadSource
from smugfs.config import from_environment
from smugfs.errors import ProtocolError, UploadRefused
from smugfs.testing.account import Account, uploads
from smugfs.testing.emulator import Emulator
from smugfs.testing.media import md5, photo, write

MIB = 1024 * 1024


@pytest.fixture
async def client(module_emulator: Emulator) -> AsyncIterator[SmugMugClient]:
    """The module emulator's owner, through the mount's own API client."""
    client = SmugMugClient(from_environment(module_emulator.env))
    try:
        yield client
    finally:
        await client.aclose()


async def test_a_camera_sized_photo_is_sent_from_its_file(
    client: SmugMugClient,
    module_account: Account,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every byte of the body goes through `os.sendfile`, and the service has the photo."""
    sent: list[int] = []
    real_sendfile = os.sendfile

    def counted(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        done = real_sendfile(out_fd, in_fd, offset, count)
        sent.append(done)
        return done

    monkeypatch.setattr(os, "sendfile", counted)
    album = module_account.create("From its file")
    data = photo(31, 12 * MIB + 12345)
    staged = write(tmp_path / "big.jpg", data)
    await client.upload(album, "big.jpg", UploadSource(staged, len(data), md5(data)))
    assert sum(sent) == len(data)
    (image,) = module_account.images(album)
    assert image["ArchivedMD5"] == md5(data)
    assert module_account.original(image) == data


async def test_a_staged_file_cut_short_is_an_error_and_lands_nothing(
    client: SmugMugClient, module_account: Account, module_emulator: Emulator, tmp_path: Path
) -> None:
    """The file ends before the length the upload announced: no photo, no second attempt."""
    album = module_account.create("Cut short")
    data = photo(32, 3 * MIB)
    staged = write(tmp_path / "short.jpg", data[: 2 * MIB])
    module_emulator.reset_stats()
    with pytest.raises(ProtocolError, match="shrank"):
        await client.upload(album, "short.jpg", UploadSource(staged, len(data), md5(data)))
    assert uploads(module_emulator) <= 1
    assert module_account.images(album) == []


async def test_a_file_that_is_not_a_photo_is_refused(
    client: SmugMugClient, module_account: Account, tmp_path: Path
) -> None:
    """The service's verdict on a text file named .jpg reaches the caller."""
    album = module_account.create("Refused")
    data = b"not a photo at all\n" * 1000
    staged = write(tmp_path / "notes.jpg", data)
    with pytest.raises(UploadRefused):
        await client.upload(album, "notes.jpg", UploadSource(staged, len(data), md5(data)))
    assert module_account.images(album) == []
