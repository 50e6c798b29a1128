"""The `smugfs` command line: argument parsing and the subcommands."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

import platformdirs

from smugfs import __version__


def _emulator_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)"
    )
    parser.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="keep the service's state in DIR (default: a temporary directory)",
    )
    parser.add_argument(
        "--sample", action="store_true", help="start with the built-in sample library"
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="delay every request by this many milliseconds",
    )
    parser.add_argument(
        "--item-cost-ms",
        type=float,
        default=0.0,
        help="extra milliseconds per item a listing returns",
    )
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        help="fraction of requests (0-1) answered with an injected fault",
    )
    parser.add_argument(
        "--fault-kinds",
        default="429,500,503,drop,truncate",
        help="which faults to inject (comma-separated)",
    )
    parser.add_argument(
        "--listing-delay-ms",
        type=float,
        default=0.0,
        help="new images appear in listings (and deleted ones leave them) only after this delay",
    )
    parser.add_argument(
        "--rate-limit", type=int, default=100_000, help="requests per caller per window before 429"
    )
    parser.add_argument(
        "--rate-window", type=float, default=3600.0, help="rate-limit window in seconds"
    )
    parser.add_argument(
        "--no-range", action="store_true", help="the media server ignores HTTP Range requests"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for keys and injected faults (reproducible runs)"
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        metavar="PATH",
        help="once listening, write the SMUGFS_* variables here",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="smugfs", description="Mount a SmugMug photo account as a filesystem."
    )
    parser.add_argument("--version", action="version", version=f"smugfs {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    emulator = sub.add_parser(
        "emulator",
        help="serve a SmugMug API v2 emulator on 127.0.0.1",
        description="Serve a SmugMug API v2 emulator on 127.0.0.1.",
    )
    _emulator_args(emulator)

    demo = sub.add_parser(
        "demo",
        help="serve the built-in sample library and mount it",
        description="Serve the built-in sample library (kept in your data "
        "directory) and mount it at MOUNTPOINT.",
    )
    demo.add_argument("mountpoint", type=Path, metavar="MOUNTPOINT")
    demo.add_argument("--port", type=int, default=0, help="emulator port (default: a free one)")
    demo.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="where the demo library lives (default: your data directory)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "emulator":
        return _run_emulator(args)
    if args.command == "demo":
        return _run_demo(args)
    return 2  # pragma: no cover - argparse rejects unknown commands


def _run_emulator(args: argparse.Namespace) -> int:
    from smugfs.emulator.conditions import Settings
    from smugfs.emulator.server import serve

    settings = Settings(
        latency_ms=args.latency_ms,
        item_cost_ms=args.item_cost_ms,
        fault_rate=args.fault_rate,
        fault_kinds=tuple(k for k in args.fault_kinds.split(",") if k),
        range_enabled=not args.no_range,
        listing_delay_ms=args.listing_delay_ms,
        rate_limit=args.rate_limit,
        rate_window_s=args.rate_window,
        seed=args.seed,
    )
    try:
        settings.update(
            {"fault_kinds": list(settings.fault_kinds), "fault_rate": settings.fault_rate}
        )
    except ValueError as exc:
        print(f"smugfs emulator: {exc}", file=sys.stderr)
        return 2
    try:
        serve(
            port=args.port,
            data_dir=args.data,
            with_sample=args.sample,
            settings=settings,
            env_file=args.env_file,
        )
    except OSError as exc:
        print(f"smugfs emulator: cannot serve on port {args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from smugfs.emulator.conditions import Settings
    from smugfs.emulator.server import serve

    data_dir = args.data or Path(platformdirs.user_data_dir("smugfs")) / "demo"
    print(
        f"smugfs demo: the sample library is served below; mounting at {args.mountpoint} "
        "is not available in this version yet.",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        serve(
            port=args.port, data_dir=data_dir, with_sample=True, settings=Settings(), env_file=None
        )
    return 0
