#!/usr/bin/env python3
"""Benchmark the emulator's media server against nginx serving the same file on loopback.

The emulator must never be what limits a benchmark of smugfs: serving a large original to curl
should run at no less than half the speed of a static file server. This script starts an
emulator (as a process, through `smugfs.testing.emulator`) and an nginx of its own, both on
127.0.0.1, uploads one large JPEG-looking file to the emulator, puts the same bytes where nginx
serves them, and then downloads both with curl, alternating between the two for every round so
that both see the same machine noise. It prints the medians and the emulator/nginx ratio for:

- a whole-file download (`curl -o /dev/null`), one new connection per download;
- ranged reads (64 KiB at random offsets by default) over a kept-alive connection, the way the
  filesystem reads a file's middle, as median latency per request.

Only the ratio from one run means anything on shared machines; the absolute figures move a lot.

Run with the checkout's environment (scripts/_setup makes it):

    .venv/bin/python scripts/bench_emulator_media.py --size-mib 64 --runs 9
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
from benchkit.measure import machine
from benchkit.servers import HOST, Nginx, start_nginx

from smugfs.emulator.store import MAX_PHOTO_BYTES
from smugfs.testing.emulator import Emulator, start_emulator
from smugfs.testing.media import JPEG_START, photo

MIB = 1024 * 1024
# Bounds on every wait, so that a stuck server ends the run instead of hanging it.
CURL_MAX_SECONDS = 600
# Ranged reads go in batches of this many requests per curl process (one kept-alive
# connection each), alternating between the servers batch by batch.
RANGE_BATCH = 25


@dataclasses.dataclass
class Transfer:
    """One transfer as curl reports it."""

    seconds: float
    size: int
    status: int


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--size-mib",
        type=int,
        default=500,
        help="size of the file served, in MiB (at most 500: the largest photo the service takes)",
    )
    parser.add_argument(
        "--runs", type=int, default=9, help="whole-file downloads from each server, interleaved"
    )
    parser.add_argument(
        "--range",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure ranged reads",
    )
    parser.add_argument(
        "--range-kib", type=int, default=64, help="length of each ranged read, in KiB"
    )
    parser.add_argument(
        "--range-requests", type=int, default=200, help="ranged reads sent to each server"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed for the payload and offsets")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where to keep the files and logs (a temporary directory, removed, by default)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.size_mib * MIB <= MAX_PHOTO_BYTES:
        parser.error(f"--size-mib must be between 1 and {MAX_PHOTO_BYTES // MIB}")
    if args.runs < 1 or args.range_requests < 1 or args.range_kib < 1:
        parser.error("--runs, --range-requests and --range-kib must be positive")
    if args.range_kib * 1024 > args.size_mib * MIB:
        parser.error("--range-kib must not exceed the file size")
    return args


def upload(emulator: Emulator, data: bytes) -> str:
    """Upload `data` as a photo into a new album; returns its `ArchivedUri`."""
    with emulator.client() as api:
        user = api.get("/api/v2!authuser")
        user.raise_for_status()
        root = user.json()["Response"]["User"]["Uris"]["Node"]["Uri"]
        created = api.post(f"{root}!children", json={"Type": "Album", "Name": "Bench"})
        created.raise_for_status()
        album_uri = created.json()["Response"]["Node"]["Uris"]["Album"]["Uri"]
    with httpx.Client(auth=emulator.auth(), timeout=600.0) as uploader:
        reply = uploader.post(
            emulator.upload_url,
            content=data,
            headers={
                "Content-Type": "image/jpeg",
                "X-Smug-AlbumUri": album_uri,
                "X-Smug-FileName": "bench.jpg",
                "X-Smug-Version": "v2",
                "X-Smug-ResponseType": "JSON",
            },
        )
        reply.raise_for_status()
        body = reply.json()
    if body.get("stat") != "ok":
        raise RuntimeError(f"upload refused: {body}")
    with emulator.client() as api:
        image = api.get(body["Image"]["ImageUri"])
        image.raise_for_status()
        record = image.json()["Response"]["Image"]
    if record["ArchivedSize"] != len(data):
        raise RuntimeError(f"emulator stored {record['ArchivedSize']} bytes, not {len(data)}")
    archived: str = record["ArchivedUri"]
    if not archived.startswith(f"http://{HOST}:"):
        raise RuntimeError(f"unexpected ArchivedUri {archived}")
    return archived


def curl_download(url: str) -> Transfer:
    """Download `url` whole with curl into /dev/null."""
    out = subprocess.run(
        [
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "--max-time",
            str(CURL_MAX_SECONDS),
            "-w",
            "%{time_total} %{size_download} %{http_code}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=CURL_MAX_SECONDS + 30,
        check=True,
    )
    seconds, size, status = out.stdout.split()
    return Transfer(float(seconds), int(size), int(status))


def curl_ranges(url: str, ranges: list[tuple[int, int]], workdir: Path) -> list[Transfer]:
    """Fetch each inclusive byte range of `url` in turn over one kept-alive connection."""
    config = workdir / "ranges.curlrc"
    with open(config, "w", encoding="utf-8") as out:
        for index, (first, last) in enumerate(ranges):
            if index:
                out.write("next\n")
            out.write(
                f'url = "{url}"\nrange = "{first}-{last}"\noutput = "/dev/null"\n'
                'write-out = "%{time_total} %{size_download} %{http_code}\\n"\n'
                "silent\n"
                f"max-time = {CURL_MAX_SECONDS}\n"
            )
    out_run = subprocess.run(
        ["curl", "-K", str(config)],
        capture_output=True,
        text=True,
        timeout=CURL_MAX_SECONDS + 30,
        check=True,
    )
    transfers = []
    for line in out_run.stdout.splitlines():
        seconds, size, status = line.split()
        transfers.append(Transfer(float(seconds), int(size), int(status)))
    if len(transfers) != len(ranges):
        raise RuntimeError(f"curl reported {len(transfers)} transfers for {len(ranges)} ranges")
    return transfers


def check_same_bytes(urls: dict[str, str], path: Path, size: int, rng: random.Random) -> None:
    """Make sure both servers send the file's bytes (a few ranges compared with the file)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        with httpx.Client(timeout=60.0) as client:
            for first in (0, rng.randrange(size), max(0, size - 1000)):
                last = min(size - 1, first + 65535)
                expected = os.pread(fd, last - first + 1, first)
                for name, url in urls.items():
                    got = client.get(url, headers={"Range": f"bytes={first}-{last}"})
                    if got.status_code != 206 or got.content != expected:
                        raise RuntimeError(f"{name} sent wrong bytes for range {first}-{last}")
    finally:
        os.close(fd)


def alternate(names: list[str], rounds: int) -> Iterator[tuple[int, str]]:
    """(round, server) pairs, with the server that goes first swapped every round."""
    for index in range(rounds):
        order = names if index % 2 == 0 else list(reversed(names))
        for name in order:
            yield index, name


def bench_downloads(urls: dict[str, str], size: int, runs: int) -> dict[str, list[float]]:
    """MiB/s of each whole-file download, per server, interleaved."""
    for url in urls.values():
        curl_download(url)  # warm-up: page cache, first-request paths
    speeds: dict[str, list[float]] = {name: [] for name in urls}
    for index, name in alternate(list(urls), runs):
        transfer = curl_download(urls[name])
        if transfer.status != 200 or transfer.size != size:
            raise RuntimeError(
                f"{name}: HTTP {transfer.status}, {transfer.size} bytes instead of {size}"
            )
        speeds[name].append(size / MIB / transfer.seconds)
        print(f"  round {index + 1}: {name:8} {speeds[name][-1]:8.1f} MiB/s", flush=True)
    return speeds


def bench_ranges(
    urls: dict[str, str], size: int, args: argparse.Namespace, workdir: Path
) -> dict[str, list[float]]:
    """Latency in ms of each ranged read, per server; both get the same offsets."""
    rng = random.Random(args.seed + 1)
    length = args.range_kib * 1024
    offsets = [rng.randrange(size - length + 1) for _ in range(args.range_requests)]
    ranges = [(first, first + length - 1) for first in offsets]
    batches = [ranges[i : i + RANGE_BATCH] for i in range(0, len(ranges), RANGE_BATCH)]
    for url in urls.values():
        curl_ranges(url, batches[0][:2], workdir)  # warm-up
    latencies: dict[str, list[float]] = {name: [] for name in urls}
    for index, name in alternate(list(urls), len(batches)):
        for transfer in curl_ranges(urls[name], batches[index], workdir):
            if transfer.status != 206 or transfer.size != length:
                raise RuntimeError(
                    f"{name}: HTTP {transfer.status}, {transfer.size} bytes for a ranged read"
                )
            latencies[name].append(transfer.seconds * 1000)
    return latencies


def report(
    args: argparse.Namespace,
    speeds: dict[str, list[float]],
    latencies: dict[str, list[float]] | None,
) -> None:
    """Print the medians and ratios as a table."""
    nginx_speed = statistics.median(speeds["nginx"])
    emulator_speed = statistics.median(speeds["emulator"])
    print()
    print(f"{machine()}; {args.size_mib} MiB file; medians of interleaved runs")
    print(f"{'':34}{'nginx':>10}{'emulator':>10}{'emulator/nginx':>16}")
    print(
        f"{f'whole file, MiB/s ({args.runs} runs)':34}"
        f"{nginx_speed:10.1f}{emulator_speed:10.1f}{emulator_speed / nginx_speed:16.2f}"
    )
    if latencies is not None:
        nginx_ms = statistics.median(latencies["nginx"])
        emulator_ms = statistics.median(latencies["emulator"])
        label = f"{args.range_kib} KiB range, ms ({args.range_requests} reqs)"
        print(f"{label:34}{nginx_ms:10.2f}{emulator_ms:10.2f}{emulator_ms / nginx_ms:16.2f}")
    verdict = "OK" if emulator_speed >= 0.5 * nginx_speed else "BELOW the 0.5x requirement"
    print(f"whole-file ratio {emulator_speed / nginx_speed:.2f}: {verdict}")


def run(args: argparse.Namespace, workdir: Path) -> None:
    """Start both servers, measure, and stop them again (also when something fails)."""
    size = args.size_mib * MIB
    print(f"generating {args.size_mib} MiB of JPEG-looking bytes", flush=True)
    data = photo(args.seed, size - len(JPEG_START))
    served = workdir / "nginx" / "www" / "bench.jpg"
    served.parent.mkdir(parents=True, exist_ok=True)
    served.write_bytes(data)
    emulator: Emulator | None = None
    nginx: Nginx | None = None
    try:
        emulator = start_emulator(workdir / "emulator")
        print(f"emulator at {emulator.base_url}; uploading", flush=True)
        archived = upload(emulator, data)
        del data  # the file on disk is the reference from here on
        nginx = start_nginx(workdir / "nginx")
        urls = {"nginx": nginx.url(served.name), "emulator": archived}
        print(f"nginx at {urls['nginx']}\nemulator at {archived}", flush=True)
        check_same_bytes(urls, served, size, random.Random(args.seed + 2))
        print(f"whole-file downloads, {args.runs} rounds", flush=True)
        speeds = bench_downloads(urls, size, args.runs)
        latencies = None
        if args.range:
            print(f"ranged reads, {args.range_requests} per server", flush=True)
            latencies = bench_ranges(urls, size, args, workdir)
        report(args, speeds, latencies)
    finally:
        if nginx is not None:
            nginx.stop()
        if emulator is not None:
            emulator.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        run(args, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="smugfs-bench-") as temp:
            run(args, Path(temp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
