"""Which blocks are being fetched, and by which GET: the single-flight bookkeeping of the read
path.

A block claimed here is fetched by one GET only, across every open file of the same version:
another reader that needs it waits for that GET instead of starting its own. Blocks are claimed
before the task that fetches them starts, so no reader starts the same fetch in between.
"""

from __future__ import annotations

from typing import Protocol

import trio


class BlockSet(Protocol):
    """What the bookkeeping needs of a cached file: which blocks are there."""

    def has(self, block: int) -> bool: ...

    def missing_runs(self, first_block: int, last_block: int) -> list[tuple[int, int]]: ...


class Fetch:
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


class Claims:
    """The blocks being fetched, per version, and the GETs that owe them."""

    def __init__(self) -> None:
        # Per block being fetched: set once it has landed (or its fetch has ended), and the
        # fetch that owes it.
        self._inflight: dict[tuple[str, int], tuple[trio.Event, Fetch]] = {}
        # Per version: the GETs claimed or under way.
        self._fetches: dict[str, set[Fetch]] = {}

    def unclaimed_runs(
        self, version: str, cached: BlockSet, first: int, last: int
    ) -> list[tuple[int, int]]:
        """Runs (first, last) of blocks in `first..last` neither present nor being fetched."""
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

    def claim(self, version: str, first: int, last: int, *, cuttable: bool) -> Fetch:
        """Mark blocks `first..last` as being fetched by a new GET."""
        fetch = Fetch(cuttable)
        for block in range(first, last + 1):
            self._inflight[(version, block)] = (trio.Event(), fetch)
        self._fetches.setdefault(version, set()).add(fetch)
        return fetch

    async def wait(self, version: str, cached: BlockSet, first: int, last: int) -> Exception | None:
        """Wait until no block of `first..last` is being fetched; the first error of a fetch
        that left one of them missing."""
        error: Exception | None = None
        for block in range(first, last + 1):
            pending = self._inflight.get((version, block))
            if pending is None:
                continue
            event, fetch = pending
            await event.wait()
            if error is None and fetch.error is not None and not cached.has(block):
                error = fetch.error
        return error

    def landed(self, version: str, fetch: Fetch, first: int, last: int) -> None:
        """Wake the readers of blocks `first..last`, which `fetch` owed."""
        for block in range(first, last + 1):
            key = (version, block)
            pending = self._inflight.get(key)
            if pending is not None and pending[1] is fetch:
                del self._inflight[key]
                pending[0].set()

    def ended(self, version: str, fetch: Fetch, first: int, last: int) -> None:
        """`fetch` of blocks `first..last` has ended, however: its readers are woken (what they
        still miss they fetch again)."""
        fetches = self._fetches.get(version)
        if fetches is not None:
            fetches.discard(fetch)
            if not fetches:
                del self._fetches[version]
        self.landed(version, fetch, first, last)

    def cut(self, version: str) -> None:
        """Cut short the GETs claimed or under way for `version` on a guess."""
        for fetch in list(self._fetches.get(version, ())):
            if fetch.cuttable:
                fetch.stop()
