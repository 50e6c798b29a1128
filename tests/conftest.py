"""Fixtures shared by the test suite: emulators started as real processes on loopback, and the
one log rule for mounts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from smugfs.testing.account import Account
from smugfs.testing.commands import start_children_as_a_shell_does
from smugfs.testing.emulator import Emulator, running_emulator, start_emulator
from smugfs.testing.mounts import STARTED

# libfuse's line for a reply the kernel no longer waits for (the process that asked was killed
# or interrupted, and the kernel dropped its request): nothing of the mount's is lost.
HARMLESS = ("fuse_reply_* failed with No such file or directory",)


def pytest_configure(config: pytest.Config) -> None:
    """Children start as a user's shell would start them, however the suite itself was."""
    start_children_as_a_shell_does()


@pytest.fixture(autouse=True)
def mount_log_rule(request: pytest.FixtureRequest) -> Iterator[None]:
    """The one log rule: a WARNING or ERROR that a mount logs during a test fails the test,
    unless the test says it expects it (`@pytest.mark.log_expected("words of the line")`)."""
    yield
    expected = [text for mark in request.node.iter_markers("log_expected") for text in mark.args]
    expected.extend(HARMLESS)
    unexpected = [
        line
        for mount in STARTED
        for line in mount.unjudged_problems()
        if not any(text in line for text in expected)
    ]
    # Mounts that ended are judged to the end; shared ones stay for the next test.
    STARTED[:] = [mount for mount in STARTED if mount.process.poll() is None]
    if unexpected:
        pytest.fail("a mount logged what the test did not expect:\n" + "\n".join(unexpected))


@pytest.fixture(scope="session")
def sample_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """One emulator with the sample library for the whole session. Tests using it must not
    change its library or leave settings changed (use `emulator` for that)."""
    with running_emulator(tmp_path_factory.mktemp("sample-emulator"), sample=True) as emulator:
        yield emulator


@pytest.fixture
def sample_client(sample_emulator: Emulator) -> Iterator[httpx.Client]:
    """The sample library's owner (`demo`), signed."""
    with sample_emulator.client() as client:
        yield client


@pytest.fixture(scope="module")
def module_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """A fresh emulator for one test module; its tests keep to names of their own."""
    with running_emulator(tmp_path_factory.mktemp("module-emulator")) as emulator:
        yield emulator


@pytest.fixture
def configurable_emulator(module_emulator: Emulator) -> Iterator[Emulator]:
    """The module emulator for a test that changes its settings at run time: the settings are
    put back and the counters zeroed after the test."""
    defaults = module_emulator.configure()
    yield module_emulator
    module_emulator.configure(**defaults)
    module_emulator.reset_stats()


@pytest.fixture
def module_client(module_emulator: Emulator) -> Iterator[httpx.Client]:
    """The module emulator's first user, signed."""
    with module_emulator.client() as client:
        yield client


@pytest.fixture(scope="module")
def module_account(module_emulator: Emulator) -> Iterator[Account]:
    """The module emulator's account, read through its own API."""
    account = Account(module_emulator)
    try:
        yield account
    finally:
        account.close()


@pytest.fixture(scope="module")
def owner(sample_emulator: Emulator) -> Iterator[httpx.Client]:
    """The sample owner's signed client (media and rendition tests)."""
    with sample_emulator.client() as client:
        yield client


@pytest.fixture(scope="module")
def anonymous() -> Iterator[httpx.Client]:
    """A client with no credentials at all, as a browser fetching media."""
    with httpx.Client(timeout=60.0) as client:
        yield client


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    """A fresh emulator holding one user with an empty root folder."""
    with running_emulator(tmp_path / "emulator") as emulator:
        yield emulator


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[list[Emulator]]:
    """An emulator that a test may stop and start again on the same port and data directory
    (`harness.restart`; the list's last element is the one running); all stopped at the end."""
    started = [start_emulator(tmp_path / "emulator")]
    try:
        yield started
    finally:
        for emulator in started:
            emulator.stop()


@pytest.fixture
def account(emulator: Emulator) -> Iterator[Account]:
    """The fresh emulator's account, read through its own API."""
    account = Account(emulator)
    try:
        yield account
    finally:
        account.close()
