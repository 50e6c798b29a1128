"""The read path: from `read(offset, size)` to ranged GETs through the on-disk content cache.

Content is cached in fixed blocks per image version (`cache_store.py`). A read is served from
present blocks; missing ones are fetched with one ranged GET per contiguous run. Each open file
keeps a read-ahead window that doubles while reads are sequential (up to `MAX_WINDOW`) and drops
back to one block on a seek, so a thumbnailer reading the first 64 KiB of a photo fetches one
block while `cp` of a video streams in large requests; a sequential reader also gets the next
window fetched in the background while it consumes the current one.

Fetches are single-flight: a block being fetched is waited for, not fetched twice, across every
open file of the same version. Invariant kept across awaits: a block is marked present in the
cache only once its bytes are on disk, so a reader that finds it present can read it.

When the media server ignores Range (answers 200), the file is fetched whole instead, checked
against the service's size and MD5, and only then served: a mismatch is `IntegrityError` (EIO),
never wrong bytes.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import trio

from smugfs.api.client import RangeIgnored, SmugMugClient
from smugfs.api.models import RemoteImage
from smugfs.cache_store import CachedFile, ContentCache
from smugfs.errors import IntegrityError, ServiceUnavailable, first_error

log = logging.getLogger(__name__)

MAX_WINDOW = 8 * 1024 * 1024
# The window grows only once this much has been read in sequence: the kernel's own read-ahead
# already asks for a few blocks at the start of any file, and a reader that only wants the
# start of a file (a thumbnailer, `file`, `exiftool`) should not pay for more.
GROW_AFTER = 512 * 1024
# A sequential read past this point is a long one, and the log says so once per open.
LONG_READ = 64 * 1024 * 1024
MAX_FETCH_ATTEMPTS = 3


class ReadPath:
    """Shared state of every open file: the cache, in-flight fetches, what the server can do."""

    def __init__(self, client: SmugMugClient, cache: ContentCache) -> None:
        self.client = client
        self.cache = cache
        self.range_supported = True
        self._inflight: dict[tuple[str, int], trio.Event] = {}
        self._whole: dict[str, trio.Event] = {}
        self._whole_errors: dict[str, BaseException] = {}
        self._verified: set[str] = set()
        self._nursery: trio.Nursery | None = None

    def attach(self, nursery: trio.Nursery) -> None:
        """Where background read-ahead runs (the mount's nursery)."""
        self._nursery = nursery

    async def open(self, image: RemoteImage) -> OpenFile:
        """An open file reading `image`."""
        if image.size is None or image.media_url is None:
            raise IntegrityError(f"{image.file_name} cannot be read yet (still processing)")
        cached = await self.cache.open(image.version, image.size)
        return OpenFile(self, image, cached)

    # ------------------------------------------------------------------ fetching

    async def ensure(self, image: RemoteImage, cached: CachedFile, first: int, last: int) -> None:
        """Make blocks `first..last` present, fetching what is missing."""
        for _ in range(MAX_FETCH_ATTEMPTS):
            if not self.range_supported:
                await self._ensure_whole(image, cached)
                return
            runs = cached.missing_runs(first, last)
            if not runs:
                return
            with first_error():
                waits = await self._fetch_runs(image, cached, runs)
            for event in waits:
                await event.wait()
        if cached.missing_runs(first, last):
            raise ServiceUnavailable(f"could not read {image.file_name}")

    async def _fetch_runs(
        self, image: RemoteImage, cached: CachedFile, runs: list[tuple[int, int]]
    ) -> list[trio.Event]:
        """Fetch missing runs concurrently; returns the fetches of other readers to wait for."""
        waits: list[trio.Event] = []
        async with trio.open_nursery() as nursery:
            for run_first, run_last in runs:
                # Blocks another reader is already fetching are waited for, not refetched.
                start = run_first
                for block in range(run_first, run_last + 1):
                    event = self._inflight.get((image.version, block))
                    if event is not None:
                        waits.append(event)
                        if start < block:
                            done = self._claim(image, start, block - 1)
                            nursery.start_soon(self._fetch, image, cached, start, block - 1, done)
                        start = block + 1
                if start <= run_last:
                    done = self._claim(image, start, run_last)
                    nursery.start_soon(self._fetch, image, cached, start, run_last, done)
        return waits

    def _claim(self, image: RemoteImage, first: int, last: int) -> trio.Event:
        """Mark blocks as being fetched, before the task that fetches them starts, so no other
        reader starts the same fetch in between."""
        done = trio.Event()
        for block in range(first, last + 1):
            self._inflight[(image.version, block)] = done
        return done

    async def _fetch(
        self, image: RemoteImage, cached: CachedFile, first: int, last: int, done: trio.Event
    ) -> None:
        """One ranged GET for blocks `first..last`, claimed with `done` by `_claim`."""
        assert image.media_url is not None
        assert image.size is not None
        keys = [(image.version, block) for block in range(first, last + 1)]
        try:
            offset = first * cached.block_size
            length = min((last + 1) * cached.block_size, image.size) - offset
            try:
                data = await self.client.get_range(image.media_url, offset, length)
            except RangeIgnored:
                log.info("the media server ignores Range; reading whole files instead")
                self.range_supported = False
                return
            if len(data) != length:
                raise IntegrityError(
                    f"{image.file_name}: got {len(data)} bytes at {offset}, expected {length}"
                )
            await cached.write_blocks(offset, data)
            if cached.complete and image.md5:
                self._check_complete(image, cached)
        finally:
            for key in keys:
                if self._inflight.get(key) is done:
                    del self._inflight[key]
            done.set()

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
        assert image.media_url is not None
        assert image.size is not None
        for attempt in range(MAX_FETCH_ATTEMPTS):
            try:
                await self._download_whole_once(image, cached)
                return
            except ServiceUnavailable:
                if attempt == MAX_FETCH_ATTEMPTS - 1:
                    raise
                await trio.sleep(0.5 * 2**attempt)

    async def _download_whole_once(self, image: RemoteImage, cached: CachedFile) -> None:
        assert image.media_url is not None
        assert image.size is not None
        digest = hashlib.md5()
        offset = 0
        pending = bytearray()
        block = cached.block_size
        try:
            async with self.client.stream_whole(image.media_url) as response:
                if response.status_code >= 400:
                    await response.aread()
                    self.client.raise_for(response, f"GET {image.file_name}")
                async for chunk in response.aiter_bytes(block):
                    digest.update(chunk)
                    pending += chunk
                    if offset + len(pending) > image.size:
                        break
                    while len(pending) >= block:
                        await cached.write_blocks(offset, bytes(pending[:block]))
                        del pending[:block]
                        offset += block
        except (OSError, ValueError) as exc:
            raise ServiceUnavailable(f"{image.file_name}: {exc}") from exc
        except Exception as exc:
            if type(exc).__module__.startswith(("httpx", "httpcore")):
                raise ServiceUnavailable(f"{image.file_name}: {type(exc).__name__}") from exc
            raise
        total = offset + len(pending)
        if total == image.size and pending:
            await cached.write_blocks(offset, bytes(pending))
        if total != image.size or (image.md5 and digest.hexdigest() != image.md5):
            await cached.discard()
            raise IntegrityError(
                f"{image.file_name}: downloaded {total} bytes that do not match the size "
                f"{image.size} and MD5 the service states"
            )
        self.client.stats.media_bytes += total

    async def prime(self, image: RemoteImage, path: Path) -> None:
        """Put the bytes of a just-uploaded file into the cache, so reading the new photo
        makes no request. Best effort: a failure only means the bytes are fetched later."""
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

    def prefetch(self, image: RemoteImage, cached: CachedFile, first: int, last: int) -> None:
        """Fetch blocks in the background (errors are left for the reader that needs them)."""
        if self._nursery is None or not self.range_supported:
            return
        runs = cached.missing_runs(first, last)
        if not runs or any((image.version, b) in self._inflight for b in range(first, last + 1)):
            return
        self._nursery.start_soon(self._quiet_fetch, image, cached, first, last)

    async def _quiet_fetch(
        self, image: RemoteImage, cached: CachedFile, first: int, last: int
    ) -> None:
        try:
            await self.ensure(image, cached, first, last)
        except Exception as exc:  # a later read of these blocks reports the error
            log.debug("read-ahead of %s failed: %s", image.file_name, exc)


def _read_file(path: Path, offset: int, size: int) -> bytes:
    with open(path, "rb") as source:
        source.seek(offset)
        return source.read(size)


class OpenFile:
    """One open file: its version, its cached content, and its read-ahead window."""

    def __init__(self, path: ReadPath, image: RemoteImage, cached: CachedFile) -> None:
        self.path = path
        self.image = image
        self.cached = cached
        self.window = cached.block_size
        # The first read is not "sequential": a reader that only wants the start of a file
        # (a thumbnailer, `file`, `exiftool`) gets one block, not a grown window.
        self.next_offset = -1
        self.streak = 0
        self.closed = False

    async def read(self, offset: int, size: int) -> bytes:
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
                self.window = min(self.window * 2, MAX_WINDOW)
        else:
            self.streak = end - offset
            self.window = block
        self.next_offset = end
        first = offset // block
        needed_last = (end - 1) // block
        ahead_last = min(last_block, max(needed_last, first + self.window // block - 1))
        await self.path.ensure(self.image, self.cached, first, ahead_last)
        if self.window >= 4 * block and ahead_last < last_block:
            # Sequential reading: fetch the next window while this one is consumed.
            self.path.prefetch(
                self.image,
                self.cached,
                ahead_last + 1,
                min(last_block, ahead_last + self.window // block),
            )
        return await self.cached.read(offset, end - offset)

    async def close(self) -> None:
        """Release the cached content (it stays on disk for the next reader)."""
        if not self.closed:
            self.closed = True
            await self.cached.close()
