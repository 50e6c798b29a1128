"""Changing the library through the mount: mkdir, rmdir, rename, unlink and uploads.

The rules, and why:

- A new directory is an album, because that is where photos go. A directory made inside an
  album that holds no photos turns that album into a folder (the service cannot change a node's
  type, so the empty album is replaced by a folder of the same name), so `mkdir -p A/B/C` gives
  folders A and B and the album C. A folder cannot hold photos and an album with photos cannot
  hold directories (EPERM); folders nest at most five deep (EMLINK).
- `rmdir` asks the service afresh whether a directory is empty and refuses otherwise
  (ENOTEMPTY): the service deletes a folder with everything in it, so a stale listing must never
  decide.
- A file written through the mount is staged locally and uploaded when it is closed; `close()`
  returns only once the service has confirmed it, or reports why not. Writing over an existing
  photo replaces it in place (same image key, captions and links). Names that desktop tools and
  editors use for themselves, and temporary names, stay local until renamed to a real name
  (rsync's temp-file-then-rename), which then uploads.
- The service ignores a change of `FileName`, so renaming an uploaded photo uploads its bytes
  under the new name (with its title, caption and keywords) and deletes the old image. Moving a
  photo to another album uses `!moveimages` (same image key).
- Every change is laid over the service's listings until they show it (`Listings.note_added`,
  `Listings.note_removed`), because the service lists new and deleted images late.

The parts, each with one job, all over one `context.ChangeContext`:

- `directories.py`: albums and folders made, deleted, renamed and moved;
- `writes.py`: files created and opened for writing, truncated, their times set;
- `uploads.py`: a staged file uploaded (at close, at fsync, or queued with write-back) and read
  back;
- `settling.py`: a staged copy let go once the service holds its bytes, or handed back;
- `file_moves.py`: files deleted, renamed and moved; `parking.py`: photos renamed to a
  temporary name, kept on the service under their old one;
- `journal.py`: the intent written beside a staged file, for recovery;
- `facade.py`: `Changes`, the one object the filesystem and the FUSE adapter call.
"""

from smugfs.changes.context import HandBack
from smugfs.changes.facade import Changes

__all__ = ["Changes", "HandBack"]
