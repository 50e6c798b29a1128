"""The `smugfs emulator` command line as users and scripts rely on it: the env file it writes,
state kept across restarts in `--data`, a clean exit on SIGTERM, `--no-range`, `--version` and
`--help`, a one-line error for a port already taken, and many signed requests at once.
"""

from __future__ import annotations

import concurrent.futures
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import smugfs
from smugfs.testing.account import album_uri_of, create_album, create_node, upload
from smugfs.testing.commands import smugfs_command, subprocess_env
from smugfs.testing.emulator import Emulator, emulator_command, running_emulator, start_emulator
from smugfs.testing.media import jpeg

ENV_NAMES = {
    "SMUGFS_ENDPOINT",
    "SMUGFS_UPLOAD_URL",
    "SMUGFS_API_KEY",
    "SMUGFS_API_SECRET",
    "SMUGFS_ACCESS_TOKEN",
    "SMUGFS_ACCESS_TOKEN_SECRET",
}


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def read_env(path: Path) -> dict[str, str]:
    """The `NAME=value` lines of an env file."""
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip())


def test_env_file_holds_exactly_the_smugfs_lines_with_mode_0600(tmp_path: Path) -> None:
    port = free_port()
    env_file = tmp_path / "smug.env"
    log_path = tmp_path / "emulator.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            emulator_command(port, tmp_path / "data", env_file),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=subprocess_env(),
        )
    try:
        deadline = time.monotonic() + 60
        while not env_file.exists():
            assert process.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline
            time.sleep(0.05)
        text = env_file.read_text()
        lines = [line for line in text.splitlines() if line.strip()]
        names = [line.split("=", 1)[0] for line in lines]
        assert sorted(names) == sorted(ENV_NAMES)
        assert all("=" in line and line.split("=", 1)[1] for line in lines)
        env = read_env(env_file)
        assert env["SMUGFS_ENDPOINT"] == f"http://127.0.0.1:{port}"
        assert env["SMUGFS_UPLOAD_URL"] == f"http://127.0.0.1:{port}/upload"
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        emulator = Emulator(process, env, tmp_path / "data", log_path)
        with emulator.client() as c:
            user = c.get("/api/v2!authuser")
        assert user.status_code == 200
        assert user.json()["Response"]["User"]["ResponseLevel"] == "Full"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
    assert process.returncode == 0
    leftovers = {p.name for p in tmp_path.iterdir()} - {"smug.env", "data", "emulator.log"}
    assert not leftovers, "a temporary env file was left behind"


def test_state_and_credentials_survive_a_restart_on_the_same_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    payload = jpeg(1, (120, 80))
    with running_emulator(tmp_path / "first", data_dir=data_dir) as first:
        with first.client() as c:
            album = create_node(c, "Keeper")
        key = album_uri_of(album).rsplit("/", 1)[1]
        upload(first, album_uri_of(album), "kept.jpg", payload)
        first_env = dict(first.env)
        reader = first.token(permissions="Read")
    with running_emulator(tmp_path / "second", data_dir=data_dir) as second:
        for name in ENV_NAMES - {"SMUGFS_ENDPOINT", "SMUGFS_UPLOAD_URL"}:
            assert second.env[name] == first_env[name], name
        with second.client() as c:
            again = c.get(album["Uri"])
            assert again.status_code == 200
            assert again.json()["Response"]["Node"]["Name"] == "Keeper"
            images = c.get(f"/api/v2/album/{key}!images").json()["Response"]["AlbumImage"]
            assert [i["FileName"] for i in images] == ["kept.jpg"]
            assert c.get(images[0]["ArchivedUri"]).content == payload
        with second.client(
            token=reader["access_token"], token_secret=reader["access_token_secret"]
        ) as c:
            assert c.get(album["Uri"]).status_code == 200
            assert c.delete(album["Uri"]).status_code == 401
        with second.client() as c:
            # New keys made after the restart do not collide with the old ones.
            assert create_node(c, "Fresh")["NodeID"] != album["NodeID"]


def test_keys_of_deleted_objects_are_not_reissued_after_restarts(tmp_path: Path) -> None:
    # A client may still remember a deleted node's key; the service never hands it out again.
    data_dir = tmp_path / "data"

    def create(emu: Emulator, name: str) -> dict[str, Any]:
        with emu.client() as c:
            return create_node(c, name)

    with running_emulator(tmp_path / "one", data_dir=data_dir) as emu:
        create(emu, "Kept")
    with running_emulator(tmp_path / "two", data_dir=data_dir) as emu:
        gone = create(emu, "Deleted")
        with emu.client() as c:
            assert c.delete(gone["Uri"]).status_code == 200
    # The library now looks exactly as it did before the second start.
    with running_emulator(tmp_path / "three", data_dir=data_dir) as emu:
        fresh = create(emu, "Fresh")
    assert fresh["NodeID"] != gone["NodeID"]
    assert album_uri_of(fresh) != album_uri_of(gone)


def test_sigterm_ends_the_emulator_promptly_with_exit_code_0(tmp_path: Path) -> None:
    emulator = start_emulator(tmp_path)
    try:
        with emulator.client() as c:
            assert c.get("/api/v2!authuser").status_code == 200
        started = time.monotonic()
        emulator.process.send_signal(signal.SIGTERM)
        code = emulator.process.wait(timeout=10)
        assert code == 0
        assert time.monotonic() - started < 5
    finally:
        emulator.stop()
    assert "Traceback" not in emulator.log_path.read_text(errors="replace")


def test_sigterm_with_a_connection_open_still_exits_0(tmp_path: Path) -> None:
    emulator = start_emulator(tmp_path)
    try:
        with emulator.client() as client:
            client.get("/api/v2!authuser")  # leaves a keep-alive connection open
            started = time.monotonic()
            emulator.process.send_signal(signal.SIGTERM)
            assert emulator.process.wait(timeout=10) == 0
            assert time.monotonic() - started < 5
    finally:
        emulator.stop()


def test_an_upload_cut_off_by_its_client_stores_nothing_and_logs_no_traceback(
    tmp_path: Path,
) -> None:
    with running_emulator(tmp_path) as emulator:
        port = int(emulator.base_url.rsplit(":", 1)[1])
        head = (
            "POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Smug-FileName: cut.jpg\r\n"
            "Content-Length: 1000000\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(head.encode() + jpeg())  # far fewer bytes than announced, then gone
        with emulator.client() as c:
            assert c.get("/api/v2!authuser").status_code == 200
        # The handler meets the disconnect right after the connection closes: give a
        # traceback time to show.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if "Traceback" in emulator.log_path.read_text(errors="replace"):
                break
            time.sleep(0.1)
        assert emulator.stats()["upload_bytes"] == 0
    assert "Traceback" not in emulator.log_path.read_text(errors="replace")


@pytest.mark.parametrize("no_range", [False, True])
def test_no_range_flag_turns_range_requests_off(tmp_path: Path, no_range: bool) -> None:
    args = ("--no-range",) if no_range else ()
    data = jpeg(1, (120, 80))
    with running_emulator(tmp_path, *args) as emu, emu.client() as c:
        image = upload(emu, create_album(c, "Ranges"), "r.jpg", data)
        url = c.get(image["ImageUri"]).json()["Response"]["Image"]["ArchivedUri"]
        response = c.get(url, headers={"Range": "bytes=10-19"})
    if no_range:
        assert response.status_code == 200
        assert response.content == data
        assert response.headers.get("Accept-Ranges", "none") == "none"
        assert "Content-Range" not in response.headers
    else:
        assert response.status_code == 206
        assert response.content == data[10:20]
        assert response.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
        assert response.headers["Accept-Ranges"] == "bytes"


def test_version_flag_prints_the_version() -> None:
    result = smugfs_command("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"smugfs {smugfs.__version__}"


def test_emulator_help_lists_its_flags() -> None:
    result = smugfs_command("emulator", "--help")
    assert result.returncode == 0
    for flag in (
        "--port",
        "--data",
        "--env-file",
        "--latency-ms",
        "--item-cost-ms",
        "--fault-rate",
        "--fault-kinds",
        "--listing-delay-ms",
        "--rate-limit",
        "--no-range",
        "--seed",
    ):
        assert flag in result.stdout, flag


def test_port_already_in_use_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = smugfs_command(
            "emulator",
            "--port",
            str(port),
            "--data",
            str(tmp_path / "data"),
            "--env-file",
            str(tmp_path / "env"),
        )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    error_lines = result.stderr.strip().splitlines()
    assert len(error_lines) == 1, result.stderr
    assert str(port) in error_lines[0]
    assert not (tmp_path / "env").exists()


def test_bad_fault_kind_is_a_one_line_error(tmp_path: Path) -> None:
    result = smugfs_command(
        "emulator", "--port", "0", "--data", str(tmp_path), "--fault-kinds", "500,explode"
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_twenty_five_concurrent_signed_requests_all_succeed(tmp_path: Path) -> None:
    with running_emulator(tmp_path) as emu:
        with emu.client() as c:
            root = c.get("/api/v2!authuser").json()["Response"]["User"]["Uris"]["Node"]["Uri"]

        def one(n: int) -> int:
            with emu.client() as client:
                if n % 2:
                    return client.get(root + "!children").status_code
                reply = client.post(root + "!children", json={"Name": f"Parallel {n}"})
                return reply.status_code

        with concurrent.futures.ThreadPoolExecutor(max_workers=25) as pool:
            results = list(pool.map(one, range(25)))
        assert sorted(set(results)) == [200, 201]
        assert results.count(201) == 13
        with emu.client() as c:
            listing = c.get(root + "!children", params={"count": 200}).json()["Response"]
        assert listing["Pages"]["Total"] == 13


def test_concurrent_requests_on_one_shared_client_all_succeed(tmp_path: Path) -> None:
    with running_emulator(tmp_path) as emu, emu.client() as c:
        with concurrent.futures.ThreadPoolExecutor(max_workers=23) as pool:
            results = list(pool.map(lambda _: c.get("/api/v2!authuser").status_code, range(46)))
        assert results == [200] * 46
