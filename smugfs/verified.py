"""Content checked against the service's MD5: whole files fetched when the media server ignores
Range, and cached content checked once all its blocks are there.

A whole file is fetched once (single-flight), checked against the service's size and MD5, and
only then served: a mismatch is `IntegrityError` (EIO), never wrong bytes. Content completed
block by block is checked in the background; a mismatch drops it, so it is fetched again.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import trio

from smugfs.api.client import SmugMugClient
from smugfs.api.models import RemoteImage
from smugfs.cache_store import ContentCache
from smugfs.cached_file import CachedFile
from smugfs.errors import IntegrityError, ServiceUnavailable

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def pinned(
    cache: ContentCache, image: RemoteImage, size: int, doing: str
) -> AsyncIterator[CachedFile | None]:
    """A pin of `image`'s cached content for best-effort work (`doing` it), released after;
    None, logged, when the content cannot be opened."""
    cached: CachedFile | None = None
    try:
        cached = await cache.open(image.version, size)
    except (ValueError, OSError) as exc:
        log.debug("%s %s: %s", doing, image.file_name, exc)
    if cached is None:
        yield None
        return
    try:
        yield cached
    finally:
        await cached.close()


class WholeFiles:
    """Whole-file downloads, one at a time per version, verified before anything is served."""

    def __init__(self, client: SmugMugClient) -> None:
        self.client = client
        self._whole: dict[str, trio.Event] = {}
        self._errors: dict[str, BaseException] = {}

    async def ensure(self, image: RemoteImage, cached: CachedFile) -> None:
        """Fetch the whole file once (single-flight), verified before anything is served."""
        if cached.complete:
            return
        version = image.version
        event = self._whole.get(version)
        if event is None:
            event = trio.Event()
            self._whole[version] = event
            self._errors.pop(version, None)
            try:
                await self._download(image, cached)
            except BaseException as exc:
                self._errors[version] = exc
                raise
            finally:
                del self._whole[version]
                event.set()
            return
        await event.wait()
        error = self._errors.get(version)
        if error is not None and not cached.complete:
            raise IntegrityError(f"{image.file_name}: {error}") from error

    async def _download(self, image: RemoteImage, cached: CachedFile) -> None:
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


class Verifier:
    """Checks, in the background, each content that has just become complete in the cache."""

    def __init__(self, cache: ContentCache) -> None:
        self.cache = cache
        self._verified: set[str] = set()
        self._nursery: trio.Nursery | None = None

    def attach(self, nursery: trio.Nursery) -> None:
        """Where the checks run (none before this)."""
        self._nursery = nursery

    def completed(self, image: RemoteImage, cached: CachedFile) -> None:
        """Every block of `image` is cached: check it against the service's MD5; a mismatch
        is logged and the content dropped, so it is fetched again."""
        if self._nursery is None or not image.md5 or image.version in self._verified:
            return
        self._verified.add(image.version)
        self._nursery.start_soon(self._verify, image, cached.size)

    async def _verify(self, image: RemoteImage, size: int) -> None:
        # A background task of the mount: it must never raise. It holds its own pin, so the
        # content stays open while it is checked even if every reader has closed it.
        async with pinned(self.cache, image, size, "could not check") as pin:
            if pin is None:
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
