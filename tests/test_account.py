"""Using smugfs with an account, the way a user does: `smugfs login` end to end, the saved token,
the config file, a public read-only mount by nickname, the fstab form through mount.fuse3, the
`mount.smugfs` helper, `smugfs status`, `df`, `--help`, one-line refusals, syslog output, and no
secret in any log or output these tests produced.

Everything runs the command line as a process against emulators on loopback. The login's
authorize step, which a person answers in a browser, is answered by the test over HTTP: it opens
the printed address, reads the six-digit code from the page and types it into the command.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import shlex
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from smugfs import config, logs, mount_helper
from smugfs.config import Credentials
from smugfs.errors import ConfigurationError
from smugfs.testing.account import create_album
from smugfs.testing.commands import (
    one_line_error,
    processes_mentioning,
    run,
    smugfs_command,
    subprocess_env,
)
from smugfs.testing.emulator import Emulator
from smugfs.testing.library import walk
from smugfs.testing.media import photo
from smugfs.testing.mounts import is_mounted
from smugfs.testing.waits import wait_until

SUBCOMMANDS = (
    "mount",
    "demo",
    "unmount",
    "login",
    "logout",
    "whoami",
    "status",
    "sync",
    "thumbnails",
    "emulator",
)
VERIFIER = re.compile(r'<code id="verifier">(\d{6})</code>')
STATUS_HEADINGS = (
    "mountpoint",
    "service",
    "cache",
    "uploads",
    "queue",
    "requests",
    "rate limit",
    "thumbnails",
)


# ------------------------------------------------------------- what the tests produced


@dataclasses.dataclass
class Produced:
    """Secrets the tests handled, and the logs and outputs that must not contain them."""

    secrets: set[str] = dataclasses.field(default_factory=set)
    files: list[Path] = dataclasses.field(default_factory=list)
    outputs: list[str] = dataclasses.field(default_factory=list)

    def secret(self, *values: str) -> None:
        """Remember values that must never be printed or logged."""
        self.secrets.update(v for v in values if len(v) >= 8)

    def emulator(self, emulator: Emulator) -> None:
        """Remember an emulator's credentials and its log."""
        self.secret(
            emulator.env["SMUGFS_API_SECRET"],
            emulator.env["SMUGFS_ACCESS_TOKEN"],
            emulator.env["SMUGFS_ACCESS_TOKEN_SECRET"],
        )
        self.files.append(emulator.log_path)


PRODUCED = Produced()


# ------------------------------------------------------------- running the command line


def smugfs(
    *args: str, env: dict[str, str], input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `smugfs ARGS` as a user would; its output is kept for the secret check."""
    result = smugfs_command(*args, env=env, input=input, timeout=timeout)
    PRODUCED.outputs += [result.stdout, result.stderr]
    return result


def base_env(tmp_path: Path) -> dict[str, str]:
    """An environment without credentials, with this test's own config and runtime dirs."""
    env = {k: v for k, v in subprocess_env().items() if not k.startswith("SMUGFS_")}
    env["SMUGFS_CONFIG_DIR"] = str(tmp_path / "config")
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env["XDG_RUNTIME_DIR"] = str(runtime)
    return env


def account_env(emulator: Emulator, tmp_path: Path, *, token: bool = True) -> dict[str, str]:
    """The environment naming the emulator's first user (all six variables, or no token)."""
    PRODUCED.emulator(emulator)
    env = base_env(tmp_path)
    env.update(emulator.env)
    if not token:
        del env["SMUGFS_ACCESS_TOKEN"], env["SMUGFS_ACCESS_TOKEN_SECRET"]
    return env


def login_env(emulator: Emulator, tmp_path: Path) -> dict[str, str]:
    """What a user has before logging in: the service, the API key and its secret."""
    PRODUCED.emulator(emulator)
    env = base_env(tmp_path)
    for name in ("SMUGFS_ENDPOINT", "SMUGFS_API_KEY", "SMUGFS_API_SECRET"):
        env[name] = emulator.env[name]
    return env


def saved_login_env(tmp_path: Path) -> dict[str, str]:
    """After `smugfs login`: no SMUGFS_* credentials at all, only the saved token."""
    return base_env(tmp_path)


def log_in(
    env: dict[str, str], *, answer: Callable[[str], str] = str
) -> subprocess.CompletedProcess[str]:
    """`smugfs login`, with the authorize page opened by the test and `answer(code)` typed back
    (the code itself by default)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "smugfs", "login"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    shown: list[str] = []
    try:
        url = None
        while url is None:
            line = process.stdout.readline()
            if not line:
                break
            shown.append(line)
            found = re.search(r"https?://\S+/authorize\?\S+", line)
            url = found.group(0) if found else None
        assert url is not None, "".join(shown)
        # The person's browser: the emulator approves at once and shows the code.
        page = httpx.get(url, timeout=30)
        assert page.status_code == 200, page.text
        code = VERIFIER.search(page.text)
        assert code is not None, page.text
        out, err = process.communicate(answer(code.group(1)) + "\n", timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    result = subprocess.CompletedProcess(
        process.args, process.returncode, "".join(shown) + out, err
    )
    PRODUCED.outputs += [result.stdout, result.stderr]
    return result


def saved_tokens(env: dict[str, str]) -> dict[str, str]:
    """The token file's contents (its secrets remembered)."""
    data: dict[str, str] = json.loads((Path(env["SMUGFS_CONFIG_DIR"]) / "tokens.json").read_text())
    PRODUCED.secret(data["api_secret"], data["access_token"], data["access_token_secret"])
    return data


def nick_of(emulator: Emulator) -> str:
    """The first user's nickname."""
    with emulator.client() as http:
        nick: str = http.get("/api/v2!authuser").json()["Response"]["User"]["NickName"]
        return nick


# ------------------------------------------------------------- mounts


@contextlib.contextmanager
def unmounted_after(mountpoint: Path) -> Iterator[Path]:
    """`mountpoint`, created; whatever gets mounted there is unmounted afterwards and its
    process has ended (so it writes no more logs)."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    try:
        yield mountpoint
    finally:
        if is_mounted(mountpoint):
            subprocess.run(["fusermount3", "-u", str(mountpoint)], check=False, capture_output=True)
        wait_until(lambda: not processes_mentioning(str(mountpoint)), timeout=30)
        if is_mounted(mountpoint):
            subprocess.run(["fusermount3", "-uz", str(mountpoint)], check=False)


def mount_in_background(
    env: dict[str, str],
    tmp_path: Path,
    *args: str,
    options: Sequence[str] = (),
    cache: bool = True,
) -> Path:
    """`smugfs mount MNT` (in the background, logging to a file of this test); the mountpoint."""
    mountpoint = tmp_path / "mnt"
    log_file = tmp_path / "mount.log"
    PRODUCED.files.append(log_file)
    all_options = [f"cache_dir={tmp_path / 'cache'}"] if cache else []
    all_options += options
    option_args = ["-o", ",".join(all_options)] if all_options else []
    result = smugfs(
        "mount", str(mountpoint), *option_args, "--log-file", str(log_file), *args, env=env
    )
    assert result.returncode == 0, result.stderr
    assert is_mounted(mountpoint)
    return mountpoint


def unmount(mountpoint: Path, env: dict[str, str]) -> None:
    """`smugfs unmount`, which must end the mount and its process."""
    result = smugfs("unmount", str(mountpoint), env=env)
    assert result.returncode == 0, result.stderr
    assert not is_mounted(mountpoint)
    assert wait_until(lambda: not processes_mentioning(str(mountpoint)), timeout=30)


def status_lines(mountpoint: Path, env: dict[str, str]) -> list[str]:
    """`smugfs status MNT`, line by line."""
    result = smugfs("status", str(mountpoint), env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def fails_read_only(*command: str | os.PathLike[str]) -> None:
    """A tool that must be refused with EROFS."""
    result = run(*command, check=False)
    assert result.returncode != 0, f"{command} succeeded"
    assert "Read-only file system" in result.stderr, result.stderr


def program_dir(tmp_path: Path) -> Path:
    """A directory holding a `smugfs` program: the virtual environment's own, or (in an
    environment without the console script) a small script running this checkout's package."""
    venv_bin = Path(sys.executable).parent
    if (venv_bin / "smugfs").exists():
        return venv_bin
    shim_dir = tmp_path / "bin"
    shim_dir.mkdir(exist_ok=True)
    shim = shim_dir / "smugfs"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m smugfs "$@"\n')
    shim.chmod(0o755)
    return shim_dir


def helper_command() -> list[str]:
    """`mount.smugfs`: the console script if installed, else the module."""
    script = Path(sys.executable).parent / "mount.smugfs"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "smugfs.mount_helper"]


# ------------------------------------------------------------- login, whoami, logout


def test_login_end_to_end_saves_a_private_token_whoami_shows_it_and_logout_removes_it(
    emulator: Emulator, tmp_path: Path
) -> None:
    env = login_env(emulator, tmp_path)
    result = log_in(env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    nick = nick_of(emulator)
    assert f"logged in as {nick}" in result.stdout

    config_dir = Path(env["SMUGFS_CONFIG_DIR"])
    token_file = config_dir / "tokens.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700
    tokens = saved_tokens(env)
    assert tokens["nick"] == nick
    assert tokens["endpoint"] == emulator.base_url
    # A token of its own, not the one the emulator handed out at start.
    assert tokens["access_token"] != emulator.env["SMUGFS_ACCESS_TOKEN"]

    # whoami with the key in the environment (as login had it) and with nothing but the login.
    for whoami_env in (env, saved_login_env(tmp_path)):
        whoami = smugfs("whoami", env=whoami_env)
        assert whoami.returncode == 0, whoami.stderr
        assert whoami.stdout.split()[0] == nick

    logout = smugfs("logout", env=env)
    assert logout.returncode == 0, logout.stderr
    assert "logged out" in logout.stdout
    assert not token_file.exists()
    line = one_line_error(smugfs("whoami", env=saved_login_env(tmp_path)))
    assert "smugfs login" in line


def test_a_wrong_api_secret_is_refused_in_one_line_naming_the_problem(
    emulator: Emulator, tmp_path: Path
) -> None:
    env = login_env(emulator, tmp_path)
    wrong = "wrong-api-secret-" + os.urandom(8).hex()
    PRODUCED.secret(wrong)
    env["SMUGFS_API_SECRET"] = wrong
    line = one_line_error(smugfs("login", env=env))
    assert "oauth_problem=" in line
    assert wrong not in line
    assert emulator.env["SMUGFS_API_SECRET"] not in line
    assert not (tmp_path / "config" / "tokens.json").exists()


def test_a_bad_verifier_is_refused_in_one_line(emulator: Emulator, tmp_path: Path) -> None:
    env = login_env(emulator, tmp_path)
    # A six-digit code, but not the one the page showed.
    result = log_in(env, answer=lambda code: f"{(int(code) + 1) % 1_000_000:06d}")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("smugfs: the code was not accepted (oauth_problem=")
    assert "smugfs login" in lines[0]
    assert not (tmp_path / "config" / "tokens.json").exists()


def test_login_without_a_secret_says_where_to_put_it(emulator: Emulator, tmp_path: Path) -> None:
    env = login_env(emulator, tmp_path)
    del env["SMUGFS_API_SECRET"]
    line = one_line_error(smugfs("login", env=env))
    assert "SMUGFS_API_SECRET" in line
    assert "api_secret" in line


@pytest.mark.fuse
def test_a_mount_with_only_the_saved_login_reads_and_writes(
    emulator: Emulator, tmp_path: Path
) -> None:
    assert log_in(login_env(emulator, tmp_path)).returncode == 0
    saved_tokens(login_env(emulator, tmp_path))
    env = saved_login_env(tmp_path)
    assert not any(name.startswith("SMUGFS_") and name != "SMUGFS_CONFIG_DIR" for name in env)
    with unmounted_after(tmp_path / "mnt"):
        mountpoint = mount_in_background(env, tmp_path)
        assert os.listdir(mountpoint) == []
        run("mkdir", mountpoint / "From Login")
        (mountpoint / "From Login" / "one.jpg").write_bytes(photo(1, 150_000))
        with emulator.client() as http:
            user = http.get("/api/v2!authuser").json()["Response"]["User"]
            children = http.get(user["Uris"]["Node"]["Uri"] + "!children").json()["Response"]
        assert [n["Name"] for n in children["Node"]] == ["From Login"]
        unmount(mountpoint, env)


@pytest.mark.fuse
def test_a_rejected_token_fails_the_mount_and_whoami_in_one_line(
    emulator: Emulator, tmp_path: Path
) -> None:
    wrong = "wrong-token-secret-" + os.urandom(8).hex()
    PRODUCED.secret(wrong)
    env = account_env(emulator, tmp_path)
    env["SMUGFS_ACCESS_TOKEN_SECRET"] = wrong
    with unmounted_after(tmp_path / "mnt") as mountpoint:
        line = one_line_error(
            smugfs(
                "mount",
                str(mountpoint),
                "-o",
                f"cache_dir={tmp_path / 'cache'}",
                "--log-file",
                str(tmp_path / "mount.log"),
                env=env,
            )
        )
        PRODUCED.files.append(tmp_path / "mount.log")
        assert "refused the credentials" in line
        assert "smugfs login" in line
        assert not is_mounted(mountpoint)
    line = one_line_error(smugfs("whoami", env=env))
    assert "smugfs login" in line
    assert wrong not in line


# ------------------------------------------------------------- the config file


@pytest.mark.fuse
def test_config_file_values_take_effect_and_o_options_override_them(
    emulator: Emulator, tmp_path: Path
) -> None:
    env = account_env(emulator, tmp_path)
    config_dir = Path(env["SMUGFS_CONFIG_DIR"])
    config_dir.mkdir(mode=0o700)
    file_cache = tmp_path / "file-cache"
    (config_dir / "config.toml").write_text(
        f'cache_dir = "{file_cache}"\nlisting_ttl = 1\nread_only = true\nlog_level = "info"\n'
    )

    # The file's values: its cache, a one-second listing TTL, read-only, INFO logging.
    with unmounted_after(tmp_path / "mnt"):
        mountpoint = mount_in_background(env, tmp_path, cache=False)
        lines = status_lines(mountpoint, env)
        assert f"in {file_cache}" in lines[2]
        assert "read-only" in lines[1]
        fails_read_only("mkdir", mountpoint / "New")
        assert os.listdir(mountpoint) == []
        with emulator.client() as http:
            create_album(http, "Soon")
        assert wait_until(lambda: os.listdir(mountpoint) == ["Soon"], timeout=10)
        unmount(mountpoint, env)
    assert " INFO " in (tmp_path / "mount.log").read_text()
    assert file_cache.is_dir()

    # -o wins over the file: another cache and an hour-long listing TTL.
    option_cache = tmp_path / "option-cache"
    with unmounted_after(tmp_path / "mnt"):
        mountpoint = mount_in_background(
            env, tmp_path, cache=False, options=[f"cache_dir={option_cache}", "listing_ttl=3600"]
        )
        lines = status_lines(mountpoint, env)
        assert f"in {option_cache}" in lines[2]
        assert "read-only" in lines[1]
        assert os.listdir(mountpoint) == ["Soon"]
        with emulator.client() as http:
            create_album(http, "Later")
        time.sleep(3)
        assert os.listdir(mountpoint) == ["Soon"]
        unmount(mountpoint, env)
    assert option_cache.is_dir()


@pytest.mark.fuse
def test_o_config_names_another_config_file(emulator: Emulator, tmp_path: Path) -> None:
    env = account_env(emulator, tmp_path)
    config_dir = Path(env["SMUGFS_CONFIG_DIR"])
    config_dir.mkdir(mode=0o700)
    (config_dir / "config.toml").write_text("read_only = true\n")
    other_cache = tmp_path / "other-cache"
    other = tmp_path / "other.toml"
    other.write_text(f'cache_dir = "{other_cache}"\n')
    with unmounted_after(tmp_path / "mnt"):
        mountpoint = mount_in_background(env, tmp_path, cache=False, options=[f"config={other}"])
        lines = status_lines(mountpoint, env)
        assert f"in {other_cache}" in lines[2]
        assert "read-only" not in lines[1]
        unmount(mountpoint, env)


def test_a_mistake_in_the_config_file_is_one_line(emulator: Emulator, tmp_path: Path) -> None:
    env = account_env(emulator, tmp_path)
    config_dir = Path(env["SMUGFS_CONFIG_DIR"])
    config_dir.mkdir(mode=0o700)
    (config_dir / "config.toml").write_text("cache_dri = '/tmp'\n")
    (tmp_path / "mnt").mkdir()
    line = one_line_error(smugfs("mount", str(tmp_path / "mnt"), env=env))
    assert "unknown setting cache_dri" in line
    (config_dir / "config.toml").write_text("log_level = 'loud'\n")
    line = one_line_error(smugfs("mount", str(tmp_path / "mnt"), env=env))
    assert "log_level" in line


def test_settings_precedence_and_the_options_mount_8_passes() -> None:
    saved = ("http://saved", Credentials("key", "secret", "token", "token-secret"))
    file_values = {"cache_dir": "/file", "listing_ttl": 5, "read_only": True}
    settings = config.from_environment({}, {}, file_values=file_values, saved=saved)
    assert settings.cache_dir == Path("/file")
    assert settings.listing_ttl == 5
    assert settings.read_only
    assert settings.endpoint == "http://saved"
    assert settings.credentials.has_token

    # The key and secret in the environment (as for `smugfs login`) keep the saved token.
    env = {"SMUGFS_API_KEY": "key", "SMUGFS_API_SECRET": "secret"}
    assert config.from_environment(env, {}, saved=saved).credentials.token == "token"
    # Another key does not borrow it.
    env = {"SMUGFS_API_KEY": "other"}
    assert not config.from_environment(env, {}, saved=saved).credentials.has_token

    # What mount(8) and fstab add is accepted and changes nothing; `rw` does not undo the file.
    fstab = (
        "rw,nodev,nosuid,suid,dev,exec,noexec,auto,noauto,user,nouser,users,async,sync,atime,"
        "noatime,relatime,defaults,_netdev,nofail,x-systemd.automount,"
        "x-systemd.requires=network-online.target,comment=smugfs"
    )
    generic = {
        name: (value or None) for name, _, value in (o.partition("=") for o in fstab.split(","))
    }
    settings = config.from_environment(
        {}, {**generic, "cache_dir": "/option"}, file_values=file_values, saved=saved
    )
    assert settings.cache_dir == Path("/option")
    assert settings.read_only
    assert config.from_environment({}, {"ro": None}, saved=saved).read_only
    public = config.from_environment({"SMUGFS_API_KEY": "key"}, {"nick": "alice"})
    assert (public.user, public.read_only) == ("alice", True)
    with pytest.raises(ConfigurationError, match="unknown mount option bogus"):
        config.from_environment({}, {"bogus": None}, saved=saved)
    with pytest.raises(ConfigurationError, match="nick needs a value"):
        config.from_environment({}, {"nick": None}, saved=saved)


# ------------------------------------------------------------- another user's public galleries


@pytest.mark.fuse
def test_user_nick_mounts_public_galleries_read_only_with_only_an_api_key(
    sample_emulator: Emulator, tmp_path: Path
) -> None:
    PRODUCED.emulator(sample_emulator)
    env = base_env(tmp_path)
    for name in ("SMUGFS_ENDPOINT", "SMUGFS_UPLOAD_URL", "SMUGFS_API_KEY"):
        env[name] = sample_emulator.env[name]
    # What the mount should show, seen by alice herself (Drafts included).
    alice = sample_emulator.token(nick="alice", permissions="Read")
    PRODUCED.secret(alice["api_secret"], alice["access_token"], alice["access_token_secret"])
    with sample_emulator.client(
        token=alice["access_token"], token_secret=alice["access_token_secret"]
    ) as http:
        _, files = walk(http)
    street = {path: f for path, f in files.items() if path.startswith("Street/")}
    assert street
    assert any(path.startswith("Drafts/") for path in files)

    local = tmp_path / "local.jpg"
    local.write_bytes(photo(2, 150_000))
    with unmounted_after(tmp_path / "mnt"):
        mountpoint = mount_in_background(env, tmp_path, "--user", "alice")
        names = os.listdir(mountpoint)
        assert "Street" in names
        assert "Drafts" not in names
        for path, remote in street.items():
            data = (mountpoint / path).read_bytes()
            assert hashlib.md5(data).hexdigest() == remote.md5, path
        fails_read_only("mkdir", mountpoint / "Street" / "New")
        fails_read_only("cp", local, mountpoint / "Street" / "local.jpg")
        fails_read_only("rm", mountpoint / next(iter(street)))
        assert "read-only" in status_lines(mountpoint, env)[1]
        unmount(mountpoint, env)


# ------------------------------------------------------------- fstab and mount(8)


@pytest.mark.fuse
def test_the_fstab_form_mounts_through_mount_fuse3(emulator: Emulator, tmp_path: Path) -> None:
    env = account_env(emulator, tmp_path)
    programs = program_dir(tmp_path)
    env["PATH"] = f"{programs}{os.pathsep}{env.get('PATH', '')}"
    log_file = tmp_path / "mount.log"
    PRODUCED.files.append(log_file)
    options = f"cache_dir={tmp_path / 'cache'},log_file={log_file},log_level=info,noatime,nodev"
    with unmounted_after(tmp_path / "mnt") as mountpoint:
        # mount(8) runs its helpers with PATH removed, so the fstab line names the program by
        # its full path: `/path/to/smugfs#mount /mnt fuse3 OPTIONS 0 0`.
        result = subprocess.run(
            [
                "mount",
                "-t",
                "fuse3",
                f"{programs / 'smugfs'}#mount",
                str(mountpoint),
                "-o",
                options,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        PRODUCED.outputs += [result.stdout, result.stderr]
        assert result.returncode == 0, result.stderr
        assert is_mounted(mountpoint)
        assert os.listdir(mountpoint) == []
        assert status_lines(mountpoint, env)[0].startswith(f"mountpoint   {mountpoint}")
        unmount(mountpoint, env)
    assert (
        f" INFO smugfs.mount: mounted {emulator.base_url} at {mountpoint}" in log_file.read_text()
    )


@pytest.mark.fuse
def test_mount_smugfs_helper_mounts_the_account(emulator: Emulator, tmp_path: Path) -> None:
    env = account_env(emulator, tmp_path)
    log_file = tmp_path / "mount.log"
    PRODUCED.files.append(log_file)
    with unmounted_after(tmp_path / "mnt") as mountpoint:
        # As mount(8) calls it for `mount -t smugfs smugfs MNT -o ...` (with its own options).
        options = f"rw,nosuid,nodev,noatime,cache_dir={tmp_path / 'cache'},log_file={log_file}"
        result = subprocess.run(
            [*helper_command(), "smugfs", str(mountpoint), "-o", options, "-n"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        PRODUCED.outputs += [result.stdout, result.stderr]
        assert result.returncode == 0, result.stderr
        assert is_mounted(mountpoint)
        run("mkdir", mountpoint / "By Helper")
        assert os.listdir(mountpoint) == ["By Helper"]
        unmount(mountpoint, env)


@pytest.mark.fuse
def test_mount_smugfs_helper_mounts_a_nickname_read_only(
    sample_emulator: Emulator, tmp_path: Path
) -> None:
    PRODUCED.emulator(sample_emulator)
    env = base_env(tmp_path)
    for name in ("SMUGFS_ENDPOINT", "SMUGFS_UPLOAD_URL", "SMUGFS_API_KEY"):
        env[name] = sample_emulator.env[name]
    log_file = tmp_path / "mount.log"
    PRODUCED.files.append(log_file)
    with unmounted_after(tmp_path / "mnt") as mountpoint:
        options = f"cache_dir={tmp_path / 'cache'},log_file={log_file},x-systemd.automount"
        result = subprocess.run(
            [*helper_command(), "alice", str(mountpoint), "-o", options, "-v"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        PRODUCED.outputs += [result.stdout, result.stderr]
        assert result.returncode == 0, result.stderr
        assert "Street" in os.listdir(mountpoint)
        fails_read_only("mkdir", mountpoint / "New")
        unmount(mountpoint, env)


def test_mount_smugfs_helper_arguments_and_refusals(tmp_path: Path) -> None:
    assert mount_helper.smugfs_arguments("smugfs", "/m", ["ro"], verbose=False) == [
        "mount",
        "/m",
        "-o",
        "ro",
    ]
    assert mount_helper.smugfs_arguments("account", "/m", [], verbose=True) == [
        "mount",
        "/m",
        "-v",
    ]
    assert mount_helper.smugfs_arguments("demo", "/m", [], verbose=False) == ["demo", "/m"]
    assert mount_helper.smugfs_arguments("alice", "/m", [], verbose=False) == [
        "mount",
        "/m",
        "--user=alice",
    ]
    env = base_env(tmp_path)
    # -f (fake) checks the options without mounting; -s drops the ones smugfs does not know.
    fake = [*helper_command(), "smugfs", str(tmp_path), "-f", "-o"]
    unknown = subprocess.run([*fake, "rw,bogus"], capture_output=True, text=True, env=env)
    assert unknown.returncode == 1
    assert "unknown mount option bogus" in unknown.stderr
    sloppy = subprocess.run([*fake, "rw,bogus", "-s"], capture_output=True, text=True, env=env)
    assert sloppy.returncode == 0, sloppy.stderr
    failed = subprocess.run(
        [*helper_command(), "smugfs", str(tmp_path / "absent")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert failed.returncode == 32
    assert failed.stderr.strip().splitlines()[-1].startswith("smugfs: ")
    usage = subprocess.run([*helper_command()], capture_output=True, text=True, env=env)
    assert usage.returncode == 1


# ------------------------------------------------------------- a live mount: status, df, syslog


@pytest.mark.fuse
def test_status_of_a_live_mount_counts_an_upload(emulator: Emulator, tmp_path: Path) -> None:
    env = account_env(emulator, tmp_path)
    local = tmp_path / "local.jpg"
    local.write_bytes(photo(3, 150_000))
    with unmounted_after(tmp_path / "mnt"):
        mountpoint = mount_in_background(env, tmp_path)
        lines = status_lines(mountpoint, env)
        assert [line.split("  ")[0] for line in lines] == list(STATUS_HEADINGS)
        assert f"{mountpoint} (process " in lines[0]
        assert emulator.base_url in lines[1]
        assert "0 in flight, 0 done, 0 failed" in lines[3]
        run("mkdir", mountpoint / "Uploads")
        run("cp", local, mountpoint / "Uploads" / "local.jpg")
        assert wait_until(lambda: "1 done" in status_lines(mountpoint, env)[3], timeout=10)
        lines = status_lines(mountpoint, env)
        assert "0 in flight, 1 done, 0 failed" in lines[3]
        assert not lines[5].startswith("requests     0 sent")
        raw = json.loads(smugfs("status", str(mountpoint), "--json", env=env).stdout)
        assert raw["uploads"]["done"] == 1
        assert raw["rate_limit"]["remaining"] is not None
        unmount(mountpoint, env)
    line = one_line_error(smugfs("status", str(mountpoint), env=env))
    assert "is not mounted" in line


@pytest.mark.fuse
def test_df_on_the_mount_answers_sensibly(emulator: Emulator, tmp_path: Path) -> None:
    env = account_env(emulator, tmp_path)
    with unmounted_after(tmp_path / "mnt"):
        mountpoint = mount_in_background(env, tmp_path)
        result = run("df", "-B1", "--output=source,size,used,avail,target", mountpoint)
        source, size, used, avail, target = result.stdout.splitlines()[1].split()
        assert (source, target) == ("smugfs", str(mountpoint))
        assert int(size) >= 1024**4
        assert 0 <= int(used) <= int(size)
        assert 0 < int(avail) <= int(size)
        inodes = run("df", "--output=itotal,iavail", mountpoint).stdout.splitlines()[1]
        assert 0 < int(inodes.split()[1]) <= int(inodes.split()[0])
        assert run("df", "-h", mountpoint).returncode == 0
        unmount(mountpoint, env)


@pytest.mark.fuse
def test_syslog_flag_mounts_and_without_dev_log_uses_the_log_file(
    emulator: Emulator, tmp_path: Path
) -> None:
    env = account_env(emulator, tmp_path)
    with unmounted_after(tmp_path / "mnt"):
        mountpoint = mount_in_background(env, tmp_path, "--syslog", "-v")
        unmount(mountpoint, env)
    if not os.path.exists(logs.SYSLOG_SOCKET):
        assert " INFO smugfs.mount: mounted " in (tmp_path / "mount.log").read_text()


def test_syslog_lines_are_in_the_form_syslog_expects(tmp_path: Path) -> None:
    address = tmp_path / "log.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(address))
        listener.settimeout(10)
        handler = logs.choose_handler(
            log_file=tmp_path / "fallback.log", syslog=True, syslog_address=str(address)
        )
        try:
            record = logging.LogRecord("smugfs.changes", logging.INFO, "", 0, "uploading", (), None)
            handler.handle(record)
            received = listener.recv(4096)
        finally:
            handler.close()
    # <14> is facility user, level info; the logger adds the time and host.
    assert received.rstrip(b"\0") == f"<14>smugfs[{os.getpid()}]: INFO uploading".encode()

    fallback = logs.choose_handler(
        log_file=tmp_path / "fallback.log", syslog=True, syslog_address=str(tmp_path / "none")
    )
    try:
        assert isinstance(fallback, logging.FileHandler)
        assert fallback.baseFilename == str(tmp_path / "fallback.log")
    finally:
        fallback.close()


# ------------------------------------------------------------- help and version


def test_help_of_every_subcommand_and_the_version(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    for command in SUBCOMMANDS:
        result = smugfs(command, "--help", env=env)
        assert result.returncode == 0, (command, result.stderr)
        assert result.stdout.startswith(f"usage: smugfs {command}"), result.stdout
    top = smugfs("--help", env=env)
    assert top.returncode == 0
    assert all(command in top.stdout for command in SUBCOMMANDS)
    # Every mount option a setting reads is named in the mount's help.
    mount_help = " ".join(smugfs("mount", "--help", env=env).stdout.split())
    named = set(re.findall(r"\b(\w+)=", mount_help))
    assert set(config.OPTION_FIELDS) | config.COMMAND_OPTIONS <= named, mount_help
    version = smugfs("--version", env=env)
    assert version.returncode == 0
    assert re.fullmatch(r"smugfs \d+\.\d+\.\d+\S*\n", version.stdout)
    helper = subprocess.run([*helper_command(), "--help"], capture_output=True, text=True, env=env)
    assert helper.returncode == 0
    assert helper.stdout.startswith("usage: mount.smugfs")


# ------------------------------------------------------------- no secret anywhere


@pytest.mark.fuse
def test_no_secret_in_any_log_or_output_these_tests_produced(
    emulator: Emulator, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # A last round of everything at the most verbose level: login, whoami, a mount with
    # --debug that uploads, status, unmount and logout.
    assert log_in(login_env(emulator, tmp_path)).returncode == 0
    saved_tokens(login_env(emulator, tmp_path))
    env = saved_login_env(tmp_path)
    assert smugfs("whoami", env=env).returncode == 0
    local = tmp_path / "local.jpg"
    local.write_bytes(photo(4, 150_000))
    with unmounted_after(tmp_path / "mnt"):
        mountpoint = mount_in_background(env, tmp_path, "--debug")
        run("mkdir", mountpoint / "Debug")
        run("cp", local, mountpoint / "Debug" / "local.jpg")
        status_lines(mountpoint, env)
        unmount(mountpoint, env)
    assert smugfs("logout", env=env).returncode == 0
    assert " DEBUG " in (tmp_path / "mount.log").read_text()

    files = {p for p in PRODUCED.files if p.exists()}
    files |= set(tmp_path_factory.getbasetemp().rglob("*.log"))
    texts = {str(path): path.read_text(errors="replace") for path in sorted(files)}
    texts.update({f"output {i}": text for i, text in enumerate(PRODUCED.outputs)})
    assert PRODUCED.secrets
    assert len(texts) > 5
    leaks = [
        (where, secret[:4] + "...")
        for where, text in texts.items()
        for secret in PRODUCED.secrets
        if secret in text
    ]
    assert leaks == []


def test_extended_attributes_are_turned_on_and_off() -> None:
    saved = ("http://saved", Credentials("key", "secret", "token", "token-secret"))
    assert not config.from_environment({}, {}, saved=saved).xattrs
    assert config.from_environment({}, {"xattrs": None}, saved=saved).xattrs
    on_in_file = {"xattrs": True}
    assert config.from_environment({}, {}, file_values=on_in_file, saved=saved).xattrs
    off = config.from_environment({}, {"noxattrs": None}, file_values=on_in_file, saved=saved)
    assert not off.xattrs
    off_in_file = {"xattrs": False}
    assert config.from_environment(
        {}, {"xattrs": None}, file_values=off_in_file, saved=saved
    ).xattrs


def test_sidecars_are_turned_on_by_option_or_config_file() -> None:
    saved = ("http://saved", Credentials("key", "secret", "token", "token-secret"))
    assert not config.from_environment({}, {}, saved=saved).sidecars
    assert config.from_environment({}, {"sidecars": None}, saved=saved).sidecars
    file_values = {"sidecars": True}
    assert config.from_environment({}, {}, file_values=file_values, saved=saved).sidecars
