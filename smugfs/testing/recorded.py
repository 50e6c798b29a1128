"""The real service's recorded responses (`shared/smugmug-recorded/`, kept beside the project),
for tests that compare the emulator's shapes with them."""

from __future__ import annotations

import json
import unittest
from pathlib import Path
from typing import Any

RECORDED = "shared/smugmug-recorded"


def recorded_dir() -> Path:
    """The folder of recordings: beside the working copy or beside one of its parents (the
    test is skipped where there is none: pytest takes `unittest.SkipTest` as a skip)."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / RECORDED
        if candidate.is_dir():
            return candidate
    raise unittest.SkipTest(f"no {RECORDED} beside the project")


def recorded(name: str) -> Any:
    """One recorded reply (`smugcli/authuser.json`), parsed."""
    return json.loads((recorded_dir() / name).read_text(encoding="utf-8"))


def assert_same_link(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """A `Uris` entry of ours says what the recorded entry of the same name says (everything
    but the URI itself, which names other records)."""
    for key in ("Locator", "LocatorType", "UriDescription", "EndpointType"):
        assert ours.get(key) == theirs.get(key), (key, ours, theirs)


def assert_fields_like(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Every field of the recorded record is in ours with a value of the same JSON type."""
    for key, value in theirs.items():
        assert key in ours, key
        assert type(ours[key]) is type(value), (key, ours[key], value)
