"""The read path: from `read(offset, size)` to ranged GETs through the on-disk content cache.

Content is cached in fixed blocks per image version (`cache_store.py`). A read is served from
present blocks; missing ones are fetched with one ranged GET per contiguous run. Each open file
keeps a read-ahead window: one block at first, so a thumbnailer reading the first 64 KiB of a
photo fetches one block; once `GROW_AFTER` bytes have been read in sequence, the rest of the
file up to `MAX_WINDOW` in one GET; and a file its process is expected to read whole (the last
file it read, it read whole: `readahead.py`) is fetched whole by its first read, in one
request. A seek drops the window back to one block. When the last reader of a file closes
it, or the sweep that fetched it ahead stops, the GETs still under way for it are cut: what has
landed stays (whole blocks only), the rest is not fetched.

GETs run in the mount's nursery and stream into the cache as the bytes arrive (`LAND_BYTES` at
a time): a reader waits only for the blocks it asked for, while the rest of its window keeps
arriving, so the link stays busy while the kernel consumes.

Fetches are single-flight: a block being fetched is waited for, not fetched twice, across every
open file of the same version. Invariant kept across awaits: a block is marked present in the
cache only once its bytes are on disk, so a reader that finds it present can read it. A fetch
that fails leaves its error for the readers of the blocks it still owed.

When the media server ignores Range (answers 200), the file is fetched whole instead, checked
against the service's size and MD5, and only then served: a mismatch is `IntegrityError` (EIO),
never wrong bytes.
"""

from __future__ import annotations

import collections
import hashlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from smugfs.api.client import RangeIgnored, SmugMugClient
from smugfs.api.models import RemoteImage
from smugfs.cache_store import CachedFile, ContentCache
from smugfs.errors import IntegrityError, ServiceUnavailable

log = logging.getLogger(__name__)

# How far ahead of a sequential reader its window reaches: enough to keep the link busy while
# the kernel consumes what has landed, and a camera's photo in one GET.
MAX_WINDOW = 32 * 1024 * 1024
# The window opens only once this much has been read in sequence: the kernel's own read-ahead
# asks for up to 256 KiB at the start of any file read, and a reader that only wants the start
# of a file (a thumbnailer, `file`, `exiftool`) should not pay for more.
GROW_AFTER = 512 * 1024
# A sequential read past this point is a long one, and the log says so once per open.
LONG_READ = 64 * 1024 * 1024
# Passes of `ensure` over the blocks a read needs. Not request retries (the client retries every
# GET under its one policy): a pass ends early when a fetch of someone else's stopped short of a
# block without an error, or when the media server turned out to ignore Range.
MAX_FETCH_PASSES = 3
# Bytes of a GET gathered before they are written to the cache and handed to waiting readers:
# about one kernel read, so a reader waits for its own bytes, not for the whole GET. A GET's
# first landings are smaller (a block, then doubling), so the first read of a file waits only
# for its own block and a reader of heads can close (and cut the GET) early.
LAND_BYTES = 1024 * 1024


class _Fetch:
    """One ranged GET under way, shared by the readers waiting for its blocks: how it ended,
    and how to cut it short."""

    __slots__ = ("cut", "cuttable", "error", "scope")

    def __init__(self, cuttable: bool) -> None:
        self.error: Exception | None = None
        self.scope: trio.CancelScope | None = None
        self.cut = False
        # Whether it fetches on a guess (a whole file for a reader expected to read it all, a
        # file ahead of a sweep), so that it ends when its last reader closes the file.
        self.cuttable = cuttable

    def stop(self) -> None:
        """Cut the GET short (also before it has started)."""
        self.cut = True
        if self.scope is not None:
            self.scope.cancel()


class ReadPath:
    """Shared state of every open file: the cache, in-flight fetches, what the server can do."""

    def __init__(self, client: SmugMugClient, cache: ContentCache) -> None:
        self.client = client
        self.cache = cache
        self.range_supported = True
        # Per block being fetched: set once it has landed (or its fetch has ended), and the
        # fetch that owes it.
        self._inflight: dict[tuple[str, int], tuple[trio.Event, _Fetch]] = {}
        # Per version: the GETs claimed or under way, and how many files read it now.
        self._fetches: dict[str, set[_Fetch]] = {}
        self._readers: collections.Counter[str] = collections.Counter()
        self._whole: dict[str, trio.Event] = {}
        self._whole_errors: dict[str, BaseException] = {}
        self._verified: set[str] = set()
        self._nursery: trio.Nursery | None = None

    def attach(self, nursery: trio.Nursery) -> None:
        """Where fetches and checks run (the mount's nursery), so that a reader waits only for
        the blocks it needs while the rest of its window keeps arriving."""
        self._nursery = nursery
        self.cache.attach(nursery)

    async def open(self, image: RemoteImage, *, whole: bool = False) -> OpenFile:
        """An open file reading `image`; `whole`: it is expected to be read from start to end,
        so its first read fetches it whole."""
        if image.size is None or image.media_url is None:
            raise IntegrityError(f"{image.file_name} cannot be read yet (still processing)")
        cached = await self.cache.open(image.version, image.size)
        self._readers[image.version] += 1
        return OpenFile(self, image, cached, whole=whole)

    def _closed(self, version: str) -> None:
        """A file reading `version` was closed; the last one cuts the GETs still under way."""
        self._readers[version] -= 1
        if self._readers[version] <= 0:
            del self._readers[version]
            self.cut(version)

    def cut(self, version: str) -> None:
        """Cut short the GETs claimed or under way for `version` on a guess (a GET that a
        reader's own sequential reading asked for runs on: it is bounded and likely wanted)."""
        for fetch in list(self._fetches.get(version, ())):
            if fetch.cuttable:
                fetch.stop()

    async def fetch_ahead(self, image: RemoteImage) -> None:
        """Fetch `image` (its first `MAX_WINDOW` bytes) into the cache before anyone asks, in
        this task: cancelling it cuts the GET. Blocks present or being fetched are skipped."""
        if image.size is None or image.media_url is None or not self.range_supported:
            return
        cached = await self.cache.open(image.version, image.size)
        try:
            last = min(cached.block_count(), MAX_WINDOW // cached.block_size) - 1
            for first, stop in self._unclaimed_runs(image, cached, 0, last):
                fetch = self._claim(image, first, stop, cuttable=True)
                await self._fetch(image, cached, first, stop, fetch)
        finally:
            await cached.close()

    # ------------------------------------------------------------------ fetching

    async def ensure(
        self,
        image: RemoteImage,
        cached: CachedFile,
        first: int,
        last: int,
        ahead: int | None = None,
        min_ahead: int = 1,
        *,
        cuttable: bool = False,
    ) -> None:
        """Make blocks `first..last` present, fetching what is missing; also start fetching
        the missing blocks up to `ahead` (read-ahead), in runs of at least `min_ahead` blocks
        unless they reach a needed block or the end, without waiting for them. `cuttable`: the
        GETs started fetch on a guess (see `cut`)."""
        ahead = last if ahead is None else max(ahead, last)
        for _ in range(MAX_FETCH_PASSES):
            if not self.range_supported:
                await self._ensure_whole(image, cached)
                return
            await self._start_fetches(image, cached, first, last, ahead, min_ahead, cuttable)
            error = await self._wait(image, cached, first, last)
            if not cached.missing_runs(first, last):
                return
            if error is not None:
                raise error
        if cached.missing_runs(first, last):
            raise ServiceUnavailable(f"could not read {image.file_name}")

    async def _start_fetches(
        self,
        image: RemoteImage,
        cached: CachedFile,
        first: int,
        last: int,
        ahead: int,
        min_ahead: int,
        cuttable: bool,
    ) -> None:
        """One GET per run of missing blocks that nobody is fetching yet (single-flight)."""
        end = cached.block_count() - 1
        for start, stop in self._unclaimed_runs(image, cached, first, ahead):
            if start <= last or stop - start + 1 >= min_ahead or stop == end:
                fetch = self._claim(image, start, stop, cuttable=cuttable)
                await self._spawn(image, cached, start, stop, fetch)

    def _unclaimed_runs(
        self, image: RemoteImage, cached: CachedFile, first: int, last: int
    ) -> list[tuple[int, int]]:
        """Runs (first, last) of blocks in `first..last` neither present nor being fetched."""
        version = image.version
        runs = []
        for run_first, run_last in cached.missing_runs(first, last):
            start = run_first
            for block in range(run_first, run_last + 2):
                if block <= run_last and (version, block) not in self._inflight:
                    continue
                if start < block:
                    runs.append((start, block - 1))
                start = block + 1
        return runs

    async def _spawn(
        self, image: RemoteImage, cached: CachedFile, first: int, last: int, fetch: _Fetch
    ) -> None:
        """Run a claimed fetch in the background (inline while no nursery is attached)."""
        if self._nursery is None:
            await self._fetch(image, cached, first, last, fetch)
        else:
            # The fetch holds its own pin: the reader that started it may close the file while
            # the bytes are still landing, and they must still land.
            cached.pin()
            self._nursery.start_soon(self._fetch_pinned, image, cached, first, last, fetch)

    async def _fetch_pinned(
        self, image: RemoteImage, cached: CachedFile, first: int, last: int, fetch: _Fetch
    ) -> None:
        try:
            await self._fetch(image, cached, first, last, fetch)
        finally:
            await cached.close()

    def _claim(self, image: RemoteImage, first: int, last: int, *, cuttable: bool) -> _Fetch:
        """Mark blocks as being fetched, before the task that fetches them starts, so no other
        reader starts the same fetch in between."""
        fetch = _Fetch(cuttable)
        version = image.version
        for block in range(first, last + 1):
            self._inflight[(version, block)] = (trio.Event(), fetch)
        self._fetches.setdefault(version, set()).add(fetch)
        return fetch

    async def _wait(
        self, image: RemoteImage, cached: CachedFile, first: int, last: int
    ) -> Exception | None:
        """Wait until no block of `first..last` is being fetched; the first error of a fetch
        that left one of them missing."""
        error: Exception | None = None
        version = image.version
        for block in range(first, last + 1):
            pending = self._inflight.get((version, block))
            if pending is None:
                continue
            event, fetch = pending
            await event.wait()
            if error is None and fetch.error is not None and not cached.has(block):
                error = fetch.error
        return error

    def _landed(self, image: RemoteImage, fetch: _Fetch, first: int, last: int) -> None:
        """Wake the readers of blocks `first..last`, which `fetch` owed."""
        version = image.version
        for block in range(first, last + 1):
            key = (version, block)
            pending = self._inflight.get(key)
            if pending is not None and pending[1] is fetch:
                del self._inflight[key]
                pending[0].set()

    async def _fetch(
        self, image: RemoteImage, cached: CachedFile, first: int, last: int, fetch: _Fetch
    ) -> None:
        """One ranged GET for blocks `first..last`, claimed by `_claim`, streamed into the
        cache as it arrives. Never raises (it may run in the mount's nursery): its error is
        left on `fetch` for the readers that needed its blocks. Cut short (`_Fetch.stop`), it
        ends quietly, its readers woken: what they still miss they fetch again."""
        try:
            with trio.CancelScope() as scope:
                fetch.scope = scope
                if fetch.cut:
                    scope.cancel()
                await self._fetch_claimed(image, cached, first, last, fetch)
        finally:
            fetches = self._fetches.get(image.version)
            if fetches is not None:
                fetches.discard(fetch)
                if not fetches:
                    del self._fetches[image.version]
            self._landed(image, fetch, first, last)

    async def _fetch_claimed(
        self, image: RemoteImage, cached: CachedFile, first: int, last: int, fetch: _Fetch
    ) -> None:
        assert image.media_url is not None
        assert image.size is not None
        block = cached.block_size
        offset = first * block
        length = min((last + 1) * block, image.size) - offset
        parts: list[bytes | memoryview] = []
        gathered = 0
        landed = offset

        async def land(chunk: bytes) -> None:
            nonlocal parts, gathered, landed
            parts.append(chunk)
            gathered += len(chunk)
            if landed + gathered > offset + length:
                raise IntegrityError(f"{image.file_name}: the server sent more than was asked")
            if gathered >= min(LAND_BYTES, max(block, landed - offset)):
                data = memoryview(b"".join(parts))
                whole = gathered - gathered % block
                # The bytes past the last whole block wait for the next chunk (views, no copy).
                parts = [data[whole:]] if whole < gathered else []
                gathered -= whole
                await cached.write_blocks(landed, data[:whole])
                self._landed(image, fetch, landed // block, (landed + whole) // block - 1)
                landed += whole

        async def keep_gathered() -> None:
            """A GET cut short keeps the whole blocks it has gathered."""
            nonlocal landed
            whole = gathered - gathered % block
            if whole and landed + gathered <= offset + length:
                await cached.write_blocks(landed, memoryview(b"".join(parts))[:whole])
                self._landed(image, fetch, landed // block, (landed + whole) // block - 1)
                landed += whole

        try:
            try:
                got = await self.client.stream_range(image.media_url, offset, length, land)
            except trio.Cancelled:
                with trio.CancelScope(shield=True):
                    try:
                        await keep_gathered()
                    except (ValueError, OSError) as exc:
                        log.debug("keeping what landed of %s: %s", image.file_name, exc)
                raise
            except RangeIgnored:
                log.info("the media server ignores Range; reading whole files instead")
                self.range_supported = False
                return
            if got != length:
                raise IntegrityError(
                    f"{image.file_name}: got {got} bytes at {offset}, expected {length}"
                )
            if parts:
                await cached.write_blocks(landed, b"".join(parts))
            if cached.complete and image.md5:
                self._check_complete(image, cached)
        except Exception as exc:
            log.debug("fetching %s failed: %s", image.file_name, exc)
            fetch.error = exc
        finally:
            self._landed(image, fetch, first, last)

    async def _ensure_whole(self, image: RemoteImage, cached: CachedFile) -> None:
        """Fetch the whole file once (single-flight), verified before anything is served."""
        if cached.complete:
            return
        version = image.version
        event = self._whole.get(version)
        if event is None:
            event = trio.Event()
            self._whole[version] = event
            self._whole_errors.pop(version, None)
            try:
                await self._download_whole(image, cached)
            except BaseException as exc:
                self._whole_errors[version] = exc
                raise
            finally:
                del self._whole[version]
                event.set()
            return
        await event.wait()
        error = self._whole_errors.get(version)
        if error is not None and not cached.complete:
            raise IntegrityError(f"{image.file_name}: {error}") from error

    async def _download_whole(self, image: RemoteImage, cached: CachedFile) -> None:
        """Fetch the whole file into the cache (the client retries, each time from the start),
        then check it against the service's size and MD5 before anything is served."""
        assert image.media_url is not None
        download = _WholeDownload(image, cached)
        try:
            await self.client.stream_whole(
                image.media_url, f"GET {image.file_name}", download.restart
            )
            await download.finish()
        except IntegrityError:
            await cached.discard()
            raise
        except (OSError, ValueError) as exc:
            raise ServiceUnavailable(f"{image.file_name}: {exc}") from exc

    async def prime(self, image: RemoteImage, path: Path) -> None:
        """Put the bytes of a just-uploaded file into the cache, so reading the new photo
        makes no request. The bytes are copied, never moved: the staging file's descriptor may
        be written again by a writer that reopened the file meanwhile, and those writes must
        not reach the cached version. Best effort: a failure only means the bytes are fetched
        later."""
        if image.size is None or image.size > self.cache.budget // 4:
            return
        try:
            cached = await self.cache.open(image.version, image.size)
        except (ValueError, OSError) as exc:
            log.debug("not caching %s: %s", image.file_name, exc)
            return
        try:
            block = cached.block_size * 64
            offset = 0
            while offset < image.size:
                data = await trio.to_thread.run_sync(_read_file, path, offset, block)
                if not data:
                    break
                await cached.write_blocks(offset, data)
                offset += len(data)
        except (ValueError, OSError) as exc:
            log.debug("not caching %s: %s", image.file_name, exc)
        finally:
            await cached.close()

    def _check_complete(self, image: RemoteImage, cached: CachedFile) -> None:
        """Once every block of a file is cached, check it against the service's MD5 (in the
        background); a mismatch is logged and the content dropped, so it is fetched again."""
        if self._nursery is None or image.version in self._verified:
            return
        self._verified.add(image.version)
        self._nursery.start_soon(self._verify, image, cached)

    async def _verify(self, image: RemoteImage, cached: CachedFile) -> None:
        # A background task of the mount: it must never raise. It holds its own pin, so the
        # content stays open while it is checked even if every reader has closed it.
        try:
            pin = await self.cache.open(image.version, cached.size)
        except (ValueError, OSError) as exc:
            log.debug("could not check %s: %s", image.file_name, exc)
            return
        try:
            if await pin.md5() != image.md5:
                log.error(
                    "%s: cached bytes do not match the service's MD5; dropping them",
                    image.file_name,
                )
                await pin.discard()
                self._verified.discard(image.version)
        except (LookupError, ValueError, OSError) as exc:
            log.debug("could not check %s: %s", image.file_name, exc)
        finally:
            await pin.close()


def _read_file(path: Path, offset: int, size: int) -> bytes:
    with open(path, "rb") as source:
        source.seek(offset)
        return source.read(size)


class _WholeDownload:
    """A whole file on its way into the cache: its digest and the bytes not yet a block."""

    def __init__(self, image: RemoteImage, cached: CachedFile) -> None:
        assert image.size is not None
        self.image = image
        self.size = image.size
        self.cached = cached
        self.restart()

    def restart(self) -> Callable[[bytes], Awaitable[None]]:
        """Start again from the first byte; the sink for this attempt's bytes."""
        self.digest = hashlib.md5()
        self.offset = 0
        self.pending = bytearray()
        return self.feed

    async def feed(self, chunk: bytes) -> None:
        """Take the next bytes, writing each whole block to the cache."""
        self.digest.update(chunk)
        self.pending += chunk
        if self.offset + len(self.pending) > self.size:
            raise IntegrityError(f"{self.image.file_name}: the server sent more than its size")
        block = self.cached.block_size
        while len(self.pending) >= block:
            await self.cached.write_blocks(self.offset, bytes(self.pending[:block]))
            del self.pending[:block]
            self.offset += block

    async def finish(self) -> None:
        """Write the last bytes once the file is whole and matches the service's MD5."""
        total = self.offset + len(self.pending)
        md5 = self.image.md5
        if total != self.size or (md5 and self.digest.hexdigest() != md5):
            raise IntegrityError(
                f"{self.image.file_name}: downloaded {total} bytes that do not match the size "
                f"{self.size} and MD5 the service states"
            )
        if self.pending:
            await self.cached.write_blocks(self.offset, bytes(self.pending))


class OpenFile:
    """One open file: its version, its cached content, and its read-ahead window."""

    def __init__(
        self, path: ReadPath, image: RemoteImage, cached: CachedFile, *, whole: bool = False
    ) -> None:
        self.path = path
        self.image = image
        self.cached = cached
        self.whole = whole
        self.window = cached.block_size
        # The first read is not "sequential": a reader that only wants the start of a file
        # (a thumbnailer, `file`, `exiftool`) gets one block, not a grown window.
        self.next_offset = -1
        self.streak = 0
        self.closed = False

    async def read(self, offset: int, size: int) -> bytes | bytearray | memoryview:
        """`size` bytes from `offset` (fewer only at the end of the file)."""
        total = self.cached.size
        if offset >= total or size <= 0:
            return b""
        end = min(offset + size, total)
        block = self.cached.block_size
        last_block = self.cached.block_count() - 1
        if offset == self.next_offset:
            if self.streak < LONG_READ <= self.streak + end - offset:
                log.info(
                    "reading %s (%d MiB) from the service",
                    self.image.file_name,
                    total // (1024 * 1024),
                )
            self.streak += end - offset
            if self.streak >= GROW_AFTER:
                self.window = MAX_WINDOW
        else:
            self.streak = end - offset
            self.window = MAX_WINDOW if self.whole and offset == 0 else block
        self.next_offset = end
        first = offset // block
        needed_last = (end - 1) // block
        window = self.window // block
        ahead_last = min(last_block, max(needed_last, first + window - 1))
        # The rest of the window is fetched in runs of at least half of it: a sequential
        # reader keeps one or two large GETs under way, never one per kernel read.
        # GETs started while the reader is only expected to read on (nothing read in sequence
        # yet) are cut if it stops early.
        guess = self.whole and self.streak < GROW_AFTER
        await self.path.ensure(
            self.image,
            self.cached,
            first,
            needed_last,
            ahead_last,
            max(1, window // 2),
            cuttable=guess,
        )
        # A sequential reader of cached bytes has the next window read in from the disk while
        # it consumes this one.
        ahead = self.window if self.window >= 4 * block else 0
        return await self.cached.read(offset, end - offset, ahead)

    async def close(self) -> None:
        """Release the cached content (it stays on disk for the next reader)."""
        if not self.closed:
            self.closed = True
            self.path._closed(self.image.version)
            await self.cached.close()
