"""Telling a person's browsing from a walk, and the photo budget (pure logic, a fake clock)."""

from __future__ import annotations

from smugfs.thumbnails.attention import Attention


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_of_directory_reads_is_a_walk_and_calm_ends_it() -> None:
    clock = Clock()
    attention = Attention(walk_reads=3, walk_window=2.0, clock=clock)
    for inode in (1, 2, 3):
        attention.read(inode)
        clock.now += 0.1
    assert not attention.walking
    # The same directory read again is still a person (a file manager reloading it).
    attention.read(3)
    assert not attention.walking
    attention.read(4)
    assert attention.walking
    clock.now += 2.5
    assert not attention.walking


def test_the_budget_caps_photos_per_window() -> None:
    clock = Clock()
    attention = Attention(budget_photos=100, budget_window=60.0, clock=clock)
    assert attention.spend(60)
    assert not attention.spend(50)
    assert attention.spend(40)
    assert not attention.spend(1)
    clock.now += 61
    assert attention.spend(100)
