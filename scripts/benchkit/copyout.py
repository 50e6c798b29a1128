"""Copying an album out of the mount, as a backup does: `cp -r`, `rsync -a` and `tar -c` of the
backup album through smugfs against downloading the same originals directly, 8 at a time and
one after another; and a thumbnailer-like reader of the heads of the same photos.

Everything runs under the home-link model and on bare loopback (`benchkit.network`), each
contender on a fresh mount (a cold cache) in every run. Every copy is checked byte for byte
against the library's MD5s.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx

from benchkit.context import RemoteFile, Setup, album_files
from benchkit.measure import MIB, TOOL_TIMEOUT, Results, alternate, each, ratio, run_tool, timed
from benchkit.network import LOOPBACK, series, under
from benchkit.report import Row, _f
from benchkit.workloads import Plan, read_heads

ALBUM = ("Backup", "Album")
DIRECT_WAYS = 8
TOOLS = ("cp", "rsync", "tar")


def md5_of(path: Path) -> str:
    """The MD5 of a local file."""
    digest = hashlib.md5()
    with open(path, "rb") as stream:
        while chunk := stream.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


def check_copy(target: Path, files: list[RemoteFile]) -> None:
    """The copy holds every file with the library's bytes, and nothing else."""
    names = sorted(p.name for p in target.iterdir())
    if names != sorted(f.name for f in files):
        raise RuntimeError(f"{target} holds {len(names)} files, not the {len(files)} of the album")
    for file in files:
        if md5_of(target / file.name) != file.md5:
            raise RuntimeError(f"{target / file.name} differs from the library's original")


def tar_out(source: Path) -> int:
    """`tar -c` of a directory into a pipe (GNU tar skips reading files when writing straight
    to /dev/null); the archive's length."""
    with subprocess.Popen(
        ["tar", "-c", "-f", "-", "-C", str(source.parent), source.name],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None
        length = 0
        while chunk := process.stdout.read(MIB):
            length += len(chunk)
        _, error = process.communicate(timeout=TOOL_TIMEOUT)
    if process.returncode != 0:
        raise RuntimeError(f"tar failed ({process.returncode}): {error.decode(errors='replace')}")
    return length


def copy_with(tool: str, source: Path, target: Path) -> None:
    """Copy the directory `source` to `target` with a real tool."""
    if tool == "cp":
        run_tool(["cp", "-r", str(source), str(target)])
    elif tool == "rsync":
        run_tool(["rsync", "-a", f"{source}/", f"{target}/"])
    else:
        raise ValueError(tool)


def download_all(files: list[RemoteFile], target: Path, ways: int) -> None:
    """Download every original into `target`, `ways` at a time over kept-alive connections."""
    target.mkdir(parents=True, exist_ok=True)
    limits = httpx.Limits(max_connections=ways, max_keepalive_connections=ways)

    def fetch(client: httpx.Client, file: RemoteFile) -> None:
        with client.stream("GET", file.url) as reply, open(target / file.name, "wb") as out:
            reply.raise_for_status()
            for chunk in reply.iter_raw(MIB):
                out.write(chunk)

    with httpx.Client(timeout=TOOL_TIMEOUT, limits=limits) as client:
        each(lambda file: fetch(client, file), files, ways)


def copyout(setup: Setup, plan: Plan, out: Results) -> None:
    """The copy-out workload under the home link and on loopback."""
    emulator = setup.emulator
    assert emulator is not None
    files = album_files(emulator, ALBUM)
    if not files:
        out.note("copy-out: the library has no backup album (spec backup=0)")
        return
    mib = sum(f.size for f in files) / MIB
    out.add("copyout album", mib, "MiB")
    out.add("copyout photos", len(files), "")
    scratch = Path(tempfile.mkdtemp(prefix="smugfs-copyout-", dir="/dev/shm"))
    length = plan.thumb_kib * 1024
    expected_heads = read_heads(emulator.data_dir / "blobs", [f.md5 for f in files], length)
    out.add("copyout heads read", length * len(files) / MIB, "MiB")
    contenders = [*TOOLS, f"direct x{DIRECT_WAYS}", "direct x1", "heads"]
    try:
        for network in (plan.home, LOOPBACK):
            budget = plan.budget("copyout")
            rep = 0
            with under(emulator, network):
                while budget.more(rep):
                    for who in alternate(rep, contenders):
                        target = scratch / "copy"
                        if who.startswith("direct"):
                            ways = int(who.rsplit("x", 1)[1])
                            seconds, _ = timed(download_all, files, target, ways)
                            check_copy(target, files)
                            out.add(series(f"copyout {who}", network), mib / seconds, "MiB/s")
                            shutil.rmtree(target)
                            continue
                        with setup.smugfs() as mount:
                            source = mount.path.joinpath(*ALBUM)
                            names = sorted(p.name for p in source.iterdir())  # list, not timed
                            emulator.reset_stats()
                            if who == "heads":
                                seconds, got = timed(read_heads, source, names, length)
                                if got != expected_heads:
                                    raise RuntimeError("the heads read through the mount differ")
                                fetched = emulator.stats()["media_bytes"] / MIB
                                out.add(series("copyout heads fetched", network), fetched, "MiB")
                                out.add(series("copyout heads", network), seconds, "s")
                                continue
                            if who == "tar":
                                seconds, archived = timed(tar_out, source)
                                if archived < sum(f.size for f in files):
                                    raise RuntimeError(f"tar wrote {archived} bytes, too few")
                            else:
                                seconds, _ = timed(copy_with, who, source, target)
                                check_copy(target, files)
                                shutil.rmtree(target)
                            fetched = emulator.stats()["media_bytes"] / MIB
                        out.add(series(f"copyout {who}", network), mib / seconds, "MiB/s")
                        out.add(series(f"copyout {who} fetched", network), fetched, "MiB")
                    rep += 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    out.note(
        f"copy-out: {len(files)} photos, {mib:.0f} MiB, each contender on a fresh mount; direct "
        f"downloads with httpx into files; tar into a pipe; under {plan.home.describe()} and on "
        "loopback"
    )


def rows(out: Results, plan: Plan) -> list[Row]:
    """The copy-out verdicts, for each network model measured."""
    m = out.median
    result: list[Row] = []
    photos = int(m("copyout photos")) if out.runs("copyout photos") else 0
    for network in (plan.home, LOOPBACK):
        direct = m(series(f"copyout direct x{DIRECT_WAYS}", network))
        if not out.runs(series("copyout cp", network)):
            continue
        where = "loopback" if network == LOOPBACK else "home link"
        for tool in TOOLS:
            got = m(series(f"copyout {tool}", network))
            command = {"cp": "cp -r", "rsync": "rsync -a", "tar": "tar -c"}[tool]
            result.append(
                Row(
                    f"`{command}` of an album of {photos} photos of 1-3 MiB, {where}",
                    _f(got, "MiB/s", 1),
                    f"direct x{DIRECT_WAYS} {_f(direct, 'MiB/s', 1)} (one at a time "
                    f"{_f(m(series('copyout direct x1', network)), 'MiB/s', 1)})",
                    ratio(got, direct),
                    f">= 0.8x direct x{DIRECT_WAYS}",
                    ">=",
                    0.8,
                )
            )
        heads = series("copyout heads fetched", network)
        result.append(
            Row(
                f"first {plan.thumb_kib} KiB of the same {photos} photos, {where}",
                f"{_f(m(heads), 'MiB', 1)} fetched, "
                f"{_f(m(series('copyout heads', network)), 's', 2)}",
                f"{_f(m('copyout heads read'), 'MiB', 1)} read",
                ratio(m(heads), m("copyout heads read")),
                "fetched <= 2x read",
                "<=",
                2.0,
            )
        )
    return result
