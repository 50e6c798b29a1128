"""Advisory locks that say a live mount owns a file or directory of the cache.

The lock is held until its descriptor closes, so it ends with the process that took it: a
killed mount never leaves a lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def try_exclusive_lock(lock_file: Path) -> int | None:
    """Take an exclusive lock on `lock_file` (created 0600 if missing) and return its
    descriptor, or None when another process holds it."""
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
