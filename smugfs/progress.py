"""The progress a command shows while it follows a mount (`smugfs sync`, `unmount`, `thumbnails`).

On a terminal it is a tqdm bar; anywhere else (a pipe, a log, a service's journal) a bar would
be a stream of carriage returns, so it is a plain line every `PLAIN_EVERY` seconds instead,
with the rate since the start and the time left at that rate.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import Any, TextIO

from tqdm import tqdm

PLAIN_EVERY = 5.0


class Progress:
    """How far a wait has come: `done` of `total` units, as a bar or as a line now and then."""

    def __init__(self, out: TextIO, *, unit: str, in_bytes: bool = False) -> None:
        self.out = out
        self.started = time.monotonic()
        self._last_line = 0.0
        self.bar: tqdm[Any] | None = None
        if out.isatty():
            # A terminal that reports no size (0 by 0) still gets a bar 80 wide.
            size = shutil.get_terminal_size()
            self.bar = tqdm(
                file=out,
                unit=unit,
                unit_scale=in_bytes,
                unit_divisor=1024,
                leave=True,
                ncols=size.columns,
                nrows=size.lines,
            )

    def show(
        self,
        done: float,
        total: float | None,
        *,
        label: str,
        line: Callable[[float, str], str],
        postfix: str = "",
        final: bool = False,
    ) -> None:
        """Bring the bar up to date (`label` before it, `postfix` after it, no total while
        it is None), or print `line(rate, time_left)` unless one was printed less than
        `PLAIN_EVERY` seconds ago and this is not the `final` report. `rate` is units a
        second since the start; `time_left` is ", about N s left", or "" when unknown."""
        if self.bar is not None:
            self.bar.total = total
            self.bar.n = done
            self.bar.set_description(label, refresh=False)
            if postfix:
                self.bar.set_postfix_str(postfix, refresh=False)
            self.bar.refresh()
            return
        now = time.monotonic()
        if now - self._last_line < PLAIN_EVERY and not final:
            return
        self._last_line = now
        rate = done / max(now - self.started, 1e-6)
        left = (total or 0) - done
        time_left = f", about {left / rate:.0f} s left" if rate > 0 and left > 0 else ""
        print(line(rate, time_left), file=self.out, flush=True)

    def close(self) -> None:
        """End the bar."""
        if self.bar is not None:
            self.bar.close()
