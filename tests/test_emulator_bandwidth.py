"""The emulator's bandwidth model, measured through real sockets: a rate for each connection
(`--bandwidth-mbps`, `bandwidth_mbps`) and one for all connections together (`--link-mbps`,
`link_mbps`), on media and API bodies, downloads and uploads.

Every bound is one the unshaped emulator on loopback misses by far (it moves these bodies in
milliseconds); upper bounds are loose, for a loaded machine.
"""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path

import httpx
import pytest

from smugfs.testing.account import create_album, upload
from smugfs.testing.emulator import Emulator, running_emulator
from smugfs.testing.library import root_uri
from smugfs.testing.media import jpeg

MIB = 1024 * 1024
# 8 Mbit/s is 1,000,000 bytes a second: a MiB takes 1.05 s.
MBPS = 8.0
BYTES_PER_SECOND = MBPS * 1_000_000 / 8


@pytest.fixture(scope="module")
def photo_url(module_emulator: Emulator) -> str:
    """The original of a 1 MiB photo (a real JPEG, padded) uploaded without any limit."""
    data = jpeg(7, (320, 240), length=MIB)
    with module_emulator.client() as c:
        uploaded = upload(module_emulator, create_album(c, "Shaped"), "big.jpg", data)
        image = c.get(uploaded["ImageUri"]).json()["Response"]["Image"]
    url: str = image["ArchivedUri"]
    with httpx.Client(timeout=30) as plain:
        assert plain.get(url).content == data
    return url


def download_seconds(url: str) -> float:
    """Seconds to receive the whole body of `url` on a new connection."""
    started = time.monotonic()
    with httpx.Client(timeout=60) as client, client.stream("GET", url) as reply:
        assert reply.status_code == 200
        received = sum(len(chunk) for chunk in reply.iter_raw())
    assert received == MIB
    return time.monotonic() - started


def side_by_side(url: str, count: int) -> float:
    """Seconds for `count` downloads of `url` at once, each on its own connection."""
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        list(pool.map(download_seconds, [url] * count))
    return time.monotonic() - started


def test_unshaped_download_is_far_faster_than_the_rates_tested(
    configurable_emulator: Emulator, photo_url: str
) -> None:
    assert download_seconds(photo_url) < 0.5


def test_flag_sets_both_rates(tmp_path: Path) -> None:
    with running_emulator(tmp_path, "--bandwidth-mbps", "40", "--link-mbps", "400") as emulator:
        settings = emulator.configure()
    assert settings["bandwidth_mbps"] == 40
    assert settings["link_mbps"] == 400


def test_negative_rate_is_refused_and_changes_nothing(configurable_emulator: Emulator) -> None:
    with configurable_emulator.plain() as c:
        reply = c.post("/emulator/config", json={"bandwidth_mbps": 5, "link_mbps": -1})
    assert reply.status_code == 400
    assert configurable_emulator.configure()["bandwidth_mbps"] == 0


def test_a_connection_gets_its_rate_and_each_connection_its_own(
    configurable_emulator: Emulator, photo_url: str
) -> None:
    configurable_emulator.configure(bandwidth_mbps=MBPS)
    expected = MIB / BYTES_PER_SECOND
    one = download_seconds(photo_url)
    assert expected * 0.9 <= one <= expected * 3 + 2
    # Two connections side by side each get the full rate: about the time of one, not two.
    two = side_by_side(photo_url, 2)
    assert expected * 0.9 <= two < expected * 1.6


def test_the_link_is_shared_by_all_connections(
    configurable_emulator: Emulator, photo_url: str
) -> None:
    configurable_emulator.configure(link_mbps=MBPS)
    expected = MIB / BYTES_PER_SECOND
    assert expected * 0.9 <= download_seconds(photo_url) <= expected * 3 + 2
    # Two at once share the link: twice the time of one.
    assert 2 * expected * 0.9 <= side_by_side(photo_url, 2) <= 2 * expected * 3 + 2


def test_the_slower_of_the_two_rates_holds(configurable_emulator: Emulator, photo_url: str) -> None:
    configurable_emulator.configure(bandwidth_mbps=MBPS, link_mbps=4 * MBPS)
    expected = MIB / BYTES_PER_SECOND
    assert expected * 0.9 <= download_seconds(photo_url)
    # Four connections at once: each at its own rate is also the link's whole rate.
    assert expected * 0.9 <= side_by_side(photo_url, 4) < expected * 2.5


def test_ranged_media_bodies_are_shaped_by_their_length(
    configurable_emulator: Emulator, photo_url: str
) -> None:
    configurable_emulator.configure(bandwidth_mbps=MBPS)
    started = time.monotonic()
    with httpx.Client(timeout=60) as client:
        reply = client.get(photo_url, headers={"Range": f"bytes=0-{MIB // 4 - 1}"})
    seconds = time.monotonic() - started
    assert reply.status_code == 206
    assert len(reply.content) == MIB // 4
    expected = MIB / 4 / BYTES_PER_SECOND
    assert expected * 0.9 <= seconds < expected * 3 + 2


def test_api_bodies_are_shaped(configurable_emulator: Emulator) -> None:
    with configurable_emulator.client() as c:
        unshaped = c.get(root_uri(c), params={"_expand": "ChildNodes"})
        size = len(unshaped.content)
        # A rate at which this body takes about half a second.
        mbps = size * 8 / 1_000_000 / 0.5
        configurable_emulator.configure(bandwidth_mbps=mbps)
        started = time.monotonic()
        shaped = c.get(root_uri(c), params={"_expand": "ChildNodes"})
        seconds = time.monotonic() - started
    assert shaped.status_code == 200
    assert len(shaped.content) == size
    assert 0.45 <= seconds < 5


def test_uploads_are_shaped_on_their_way_up(configurable_emulator: Emulator) -> None:
    data = jpeg(11, (320, 240), length=MIB // 2)
    with configurable_emulator.client() as c:
        album = create_album(c, "Shaped up")
    configurable_emulator.configure(bandwidth_mbps=MBPS)
    started = time.monotonic()
    reply = configurable_emulator.upload(album, "up.jpg", data).json()
    seconds = time.monotonic() - started
    assert reply["stat"] == "ok", reply
    expected = len(data) / BYTES_PER_SECOND
    assert expected * 0.9 <= seconds < expected * 3 + 2
    # The received bytes are the ones sent.
    assert configurable_emulator.stats()["upload_bytes"] >= len(data)


def test_control_paths_are_not_shaped(configurable_emulator: Emulator) -> None:
    configurable_emulator.configure(bandwidth_mbps=0.01, link_mbps=0.01)  # 1,250 bytes a second
    started = time.monotonic()
    for _ in range(5):
        configurable_emulator.stats()
    assert time.monotonic() - started < 2
