"""The filesystem core changed in-process, without FUSE: mkdir, rmdir, uploads through write and
close, rename and move, unlink, listings kept fresh, and this mount's changes laid over a
service listing that lags.

The tests share one emulator (each keeps to names of its own), call the core from their own
trio loop, and check the service's state through its own API afterwards. Listing freshness runs
on trio's clock, so tests that wait for a listing to expire move that clock instead of sleeping.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio
import trio.testing

from smugfs.errors import AlreadyExists, NotEmpty, NotFound, NotPermitted, ReadOnly
from smugfs.testing.account import ALBUM, FOLDER, Account
from smugfs.testing.core import (
    KERNEL_READ,
    core_settings,
    names,
    on_service,
    read_all,
    resolve,
    running_core,
    write_file,
)
from smugfs.testing.emulator import Emulator
from smugfs.testing.media import photo
from smugfs.tree import ROOT_INODE

TTL = 30.0


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """Trio's clock for the test: it runs at the wall clock's pace, and a test can move it on
    (past a listing's TTL) without waiting."""
    return trio.testing.MockClock(rate=1.0)


def _wait_for_listing(service: Account, album_uri: str, wanted: list[str]) -> None:
    """Wait until the service's own listing of an album shows these file names."""
    deadline = time.monotonic() + 30
    while [i["FileName"] for i in service.images(album_uri)] != wanted:
        assert time.monotonic() < deadline, "the service's listing did not catch up"
        time.sleep(0.2)


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


async def test_mkdir_makes_albums_and_an_album_given_a_directory_becomes_a_folder(
    module_emulator: Emulator, module_account: Account, tmp_path: Path
) -> None:
    async with running_core(core_settings(module_emulator, tmp_path)) as core:
        changes = core.fs.changes
        trip = await changes.mkdir(ROOT_INODE, "mk Trip")
        assert trip.is_dir
        assert (await core.fs.lookup(ROOT_INODE, "mk Trip")).inode == trip.inode
        assert (await on_service(module_account.node, "mk Trip"))["Type"] == ALBUM
        day = await changes.mkdir(trip.inode, "Day 1")
        with pytest.raises(AlreadyExists):
            await changes.mkdir(ROOT_INODE, "mk Trip")
        # The album was replaced by a folder of the same name; the inode stays.
        assert (await core.fs.lookup(ROOT_INODE, "mk Trip")).inode == trip.inode
        assert await names(core.fs, "mk Trip") == ["Day 1"]
        folder = await on_service(module_account.node, "mk Trip")
        assert folder["Type"] == FOLDER
        inside = await on_service(module_account.children, folder["Uri"])
        assert [(c["Name"], c["Type"]) for c in inside] == [("Day 1", ALBUM)]
        # A photo makes an album a place for photos only.
        await write_file(core.fs, day.inode, "p.jpg", photo(1, 10_000))
        with pytest.raises(NotPermitted):
            await changes.mkdir(day.inode, "Deeper")
    assert (await on_service(module_account.node, "mk Trip", "Day 1"))["Type"] == ALBUM


async def test_rmdir_deletes_empty_directories_and_asks_the_service_whether_they_are(
    module_emulator: Emulator, module_account: Account, tmp_path: Path
) -> None:
    folder_uri = await on_service(module_account.create, "rm Folder", FOLDER)
    await on_service(module_account.create, "Inner", ALBUM, folder_uri)
    album_uri = await on_service(module_account.create, "rm Album")
    async with running_core(core_settings(module_emulator, tmp_path)) as core:
        changes = core.fs.changes
        assert await names(core.fs, "rm Album") == []
        with pytest.raises(NotEmpty):
            await changes.rmdir(ROOT_INODE, "rm Folder")
        # A photo added on the service after the album was listed empty still counts.
        await on_service(module_account.upload, album_uri, "late.jpg", photo(2, 5_000))
        with pytest.raises(NotEmpty):
            await changes.rmdir(ROOT_INODE, "rm Album")
        folder = await resolve(core.fs, "rm Folder")
        await changes.rmdir(folder.inode, "Inner")
        await changes.rmdir(ROOT_INODE, "rm Folder")
        with pytest.raises(NotFound):
            await core.fs.lookup(ROOT_INODE, "rm Folder")
        with pytest.raises(NotFound):
            await changes.rmdir(ROOT_INODE, "rm Folder")
    assert await on_service(module_account.find, "rm Folder") is None
    assert await on_service(module_account.status, folder_uri) == 404
    assert [i["FileName"] for i in await on_service(module_account.images, album_uri)] == [
        "late.jpg"
    ]


async def test_a_file_written_and_closed_is_on_the_service_and_reads_back(
    module_emulator: Emulator, module_account: Account, tmp_path: Path
) -> None:
    album_uri = await on_service(module_account.create, "up Album")
    data = photo(3, 3 * KERNEL_READ + 777)
    async with running_core(core_settings(module_emulator, tmp_path)) as core:
        album = await resolve(core.fs, "up Album")
        inode = await write_file(core.fs, album.inode, "new.jpg", data)
        uploaded = (await on_service(module_account.by_name, album_uri))["new.jpg"]
        assert uploaded["ArchivedMD5"] == _md5(data)
        assert uploaded["ArchivedSize"] == len(data)
        attrs = await core.fs.getattr(inode)
        assert attrs.size == len(data)
        assert await names(core.fs, "up Album") == ["new.jpg"]
        assert await read_all(core.fs, inode) == data

        # Writing over it replaces the photo in place: same image, new bytes.
        replacement = photo(4, 50_000)
        handle = await core.fs.open(inode, write=True, truncate=True)
        try:
            await core.fs.write(handle, 0, replacement)
            await core.fs.flush(handle)
        finally:
            await core.fs.release(handle)
        assert await read_all(core.fs, inode) == replacement
    images = await on_service(module_account.by_name, album_uri)
    assert list(images) == ["new.jpg"]
    assert images["new.jpg"]["ImageKey"] == uploaded["ImageKey"]
    assert images["new.jpg"]["ArchivedMD5"] == _md5(replacement)
    assert await on_service(module_account.original, images["new.jpg"]) == replacement


async def test_rename_and_move_of_photos_and_albums_reach_the_service(
    module_emulator: Emulator, module_account: Account, tmp_path: Path
) -> None:
    first_uri = await on_service(module_account.create, "mv First")
    second_uri = await on_service(module_account.create, "mv Second")
    await on_service(module_account.create, "mv Folder", FOLDER)
    data = photo(5, 20_000)
    moving = photo(6, 20_000)
    await on_service(module_account.upload, first_uri, "a.jpg", data)
    moved_uri = (await on_service(module_account.upload, first_uri, "b.jpg", moving))["ImageUri"]
    async with running_core(core_settings(module_emulator, tmp_path)) as core:
        changes = core.fs.changes
        first = await resolve(core.fs, "mv First")
        second = await resolve(core.fs, "mv Second")
        folder = await resolve(core.fs, "mv Folder")
        inode = (await core.fs.lookup(first.inode, "a.jpg")).inode
        await changes.rename(first.inode, "a.jpg", first.inode, "renamed.jpg", no_replace=False)
        assert (await core.fs.lookup(first.inode, "renamed.jpg")).inode == inode
        with pytest.raises(NotFound):
            await core.fs.lookup(first.inode, "a.jpg")
        await changes.rename(first.inode, "b.jpg", second.inode, "b.jpg", no_replace=False)
        assert await names(core.fs, "mv Second") == ["b.jpg"]
        with pytest.raises(AlreadyExists):
            await changes.rename(ROOT_INODE, "mv Second", ROOT_INODE, "mv First", no_replace=True)
        await changes.rename(ROOT_INODE, "mv Second", folder.inode, "Moved", no_replace=False)
        assert await names(core.fs, "mv Folder") == ["Moved"]
        assert await read_all(core.fs, (await resolve(core.fs, "mv Folder/Moved/b.jpg")).inode) == (
            moving
        )
    first_images = await on_service(module_account.by_name, first_uri)
    assert list(first_images) == ["renamed.jpg"]
    assert first_images["renamed.jpg"]["ArchivedMD5"] == _md5(data)
    moved = await on_service(module_account.node, "mv Folder", "Moved")
    assert moved["Uris"]["Album"]["Uri"] == second_uri
    (image,) = await on_service(module_account.images, second_uri)
    assert image["FileName"] == "b.jpg"
    # Moved, not uploaded again: the same image.
    assert image["ImageKey"] in moved_uri
    assert await on_service(module_account.find, "mv Second") is None


async def test_unlink_deletes_the_photo_on_the_service(
    module_emulator: Emulator, module_account: Account, tmp_path: Path
) -> None:
    album_uri = await on_service(module_account.create, "rmf Album")
    gone = await on_service(module_account.upload, album_uri, "gone.jpg", photo(7, 5_000))
    await on_service(module_account.upload, album_uri, "kept.jpg", photo(8, 5_000))
    async with running_core(core_settings(module_emulator, tmp_path)) as core:
        album = await resolve(core.fs, "rmf Album")
        await core.fs.changes.unlink(album.inode, "gone.jpg")
        assert await names(core.fs, "rmf Album") == ["kept.jpg"]
        with pytest.raises(NotFound):
            await core.fs.changes.unlink(album.inode, "gone.jpg")
    assert await on_service(module_account.status, gone["ImageUri"]) == 404
    assert [i["FileName"] for i in await on_service(module_account.images, album_uri)] == [
        "kept.jpg"
    ]


async def test_a_listing_is_reused_for_its_ttl_and_then_shows_the_services_changes(
    module_emulator: Emulator,
    module_account: Account,
    tmp_path: Path,
    clock: trio.testing.MockClock,
) -> None:
    album_uri = await on_service(module_account.create, "ttl Album")
    old = await on_service(module_account.upload, album_uri, "v.jpg", photo(9, 40_000))
    async with running_core(core_settings(module_emulator, tmp_path)) as core:
        inode = (await resolve(core.fs, "ttl Album/v.jpg")).inode
        handle = await core.fs.open(inode)
        try:
            assert bytes(await core.fs.read(handle, 0, 100)) == photo(9, 40_000)[:100]
            assert core.fs.keep_cache(inode) is False
            # Changed on the service: a new photo, and new bytes for the one that is open.
            new_bytes = photo(10, 60_000)
            await on_service(module_account.upload, album_uri, "w.jpg", photo(11, 1_000))
            reply = await on_service(
                module_emulator.upload,
                album_uri,
                "v.jpg",
                new_bytes,
                X_Smug_ImageUri=old["ImageUri"],
            )
            assert reply.json()["stat"] == "ok", reply.text
            assert await names(core.fs, "ttl Album") == ["v.jpg"]
            clock.jump(TTL + 1)
            assert await names(core.fs, "ttl Album") == ["v.jpg", "w.jpg"]
            attrs = await core.fs.getattr(inode)
            assert attrs.size == len(new_bytes)
            # The open handle reads the new version; the kernel's pages of the old one go.
            assert bytes(await core.fs.read(handle, 0, len(new_bytes))) == new_bytes
            assert core.fs.keep_cache(inode) is False
        finally:
            await core.fs.release(handle)


async def test_own_changes_are_laid_over_a_service_listing_that_lags(
    module_emulator: Emulator,
    module_account: Account,
    tmp_path: Path,
    clock: trio.testing.MockClock,
) -> None:
    album_uri = await on_service(module_account.create, "lag Album")
    await on_service(module_account.upload, album_uri, "old.jpg", photo(12, 5_000))
    data = photo(13, 30_000)
    module_emulator.configure(listing_delay_ms=3000)
    try:
        async with running_core(core_settings(module_emulator, tmp_path)) as core:
            album = await resolve(core.fs, "lag Album")
            assert await names(core.fs, "lag Album") == ["old.jpg"]
            inode = await write_file(core.fs, album.inode, "new.jpg", data)
            await core.fs.changes.unlink(album.inode, "old.jpg")
            clock.jump(TTL + 1)
            listed = [i["FileName"] for i in await on_service(module_account.images, album_uri)]
            assert listed == ["old.jpg"], "the service lists the changes late"
            assert await names(core.fs, "lag Album") == ["new.jpg"]
            assert (await core.fs.getattr(inode)).size == len(data)
            assert await read_all(core.fs, inode) == data
            await on_service(_wait_for_listing, module_account, album_uri, ["new.jpg"])
            clock.jump(TTL + 1)
            # Once the service shows the change, it is listed once, under the same inode.
            assert await names(core.fs, "lag Album") == ["new.jpg"]
            assert (await core.fs.lookup(album.inode, "new.jpg")).inode == inode
    finally:
        module_emulator.configure(listing_delay_ms=0)


async def test_truncate_uploads_the_shorter_photo_and_a_kept_time_shows_in_stat(
    module_emulator: Emulator, module_account: Account, tmp_path: Path
) -> None:
    album_uri = await on_service(module_account.create, "tr Album")
    data = photo(30, 50_000)
    await on_service(module_account.upload, album_uri, "t.jpg", data)
    async with running_core(core_settings(module_emulator, tmp_path)) as core:
        inode = (await resolve(core.fs, "tr Album/t.jpg")).inode
        entry = core.fs.table.entry(inode)
        # `truncate -s 1000`: nothing has the file open, so it is uploaded at once.
        await core.fs.changes.truncate(entry, 1000)
        assert (await core.fs.getattr(inode)).size == 1000
        assert await read_all(core.fs, inode) == data[:1000]
        # `touch -d`: the time is kept for this version of the photo, to the nanosecond.
        when = 1_600_000_000_123_456_789
        core.fs.changes.set_mtime(entry, when)
        assert (await core.fs.getattr(inode)).mtime_ns == when
    images = await on_service(module_account.by_name, album_uri)
    assert images["t.jpg"]["ArchivedSize"] == 1000
    assert images["t.jpg"]["ArchivedMD5"] == _md5(data[:1000])


async def test_a_read_only_core_refuses_every_change_and_sends_none(
    module_emulator: Emulator, module_account: Account, tmp_path: Path
) -> None:
    album_uri = await on_service(module_account.create, "ro Album")
    await on_service(module_account.upload, album_uri, "r.jpg", photo(31, 5_000))
    async with running_core(core_settings(module_emulator, tmp_path, ro=None)) as core:
        fs = core.fs
        album = await resolve(fs, "ro Album")
        photo_attrs = await fs.lookup(album.inode, "r.jpg")
        assert photo_attrs.mode & 0o222 == 0
        assert album.mode & 0o222 == 0
        sent = core.client.stats.requests
        refusals: list[Callable[[], Awaitable[object]]] = [
            lambda: fs.changes.mkdir(ROOT_INODE, "ro New"),
            lambda: fs.changes.rmdir(ROOT_INODE, "ro Album"),
            lambda: fs.changes.unlink(album.inode, "r.jpg"),
            lambda: fs.changes.create(album.inode, "new.jpg"),
            lambda: fs.changes.rename(album.inode, "r.jpg", album.inode, "s.jpg", no_replace=False),
            lambda: fs.open(photo_attrs.inode, write=True),
        ]
        for refusal in refusals:
            with pytest.raises(ReadOnly):
                await refusal()
        assert core.client.stats.requests == sent
    assert [i["FileName"] for i in await on_service(module_account.images, album_uri)] == ["r.jpg"]
