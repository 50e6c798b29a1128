"""The conditions the emulated service runs under, and what it counts.

`Settings` are the knobs set by command-line flags and changeable at run time through
`POST /emulator/config`: latency per request, a cost per listed item, a cost per new connection
(its handshakes), bandwidth per connection and for all connections together, a rate of injected
faults (429, 500, 503, dropped connections, truncated bodies, answers lost after a request ran),
Range support of the media server, a listing delay for eventual consistency, a rate-limit budget,
and uploads held unanswered (so a client's queue is surely still pending while it is looked at).
`Faults` draws injected faults from a seeded generator so a run can be reproduced. `RateLimiter`
keeps each caller's budget, `Connections` tells the requests that open a connection, and
`Stats` counts requests by endpoint, connections opened and media bytes sent.
"""

from __future__ import annotations

import collections
import dataclasses
import random
import re
import time
from typing import Any

FAULT_KINDS = ("429", "500", "503", "drop", "truncate", "gateway", "malformed")


@dataclasses.dataclass
class Settings:
    """How the service behaves; every field can be changed while it runs."""

    latency_ms: float = 0.0
    item_cost_ms: float = 0.0
    # What a new connection costs before its first request is served: a real service's TCP and
    # TLS handshakes, a round trip each.
    connect_ms: float = 0.0
    # Megabits a second for each connection and for all together (0: unlimited); bandwidth.py.
    bandwidth_mbps: float = 0.0
    link_mbps: float = 0.0
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    range_enabled: bool = True
    # While true, an upload is received but neither stored nor answered (app.py bounds the hold).
    uploads_held: bool = False
    listing_delay_ms: float = 0.0
    rate_limit: int = 100_000
    rate_window_s: float = 3600.0
    # None (the default) draws faults from the OS's entropy; a number makes a run reproducible.
    seed: int | None = None

    def public(self) -> dict[str, Any]:
        """The settings as JSON."""
        out = dataclasses.asdict(self)
        out["fault_kinds"] = list(self.fault_kinds)
        return out

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a `POST /emulator/config` body; unknown keys or bad values raise ValueError
        and change nothing, not even the valid settings sent with them."""
        candidate = dataclasses.replace(self)
        candidate._apply(changes)
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(candidate, field.name))

    def _apply(self, changes: dict[str, Any]) -> None:
        fields = {f.name: f for f in dataclasses.fields(self)}
        for key, value in changes.items():
            if key not in fields:
                raise ValueError(f"unknown setting {key!r}")
            if key == "fault_kinds":
                kinds = tuple(value if isinstance(value, list) else str(value).split(","))
                if not set(kinds) <= set(FAULT_KINDS):
                    raise ValueError(f"fault kinds are {', '.join(FAULT_KINDS)}")
                self.fault_kinds = kinds
            elif key in ("range_enabled", "uploads_held"):
                if isinstance(value, str):
                    # "false" is false, as a flag in a shell script would mean it.
                    text = value.strip().lower()
                    if text not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                        raise ValueError(f"{key} is true or false")
                    value = text in ("true", "1", "yes", "on")
                setattr(self, key, bool(value))
            elif key == "seed":
                self.seed = None if value is None else int(value)
            elif key == "rate_limit":
                self.rate_limit = int(value)
            else:
                number = float(value)
                if number < 0 or (key == "fault_rate" and number > 1):
                    raise ValueError(f"{key} out of range")
                setattr(self, key, number)


class Faults:
    """Which requests get an injected fault: a seeded draw per request."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._rng = random.Random(settings.seed)
        self._seed = settings.seed

    def draw(self) -> str | None:
        """The fault for the next request, or None."""
        settings = self.settings
        if self._seed != settings.seed:
            self._rng = random.Random(settings.seed)
            self._seed = settings.seed
        if settings.fault_rate <= 0 or not settings.fault_kinds:
            return None
        if self._rng.random() >= settings.fault_rate:
            return None
        return self._rng.choice(settings.fault_kinds)


class RateLimited(Exception):
    """A caller has spent its budget; `retry_after` seconds until the window ends."""

    def __init__(self, retry_after: int, reset: int) -> None:
        super().__init__("rate limited")
        self.retry_after = retry_after
        self.reset = reset


class RateLimiter:
    """A fixed-window request budget per caller (user and application, or application)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._windows: dict[str, tuple[float, int]] = {}

    def spend(self, caller: str) -> tuple[int, int]:
        """Count one request; returns (remaining, reset epoch) or raises RateLimited."""
        now = time.time()
        window = self.settings.rate_window_s
        start, used = self._windows.get(caller, (now, 0))
        if now - start >= window:
            start, used = now, 0
        reset = int(start + window)
        if used >= self.settings.rate_limit:
            raise RateLimited(max(1, int(reset - now + 0.999)), reset)
        used += 1
        self._windows[caller] = (start, used)
        return self.settings.rate_limit - used, reset


class Connections:
    """Which requests come on a connection not seen before, told by the client's address and
    port (an ASGI server names no connection otherwise). The latest `most` addresses are
    remembered: a port is used again only long after its connection has closed."""

    def __init__(self, most: int = 65_536) -> None:
        self._most = most
        self._seen: collections.OrderedDict[object, None] = collections.OrderedDict()

    def is_new(self, client: object) -> bool:
        """Whether `client` (an ASGI scope's `client`) opened its connection with this request."""
        if client is None:
            return False
        key = tuple(client) if isinstance(client, list) else client
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self._most:
            self._seen.popitem(last=False)
        return True


# A media URL whose size segment is a JPEG rendition: not `D`/`O` (the original) and not a
# number (a video's MP4 rendition).
_RENDITION = re.compile(r"/i-[^/]+/\d+/[^/]+/(?!(?:D|O|\d+)/)[^/]+/[^/]+$")
_KEYED = re.compile(r"/(user|node|album|image|folder|video)/[^/!?]+")


def endpoint_of(path: str) -> str:
    """A request path with its keys replaced, so that counts group by endpoint."""
    if path.startswith("/photos/"):
        return "/photos"
    if path.startswith("/upload"):
        return "/upload"
    return _KEYED.sub(lambda m: f"/{m.group(1)}/{{key}}", path)


class Stats:
    """What the service has served since the last reset."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start counting from zero."""
        self.total = 0
        self.connections = 0
        self.by_endpoint: collections.Counter[str] = collections.Counter()
        # The same by object (keys kept), so a count can name the directory it is about
        # whoever else asked for other ones.
        self.by_path: collections.Counter[str] = collections.Counter()
        self.faults: collections.Counter[str] = collections.Counter()
        self.media_bytes = 0
        self.media_requests = 0
        self.original_bytes = 0
        self.rendition_bytes = 0
        self.rendition_requests = 0
        self.upload_bytes = 0
        self.started = time.time()

    def count(self, method: str, path: str) -> None:
        """Count one request."""
        self.total += 1
        self.by_endpoint[f"{method} {endpoint_of(path)}"] += 1
        self.by_path[f"{method} {path}"] += 1

    def count_media_request(self, path: str) -> None:
        """Count one request for a media URL."""
        self.media_requests += 1
        if _RENDITION.search(path):
            self.rendition_requests += 1

    def count_media(self, path: str, sent: int) -> None:
        """Count `sent` bytes of the media URL `path`: a photo's original or a video's MP4
        (what a file holds), or a JPEG rendition (`Ti` ... `5K`); `media_bytes` is both."""
        self.media_bytes += sent
        if _RENDITION.search(path):
            self.rendition_bytes += sent
        else:
            self.original_bytes += sent

    def public(self) -> dict[str, Any]:
        """The counters as JSON."""
        return {
            "total": self.total,
            "connections": self.connections,
            "by_endpoint": dict(self.by_endpoint),
            "by_path": dict(self.by_path),
            "faults": dict(self.faults),
            "media_bytes": self.media_bytes,
            "media_requests": self.media_requests,
            "original_bytes": self.original_bytes,
            "rendition_bytes": self.rendition_bytes,
            "rendition_requests": self.rendition_requests,
            "upload_bytes": self.upload_bytes,
            "since": self.started,
        }
