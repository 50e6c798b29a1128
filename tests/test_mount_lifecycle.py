"""Starting and ending a mount the ways a user does, and the one-line errors when it can't start."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
from pathlib import Path

import pytest

from smugfs import mount_guard
from smugfs.status_file import process_start, status_path
from smugfs.testing.commands import (
    one_line_error,
    processes_mentioning,
    run,
    smugfs_command,
    subprocess_env,
)
from smugfs.testing.emulator import Emulator
from smugfs.testing.mounts import is_mounted, kill, mounted, start_mount
from smugfs.testing.waits import wait_for, wait_until

pytestmark = pytest.mark.fuse


def smugfs(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the `smugfs` command line as a user would."""
    return smugfs_command(*args, env=env, timeout=timeout)


def env_for(emulator: Emulator, **overrides: str) -> dict[str, str]:
    """The environment through which `smugfs mount` reaches the emulator."""
    env = subprocess_env()
    env.update(emulator.env)
    env.update(overrides)
    return env


def test_background_mount_and_smugfs_unmount(emulator: Emulator, tmp_path: Path) -> None:
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    env = env_for(emulator)
    options = f"cache_dir={tmp_path / 'cache'}"
    try:
        result = smugfs(
            "mount", str(mountpoint), "-o", options, "--log-file", str(tmp_path / "log"), env=env
        )
        assert result.returncode == 0, result.stderr
        assert is_mounted(mountpoint)
        assert processes_mentioning(str(mountpoint))
        assert run("ls", "-a", mountpoint).stdout.split() == [".", ".."]
        result = smugfs("unmount", str(mountpoint), env=env)
        assert result.returncode == 0, result.stderr
        assert not is_mounted(mountpoint)
        assert wait_until(lambda: not processes_mentioning(str(mountpoint)))
    finally:
        if is_mounted(mountpoint):
            subprocess.run(["fusermount3", "-uz", str(mountpoint)], check=False)


def test_fusermount3_u_ends_the_mount_process(emulator: Emulator, tmp_path: Path) -> None:
    mount = start_mount(emulator, tmp_path)
    try:
        run("fusermount3", "-u", mount.path)
        assert mount.process.wait(timeout=20) == 0
    finally:
        mount.unmount()
    assert mount.problems() == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_unmounts_cleanly(emulator: Emulator, tmp_path: Path, signum: int) -> None:
    mount = start_mount(emulator, tmp_path)
    try:
        mount.process.send_signal(signum)
        assert mount.process.wait(timeout=20) == 0
        assert not is_mounted(mount.path)
    finally:
        mount.unmount()


def test_a_killed_mount_leaves_no_dead_mountpoint(emulator: Emulator, tmp_path: Path) -> None:
    mount = start_mount(emulator, tmp_path)
    try:
        mount.process.kill()
        mount.process.wait(timeout=20)
        assert wait_until(lambda: not is_mounted(mount.path), timeout=10)
        assert os.listdir(mount.path) == []
    finally:
        mount.unmount()


def guards_of(mountpoint: Path, program: str) -> list[int]:
    """The guard processes of the mount at `mountpoint` whose command line names `program`
    (fusermount3's own, or smugfs's)."""
    return [
        pid
        for pid in processes_mentioning(str(mountpoint))
        if program in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    ]


def kill_outright(pids: list[int]) -> None:
    """SIGKILL each of `pids` and wait until they are gone (bounded)."""
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: all(process_start(pid) is None for pid in pids))


@pytest.mark.parametrize("root_just_read", [False, True], ids=["idle", "root-just-read"])
def test_a_killed_mount_is_cleared_by_its_own_guard_when_fusermount3s_misses_it(
    root_just_read: bool, emulator: Emulator, tmp_path: Path
) -> None:
    # fusermount3's guard can miss a killed mount (its check races the kernel's teardown);
    # here it is gone before the kill, so only the mount's own guard can clear the mountpoint.
    mount = start_mount(emulator, tmp_path)
    try:
        assert wait_until(lambda: guards_of(mount.path, "smugfs.mount_guard"))
        kill_outright(guards_of(mount.path, "fusermount3"))
        if root_just_read:
            # As a program opening a file there does: the kernel now holds the root's
            # attributes for attr_timeout, and a stat of the dead mount still succeeds.
            os.stat(mount.path)
        mount.process.kill()
        mount.process.wait(timeout=20)
        assert wait_until(lambda: not is_mounted(mount.path), timeout=20)
        assert os.listdir(mount.path) == []
        assert wait_until(lambda: not guards_of(mount.path, "smugfs.mount_guard"))
    finally:
        mount.unmount()


def test_mounting_again_over_a_dead_mount_clears_it(emulator: Emulator, tmp_path: Path) -> None:
    mount = start_mount(emulator, tmp_path)
    try:
        assert wait_until(lambda: guards_of(mount.path, "smugfs.mount_guard"))
        kill_outright(guards_of(mount.path, "fusermount3") + guards_of(mount.path, "mount_guard"))
        mount.process.kill()
        mount.process.wait(timeout=20)
        assert mount_guard.answers(mount.path) is False  # ENOTCONN: left dead
        log = tmp_path / "again.log"
        options = f"cache_dir={tmp_path / 'cache'}"
        env = env_for(emulator)
        result = smugfs("mount", str(mount.path), "-o", options, "--log-file", str(log), env=env)
        assert result.returncode == 0, result.stderr
        try:
            assert mount_guard.answers(mount.path) is True
            assert "dead mount of smugfs" in result.stderr + log.read_text()
        finally:
            assert smugfs("unmount", str(mount.path), env=env).returncode == 0
    finally:
        mount.unmount()


def test_a_missing_mountpoint_is_one_clear_line(emulator: Emulator, tmp_path: Path) -> None:
    line = one_line_error(smugfs("mount", str(tmp_path / "absent"), env=env_for(emulator)))
    assert "does not exist" in line


def test_an_already_mounted_mountpoint_is_one_clear_line(
    emulator: Emulator, tmp_path: Path
) -> None:
    with mounted(emulator, tmp_path) as mount:
        line = one_line_error(smugfs("mount", str(mount.path), env=env_for(emulator)))
    assert "already mounted" in line


def test_missing_credentials_are_one_clear_line(emulator: Emulator, tmp_path: Path) -> None:
    env = env_for(emulator)
    del env["SMUGFS_API_KEY"]
    line = one_line_error(smugfs("mount", str(tmp_path), env=env))
    assert "SMUGFS_API_KEY" in line


def test_rejected_credentials_are_one_clear_line(emulator: Emulator, tmp_path: Path) -> None:
    secret = emulator.env["SMUGFS_ACCESS_TOKEN_SECRET"]
    env = env_for(emulator, SMUGFS_ACCESS_TOKEN_SECRET="wrong-secret")
    line = one_line_error(smugfs("mount", str(tmp_path), env=env))
    assert "refused the credentials" in line
    assert secret not in line
    assert "wrong-secret" not in line
    assert not is_mounted(tmp_path)


def test_an_unreachable_service_is_one_clear_line(emulator: Emulator, tmp_path: Path) -> None:
    env = env_for(emulator, SMUGFS_ENDPOINT="http://127.0.0.1:9")
    line = one_line_error(smugfs("mount", str(tmp_path), env=env))
    assert "cannot reach http://127.0.0.1:9" in line


def test_read_only_mount_refuses_changes(emulator: Emulator, tmp_path: Path) -> None:
    with mounted(emulator, tmp_path, options=["ro"]) as mount:
        result = run("mkdir", mount.path / "New", check=False)
        assert "Read-only file system" in result.stderr
        with open("/proc/self/mountinfo", encoding="utf-8") as info:
            line = next(line for line in info if f" {mount.path} " in line)
        assert " ro," in line or " ro " in line


def test_a_second_find_within_the_ttl_costs_no_request(
    sample_emulator: Emulator, tmp_path: Path
) -> None:
    with mounted(sample_emulator, tmp_path) as mount:
        first = run("find", mount.path).stdout
        sample_emulator.reset_stats()
        second = run("find", mount.path).stdout
        du = run("du", "-s", mount.path).stdout
        stats = sample_emulator.stats()
    assert first == second
    assert int(du.split()[0]) > 0
    assert stats["total"] == 0


def test_demo_mounts_the_sample_library_and_unmount_stops_it(tmp_path: Path) -> None:
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    data = tmp_path / "demo-data"
    env = subprocess_env()
    try:
        result = smugfs(
            "demo",
            str(mountpoint),
            "--data",
            str(data),
            "-o",
            f"cache_dir={tmp_path / 'cache'}",
            "--log-file",
            str(tmp_path / "log"),
            env=env,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        assert f"mounted at {mountpoint};" in result.stdout
        names = set(os.listdir(mountpoint))
        assert {"Travel", "Archive", "Empty Album", "Camera Dumps"} <= names
        assert processes_mentioning(str(data))
        # The way to end it that the message gives works as printed, from anywhere.
        told = result.stdout.split("end it with: ", 1)[1].split(" (or ", 1)[0]
        ended = subprocess.run(
            shlex.split(told), env=env, cwd="/", capture_output=True, text=True, timeout=120
        )
        assert ended.returncode == 0, ended.stderr
        assert wait_until(lambda: not processes_mentioning(str(data)))
    finally:
        if is_mounted(mountpoint):
            subprocess.run(["fusermount3", "-uz", str(mountpoint)], check=False)
        for pid in processes_mentioning(str(data)):
            os.kill(pid, signal.SIGKILL)


def test_status_files_of_killed_mounts_are_removed_and_those_of_running_ones_kept(
    emulator: Emulator, tmp_path: Path
) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    statuses = runtime / "smugfs"
    killed = start_mount(emulator, tmp_path / "killed", env=env)
    wait_for(lambda: list(statuses.glob("mount-*.json")), "the first mount's status")
    kill(killed)
    (left,) = statuses.glob("mount-*.json")  # a killed mount cannot remove its own
    # A status naming a running process that did not write it (its pid given again).
    reused = statuses / "mount-00000000000000aa.json"
    status = json.loads(left.read_text(encoding="utf-8"))
    reused.write_text(json.dumps({**status, "pid": os.getpid(), "process_start": 1}))
    with mounted(emulator, tmp_path / "alive", env=env) as mount:
        own = statuses / status_path(mount.path).name
        wait_for(lambda: own.exists() and not left.exists() and not reused.exists(), "cleanup")
        # `smugfs status` removes them too, and keeps the running mount's.
        ended = subprocess.Popen(["true"])
        ended.wait()
        dead = statuses / "mount-00000000000000bb.json"
        dead.write_text(json.dumps({**status, "pid": ended.pid}))
        shown = smugfs("status", str(mount.path), env={**subprocess_env(), **env})
        assert shown.returncode == 0, shown.stderr
        assert f"(process {mount.process.pid})" in shown.stdout
        assert not dead.exists()
        assert own.exists()
        assert sorted(statuses.glob("mount-*.json")) == [own]
