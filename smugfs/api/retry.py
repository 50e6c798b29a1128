"""The one retry policy: how often a failed attempt is tried again, and how long to wait first.

An attempt is any awaitable that either returns, raises an error that is final, or raises
`Retry` to say that another attempt may succeed. `RetryPolicy.run` tries at most
`retries + 1` times; a `Retry` that says the request may already have been applied is tried
again only for requests that are safe to repeat. Between attempts it waits an exponential,
jittered delay, or the time the service asked for. When the attempts are spent (or repeating is
not safe) the last `Retry` becomes the domain error it names, so nothing but `smugfs.errors`
leaves the loop.

Which answers of the service are worth another attempt is the transport's table
(`transport.RETRYABLE_STATUS`); this module only knows attempts and delays.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

from smugfs.errors import ServiceUnavailable, SmugfsError

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_RETRY_DELAY = 30.0


class Retry(Exception):
    """Raised by an attempt that failed in a way another attempt may mend.

    `applied`: the request may have taken effect although its answer was lost, so it is sent
    again only if it is safe to repeat. `wait`: the seconds the service asked to wait.
    `final`: the domain error this becomes once no attempt is left.
    """

    def __init__(
        self,
        why: str,
        *,
        applied: bool = False,
        wait: float | None = None,
        final: type[SmugfsError] = ServiceUnavailable,
    ) -> None:
        super().__init__(why)
        self.why = why
        self.applied = applied
        self.wait = wait
        self.final = final


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """At most `retries + 1` attempts, waiting `first_delay` doubling (up to `max_delay`,
    jittered by half either way) between them."""

    retries: int
    first_delay: float = 0.25
    max_delay: float = MAX_RETRY_DELAY

    def delay(self, attempt: int, asked: float | None) -> float:
        """Seconds to wait after failed attempt number `attempt` (from 0)."""
        if asked is not None:
            return min(self.max_delay, max(0.0, asked))
        return min(self.max_delay, self.first_delay * 2.0**attempt) * (0.5 + random.random())

    async def run(
        self,
        what: str,
        attempt: Callable[[], Awaitable[T]],
        *,
        idempotent: bool = True,
        on_retry: Callable[[Retry], None] | None = None,
    ) -> T:
        """The result of the first attempt that succeeds; the final error otherwise."""
        retries = max(0, self.retries)
        for number in range(retries + 1):
            try:
                return await attempt()
            except Retry as exc:
                if number == retries or (exc.applied and not idempotent):
                    tries = f" after {number + 1} attempts" if number else ""
                    raise exc.final(f"{what}: {exc.why}{tries}") from exc
                if on_retry is not None:
                    on_retry(exc)
                delay = self.delay(number, exc.wait)
                log.info("%s: %s; retrying in %.1f s", what, exc.why, delay)
                await trio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover
