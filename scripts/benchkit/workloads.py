"""The workloads: each runs smugfs and its baselines in turn and records their figures.

Every contender of a workload takes its turn in each run (the order rotates), so all see the same
machine noise. Series are named `WORKLOAD CONTENDER [what]`; `report.py` turns their medians into
the table. Bytes read through a mount are always compared with the library's own (a wrong byte
ends the run). Time bounds: every tool has a timeout and every workload a `Budget`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from benchkit.context import RemoteFile, Setup, album_files
from benchkit.measure import (
    GIB,
    MIB,
    TOOL_TIMEOUT,
    Budget,
    Results,
    alternate,
    dd_read,
    each,
    run_tool,
    timed,
)
from benchkit.network import Network, under
from benchkit.servers import Meter, read_ahead, set_read_ahead
from benchkit.smugcli import SmugCli
from smugfs.config import Settings
from smugfs.emulator.generate import TREE_ALBUM_IMAGES, TREE_FAN_OUT, Spec
from smugfs.testing.account import Account, create_album
from smugfs.testing.emulator import Emulator
from smugfs.testing.library import response_of
from smugfs.testing.media import JPEG_START, photo, write

# What the mount uses unless told otherwise (smugfs.config.Settings): the baselines that fetch
# listings directly use the same.
MOUNT_CONCURRENCY = 8
LISTING_TTL = Settings().listing_ttl
PAGE = Settings().page_size
# A walk through a mount that lists one directory at a time takes minutes under the home link:
# past this (about twice what the target allows at the default sizes), the run goes on with a
# lower bound.
FIND_TIMEOUT = 60


@dataclasses.dataclass(frozen=True)
class Plan:
    """Sizes, runs and bounds of one benchmark run."""

    spec: Spec
    # Per workload: (runs it always gets, runs it may get while within `seconds`).
    runs: dict[str, tuple[int, int]]
    seconds: float
    thumb_kib: int
    thumbs: int
    copies: int
    copy_mib: int
    writers: int
    # The home-link model (benchkit.network) the listing and home-link workloads run under.
    home: Network
    # How much of the large original the home-link read takes (the whole would take minutes).
    home_read_mib: int = 32

    @property
    def latency_ms(self) -> float:
        """The home link's round trip."""
        return self.home.latency_ms

    @property
    def item_cost_ms(self) -> float:
        """The home link's cost per listed item."""
        return self.home.item_cost_ms

    def budget(self, workload: str) -> Budget:
        """The runs of one workload."""
        least, most = self.runs[workload]
        return Budget(least, most, self.seconds)


# --------------------------------------------------------------------- helpers


def check_md5(path: Path, expected: str) -> None:
    """md5sum through the mount must give the library's MD5."""
    got = run_tool(["md5sum", str(path)], capture=True).split()[0]
    if got != expected:
        raise RuntimeError(f"{path} read back with MD5 {got}, the library says {expected}")


def curl_seconds(url: str, size: int, byte_range: str | None = None) -> float:
    """Download `url` (whole, or `byte_range` of it) with curl into /dev/null; curl's own
    time_total."""
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
            *(["-r", byte_range] if byte_range else []),
            url,
        ],
        capture=True,
    )
    status, received, seconds = report.split()
    if status != ("206" if byte_range else "200") or int(received) != size:
        raise RuntimeError(f"curl: HTTP {status}, {received} bytes of {size} from {url}")
    return float(seconds)


def httpx_download(url: str, size: int) -> None:
    """Download `url` whole with httpx, counting the bytes."""
    received = 0
    with httpx.Client(timeout=TOOL_TIMEOUT) as client, client.stream("GET", url) as reply:
        reply.raise_for_status()
        for chunk in reply.iter_raw(MIB):
            received += len(chunk)
    if received != size:
        raise RuntimeError(f"httpx received {received} bytes of {size} from {url}")


@contextlib.contextmanager
def wan(emulator: Emulator, plan: Plan) -> Iterator[None]:
    """The home-link model for the block's duration."""
    with under(emulator, plan.home):
        yield


def api_requests(stats: dict[str, Any]) -> int:
    """API requests in a stats snapshot (everything that is not media)."""
    return int(stats["total"]) - int(stats["media_requests"])


def read_heads(directory: Path, names: list[str], length: int) -> list[bytes]:
    """The first `length` bytes of each file, one open and read loop per file."""
    heads = []
    for name in names:
        with open(directory / name, "rb", buffering=0) as stream:
            chunk = b""
            for _ in range(length):  # a read may return less than asked for
                piece = stream.read(length - len(chunk))
                if not piece:
                    break
                chunk += piece
                if len(chunk) == length:
                    break
            heads.append(chunk)
    return heads


# --------------------------------------------------------------------- sequential read


def read_large(setup: Setup, plan: Plan, out: Results) -> None:
    """Cold read of the large original through smugfs, rclone and the passthrough, against
    curl and httpx from the emulator; warm re-read against a local file."""
    emulator, nginx = setup.emulator, setup.nginx
    assert emulator is not None
    assert nginx is not None
    (large,) = album_files(emulator, ("Media", "Large"))
    setup.serve_files("Large", [large])
    local = emulator.data_dir / "blobs" / large.md5
    mib, gib = large.size / MIB, large.size / GIB
    tmpfs = Path(tempfile.mkdtemp(prefix="smugfs-bench-", dir="/dev/shm"))
    try:
        shutil.copy(local, tmpfs / large.name)
        dd_read(str(local))  # the local baseline is a warm read: bring it into the page cache
        smugfs_read_ahead = 0
        budget = plan.budget("read")
        rep = 0
        while budget.more(rep):
            for who in alternate(rep, ["smugfs", "curl", "httpx", "rclone", "passthrough"]):
                if who == "smugfs":
                    with setup.smugfs() as mount:
                        path = mount.path / "Media" / "Large" / large.name
                        if path.stat().st_size != large.size:
                            raise RuntimeError(f"{path} has the wrong size")
                        meter = Meter(mount.process.pid)
                        emulator.reset_stats()
                        cpu = meter.cpu_seconds()
                        seconds, _ = timed(dd_read, str(path))
                        out.add("read smugfs cold", mib / seconds, "MiB/s")
                        out.add("read smugfs cpu", (meter.cpu_seconds() - cpu) / gib, "s/GiB")
                        out.add("read smugfs fetched", emulator.stats()["media_bytes"] / MIB, "MiB")
                        seconds, _ = timed(dd_read, str(path))
                        out.add("read smugfs warm", mib / seconds, "MiB/s")
                        smugfs_read_ahead = read_ahead(mount.path)
                        if rep == 0:
                            check_md5(path, large.md5)
                elif who == "curl":
                    out.add("read curl", mib / curl_seconds(large.url, large.size), "MiB/s")
                elif who == "httpx":
                    seconds, _ = timed(httpx_download, large.url, large.size)
                    out.add("read httpx", mib / seconds, "MiB/s")
                elif who == "rclone":
                    with setup.rclone() as mount:
                        path = mount.path / "Large" / large.name
                        if path.stat().st_size != large.size:
                            raise RuntimeError(f"{path} has the wrong size")
                        meter = Meter(mount.process.pid)
                        cpu = meter.cpu_seconds()
                        seconds, _ = timed(dd_read, str(path))
                        out.add("read rclone cold", mib / seconds, "MiB/s")
                        out.add("read rclone cpu", (meter.cpu_seconds() - cpu) / gib, "s/GiB")
                        if rep == 0:
                            check_md5(path, large.md5)
                else:
                    with setup.passthrough(tmpfs) as mount:
                        if smugfs_read_ahead:  # the same kernel read size as smugfs gets
                            set_read_ahead(mount.path, smugfs_read_ahead)
                        path = mount.path / large.name
                        path.stat()
                        meter = Meter(mount.process.pid)
                        cpu = meter.cpu_seconds()
                        seconds, _ = timed(dd_read, str(path))
                        out.add("read passthrough", mib / seconds, "MiB/s")
                        out.add("read passthrough cpu", (meter.cpu_seconds() - cpu) / gib, "s/GiB")
            seconds, _ = timed(dd_read, str(local))
            out.add("read local warm", mib / seconds, "MiB/s")
            rep += 1
        out.note(
            f"sequential reads: dd bs=1M of {mib:.0f} MiB; smugfs mounts ran with read_ahead_kb "
            f"{smugfs_read_ahead}, the passthrough with the same; rclone with its defaults"
        )
    finally:
        shutil.rmtree(tmpfs, ignore_errors=True)
    read_home(setup, plan, out, large)


def read_home(setup: Setup, plan: Plan, out: Results, large: RemoteFile) -> None:
    """Cold read of the first `plan.home_read_mib` MiB of the large original under the home
    link, through smugfs against curl's ranged GET of the same bytes."""
    emulator = setup.emulator
    assert emulator is not None
    mib = min(plan.home_read_mib, large.size // MIB)
    if mib <= 0:
        return
    rep = 0
    budget = plan.budget("read")
    with under(emulator, plan.home):
        while rep < 2 and budget.more(rep):
            for who in alternate(rep, ["smugfs", "curl"]):
                if who == "curl":
                    seconds = curl_seconds(large.url, mib * MIB, f"0-{mib * MIB - 1}")
                else:
                    with setup.smugfs() as mount:
                        path = mount.path / "Media" / "Large" / large.name
                        path.stat()
                        command = ["dd", f"if={path}", "of=/dev/null", "bs=1M", f"count={mib}"]
                        seconds, _ = timed(run_tool, [*command, "status=none"])
                out.add(f"read {who} @{plan.home.key}", mib / seconds, "MiB/s")
            rep += 1
    out.note(f"home-link reads: the first {mib} MiB of the large original, dd bs=1M or curl")


# --------------------------------------------------------------------- thumbnailer


def thumbs(setup: Setup, plan: Plan, out: Results) -> None:
    """The first KiBs of each of many photos through smugfs and rclone, against ranged GETs."""
    emulator, nginx = setup.emulator, setup.nginx
    assert emulator is not None
    assert nginx is not None
    files = album_files(emulator, ("Media", "Photos"))[: plan.thumbs]
    setup.serve_files("Photos", files)
    names = [f.name for f in files]
    length = plan.thumb_kib * 1024
    expected = read_heads(emulator.data_dir / "blobs", [f.md5 for f in files], length)
    used = length * len(files) / MIB
    out.add("thumbs read", used, "MiB")

    def direct() -> list[bytes]:
        got = []
        with httpx.Client(timeout=TOOL_TIMEOUT) as client:
            for file in files:
                reply = client.get(file.url, headers={"Range": f"bytes=0-{length - 1}"})
                if reply.status_code != 206:
                    raise RuntimeError(f"HTTP {reply.status_code} for a ranged GET")
                got.append(reply.content)
        return got

    budget = plan.budget("thumbs")
    rep = 0
    while budget.more(rep):
        for who in alternate(rep, ["smugfs", "rclone", "direct"]):
            if who == "direct":
                seconds, got = timed(direct)
            elif who == "smugfs":
                with setup.smugfs() as mount:
                    directory = mount.path / "Media" / "Photos"
                    for name in os.listdir(directory):  # a file manager lists and stats first
                        os.stat(directory / name)
                    emulator.reset_stats()
                    seconds, got = timed(read_heads, directory, names, length)
                    out.add("thumbs smugfs fetched", emulator.stats()["media_bytes"] / MIB, "MiB")
            else:
                with setup.rclone() as rclone:
                    directory = rclone.path / "Photos"
                    for name in os.listdir(directory):
                        os.stat(directory / name)
                    nginx.clear_log()
                    seconds, got = timed(read_heads, directory, names, length)
                    out.add("thumbs rclone fetched", nginx.bytes_sent() / MIB, "MiB")
            if got != expected:
                raise RuntimeError(f"{who}: the first {plan.thumb_kib} KiB differ")
            out.add(f"thumbs {who}", seconds, "s")
        rep += 1


# --------------------------------------------------------------------- listings


class Lister:
    """Fetches listings directly with httpx, as a client that knows the API would: each list's
    first page, then its other pages at most `concurrency` at a time (1: one after another)."""

    def __init__(self, emulator: Emulator, concurrency: int) -> None:
        self.concurrency = concurrency
        self.client = emulator.client()
        self.client.timeout = httpx.Timeout(TOOL_TIMEOUT)
        self.pool = concurrent.futures.ThreadPoolExecutor(max(1, concurrency))
        self.requests = 0
        self.lock = threading.Lock()

    def close(self) -> None:
        """Close the client and the threads."""
        self.pool.shutdown()
        self.client.close()

    def _page(self, uri: str, locator: str, start: int) -> tuple[list[dict[str, Any]], int]:
        body = response_of(self.client.get(uri, params={"start": start, "count": PAGE}))
        with self.lock:
            self.requests += 1
        return body.get(locator, []), int(body["Pages"]["Total"])

    def items(self, uri: str, locator: str, *, paged: bool = True) -> list[dict[str, Any]]:
        """Every item of a list; its other pages concurrently if `paged`."""
        first, total = self._page(uri, locator, 1)
        starts = list(range(1 + PAGE, total + 1, PAGE))
        if self.concurrency <= 1 or not paged:
            rest = [self._page(uri, locator, start)[0] for start in starts]
        else:
            rest = [
                page for page, _ in self.pool.map(lambda s: self._page(uri, locator, s), starts)
            ]
        return [*first, *(item for page in rest for item in page)]

    def album(self, root_uri: str, path: tuple[str, ...]) -> int:
        """List the album at `path` from the root: each folder on the way, then its images."""
        uri = root_uri
        node: dict[str, Any] = {}
        for name in path:
            node = next(c for c in self.items(uri + "!children", "Node") if c["Name"] == name)
            uri = node["Uri"]
        return len(self.items(node["Uris"]["Album"]["Uri"] + "!images", "AlbumImage"))

    def tree(self, node: dict[str, Any]) -> int:
        """Walk a subtree breadth first, `concurrency` listings at a time; entries found."""
        entries = 0
        level = [node]
        for _ in range(10):  # folders nest at most five deep
            if not level:
                return entries
            jobs = []
            for item in level:
                if item["Type"] == "Folder":
                    jobs.append((item["Uri"] + "!children", "Node"))
                elif item["Type"] == "Album":
                    jobs.append((item["Uris"]["Album"]["Uri"] + "!images", "AlbumImage"))
            # The lists of a level run concurrently (their pages in turn: one pool, no waits
            # inside its own threads).
            found = list(self.pool.map(lambda job: self.items(*job, paged=False), jobs))
            level = [child for children in found for child in children if "Type" in child]
            entries += sum(len(children) for children in found)
        raise RuntimeError("the tree is deeper than the service allows")


def root_uri(emulator: Emulator) -> str:
    """The URI of the account's root node (not timed: a mount learns it before mounting)."""
    with Account(emulator) as account:
        return account.root_uri


def ls_count(path: Path, timeout: float = TOOL_TIMEOUT) -> int:
    """`ls -l` of a directory; the number of entries it printed."""
    lines = run_tool(["ls", "-l", str(path)], capture=True, timeout=timeout).splitlines()
    return len(lines) - 1  # less the "total" line


def ls_album(setup: Setup, plan: Plan, out: Results) -> None:
    """`ls -l` of the big album under the home link: cold, warm, and right after a remount;
    against direct listing at the mount's concurrency and one page after another."""
    emulator = setup.emulator
    assert emulator is not None
    path = ("Listing", "Album")
    count = plan.spec.album

    def direct(server: Emulator, concurrency: int) -> tuple[float, int]:
        """Seconds and API requests of one direct listing of the album."""
        lister = Lister(server, concurrency)
        root = root_uri(server)  # a mount learns it before it mounts
        try:
            server.reset_stats()
            seconds, listed = timed(lister.album, root, path)
        finally:
            lister.close()
        if listed != count:
            raise RuntimeError(f"the direct client listed {listed} of {count} images")
        return seconds, api_requests(server.stats())

    # The one-page-at-a-time client spends minutes, nearly all of it modelled server time
    # (asleep), so it runs once, alongside the others, against a second emulator with the same
    # library and model: it neither waits for them nor shows in their request counts.
    sequential: dict[str, Any] = {}

    def one_page_at_a_time(twin: Emulator) -> None:
        try:
            sequential["result"] = direct(twin, 1)
        except Exception as exc:  # reported by the workload's thread below
            sequential["error"] = exc

    def mounted() -> None:
        where = setup.new_dir("smugfs")
        try:
            with setup.smugfs(where=where, keep=True) as mount:
                album = mount.path.joinpath(*path)
                for state in ("cold", "warm"):
                    emulator.reset_stats()
                    seconds, listed = timed(ls_count, album)
                    if listed != count:
                        raise RuntimeError(f"ls -l through the mount listed {listed} of {count}")
                    out.add(f"ls smugfs {state}", seconds, "s")
                    out.add(f"ls smugfs {state} requests", api_requests(emulator.stats()), "")
            with setup.smugfs(where=where) as mount:  # the same cache directory
                emulator.reset_stats()
                seconds, listed = timed(ls_count, mount.path.joinpath(*path))
                if listed != count:
                    raise RuntimeError(f"ls -l after a remount listed {listed} of {count}")
                out.add("ls smugfs remount", seconds, "s")
                out.add("ls smugfs remount requests", api_requests(emulator.stats()), "")
        finally:
            shutil.rmtree(where, ignore_errors=True)

    with setup.twin() as twin, wan(twin, plan), wan(emulator, plan):
        background = threading.Thread(target=one_page_at_a_time, args=(twin,), daemon=True)
        background.start()
        budget = plan.budget("ls")
        rep = 0
        # Runs go on while the background client has not finished, up to the most allowed.
        while budget.more(rep) or (background.is_alive() and rep < budget.most):
            for who in alternate(rep, ["smugfs", "direct"]):
                if who == "smugfs":
                    mounted()
                else:
                    seconds, requests = direct(emulator, MOUNT_CONCURRENCY)
                    out.add("ls direct", seconds, "s")
                    out.add("ls direct requests", requests, "")
            rep += 1
        background.join(timeout=TOOL_TIMEOUT)
    # The same listings on bare loopback, once each: what is left of the cost without the link.
    with setup.smugfs() as mount:
        emulator.reset_stats()
        seconds, listed = timed(ls_count, mount.path.joinpath(*path))
        if listed != count:
            raise RuntimeError(f"ls -l on loopback listed {listed} of {count}")
        out.add("ls smugfs cold loopback", seconds, "s")
    out.add("ls direct loopback", direct(emulator, MOUNT_CONCURRENCY)[0], "s")
    if "error" in sequential:
        raise RuntimeError(f"the one-page-at-a-time client failed: {sequential['error']}")
    if "result" not in sequential:
        raise RuntimeError("the one-page-at-a-time client did not finish")
    out.add("ls sequential", sequential["result"][0], "s")
    out.add("ls sequential requests", sequential["result"][1], "")
    out.note(
        "`ls -l`: the one-page-at-a-time client ran once, alongside the others, against a second "
        "emulator with the same library and home link"
    )


def find(path: Path) -> str:
    """What `find PATH` prints (stopped after FIND_TIMEOUT)."""
    return run_tool(["find", str(path)], capture=True, timeout=FIND_TIMEOUT)


def tree_shape(spec: Spec) -> tuple[int, int, int]:
    """(top folders, subfolders, albums) of the generated tree."""
    albums = spec.tree
    subfolders = -(-albums // TREE_FAN_OUT)
    return -(-subfolders // TREE_FAN_OUT), subfolders, albums


def tree_ideal(spec: Spec, plan: Plan) -> float:
    """Seconds of the longest chain of listings in the tree under the home link: depth x round
    trip, what a walk with unbounded concurrency would take (server time only)."""
    tops, subfolders, albums = tree_shape(spec)
    widest = (tops, min(TREE_FAN_OUT, subfolders), min(TREE_FAN_OUT, albums), TREE_ALBUM_IMAGES)
    return sum(plan.latency_ms + min(items, PAGE) * plan.item_cost_ms for items in widest) / 1000


def tree(setup: Setup, plan: Plan, out: Results) -> None:
    """`find` of the tree of albums under the home link, cold and warm, against a direct walk at
    the mount's concurrency."""
    emulator = setup.emulator
    assert emulator is not None
    tops, subfolders, albums = tree_shape(plan.spec)
    entries = tops + subfolders + albums * (1 + TREE_ALBUM_IMAGES)
    with Account(emulator) as account:
        node = account.node("Tree")
    out.add("tree ideal", tree_ideal(plan.spec, plan), "s")
    with wan(emulator, plan):
        budget = plan.budget("tree")
        rep = 0
        while budget.more(rep):
            for who in alternate(rep, ["smugfs", "direct"]):
                emulator.reset_stats()
                if who == "direct":
                    lister = Lister(emulator, MOUNT_CONCURRENCY)
                    try:
                        seconds, found = timed(lister.tree, node)
                    finally:
                        lister.close()
                    if found != entries:
                        raise RuntimeError(f"the direct walk found {found} of {entries} entries")
                    out.add("tree direct", seconds, "s")
                    out.add("tree direct requests", api_requests(emulator.stats()), "")
                    continue
                with setup.smugfs() as mount:
                    for state in ("cold", "warm"):
                        if state == "warm" and seconds > LISTING_TTL:
                            # Its listings have expired: a "warm" walk would be another cold one.
                            out.note(
                                f"`find`: no warm walk, the cold one took {seconds:.0f} s, longer "
                                f"than the mount's listing TTL ({LISTING_TTL:.0f} s)"
                            )
                            break
                        emulator.reset_stats()
                        try:
                            seconds, listing = timed(find, mount.path / "Tree")
                        except subprocess.TimeoutExpired:
                            out.note(
                                f"`find` through smugfs did not end within {FIND_TIMEOUT} s "
                                "and was stopped: its figure is a lower bound"
                            )
                            seconds = FIND_TIMEOUT
                            out.add(f"tree smugfs {state}", seconds, "s")
                            out.add("tree smugfs stopped", 1, "")
                            break
                        if len(listing.splitlines()) - 1 != entries:
                            raise RuntimeError(f"find printed {len(listing.splitlines())} lines")
                        out.add(f"tree smugfs {state}", seconds, "s")
                        out.add(f"tree smugfs {state} requests", api_requests(emulator.stats()), "")
            rep += 1


# --------------------------------------------------------------------- uploads


def photo_files(directory: Path, count: int, mib: int, seed: int) -> list[Path]:
    """`count` distinct files of `mib` MiB the service takes for JPEGs, made once per run."""
    size = mib * MIB - len(JPEG_START)
    return [
        write(directory / f"upload-{n:04d}.jpg", photo(seed * 100_000 + n, size))
        for n in range(1, count + 1)
    ]


def new_album(emulator: Emulator, name: str) -> str:
    """A new album at the root; its Album URI."""
    with emulator.client() as client:
        return create_album(client, name)


def upload_headers(emulator: Emulator, album_uri: str, path: Path) -> dict[str, str]:
    """The upload endpoint's headers for one file, signed in the Authorization header with
    the body left out of the signature, as SmugMug's upload endpoint expects."""
    headers = {
        "Content-Type": "image/jpeg",
        "X-Smug-AlbumUri": album_uri,
        "X-Smug-FileName": path.name,
        "X-Smug-Version": "v2",
        "X-Smug-ResponseType": "JSON",
    }
    request = httpx.Request("POST", emulator.upload_url, headers=headers)
    signed = next(emulator.auth().auth_flow(request))
    return {**headers, "Authorization": signed.headers["Authorization"]}


def httpx_uploads(emulator: Emulator, album_uri: str, paths: list[Path], writers: int) -> None:
    """Upload the files with httpx, `writers` at a time over kept-alive connections."""

    def send(client: httpx.Client, path: Path) -> None:
        reply = client.post(
            emulator.upload_url,
            content=path.read_bytes(),
            headers=upload_headers(emulator, album_uri, path),
        )
        reply.raise_for_status()
        if reply.json().get("stat") != "ok":
            raise RuntimeError(f"upload of {path.name} refused: {reply.text}")

    with httpx.Client(timeout=TOOL_TIMEOUT) as client:
        each(lambda path: send(client, path), paths, writers)


def curl_uploads(emulator: Emulator, album_uri: str, paths: list[Path]) -> None:
    """Upload the files one curl process after another."""
    for path in paths:
        command = ["curl", "-s", "-f", "--max-time", str(TOOL_TIMEOUT), "--data-binary", f"@{path}"]
        for key, value in upload_headers(emulator, album_uri, path).items():
            command += ["-H", f"{key}: {value}"]
        reply = run_tool([*command, emulator.upload_url], capture=True)
        if '"stat":"ok"' not in reply.replace(" ", ""):
            raise RuntimeError(f"curl upload of {path.name} refused: {reply[:200]}")


def parallel_cp(paths: list[Path], target: Path, writers: int) -> None:
    """Copy the files into `target` with `writers` cp processes side by side."""
    groups = [paths[n::writers] for n in range(writers)]
    processes = [
        subprocess.Popen(["cp", *map(str, group), str(target)], stderr=subprocess.PIPE)
        for group in groups
        if group
    ]
    failed = []
    for process in processes:
        try:
            _, error = process.communicate(timeout=TOOL_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            failed.append("timed out")
            continue
        if process.returncode != 0:
            failed.append(error.decode(errors="replace"))
    if failed:
        raise RuntimeError(f"cp failed: {failed[0]}")


def copy_in(setup: Setup, plan: Plan, out: Results) -> None:
    """`cp` of many photos into a new album through smugfs, one and several writers, against
    direct uploads with httpx and curl, and smugcli's `upload` (an emulator of its own, empty)."""
    emulator = setup.uploads
    assert emulator is not None
    paths = photo_files(setup.workdir / "upload-src", plan.copies, plan.copy_mib, plan.spec.seed)
    total = plan.copies * plan.copy_mib
    md5s = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in paths}
    httpx_uploads(emulator, new_album(emulator, "Warm-up"), paths[:2], 1)
    albums = 0

    def check(album_uri: str) -> None:
        with Account(emulator) as account:
            images = account.images(album_uri)
        got = {image["FileName"]: image["ArchivedMD5"] for image in images}
        if got != md5s:
            raise RuntimeError(f"the album holds {len(got)} files, not the {len(md5s)} sent")

    budget = plan.budget("copy")
    rep = 0
    contenders = ["smugfs", f"smugfs x{plan.writers}", "httpx", f"httpx x{plan.writers}", "curl"]
    smugcli = None
    if setup.smugcli_python is not None:
        smugcli = SmugCli(setup.smugcli_python, emulator, setup.workdir)
        contenders.append("smugcli")
    else:
        out.note("smugcli could not be installed: its column is left out")
    while budget.more(rep):
        for who in alternate(rep, contenders):
            albums += 1
            name = f"Upload {albums:03d}"
            writers = plan.writers if who.endswith(f"x{plan.writers}") else 1
            if who.startswith("smugfs"):
                with setup.smugfs(emulator) as mount:
                    target = mount.path / name
                    target.mkdir()  # a new album
                    seconds, _ = timed(parallel_cp, paths, target, writers)
                album_uri = node_album(emulator, name)
            else:
                album_uri = new_album(emulator, name)
                if who == "curl":
                    seconds, _ = timed(curl_uploads, emulator, album_uri, paths)
                elif who == "smugcli":
                    assert smugcli is not None
                    seconds, _ = timed(smugcli.run, "upload", *map(str, paths), f"/{name}")
                else:
                    seconds, _ = timed(httpx_uploads, emulator, album_uri, paths, writers)
            check(album_uri)
            out.add(f"copy {who}", total / seconds, "MiB/s")
        rep += 1


def node_album(emulator: Emulator, name: str) -> str:
    """The album URI of the album `name` at the root."""
    with Account(emulator) as account:
        return account.album_uri(name)


# --------------------------------------------------------------------- memory


def memory(setup: Setup, plan: Plan, out: Results) -> None:
    """Peak resident memory of smugfs reading the big video and listing the wide albums, and of
    rclone reading the same video; CPU time per GiB of both."""
    emulator = setup.emulator
    assert emulator is not None
    (video,) = album_files(emulator, ("Media", "Video"))
    setup.serve_files("Video", [video])
    mib, gib = video.size / MIB, video.size / GIB
    for who in ("smugfs", "rclone"):
        context = setup.smugfs() if who == "smugfs" else setup.rclone()
        with context as mount:
            path = mount.path / ("Media" if who == "smugfs" else "") / "Video" / video.name
            if path.stat().st_size != video.size:
                raise RuntimeError(f"{path} has the wrong size")
            meter = Meter(mount.process.pid)
            cpu = meter.cpu_seconds()
            seconds, _ = timed(dd_read, str(path))
            out.add(f"video {who}", mib / seconds, "MiB/s")
            out.add(f"video {who} cpu", (meter.cpu_seconds() - cpu) / gib, "s/GiB")
            out.add(f"video {who} peak", meter.peak_mib(), "MiB")
    with setup.smugfs() as mount:
        meter = Meter(mount.process.pid)
        wide = mount.path / "Wide"
        seconds = 0.0
        listed = 0
        for part in sorted(os.listdir(wide)):
            took, count = timed(ls_count, wide / part)
            seconds += took
            listed += count
        if listed != plan.spec.wide:
            raise RuntimeError(f"ls -l listed {listed} of {plan.spec.wide} images")
        out.add("wide smugfs", seconds, "s")
        out.add("wide smugfs peak", meter.peak_mib(), "MiB")
