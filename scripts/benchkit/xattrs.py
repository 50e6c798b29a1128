"""What extended attributes cost a warm `ls -l`: the big listing album (`Listing/Album`, 5,000
photos at the default sizes) listed through a mount with them on, one with them off
(`-o noxattrs`) and one with XMP sidecars (`-o sidecars`), in the same run, on bare loopback.

`ls -l` asks two attributes of every file it prints (`security.selinux` and
`system.posix_acl_access`). With attributes off the mount answers the first with ENOSYS and
the kernel stops asking; with them on, every one of those requests reaches the mount, which
answers names that are not its own at once. The listing is fetched once per mount before the
timed runs, so what is timed is the kernel, the mount's handlers and `ls` alone.
"""

from __future__ import annotations

import contextlib
import math
import re
import shutil
import subprocess
from collections.abc import Iterator

from benchkit.context import Setup
from benchkit.measure import Results, alternate, ratio, timed
from benchkit.report import Row, _f
from benchkit.workloads import Plan, ls_count
from smugfs.testing.mounts import Mount, mounted

ALBUM = ("Listing", "Album")
WARM_RUNS = 7
# Each contender's options; `xattrs` is what `ls -l` pays for with attributes on.
CONTENDERS = {"on": ["xattrs"], "off": ["noxattrs"], "sidecars": ["noxattrs", "sidecars"]}


@contextlib.contextmanager
def _mount(setup: Setup, options: list[str]) -> Iterator[Mount]:
    assert setup.emulator is not None
    where = setup.new_dir("xattrs")
    try:
        with mounted(setup.emulator, where, options=options) as mount:
            yield mount
    finally:
        shutil.rmtree(where, ignore_errors=True)


def _syscalls(path: str) -> str:
    """Which attributes `ls -l` asks of one file (from strace), for the notes."""
    try:
        traced = subprocess.run(
            ["strace", "-e", "trace=getxattr,lgetxattr,listxattr,llistxattr", "ls", "-l", path],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "(strace unavailable)"
    asked = re.findall(r'^(\w+xattr)\("[^"]*"(?:, "([^"]*)")?', traced.stderr, re.MULTILINE)
    return ", ".join(f"{call} {name}".strip() for call, name in asked) or "nothing"


def _entries(who: str, photos: int) -> int:
    """How many entries `ls -l` prints: with sidecars, one beside every photo."""
    return 2 * photos if who == "sidecars" else photos


def ls_xattrs(setup: Setup, plan: Plan, out: Results) -> None:
    """Warm `ls -l` of the listing album with attributes on and off, interleaved."""
    count = plan.spec.album
    with contextlib.ExitStack() as stack:
        mounts = {who: stack.enter_context(_mount(setup, o)) for who, o in CONTENDERS.items()}
        on = mounts["on"]
        for who, mount in mounts.items():
            listed = ls_count(mount.path.joinpath(*ALBUM))  # cold: fetches the listing
            if listed != _entries(who, count):
                raise RuntimeError(f"ls -l listed {listed} of {count}")
        album_on = on.path.joinpath(*ALBUM)
        first = sorted(p.name for p in album_on.iterdir())[0]
        out.note(f"`ls -l` of one file asks: {_syscalls(str(album_on / first))}")
        for rep in range(WARM_RUNS):
            for who in alternate(rep, list(mounts)):
                seconds, listed = timed(ls_count, mounts[who].path.joinpath(*ALBUM))
                if listed != _entries(who, count):
                    raise RuntimeError(f"warm ls -l listed {listed} of {count}")
                out.add(f"xattrs ls {who}", seconds, "s")
    out.add("xattrs photos", count, "")


def rows(out: Results, plan: Plan) -> list[Row]:
    """The verdict: a warm `ls -l` with attributes on against the same with them off."""
    if not out.runs("xattrs ls on"):
        return []
    on, off = out.median("xattrs ls on"), out.median("xattrs ls off")
    sidecars = out.median("xattrs ls sidecars")
    photos = int(out.median("xattrs photos"))
    return [
        Row(
            f"warm `ls -l` of {photos:,} photos with extended attributes on (loopback)",
            _f(on, "s", 3),
            f"attributes off {_f(off, 's', 3)}",
            ratio(on, off),
            "<= 1.5x off",
            "<=",
            1.5,
        ),
        Row(
            f"warm `ls -l` of {photos:,} photos and their XMP sidecars (loopback)",
            _f(sidecars, "s", 3),
            f"no sidecars {_f(off, 's', 3)}",
            ratio(sidecars, off),
            "a figure (twice the entries)",
            "",
            math.nan,
        ),
    ]
