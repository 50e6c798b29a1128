#!/usr/bin/env python3
"""Benchmark the smugfs mount against its baselines, every figure from the same run.

Generates (or reuses, cached by its spec) a library in an emulator data directory, starts the
emulator on a copy of it, an empty emulator for uploads and an nginx serving the same bytes,
and runs each workload (sequential read, thumbnailer, `ls -l` of a big album, `find` of a big
tree, `cp` into an album, memory) with smugfs and its baselines taking turns. Prints a table of
medians with ratios and targets, writes a JSON record, and with `--write-docs` regenerates the
measured part of docs/benchmarks.md. Everything runs on 127.0.0.1; every mount and process it
starts is stopped in a `finally`, also on Ctrl-C.

    scripts/bench                  # default sizes (about 11 minutes on a busy 2-CPU machine)
    scripts/bench --quick          # small sizes, about a minute and a half
    scripts/bench --workloads read,ls --write-docs
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from benchkit import (
    copyout,
    network,
    report,
    scale,
    smugcli,
    thumbnails,
    workloads,
    writeback,
    xattrs,
)
from benchkit.context import Setup
from benchkit.measure import Results, machine

from smugfs.emulator import generate
from smugfs.emulator.server import prepare

WORKLOADS = {
    "read": workloads.read_large,
    "thumbs": workloads.thumbs,
    "ls": workloads.ls_album,
    "tree": workloads.tree,
    "copy": workloads.copy_in,
    "memory": workloads.memory,
    "copyout": copyout.copyout,
    "xattrs": xattrs.ls_xattrs,
    "writeback": writeback.writeback,
    "scale": scale.scale,
    "thumbnails": thumbnails.thumbnails,
}
# Workloads run only when named.
LONG = ("scale",)
# Workloads kept in modules of their own bring their own verdicts.
ROWS = [copyout.rows, xattrs.rows, writeback.rows, scale.rows, thumbnails.rows]


# The sizes, and small ones for a quick look. Runs per workload: (always, at most while
# within the budget). The home-link listings cost minutes of modelled server time per run.
@dataclasses.dataclass(frozen=True)
class Mode:
    """The sizes and runs of a mode."""

    spec: generate.Spec
    runs: dict[str, tuple[int, int]]
    seconds: float
    thumbs: int
    copies: int


DEFAULT = Mode(
    spec=generate.Spec(backup=200),
    runs={
        "read": (3, 5),
        "thumbs": (3, 5),
        "ls": (1, 2),
        "tree": (1, 3),
        "copy": (1, 3),
        "copyout": (1, 3),
        "xattrs": (1, 1),
        "writeback": (1, 3),
        "thumbnails": (1, 3),
    },
    seconds=45.0,
    thumbs=1000,
    copies=100,
)
QUICK = Mode(
    spec=generate.Spec(large=128, video=256, photos=100, album=300, tree=30, wide=5000, backup=40),
    runs={
        "read": (1, 3),
        "thumbs": (1, 3),
        "ls": (1, 1),
        "tree": (1, 1),
        "copy": (1, 1),
        "copyout": (1, 1),
        "xattrs": (1, 1),
        "writeback": (1, 1),
        "thumbnails": (1, 1),
    },
    seconds=5.0,
    thumbs=100,
    copies=20,
)
# The checkout this script runs from (benchkit is beside it, smugfs installed from it).
REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS = REPO_ROOT / "docs" / "benchmarks.md"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, a minute or two")
    parser.add_argument(
        "--workloads",
        default=",".join(w for w in WORKLOADS if w not in LONG),
        help=f"comma-separated workloads to run, of {','.join(WORKLOADS)} ({', '.join(LONG)}"
        " only when named: it takes hours at its full sizes)",
    )
    parser.add_argument(
        "--spec", help="the library, e.g. 'large=512,photos=200' (see smugfs/emulator/generate.py)"
    )
    parser.add_argument("--runs", type=int, help="runs of every workload (overrides the mode's)")
    home = network.HOME_LINK
    parser.add_argument(
        "--latency-ms", type=float, default=home.latency_ms, help="home link: per request"
    )
    parser.add_argument(
        "--item-cost-ms", type=float, default=home.item_cost_ms, help="home link: per listed item"
    )
    parser.add_argument(
        "--bandwidth-mbps",
        type=float,
        default=home.bandwidth_mbps,
        help="home link: Mbit/s a connection (0: unlimited)",
    )
    parser.add_argument(
        "--link-mbps",
        type=float,
        default=home.link_mbps,
        help="home link: Mbit/s all connections together (0: unlimited)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "smugfs-bench",
        help="where generated libraries are kept between runs, and the run's scratch space",
    )
    parser.add_argument("--output", type=Path, help="the JSON record (default: in --cache-dir)")
    parser.add_argument(
        "--write-docs", action="store_true", help=f"regenerate the measured part of {DOCS.name}"
    )
    args = parser.parse_args(argv)
    chosen = [w.strip() for w in args.workloads.split(",") if w.strip()]
    if not chosen or set(chosen) - set(WORKLOADS):
        parser.error(f"workloads are {', '.join(WORKLOADS)}")
    args.workloads = chosen
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be positive")
    if min(args.latency_ms, args.item_cost_ms, args.bandwidth_mbps, args.link_mbps) < 0:
        parser.error("the home link's figures must not be negative")
    try:
        args.parsed_spec = generate.Spec.parse(args.spec) if args.spec else None
    except ValueError as exc:
        parser.error(str(exc))
    return args


def make_plan(args: argparse.Namespace) -> workloads.Plan:
    """Sizes and runs for this invocation."""
    mode = QUICK if args.quick else DEFAULT
    spec = args.parsed_spec or mode.spec
    runs = mode.runs
    if args.runs is not None:
        runs = {name: (args.runs, args.runs) for name in runs}
    return workloads.Plan(
        spec=spec,
        runs=runs,
        seconds=mode.seconds,
        thumb_kib=64,
        thumbs=min(mode.thumbs, spec.photos),
        copies=mode.copies,
        copy_mib=10,
        writers=4,
        home=dataclasses.replace(
            network.HOME_LINK,
            latency_ms=args.latency_ms,
            item_cost_ms=args.item_cost_ms,
            bandwidth_mbps=args.bandwidth_mbps,
            link_mbps=args.link_mbps,
        ),
    )


def library(cache_dir: Path, spec: generate.Spec) -> Path:
    """The generated library's data directory, made once per spec and generator version."""
    generator = Path(generate.__file__).read_bytes()
    key = hashlib.sha256(spec.text().encode() + generator).hexdigest()[:16]
    path = cache_dir / f"library-{key}"
    if (path / "ready").exists():
        print(f"library {spec.text()} (cached in {path})", flush=True)
        return path
    for stale in cache_dir.glob("library-*"):  # the same spec by an older generator
        ready = stale / "ready"
        if not ready.exists() or ready.read_text(encoding="utf-8").strip() == spec.text():
            shutil.rmtree(stale, ignore_errors=True)
    print(f"generating library {spec.text()} into {path}", flush=True)
    started = time.monotonic()
    store, _ = prepare(path, with_sample=False, generated=spec)
    store.close()
    (path / "ready").write_text(spec.text() + "\n", encoding="utf-8")
    print(f"  generated in {time.monotonic() - started:.0f} s", flush=True)
    return path


def code_version() -> str:
    """The commit measured, marked dirty when the working tree differs."""
    try:
        described = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return described.stdout.strip() or "unknown"


def versions() -> str:
    """The versions of the other contenders, for the record."""
    found = []
    for command in (["rclone", "version"], ["nginx", "-v"], ["curl", "--version"]):
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        except OSError:
            continue
        first = (done.stdout or done.stderr).splitlines()
        if first:  # "rclone v1.60.1-DEV", "nginx version: nginx/1.22.1", "curl 7.88.1 (...) ..."
            found.append(" ".join(first[0].replace("nginx version: ", "").split()[:2]))
    found.append(f"Python {sys.version.split()[0]}")
    return ", ".join(found)


def _interrupted(signum: int, frame: FrameType | None) -> None:
    """SIGTERM ends the run like Ctrl-C: through every `finally`."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupted)
    plan = make_plan(args)
    started = time.monotonic()
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    print(f"{machine()}; code {code_version()}", flush=True)
    data = library(args.cache_dir, plan.spec)
    out = Results()
    took: dict[str, float] = {}
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=args.cache_dir))
    setup = Setup(scratch, data)
    if "copy" in args.workloads:
        setup.smugcli_python = smugcli.install(args.cache_dir)
    try:
        setup.start()
        for name in args.workloads:
            print(f"{name}:", flush=True)
            began = time.monotonic()
            WORKLOADS[name](setup, plan, out)
            took[name] = time.monotonic() - began
    finally:
        setup.close()
        shutil.rmtree(scratch, ignore_errors=True)
    result = report.rows(out, plan, ROWS)
    runs = (
        "medians of interleaved runs ("
        + ", ".join(f"{name} {out.runs_of(name)}" for name in args.workloads if name in plan.runs)
        + ")"
    )
    meta = {
        "date": dt.date.today().isoformat(),
        "machine": f"{machine()}; {versions()}",
        "code": code_version(),
        "mode": "quick" if args.quick else "default",
        "runs": runs,
        "wan": plan.home.describe(),
        "spec": plan.spec.text(),
        "plan": dataclasses.asdict(plan),
        "seconds": time.monotonic() - started,
        "took": took,
        "notes": out.notes,
    }
    print()
    print(report.table(result))
    output = args.output or args.cache_dir / "results" / (
        dt.datetime.now().strftime("bench-%Y%m%d-%H%M%S") + ".json"
    )
    report.write_json(output, report.record(out, result, meta))
    print(f"\nJSON record: {output}")
    if args.write_docs:
        report.write_docs(DOCS, report.markdown(result, meta))
        print(f"updated {DOCS}")
    print(f"done in {meta['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; everything started was stopped", file=sys.stderr)
        sys.exit(130)
