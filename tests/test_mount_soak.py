"""Many readers and writers at once through one mount, for a bounded time.

Readers check every photo of an album with `md5sum` over and over, writers copy new photos
into another album and delete some again, and `find`, `ls -l` and `stat` walk the tree, all at
the same time with listings expiring every second. Every command must succeed with the right
bytes, the mount must not log an error, and the service must end holding exactly what the
writers left.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from smugfs.testing.account import Account
from smugfs.testing.commands import run
from smugfs.testing.emulator import Emulator
from smugfs.testing.media import md5, photo, write
from smugfs.testing.mounts import mounted

pytestmark = pytest.mark.fuse

SOAK_SECONDS = 20.0
READERS = 3
WRITERS = 2
PHOTOS = 30


def test_parallel_readers_writers_and_walkers_see_no_error(
    emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    source_uri = account.create("Source")
    originals = {f"s{n:02}.jpg": photo(5000 + n, 20_000 + 3001 * n) for n in range(PHOTOS)}
    for name, data in originals.items():
        account.upload(source_uri, name, data)
    target_uri = account.create("Target")
    errors: list[str] = []
    kept: dict[str, str] = {}
    lock = threading.Lock()

    with mounted(emulator, tmp_path / "mount", options=["listing_ttl=1"]) as mount:
        source = mount.path / "Source"
        target = mount.path / "Target"
        deadline = time.monotonic() + SOAK_SECONDS

        def check(
            command: list[str], what: Callable[[str], str | None], *, racing: bool = False
        ) -> None:
            result = run(*command, check=False, timeout=60)
            complaints = [
                line
                for line in result.stderr.splitlines()
                # A walker lists a directory, then looks at its entries: a photo a writer
                # deleted in between is gone by then, as on any filesystem.
                if not (racing and _deleted_meanwhile(line, target))
            ]
            if result.returncode != 0 and complaints:
                problem: str | None = f"exit {result.returncode}: {' / '.join(complaints)}"
            else:
                problem = what(result.stdout)
            if problem:
                with lock:
                    errors.append(f"{' '.join(command)}: {problem}")

        def reader() -> None:
            expected = {str(source / name): md5(data) for name, data in originals.items()}

            def compare(out: str) -> str | None:
                seen = dict(reversed(line.split(None, 1)) for line in out.splitlines())
                return None if seen == expected else "wrong sums"

            while time.monotonic() < deadline:
                check(["md5sum", *sorted(expected)], compare)

        def writer(number: int) -> None:
            n = 0
            while time.monotonic() < deadline:
                name = f"w{number}-{n:03}.jpg"
                data = photo(10_000 * (number + 1) + n, 15_000 + 101 * n)
                local = write(tmp_path / f"writer{number}" / name, data)
                check(["cp", str(local), str(target)], lambda out: None)
                if n % 3 == 2:
                    check(["rm", str(target / name)], lambda out: None)
                else:
                    with lock:
                        kept[name] = md5(data)
                n += 1

        def walker() -> None:
            while time.monotonic() < deadline:
                check(["find", str(mount.path)], lambda out: None, racing=True)
                check(["ls", "-lR", str(mount.path)], lambda out: None, racing=True)
                check(
                    ["stat", "-c", "%s", str(source / "s00.jpg")],
                    lambda out: None if int(out) == len(originals["s00.jpg"]) else "wrong size",
                )

        threads = [threading.Thread(target=reader) for _ in range(READERS)]
        threads += [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
        threads.append(threading.Thread(target=walker))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=SOAK_SECONDS + 120)
        assert not any(thread.is_alive() for thread in threads), "a command hung"
        assert errors == []
        assert len(kept) >= 10, "the writers hardly wrote"
        problems = [line for line in mount.log().splitlines() if " ERROR " in line]
        assert problems == []
        images = account.by_name(target_uri)
        assert {name: image["ArchivedMD5"] for name, image in images.items()} == kept
        assert account.image_count(source_uri) == PHOTOS


def _deleted_meanwhile(complaint: str, target: Path) -> bool:
    """Whether a tool's complaint is about a writer's photo that was deleted meanwhile."""
    return f"{target}/w" in complaint and complaint.endswith("No such file or directory")
