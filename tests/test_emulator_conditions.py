"""The conditions the emulator can serve under, and what it counts: rate-limit headers and 429s,
latency, per-item listing cost, the cost of a new connection, injected faults (429/500/503,
dropped connections, truncated bodies) reproducible by seed, eventual consistency of listings,
run-time settings, and the `/emulator/stats` counters. `/emulator/` paths themselves are never
delayed, faulted or counted.

Flags are checked on emulators started with them; run-time changes through
`POST /emulator/config` on a shared emulator that each test puts back as it found it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from smugfs.testing import account
from smugfs.testing.account import create_album
from smugfs.testing.emulator import Emulator, running_emulator
from smugfs.testing.library import root_uri
from smugfs.testing.media import jpeg
from smugfs.testing.waits import wait_for

_names = itertools.count(1)


# ---------------------------------------------------------------------------------- helpers


def new_album(c: httpx.Client) -> str:
    """A new album's key."""
    return create_album(c, f"Cond {next(_names)}").rsplit("/", 1)[1]


def upload(emu: Emulator, album: str, data: bytes, name: str = "p.jpg") -> dict[str, Any]:
    """Upload into `album`; the reply's `Image` block."""
    return account.upload(emu, f"/api/v2/album/{album}", name, data)


def archived_uri(emu: Emulator, c: httpx.Client, data: bytes) -> str:
    """The ArchivedUri of `data` uploaded into a new album."""
    image = upload(emu, new_album(c), data)
    uri: str = c.get(image["ImageUri"]).json()["Response"]["Image"]["ArchivedUri"]
    return uri


def child_names(c: httpx.Client, node_uri: str) -> list[str]:
    """Names of a folder's child nodes."""
    nodes = c.get(node_uri + "!children", params={"count": 200}).json()["Response"]
    return [n["Name"] for n in nodes.get("Node", [])]


def listed_keys(c: httpx.Client, album: str) -> list[str]:
    """ImageKeys an album's `!images` lists now."""
    body = c.get(f"/api/v2/album/{album}!images", params={"count": 100}).json()
    return [i["ImageKey"] for i in body["Response"].get("AlbumImage", [])]


def timed(call: Any) -> tuple[float, Any]:
    """How long `call()` takes, and what it returned."""
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def statuses(emu: Emulator, n: int) -> list[int]:
    """The statuses of `n` signed `!authuser` requests in a row."""
    with emu.client() as c:
        return [c.get("/api/v2!authuser").status_code for _ in range(n)]


# ---------------------------------------------------------------------------- rate limits


def test_api_replies_carry_rate_limit_headers_that_count_down(
    configurable_emulator: Emulator,
) -> None:
    with configurable_emulator.client() as c:
        first = c.get("/api/v2!authuser")
        second = c.get(root_uri(c))
    remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in (first, second)]
    assert remaining[1] < remaining[0]
    reset = int(first.headers["X-RateLimit-Reset"])
    assert time.time() < reset <= time.time() + 3600 + 5


def test_media_replies_carry_no_rate_limit_headers(configurable_emulator: Emulator) -> None:
    with configurable_emulator.client() as c:
        album = new_album(c)
        image = upload(configurable_emulator, album, jpeg())
        item = c.get(image["ImageUri"]).json()["Response"]["Image"]
        media = c.get(item["ArchivedUri"])
    assert media.status_code == 200
    assert "X-RateLimit-Remaining" not in media.headers
    assert "X-RateLimit-Reset" not in media.headers


def test_rate_limit_flag_answers_429_with_retry_after_once_spent(tmp_path: Path) -> None:
    with running_emulator(tmp_path, "--rate-limit", "3", "--rate-window", "60") as emu:
        with emu.plain() as plain:
            for _ in range(5):  # control paths spend nothing
                assert plain.get("/emulator/health").status_code == 200
        with emu.client() as c:
            replies = [c.get("/api/v2!authuser") for _ in range(4)]
        assert [r.status_code for r in replies] == [200, 200, 200, 429]
        assert [r.headers["X-RateLimit-Remaining"] for r in replies[:3]] == ["2", "1", "0"]
        limited = replies[3]
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert limited.headers["X-RateLimit-Remaining"] == "0"
        body = limited.json()
        assert body["Code"] == 429
        assert "User" not in body["Response"]
        # The budget is per caller: another user's token still has its own.
        with emu.plain() as plain:
            plain.post("/emulator/users", json={"nick": "second"}).raise_for_status()
        creds = emu.token(nick="second")
        with emu.client(
            token=creds["access_token"], token_secret=creds["access_token_secret"]
        ) as other:
            assert other.get("/api/v2!authuser").status_code == 200


def test_rate_limit_window_ends_and_the_budget_returns(configurable_emulator: Emulator) -> None:
    configurable_emulator.configure(rate_limit=1, rate_window_s=1.0)
    with configurable_emulator.client() as c:
        c.get("/api/v2!authuser")  # may open a fresh window
        limited = c.get("/api/v2!authuser")
        assert limited.status_code == 429
        time.sleep(float(limited.headers["Retry-After"]) + 0.1)
        assert c.get("/api/v2!authuser").status_code == 200


# ------------------------------------------------------------------------ latency and cost


def test_latency_flag_delays_requests_but_not_control_paths(tmp_path: Path) -> None:
    with running_emulator(tmp_path, "--latency-ms", "200") as emu:
        with emu.client() as c:
            c.get("/api/v2!authuser")  # warm the connection
            elapsed, response = timed(lambda: c.get("/api/v2!authuser"))
        assert response.status_code == 200
        assert elapsed >= 0.2
        with emu.plain() as plain:
            plain.get("/emulator/health")
            control, _ = timed(lambda: plain.get("/emulator/health"))
        assert control < 0.15


def test_connect_flag_delays_the_first_request_of_each_connection_and_counts_it(
    tmp_path: Path,
) -> None:
    with running_emulator(tmp_path, "--connect-ms", "1000") as emu:
        with emu.client() as c:
            first, _ = timed(lambda: c.get("/api/v2!authuser"))
            again, _ = timed(lambda: c.get("/api/v2!authuser"))
        with emu.client() as c:
            other, _ = timed(lambda: c.get("/api/v2!authuser"))
        stats = emu.stats()
        emu.configure(connect_ms=0)
        with emu.client() as c:
            free, _ = timed(lambda: c.get("/api/v2!authuser"))
    assert first >= 1.0
    assert other >= 1.0
    assert again < 1.0
    assert free < 1.0
    assert stats["connections"] == 2


def test_item_cost_flag_delays_a_listing_by_the_items_returned(tmp_path: Path) -> None:
    with running_emulator(tmp_path, "--item-cost-ms", "50") as emu, emu.client() as c:
        root = root_uri(c)
        for n in range(10):
            made, _ = timed(lambda n=n: c.post(root + "!children", json={"Name": f"F{n}"}))
            assert made < 0.3  # creating is not a listing
        one, small = timed(lambda: c.get(root + "!children", params={"count": 1}))
        ten, large = timed(lambda: c.get(root + "!children", params={"count": 10}))
        empty_album = new_album(c)
        none, _ = timed(lambda: c.get(f"/api/v2/album/{empty_album}!images"))
    assert small.json()["Response"]["Pages"]["Count"] == 1
    assert large.json()["Response"]["Pages"]["Count"] == 10
    assert ten >= 0.5
    assert one < 0.3
    assert ten - one >= 0.35
    assert none < 0.2


def test_runtime_config_with_one_bad_key_changes_nothing(configurable_emulator: Emulator) -> None:
    before = configurable_emulator.configure()
    with configurable_emulator.plain() as plain:
        for bad in (
            {"latency_ms": 500, "no_such_setting": 1},
            {"rate_limit": 1, "fault_rate": 7},
            {"range_enabled": False, "fault_kinds": ["500", "explode"]},
        ):
            assert plain.post("/emulator/config", json=bad).status_code == 400, bad
    assert configurable_emulator.configure() == before


@pytest.mark.parametrize("off", [False, "false", 0])
def test_range_can_be_switched_off_at_run_time(
    configurable_emulator: Emulator, off: object
) -> None:
    data = jpeg(size=(200, 100))
    with configurable_emulator.client() as c:
        image = upload(configurable_emulator, new_album(c), data)
        url = c.get(image["ImageUri"]).json()["Response"]["Image"]["ArchivedUri"]
        assert c.get(url, headers={"Range": "bytes=0-9"}).status_code == 206
        assert configurable_emulator.configure(range_enabled=off)["range_enabled"] is False
        whole = c.get(url, headers={"Range": "bytes=0-9"})
    assert whole.status_code == 200
    assert whole.content == data


def test_runtime_config_changes_settings_and_rejects_unknown_keys(
    configurable_emulator: Emulator,
) -> None:
    settings = configurable_emulator.configure(latency_ms=150)
    assert settings["latency_ms"] == 150
    with configurable_emulator.plain() as plain:
        assert plain.get("/emulator/config").json()["latency_ms"] == 150
    with configurable_emulator.client() as c:
        c.get("/api/v2!authuser")
        elapsed, _ = timed(lambda: c.get("/api/v2!authuser"))
    assert elapsed >= 0.15
    with configurable_emulator.plain() as plain:
        for bad in ({"no_such_setting": 1}, {"fault_rate": 2}, {"fault_kinds": "bogus"}):
            response = plain.post("/emulator/config", json=bad)
            assert response.status_code == 400, bad
        response = plain.post("/emulator/config", content=b"[1, 2]")
        assert response.status_code == 400
        after = plain.get("/emulator/config").json()
    assert "no_such_setting" not in after
    assert after["fault_rate"] == 0
    assert after["latency_ms"] == 150
    configurable_emulator.configure(latency_ms=0)
    with configurable_emulator.client() as c:
        c.get("/api/v2!authuser")
        elapsed, _ = timed(lambda: c.get("/api/v2!authuser"))
    assert elapsed < 0.15


# ------------------------------------------------------------------------ injected faults


@pytest.mark.parametrize("kind", ["500", "503", "429"])
def test_fault_rate_one_answers_every_request_with_that_code(tmp_path: Path, kind: str) -> None:
    with running_emulator(tmp_path, "--fault-rate", "1", "--fault-kinds", kind) as emu:
        with emu.client() as c:
            replies = [c.get("/api/v2!authuser"), c.post("/api/v2/node/x!children", json={})]
        for response in replies:
            assert response.status_code == int(kind)
            body = response.json()
            assert body["Code"] == int(kind)
            assert body["Message"]
            assert "User" not in body["Response"]
        if kind == "429":
            assert int(replies[0].headers["Retry-After"]) >= 1
        upload_reply = httpx.post(emu.upload_url, content=jpeg(), auth=emu.auth())
        assert upload_reply.status_code == int(kind)
        assert upload_reply.json()["stat"] == "fail"
        with emu.plain() as plain:
            assert plain.get("/emulator/health").status_code == 200
            stats = plain.get("/emulator/stats").json()
        assert stats["faults"] == {kind: 3}
        assert stats["total"] == 3


def test_drop_fault_breaks_the_connection(tmp_path: Path) -> None:
    with running_emulator(tmp_path, "--fault-rate", "1", "--fault-kinds", "drop") as emu:
        with emu.client() as c, pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            c.get("/api/v2!authuser")
        with emu.plain() as plain:
            assert plain.get("/emulator/health").status_code == 200


def test_truncate_fault_cuts_api_replies_after_the_change_was_made(
    configurable_emulator: Emulator,
) -> None:
    with configurable_emulator.client() as c:
        root = root_uri(c)
        configurable_emulator.configure(fault_kinds=["truncate"], fault_rate=1)
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            c.post(root + "!children", json={"Name": "Half Answered"})
        configurable_emulator.configure(fault_rate=0)
        names = child_names(c, root)
    # The write happened although its reply never arrived whole.
    assert "Half Answered" in names


def test_truncate_fault_on_media_sends_fewer_bytes_than_content_length(
    configurable_emulator: Emulator,
) -> None:
    data = jpeg(size=(400, 300))
    with configurable_emulator.client() as c:
        url = archived_uri(configurable_emulator, c, data)
    configurable_emulator.reset_stats()
    configurable_emulator.configure(fault_kinds=["truncate"], fault_rate=1)
    announced: list[int] = []
    chunks: list[bytes] = []

    def download() -> None:
        with (
            httpx.Client(auth=configurable_emulator.auth(), timeout=30) as media,
            media.stream("GET", url) as response,
        ):
            announced.append(int(response.headers["Content-Length"]))
            for chunk in response.iter_raw():
                chunks.append(chunk)

    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        download()
    received = b"".join(chunks)
    assert announced == [len(data)]
    assert 0 < len(received) < len(data)
    assert data.startswith(received)
    assert configurable_emulator.stats()["faults"] == {"truncate": 1}


def fault_sequence(tmp_path: Path, seed: str) -> list[int]:
    """Statuses of 40 requests to an emulator faulting half of them with that seed."""
    args = ("--fault-rate", "0.5", "--fault-kinds", "500,503", "--seed", seed)
    with running_emulator(tmp_path, *args) as emu:
        return statuses(emu, 40)


def test_same_seed_reproduces_the_same_fault_sequence(tmp_path: Path) -> None:
    first = fault_sequence(tmp_path / "a", "7")
    second = fault_sequence(tmp_path / "b", "7")
    other = fault_sequence(tmp_path / "c", "8")
    assert first == second
    assert {200, 500, 503} <= set(first)
    assert other != first


def test_control_paths_are_never_faulted_or_counted(configurable_emulator: Emulator) -> None:
    configurable_emulator.reset_stats()
    configurable_emulator.configure(fault_rate=1, fault_kinds=["500", "drop"])
    with configurable_emulator.plain() as plain:
        for _ in range(10):
            assert plain.get("/emulator/health").status_code == 200
            assert plain.get("/emulator/stats").status_code == 200
            assert plain.get("/emulator/config").status_code == 200
    stats = configurable_emulator.stats()
    assert stats["total"] == 0
    assert stats["faults"] == {}


# ---------------------------------------------------------------------------------- stats


def test_stats_count_requests_by_endpoint_and_media_bytes_and_reset(
    configurable_emulator: Emulator,
) -> None:
    data = jpeg(size=(300, 200))
    with configurable_emulator.client() as c:
        album = new_album(c)
        image = upload(configurable_emulator, album, data)
        configurable_emulator.reset_stats()
        root = root_uri(c)  # GET !authuser
        c.get(root + "!children")
        c.get(root + "!children", params={"count": 5})
        c.get(f"/api/v2/album/{album}!images")
        url = c.get(image["ImageUri"]).json()["Response"]["Image"]["ArchivedUri"]
        assert c.get(url).content == data
    with configurable_emulator.plain() as plain:
        plain.get("/emulator/health")
    stats = configurable_emulator.stats()
    assert stats["total"] == 6
    by = stats["by_endpoint"]
    assert by["GET /api/v2!authuser"] == 1
    assert by["GET /api/v2/node/{key}!children"] == 2
    assert by["GET /api/v2/album/{key}!images"] == 1
    assert by["GET /api/v2/image/{key}"] == 1
    assert sum(by.values()) == 6
    assert stats["media_bytes"] == len(data)
    assert stats["media_requests"] == 1
    configurable_emulator.reset_stats()
    zeroed = configurable_emulator.stats()
    assert zeroed["total"] == 0
    assert zeroed["by_endpoint"] == {}
    assert zeroed["media_bytes"] == 0
    assert zeroed["media_requests"] == 0


def test_stats_count_uploads(configurable_emulator: Emulator) -> None:
    data = jpeg()
    with configurable_emulator.client() as c:
        album = new_album(c)
    configurable_emulator.reset_stats()
    upload(configurable_emulator, album, data)
    stats = configurable_emulator.stats()
    assert stats["total"] == 1
    assert stats["upload_bytes"] == len(data)
    assert list(stats["by_endpoint"]) == ["POST /upload"]


def test_held_uploads_are_received_but_stored_and_answered_only_once_let_go(
    configurable_emulator: Emulator,
) -> None:
    emu = configurable_emulator
    data = jpeg()
    with emu.client() as c:
        album = new_album(c)
        emu.reset_stats()
        emu.configure(uploads_held=True)
        answers: list[dict[str, Any]] = []
        uploader = threading.Thread(target=lambda: answers.append(upload(emu, album, data)))
        uploader.start()
        try:
            wait_for(lambda: emu.stats()["upload_bytes"] == len(data), "the upload to arrive")
            assert listed_keys(c, album) == []
            assert uploader.is_alive()
            assert not answers
        finally:
            emu.configure(uploads_held=False)
            uploader.join(timeout=30)
        assert len(answers) == 1
        assert [f"/api/v2/image/{k}-0" for k in listed_keys(c, album)] == [answers[0]["ImageUri"]]


# --------------------------------------------------------------------- eventual consistency


def test_listing_delay_hides_new_uploads_and_keeps_deleted_ones_for_a_while(
    tmp_path: Path,
) -> None:
    with running_emulator(tmp_path, "--listing-delay-ms", "1500") as emu, emu.client() as c:
        album = new_album(c)
        image = upload(emu, album, jpeg())
        key = image["ImageUri"].rsplit("/", 1)[1].rsplit("-", 1)[0]
        uploaded_at = time.monotonic()
        assert c.get(image["ImageUri"]).status_code == 200
        assert c.get(image["AlbumImageUri"]).status_code == 200
        assert listed_keys(c, album) == []
        time.sleep(max(0.0, 1.6 - (time.monotonic() - uploaded_at)))
        assert listed_keys(c, album) == [key]
        assert c.delete(image["AlbumImageUri"]).status_code == 200
        deleted_at = time.monotonic()
        assert c.get(image["ImageUri"]).status_code == 404
        assert listed_keys(c, album) == [key]
        time.sleep(max(0.0, 1.6 - (time.monotonic() - deleted_at)))
        assert listed_keys(c, album) == []


def test_listing_delay_can_be_switched_on_at_run_time(configurable_emulator: Emulator) -> None:
    with configurable_emulator.client() as c:
        album = new_album(c)
        configurable_emulator.configure(listing_delay_ms=60_000)
        hidden = upload(configurable_emulator, album, jpeg())
        configurable_emulator.configure(listing_delay_ms=0)
        shown = upload(configurable_emulator, album, jpeg())
        keys = listed_keys(c, album)
    assert hidden["ImageUri"] not in [f"/api/v2/image/{k}-0" for k in keys]
    assert [f"/api/v2/image/{k}-0" for k in keys] == [shown["ImageUri"]]


def test_media_bytes_are_exact_under_a_listing_delay(tmp_path: Path) -> None:
    data = jpeg()
    with running_emulator(tmp_path, "--listing-delay-ms", "500") as emu, emu.client() as c:
        album = new_album(c)
        image = upload(emu, album, data)
        item = c.get(image["ImageUri"]).json()["Response"]["Image"]
        assert item["ArchivedMD5"] == hashlib.md5(data).hexdigest()
        assert c.get(item["ArchivedUri"]).content == data


@pytest.mark.parametrize("kind", ["gateway", "malformed"])
def test_lost_answer_faults_hide_a_write_that_happened(
    configurable_emulator: Emulator, kind: str
) -> None:
    with configurable_emulator.client() as c:
        root = root_uri(c)
        configurable_emulator.configure(fault_kinds=[kind], fault_rate=1)
        reply = c.post(root + "!children", json={"Name": f"Lost {kind}"})
        configurable_emulator.configure(fault_rate=0)
        if kind == "gateway":
            assert reply.status_code == 502
            assert reply.headers["content-type"].startswith("text/html")
        else:
            assert reply.status_code == 200
            with pytest.raises(json.JSONDecodeError):
                json.loads(reply.content)
        names = child_names(c, root)
    assert f"Lost {kind}" in names


def test_malformed_fault_leaves_media_bytes_alone(configurable_emulator: Emulator) -> None:
    data = jpeg(size=(300, 200))
    with configurable_emulator.client() as c:
        url = archived_uri(configurable_emulator, c, data)
        configurable_emulator.configure(fault_kinds=["malformed"], fault_rate=1)
        body = c.get(url).content
        configurable_emulator.configure(fault_rate=0)
    assert body == data
