"""Whether a person is looking, and how many photos' thumbnails that may cost.

A person opens a folder, looks, opens an album: a few directory reads a minute. `find`, `du`,
`rsync` or a backup read dozens a second, and making thumbnails for what they walk through
would fetch a rendition for every photo of the library. So directory reads are counted over a
short window (a burst means a walk, during which nothing is thumbnailed and reads are not
held), and the photos thumbnailed in a longer window are capped (a person browsing album after
album stays far below it).
"""

from __future__ import annotations

import collections
from collections.abc import Callable

import trio

# More directory reads than this within WALK_WINDOW seconds is a walk, not a person.
WALK_READS = 12
WALK_WINDOW = 2.0
# At most this many photos get thumbnails within BUDGET_WINDOW seconds.
BUDGET_PHOTOS = 5000
BUDGET_WINDOW = 600.0


class Attention:
    """Recent directory reads and the photo budget."""

    def __init__(
        self,
        *,
        walk_reads: int = WALK_READS,
        walk_window: float = WALK_WINDOW,
        budget_photos: int = BUDGET_PHOTOS,
        budget_window: float = BUDGET_WINDOW,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self._walk_reads = walk_reads
        self._walk_window = walk_window
        self._budget_photos = budget_photos
        self._budget_window = budget_window
        self._clock = clock
        self._reads: collections.deque[tuple[float, int]] = collections.deque()
        self._spent: collections.deque[tuple[float, int]] = collections.deque()
        self._spent_total = 0

    def read(self, inode: int) -> None:
        """A directory was read."""
        now = self._clock()
        self._reads.append((now, inode))
        self._forget_reads(now)

    @property
    def walking(self) -> bool:
        """Whether directories are being read faster than a person reads them."""
        self._forget_reads(self._clock())
        return len({inode for _, inode in self._reads}) > self._walk_reads

    def spend(self, photos: int) -> bool:
        """Take `photos` from the budget; False (nothing taken) when it would run over."""
        now = self._clock()
        while self._spent and now - self._spent[0][0] > self._budget_window:
            self._spent_total -= self._spent.popleft()[1]
        if photos > 0 and self._spent_total + photos > self._budget_photos:
            return False
        self._spent.append((now, photos))
        self._spent_total += photos
        return True

    def _forget_reads(self, now: float) -> None:
        while self._reads and now - self._reads[0][0] > self._walk_window:
            self._reads.popleft()
