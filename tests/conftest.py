"""Fixtures shared by the test suite: emulators started as real processes on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Emulator, running_emulator
from tests.service import Account


@pytest.fixture(scope="session")
def sample_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """One emulator with the sample library for the whole session. Tests using it must not
    change its library or leave settings changed (use `emulator` for that)."""
    with running_emulator(tmp_path_factory.mktemp("sample-emulator"), sample=True) as emulator:
        yield emulator


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    """A fresh emulator holding one user with an empty root folder."""
    with running_emulator(tmp_path / "emulator") as emulator:
        yield emulator


@pytest.fixture
def account(emulator: Emulator) -> Iterator[Account]:
    """The fresh emulator's account, read through its own API."""
    account = Account(emulator)
    try:
        yield account
    finally:
        account.close()
