"""Where the emulator's credentials come from: a secure random source on every ordinary run, so
that a demo service on a shared machine hands out tokens, secrets and verifiers nobody can
predict, and the same values again on every run given `--seed`, for reproducible runs."""

from __future__ import annotations

import re
from pathlib import Path

from smugfs.testing.emulator import running_emulator
from smugfs.testing.oauth_steps import authorize_json, request_token

CREDENTIALS = (
    "SMUGFS_API_KEY",
    "SMUGFS_API_SECRET",
    "SMUGFS_ACCESS_TOKEN",
    "SMUGFS_ACCESS_TOKEN_SECRET",
)


def one_run(workdir: Path, *args: str) -> dict[str, str]:
    """The credentials a fresh emulator hands out: its env file's, a token made through
    `/emulator/tokens`, and a login's request token, token secret and six-digit verifier."""
    with running_emulator(workdir, *args) as emu:
        seen = {name: emu.env[name] for name in CREDENTIALS}
        made = emu.token(permissions="Read")
        seen["made_token"] = made["access_token"]
        seen["made_secret"] = made["access_token_secret"]
        login = request_token(emu)
        seen["request_token"] = login["oauth_token"]
        seen["request_secret"] = login["oauth_token_secret"]
        granted = authorize_json(emu, login["oauth_token"], Access="Full", Permissions="Read")
        assert granted.status_code == 200, granted.text
        seen["verifier"] = granted.json()["oauth_verifier"]
    assert re.fullmatch(r"\d{6}", seen["verifier"])
    return seen


def test_without_a_seed_every_credential_differs_from_run_to_run(tmp_path: Path) -> None:
    first = one_run(tmp_path / "one")
    second = one_run(tmp_path / "two")
    assert set(first) == set(second)
    # A six-digit verifier repeats by chance once in a million runs; every other value is
    # 128 bits or more.
    same = [name for name in first if first[name] == second[name]]
    assert same in ([], ["verifier"]), same
    for name in ("SMUGFS_API_SECRET", "SMUGFS_ACCESS_TOKEN_SECRET", "made_secret"):
        assert re.fullmatch(r"[0-9a-f]{32}", first[name]), name


def test_with_a_seed_every_credential_repeats(tmp_path: Path) -> None:
    first = one_run(tmp_path / "one", "--seed", "5")
    assert one_run(tmp_path / "two", "--seed", "5") == first
    other = one_run(tmp_path / "three", "--seed", "6")
    assert all(other[name] != first[name] for name in CREDENTIALS)
