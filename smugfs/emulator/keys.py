"""Fresh keys and credentials for the emulated service's records.

Object keys (node ids, album and image keys) come from a seeded generator so a data directory
repeats its keys given the same seed; API keys, tokens, secrets and verifiers come from the OS's
secure source unless the run is reproducible (a seed was given), as tests ask for.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Container

from smugfs.emulator import naming


class KeyMaker:
    """Draws keys not yet taken, reproducibly for a seeded run."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        # Object keys come from `_rng`; credentials (`new_credential`, `new_secret`,
        # `new_digits`) from the OS's secure source unless a seed asks for a reproducible run.
        self._rng = random.Random(seed)

    def reseed(self, generation: int, nodes: int, images: int) -> None:
        """Start the key sequence of a new generation of a data directory (seeded runs only),
        so keys made after a restart never repeat those made before it."""
        if self.seed is not None:
            self._rng = random.Random(f"{self.seed}/{generation}/{nodes}/{images}")

    @property
    def reproducible(self) -> bool:
        """Whether a seed was given: then credentials repeat from run to run, for tests."""
        return self.seed is not None

    def new_key(self, length: int, taken: Container[str]) -> str:
        """A fresh object key of `length` characters not in `taken`."""
        while True:
            key = naming.make_key(self._rng, length)
            if key not in taken:
                return key

    def new_credential(self, length: int, taken: Container[str]) -> str:
        """A fresh API key or token of `length` characters not in `taken`: unpredictable
        (the `secrets` module) unless the run is reproducible."""
        while True:
            if self.reproducible:
                key = naming.make_key(self._rng, length)
            else:
                key = "".join(secrets.choice(naming.KEY_ALPHABET) for _ in range(length))
            if key not in taken:
                return key

    def _draw(self, alphabet: str, count: int) -> str:
        if self.reproducible:
            return "".join(self._rng.choice(alphabet) for _ in range(count))
        return "".join(secrets.choice(alphabet) for _ in range(count))

    def new_digits(self, count: int) -> str:
        """A string of `count` decimal digits (OAuth verifiers, the PIN a user types in)."""
        return self._draw("0123456789", count)

    def new_secret(self) -> str:
        """A secret for an API key or token (hex, 32 characters)."""
        return self._draw("0123456789abcdef", 32)
