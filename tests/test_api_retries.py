"""The client's one retry policy, counted at the emulator: how often each request is sent.

Every injected fault of the emulator is met with the rule for its kind of request: a read is
sent at most `retries + 1` times whatever mix of faults it meets; a write whose answer was lost
is sent again only once the service says it did not land; an answer that refused a request
before anything was done (429, 503) is worth another attempt for any request.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from smugfs.api.client import SmugMugClient, UploadSource
from smugfs.config import Settings, from_environment
from smugfs.emulator.conditions import FAULT_KINDS
from smugfs.errors import ProtocolError, ServiceUnavailable
from smugfs.testing.account import Account, requests_to, uploads
from smugfs.testing.emulator import Emulator
from smugfs.testing.library import album_uri_by_name
from smugfs.testing.media import md5, photo

RETRIES = 2


def client_for(emulator: Emulator, retries: int = RETRIES) -> SmugMugClient:
    settings: Settings = dataclasses.replace(from_environment(emulator.env), retries=retries)
    return SmugMugClient(settings)


def faults(emulator: Emulator, *kinds: str, rate: float = 1.0, seed: int = 0) -> None:
    emulator.configure(fault_rate=rate, fault_kinds=list(kinds), seed=seed)
    emulator.reset_stats()


def no_faults(emulator: Emulator) -> None:
    emulator.configure(fault_rate=0.0, fault_kinds=list(FAULT_KINDS), seed=0)


@pytest.mark.parametrize(
    ("kinds", "error"),
    [
        (["500"], ServiceUnavailable),
        (["503", "429"], ServiceUnavailable),
        (["drop"], ServiceUnavailable),
        (["malformed"], ProtocolError),
        # Mixed, a reply that is not JSON and a refusal were once retried in two nested loops.
        (["malformed", "503"], (ServiceUnavailable, ProtocolError)),
    ],
)
async def test_a_read_is_sent_at_most_retries_plus_one_times(
    emulator: Emulator,
    kinds: list[str],
    error: type[Exception] | tuple[type[Exception], ...],
) -> None:
    client = client_for(emulator)
    account = Account(emulator)
    try:
        node_uri = account.root_uri
        # Seed 4 draws a mix that nested retry loops once sent five times.
        faults(emulator, *kinds, seed=4)
        try:
            with pytest.raises(error):
                await client.node(node_uri)
        finally:
            no_faults(emulator)
        assert requests_to(emulator, "GET /api/v2/node/{key}") == RETRIES + 1
        assert client.stats.retries == RETRIES
    finally:
        account.close()
        await client.aclose()


@pytest.mark.parametrize("kind", ["500", "drop", "gateway", "malformed"])
async def test_a_write_whose_answer_was_lost_is_sent_once(emulator: Emulator, kind: str) -> None:
    """A plain POST that may have been applied is never sent blindly again."""
    client = client_for(emulator)
    try:
        root = await client.root_node()
        assert root.children_uri is not None
        faults(emulator, kind)
        try:
            with pytest.raises((ServiceUnavailable, ProtocolError)):
                await client.request_json(
                    "POST", root.children_uri, json={"Type": "Album", "Name": "Once"}
                )
        finally:
            no_faults(emulator)
        assert requests_to(emulator, "POST /api/v2/node/{key}!children") == 1
    finally:
        await client.aclose()


async def test_a_write_refused_before_it_ran_is_sent_again(emulator: Emulator) -> None:
    client = client_for(emulator)
    try:
        root = await client.root_node()
        assert root.children_uri is not None
        faults(emulator, "503", "429")
        try:
            with pytest.raises(ServiceUnavailable, match=f"after {RETRIES + 1} attempts"):
                await client.request_json(
                    "POST", root.children_uri, json={"Type": "Album", "Name": "Later"}
                )
        finally:
            no_faults(emulator)
        assert requests_to(emulator, "POST /api/v2/node/{key}!children") == RETRIES + 1
    finally:
        await client.aclose()


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_a_new_album_is_made_once_through_lost_answers(emulator: Emulator, seed: int) -> None:
    """Half the requests meet a fault, the check of the service's listing included: the album
    exists once, and the POST went out at most retries + 1 times."""
    client = client_for(emulator)
    account = Account(emulator)
    try:
        root = await client.root_node()
        faults(emulator, "500", "drop", "gateway", "malformed", "503", rate=0.5, seed=seed)
        try:
            made = await client.create_node(root, "Holidays", "Album")
        except (ServiceUnavailable, ProtocolError):
            made = None
        finally:
            no_faults(emulator)
        assert requests_to(emulator, "POST /api/v2/node/{key}!children") <= RETRIES + 1
        named = [c for c in account.children() if c["Name"] == "Holidays"]
        assert len(named) <= 1
        if made is not None:
            assert [c["NodeID"] for c in named] == [made.node_id]
    finally:
        account.close()
        await client.aclose()


async def test_an_upload_is_sent_at_most_retries_plus_one_times(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Every upload attempt breaks; each is checked for having landed before the next, and
    after retries + 1 attempts the upload fails with nothing in the album."""
    client = client_for(emulator)
    account = Account(emulator)
    try:
        album = account.create("Uploads")
        data = photo(7)
        staged = tmp_path / "a.jpg"
        staged.write_bytes(data)
        source = UploadSource(staged, len(data), md5(data))
        faults(emulator, "drop")
        try:
            with pytest.raises(ServiceUnavailable):
                await client.upload(album, "a.jpg", source)
        finally:
            no_faults(emulator)
        assert uploads(emulator) == RETRIES + 1
        assert account.images(album) == []
        assert client.stats.uploads_failed == 1
    finally:
        account.close()
        await client.aclose()


async def test_a_broken_media_read_resumes_and_gives_up_after_the_retries(
    sample_emulator: Emulator,
) -> None:
    patient = client_for(sample_emulator, retries=10)
    client = client_for(sample_emulator)
    account = Account(sample_emulator)
    try:
        album = album_uri_by_name(account.http, "Lisbon")
        image = (await client.album_images(album))[0]
        assert image.media_url is not None
        assert image.size is not None
        whole = await client.get_range(image.media_url, 0, image.size)
        faults(sample_emulator, "truncate", rate=0.5, seed=1)
        try:
            again = await patient.get_range(image.media_url, 0, image.size)
        finally:
            no_faults(sample_emulator)
        assert again == whole
        assert patient.stats.retries > 0, "some reads were cut short and resumed"
        faults(sample_emulator, "truncate")
        try:
            with pytest.raises(ServiceUnavailable):
                await client.get_range(image.media_url, 0, image.size)
        finally:
            no_faults(sample_emulator)
        assert requests_to(sample_emulator, "GET /photos") == RETRIES + 1
    finally:
        account.close()
        await patient.aclose()
        await client.aclose()
