"""The network models the workloads run under: bare loopback and a home link to the service.

A model is what the emulator is told through `/emulator/config`: a latency for each request, a
cost for each listed item, a cost for each new connection (its TCP and TLS handshakes), and
bandwidth for each connection and for all of them together. Any workload runs under one with
`under(emulator, model)`; series measured under a model other than loopback carry its `key` in
their names (`series`).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

from smugfs.testing.emulator import Emulator


@dataclasses.dataclass(frozen=True)
class Network:
    """How far the service is: per request, per listed item, and how fast its bytes come."""

    key: str
    latency_ms: float = 0.0
    item_cost_ms: float = 0.0
    connect_ms: float = 0.0
    bandwidth_mbps: float = 0.0
    link_mbps: float = 0.0

    def settings(self) -> dict[str, Any]:
        """The emulator's settings for this model."""
        return {
            "latency_ms": self.latency_ms,
            "item_cost_ms": self.item_cost_ms,
            "connect_ms": self.connect_ms,
            "bandwidth_mbps": self.bandwidth_mbps,
            "link_mbps": self.link_mbps,
        }

    def describe(self) -> str:
        """The model in words, for tables and notes."""
        if self == LOOPBACK:
            return "loopback"
        return (
            f"{self.key}: {self.latency_ms:g} ms a request, {self.item_cost_ms:g} ms a listed "
            f"item, {self.connect_ms:g} ms a new connection, {_rate(self.bandwidth_mbps)} a "
            f"connection, {_rate(self.link_mbps)} in all"
        )


def _rate(mbps: float) -> str:
    return f"{mbps:g} Mbit/s" if mbps > 0 else "unlimited"


LOOPBACK = Network("loopback")
# A home link to the service: a round trip, the server's time per listed item, a new
# connection's TCP and TLS 1.3 handshakes (a round trip each), what one TCP connection gets
# across the distance and what the household's line carries.
HOME_LINK = Network(
    "home",
    latency_ms=80.0,
    item_cost_ms=25.0,
    connect_ms=160.0,
    bandwidth_mbps=40.0,
    link_mbps=400.0,
)


@contextlib.contextmanager
def under(emulator: Emulator, network: Network) -> Iterator[None]:
    """The emulator serves under `network` for the block's duration, then on bare loopback."""
    emulator.configure(**network.settings())
    try:
        yield
    finally:
        emulator.configure(**LOOPBACK.settings())


def series(name: str, network: Network) -> str:
    """A series name for `network`: the plain name on loopback, `NAME @KEY` otherwise."""
    return name if network == LOOPBACK else f"{name} @{network.key}"
