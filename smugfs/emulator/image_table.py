"""The emulated store's images: a mapping by image key whose records live in the state file
and are materialised when asked for.

A library of a million photos would take gigabytes as Python objects, and reading them all
is what a start would cost. `ImageTable` holds only the images in use: those read lately
(at most `capacity`, oldest out first) and any that someone still holds. An album's listing
reads the album's images in one run of the file (they are stored by album). Records are
changed in place all over the store (`image.title = ...`), so what to write is found by
comparison: a record's field values against a snapshot of those it was read or last written
with, for every image handed out since the last save or still held by someone, and for every
image that leaves memory. One record is one object while it is in memory, so a change made
through any reference to it is the change.

Whether an image is held outside the table is its reference count (CPython's): an image the
table lets go while a request still holds it would otherwise be changed and then forgotten.
Media requests read images from worker threads: everything but a hit runs under one lock.
"""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import Iterator, MutableMapping
from typing import Any

from smugfs.emulator.model import Image
from smugfs.emulator.state_file import IMAGES, Codec, StateFile

# Enough for the images of several 5,000-image albums listed at once, a page at a time.
LIVE_IMAGES = 50_000
# The references to an image no one else holds, as `sys.getrefcount` counts them: in `_held`,
# the `_live` entry, the parameter and getrefcount's argument; in `_trim`, once popped, the
# local name and getrefcount's argument.
_UNHELD_LIVE = 3
_UNHELD_POPPED = 2


class ImageTable(MutableMapping[str, Image]):
    """Images by key, read from `state` when asked for and written back by `flush`."""

    def __init__(self, state: StateFile, capacity: int = LIVE_IMAGES) -> None:
        self._state = state
        self._codec: Codec[Image] = state.codecs[IMAGES.name]
        self._capacity = max(1, capacity)
        self._lock = threading.RLock()
        # In use, oldest first, with a snapshot of each as written (None: never written). A
        # plain dict: set operations with it run at C speed (not so with an OrderedDict).
        self._live: dict[str, Image] = {}
        self._saved: dict[str, tuple[Any, ...] | None] = {}
        # Handed out since the last flush (a subset of `_live`): these may have changed.
        self._seen: set[str] = set()
        # Deleted since the last flush, their rows still to be removed.
        self._deleted: set[str] = set()

    # ----------------------------------------------------------------- mapping

    def __getitem__(self, key: str) -> Image:
        record = self._live.get(key)
        if record is None:
            record = self._load(key)
        self._seen.add(key)
        return record

    def __contains__(self, key: object) -> bool:
        if key in self._live:
            return True
        if not isinstance(key, str):
            return False
        with self._lock:
            return key not in self._deleted and self._state.image_data(key) is not None

    def __setitem__(self, key: str, record: Image) -> None:
        with self._lock:
            if self._live.get(key) is not record:
                self._live[key] = record
                self._saved[key] = None
            self._deleted.discard(key)
            self._seen.add(key)
            self._trim()

    def __delitem__(self, key: str) -> None:
        with self._lock:
            if key not in self:
                raise KeyError(key)
            self._live.pop(key, None)
            self._saved.pop(key, None)
            self._seen.discard(key)
            self._deleted.add(key)

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            self.flush()
            keys = list(self._state.image_keys())
        return iter(keys)

    def __len__(self) -> int:
        with self._lock:
            self.flush()
            return self._state.image_count()

    def many(self, keys: list[str], album_key: str) -> list[Image]:
        """The images of `keys` in order (KeyError if one is missing), as an album's listing
        reads them: those `album_key` owns that are not in memory are read in one run."""
        live = self._live
        # Set operations and `map`: a listing page asks for up to 5,000 images each time.
        if not all(map(live.__contains__, keys)):
            with self._lock:
                wanted = set(keys).difference(live, self._deleted)
                for key, data in self._state.album_image_rows(album_key):
                    if key in wanted:
                        self._admit(key, *self._codec.decode_with_snapshot(data))
        self._seen.update(keys)
        try:
            shown = list(map(live.__getitem__, keys))
        except KeyError:  # collected from other albums, or let go meanwhile
            shown = [self[key] for key in keys]
        with self._lock:
            self._trim()
        return shown

    # ----------------------------------------------------------------- queries

    def count_by_album(self) -> dict[str, int]:
        """How many images each album owns (an image's own album, not albums it is collected
        into), without reading the images."""
        with self._lock:
            self.flush()
            return self._state.images_by_album()

    def total_size(self, keys: list[str], album_key: str) -> int:
        """The summed sizes of the images of `keys` that exist (an album's `OriginalSizes`),
        those `album_key` owns read in one query rather than one by one."""
        with self._lock:
            stored = self._state.image_sizes(album_key, self._codec.stored.index("size"))
            total = 0
            for key in keys:
                record = self._live.get(key)
                if record is not None:
                    total += record.size
                elif key in stored and key not in self._deleted:
                    total += stored[key]
                elif key in self:
                    total += self[key].size
            return total

    # ----------------------------------------------------------------- writing back

    def flush(self) -> None:
        """Write every change to an image since the last flush into the state's open
        transaction (the store's save commits it)."""
        with self._lock:
            held = {key for key in self._live if self._held(self._live[key])}
            changed = [row for key in self._seen | held if (row := self._changed(key)) is not None]
            if changed:
                self._state.put_images(changed)
            if self._deleted:
                self._state.drop_images(self._deleted)
                self._deleted = set()
            # An image still held may be changed later through that reference.
            self._seen = held

    # ----------------------------------------------------------------- internals

    def _held(self, record: Image) -> bool:
        return sys.getrefcount(record) > _UNHELD_LIVE

    def _changed(self, key: str) -> tuple[str, str, str] | None:
        """The row to write for a live image if it differs from the stored one."""
        record = self._live[key]
        if self._codec.values(record) == self._saved[key]:
            return None
        self._saved[key] = self._codec.snapshot(record)
        return key, record.album_key, self._codec.encode(record)

    def _load(self, key: str) -> Image:
        with self._lock:
            record = self._live.get(key)
            if record is not None:
                return record
            data = None if key in self._deleted else self._state.image_data(key)
            if data is None:
                raise KeyError(key)
            record, snapshot = self._codec.decode_with_snapshot(data)
            self._admit(key, record, snapshot)
            self._trim()
            return record

    def _admit(self, key: str, record: Image, snapshot: tuple[Any, ...]) -> None:
        self._live[key] = record
        self._saved[key] = snapshot

    def _trim(self) -> None:
        """Let the oldest images go once there are more than `capacity`, writing back any
        that changed; those still held elsewhere stay (they go round again)."""
        excess = len(self._live) - self._capacity
        if excess <= 0:
            return
        rows: list[tuple[str, str, str]] = []
        # In batches, so that trimming is not a per-image cost.
        values = self._codec.values
        for key in list(itertools.islice(self._live, excess + self._capacity // 8)):
            record = self._live.pop(key)
            if values(record) != self._saved[key]:
                rows.append((key, record.album_key, self._codec.encode(record)))
            if sys.getrefcount(record) > _UNHELD_POPPED:
                self._live[key] = record
                self._saved[key] = self._codec.snapshot(record)
                self._seen.add(key)
            else:
                del self._saved[key]
                self._seen.discard(key)
        if rows:
            self._state.put_images(rows)
