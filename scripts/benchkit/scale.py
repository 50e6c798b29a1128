"""The scale workload: a library of many photos in albums of 5,000 (`wide=N`), walked with
`find` on bare loopback, at several sizes so the growth shows.

For each size: the emulator's own start time and resident memory holding the library; an
8-way direct listing of the same albums (the baseline); a cold `find` through a fresh mount
with its peak resident memory; a warm `find` in the same mount; a `find` after a remount (same
cache directory) with that process's peak; and the bytes the remounted mount writes to disk
(`/proc/PID/io` `write_bytes`) in the save period after one photo is copied in, counted from
when `cp` returned.

Sizes come from `SMUGFS_BENCH_SCALE` (default 50000,300000,1000000; `--quick`: 5000); the
generated libraries are kept beside the run's scratch directory and made once.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from benchkit.context import Setup
from benchkit.measure import MIB, TOOL_TIMEOUT, Results, ratio, run_tool, timed
from benchkit.report import Row, _f
from benchkit.servers import Meter
from benchkit.workloads import Lister, Plan
from smugfs.emulator import generate, state_file
from smugfs.emulator.server import prepare
from smugfs.emulator.store import ALBUM_CAPACITY
from smugfs.testing.account import Account
from smugfs.testing.emulator import start_emulator
from smugfs.testing.media import photo

DEFAULT_SIZES = "50000,300000,1000000"
QUICK_SIZES = "5000"
DIRECT_WAYS = 8
# How long after an upload the written bytes are counted: the period the listings were saved
# in before the metadata database (its writes are immediate; this catches any that follow).
SAVE_PERIOD = 30.0
FIND_TIMEOUT = 3 * 3600.0


def sizes(plan: Plan) -> list[int]:
    """The library sizes to measure."""
    default = QUICK_SIZES if plan.spec.wide <= 5000 else DEFAULT_SIZES
    text = os.environ.get("SMUGFS_BENCH_SCALE", default)
    return [int(part) for part in text.split(",") if part.strip()]


def library(cache_dir: Path, images: int) -> Path:
    """A generated data directory of `images` photos in albums of 5,000 (made once)."""
    spec = generate.Spec(large=0, video=0, photos=0, album=0, tree=0, wide=images)
    path = cache_dir / f"scale-{images}"
    ready = path / "ready"
    made = ready.exists() and ready.read_text(encoding="utf-8").strip() == spec.text()
    if made and (path / state_file.STATE_FILE).exists():
        return path
    shutil.rmtree(path, ignore_errors=True)
    print(f"generating {images} images into {path}", flush=True)
    started = time.monotonic()
    store, _ = prepare(path, with_sample=False, generated=spec)
    store.close()
    ready.write_text(spec.text() + "\n", encoding="utf-8")
    print(f"  generated in {time.monotonic() - started:.0f} s", flush=True)
    return path


def timed_find(path: Path, expected: int) -> float:
    """Seconds a `find` of a tree takes; an error unless it lists `expected` entries."""
    seconds, listed = timed(
        lambda: run_tool(["find", str(path)], capture=True, timeout=FIND_TIMEOUT)
    )
    count = len(listed.splitlines())
    if count != expected:
        raise RuntimeError(f"find listed {count} entries, not {expected}")
    return seconds


def written_bytes(pid: int) -> int:
    """Bytes a process has caused to be written to storage so far."""
    with open(f"/proc/{pid}/io", encoding="ascii") as io:
        for line in io:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    return 0


def scale(setup: Setup, plan: Plan, out: Results) -> None:
    """Measure each size in turn (see the module's docstring)."""
    for images in sizes(plan):
        data = library(setup.workdir.parent, images)
        _one_size(setup, data, images, out)


def _one_size(setup: Setup, data: Path, images: int, out: Results) -> None:
    where = setup.new_dir(f"scale-{images}")
    copy = where / "data"
    (copy / "blobs").mkdir(parents=True)
    state_file.copy_state(data, copy)
    for blob in (data / "blobs").iterdir():
        os.link(blob, copy / "blobs" / blob.name)
    began = time.monotonic()
    emulator = start_emulator(where / "emulator", data_dir=copy)
    name = f"scale {images}"
    try:
        out.add(f"{name} emulator start", time.monotonic() - began, "s")
        out.add(f"{name} emulator rss", Meter(emulator.process.pid).peak_mib(), "MiB")
        albums = -(-images // ALBUM_CAPACITY)
        expected = 1 + albums + images  # Wide, its albums, their photos

        lister = Lister(emulator, DIRECT_WAYS)
        try:
            with Account(emulator) as account:
                wide = account.node("Wide")
            seconds, found = timed(lister.tree, wide)
        finally:
            lister.close()
        if found != albums + images:
            raise RuntimeError(f"the direct listing found {found} of {albums + images}")
        out.add(f"{name} direct x{DIRECT_WAYS}", seconds, "s")

        cache = where / "mount"
        with setup.smugfs(emulator, where=cache, keep=True) as mount:
            meter = Meter(mount.process.pid)
            out.add(f"{name} cold find", timed_find(mount.path / "Wide", expected), "s")
            out.add(f"{name} cold find peak", meter.peak_mib(), "MiB")
            out.add(f"{name} warm find", timed_find(mount.path / "Wide", expected), "s")
        with setup.smugfs(emulator, where=cache, keep=True) as mount:
            meter = Meter(mount.process.pid)
            out.add(f"{name} remount find", timed_find(mount.path / "Wide", expected), "s")
            out.add(f"{name} remount find peak", meter.peak_mib(), "MiB")
            source = where / "upload.jpg"
            # Small, so what is counted is the metadata, not the photo in the content cache.
            source.write_bytes(photo(images, 256 * 1024))
            # The generated albums are full (5,000 is the service's cap): a new one.
            inbox = mount.path / "Wide" / "Inbox"
            inbox.mkdir()
            run_tool(["cp", str(source), str(inbox)], timeout=TOOL_TIMEOUT)
            before = written_bytes(mount.process.pid)
            time.sleep(SAVE_PERIOD)
            out.add(
                f"{name} written after an upload",
                (written_bytes(mount.process.pid) - before) / MIB,
                "MiB",
            )
        database = sum(p.stat().st_size for p in (cache / "cache" / "metadata").glob("*"))
        out.add(f"{name} database", database / MIB, "MiB")
    finally:
        emulator.stop()
        shutil.rmtree(where, ignore_errors=True)


def rows(out: Results, plan: Plan) -> list[Row]:
    """The scale verdicts for each size measured."""
    m = out.median
    result: list[Row] = []
    for images in sizes(plan):
        name = f"scale {images}"
        if not out.runs(f"{name} cold find"):
            continue
        what = f"{images:,} photos in albums of 5,000, loopback"
        direct = m(f"{name} direct x{DIRECT_WAYS}")
        cold, warm, again = (
            m(f"{name} cold find"),
            m(f"{name} warm find"),
            m(f"{name} remount find"),
        )
        result += [
            Row(
                f"cold `find` of {what}",
                _f(cold, "s", 1),
                f"direct x{DIRECT_WAYS} {_f(direct, 's', 1)}",
                ratio(cold, direct),
                f"<= 1.2x direct x{DIRECT_WAYS}",
                "<=",
                1.2,
            ),
            Row(
                f"`find` after a remount, {what}",
                _f(again, "s", 1),
                f"warm {_f(warm, 's', 1)}",
                ratio(again, warm),
                "<= 2x warm",
                "<=",
                2.0,
            ),
            _at_most(f"peak memory, cold `find` of {what}", m(f"{name} cold find peak"), 200),
            _at_most(
                f"peak memory, `find` after a remount, {what}",
                m(f"{name} remount find peak"),
                150,
            ),
            _at_most(
                f"written in the {SAVE_PERIOD:.0f} s after one upload, {what}",
                m(f"{name} written after an upload"),
                1,
                digits=2,
            ),
            Row(
                f"emulator holding {what}",
                f"{_f(m(f'{name} emulator rss'), 'MiB')} resident",
                f"started in {_f(m(f'{name} emulator start'), 's', 1)}",
                float("nan"),
                "stated",
                "",
                0.0,
            ),
        ]
    return result


def _at_most(workload: str, mib: float, bound: int, digits: int = 0) -> Row:
    """A figure in MiB against a fixed bound."""
    return Row(
        workload,
        _f(mib, "MiB", digits),
        f"{bound} MiB",
        ratio(mib, bound),
        f"<= {bound} MiB",
        "<=",
        1.0,
    )
