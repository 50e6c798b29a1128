"""Large reads through a real FUSE mount: ranged GETs streamed into the cache while the kernel
reads, checked byte for byte against what was uploaded and against the emulator's counters.

Each test uploads its own photo (random bytes behind a JPEG header) to a fresh emulator, mounts
it with `smugfs mount`, and reads it with `dd`, `md5sum` and `cat`.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from smugfs.testing.account import Account
from smugfs.testing.commands import run
from smugfs.testing.emulator import Emulator
from smugfs.testing.media import photo
from smugfs.testing.mounts import mounted

pytestmark = pytest.mark.fuse

MIB = 1024 * 1024
ALBUM = "Streams"


@pytest.fixture
def big(emulator: Emulator) -> tuple[Emulator, bytes]:
    """A fresh emulator holding one 13 MiB photo (not a multiple of the block size)."""
    data = photo(7, 13 * MIB + 12_345)
    with Account(emulator) as account:
        account.upload(account.create(ALBUM), "big.jpg", data)
    return emulator, data


def _dd(path: Path, offset: int, count: int, block: int) -> bytes:
    """`count` bytes from `offset`, read by dd in requests of `block` bytes."""
    command = ["dd", f"if={path}", f"bs={block}", f"skip={offset}", f"count={count}"]
    command += ["iflag=skip_bytes,count_bytes", "status=none"]
    return subprocess.run(command, capture_output=True, check=True, timeout=120).stdout


def test_large_reads_at_odd_offsets_are_byte_exact(
    big: tuple[Emulator, bytes], tmp_path: Path
) -> None:
    emulator, data = big
    with mounted(emulator, tmp_path / "m") as mount:
        path = mount.path / ALBUM / "big.jpg"
        assert path.stat().st_size == len(data)
        emulator.reset_stats()
        # Odd offsets and sizes: inside one block, across blocks, across a landing of a GET,
        # up to the short last block, and a read that asks for more than is left.
        for offset, count, block in [
            (1, 3, 1),
            (131_071, 2, 4096),
            (999_999, 3 * MIB + 7, MIB),
            (5 * MIB - 1, 2 * MIB + 2, 3 * MIB),
            (len(data) - 100_001, 100_001, 65_536),
            (len(data) - 10, 1000, MIB),
        ]:
            got = _dd(path, offset, count, block)
            assert got == data[offset : offset + count], (offset, count, block)
        # The rest comes in sequentially; nothing is fetched twice.
        assert run("md5sum", path).stdout.split()[0] == hashlib.md5(data).hexdigest()
        stats = emulator.stats()
        assert stats["media_bytes"] == len(data)
        assert mount.problems() == []


def test_concurrent_readers_of_one_file_fetch_it_once(
    big: tuple[Emulator, bytes], tmp_path: Path
) -> None:
    emulator, data = big
    with mounted(emulator, tmp_path / "m") as mount:
        path = mount.path / ALBUM / "big.jpg"
        path.stat()
        emulator.reset_stats()
        readers = [
            subprocess.Popen(["md5sum", str(path)], stdout=subprocess.PIPE, text=True)
            for _ in range(3)
        ]
        for reader in readers:
            out, _ = reader.communicate(timeout=120)
            assert reader.returncode == 0
            assert out.split()[0] == hashlib.md5(data).hexdigest()
        stats = emulator.stats()
        assert stats["media_bytes"] == len(data)
        assert mount.problems() == []


def test_a_file_larger_than_the_cache_budget_reads_correctly(
    big: tuple[Emulator, bytes], tmp_path: Path
) -> None:
    emulator, data = big
    budget = 4 * MIB
    with mounted(emulator, tmp_path / "m", options=[f"cache_size={budget}"]) as mount:
        path = mount.path / ALBUM / "big.jpg"
        for _ in range(2):
            assert hashlib.md5(path.read_bytes()).digest() == hashlib.md5(data).digest()
        assert _dd(path, 0, len(data), MIB) == data
        assert mount.problems() == []
    # Closed, the file no longer holds its blocks in the cache past the budget.
    content = tmp_path / "m" / "cache" / "content"
    held = sum(entry.stat().st_blocks * 512 for entry in content.glob("*.data"))
    assert held <= budget


def test_reads_resume_when_the_connection_is_cut_mid_transfer(
    big: tuple[Emulator, bytes], tmp_path: Path
) -> None:
    emulator, data = big
    with mounted(emulator, tmp_path / "m") as mount:
        path = mount.path / ALBUM / "big.jpg"
        path.stat()
        emulator.reset_stats()
        emulator.configure(fault_rate=0.3, fault_kinds=["truncate"], seed=4)
        try:
            assert run("md5sum", path).stdout.split()[0] == hashlib.md5(data).hexdigest()
        finally:
            emulator.configure(fault_rate=0.0)
        stats = emulator.stats()
    assert stats["faults"].get("truncate", 0) > 0
    # A cut transfer resumes where it stopped: what was received is not fetched again.
    assert stats["media_bytes"] == len(data)
