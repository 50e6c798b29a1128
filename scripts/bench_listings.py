#!/usr/bin/env python3
"""Benchmark listing through the smugfs mount against direct use of the same emulator.

Every figure is printed next to a baseline measured in the same run. The script builds a
library in an emulator data directory (kept in `--workdir` for the next run), starts the
emulator on it as a process (through `tests.harness`) under the listing-cost model of the real
service (`--latency-ms` a request, `--item-cost-ms` a listed item), and mounts it with
`smugfs mount --foreground` (through `tests.mounting`), a fresh mount and cache for every cold
run. Cases:

- `album`: `ls -l` of a 5,000-image album: cold (fresh mount; the root listed by a lookup,
  not read, so nothing is listed ahead),
  against fetching all its pages directly, first page then the rest with the mount's
  concurrency; warm (again in the same mount, no request); and right after a remount on the
  same cache directory, against one direct request for the album.
- `tree`: cold `find` of a folder of 10 folders of 10 folders of 10 albums (1,000 albums of 2
  photos), against a direct walk listing each level's directories concurrently with the same
  concurrency, and against depth x the cost of one listing.
- `memory`: the mount's peak resident memory after `ls` of the root (which lists `Big` ahead)
  and `ls -l` of 10 albums of 5,000 images (55,000 images listed in all) on bare loopback,
  against its resident memory right after mounting.

Run from the repository root:

    PYTHONPATH=. python scripts/bench_listings.py --reps 3
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402

from smugfs.emulator import naming, sample_media, server  # noqa: E402
from tests.harness import Emulator, machine, start_emulator  # noqa: E402
from tests.mounting import Mount, start_mount  # noqa: E402

BIG = 5000
FANOUT = 10
TREE_PHOTOS = 2
MASS_ALBUMS = 10
PAGE = 100
TOOL_TIMEOUT = 900
LIBRARY_MARK = "library-v1"
# Old enough for any listing fetched now to be reused on its validator.
EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def build_library(data_dir: Path) -> None:
    """Album `Big` (5,000 photos), folder `Tree` (10 x 10 x 10 albums of 2 photos) and folder
    `Mass` (10 albums of 5,000 photos) in the first user's root, all dated in the past. The
    photos share one small JPEG (a listing never reads them)."""
    if (data_dir / LIBRARY_MARK).exists():
        return
    shutil.rmtree(data_dir, ignore_errors=True)
    store, _ = server.prepare(data_dir, with_sample=False)
    user = next(iter(store.users.values()))
    root = store.node(user.root_node_id)
    jpeg = sample_media.make_jpeg(1, width=64, height=48, taken=dt.datetime(2020, 1, 1), title="x")
    stamp = naming.iso(EPOCH)

    def album(parent: Any, name: str, photos: int) -> None:
        node = store.create_node(parent, type_="Album", name=name, stamp=stamp)
        assert node.album_key is not None
        target = store.albums[node.album_key]
        for n in range(photos):
            store.add_image(target, jpeg, file_name=f"IMG_{n:05d}.jpg", stamp=stamp)

    def folder(parent: Any, name: str) -> Any:
        return store.create_node(parent, type_="Folder", name=name, stamp=stamp)

    album(root, "Big", BIG)
    tree = folder(root, "Tree")
    for a in range(FANOUT):
        level1 = folder(tree, f"F{a}")
        for b in range(FANOUT):
            level2 = folder(level1, f"G{b}")
            for c in range(FANOUT):
                album(level2, f"A{c}", TREE_PHOTOS)
    mass = folder(root, "Mass")
    for m in range(MASS_ALBUMS):
        album(mass, f"M{m}", BIG)
    store.save()
    (data_dir / LIBRARY_MARK).write_text("built\n")


# --------------------------------------------------------------------- direct baselines


def api_get(client: httpx.Client, uri: str, **params: Any) -> dict[str, Any]:
    """One API GET; the `Response` object of the envelope."""
    response = client.get(uri, params=params)
    response.raise_for_status()
    body: dict[str, Any] = response.json()["Response"]
    return body


class Direct:
    """Direct API use with `concurrency` signed clients, as the mount's baseline."""

    def __init__(self, emulator: Emulator, concurrency: int) -> None:
        self.emulator = emulator
        self.concurrency = concurrency
        self.pool = concurrent.futures.ThreadPoolExecutor(concurrency)
        self.clients = [emulator.client() for _ in range(concurrency)]
        self._free = list(self.clients)

    def close(self) -> None:
        self.pool.shutdown()
        for client in self.clients:
            client.close()

    def _get(self, uri: str, **params: Any) -> dict[str, Any]:
        client = self._free.pop()
        try:
            return api_get(client, uri, **params)
        finally:
            self._free.append(client)

    def list_all(self, uri: str, locator: str) -> list[dict[str, Any]]:
        """The first page, then the rest concurrently (what the mount does)."""
        first = self._get(uri, start=1, count=PAGE)
        items: list[dict[str, Any]] = list(first.get(locator, []))
        total = int(first["Pages"]["Total"])
        starts = range(1 + PAGE, total + 1, PAGE)
        pages = self.pool.map(lambda s: self._get(uri, start=s, count=PAGE), starts)
        for page in pages:
            items.extend(page.get(locator, []))
        return items

    def walk(self, node_uri: str) -> tuple[int, int]:
        """Every directory under a folder, level by level, each level concurrently (one
        request for each directory of up to 100 entries); (directories, files)."""
        level = [node_uri]
        dirs = files = 0
        for _ in range(10):
            if not level:
                break
            replies = list(self.pool.map(lambda u: self._get(u + "!children", count=PAGE), level))
            albums = [
                n["Uris"]["Album"]["Uri"]
                for r in replies
                for n in r.get("Node", [])
                if n["Type"] == "Album"
            ]
            level = [n["Uri"] for r in replies for n in r.get("Node", []) if n["Type"] == "Folder"]
            dirs += len(albums) + len(level)
            for reply in self.pool.map(lambda u: self._get(u + "!images", count=PAGE), albums):
                files += len(reply.get("AlbumImage", []))
        return dirs, files


def node_by_path(emulator: Emulator, *names: str) -> dict[str, Any]:
    """The node at a path of names from the root."""
    with emulator.client() as client:
        uri = api_get(client, "/api/v2!authuser")["User"]["Uris"]["Node"]["Uri"]
        node: dict[str, Any] = api_get(client, uri)["Node"]
        for name in names:
            children = api_get(client, node["Uri"] + "!children", count=PAGE)["Node"]
            node = next(n for n in children if n["Name"] == name)
        return node


# --------------------------------------------------------------------- measuring


def timed(action: Callable[..., Any], *args: Any) -> float:
    """Wall seconds of `action(*args)`."""
    start = time.perf_counter()
    action(*args)
    return time.perf_counter() - start


def tool(*command: str | os.PathLike[str]) -> str:
    """Run a real tool to completion; its output."""
    done = subprocess.run(
        [os.fspath(c) for c in command],
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {done.stderr}")
    return done.stdout


def rss_kib(mount: Mount, field: str) -> int:
    """`VmRSS` or `VmHWM` of the mount process, in KiB."""
    for line in Path(f"/proc/{mount.process.pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for the mount process")


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Results:
    """Figures by name, over the runs."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}

    def add(self, name: str, value: float) -> None:
        self.values.setdefault(name, []).append(value)

    def median(self, name: str) -> float:
        return statistics.median(self.values[name])

    def line(self, name: str, baseline: str, unit: str = "s") -> str:
        ours, base = self.median(name), self.median(baseline)
        ratio = ours / base if base else float("nan")
        return (
            f"{name:<34} {ours:10.3f} {unit:<4} | {baseline:<34} {base:10.3f} {unit:<4}"
            f" | x{ratio:.2f}  (n={len(self.values[name])})"
        )


def mount_at(emulator: Emulator, workdir: Path, options: list[str]) -> Mount:
    return start_mount(emulator, workdir, options=options)


def bench_album(
    emulator: Emulator, work: Path, args: argparse.Namespace, out: Results, rep: int
) -> None:
    options = [f"concurrency={args.concurrency}"]
    big = node_by_path(emulator, "Big")
    album_uri = big["Uris"]["Album"]["Uri"]
    direct = Direct(emulator, args.concurrency)
    try:
        emulator.configure(latency_ms=args.latency_ms, item_cost_ms=args.item_cost_ms)
        workdir = work / f"album-{rep}"
        contenders = ["mount", "direct"] if rep % 2 == 0 else ["direct", "mount"]
        for who in contenders:
            if who == "direct":
                out.add(
                    "direct: all pages, concurrent",
                    timed(lambda: direct.list_all(album_uri + "!images", "AlbumImage")),
                )
                continue
            mount = mount_at(emulator, workdir, options)
            try:
                tool("stat", mount.path / "Big")  # the root listed, nothing read
                path = mount.path / "Big"
                out.add("mount: ls -l cold", timed(tool, "ls", "-l", path))
                for _ in range(5):
                    out.add("mount: ls -l warm", timed(tool, "ls", "-l", path))
            finally:
                mount.unmount()
        out.add("direct: one album GET", timed(lambda: direct._get(album_uri)))
        mount = mount_at(emulator, workdir, options)
        try:
            path = mount.path / "Big"
            out.add("mount: ls -l after remount", timed(tool, "ls", "-l", path))
        finally:
            mount.unmount()
        # Warm figures without the cost model (it plays no part: nothing is sent).
        emulator.configure(latency_ms=0, item_cost_ms=0)
        out.add("local: ls -l of 5,000 files", timed(tool, "ls", "-l", args.local_dir))
    finally:
        emulator.configure(latency_ms=0, item_cost_ms=0)
        direct.close()


def bench_tree(
    emulator: Emulator, work: Path, args: argparse.Namespace, out: Results, rep: int
) -> None:
    options = [f"concurrency={args.concurrency}"]
    tree = node_by_path(emulator, "Tree")
    direct = Direct(emulator, args.concurrency)
    try:
        emulator.configure(latency_ms=args.latency_ms, item_cost_ms=args.item_cost_ms)
        one_listing = timed(lambda: direct._get(tree["Uri"] + "!children", count=PAGE))
        # Depth: Tree, F*, G* list 10 nodes each; the albums 2 images.
        album = node_by_path(emulator, "Tree", "F0", "G0", "A0")["Uris"]["Album"]["Uri"]
        album_listing = timed(lambda: direct._get(album + "!images", count=PAGE))
        out.add("depth x one listing", 3 * one_listing + album_listing)
        contenders = ["mount", "direct"] if rep % 2 == 0 else ["direct", "mount"]
        for who in contenders:
            if who == "direct":
                out.add("direct: walk, concurrent", timed(lambda: direct.walk(tree["Uri"])))
                continue
            mount = mount_at(emulator, work / f"tree-{rep}", options)
            try:
                tool("stat", mount.path / "Big")  # the root listed, nothing read
                emulator.reset_stats()
                cpu = cpu_seconds(mount.process.pid), cpu_seconds(emulator.process.pid)
                out.add("mount: find cold", timed(tool, "find", mount.path / "Tree"))
                out.add("mount: requests of find", float(emulator.stats()["total"]))
                out.add("mount: CPU s of find", cpu_seconds(mount.process.pid) - cpu[0])
                out.add("emulator: CPU s of find", cpu_seconds(emulator.process.pid) - cpu[1])
            finally:
                mount.unmount()
    finally:
        emulator.configure(latency_ms=0, item_cost_ms=0)
        direct.close()


def bench_memory(
    emulator: Emulator, work: Path, args: argparse.Namespace, out: Results, rep: int
) -> None:
    emulator.configure(latency_ms=0, item_cost_ms=0)
    mount = mount_at(emulator, work / f"memory-{rep}", [f"concurrency={args.concurrency}"])
    try:
        tool("ls", mount.path)
        out.add("mount: RSS after mounting", rss_kib(mount, "VmRSS") / 1024)
        for m in range(MASS_ALBUMS):
            tool("ls", "-l", mount.path / "Mass" / f"M{m}")
        out.add("mount: RSS peak, 55,000 listed", rss_kib(mount, "VmHWM") / 1024)
    finally:
        mount.unmount()


CASES: dict[str, Callable[[Emulator, Path, argparse.Namespace, Results, int], None]] = {
    "album": bench_album,
    "tree": bench_tree,
    "memory": bench_memory,
}


def report(out: Results, args: argparse.Namespace) -> None:
    print(f"\nmachine: {machine()}")
    print(f"model: {args.latency_ms:.0f} ms a request, {args.item_cost_ms:.0f} ms a listed item")
    pairs = [
        ("mount: ls -l cold", "direct: all pages, concurrent", "s"),
        ("mount: ls -l warm", "local: ls -l of 5,000 files", "s"),
        ("mount: ls -l after remount", "direct: one album GET", "s"),
        ("mount: find cold", "direct: walk, concurrent", "s"),
        ("mount: find cold", "depth x one listing", "s"),
        ("mount: RSS peak, 55,000 listed", "mount: RSS after mounting", "MiB"),
    ]
    for name, baseline, unit in pairs:
        if name in out.values and baseline in out.values:
            print(out.line(name, baseline, unit))
    if "mount: requests of find" in out.values:
        print(
            f"cold find: {out.median('mount: requests of find'):.0f} requests, CPU seconds: "
            f"mount {out.median('mount: CPU s of find'):.1f}, "
            f"emulator {out.median('emulator: CPU s of find'):.1f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=80.0)
    parser.add_argument("--item-cost-ms", type=float, default=25.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]
    if set(cases) - set(CASES) or args.reps < 1:
        parser.error(f"cases are {', '.join(CASES)}; --reps must be positive")
    keep = args.workdir is not None
    work = args.workdir or Path(tempfile.mkdtemp(prefix="smugfs-bench-listings-"))
    work.mkdir(parents=True, exist_ok=True)
    data_dir = work / "library"
    began = time.monotonic()
    build_library(data_dir)
    print(f"library ready in {time.monotonic() - began:.0f} s", flush=True)
    args.local_dir = work / "local-5000"
    if not args.local_dir.exists():
        args.local_dir.mkdir()
        for n in range(BIG):
            (args.local_dir / f"IMG_{n:05d}.jpg").write_bytes(b"x")
    emulator = start_emulator(work / "emulator", data_dir=data_dir)
    out = Results()
    try:
        for rep in range(args.reps):
            for case in cases:
                began = time.monotonic()
                CASES[case](emulator, work / "runs", args, out, rep)
                print(f"{case} run {rep + 1}: {time.monotonic() - began:.0f} s", flush=True)
    finally:
        emulator.stop()
        shutil.rmtree(work / "runs", ignore_errors=True)
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    report(out, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
