"""The wait of `smugfs sync` and `smugfs unmount` ends: a mount still scanning for earlier
mounts' leftovers with nothing queued, or one that stopped rewriting its status, ends the wait
with a message once past the limit, while a mount that finishes ends it at once."""

from __future__ import annotations

import io
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from smugfs import sync


@pytest.fixture(autouse=True)
def asked_to_report() -> Iterator[None]:
    """The wait asks the mount (here this process) to report at once with SIGUSR1."""
    before = signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    yield
    signal.signal(signal.SIGUSR1, before)


def status(**fields: Any) -> dict[str, Any]:
    """A status as a running mount writes it (this test's process stands for the mount)."""
    base: dict[str, Any] = {"pid": os.getpid(), "updated": time.time(), "queue": {}}
    return {**base, **fields}


def test_a_scan_that_never_ends_ends_the_wait_with_a_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sync, "SCAN_LIMIT", 0.5)
    started = time.monotonic()
    with pytest.raises(sync.Stalled, match="not finished looking"):
        sync._wait(lambda: status(recovery_scanned=False), io.StringIO())
    assert time.monotonic() - started < 5


def test_a_mount_that_stops_reporting_ends_the_wait_with_a_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sync, "SILENT_LIMIT", 0.5)
    frozen = status(updated=time.time() + 1, queue={"queued": 1, "queued_bytes": 10})
    with pytest.raises(sync.Stalled, match="has not reported"):
        sync._wait(lambda: frozen, io.StringIO())


def test_a_queue_that_moves_is_followed_to_its_end() -> None:
    queues = iter([{"queued": 1, "queued_bytes": 10}] * 3 + [{"done": 1, "done_bytes": 10}])
    final = sync._wait(lambda: status(queue=next(queues)), io.StringIO())
    assert final is not None
    assert final["queue"]["done"] == 1
