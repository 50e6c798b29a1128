"""Series of measured values, their medians, running real tools with a time bound, and the
machine they were measured on."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")
MIB = 1024 * 1024
GIB = 1024 * MIB
TOOL_TIMEOUT = 600


@dataclasses.dataclass
class Series:
    """The values of one measurement over the runs."""

    unit: str
    values: list[float] = dataclasses.field(default_factory=list)

    @property
    def median(self) -> float:
        """The median of the runs (NaN before the first)."""
        return statistics.median(self.values) if self.values else float("nan")


class Results:
    """Every series of the run, by name, in the order they were first recorded."""

    def __init__(self) -> None:
        self.series: dict[str, Series] = {}
        self.notes: list[str] = []

    def add(self, name: str, value: float, unit: str) -> None:
        """Record one run's value."""
        self.series.setdefault(name, Series(unit)).values.append(value)
        print(f"    {name}: {value:.4g} {unit}", flush=True)

    def median(self, name: str) -> float:
        """The median of a series (NaN if it was never measured)."""
        found = self.series.get(name)
        return found.median if found is not None else float("nan")

    def runs(self, name: str) -> int:
        """How many values a series holds."""
        found = self.series.get(name)
        return len(found.values) if found is not None else 0

    def runs_of(self, workload: str) -> int:
        """How many runs a workload made (its most-filled series)."""
        return max(
            (len(s.values) for name, s in self.series.items() if name.startswith(workload + " ")),
            default=0,
        )

    def note(self, text: str) -> None:
        """Something the report must say (a skipped column, a bound that was hit)."""
        self.notes.append(text)
        print(f"  note: {text}", flush=True)


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN rather than an error when the denominator is 0."""
    return numerator / denominator if denominator else float("nan")


def alternate(rep: int, names: list[str]) -> list[str]:
    """The order of the contenders in run `rep`: the order rotates every run, so that none
    always goes first."""
    shift = rep % len(names)
    return names[shift:] + names[:shift]


def timed(action: Callable[..., T], *args: Any) -> tuple[float, T]:
    """Wall seconds of `action(*args)` and what it returned."""
    start = time.perf_counter()
    value = action(*args)
    return time.perf_counter() - start, value


def each(action: Callable[[T], object], items: Iterable[T], ways: int) -> None:
    """`action` on every item, `ways` at once in threads (one after another for 1), as that
    many copies of a tool would."""
    if ways <= 1:
        for item in items:
            action(item)
        return
    with concurrent.futures.ThreadPoolExecutor(ways) as pool:
        list(pool.map(action, items))


def run_tool(
    command: list[str],
    *,
    capture: bool = False,
    timeout: float = TOOL_TIMEOUT,
    env: dict[str, str] | None = None,
) -> str:
    """Run a real tool (dd, curl, ls, find, cp) to completion; its output if `capture`.
    `env` adds to the environment."""
    completed = subprocess.run(
        command,
        env={**os.environ, **env} if env else None,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({completed.returncode}): {completed.stderr}")
    return completed.stdout or ""


def dd_read(path: str) -> None:
    """Read a file sequentially in 1 MiB requests, as `dd bs=1M` does."""
    run_tool(["dd", f"if={path}", "of=/dev/null", "bs=1M", "status=none"])


class Budget:
    """How long a workload may keep adding runs: at least `least` runs, at most `most`, and no
    new run once `seconds` have passed (a slow contender costs runs, not the whole budget)."""

    def __init__(self, least: int, most: int, seconds: float) -> None:
        self.least, self.most, self.seconds = least, most, seconds
        self.start = time.monotonic()

    def more(self, done: int) -> bool:
        """Whether to start run number `done + 1`."""
        if done < self.least:
            return True
        return done < self.most and time.monotonic() - self.start < self.seconds


def machine() -> str:
    """CPUs, memory and load of this machine, recorded next to benchmark figures."""
    memory = "?"
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return f"{os.cpu_count()} CPUs, {memory} memory, load average {os.getloadavg()[0]:.1f}"
