"""The MD5 of a staged file, computed while it is written, off the writer's path.

An upload needs the MD5 of the whole file in its first header (`Content-MD5`), and a camera's
photo written through the mount is hashed as it is written (cp and rsync write from start to
end), so the upload needs no second pass over the file. The hashing runs in a thread of its
own, in the order the writes landed: a write returns once its bytes are in the staging file,
and the hashing of them overlaps the writer's next write (on another CPU, when there is one).
At most `MAX_BEHIND` bytes of a file wait to be hashed; a writer that is further ahead waits.
"""

from __future__ import annotations

import collections
import concurrent.futures
import hashlib
import threading

import trio

# How far the hashing of one file may fall behind its writes (the bytes waiting are held in
# memory until they are hashed).
MAX_BEHIND = 16 * 1024 * 1024

_hasher: concurrent.futures.ThreadPoolExecutor | None = None
_hasher_lock = threading.Lock()


def _thread() -> concurrent.futures.ThreadPoolExecutor:
    """The one thread that hashes for every staged file of this process (FIFO)."""
    global _hasher
    with _hasher_lock:
        if _hasher is None:
            _hasher = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="smugfs-md5")
        return _hasher


class RunningDigest:
    """The MD5 of a file's bytes written so far, while they are written from start to end;
    lost (`None` from `hexdigest`) once a write lands anywhere else. Used from the trio thread
    only."""

    def __init__(self) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        # Bytes given to it so far, hashed or waiting to be.
        self.length = 0
        self._lost = False
        # The updates given to the thread, oldest first, with their sizes, and the last one
        # (the thread runs them in order: once it is done, all are).
        self._pending: collections.deque[tuple[concurrent.futures.Future[None], int]] = (
            collections.deque()
        )
        self._behind = 0
        self._last: concurrent.futures.Future[None] | None = None

    async def wrote(self, offset: int, data: bytes, written: int) -> None:
        """`written` bytes of `data` landed at `offset`: hashed (in order) if they continue
        the bytes before them. Waits while the hashing is more than `MAX_BEHIND` behind."""
        if self._lost:
            return
        if offset != self.length or written != len(data):
            self.lose()
            return
        self._last = _thread().submit(self._md5.update, data)
        self._pending.append((self._last, written))
        self.length += written
        self._behind += written
        while self._behind > MAX_BEHIND and self._pending:
            oldest, size = self._pending.popleft()
            self._behind -= size
            await _done(oldest)

    @property
    def behind(self) -> int:
        """Bytes given to the thread that are not known to be hashed yet."""
        return self._behind

    def lose(self) -> None:
        """A write landed out of order: the file must be hashed whole when asked."""
        self._lost = True

    async def hexdigest(self, size: int) -> str | None:
        """The MD5 (hex) of the file if it is `size` bytes long and all of them were hashed
        in order, else None."""
        if self._lost or self.length != size:
            return None
        if self._last is not None:
            await _done(self._last)
        if self._lost or self.length != size:
            return None  # written again meanwhile
        return self._md5.hexdigest()


async def _done(future: concurrent.futures.Future[None]) -> None:
    """Wait for an update of the hashing thread."""
    if not future.done():
        await trio.to_thread.run_sync(future.result)
