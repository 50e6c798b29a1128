"""The filesystem core read in-process, without FUSE: lookups, listings, stat and reads.

Each test builds the core as a mount does and calls it from its own trio loop against the
shared sample-library emulator (which nothing here changes), and compares what the core shows
with what the service says through its own API.
"""

from __future__ import annotations

import datetime
import hashlib
import stat
from pathlib import Path

import pytest

from smugfs.errors import IsADirectory, NotADirectory, NotFound
from smugfs.testing.account import Account, requests_to
from smugfs.testing.core import core_settings, on_service, read_all, resolve, running_core
from smugfs.testing.emulator import Emulator
from smugfs.testing.library import RemoteFile, walk
from smugfs.tree import ROOT_INODE

SCANS = ("Archive", "Scans 1990-2010")
LARGE = "Large Originals"
IMAGES = "GET /api/v2/album/{key}!images"


@pytest.fixture(scope="module")
def expected(sample_emulator: Emulator) -> tuple[set[str], dict[str, RemoteFile]]:
    """(directories, files by path) of the sample library, as its API lists them."""
    with sample_emulator.client() as client:
        return walk(client)


def _original(emulator: Emulator, remote: RemoteFile) -> bytes:
    with emulator.client() as client:
        response = client.get(remote.url)
        response.raise_for_status()
        return response.content


def _media_requests(emulator: Emulator) -> int:
    return int(emulator.stats()["media_requests"])


async def test_a_walk_shows_every_directory_and_file_with_its_size(
    sample_emulator: Emulator,
    expected: tuple[set[str], dict[str, RemoteFile]],
    tmp_path: Path,
) -> None:
    dirs, files = expected
    seen_dirs: set[str] = set()
    seen_files: dict[str, int] = {}
    async with running_core(core_settings(sample_emulator, tmp_path)) as core:
        fs = core.fs
        pending = [(ROOT_INODE, "")]
        while pending:
            inode, prefix = pending.pop()
            for name, attrs in await fs.list_dir(inode):
                path = prefix + name
                # What the listing says is what a lookup of the same name says.
                assert (await fs.lookup(inode, name)).inode == attrs.inode
                if attrs.is_dir:
                    seen_dirs.add(path)
                    pending.append((attrs.inode, path + "/"))
                else:
                    assert stat.S_ISREG(attrs.mode)
                    seen_files[path] = attrs.size
    assert seen_dirs == dirs
    # The walk of the API leaves out duplicate names and videos; the core shows those too.
    assert {path: seen_files.get(path) for path in files} == {
        path: remote.size for path, remote in files.items()
    }


async def test_a_long_album_is_listed_whole_in_the_services_order_one_page_at_a_time(
    sample_emulator: Emulator, tmp_path: Path
) -> None:
    account = Account(sample_emulator)
    try:
        service = [image["FileName"] for image in account.images(account.album_uri(*SCANS))]
    finally:
        account.close()
    assert len(service) == 1200
    async with running_core(core_settings(sample_emulator, tmp_path, page_size="7")) as core:
        album = await resolve(core.fs, "/".join(SCANS))
        before = requests_to(sample_emulator, IMAGES)
        listed = [name for name, _ in await core.fs.list_dir(album.inode)]
        assert requests_to(sample_emulator, IMAGES) - before == -(-1200 // 7)
        # Listed once: the next listing within the TTL sends nothing.
        assert [name for name, _ in await core.fs.list_dir(album.inode)] == listed
        assert requests_to(sample_emulator, IMAGES) - before == -(-1200 // 7)
    assert listed == service


async def test_stat_shows_the_services_sizes_and_times_without_a_request(
    sample_emulator: Emulator, expected: tuple[set[str], dict[str, RemoteFile]], tmp_path: Path
) -> None:
    _, files = expected
    path = next(p for p in files if p.startswith(LARGE + "/"))
    account = Account(sample_emulator)
    try:
        image = account.image(f"/api/v2/image/{files[path].image_key}")
    finally:
        account.close()
    async with running_core(core_settings(sample_emulator, tmp_path)) as core:
        attrs = await resolve(core.fs, path)
        album = await resolve(core.fs, LARGE)
        sent = core.client.stats.requests
        for _ in range(50):
            assert await core.fs.getattr(attrs.inode) == attrs
            assert (await core.fs.lookup(album.inode, path.split("/")[-1])).inode == attrs.inode
        assert core.client.stats.requests == sent
    assert stat.S_ISREG(attrs.mode)
    assert attrs.mode & 0o777 == 0o644
    assert attrs.size == files[path].size
    assert stat.S_ISDIR(album.mode)
    # The service's own times, never the clock's.
    assert attrs.mtime == pytest.approx(_timestamp(image["LastUpdated"]))
    assert attrs.crtime == pytest.approx(_timestamp(image["DateTimeUploaded"]))


def _timestamp(text: str) -> float:
    return datetime.datetime.fromisoformat(text).timestamp()


async def test_reads_whole_in_ranges_and_past_the_end_give_the_originals_bytes(
    sample_emulator: Emulator, expected: tuple[set[str], dict[str, RemoteFile]], tmp_path: Path
) -> None:
    _, files = expected
    remote = max((r for p, r in files.items() if p.startswith(LARGE + "/")), key=lambda r: r.size)
    original = await on_service(_original, sample_emulator, remote)
    assert hashlib.md5(original).hexdigest() == remote.md5
    size = len(original)
    assert size > 2 * 1024 * 1024, "a file of several blocks"
    async with running_core(core_settings(sample_emulator, tmp_path)) as core:
        fs = core.fs
        inode = (await resolve(fs, remote.path)).inode
        handle = await fs.open(inode)
        try:
            # Ranges out of order, across block boundaries, and the end of the file.
            for offset, length in [
                (size // 2, 1000),
                (0, 4096),
                (131_000, 300_000),
                (size - 10, 100),
                (size, 4096),
                (size + 5000, 10),
            ]:
                data = await fs.read(handle, offset, length)
                assert bytes(data) == original[offset : offset + length], (offset, length)
        finally:
            await fs.release(handle)
        assert hashlib.md5(await read_all(fs, inode)).hexdigest() == remote.md5
        # Read again, from the content cache: the media server is not asked.
        before = _media_requests(sample_emulator)
        assert await read_all(fs, inode, chunk=1 << 20) == original
        assert _media_requests(sample_emulator) == before


async def test_the_kernel_may_keep_pages_of_an_unchanged_version_only(
    sample_emulator: Emulator, expected: tuple[set[str], dict[str, RemoteFile]], tmp_path: Path
) -> None:
    _, files = expected
    path = sorted(files)[0]
    async with running_core(core_settings(sample_emulator, tmp_path)) as core:
        inode = (await resolve(core.fs, path)).inode
        assert core.fs.keep_cache(inode) is False  # never opened: nothing cached
        assert core.fs.keep_cache(inode) is True


async def test_misses_and_wrong_kinds_are_answered_with_their_errors(
    sample_emulator: Emulator, expected: tuple[set[str], dict[str, RemoteFile]], tmp_path: Path
) -> None:
    _, files = expected
    path = sorted(files)[0]
    async with running_core(core_settings(sample_emulator, tmp_path)) as core:
        fs = core.fs
        file_inode = (await resolve(fs, path)).inode
        album = (await resolve(fs, path.split("/")[0])).inode
        with pytest.raises(NotFound):
            await fs.lookup(album, "no such photo.jpg")
        # The miss is remembered: asking again sends nothing.
        sent = core.client.stats.requests
        with pytest.raises(NotFound):
            await fs.lookup(album, "no such photo.jpg")
        assert core.client.stats.requests == sent
        with pytest.raises(NotADirectory):
            await fs.list_dir(file_inode)
        with pytest.raises(IsADirectory):
            await fs.open(album)
        with pytest.raises(NotFound):
            await fs.read(12345, 0, 10)
        with pytest.raises(NotFound):
            await fs.getattr(987_654_321)
