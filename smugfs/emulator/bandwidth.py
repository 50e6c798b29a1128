"""Bandwidth: the emulated service's bytes take the time a real link would give them.

Two rates, both in megabits a second and both optional (0: unlimited): `bandwidth_mbps` for each
connection and `link_mbps` for all connections together. They shape the bodies of media, API and
upload requests in both directions, each direction on its own (a link is full duplex).

Every direction of the link and of each request keeps a virtual clock, the moment the bytes given
to it so far will have passed. A slice of a body waits until both its connection's and the link's
clocks have moved past it, so a connection alone gets its own rate and many connections share the
link's in turn, a slice each (small slices keep that sharing fair and the pace smooth). An HTTP/1.1
connection carries one request at a time, so a request's clock is its connection's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# Bytes paced as one step: 64 KiB at 40 Mbit/s is 13 ms, at 400 Mbit/s 1.3 ms; smaller steps
# would share the link more finely but cost the emulator more CPU.
SLICE = 64 * 1024
# Waits shorter than this are carried over to the next slice instead of slept (a sleep of
# microseconds costs more than it keeps in step).
MIN_SLEEP = 0.002
BITS_PER_MEGABIT = 1_000_000


class Rates(Protocol):
    """Where the rates are read, at every slice (so a change at run time applies at once)."""

    bandwidth_mbps: float
    link_mbps: float


def bytes_per_second(mbps: float) -> float:
    """A rate in Mbit/s as bytes a second (0 stays 0: unlimited)."""
    return mbps * BITS_PER_MEGABIT / 8


class Clock:
    """When the bytes given to one direction of a connection or of the link will have passed."""

    def __init__(self) -> None:
        self.free_at = 0.0

    def take(self, size: int, rate: float, now: float) -> float:
        """Reserve the time `size` bytes take at `rate` bytes a second; when they will have
        passed. An idle clock earns no credit: it starts from now."""
        self.free_at = max(now, self.free_at) + size / rate
        return self.free_at


class Link:
    """The link all connections share, one clock for each direction."""

    def __init__(self, rates: Rates) -> None:
        self.rates = rates
        self.down = Clock()
        self.up = Clock()

    @property
    def limited(self) -> bool:
        """Whether any rate is set now."""
        return self.rates.bandwidth_mbps > 0 or self.rates.link_mbps > 0

    def connection(self) -> Connection:
        """The pacing of one request on its connection."""
        return Connection(self)


class Connection:
    """One request's bytes on the link: its response body down, its request body up."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.down = Clock()
        self.up = Clock()

    async def carry(self, size: int, own: Clock, shared: Clock) -> None:
        """Wait until `size` more bytes have passed this connection and the link."""
        rates = self.link.rates
        own_rate = bytes_per_second(rates.bandwidth_mbps)
        link_rate = bytes_per_second(rates.link_mbps)
        now = time.monotonic()
        due = now
        if own_rate > 0:
            due = max(due, own.take(size, own_rate, now))
        if link_rate > 0:
            due = max(due, shared.take(size, link_rate, now))
        if due - now >= MIN_SLEEP:
            await asyncio.sleep(due - now)

    def send(self, send: Send) -> Send:
        """`send` with response bodies paced down the link, in slices."""

        async def paced(message: Message) -> None:
            body = message.get("body", b"")
            if message["type"] != "http.response.body" or not body or not self.link.limited:
                await send(message)
                return
            more = message.get("more_body", False)
            view = memoryview(body)
            for start in range(0, len(view), SLICE):
                piece = view[start : start + SLICE]
                await self.carry(len(piece), self.down, self.link.down)
                last = start + SLICE >= len(view)
                await send(
                    {
                        "type": "http.response.body",
                        "body": bytes(piece),
                        "more_body": more or not last,
                    }
                )

        return paced

    def receive(self, receive: Receive) -> Receive:
        """`receive` with request bodies paced up the link: the server reads no faster than
        the link delivers, so a sender is held back by its socket filling."""

        async def paced() -> Message:
            message = await receive()
            body = message.get("body", b"")
            if message["type"] == "http.request" and body and self.link.limited:
                for start in range(0, len(body), SLICE):
                    size = min(SLICE, len(body) - start)
                    await self.carry(size, self.up, self.link.up)
            return message

        return paced
