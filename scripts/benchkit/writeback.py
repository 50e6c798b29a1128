"""Copying a shoot in: `cp -r` of camera-sized photos into a new album through a write-back
mount (`-o writeback`) until `smugfs sync` returns, against four direct uploads at once with
httpx; and one writer through a default mount (each `close()` waits for its upload) against
one httpx upload after another.

Under the home-link model and on bare loopback (`benchkit.network`), each smugfs contender on
a fresh mount in every run, every album checked afterwards: exactly the files sent, with
their MD5s. Under the home link the one-at-a-time contenders are left out (a gigabyte through
one modelled connection takes minutes); their target is a loopback one.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from benchkit.context import Setup
from benchkit.measure import TOOL_TIMEOUT, Results, alternate, ratio, run_tool, timed
from benchkit.network import LOOPBACK, Network, series, under
from benchkit.report import Row, _f
from benchkit.workloads import Plan, httpx_uploads, new_album, node_album, photo_files
from smugfs.testing.account import Account
from smugfs.testing.commands import subprocess_env
from smugfs.testing.emulator import Emulator

WAYS = 4
WRITEBACK = f"smugfs writeback x{WAYS}"
ONE_WRITER = "smugfs one writer"
DIRECT = f"httpx x{WAYS}"
DIRECT_ONE = "httpx x1"


def contenders(network: Network) -> list[str]:
    """Who runs under `network`."""
    if network == LOOPBACK:
        return [WRITEBACK, DIRECT, ONE_WRITER, DIRECT_ONE]
    return [WRITEBACK, DIRECT]


def sync(mountpoint: Path) -> None:
    """`smugfs sync MOUNTPOINT`, which must succeed."""
    done = subprocess.run(
        [sys.executable, "-m", "smugfs", "sync", str(mountpoint)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=TOOL_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"smugfs sync failed: {done.stderr.strip()}")


def copy_then_sync(source: Path, target: Path) -> None:
    """`cp -r` of a folder's files into an album, then wait for every upload."""
    run_tool(["cp", "-r", f"{source}/.", str(target)])
    sync(target.parent)


def check(emulator: Emulator, album_uri: str, md5s: dict[str, str]) -> None:
    """The album holds exactly the files sent, with their MD5s."""
    with Account(emulator) as account:
        images = account.images(album_uri)
    got = {image["FileName"]: image["ArchivedMD5"] for image in images}
    if got != md5s or len(images) != len(md5s):
        raise RuntimeError(f"the album holds {len(images)} files, not the {len(md5s)} sent")


def writeback(setup: Setup, plan: Plan, out: Results) -> None:
    """The copy-in workload under the home link and on loopback."""
    emulator = setup.uploads
    assert emulator is not None
    source = setup.workdir / "writeback-src"
    paths = photo_files(source, plan.copies, plan.copy_mib, plan.spec.seed + 13)
    md5s = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in paths}
    mib = plan.copies * plan.copy_mib
    httpx_uploads(emulator, new_album(emulator, "Warm-up writeback"), paths[:2], 1)
    albums = 0
    for network in (plan.home, LOOPBACK):
        budget = plan.budget("writeback")
        rep = 0
        with under(emulator, network):
            while budget.more(rep):
                for who in alternate(rep, contenders(network)):
                    albums += 1
                    name = f"Shoot {albums:03d}"
                    if who.startswith("smugfs"):
                        options = ["writeback", f"uploads={WAYS}"] if who == WRITEBACK else []
                        with setup.smugfs(emulator, options=options) as mount:
                            target = mount.path / name
                            target.mkdir()  # a new album
                            if who == WRITEBACK:
                                seconds, _ = timed(copy_then_sync, source, target)
                            else:
                                seconds, _ = timed(
                                    run_tool, ["cp", "-r", f"{source}/.", str(target)]
                                )
                        album_uri = node_album(emulator, name)
                    else:
                        album_uri = new_album(emulator, name)
                        ways = WAYS if who == DIRECT else 1
                        seconds, _ = timed(httpx_uploads, emulator, album_uri, paths, ways)
                    check(emulator, album_uri, md5s)
                    out.add(series(f"writeback {who}", network), mib / seconds, "MiB/s")
                rep += 1
    out.note(
        f"write-back: cp -r of {plan.copies} photos of {plan.copy_mib} MiB into a new album "
        f"until smugfs sync returns, against {WAYS} httpx uploads at once; one cp writer "
        f"without write-back against one httpx upload after another (loopback only); under "
        f"{plan.home.describe()} and on loopback"
    )


def rows(out: Results, plan: Plan) -> list[Row]:
    """The copy-in verdicts."""
    m = out.median
    result: list[Row] = []
    for network in (plan.home, LOOPBACK):
        where = "loopback" if network == LOOPBACK else "home link"
        got, direct = (m(series(f"writeback {who}", network)) for who in (WRITEBACK, DIRECT))
        if not out.runs(series(f"writeback {WRITEBACK}", network)):
            continue
        result.append(
            Row(
                f"`cp -r` of {plan.copies} photos of {plan.copy_mib} MiB with -o writeback "
                f"until `smugfs sync` returns, {where}",
                _f(got, "MiB/s", 1),
                f"{DIRECT} {_f(direct, 'MiB/s', 1)}",
                ratio(got, direct),
                f">= 0.8x {DIRECT}",
                ">=",
                0.8,
            )
        )
    one = series(f"writeback {ONE_WRITER}", LOOPBACK)
    if out.runs(one):
        direct_one = m(series(f"writeback {DIRECT_ONE}", LOOPBACK))
        result.append(
            Row(
                f"one `cp` writer of {plan.copies} photos of {plan.copy_mib} MiB (close waits "
                "for each upload), loopback",
                _f(m(one), "MiB/s", 1),
                f"{DIRECT_ONE} {_f(direct_one, 'MiB/s', 1)}",
                ratio(m(one), direct_one),
                f">= 0.8x {DIRECT_ONE}",
                ">=",
                0.8,
            )
        )
    return result
