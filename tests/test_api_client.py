"""The SmugMug client against the emulator: paging, retries, errors and media ranges."""

from __future__ import annotations

import dataclasses
import math
import time

import pytest

from smugfs.api.client import RangeIgnored, SmugMugClient
from smugfs.config import Credentials, Settings, from_environment
from smugfs.errors import AccessDenied, NotFound, ServiceUnavailable
from smugfs.testing.account import Account
from smugfs.testing.emulator import Emulator
from smugfs.testing.media import photo


def settings_for(emulator: Emulator, **changes: object) -> Settings:
    """Client settings that reach `emulator` as its first user."""
    return dataclasses.replace(from_environment(emulator.env), **changes)  # type: ignore[arg-type]


async def _album_uri(client: SmugMugClient, name: str) -> str:
    root = await client.root_node()
    stack = [root]
    while stack:
        for child in await client.children(stack.pop()):
            if child.is_album and child.name == name:
                assert child.album_uri is not None
                return child.album_uri
            if child.is_folder:
                stack.append(child)
    raise LookupError(name)


async def test_a_long_album_is_listed_in_concurrent_pages(sample_emulator: Emulator) -> None:
    client = SmugMugClient(settings_for(sample_emulator))
    try:
        album = await _album_uri(client, "Scans 1990-2010")
        sample_emulator.reset_stats()
        images = await client.album_images(album)
    finally:
        await client.aclose()
    assert len(images) == 1200
    assert len({i.image_key for i in images}) == 1200
    assert [i.file_name for i in images[:2]] == ["scan-0001.jpg", "scan-0002.jpg"]
    stats = sample_emulator.stats()
    assert stats["by_endpoint"]["GET /api/v2/album/{key}!images"] == math.ceil(1200 / 100)


async def test_listing_survives_injected_faults(sample_emulator: Emulator) -> None:
    client = SmugMugClient(settings_for(sample_emulator, retries=8))
    try:
        album = await _album_uri(client, "Scans 1990-2010")
        sample_emulator.configure(fault_rate=0.3, seed=11)
        try:
            images = await client.album_images(album)
        finally:
            sample_emulator.configure(fault_rate=0.0)
    finally:
        await client.aclose()
    assert len({i.image_key for i in images}) == 1200
    assert client.stats.retries > 0


async def test_a_write_that_failed_with_500_is_not_sent_again(emulator: Emulator) -> None:
    client = SmugMugClient(settings_for(emulator))
    try:
        root = await client.root_node()
        emulator.configure(fault_rate=1.0, fault_kinds=["500"])
        emulator.reset_stats()
        try:
            with pytest.raises(ServiceUnavailable):
                await client.request_json(
                    "POST", root.children_uri or "", json={"Type": "Album", "Name": "Once"}
                )
        finally:
            emulator.configure(fault_rate=0.0)
        assert emulator.stats()["total"] == 1
    finally:
        await client.aclose()


async def test_a_spent_rate_limit_is_waited_out_instead_of_refused(emulator: Emulator) -> None:
    emulator.configure(rate_limit=3, rate_window_s=2.0)
    client = SmugMugClient(settings_for(emulator))
    started = time.monotonic()
    try:
        for _ in range(4):
            await client.root_node()  # two requests each
    finally:
        await client.aclose()
        emulator.configure(rate_limit=100_000, rate_window_s=3600.0)
    assert time.monotonic() - started >= 2.0, "the client waited for the next window"
    assert client.stats.requests == 8
    assert client.stats.retries == 0, "no request was refused with 429"
    assert client.stats.errors == 0


async def test_429_is_retried_after_the_time_the_service_asks(emulator: Emulator) -> None:
    emulator.configure(fault_rate=1.0, fault_kinds=["429"])
    client = SmugMugClient(settings_for(emulator, retries=1))
    started = time.monotonic()
    try:
        with pytest.raises(ServiceUnavailable):
            await client.root_node()
    finally:
        await client.aclose()
        emulator.configure(fault_rate=0.0)
    assert client.stats.retries == 1
    assert time.monotonic() - started >= 1.0, "Retry-After: 1 was honoured"


async def test_wrong_credentials_are_access_denied(emulator: Emulator) -> None:
    wrong = Credentials(emulator.env["SMUGFS_API_KEY"], "not-the-secret", "t", "s")
    client = SmugMugClient(settings_for(emulator, credentials=wrong))
    try:
        with pytest.raises(AccessDenied, match="401"):
            await client.root_node()
    finally:
        await client.aclose()


async def test_an_unreachable_service_is_service_unavailable() -> None:
    settings = Settings(
        endpoint="http://127.0.0.1:9", credentials=Credentials("k", "s", "t", "u"), retries=1
    )
    client = SmugMugClient(settings)
    try:
        with pytest.raises(ServiceUnavailable, match="ConnectError"):
            await client.root_node()
    finally:
        await client.aclose()


async def test_a_missing_node_is_not_found(emulator: Emulator) -> None:
    client = SmugMugClient(settings_for(emulator))
    try:
        with pytest.raises(NotFound):
            await client.node("/api/v2/node/zzzzzz")
    finally:
        await client.aclose()


async def test_public_galleries_can_be_read_with_an_api_key_only(
    sample_emulator: Emulator,
) -> None:
    key_only = Credentials(sample_emulator.env["SMUGFS_API_KEY"])
    client = SmugMugClient(settings_for(sample_emulator, credentials=key_only))
    try:
        root = await client.root_node("alice")
        names = {child.name for child in await client.children(root)}
    finally:
        await client.aclose()
    assert names == {"Street"}


async def test_ranged_reads_and_a_server_that_ignores_range(sample_emulator: Emulator) -> None:
    client = SmugMugClient(settings_for(sample_emulator))
    try:
        album = await _album_uri(client, "Lisbon")
        image = (await client.album_images(album))[0]
        assert image.media_url is not None
        assert image.size is not None
        head = await client.get_range(image.media_url, 0, 100)
        tail = await client.get_range(image.media_url, image.size - 10, 100)
        assert len(head) == 100
        assert len(tail) == 10
        sample_emulator.configure(range_enabled=False)
        try:
            with pytest.raises(RangeIgnored):
                await client.get_range(image.media_url, 0, 100)
        finally:
            sample_emulator.configure(range_enabled=True)
    finally:
        await client.aclose()


class _Enough(Exception):
    """A reader that stops part way through a body."""


class _Buffers:
    """A `Target` gathering a ranged read in buffers of `size` bytes; after `stop_after`
    buffers it stops the read (`_Enough`)."""

    def __init__(self, size: int, stop_after: float = math.inf) -> None:
        self.data = bytearray()
        self._buffer = bytearray(size)
        self._left = stop_after

    def buffer(self) -> memoryview:
        return memoryview(self._buffer)

    async def filled(self, count: int) -> None:
        self.data += self._buffer[:count]
        self._left -= 1
        if self._left <= 0:
            raise _Enough


async def test_media_bodies_received_in_full_reuse_their_connection_and_a_cut_one_closes_it(
    emulator: Emulator, account: Account
) -> None:
    content = photo(7, 700 * 1024)
    account.upload(account.create("Reads"), "a.jpg", content)
    client = SmugMugClient(settings_for(emulator))
    try:
        image = (await client.album_images(await _album_uri(client, "Reads")))[0]
        assert image.media_url is not None
        emulator.reset_stats()
        for _ in range(5):
            whole = _Buffers(256 * 1024)
            assert await client.stream_range_into(image.media_url, 0, len(content), whole) == len(
                content
            )
            assert whole.data == content
        in_full = emulator.stats()
        cut = _Buffers(64 * 1024, stop_after=2)
        with pytest.raises(_Enough):
            await client.stream_range_into(image.media_url, 0, len(content), cut)
        after_cut = _Buffers(256 * 1024)
        await client.stream_range_into(image.media_url, 0, len(content), after_cut)
        stats = emulator.stats()
        retries = client.stats.retries
    finally:
        await client.aclose()
    # Five GETs on at most one new connection (the first may take one the listing left idle).
    assert in_full["media_requests"] == 5
    assert in_full["connections"] <= 1
    # The socket of the body cut short is closed, not left with the rest of the body for the
    # next GET: that one opens a connection and reads the right bytes at the first attempt.
    assert cut.data == content[: len(cut.data)]
    assert stats["connections"] == in_full["connections"] + 1
    assert after_cut.data == content
    assert retries == 0
