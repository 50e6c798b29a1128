#!/usr/bin/env python3
"""Benchmark the smugfs mount against direct use of the same emulator, case by case.

Every figure a mount produces is printed next to a baseline measured in the same run, because
on our shared machines absolute figures move 2-5x between runs and only a ratio from one
interleaved run means anything. The script starts one emulator with the sample library (as a
process, through `tests.harness`) on 127.0.0.1 and mounts it with `smugfs mount --foreground`
(through `tests.mounting`), a fresh mount with a fresh cache directory for every cold run. Cases:

- `read`: cold sequential read of one large photo (`dd bs=1M` through a fresh mount, page cache
  dropped first) against `curl` downloading the same `ArchivedUri`; then, in the same mount, a
  warm read served from the on-disk cache (page cache dropped again) against `dd` of a local copy
  of the same bytes on the same disk. After each drop the emulator's own copy is read back into
  the page cache: "cold" is about the reading side, and a server reading its disk would make both
  contenders measure the disk. dd is timed from start to exit (its open is part of a read through
  the mount); curl by its own `time_total`. `--read-ahead-kb` sets the mount's read-ahead window
  after mounting, to measure the kernel's read size as a lever.
- `thumbs`: the thumbnailer pattern, the first 64 KiB of each of N photos of 1-3 MB read through
  the mount, against ranged GETs of the same 64 KiB over one kept-alive httpx connection; with
  the media bytes the emulator sent against the bytes the reader used.
- `ls`: `ls -l` of the 1,200-image album "Archive/Scans 1990-2010", cold (fresh mount) and warm
  (again in the same mount), under the listing-cost model of the real service
  (`--item-cost-ms`, `--latency-ms`), against a naive client that fetches the same listings page
  by page (100 per page), one request after the other.
- `tree`: `find` and then `du -s` over the whole sample tree, cold and warm, under the same model,
  against the same naive client walking the whole tree; with the request counts.

The listing cases run first, on the untouched sample library, and the read cases after them,
with the cost model switched off (bare loopback), into albums of their own.

Run from the repository root, as root (to drop the page cache; otherwise every cold run relies on
its fresh mount alone and the warm read may come from the page cache):

    PYTHONPATH=. python scripts/bench_mount.py
    PYTHONPATH=. python scripts/bench_mount.py --cases read --large-mib 500 --reps 9
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import hashlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

# The harness lives in tests/, which is importable only from the repository root.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402

from smugfs.emulator.store import MAX_PHOTO_BYTES  # noqa: E402
from tests.harness import Emulator, machine, start_emulator  # noqa: E402
from tests.mounting import Mount, is_mounted, start_mount  # noqa: E402

KIB = 1024
MIB = 1024 * 1024
HOST = "127.0.0.1"
CASES = ("read", "thumbs", "ls", "tree")
# A JPEG start of image and a JFIF APP0 marker: the emulator takes the upload for a photo.
JPEG_HEADER = b"\xff\xd8\xff\xe0"
SAMPLE_ALBUM = ("Archive", "Scans 1990-2010")
SAMPLE_ALBUM_SIZE = 1200
# What a naive client asks for per page (the real service's usual page size).
NAIVE_PAGE = 100
# Bounds on every wait, so that a stuck mount or server ends the run instead of hanging it.
TOOL_TIMEOUT = 600
MAX_PAGES = 1000
DROP_CACHES = Path("/proc/sys/vm/drop_caches")
API_TIMEOUT = 120.0

T = TypeVar("T")


# --------------------------------------------------------------------- command line


def _sizes(text: str) -> list[int]:
    """`256,64` -> [256, 64]."""
    sizes = [int(part) for part in text.split(",") if part.strip()]
    if not sizes:
        raise argparse.ArgumentTypeError("give at least one size")
    return sizes


def _cases(text: str) -> list[str]:
    """`read,ls` -> ["read", "ls"], checked against CASES."""
    cases = [part.strip() for part in text.split(",") if part.strip()]
    unknown = set(cases) - set(CASES)
    if unknown or not cases:
        raise argparse.ArgumentTypeError(f"cases are {', '.join(CASES)}")
    return cases


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--cases",
        type=_cases,
        default=",".join(CASES),
        help=f"comma-separated cases to run, of {','.join(CASES)}",
    )
    parser.add_argument("--reps", type=int, default=5, help="interleaved runs of each case")
    parser.add_argument(
        "--baseline-reps",
        type=int,
        default=3,
        help="runs of the naive listing client (its time is nearly all the modelled server "
        "time, so it varies little; each run takes about half a minute)",
    )
    parser.add_argument(
        "--large-mib",
        type=_sizes,
        default="256,64",
        help="sizes of the large files read sequentially, in MiB, comma-separated (at most "
        f"{MAX_PHOTO_BYTES // MIB}: the largest photo the service takes)",
    )
    parser.add_argument("--thumbs", type=int, default=200, help="photos the thumbnailer reads")
    parser.add_argument(
        "--thumb-kib", type=int, default=64, help="bytes read from the start of each, in KiB"
    )
    parser.add_argument(
        "--thumb-min-kib", type=int, default=1024, help="smallest thumbnailer photo, in KiB"
    )
    parser.add_argument(
        "--thumb-max-kib", type=int, default=3072, help="largest thumbnailer photo, in KiB"
    )
    parser.add_argument(
        "--item-cost-ms",
        type=float,
        default=25.0,
        help="modelled server time per listed item in the listing cases",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=50.0,
        help="modelled latency per request in the listing cases",
    )
    parser.add_argument(
        "-o",
        "--mount-options",
        default="",
        help="extra comma-separated mount options (cache_dir is set by the script)",
    )
    parser.add_argument(
        "--read-ahead-kb",
        type=int,
        default=None,
        help="after each mount is up, set its read_ahead_kb to this (root only); by default "
        "the mount's own setting is measured",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed for the payloads")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where to keep files, caches and logs (a temporary directory, removed, by default)",
    )
    args = parser.parse_args(argv)
    if args.reps < 1 or args.baseline_reps < 1 or args.thumbs < 1 or args.thumb_kib < 1:
        parser.error("--reps, --baseline-reps, --thumbs and --thumb-kib must be positive")
    if any(not 1 <= size * MIB <= MAX_PHOTO_BYTES for size in args.large_mib):
        parser.error(f"--large-mib sizes must be between 1 and {MAX_PHOTO_BYTES // MIB}")
    if not args.thumb_kib <= args.thumb_min_kib <= args.thumb_max_kib:
        parser.error("need --thumb-kib <= --thumb-min-kib <= --thumb-max-kib")
    if args.thumb_max_kib * KIB > MAX_PHOTO_BYTES:
        parser.error("--thumb-max-kib is larger than the largest photo the service takes")
    if args.item_cost_ms < 0 or args.latency_ms < 0:
        parser.error("--item-cost-ms and --latency-ms must not be negative")
    return args


# --------------------------------------------------------------------- measurements


@dataclasses.dataclass
class Series:
    """The values of one measurement over the interleaved runs."""

    unit: str
    values: list[float] = dataclasses.field(default_factory=list)

    @property
    def median(self) -> float:
        """The median of the runs (NaN before the first)."""
        return statistics.median(self.values) if self.values else float("nan")

    def spread(self) -> str:
        """`min-max` of the runs, for the record."""
        if not self.values:
            return "-"
        return f"{min(self.values):.3g}-{max(self.values):.3g}"


class Results:
    """Every series of the run, by name, in the order they were first recorded."""

    def __init__(self) -> None:
        self.series: dict[str, Series] = {}

    def add(self, name: str, value: float, unit: str) -> None:
        """Record one run's value."""
        self.series.setdefault(name, Series(unit)).values.append(value)

    def median(self, name: str) -> float:
        """The median of a series (NaN if it was never measured)."""
        found = self.series.get(name)
        return found.median if found is not None else float("nan")


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN rather than an error when the denominator is 0."""
    return numerator / denominator if denominator else float("nan")


def alternate(rep: int, names: list[str]) -> list[str]:
    """The order of the contenders in run `rep`: who goes first swaps every run."""
    return names if rep % 2 == 0 else list(reversed(names))


def run_tool(command: list[str], capture: bool = False) -> str:
    """Run a real tool (dd, curl, ls, find, du) to completion; its output if `capture`."""
    completed = subprocess.run(
        command,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({completed.returncode}): {completed.stderr}")
    return completed.stdout or ""


def timed(action: Callable[..., T], *args: Any) -> tuple[float, T]:
    """Wall seconds of `action(*args)` and what it returned."""
    start = time.perf_counter()
    value = action(*args)
    return time.perf_counter() - start, value


class PageCache:
    """Drops the kernel's page cache between runs, when we may (root)."""

    def __init__(self) -> None:
        self.available = os.geteuid() == 0 and DROP_CACHES.exists()

    def drop(self) -> None:
        """Write back, then drop clean pages (mount files, cache files, the emulator's blobs)."""
        if not self.available:
            return
        os.sync()  # dirty pages would stay cached otherwise
        try:
            DROP_CACHES.write_text("1\n")
        except OSError as exc:
            print(f"cannot drop the page cache ({exc}); relying on fresh mounts", flush=True)
            self.available = False


def code_version() -> str:
    """The commit measured, marked dirty when the working tree differs (for the record)."""
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


# --------------------------------------------------------------------- the service


def api_get(client: httpx.Client, uri: str, **params: Any) -> dict[str, Any]:
    """One API GET; the `Response` object of the envelope."""
    response = client.get(uri, params=params)
    response.raise_for_status()
    body: dict[str, Any] = response.json()["Response"]
    return body


def naive_list(client: httpx.Client, uri: str, locator: str) -> list[dict[str, Any]]:
    """Every item of a list, page by page, each request after the previous one's answer."""
    items: list[dict[str, Any]] = []
    start = 1
    for _ in range(MAX_PAGES):
        body = api_get(client, uri, start=start, count=NAIVE_PAGE)
        page = body.get(locator, [])
        items.extend(page)
        pages = body["Pages"]
        if not page or pages["Start"] + pages["Count"] - 1 >= pages["Total"]:
            return items
        start += pages["Count"]
    raise RuntimeError(f"listing {uri} did not end within {MAX_PAGES} pages")


def root_node_uri(emulator: Emulator) -> str:
    """The URI of the account's root node (a mount looks it up before it is mounted)."""
    with emulator.client() as client:
        user = api_get(client, "/api/v2!authuser")["User"]
        uri: str = user["Uris"]["Node"]["Uri"]
        return uri


def create_album(emulator: Emulator, name: str) -> str:
    """A new album at the root of the account; returns its album URI."""
    root = root_node_uri(emulator)
    with emulator.client() as client:
        created = client.post(f"{root}!children", json={"Type": "Album", "Name": name})
        created.raise_for_status()
        uri: str = created.json()["Response"]["Node"]["Uris"]["Album"]["Uri"]
        return uri


def upload(
    uploader: httpx.Client, emulator: Emulator, album_uri: str, name: str, data: bytes
) -> None:
    """Upload `data` as photo `name` into the album."""
    reply = uploader.post(
        emulator.upload_url,
        content=data,
        headers={
            "Content-Type": "image/jpeg",
            "X-Smug-AlbumUri": album_uri,
            "X-Smug-FileName": name,
            "X-Smug-Version": "v2",
            "X-Smug-ResponseType": "JSON",
            "Content-MD5": hashlib.md5(data).hexdigest(),
        },
    )
    reply.raise_for_status()
    body = reply.json()
    if body.get("stat") != "ok":
        raise RuntimeError(f"upload of {name} refused: {body}")


def album_images(emulator: Emulator, album_uri: str) -> dict[str, dict[str, Any]]:
    """The album's images by file name (not timed: the benchmark's own bookkeeping)."""
    with emulator.client() as client:
        images = naive_list(client, f"{album_uri}!images", "AlbumImage")
    return {image["FileName"]: image for image in images}


def photo(size: int, rng: random.Random) -> bytes:
    """`size` bytes the service takes for a JPEG: a JPEG header and random bytes."""
    out = bytearray(JPEG_HEADER)
    # randbytes draws one big integer, which overflows past 256 MiB: go piece by piece.
    while len(out) < size:
        out += rng.randbytes(min(16 * MIB, size - len(out)))
    return bytes(out)


@dataclasses.dataclass
class Walk:
    """What a naive client learns by walking the account: directories and files."""

    directories: int = 0
    files: int = 0
    bytes: int = 0


def naive_walk(emulator: Emulator, root_uri: str) -> Walk:
    """Walk the whole tree the way a naive client does: one page at a time, depth first."""
    walk = Walk()
    with emulator.client() as client:
        stack = [root_uri]
        for _ in range(100_000):
            if not stack:
                return walk
            for child in naive_list(client, stack.pop() + "!children", "Node"):
                if child["Type"] == "Folder":
                    walk.directories += 1
                    stack.append(child["Uri"])
                elif child["Type"] == "Album":
                    walk.directories += 1
                    album = child["Uris"]["Album"]["Uri"]
                    for image in naive_list(client, album + "!images", "AlbumImage"):
                        walk.files += 1
                        walk.bytes += int(image.get("ArchivedSize") or 0)
    raise RuntimeError("the tree walk did not end")


def naive_album_listing(emulator: Emulator, root_uri: str, path: tuple[str, ...]) -> int:
    """List the album at `path` the naive way: each folder on the way, then its images."""
    with emulator.client() as client:
        node_uri = root_uri
        album_uri = None
        for name in path:
            children = naive_list(client, node_uri + "!children", "Node")
            child = next((c for c in children if c["Name"] == name), None)
            if child is None:
                raise RuntimeError(f"no {name!r} in the sample library")
            node_uri = child["Uri"]
            album_uri = child.get("Uris", {}).get("Album", {}).get("Uri")
        if album_uri is None:
            raise RuntimeError(f"{'/'.join(path)} is not an album")
        return len(naive_list(client, album_uri + "!images", "AlbumImage"))


def api_requests(stats: dict[str, Any]) -> int:
    """API requests in a stats snapshot (everything that is not media)."""
    return int(stats["total"]) - int(stats["media_requests"])


# --------------------------------------------------------------------- mounts


class Mounts:
    """Starts fresh mounts of one emulator and makes sure none outlives the run."""

    def __init__(self, emulator: Emulator, workdir: Path, args: argparse.Namespace) -> None:
        self.emulator = emulator
        self.workdir = workdir
        self.options = [o for o in args.mount_options.split(",") if o.strip()]
        self.read_ahead_kb: int | None = args.read_ahead_kb
        self.started = 0
        self.live: list[Mount] = []
        self.seen_read_ahead: set[str] = set()

    @contextlib.contextmanager
    def fresh(self) -> Iterator[Mount]:
        """A new mount with an empty cache directory, unmounted and removed afterwards."""
        self.started += 1
        where = self.workdir / f"mount-{self.started:03d}"
        mount = start_mount(self.emulator, where, options=self.options)
        self.live.append(mount)
        try:
            self._read_ahead(mount.path)
            yield mount
            problems = mount.problems()
            if problems:
                print("  the mount logged:\n    " + "\n    ".join(problems[:5]), flush=True)
        finally:
            mount.unmount()
            self.live.remove(mount)
            if not is_mounted(mount.path):
                shutil.rmtree(where, ignore_errors=True)  # caches of big files add up

    def _read_ahead(self, path: Path) -> None:
        """Apply --read-ahead-kb, and note the read-ahead the mount runs with."""
        device = os.stat(path).st_dev
        setting = Path(f"/sys/class/bdi/{os.major(device)}:{os.minor(device)}/read_ahead_kb")
        if self.read_ahead_kb is not None:
            try:
                setting.write_text(str(self.read_ahead_kb))
            except OSError as exc:
                print(f"  cannot set read_ahead_kb: {exc}", flush=True)
        try:
            self.seen_read_ahead.add(setting.read_text().strip())
        except OSError:
            self.seen_read_ahead.add("?")

    def close(self) -> None:
        """Unmount whatever is still mounted (after a failure)."""
        for mount in list(self.live):
            mount.unmount()
            self.live.remove(mount)


@contextlib.contextmanager
def listing_cost(emulator: Emulator, args: argparse.Namespace) -> Iterator[None]:
    """The real service's listing cost, modelled by the emulator for the block's duration."""
    emulator.configure(latency_ms=args.latency_ms, item_cost_ms=args.item_cost_ms)
    try:
        yield
    finally:
        emulator.configure(latency_ms=0, item_cost_ms=0)


# --------------------------------------------------------------------- the cases


def bench_ls(emulator: Emulator, mounts: Mounts, args: argparse.Namespace, out: Results) -> None:
    """`ls -l` of the 1,200-image album, cold and warm, against the naive paging client."""
    root_uri = root_node_uri(emulator)
    with listing_cost(emulator, args):
        for rep in range(args.reps):
            for who in alternate(rep, ["naive", "mount"]):
                if who == "naive":
                    if rep >= args.baseline_reps:
                        continue
                    emulator.reset_stats()
                    seconds, count = timed(naive_album_listing, emulator, root_uri, SAMPLE_ALBUM)
                    if count != SAMPLE_ALBUM_SIZE:
                        raise RuntimeError(f"the sample album lists {count} images")
                    out.add("ls naive s", seconds, "s")
                    out.add("ls naive requests", api_requests(emulator.stats()), "requests")
                    print(f"  run {rep + 1}: naive client  {seconds:7.2f} s", flush=True)
                    continue
                with mounts.fresh() as mount:
                    album = str(mount.path.joinpath(*SAMPLE_ALBUM))
                    for state in ("cold", "warm"):
                        emulator.reset_stats()
                        seconds, listing = timed(run_tool, ["ls", "-l", album], True)
                        stats = emulator.stats()
                        lines = len(str(listing).splitlines())
                        if lines != SAMPLE_ALBUM_SIZE + 1:  # and the "total" line
                            raise RuntimeError(f"ls -l through the mount printed {lines} lines")
                        out.add(f"ls {state} s", seconds, "s")
                        out.add(f"ls {state} requests", api_requests(stats), "requests")
                        print(
                            f"  run {rep + 1}: mount, {state}   {seconds:7.2f} s, "
                            f"{api_requests(stats)} API requests",
                            flush=True,
                        )


def bench_tree(emulator: Emulator, mounts: Mounts, args: argparse.Namespace, out: Results) -> None:
    """`find` and `du -s` of the whole tree, cold and warm, against the naive walker."""
    root_uri = root_node_uri(emulator)
    expected: Walk | None = None
    found: list[int] = []
    with listing_cost(emulator, args):
        for rep in range(args.reps):
            for who in alternate(rep, ["naive", "mount"]):
                if who == "naive":
                    if rep >= args.baseline_reps:
                        continue
                    emulator.reset_stats()
                    seconds, expected = timed(naive_walk, emulator, root_uri)
                    out.add("tree naive s", seconds, "s")
                    out.add("tree naive requests", api_requests(emulator.stats()), "requests")
                    print(f"  run {rep + 1}: naive client  {seconds:7.2f} s", flush=True)
                    continue
                with mounts.fresh() as mount:
                    root = str(mount.path)
                    for state in ("cold", "warm"):
                        emulator.reset_stats()
                        find_s, listing = timed(run_tool, ["find", root], True)
                        du_s, _ = timed(run_tool, ["du", "-s", root], True)
                        stats = emulator.stats()
                        found.append(len(str(listing).splitlines()) - 1)  # less the root
                        out.add(f"tree {state} s", find_s + du_s, "s")
                        out.add(f"tree {state} find s", find_s, "s")
                        out.add(f"tree {state} du s", du_s, "s")
                        out.add(f"tree {state} requests", api_requests(stats), "requests")
                        print(
                            f"  run {rep + 1}: mount, {state}   {find_s + du_s:7.2f} s "
                            f"(find {find_s:.2f} s, du -s {du_s:.2f} s), "
                            f"{api_requests(stats)} API requests",
                            flush=True,
                        )
    if expected is not None:
        entries = expected.directories + expected.files
        if any(count != entries for count in found):
            raise RuntimeError(f"find through the mount saw {found} entries, the API {entries}")
        print(
            f"  the tree: {expected.directories} directories, {expected.files} files, "
            f"{expected.bytes / MIB:.1f} MiB",
            flush=True,
        )


def curl_download(url: str) -> tuple[int, float]:
    """Download `url` whole with curl into /dev/null; the bytes received and curl's own time.

    curl's `time_total` (connect to last byte) leaves out the start of the curl process itself,
    which is tens of milliseconds here and would be a noticeable share of a 64 MiB download.
    """
    report = run_tool(
        [
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "--max-time",
            str(TOOL_TIMEOUT),
            "-w",
            "%{http_code} %{size_download} %{time_total}",
            url,
        ],
        capture=True,
    )
    status, size, seconds = report.split()
    if status != "200":
        raise RuntimeError(f"curl: HTTP {status} for {url}")
    return int(size), float(seconds)


def dd_read(path: Path) -> None:
    """Read a file sequentially in 1 MiB requests, as `dd bs=1M` does."""
    run_tool(["dd", f"if={path}", "of=/dev/null", "bs=1M", "status=none"])


def md5_of(path: Path) -> str:
    """The MD5 of a file (not timed: checks that the mount returned the right bytes)."""
    digest = hashlib.md5()
    with open(path, "rb") as stream:
        for _ in range(MAX_PHOTO_BYTES // MIB + 1):
            chunk = stream.read(MIB)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


def warm_server(emulator: Emulator, image: dict[str, Any]) -> None:
    """Bring the emulator's copy of a photo back into the page cache after a drop.

    "Cold" is about the reading side: a real server answers from its own caches, and a server
    reading the disk would make both contenders measure the disk rather than the transfer.
    """
    blob = emulator.data_dir / "blobs" / str(image["ArchivedMD5"])
    if blob.exists():
        dd_read(blob)
    else:  # another layout: a download brings it in just the same
        curl_download(str(image["ArchivedUri"]))


def bench_read(
    emulator: Emulator,
    mounts: Mounts,
    args: argparse.Namespace,
    out: Results,
    cache: PageCache,
    workdir: Path,
) -> None:
    """Cold and warm sequential reads of large photos against curl and the local disk."""
    album_name = "Bench Large"
    album_uri = create_album(emulator, album_name)
    rng = random.Random(args.seed)
    names = {size: f"large-{size}MiB.jpg" for size in args.large_mib}
    local_dir = workdir / "local"
    local_dir.mkdir(parents=True, exist_ok=True)
    with httpx.Client(auth=emulator.auth(), timeout=TOOL_TIMEOUT) as uploader:
        for size, name in names.items():
            print(f"  uploading {name}", flush=True)
            data = photo(size * MIB, rng)
            # The same bytes on the local disk: the baseline of the warm read.
            (local_dir / name).write_bytes(data)
            upload(uploader, emulator, album_uri, name, data)
            del data
    images = album_images(emulator, album_uri)
    for size, name in names.items():
        image = images[name]
        url: str = image["ArchivedUri"]
        if not url.startswith(f"http://{HOST}:") or image["ArchivedSize"] != size * MIB:
            raise RuntimeError(f"unexpected image record {image}")
        key = f"read {size}"
        for rep in range(args.reps):
            for who in alternate(rep, ["direct", "mount", "local"]):
                if who == "direct":
                    cache.drop()
                    warm_server(emulator, image)
                    received, seconds = curl_download(url)
                    if received != size * MIB:
                        raise RuntimeError(f"curl received {received} bytes of {size} MiB")
                    out.add(f"{key} direct", size / seconds, "MiB/s")
                    print(f"  {size} MiB run {rep + 1}: direct curl {size / seconds:8.1f} MiB/s")
                elif who == "local":
                    cache.drop()
                    seconds, _ = timed(dd_read, local_dir / name)
                    out.add(f"{key} local", size / seconds, "MiB/s")
                    print(f"  {size} MiB run {rep + 1}: local dd    {size / seconds:8.1f} MiB/s")
                else:
                    with mounts.fresh() as mount:
                        path = mount.path / album_name / name
                        if path.stat().st_size != size * MIB:  # also loads the listing
                            raise RuntimeError(f"{path} has the wrong size")
                        for state in ("cold", "warm"):
                            cache.drop()
                            warm_server(emulator, image)
                            emulator.reset_stats()
                            seconds, _ = timed(dd_read, path)
                            stats = emulator.stats()
                            out.add(f"{key} {state}", size / seconds, "MiB/s")
                            out.add(f"{key} {state} media requests", stats["media_requests"], "")
                            out.add(f"{key} {state} media MiB", stats["media_bytes"] / MIB, "MiB")
                            print(
                                f"  {size} MiB run {rep + 1}: mount {state}  "
                                f"{size / seconds:8.1f} MiB/s, {stats['media_requests']} media "
                                f"requests, {stats['media_bytes'] / MIB:.1f} MiB",
                                flush=True,
                            )
                        if rep == 0 and md5_of(path) != image["ArchivedMD5"]:
                            raise RuntimeError(f"{path} read back with the wrong MD5")


def bench_thumbs(
    emulator: Emulator, mounts: Mounts, args: argparse.Namespace, out: Results
) -> None:
    """The first KiBs of many photos through the mount, against direct ranged GETs."""
    album_name = "Bench Thumbnails"
    album_uri = create_album(emulator, album_name)
    rng = random.Random(args.seed + 1)
    length = args.thumb_kib * KIB
    names = [f"thumb-{n:04d}.jpg" for n in range(1, args.thumbs + 1)]
    heads: list[bytes] = []
    total = 0
    print(f"  uploading {args.thumbs} photos", flush=True)
    with httpx.Client(auth=emulator.auth(), timeout=API_TIMEOUT) as uploader:
        for name in names:
            size = rng.randint(args.thumb_min_kib * KIB, args.thumb_max_kib * KIB)
            data = photo(size, rng)
            heads.append(data[:length])
            total += size
            upload(uploader, emulator, album_uri, name, data)
    images = album_images(emulator, album_uri)
    urls = [images[name]["ArchivedUri"] for name in names]
    used = length * len(names)
    print(
        f"  {len(names)} photos, {total / MIB:.0f} MiB in all; reading {args.thumb_kib} KiB each",
        flush=True,
    )

    def direct() -> list[bytes]:
        got = []
        with httpx.Client(timeout=API_TIMEOUT) as client:
            for url in urls:
                reply = client.get(url, headers={"Range": f"bytes=0-{length - 1}"})
                if reply.status_code != 206:
                    raise RuntimeError(f"HTTP {reply.status_code} for a ranged GET")
                got.append(reply.content)
        return got

    def through(directory: Path) -> list[bytes]:
        got = []
        for name in names:
            with open(directory / name, "rb", buffering=0) as stream:
                chunk = b""
                # A read may return less than asked for; bounded by the length wanted.
                for _ in range(length):
                    piece = stream.read(length - len(chunk))
                    if not piece:
                        break
                    chunk += piece
                    if len(chunk) == length:
                        break
                got.append(chunk)
        return got

    for rep in range(args.reps):
        for who in alternate(rep, ["direct", "mount"]):
            if who == "direct":
                emulator.reset_stats()
                seconds, got = timed(direct)
                stats = emulator.stats()
            else:
                with mounts.fresh() as mount:
                    directory = mount.path / album_name
                    # The listing and the stats a file manager does first are not timed.
                    for name in os.listdir(directory):
                        os.stat(directory / name)
                    emulator.reset_stats()
                    seconds, got = timed(through, directory)
                    stats = emulator.stats()
            if got != heads:
                raise RuntimeError(f"{who}: the first {args.thumb_kib} KiB differ")
            out.add(f"thumbs {who} s", seconds, "s")
            out.add(f"thumbs {who} media MiB", stats["media_bytes"] / MIB, "MiB")
            out.add(f"thumbs {who} media requests", stats["media_requests"], "")
            print(
                f"  run {rep + 1}: {who:6} {seconds:6.2f} s, {stats['media_requests']} media "
                f"requests, {stats['media_bytes'] / MIB:.1f} MiB sent for {used / MIB:.1f} MiB "
                "used",
                flush=True,
            )
    out.add("thumbs used MiB", used / MIB, "MiB")


# --------------------------------------------------------------------- the report


def report(args: argparse.Namespace, out: Results, mounts: Mounts, cache: PageCache) -> None:
    """Print the medians side by side with their baselines."""
    m = out.median
    print()
    print(f"{machine()}; {dt.date.today().isoformat()}; code {code_version()}")
    naive = ""
    if {"ls", "tree"} & set(args.cases):
        naive = f" ({args.baseline_reps} for the naive listing client)"
    print(
        f"medians of {args.reps} interleaved runs{naive}; mounts' read_ahead_kb: "
        f"{', '.join(sorted(mounts.seen_read_ahead)) or '-'}; "
        f"page cache dropped: {'yes' if cache.available else 'no (not root)'}"
    )
    if "read" in args.cases:
        print("\n1. sequential read of one large photo, MiB/s")
        print(
            f"{'':10}{'direct curl':>12}{'mount cold':>12}{'cold/direct':>13}"
            f"{'local dd':>10}{'mount warm':>12}{'warm/local':>12}{'warm/direct':>13}"
        )
        for size in args.large_mib:
            key = f"read {size}"
            print(
                f"{f'{size} MiB':10}{m(f'{key} direct'):12.1f}{m(f'{key} cold'):12.1f}"
                f"{ratio(m(f'{key} cold'), m(f'{key} direct')):13.2f}"
                f"{m(f'{key} local'):10.1f}{m(f'{key} warm'):12.1f}"
                f"{ratio(m(f'{key} warm'), m(f'{key} local')):12.2f}"
                f"{ratio(m(f'{key} warm'), m(f'{key} direct')):13.2f}"
            )
            requests = m(f"{key} cold media requests")
            fetched = m(f"{key} cold media MiB")
            print(
                f"{'':10}cold: {requests:.0f} ranged GETs of {ratio(fetched, requests):.2f} MiB "
                f"on average, {fetched:.1f} MiB fetched for {size} MiB; warm: "
                f"{m(f'{key} warm media requests'):.0f} GETs"
            )
    if "thumbs" in args.cases:
        used = m("thumbs used MiB")
        print(f"\n2. first {args.thumb_kib} KiB of each of {args.thumbs} photos")
        print(f"{'':28}{'direct GETs':>12}{'mount':>12}{'mount/direct':>14}")
        print(
            f"{'wall time, s':28}{m('thumbs direct s'):12.2f}{m('thumbs mount s'):12.2f}"
            f"{ratio(m('thumbs mount s'), m('thumbs direct s')):14.2f}"
        )
        print(
            f"{'per file, ms':28}{1000 * m('thumbs direct s') / args.thumbs:12.2f}"
            f"{1000 * m('thumbs mount s') / args.thumbs:12.2f}"
        )
        print(
            f"{'media requests':28}{m('thumbs direct media requests'):12.0f}"
            f"{m('thumbs mount media requests'):12.0f}"
        )
        print(
            f"{f'MiB sent ({used:.1f} MiB used)':28}{m('thumbs direct media MiB'):12.1f}"
            f"{m('thumbs mount media MiB'):12.1f}"
            f"{ratio(m('thumbs mount media MiB'), m('thumbs direct media MiB')):14.2f}"
        )
    model = f"--latency-ms {args.latency_ms:g} --item-cost-ms {args.item_cost_ms:g}"
    if "ls" in args.cases:
        print(f"\n3. ls -l of {'/'.join(SAMPLE_ALBUM)} ({SAMPLE_ALBUM_SIZE} images), {model}")
        print(f"{'':16}{'naive client':>14}{'mount cold':>12}{'mount warm':>12}{'naive/cold':>12}")
        print(
            f"{'seconds':16}{m('ls naive s'):14.2f}{m('ls cold s'):12.2f}{m('ls warm s'):12.3f}"
            f"{ratio(m('ls naive s'), m('ls cold s')):12.1f}"
        )
        print(
            f"{'API requests':16}{m('ls naive requests'):14.0f}{m('ls cold requests'):12.0f}"
            f"{m('ls warm requests'):12.0f}"
        )
    if "tree" in args.cases:
        print(f"\n4. find + du -s of the whole sample tree, {model}")
        print(f"{'':16}{'naive client':>14}{'mount cold':>12}{'mount warm':>12}{'naive/cold':>12}")
        print(
            f"{'seconds':16}{m('tree naive s'):14.2f}{m('tree cold s'):12.2f}"
            f"{m('tree warm s'):12.3f}{ratio(m('tree naive s'), m('tree cold s')):12.1f}"
        )
        print(
            f"{'  find / du -s':16}{'':14}{m('tree cold find s'):6.2f}/{m('tree cold du s'):<5.2f}"
            f"{m('tree warm find s'):6.3f}/{m('tree warm du s'):<5.3f}"
        )
        print(
            f"{'API requests':16}{m('tree naive requests'):14.0f}{m('tree cold requests'):12.0f}"
            f"{m('tree warm requests'):12.0f}"
        )
    print("\nall series (min-max over the runs):")
    for name, series in out.series.items():
        print(f"  {name:32} median {series.median:10.3f} {series.unit:9} range {series.spread()}")


# --------------------------------------------------------------------- running


def run(args: argparse.Namespace, workdir: Path) -> None:
    """Start the emulator, run the cases, report, and always unmount and stop everything."""
    cache = PageCache()
    if not cache.available:
        print("not root: the page cache is not dropped; cold runs rely on fresh mounts")
    print(f"{machine()}; code {code_version()}", flush=True)
    print("starting the emulator with the sample library", flush=True)
    out = Results()
    emulator: Emulator | None = None
    mounts: Mounts | None = None
    try:
        emulator = start_emulator(workdir / "emulator", sample=True)
        mounts = Mounts(emulator, workdir / "mounts", args)
        # The listing cases run on the untouched sample library: the read cases add albums.
        if "ls" in args.cases:
            print(f"ls -l of {'/'.join(SAMPLE_ALBUM)}", flush=True)
            bench_ls(emulator, mounts, args, out)
        if "tree" in args.cases:
            print("find + du -s of the whole tree", flush=True)
            bench_tree(emulator, mounts, args, out)
        if "read" in args.cases:
            print("sequential reads", flush=True)
            bench_read(emulator, mounts, args, out, cache, workdir)
        if "thumbs" in args.cases:
            print("thumbnailer reads", flush=True)
            bench_thumbs(emulator, mounts, args, out)
        report(args, out, mounts, cache)
    finally:
        if mounts is not None:
            mounts.close()
        if emulator is not None:
            emulator.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    started = time.monotonic()
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        run(args, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="smugfs-bench-mount-") as temp:
            run(args, Path(temp))
    print(f"\ndone in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
