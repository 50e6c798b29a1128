"""A random-operation checker of one file, in the manner of fsx: writes, truncates, reads,
fsyncs and reopens drawn from a seeded generator, each checked against a model of what the
file must hold.

The model is a `bytearray` changed the same way as the file. Every read, and the whole file at
every reopen and at the end, must equal it; the first difference is reported with the
operations that led to it, so a failure can be replayed from its seed. Bytes below `floor`
are never written or cut (a photo keeps the first bytes that make it one).
"""

from __future__ import annotations

import dataclasses
import os
import random
from pathlib import Path

# How the operations are drawn: weights of each kind.
WEIGHTS = {
    "write": 40,
    "append": 8,
    "read": 30,
    "truncate": 10,
    "stat": 5,
    "fsync": 4,
    "reopen": 3,
}


@dataclasses.dataclass
class Corruption(AssertionError):
    """What the file held that the model did not, and the operations before it."""

    where: str
    offset: int
    expected: bytes
    found: bytes
    history: list[str]

    def __str__(self) -> str:
        recent = "\n  ".join(self.history[-25:])
        return (
            f"{self.where}: first difference at byte {self.offset}: expected "
            f"{self.expected.hex()}, found {self.found.hex()}\n  last operations:\n  {recent}"
        )


@dataclasses.dataclass
class Report:
    """What a run did."""

    operations: int
    counts: dict[str, int]
    reads_checked: int
    bytes_checked: int


def first_difference(expected: bytes, found: bytes) -> int:
    """The first offset where two byte strings differ (the shorter's length if one is a
    prefix of the other)."""
    for index, (a, b) in enumerate(zip(expected, found, strict=False)):
        if a != b:
            return index
    return min(len(expected), len(found))


class RandomFile:
    """One file under test, opened read-write, and its model."""

    def __init__(self, path: Path, start: bytes, *, seed: int, max_size: int, max_op: int) -> None:
        self.path = path
        self.rng = random.Random(seed)
        self.max_size = max_size
        self.max_op = max_op
        self.floor = len(start)
        self.model = bytearray(start)
        self.history: list[str] = [f"seed {seed}, start with {len(start)} bytes"]
        self.counts = dict.fromkeys(WEIGHTS, 0)
        self.reads_checked = 0
        self.bytes_checked = 0
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        os.pwrite(self.fd, start, 0)

    def run(self, operations: int) -> Report:
        """Do `operations` random operations, then close and check the whole file."""
        kinds = list(WEIGHTS)
        weights = [WEIGHTS[k] for k in kinds]
        for number in range(operations):
            kind = self.rng.choices(kinds, weights)[0]
            self.counts[kind] += 1
            getattr(self, f"_{kind}")(number)
        self.close()
        return Report(operations, self.counts, self.reads_checked, self.bytes_checked)

    def close(self) -> None:
        """Close the file and check all of it through a fresh descriptor."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.check_whole("after close")

    def check_whole(self, where: str) -> None:
        """The whole file, read through a new descriptor, equals the model."""
        found = self.path.read_bytes()
        self._compare(where, 0, bytes(self.model), found)

    # ------------------------------------------------------------------ operations

    def _span(self, limit: int) -> tuple[int, int]:
        offset = self.rng.randrange(self.floor, max(self.floor + 1, limit))
        length = self.rng.randrange(1, self.max_op + 1)
        return offset, length

    def _write(self, number: int) -> None:
        offset, length = self._span(self.max_size - 1)
        length = min(length, self.max_size - offset)
        data = self.rng.randbytes(length)
        written = os.pwrite(self.fd, data, offset)
        self.history.append(f"{number}: write {offset}+{length}")
        if written != length:
            raise AssertionError(f"short write: {written} of {length} at {offset}")
        if offset > len(self.model):
            self.model.extend(bytes(offset - len(self.model)))
        self.model[offset : offset + length] = data

    def _append(self, number: int) -> None:
        """A write at or just past the end (as most writers write), leaving a small hole."""
        offset = min(len(self.model) + self.rng.randrange(0, 64), self.max_size - 1)
        length = max(1, min(self.rng.randrange(1, self.max_op + 1), self.max_size - offset))
        data = self.rng.randbytes(length)
        os.pwrite(self.fd, data, offset)
        self.history.append(f"{number}: append {offset}+{length}")
        if offset > len(self.model):
            self.model.extend(bytes(offset - len(self.model)))
        self.model[offset : offset + length] = data

    def _read(self, number: int) -> None:
        offset, length = self._span(len(self.model) + 1024)
        found = os.pread(self.fd, length, offset)
        self.history.append(f"{number}: read {offset}+{length}")
        expected = bytes(self.model[offset : offset + length])
        self._compare(f"read at operation {number}", offset, expected, found)

    def _truncate(self, number: int) -> None:
        size = self.rng.randrange(self.floor, self.max_size)
        os.ftruncate(self.fd, size)
        self.history.append(f"{number}: truncate to {size}")
        if size < len(self.model):
            del self.model[size:]
        else:
            self.model.extend(bytes(size - len(self.model)))
        if os.fstat(self.fd).st_size != size:
            raise AssertionError(f"operation {number}: size after truncate is not {size}")

    def _fsync(self, number: int) -> None:
        os.fsync(self.fd)
        self.history.append(f"{number}: fsync")

    def _stat(self, number: int) -> None:
        """What `fstat` says of the size equals the model's length."""
        size = os.fstat(self.fd).st_size
        self.history.append(f"{number}: fstat")
        if size != len(self.model):
            raise AssertionError(
                f"operation {number}: stat says {size} bytes, the model holds {len(self.model)}"
            )

    def _reopen(self, number: int) -> None:
        os.close(self.fd)
        self.history.append(f"{number}: close and reopen")
        self.check_whole(f"reopen at operation {number}")
        self.fd = os.open(self.path, os.O_RDWR)

    def _compare(self, where: str, offset: int, expected: bytes, found: bytes) -> None:
        self.reads_checked += 1
        self.bytes_checked += len(found)
        if expected != found:
            at = first_difference(expected, found)
            raise Corruption(
                where,
                offset + at,
                expected[at : at + 16],
                found[at : at + 16],
                self.history,
            )
