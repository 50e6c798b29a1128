"""The filesystem core while the service is down, in-process without FUSE: what was listed and
read stays usable, the rest fails at once with `Offline` (ENETUNREACH), a change is refused
without leaving half of it behind, and a core started while the service is down shows the
listings saved earlier.

Each test stops its own emulator process and starts it again on the same port and data
directory; trio's clock is moved on past listing TTLs and the client's probe interval instead
of sleeping.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import trio
import trio.testing

from smugfs.api.transport import OFFLINE_PROBE
from smugfs.config import Settings
from smugfs.errors import Offline
from smugfs.testing.account import Account
from smugfs.testing.core import core_settings, names, on_service, read_all, resolve, running_core
from smugfs.testing.emulator import Emulator, restart
from smugfs.testing.media import photo
from smugfs.tree import ROOT_INODE

TTL = 30.0
# Everything that can be answered without the service is answered well within this.
FAST = 2.0


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """Trio's clock at the wall clock's pace, which a test can move on without waiting."""
    return trio.testing.MockClock(rate=1.0)


def _library(emulator: Emulator) -> dict[str, bytes]:
    """Albums `Seen` and `Other` with photos, folder `Unseen` with album `Deep` holding one
    (listing ahead of a walk from the root lists folders below it, not their albums)."""
    account = Account(emulator)
    try:
        photos = {"Seen/a.jpg": photo(20, 150_000), "Seen/b.jpg": photo(21, 10_000)}
        seen = account.create("Seen")
        for path, data in photos.items():
            account.upload(seen, path.split("/")[1], data)
        photos["Other/c.jpg"] = photo(23, 10_000)
        account.upload(account.create("Other"), "c.jpg", photos["Other/c.jpg"])
        deep = account.create("Deep", parent_uri=account.create("Unseen", "Folder"))
        photos["Unseen/Deep/d.jpg"] = photo(22, 10_000)
        account.upload(deep, "d.jpg", photos["Unseen/Deep/d.jpg"])
        return photos
    finally:
        account.close()


def _settings(emulator: Emulator, tmp_path: Path) -> Settings:
    return core_settings(emulator, tmp_path / "cache")


async def test_what_was_listed_and_read_stays_usable_and_the_rest_fails_at_once(
    restartable: list[Emulator], tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    photos = _library(restartable[0])
    async with running_core(_settings(restartable[0], tmp_path)) as core:
        fs = core.fs
        assert await names(fs, "") == ["Seen", "Other", "Unseen"]
        assert await names(fs, "Seen") == ["a.jpg", "b.jpg"]
        a = (await resolve(fs, "Seen/a.jpg")).inode
        assert await read_all(fs, a) == photos["Seen/a.jpg"]
        # Looked up, never listed or read.
        deep = (await resolve(fs, "Unseen/Deep")).inode
        c = (await resolve(fs, "Other/c.jpg")).inode

        restartable[-1].stop()
        clock.jump(TTL + 1)
        with trio.fail_after(FAST):
            assert await names(fs, "Seen") == ["a.jpg", "b.jpg"]
            assert await read_all(fs, a) == photos["Seen/a.jpg"]
        assert core.client.offline
        for _ in range(3):
            with trio.fail_after(FAST):
                with pytest.raises(Offline):
                    await fs.list_dir(deep)
                with pytest.raises(Offline):
                    await read_all(fs, c)
                with pytest.raises(Offline):
                    await fs.changes.mkdir(ROOT_INODE, "Offline Album")
        assert await names(fs, "") == ["Seen", "Other", "Unseen"]

        emulator = restart(restartable)
        clock.jump(OFFLINE_PROBE + 1)
        assert await names(fs, "Unseen/Deep") == ["d.jpg"]
        assert await read_all(fs, c) == photos["Other/c.jpg"]
        assert not core.client.offline
    account = Account(emulator)
    try:
        assert await on_service(account.find, "Offline Album") is None
    finally:
        account.close()


async def test_a_core_started_while_the_service_is_down_shows_the_saved_listings(
    restartable: list[Emulator], tmp_path: Path
) -> None:
    photos = _library(restartable[0])
    settings = _settings(restartable[0], tmp_path)
    async with running_core(settings) as core:
        assert await names(core.fs, "Seen") == ["a.jpg", "b.jpg"]
        a = (await resolve(core.fs, "Seen/a.jpg")).inode
        assert await read_all(core.fs, a) == photos["Seen/a.jpg"]
    restartable[-1].stop()
    async with running_core(settings) as core:
        assert await names(core.fs, "") == ["Seen", "Other", "Unseen"]
        assert await names(core.fs, "Seen") == ["a.jpg", "b.jpg"]
        # The same inode as before, and the bytes read before from the cache.
        assert (await resolve(core.fs, "Seen/a.jpg")).inode == a
        content = await read_all(core.fs, a)
        assert hashlib.md5(content).hexdigest() == hashlib.md5(photos["Seen/a.jpg"]).hexdigest()
        with pytest.raises(Offline):
            await names(core.fs, "Unseen/Deep")


async def test_a_core_that_never_listed_cannot_start_while_the_service_is_down(
    restartable: list[Emulator], tmp_path: Path
) -> None:
    settings = _settings(restartable[0], tmp_path)
    restartable[-1].stop()
    with trio.fail_after(30), pytest.raises(Offline):
        async with running_core(settings):
            pytest.fail("started without the service or saved listings")
