"""The on-disk content cache: blocks, persistence across mounts, the byte budget, concurrency."""

from __future__ import annotations

import hashlib
import os
import random
import stat
import threading
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import pytest
import trio

from smugfs import cache_disk, cached_file
from smugfs.cache_store import ContentCache

BS = 1024  # small blocks keep the tests fast; the code does not care about the value


def content(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def names_in(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def key_of(version: str) -> str:
    return hashlib.sha256(version.encode()).hexdigest()


async def fill(cache: ContentCache, version: str, data: bytes) -> None:
    """Cache all of `data` as `version` and close it again."""
    cached = await cache.open(version, len(data))
    try:
        await cached.write_blocks(0, data)
    finally:
        await cached.close()


async def test_round_trip_including_the_short_last_block(tmp_path: Path) -> None:
    data = content(3 * BS + 100)
    cache = ContentCache(tmp_path, budget=1 << 20, block_size=BS)
    cached = await cache.open("v1", len(data))
    assert (cached.version, cached.size, cached.block_size) == ("v1", len(data), BS)
    assert cached.block_count() == 4
    assert not cached.complete

    await cached.write_blocks(BS, data[BS : 3 * BS])
    await cached.write_blocks(3 * BS, data[3 * BS :])  # the short last block
    assert [cached.has(b) for b in range(4)] == [False, True, True, True]
    assert cache.used_bytes == 2 * BS + 100
    await cached.write_blocks(0, data[:BS])
    assert cached.complete
    assert cache.used_bytes == len(data)

    assert await cached.read(0, len(data)) == data
    assert await cached.read(BS - 10, 30) == data[BS - 10 : BS + 20]
    assert await cached.read(3 * BS + 50, 10_000) == data[3 * BS + 50 :]  # clipped at EOF
    assert await cached.read(len(data), 10) == b""
    assert await cached.read(5, 0) == b""
    await cached.close()
    await cache.close()


async def test_missing_runs(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path, budget=1 << 20, block_size=BS)
    cached = await cache.open("v", 10 * BS)
    for block in (2, 3, 6, 9):
        await cached.write_blocks(block * BS, bytes(BS))
    assert cached.missing_runs(0, 9) == [(0, 1), (4, 5), (7, 8)]
    assert cached.missing_runs(2, 3) == []
    assert cached.missing_runs(3, 7) == [(4, 5), (7, 7)]
    assert cached.missing_runs(5, 5) == [(5, 5)]
    assert cached.missing_runs(7, 100) == [(7, 8)]  # clipped to the blocks that exist
    assert cached.missing_runs(4, 3) == []
    with pytest.raises(IndexError):
        cached.has(10)
    with pytest.raises(IndexError):
        cached.has(-1)
    await cached.close()


async def test_reading_an_absent_block_raises(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path, budget=1 << 20, block_size=BS)
    cached = await cache.open("v", 4 * BS)
    await cached.write_blocks(0, b"a" * BS)
    await cached.write_blocks(2 * BS, b"c" * BS)
    with pytest.raises(LookupError):
        await cached.read(BS, 1)
    with pytest.raises(LookupError):  # one absent block in the middle of the range
        await cached.read(0, 3 * BS)
    assert await cached.read(2 * BS, BS) == b"c" * BS
    with pytest.raises(LookupError):
        await cached.md5()  # incomplete
    await cached.close()


async def test_blocks_persist_into_the_next_mount(tmp_path: Path) -> None:
    data = content(5 * BS + 7, seed=1)
    first = ContentCache(tmp_path, budget=1 << 20, block_size=BS)
    cached = await first.open("photo@1", len(data))
    await cached.write_blocks(0, data[: 2 * BS])
    await cached.write_blocks(4 * BS, data[4 * BS :])
    await cached.close()
    await first.close()

    second = ContentCache(tmp_path, budget=1 << 20, block_size=BS)
    assert second.used_bytes == 3 * BS + 7  # counted by the startup scan, before any open
    cached = await second.open("photo@1", len(data))
    assert cached.missing_runs(0, 5) == [(2, 3)]
    assert await cached.read(0, 2 * BS) == data[: 2 * BS]
    assert await cached.read(4 * BS, 2 * BS) == data[4 * BS :]
    await cached.close()
    await second.close()


async def test_cache_close_saves_the_maps_of_open_files(tmp_path: Path) -> None:
    data = content(2 * BS)
    first = ContentCache(tmp_path, budget=1 << 20, block_size=BS)
    cached = await first.open("v", len(data))
    await cached.write_blocks(0, data)
    await first.close()  # unmount while the file is still open
    with pytest.raises(ValueError, match="closed"):
        await cached.read(0, 1)
    await cached.close()  # a late close does nothing
    with pytest.raises(ValueError, match="closed"):
        await first.open("v", len(data))

    second = ContentCache(tmp_path, budget=1 << 20, block_size=BS)
    cached = await second.open("v", len(data))
    assert await cached.read(0, len(data)) == data
    await cached.close()


async def test_map_is_saved_while_writing_so_a_crash_loses_little(tmp_path: Path) -> None:
    block_size = 128 * 1024
    chunk = 1024 * 1024
    size = cached_file.PERSIST_EVERY + 4 * chunk
    data = content(size, seed=2)
    first = ContentCache(tmp_path, budget=1 << 30, block_size=block_size)
    cached = await first.open("video", size)
    for offset in range(0, cached_file.PERSIST_EVERY + chunk, chunk):
        await cached.write_blocks(offset, data[offset : offset + chunk])

    # A crash: neither close() ran. The next mount still finds what the periodic save recorded.
    second = ContentCache(tmp_path, budget=1 << 30, block_size=block_size)
    assert second.used_bytes >= cached_file.PERSIST_EVERY
    reopened = await second.open("video", size)
    assert reopened is not cached
    present = cached_file.PERSIST_EVERY
    assert await reopened.read(0, present) == data[:present]
    await reopened.close()
    await second.close()
    await first.close()


async def test_map_made_for_another_size_is_ignored(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path, budget=1 << 20, block_size=BS)
    await fill(cache, "v", content(4 * BS))
    assert cache.used_bytes == 4 * BS
    cached = await cache.open("v", 3 * BS)
    assert cached.missing_runs(0, 2) == [(0, 2)]
    assert cache.used_bytes == 0
    with pytest.raises(LookupError):
        await cached.read(0, 1)
    await cached.close()
    await cache.close()


async def test_maps_made_with_another_block_size_are_dropped_at_startup(tmp_path: Path) -> None:
    first = ContentCache(tmp_path, budget=1 << 20, block_size=BS)
    await fill(first, "v", content(4 * BS))
    await first.close()
    second = ContentCache(tmp_path, budget=1 << 20, block_size=2 * BS)
    assert second.used_bytes == 0
    assert names_in(tmp_path) == []


async def test_startup_removes_orphans_but_leaves_foreign_files(tmp_path: Path) -> None:
    first = ContentCache(tmp_path, budget=1 << 20, block_size=BS)
    await fill(first, "kept", content(2 * BS))
    await first.close()
    orphan_data = tmp_path / (key_of("no map") + ".data")
    orphan_data.write_bytes(b"x" * BS)
    orphan_map = tmp_path / (key_of("no data") + ".map")
    orphan_map.write_bytes((tmp_path / (key_of("kept") + ".map")).read_bytes())
    leftover_tmp = tmp_path / (key_of("kept") + ".map.tmp")
    leftover_tmp.write_bytes(b"half a map")
    broken = key_of("broken")
    (tmp_path / (broken + ".data")).write_bytes(b"y" * BS)
    (tmp_path / (broken + ".map")).write_bytes(b"garbage")
    foreign = tmp_path / "README"
    foreign.write_text("not ours")

    second = ContentCache(tmp_path, budget=1 << 20, block_size=BS)
    assert second.used_bytes == 2 * BS
    assert names_in(tmp_path) == sorted(
        ["README", key_of("kept") + ".data", key_of("kept") + ".map"]
    )


async def test_a_truncated_data_file_invalidates_its_map(tmp_path: Path) -> None:
    data = content(4 * BS)
    first = ContentCache(tmp_path, budget=1 << 20, block_size=BS)
    await fill(first, "v", data)
    await first.close()
    os.truncate(tmp_path / (key_of("v") + ".data"), BS)
    second = ContentCache(tmp_path, budget=1 << 20, block_size=BS)
    assert second.used_bytes == 0
    cached = await second.open("v", len(data))
    assert cached.missing_runs(0, 3) == [(0, 3)]
    await cached.close()


async def test_eviction_takes_the_least_recently_used_unpinned_file(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path, budget=3 * BS, block_size=BS)
    for version in ("a", "b", "c"):
        await fill(cache, version, content(BS))
    assert cache.used_bytes == 3 * BS

    # Use "a" again: "b" becomes the least recently used.
    cached_a = await cache.open("a", BS)
    await cached_a.read(0, BS)
    await cached_a.close()

    await fill(cache, "d", content(BS))
    assert cache.used_bytes == 3 * BS
    assert not (tmp_path / (key_of("b") + ".data")).exists()
    assert not (tmp_path / (key_of("b") + ".map")).exists()
    for version in ("a", "c", "d"):
        assert (tmp_path / (key_of(version) + ".data")).exists()

    # "c" is now the least recently used, but pinned: "a" goes instead.
    pinned = await cache.open("c", BS)
    await fill(cache, "e", content(BS))
    assert (tmp_path / (key_of("c") + ".data")).exists()
    assert not (tmp_path / (key_of("a") + ".data")).exists()
    assert await pinned.read(0, BS) == content(BS)
    await pinned.close()
    await cache.close()


async def test_budget_may_be_exceeded_only_while_everything_is_pinned(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path, budget=2 * BS, block_size=BS)
    one = await cache.open("one", 2 * BS)
    two = await cache.open("two", 2 * BS)
    await one.write_blocks(0, bytes(2 * BS))
    await two.write_blocks(0, bytes(2 * BS))
    assert cache.used_bytes == 4 * BS  # both pinned: nothing can go
    assert one.complete
    assert two.complete
    await one.close()  # "one" is now unpinned and the least recently used
    assert cache.used_bytes == 2 * BS
    assert not (tmp_path / (key_of("one") + ".data")).exists()
    assert two.complete
    await two.close()
    assert cache.used_bytes == 2 * BS
    await cache.close()


async def test_budget_smaller_than_a_block_evicts_at_close(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path, budget=10, block_size=BS)
    cached = await cache.open("v", 3 * BS)
    await cached.write_blocks(0, content(3 * BS))
    assert cached.complete  # pinned, so kept while open
    assert await cached.read(0, 10) == content(3 * BS)[:10]
    await cached.close()
    assert cache.used_bytes == 0
    assert names_in(tmp_path) == []


async def test_two_opens_share_one_pinned_object(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path, budget=10, block_size=BS)
    first = await cache.open("v", 2 * BS)
    second = await cache.open("v", 2 * BS)
    assert first is second
    with pytest.raises(ValueError, match="size"):
        await cache.open("v", 3 * BS)
    await first.write_blocks(0, bytes(2 * BS))
    await first.close()
    assert second.complete  # one pin left: not evicted
    assert cache.used_bytes == 2 * BS
    await second.close()
    assert cache.used_bytes == 0
    with pytest.raises(ValueError, match="closed"):
        await second.read(0, 1)


async def test_budget_is_enforced_at_startup(tmp_path: Path) -> None:
    first = ContentCache(tmp_path, budget=1 << 20, block_size=BS)
    for version in ("old", "middle", "new"):
        await fill(first, version, content(2 * BS))
    await first.close()
    # The last use recorded on disk (the data file's mtime) decides what goes first.
    for age, version in enumerate(("new", "middle", "old")):
        stamp = 1_700_000_000 - age * 100
        os.utime(tmp_path / (key_of(version) + ".data"), (stamp, stamp))

    second = ContentCache(tmp_path, budget=5 * BS, block_size=BS)
    assert second.used_bytes == 4 * BS
    assert not (tmp_path / (key_of("old") + ".data")).exists()
    assert not (tmp_path / (key_of("old") + ".map")).exists()
    assert (tmp_path / (key_of("middle") + ".data")).exists()
    assert (tmp_path / (key_of("new") + ".data")).exists()


async def test_discard_forgets_every_block_and_keeps_the_pin(tmp_path: Path) -> None:
    data = content(3 * BS + 1)
    cache = ContentCache(tmp_path, budget=BS, block_size=BS)
    cached = await cache.open("v", len(data))
    await cached.write_blocks(0, data)
    await cached.discard()
    assert not cached.complete
    assert cached.missing_runs(0, 3) == [(0, 3)]
    assert cache.used_bytes == 0
    with pytest.raises(LookupError):
        await cached.read(0, 1)
    assert os.stat(tmp_path / (key_of("v") + ".data")).st_size == 0

    # Still pinned and usable: fetch again.
    await cached.write_blocks(0, data)
    assert await cached.read(0, len(data)) == data
    assert cache.used_bytes == len(data)  # over the budget, but pinned
    await cached.close()
    assert cache.used_bytes == 0


async def test_discarded_blocks_stay_forgotten_in_the_next_mount(tmp_path: Path) -> None:
    data = content(2 * BS)
    first = ContentCache(tmp_path, budget=1 << 20, block_size=BS)
    cached = await first.open("v", len(data))
    await cached.write_blocks(0, data)
    await cached._persist()  # a map on disk that names both blocks
    await cached.discard()
    # The last block is fetched again, which makes the data file full length once more.
    await cached.write_blocks(BS, data[BS:])
    # A crash here: the next mount must not believe the old map, which named block 0 too.
    second = ContentCache(tmp_path, budget=1 << 20, block_size=BS)
    assert second.used_bytes == 0
    await first.close()


async def test_md5_of_complete_content(tmp_path: Path) -> None:
    data = content(5 * 1024 * 1024 + 3, seed=3)  # more than one hashing chunk
    cache = ContentCache(tmp_path, budget=1 << 30, block_size=128 * 1024)
    cached = await cache.open("v", len(data))
    await cached.write_blocks(0, data)
    assert await cached.md5() == hashlib.md5(data).hexdigest()
    await cached.close()

    empty = await cache.open("empty", 0)
    assert empty.complete
    assert await empty.md5() == hashlib.md5(b"").hexdigest()
    await empty.close()


async def test_misaligned_or_oversized_writes_are_rejected(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path, budget=1 << 20, block_size=BS)
    cached = await cache.open("v", 3 * BS + 10)
    with pytest.raises(ValueError, match="multiple"):
        await cached.write_blocks(1, bytes(BS))
    with pytest.raises(ValueError, match="multiple"):
        await cached.write_blocks(-BS, bytes(BS))
    with pytest.raises(ValueError, match="whole blocks"):
        await cached.write_blocks(0, bytes(BS + 1))
    with pytest.raises(ValueError, match="past the end"):
        await cached.write_blocks(3 * BS, bytes(BS))
    with pytest.raises(ValueError, match="past the end"):
        await cached.write_blocks(4 * BS, bytes(BS))
    assert cache.used_bytes == 0
    assert cached.missing_runs(0, 3) == [(0, 3)]
    await cached.close()


async def test_bad_budgets_and_sizes_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="budget"):
        ContentCache(tmp_path, budget=0)
    with pytest.raises(ValueError, match="budget"):
        ContentCache(tmp_path, budget=-1)
    with pytest.raises(ValueError, match="block size"):
        ContentCache(tmp_path, budget=1, block_size=0)
    cache = ContentCache(tmp_path, budget=1)
    with pytest.raises(ValueError, match="size"):
        await cache.open("v", -1)


async def test_directory_is_private(tmp_path: Path) -> None:
    directory = tmp_path / "deep" / "cache"
    ContentCache(directory, budget=1 << 20)
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    ContentCache(loose, budget=1 << 20)
    assert stat.S_IMODE(os.stat(loose).st_mode) == 0o700


async def test_concurrent_writers_and_readers_keep_content_right(tmp_path: Path) -> None:
    blocks = 64
    data = content(blocks * BS - 300, seed=4)
    cache = ContentCache(tmp_path, budget=1 << 20, block_size=BS)
    cached = await cache.open("v", len(data))
    reads = 0

    async def writer(seed: int) -> None:
        order = list(range(blocks))
        random.Random(seed).shuffle(order)
        for block in order:
            # Runs of one to three blocks, overlapping what other writers store.
            last = min(block + random.Random(seed + block).randint(0, 2), blocks - 1)
            await cached.write_blocks(block * BS, data[block * BS : (last + 1) * BS])

    async def reader(seed: int) -> None:
        nonlocal reads
        rng = random.Random(seed)
        while not cached.complete:
            offset = rng.randrange(len(data))
            length = rng.randint(1, 3 * BS)
            try:
                got = await cached.read(offset, length)
            except LookupError:
                await trio.lowlevel.checkpoint()
                continue
            assert got == data[offset : offset + length]
            reads += 1

    async with trio.open_nursery() as nursery:
        for seed in range(4):
            nursery.start_soon(reader, 100 + seed)
        for seed in range(6):
            nursery.start_soon(writer, seed)

    assert cached.complete
    assert cache.used_bytes == len(data)
    assert await cached.read(0, len(data)) == data
    assert await cached.md5() == hashlib.md5(data).hexdigest()
    assert reads > 0
    await cached.close()


async def test_a_block_is_present_only_once_its_bytes_are_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = threading.Event()
    release = threading.Event()
    real_write = cache_disk.write_parts

    def slow_write(fd: int, parts: Sequence[memoryview], offset: int, direct: int | None) -> None:
        started.set()
        release.wait(timeout=10)
        real_write(fd, parts, offset, direct)

    monkeypatch.setattr(cache_disk, "write_parts", slow_write)
    data = content(2 * BS, seed=9)
    cache = ContentCache(tmp_path, budget=1 << 20, block_size=BS)
    cached = await cache.open("v", len(data))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(cached.write_blocks, 0, data)
        try:
            await trio.to_thread.run_sync(started.wait, 10)
            # The bytes are on their way to disk but not there yet.
            assert not cached.has(0)
            assert cache.used_bytes == 0
            with pytest.raises(LookupError):
                await cached.read(0, 1)
        finally:
            release.set()
    assert await cached.read(0, len(data)) == data

    # A discard that completes while a write is under way: that write vouches for nothing.
    await cached.discard()
    started.clear()
    release.clear()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(cached.write_blocks, 0, data)
        try:
            await trio.to_thread.run_sync(started.wait, 10)
            await cached.discard()
        finally:
            release.set()
    assert cached.missing_runs(0, 1) == [(0, 1)]
    assert cache.used_bytes == 0
    await cached.close()


async def test_a_read_under_way_during_a_discard_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = threading.Event()
    release = threading.Event()
    real_read = cache_disk.read_into

    def slow_read(fd: int, buffer: memoryview, offset: int, ahead: int = 0) -> int:
        started.set()
        release.wait(timeout=10)
        return real_read(fd, buffer, offset, ahead)

    def not_in_page_cache(fd: int, buffer: memoryview, offset: int) -> int:
        return 0

    monkeypatch.setattr(cache_disk, "read_into", slow_read)
    # Only reads done in a worker thread (bytes not in the page cache) can be overtaken by a
    # discard.
    monkeypatch.setattr(cache_disk, "read_cached", not_in_page_cache)
    data = content(2 * BS, seed=10)
    cache = ContentCache(tmp_path, budget=1 << 20, block_size=BS)
    cached = await cache.open("v", len(data))
    # Written from a buffer that may change, so it is not kept in memory: the read goes to disk.
    await cached.write_blocks(0, bytearray(data))
    outcome: list[bytes | memoryview | Exception] = []

    async def reader() -> None:
        try:
            outcome.append(await cached.read(0, len(data)))
        except LookupError as exc:
            outcome.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        try:
            await trio.to_thread.run_sync(started.wait, 10)
            await cached.discard()  # truncates the data file under the read
            # ...and a refetch makes it full length again, with a hole where block 0 was.
            await cached.write_blocks(BS, data[BS:])
        finally:
            release.set()
    assert len(outcome) == 1
    assert isinstance(outcome[0], LookupError)
    await cached.close()


async def test_concurrent_opens_and_closes_of_one_version(tmp_path: Path) -> None:
    data = content(4 * BS, seed=5)
    cache = ContentCache(tmp_path, budget=BS, block_size=BS)

    async def user(index: int) -> None:
        cached = await cache.open("v", len(data))
        try:
            block = index % 4
            await cached.write_blocks(block * BS, data[block * BS : (block + 1) * BS])
            assert await cached.read(block * BS, BS) == data[block * BS : (block + 1) * BS]
        finally:
            await cached.close()

    async with trio.open_nursery() as nursery:
        for index in range(20):
            nursery.start_soon(user, index)
    assert cache._open == {}
    assert cache.used_bytes <= cache.budget


async def test_discard_during_writes_never_exposes_lost_bytes(tmp_path: Path) -> None:
    data = content(32 * BS, seed=6)
    cache = ContentCache(tmp_path, budget=1 << 20, block_size=BS)
    cached = await cache.open("v", len(data))

    async def writer() -> None:
        for block in range(32):
            await cached.write_blocks(block * BS, data[block * BS : (block + 1) * BS])

    async def discarder() -> None:
        for _ in range(5):
            await trio.lowlevel.checkpoint()
            await cached.discard()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        nursery.start_soon(writer)
        nursery.start_soon(discarder)

    # Whatever survived is readable and right.
    for block in range(32):
        if cached.has(block):
            assert await cached.read(block * BS, BS) == data[block * BS : (block + 1) * BS]
    present = sum(cached.has(block) for block in range(32))
    assert cache.used_bytes == present * BS
    await cached.close()


async def test_large_sparse_file_uses_little_disk_and_memory(tmp_path: Path) -> None:
    size = 3 * 1024**3 + 12_345
    block_size = 128 * 1024
    first_block = content(block_size, seed=7)
    last_block = content(size % block_size, seed=8)
    cache = ContentCache(tmp_path, budget=1 << 40, block_size=block_size)

    tracemalloc.start()
    try:
        cached = await cache.open("big video", size)
        last = cached.block_count() - 1
        await cached.write_blocks(0, first_block)
        await cached.write_blocks(last * block_size, last_block)
        assert cached.missing_runs(0, last) == [(1, last - 1)]
        assert await cached.read(size - 10, 100) == last_block[-10:]
        await cached.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The blocks written pass through memory once; nothing scales with the 3 GiB size.
    assert peak < 2 * 1024 * 1024

    data_file = os.stat(tmp_path / (key_of("big video") + ".data"))
    assert data_file.st_size == size
    assert data_file.st_blocks * 512 < 4 * block_size
    assert os.stat(tmp_path / (key_of("big video") + ".map")).st_size < 4096
    assert cache.used_bytes == block_size + len(last_block)
    await cache.close()


async def test_bytes_just_written_are_read_without_a_copy_until_discarded(tmp_path: Path) -> None:
    data = content(4 * BS, seed=12)
    cache = ContentCache(tmp_path, budget=1 << 20, block_size=BS)
    cached = await cache.open("v", len(data))
    await cached.write_blocks(0, data)
    got = await cached.read(BS + 3, BS)
    assert isinstance(got, memoryview)
    assert got.readonly
    assert got == data[BS + 3 : 2 * BS + 3]
    # A buffer that may change is never handed out later: it is read back from the file.
    mutable = bytearray(content(4 * BS, seed=13))
    other = await cache.open("w", len(mutable))
    await other.write_blocks(0, mutable)
    expected = bytes(mutable)
    mutable[:] = bytes(len(mutable))
    assert await other.read(0, len(expected)) == expected
    # After a discard nothing is answered from memory.
    await cached.discard()
    with pytest.raises(LookupError):
        await cached.read(0, BS)
    await cached.close()
    await other.close()


async def test_a_complete_file_is_moved_in_whole_and_kept_across_mounts(tmp_path: Path) -> None:
    data = content(5 * BS + 17, seed=9)
    staged = tmp_path / "staged"
    staged.write_bytes(data)
    directory = tmp_path / "cache"
    cache = ContentCache(directory, budget=1 << 20, block_size=BS)
    assert await cache.adopt("v1", len(data), staged)
    assert not staged.exists()  # moved, not copied
    assert cache.used_bytes == len(data)
    cached = await cache.open("v1", len(data))
    assert cached.complete
    assert await cached.read(0, len(data)) == data
    # An open (or already cached) version is never replaced underneath its readers.
    other = tmp_path / "other"
    other.write_bytes(data)
    assert not await cache.adopt("v1", len(data), other)
    assert other.exists()
    await cached.close()
    await cache.close()

    again = ContentCache(directory, budget=1 << 20, block_size=BS)
    reopened = await again.open("v1", len(data))
    assert reopened.complete
    assert await reopened.read(BS, 2 * BS) == data[BS : 3 * BS]
    await reopened.close()
    # A file of another length than it claims is left where it is, and nothing is cached.
    short = tmp_path / "short"
    short.write_bytes(data[:10])
    assert not await again.adopt("v2", len(data), short)
    assert short.exists()
    assert again.used_bytes == len(data)
    await again.close()
