"""Waiting for a condition by polling it, never for a fixed time, and never without a bound:
tests run on loaded machines, so every wait is generous and ends."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(
    condition: Callable[[], object], what: str = "a condition", timeout: float = 30.0
) -> None:
    """Wait until `condition()` is true; a failed assertion naming `what` after `timeout`
    seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def wait_until(condition: Callable[[], object], timeout: float = 20.0) -> bool:
    """Poll `condition()` until it is true or the time is up; whether it came true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False
