"""The intent of a staged file: where it is going, written down before it goes.

A staged file meant for the service has an intent beside it (`staging.Intent`: the album, the
path in the mount, the remote name, the photo it replaces, whether `close()` asked for the
upload), so that a mount killed before the upload is confirmed leaves enough behind for the
next one to finish it or hand the bytes back (`recovery.py`). Files that will never be uploaded
as they are (temporary and bookkeeping names, deleted while open, outside an album) have nothing
to finish: their intent is forgotten instead.
"""

from __future__ import annotations

import time

from smugfs.listings import Listings
from smugfs.names import unescape
from smugfs.staging import Intent, IntentState, Staging, is_local_only
from smugfs.tree import Entry


class Journal:
    """Writes and forgets the intents of staged files, from what the entry is now."""

    def __init__(self, listings: Listings, staging: Staging) -> None:
        self._listings = listings
        self._staging = staging

    async def record(
        self,
        entry: Entry,
        state: IntentState,
        md5: str = "",
        *,
        sent: bool = True,
        durable: bool = False,
    ) -> None:
        """Write down where `entry`'s staged file is going, in `state`; `sent` false says the
        upload is only queued, `durable` that the intent must be on disk (fsynced) before this
        returns."""
        local = entry.local
        if local is None:
            return
        table = self._listings.table
        album = table.entry(entry.parent).node
        if local.unlinked or is_local_only(entry.name) or album is None or album.album_uri is None:
            await self._staging.forget(local)
            return
        intent = Intent(
            state=state,
            album_uri=album.album_uri,
            path=table.path(entry.inode),
            name=unescape(entry.name),
            replaces=local.replace.uri if local.replace is not None else None,
            md5=md5,
            size=local.size,
            started=time.time(),
            sent=sent,
            fields=dict(local.fields),
        )
        await self._staging.record(local, intent, durable=durable)
