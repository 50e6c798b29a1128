"""The read path: from `read(offset, size)` to ranged GETs through the on-disk content cache.

Content is cached in fixed blocks per image version (`cache_store.py`). A read is served from
present blocks; missing ones are fetched with one ranged GET per contiguous run. Each open file
keeps a read-ahead window: one block at first, so a thumbnailer reading the first 64 KiB of a
photo fetches one block; once `GROW_AFTER` bytes have been read in sequence, the rest of the
file up to `MAX_WINDOW` in one GET; and a file its process is expected to read whole (the last
file it read, it read whole: `readahead.py`), or whose first read from the start asks for
more than a head (`WHOLE_FIRST_READ`), is fetched whole by that read, in one request. A seek
drops the window back to one block. When the last reader of a file closes
it, or the sweep that fetched it ahead stops, the GETs still under way for it are cut: what has
landed stays (whole blocks only), the rest is not fetched.

GETs run in the mount's nursery and are received into the cache as the bytes arrive
(`landing.py`): a reader waits only for the blocks it asked for, while the rest of its window
keeps arriving, so the link stays busy while the kernel consumes.

Fetches are single-flight (`fetches.py`): a block being fetched is waited for, not fetched
twice, across every open file of the same version. Invariant kept across awaits: a block is
marked present in the cache only once its bytes are on disk, so a reader that finds it present
can read it. A fetch that fails leaves its error for the readers of the blocks it still owed.

When the media server ignores Range (answers 200), files are fetched whole instead, checked
against the service's size and MD5 before they are served (`verified.py`).
"""

from __future__ import annotations

import collections
import logging
from pathlib import Path

import trio

from smugfs.api.client import RangeIgnored, SmugMugClient
from smugfs.api.models import RemoteImage
from smugfs.buffer_pool import BufferPool
from smugfs.cache_store import ContentCache
from smugfs.cached_file import CachedFile
from smugfs.errors import IntegrityError, ServiceUnavailable
from smugfs.fetches import Claims, Fetch
from smugfs.landing import LAND_BYTES, Landing
from smugfs.verified import Verifier, WholeFiles, pinned

log = logging.getLogger(__name__)

# How far ahead of a sequential reader its window reaches: enough to keep the link busy while
# the kernel consumes what has landed, and a camera's photo in one GET.
MAX_WINDOW = 32 * 1024 * 1024
# The window opens only once this much has been read in sequence: the kernel's own read-ahead
# asks for up to 256 KiB at the start of any file read, and a reader that only wants the start
# of a file (a thumbnailer, `file`, `exiftool`) should not pay for more.
GROW_AFTER = 512 * 1024
# A first read from the start of at least this much is taken as the start of a whole read, so
# that file is fetched whole by that read, in one GET (cut if the reader stops early): the kernel
# asks this much at once when the process itself read 128 KiB or more (cat, cp, dd, file),
# while a reader of heads reading 64 KiB makes it ask 128 KiB (one block).
WHOLE_FIRST_READ = 256 * 1024
# A sequential read past this point is a long one, and the log says so once per open.
LONG_READ = 64 * 1024 * 1024
# Passes of `ensure` over the blocks a read needs. Not request retries (the client retries every
# GET under its one policy): a pass ends early when a fetch of someone else's stopped short of a
# block without an error, or when the media server turned out to ignore Range.
MAX_FETCH_PASSES = 3


class ReadPath:
    """Shared state of every open file: the cache, in-flight fetches, what the server can do."""

    def __init__(self, client: SmugMugClient, cache: ContentCache) -> None:
        self.client = client
        self.cache = cache
        self.range_supported = True
        self._claims = Claims()
        # How many open files read each version now.
        self._readers: collections.Counter[str] = collections.Counter()
        self._whole = WholeFiles(client)
        self._verifier = Verifier(cache)
        self._buffers = BufferPool(LAND_BYTES)
        self._nursery: trio.Nursery | None = None

    def attach(self, nursery: trio.Nursery) -> None:
        """Where fetches and checks run (the mount's nursery), so that a reader waits only for
        the blocks it needs while the rest of its window keeps arriving."""
        self._nursery = nursery
        self.cache.attach(nursery)
        self._verifier.attach(nursery)

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
        self._claims.cut(version)

    async def fetch_ahead(self, image: RemoteImage) -> None:
        """Fetch `image` (its first `MAX_WINDOW` bytes) into the cache before anyone asks, in
        this task: cancelling it cuts the GET. Blocks present or being fetched are skipped."""
        if image.size is None or image.media_url is None or not self.range_supported:
            return
        cached = await self.cache.open(image.version, image.size)
        try:
            last = min(cached.block_count(), MAX_WINDOW // cached.block_size) - 1
            for first, stop in self._claims.unclaimed_runs(image.version, cached, 0, last):
                fetch = self._claims.claim(image.version, first, stop, cuttable=True)
                await self._fetch(image, cached, first, stop, fetch)
        finally:
            await cached.close()

    async def prime(self, image: RemoteImage, path: Path) -> None:
        """Put the bytes of a just-uploaded file into the cache, so reading the new photo
        makes no request: the file at `path` is moved there when it can be (it is gone then),
        else copied. Nothing may write to it any more (its staging copy was let go, see
        `Staging.pass_on`). Best effort: a failure only means the bytes are fetched later."""
        if image.size is None or image.size > self.cache.budget // 4:
            return
        if await self.cache.adopt(image.version, image.size, path):
            return
        async with pinned(self.cache, image, image.size, "not caching") as cached:
            if cached is None:
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
                await self._whole.ensure(image, cached)
                return
            await self._start_fetches(image, cached, first, last, ahead, min_ahead, cuttable)
            error = await self._claims.wait(image.version, cached, first, last)
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
        for start, stop in self._claims.unclaimed_runs(image.version, cached, first, ahead):
            if start <= last or stop - start + 1 >= min_ahead or stop == end:
                fetch = self._claims.claim(image.version, start, stop, cuttable=cuttable)
                await self._spawn(image, cached, start, stop, fetch)

    async def _spawn(
        self, image: RemoteImage, cached: CachedFile, first: int, last: int, fetch: Fetch
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
        self, image: RemoteImage, cached: CachedFile, first: int, last: int, fetch: Fetch
    ) -> None:
        try:
            await self._fetch(image, cached, first, last, fetch)
        finally:
            await cached.close()

    async def _fetch(
        self, image: RemoteImage, cached: CachedFile, first: int, last: int, fetch: Fetch
    ) -> None:
        """One ranged GET for blocks `first..last`, claimed in `Claims`, streamed into the
        cache as it arrives. Never raises (it may run in the mount's nursery): its error is
        left on `fetch` for the readers that needed its blocks. Cut short (`Fetch.stop`), it
        ends quietly, its readers woken: what they still miss they fetch again."""
        try:
            with trio.CancelScope() as scope:
                fetch.scope = scope
                if fetch.cut:
                    scope.cancel()
                await self._fetch_claimed(image, cached, first, last, fetch)
        finally:
            self._claims.ended(image.version, fetch, first, last)

    async def _fetch_claimed(
        self, image: RemoteImage, cached: CachedFile, first: int, last: int, fetch: Fetch
    ) -> None:
        assert image.media_url is not None
        assert image.size is not None
        offset = first * cached.block_size
        length = min((last + 1) * cached.block_size, image.size) - offset

        def landed(first: int, last: int) -> None:
            self._claims.landed(image.version, fetch, first, last)

        landing = Landing(
            cached, offset, length, image.file_name, landed, self._buffers, self._nursery
        )
        try:
            try:
                got = await self.client.stream_range_into(image.media_url, offset, length, landing)
            except trio.Cancelled:
                with trio.CancelScope(shield=True):
                    await landing.keep_whole_blocks()
                raise
            except RangeIgnored:
                log.info("the media server ignores Range; reading whole files instead")
                self.range_supported = False
                return
            await landing.finish()
            if got != length:
                raise IntegrityError(
                    f"{image.file_name}: got {got} bytes at {offset}, expected {length}"
                )
            if cached.complete:
                self._verifier.completed(image, cached)
        except Exception as exc:
            log.debug("fetching %s failed: %s", image.file_name, exc)
            fetch.error = exc
        finally:
            with trio.CancelScope(shield=True):
                await landing.close()


def _read_file(path: Path, offset: int, size: int) -> bytes:
    with open(path, "rb") as source:
        source.seek(offset)
        return source.read(size)


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
        # (a thumbnailer, `exiftool`) gets the blocks it asked for, not a grown window.
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
            if offset == 0 and size >= WHOLE_FIRST_READ:
                self.whole = True
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
        # A sequential reader of cached bytes has the next window read in from the disk while
        # it consumes this one.
        ahead = self.window if self.window >= 4 * block else 0
        for _ in range(MAX_FETCH_PASSES):
            await self.path.ensure(
                self.image,
                self.cached,
                first,
                needed_last,
                ahead_last,
                max(1, window // 2),
                cuttable=guess,
            )
            try:
                return await self.cached.read(offset, end - offset, ahead)
            except LookupError as exc:
                # Dropped between the fetch and the read, or during a read from the disk
                # (the content failed its MD5 check): fetched again.
                log.debug("reading %s again: %s", self.image.file_name, exc)
        raise IntegrityError(f"{self.image.file_name}: its cached bytes keep being dropped")

    async def close(self) -> None:
        """Release the cached content (it stays on disk for the next reader)."""
        if not self.closed:
            self.closed = True
            self.path._closed(self.image.version)
            await self.cached.close()
