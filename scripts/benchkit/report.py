"""The benchmark's verdicts: a table for the terminal, a JSON record and docs/benchmarks.md.

Each row sets one smugfs figure next to its baseline from the same run, their ratio and the
issue's target. The markdown replaces only what lies between the `bench:begin`/`bench:end`
markers of docs/benchmarks.md, so the hand-written analysis around it stays.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchkit.measure import Results, ratio
from benchkit.workloads import Plan

BEGIN = "<!-- bench:begin (made by scripts/bench --write-docs; edit around it) -->"
END = "<!-- bench:end -->"


@dataclasses.dataclass
class Row:
    """One verdict: smugfs's figure, its baseline, their ratio against the target."""

    workload: str
    smugfs: str
    baseline: str
    ratio: float
    target: str
    # The ratio must be at least (">=") or at most ("<=") this for the target to be met;
    # anything else: a figure stated without a target.
    sense: str
    threshold: float

    @property
    def met(self) -> bool | None:
        """Whether the target is met (None: not measured)."""
        if math.isnan(self.ratio) or self.sense not in (">=", "<="):
            return None
        return self.ratio >= self.threshold if self.sense == ">=" else self.ratio <= self.threshold

    @property
    def verdict(self) -> str:
        """`met`, `NOT met` or `-`."""
        return {True: "met", False: "NOT met", None: "-"}[self.met]

    @property
    def score(self) -> float:
        """How far the target is met: 1.0 just met, above better, below not met."""
        if math.isnan(self.ratio) or self.ratio == 0 or self.met is None:
            return float("nan")
        if self.sense == ">=":
            return self.ratio / self.threshold
        return self.threshold / self.ratio


def _f(value: float, unit: str, digits: int = 0) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f} {unit}".strip()


def rows(
    out: Results, plan: Plan, more: Sequence[Callable[[Results, Plan], list[Row]]] = ()
) -> list[Row]:
    """The verdicts of the workloads that ran, then those of each of `more` (the verdicts of
    workloads kept in modules of their own)."""
    m = out.median
    size = plan.spec.large
    result: list[Row] = []
    cold = m("read smugfs cold")
    if out.runs("read smugfs cold"):
        read = f"cold read of a {size:,} MiB original (loopback)"
        result += [
            Row(
                read,
                _f(cold, "MiB/s"),
                f"curl {_f(m('read curl'), 'MiB/s')}, httpx {_f(m('read httpx'), 'MiB/s')}",
                ratio(cold, m("read curl")),
                ">= 0.5x curl",
                ">=",
                0.5,
            ),
            Row(
                read,
                _f(cold, "MiB/s"),
                f"rclone mount {_f(m('read rclone cold'), 'MiB/s')}",
                ratio(cold, m("read rclone cold")),
                ">= 1.5x rclone",
                ">=",
                1.5,
            ),
            Row(
                read,
                _f(cold, "MiB/s"),
                f"pyfuse3 passthrough of tmpfs {_f(m('read passthrough'), 'MiB/s')}",
                ratio(cold, m("read passthrough")),
                ">= 0.9x passthrough",
                ">=",
                0.9,
            ),
            Row(
                "warm re-read of the same file",
                _f(m("read smugfs warm"), "MiB/s"),
                f"local file (page cache) {_f(m('read local warm'), 'MiB/s')}",
                ratio(m("read smugfs warm"), m("read local warm")),
                ">= 0.8x local",
                ">=",
                0.8,
            ),
        ]
    home = f"read smugfs @{plan.home.key}"
    if out.runs(home):
        result.append(
            Row(
                f"cold read of the first {plan.home_read_mib} MiB of the original, home link",
                _f(m(home), "MiB/s", 1),
                f"curl {_f(m(f'read curl @{plan.home.key}'), 'MiB/s', 1)}",
                ratio(m(home), m(f"read curl @{plan.home.key}")),
                ">= 0.8x curl",
                ">=",
                0.8,
            )
        )
    if out.runs("thumbs smugfs"):
        thumbs = f"first {plan.thumb_kib} KiB of {plan.thumbs:,} photos"
        result += [
            Row(
                thumbs,
                f"{_f(m('thumbs smugfs fetched'), 'MiB', 1)} fetched",
                f"{_f(m('thumbs read'), 'MiB', 1)} read (rclone fetched "
                f"{_f(m('thumbs rclone fetched'), 'MiB', 1)})",
                ratio(m("thumbs smugfs fetched"), m("thumbs read")),
                "fetched <= 2x read",
                "<=",
                2.0,
            ),
            Row(
                thumbs,
                _f(m("thumbs smugfs"), "s", 2),
                f"rclone mount "
                f"{_f(m('thumbs rclone'), 's', 2)} (ranged GETs {_f(m('thumbs direct'), 's', 2)})",
                ratio(m("thumbs smugfs"), m("thumbs rclone")),
                "faster than rclone (< 1x)",
                "<=",
                1.0,
            ),
        ]
    if out.runs("ls smugfs cold"):
        ls = f"`ls -l` of a {plan.spec.album:,}-image album, home link"
        result += [
            Row(
                f"cold {ls}",
                _f(m("ls smugfs cold"), "s", 2),
                f"direct x{8} {_f(m('ls direct'), 's', 2)} (one page at a time "
                f"{_f(m('ls sequential'), 's', 1)})",
                ratio(m("ls smugfs cold"), m("ls direct")),
                "<= 1.3x direct",
                "<=",
                1.3,
            ),
            Row(
                f"warm {ls}",
                _f(1000 * m("ls smugfs warm"), "ms"),
                "50 ms",
                ratio(m("ls smugfs warm"), 0.05),
                "<= 50 ms",
                "<=",
                1.0,
            ),
            Row(
                f"{ls} after a remount",
                _f(1000 * m("ls smugfs remount"), "ms"),
                f"round trip {plan.latency_ms:g} ms",
                ratio(1000 * m("ls smugfs remount"), plan.latency_ms),
                "about one round trip (<= 2)",
                "<=",
                2.0,
            ),
        ]
    if out.runs("ls smugfs cold loopback"):
        result.append(
            Row(
                f"cold `ls -l` of a {plan.spec.album:,}-image album, loopback",
                _f(m("ls smugfs cold loopback"), "s", 2),
                f"direct x8 {_f(m('ls direct loopback'), 's', 2)}",
                ratio(m("ls smugfs cold loopback"), m("ls direct loopback")),
                "stated",
                "",
                0.0,
            )
        )
    if out.runs("tree smugfs cold"):
        result.append(
            Row(
                f"cold `find` of {plan.spec.tree:,} albums, home link",
                ("at least " if out.runs("tree smugfs stopped") else "")
                + _f(m("tree smugfs cold"), "s", 1),
                f"direct walk x8 {_f(m('tree direct'), 's', 1)} (depth x round trip "
                f"{_f(m('tree ideal'), 's', 2)})",
                ratio(m("tree smugfs cold"), m("tree direct")),
                "<= 1.3x the direct walk",
                "<=",
                1.3,
            )
        )
    if out.runs("copy smugfs"):
        copy = f"`cp` of {plan.copies} photos of {plan.copy_mib} MiB"
        w = plan.writers
        result += [
            Row(
                copy,
                _f(m("copy smugfs"), "MiB/s"),
                f"httpx {_f(m('copy httpx'), 'MiB/s')}, curl {_f(m('copy curl'), 'MiB/s')}, "
                f"smugcli {_f(m('copy smugcli'), 'MiB/s')}",
                ratio(m("copy smugfs"), m("copy httpx")),
                ">= 0.8x httpx",
                ">=",
                0.8,
            ),
            Row(
                f"{copy}, {w} writers",
                _f(m(f"copy smugfs x{w}"), "MiB/s"),
                f"1 writer {_f(m('copy smugfs'), 'MiB/s')} (httpx x{w} "
                f"{_f(m(f'copy httpx x{w}'), 'MiB/s')})",
                ratio(m(f"copy smugfs x{w}"), m("copy smugfs")),
                "writers scale (>= 1.5x)",
                ">=",
                1.5,
            ),
        ]
    if out.runs("video smugfs peak"):
        result.append(
            Row(
                f"peak memory reading a {plan.spec.video:,} MiB video",
                _f(m("video smugfs peak"), "MiB"),
                f"rclone {_f(m('video rclone peak'), 'MiB')}",
                ratio(m("video smugfs peak"), 150),
                "<= 150 MiB",
                "<=",
                1.0,
            )
        )
    if out.runs("wide smugfs peak"):
        result.append(
            Row(
                f"peak memory listing {plan.spec.wide:,} images",
                _f(m("wide smugfs peak"), "MiB"),
                "150 MiB",
                ratio(m("wide smugfs peak"), 150),
                "<= 150 MiB",
                "<=",
                1.0,
            )
        )
    # The cold read's figures (medians over its runs); the big video's when only it ran.
    source = "read" if out.runs("read smugfs cpu") else "video"
    cpu = m(f"{source} smugfs cpu")
    if not math.isnan(cpu):
        baseline = f"rclone {_f(m(f'{source} rclone cpu'), 's', 2)}"
        if source == "read":
            baseline += f" (pyfuse3 passthrough {_f(m('read passthrough cpu'), 's', 2)})"
        result.append(
            Row(
                f"CPU seconds per GiB read ({'cold read' if source == 'read' else 'the video'})",
                _f(cpu, "s", 2),
                baseline,
                ratio(cpu, m(f"{source} rclone cpu")),
                "stated, compared with rclone",
                "",
                0.0,
            )
        )
    for extra in more:
        result += extra(out, plan)
    return result


def table(result: list[Row]) -> str:
    """The rows as a plain-text table for the terminal."""
    header = ("#", "workload", "smugfs", "baseline (same run)", "ratio", "target", "")
    lines = [header] + [
        (str(n), r.workload, r.smugfs, r.baseline, f"{r.ratio:.2f}", r.target, r.verdict)
        for n, r in enumerate(result, 1)
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def markdown(result: list[Row], meta: dict[str, Any]) -> str:
    """The generated part of docs/benchmarks.md: set-up, table, chart and notes."""
    lines = [
        BEGIN,
        "",
        f"Measured {meta['date']} on {meta['machine']}; code `{meta['code']}`; "
        f"{meta['mode']} mode, {meta['runs']}; network {meta['wan']}. "
        f"Library: `{meta['spec']}`. Total time {meta['seconds']:.0f} s ("
        + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in meta["took"].items())
        + ").",
        "",
        "| # | workload | smugfs | baseline (same run) | ratio | target | |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, r in enumerate(result, 1):
        lines.append(
            f"| {n} | {r.workload} | {r.smugfs} | {r.baseline} | {r.ratio:.2f} | {r.target} | "
            f"{'**' + r.verdict + '**' if r.met is False else r.verdict} |"
        )
    charted = [
        (n, r)
        for n, r in enumerate(result, 1)
        if not math.isnan(r.score) and not math.isinf(r.score)
    ]
    if charted:
        lines += [
            "",
            "How far each target is met (the figure over what the target asks, so 1.0 is just "
            "met and higher is better; the row numbers are the table's):",
            "",
            "```mermaid",
            "xychart-beta",
            '    title "smugfs against its targets (1.0 = target)"',
            "    x-axis [" + ", ".join(f'"{n}"' for n, _ in charted) + "]",
            '    y-axis "score" 0 --> '
            f"{max(2.0, math.ceil(max(min(r.score, 10) for _, r in charted)))}",
            "    bar [" + ", ".join(f"{min(r.score, 10):.2f}" for _, r in charted) + "]",
            "    line [" + ", ".join("1" for _ in charted) + "]",
            "```",
        ]
    if meta.get("notes"):
        lines += ["", "Notes from the run:", ""] + [f"- {note}" for note in meta["notes"]]
    lines += ["", END]
    return "\n".join(lines)


def write_docs(path: Path, generated: str) -> None:
    """Replace the generated part of `path` (or append it if the markers are missing)."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        before = text.split(BEGIN, 1)[0]
        after = text.split(END, 1)[1]
        text = before + generated + after
    else:
        text = text.rstrip("\n") + "\n\n" + generated + "\n"
    path.write_text(text, encoding="utf-8")


def record(out: Results, result: list[Row], meta: dict[str, Any]) -> dict[str, Any]:
    """Everything measured, as JSON-ready data."""
    return {
        "meta": meta,
        "rows": [
            {
                **dataclasses.asdict(r),
                "met": r.met,
                "ratio": None if math.isnan(r.ratio) else r.ratio,
            }
            for r in result
        ],
        "series": {
            name: {"unit": s.unit, "median": s.median, "values": s.values}
            for name, s in out.series.items()
        },
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    """The record as a JSON file (NaN written as null)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(data), indent=2) + "\n", encoding="utf-8")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
