"""The emulated service's state: every change the API can make to it, and its persistence.

`Store` holds the records of `model.py` (in `tables.py`) and keeps the rules the real service
keeps through its parts: `Accounts` (users, API keys, tokens, album templates), `NodeTree` (the
folder tree: unique sibling UrlNames, five levels of folders, subtrees deleted whole,
`DateModified` climbing to the root) and `AlbumImages` (uploads, image changes, collected copies,
listings). This module adds persistence in the data directory's state file (`state_file.py`; images
are read from it as asked for, `image_table.py`), and re-exports the
refusals (`refusals.py`) and the service's rules (`rules.py`) the API layer uses. It knows
nothing of HTTP: refusals are `ServiceError`s (an HTTP status and message) or `UploadRefused`
(an upload fault code), which the API layer turns into the wire format.
"""

from __future__ import annotations

from pathlib import Path

from smugfs.emulator import state_file
from smugfs.emulator.accounts import Accounts
from smugfs.emulator.album_images import AlbumImages
from smugfs.emulator.refusals import *  # noqa: F403 (re-exported for the API layer)
from smugfs.emulator.rules import *  # noqa: F403 (re-exported for the API layer)
from smugfs.emulator.state_file import SMALL_KINDS, TOKENS, KeptRecords


class Store(AlbumImages, Accounts):
    """All users' libraries, their media, API keys and tokens, kept in `data_dir`."""

    @classmethod
    def open(cls, data_dir: Path, seed: int | None = None) -> Store:
        """The store kept in `data_dir`, or a new empty one there."""
        state = state_file.open_state(data_dir)
        store = cls(data_dir, state, seed)
        store._load()
        return store

    def _load(self) -> None:
        """Read the small tables whole; images stay in the file until asked for."""
        state = self.state
        for kind in SMALL_KINDS:
            records = state.records(kind)
            setattr(self, kind.name, records)
            self._kept[kind.name] = KeptRecords(kind, state.codecs[kind.name], records)
        generation = state.meta("generation", "")
        if not generation:
            return
        # Keys made after a restart must not repeat the ones made before it, not even those
        # of deleted objects (a client may still remember them): each start of a data
        # directory is a new generation with its own key sequence.
        self.generation = int(generation) + 1
        self.dirty = True
        self.reseed(self.generation, len(self.nodes), len(self.images))

    def save(self) -> None:
        """Write what changed since the last save, in one transaction (a crash leaves the
        state of one save or the next, never part of one)."""
        state = self.state
        for kind in SMALL_KINDS:
            records = getattr(self, kind.name)
            if kind is TOKENS:
                # Request tokens live only as long as a login: only access tokens are kept.
                records = {k: t for k, t in records.items() if t.kind == "access"}
            kept = self._kept.get(kind.name)
            if kept is None:
                kept = self._kept[kind.name] = KeptRecords(kind, state.codecs[kind.name], {})
            kept.write(state, records)
        self.images.flush()
        state.set_meta("generation", str(self.generation))
        state.commit()
        self.dirty = False

    def close(self) -> None:
        """Save and close the state file."""
        self.save()
        self.state.close()
