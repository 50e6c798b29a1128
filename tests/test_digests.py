"""The MD5 of a staged file computed while it is written, in a thread of its own."""

from __future__ import annotations

import hashlib
import random

import pytest

from smugfs import digests
from smugfs.digests import RunningDigest


def pieces(seed: int, count: int, size: int) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(size) for _ in range(count)]


async def test_bytes_written_in_order_give_the_md5_of_the_whole_file() -> None:
    parts = pieces(1, 20, 100_003)
    digest = RunningDigest()
    offset = 0
    for part in parts:
        await digest.wrote(offset, part, len(part))
        offset += len(part)
    whole = b"".join(parts)
    assert await digest.hexdigest(len(whole)) == hashlib.md5(whole).hexdigest()
    # Asked for another length (a file extended past what was written): not known.
    assert await digest.hexdigest(len(whole) + 1) is None


async def test_a_write_out_of_order_or_cut_short_loses_the_digest() -> None:
    first, second = pieces(2, 2, 4096)
    out_of_order = RunningDigest()
    await out_of_order.wrote(0, first, len(first))
    await out_of_order.wrote(len(first) + 10, second, len(second))
    assert await out_of_order.hexdigest(len(first)) is None
    # Later writes in order do not bring it back.
    await out_of_order.wrote(len(first), second, len(second))
    assert await out_of_order.hexdigest(len(first) + len(second)) is None

    short = RunningDigest()
    await short.wrote(0, first, len(first) - 1)
    assert await short.hexdigest(len(first) - 1) is None


async def test_a_writer_far_ahead_of_the_hashing_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(digests, "MAX_BEHIND", 3 * 1000)
    parts = pieces(3, 50, 1000)
    digest = RunningDigest()
    for n, part in enumerate(parts):
        await digest.wrote(n * 1000, part, len(part))
        # Never more than MAX_BEHIND bytes wait (the last write may add one piece).
        assert digest.behind <= 3 * 1000
    whole = b"".join(parts)
    assert await digest.hexdigest(len(whole)) == hashlib.md5(whole).hexdigest()
