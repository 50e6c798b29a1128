"""Remote names become legal, distinct, stable file names, and back."""

from __future__ import annotations

import random

import pytest

from smugfs.names import MAX_NAME_BYTES, Named, assign_names, escape, unescape


@pytest.mark.parametrize(
    "remote",
    [
        "Lisbon",
        "5/6 Lax vs Scarsdale",
        "a/b/c",
        "nul\x00inside",
        "\uff0f already fullwidth",
        "\u201b quote",
        "\u201b/\uff0f\u2400\x00",
        ".",
        "..",
        "...",
        "",
    ],
)
def test_escape_is_legal_and_reversible(remote: str) -> None:
    local = escape(remote)
    assert "/" not in local
    assert "\x00" not in local
    assert local not in (".", "..")
    assert unescape(local) == remote


def test_escape_round_trips_random_names() -> None:
    rng = random.Random(7)
    alphabet = ["a", "/", "\x00", "\uff0f", "\u2400", "\u201b", ".", " "]
    for _ in range(2000):
        remote = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        assert unescape(escape(remote)) == remote


def test_distinct_remote_names_stay_distinct_after_escaping() -> None:
    assert escape("a/b") != escape("a\uff0fb")


def test_duplicates_get_distinct_names_whatever_the_listing_order() -> None:
    items = [
        Named("IMG_0001.JPG", "KeyBBBB", age=200.0),
        Named("IMG_0001.JPG", "KeyAAAA", age=100.0),
        Named("IMG_0002.JPG", "KeyCCCC", age=50.0),
    ]
    names = assign_names(items)
    assert names == ["IMG_0001 (KeyBBBB).JPG", "IMG_0001.JPG", "IMG_0002.JPG"]
    reordered = assign_names(list(reversed(items)))
    assert dict(zip([i.key for i in reversed(items)], reordered, strict=True)) == dict(
        zip([i.key for i in items], names, strict=True)
    )


def test_a_suffixed_name_never_collides_with_a_real_one() -> None:
    items = [
        Named("a.jpg", "K1", age=1.0),
        Named("a.jpg", "K2", age=2.0),
        Named("a (K2).jpg", "K3", age=3.0),
    ]
    names = assign_names(items)
    assert len(set(names)) == 3


def test_empty_names_use_the_fallback_then_the_key() -> None:
    assert assign_names([Named("", "K1", fallback="UrlName"), Named("", "K2")]) == [
        "UrlName",
        "K2",
    ]


def test_long_names_fit_the_limit_and_keep_their_extension() -> None:
    long = "x" * 400 + ".jpeg"
    names = assign_names([Named(long, "K1", age=1.0), Named(long, "K2", age=2.0)])
    for name in names:
        assert len(name.encode()) <= MAX_NAME_BYTES
        assert name.endswith(".jpeg")
    assert names[0] != names[1]
