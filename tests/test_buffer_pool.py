"""Receive buffers reused only once no view of them is left, and cache writes through O_DIRECT
that read back byte for byte."""

from __future__ import annotations

import os
import random
from pathlib import Path

from smugfs import cache_disk
from smugfs.buffer_pool import BufferPool
from smugfs.cache_blocks import RecentBytes

SIZE = 64 * 1024


def test_a_buffer_is_handed_out_again_only_once_no_view_of_it_is_left() -> None:
    pool = BufferPool(SIZE)
    first = pool.take(SIZE)
    first[:5] = b"first"
    kept_view = memoryview(first).toreadonly()[:5][1:]  # a view of a view, as replies take
    first_id = id(first)
    del first
    second = pool.take(SIZE)
    assert id(second) != first_id  # a view of the first is still alive
    second_id = id(second)
    del second
    assert id(pool.take(SIZE)) == second_id  # nothing refers to the second any more
    assert bytes(kept_view) == b"irst"
    del kept_view
    assert id(pool.take(SIZE)) in (first_id, second_id)
    assert pool.kept() == 2


def test_the_pool_keeps_a_bounded_number_and_other_sizes_are_made_afresh() -> None:
    pool = BufferPool(SIZE, kept=3)
    held = [pool.take(SIZE) for _ in range(5)]  # all in use at once
    assert len({id(buffer) for buffer in held}) == 5
    assert pool.kept() == 3
    small = pool.take(SIZE // 2)
    assert len(small) == SIZE // 2
    assert pool.kept() == 3


def test_writes_through_o_direct_and_the_page_cache_read_back_exactly(tmp_path: Path) -> None:
    rng = random.Random(7)
    pool = BufferPool(SIZE)
    data_path = tmp_path / "v.data"
    fd = os.open(data_path, os.O_RDWR | os.O_CREAT, 0o600)
    direct = cache_disk.open_direct(data_path)
    try:
        expected = bytearray()
        parts: list[memoryview] = []
        for length in (SIZE, SIZE, 3 * 4096, 1000):  # whole pages, then a short tail
            buffer = pool.take(length)
            chunk = rng.randbytes(length)
            buffer[:length] = chunk
            parts.append(memoryview(buffer).toreadonly()[:length])
            expected += chunk
        cache_disk.write_parts(fd, parts, 2 * SIZE, direct)
        # Bytes that are not page-aligned memory go through the page cache.
        unaligned = rng.randbytes(SIZE)
        cache_disk.write_parts(fd, [memoryview(unaligned)], 0, direct)
        cache_disk.write_parts(fd, [memoryview(bytes(SIZE))], SIZE, direct)
        got = cache_disk.read_upto(fd, 0, 10 * SIZE)
        assert got == unaligned + bytes(SIZE) + expected
    finally:
        cache_disk.save_and_close(fd, direct, tmp_path / "v.map", None, 0.0)


def test_recent_bytes_answer_a_read_across_buffers_only_when_they_cover_it() -> None:
    recent = RecentBytes()
    first, second, far = b"a" * 100, b"b" * 100, b"c" * 100
    recent.remember(0, memoryview(first).toreadonly())
    recent.remember(100, memoryview(second).toreadonly())
    recent.remember(300, memoryview(far).toreadonly())
    whole = recent.find(10, 20)
    assert isinstance(whole, memoryview)
    assert bytes(whole) == b"a" * 10
    assert recent.find(50, 150) == b"a" * 50 + b"b" * 50
    assert recent.find(150, 310) is None  # bytes 200-300 were never kept
    assert recent.find(290, 310) is None


def test_a_sequential_reader_keeps_what_landed_ahead_of_it_and_drops_what_it_passed() -> None:
    recent = RecentBytes()
    mib = 1024 * 1024
    recent.streaming(0, 32 * mib)
    parts = [bytes([n]) * mib for n in range(20)]
    for n, part in enumerate(parts):
        recent.remember(n * mib, memoryview(part).toreadonly())
    # All 20 MiB landed ahead of the reader are kept (more than a reader of heads keeps).
    assert bytes(recent.find(2 * mib, 3 * mib) or b"") == parts[2]
    recent.streaming(10 * mib, 32 * mib)
    assert recent.find(2 * mib, 3 * mib) is None  # well behind the reader: let go
    assert bytes(recent.find(7 * mib, 8 * mib) or b"") == parts[7]  # a read out of order
    assert bytes(recent.find(19 * mib, 20 * mib) or b"") == parts[19]
