"""The `smugfs` command line: argument parsing and the subcommands."""

from __future__ import annotations

import argparse
import logging
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import platformdirs

from smugfs import __version__
from smugfs.emulator.conditions import FAULT_KINDS
from smugfs.emulator.conditions import Settings as EmulatorSettings

# The service conditions `smugfs emulator` takes as numbers: each sets the field of the
# emulator's Settings it names, whose default it keeps (flag, field, type, metavar, help).
_CONDITIONS: tuple[tuple[str, str, type, str, str], ...] = (
    ("--latency-ms", "latency_ms", float, "N", "delay every request by N milliseconds"),
    (
        "--item-cost-ms",
        "item_cost_ms",
        float,
        "N",
        "N milliseconds more for each item a listing returns",
    ),
    (
        "--connect-ms",
        "connect_ms",
        float,
        "N",
        "delay the first request of every new connection by N milliseconds more (handshakes)",
    ),
    (
        "--bandwidth-mbps",
        "bandwidth_mbps",
        float,
        "N",
        "megabits a second each connection carries, each way (0: unlimited)",
    ),
    (
        "--link-mbps",
        "link_mbps",
        float,
        "N",
        "megabits a second all connections together carry, each way (0: unlimited)",
    ),
    (
        "--fault-rate",
        "fault_rate",
        float,
        "F",
        "fraction of requests (0-1) answered with an injected fault",
    ),
    (
        "--listing-delay-ms",
        "listing_delay_ms",
        float,
        "N",
        "new images appear in listings (and deleted ones leave them) only N milliseconds "
        "after the change",
    ),
    (
        "--rate-limit",
        "rate_limit",
        int,
        "N",
        "requests a caller may send in a window before the answer is 429",
    ),
    ("--rate-window", "rate_window_s", float, "S", "the rate limit's window in seconds"),
    (
        "--seed",
        "seed",
        int,
        "N",
        "seed for keys, credentials and injected faults (a reproducible run; without it "
        "tokens, secrets and verifiers come from a secure random source)",
    ),
)


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
        "--generate",
        metavar="SPEC",
        help="start with a generated benchmark library, e.g. 'large=1024,photos=1000' "
        "(fields large, video (MiB), photos, album, tree, wide, seed; see docs/emulator.md)",
    )
    defaults = EmulatorSettings()
    for flag, field, kind, metavar, help in _CONDITIONS:
        parser.add_argument(
            flag,
            dest=field,
            type=kind,
            default=getattr(defaults, field),
            metavar=metavar,
            help=help,
        )
    parser.add_argument(
        "--fault-kinds",
        default=",".join(FAULT_KINDS),
        metavar="KINDS",
        help=f"which faults to inject, comma-separated (default: all of {','.join(FAULT_KINDS)})",
    )
    parser.add_argument(
        "--no-range", action="store_true", help="the media server ignores HTTP Range requests"
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        metavar="PATH",
        help="once listening, write the SMUGFS_* variables here",
    )


def add_options_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """`-o OPTIONS`, which may be given more than once (`option_items` reads them)."""
    parser.add_argument(
        "-o", dest="options", action="append", default=[], metavar="OPTIONS", help=help
    )


def option_items(values: Sequence[str]) -> list[str]:
    """The `name[=value]` items of `-o` values, each a comma-separated list."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _mount_args(parser: argparse.ArgumentParser) -> None:
    """What `mount` and `demo` share after MOUNTPOINT."""
    parser.add_argument(
        "-f",
        "--foreground",
        action="store_true",
        help="stay in the foreground (default: run in the background)",
    )
    add_options_argument(
        parser,
        "mount options, comma-separated: ro, allow_other, xattrs, noxattrs, sidecars, "
        "writeback, "
        "uploads=N, nick=NICK, cache_dir=DIR, "
        "cache_size=2G, listing_ttl=S, listing_settle=S, attr_timeout=S, entry_timeout=S, "
        "negative_timeout=S, relist_on_miss=S, request_timeout=S, page_size=N, concurrency=N, "
        "readahead_files=N, readahead_size=256M, thumbnails=off, thumbnail_sizes=normal,large, "
        "config=PATH, log_file=PATH, log_level=LEVEL (see the README); "
        "the generic options of mount(8) and fstab (rw, nodev, noatime, _netdev, x-systemd.*, "
        "...) are accepted and ignored",
    )
    parser.add_argument(
        "--log-file",
        type=Path,
        metavar="PATH",
        help="where the mount logs (default for a background mount: the user's log directory; "
        "a foreground mount logs to standard error)",
    )
    parser.add_argument(
        "--syslog",
        action="store_true",
        help="log to the system logger through /dev/log (the log file where there is none)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what it does (INFO)")
    parser.add_argument("--debug", action="store_true", help="log everything (DEBUG)")
    parser.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)


Subcommands = argparse._SubParsersAction  # what `add_subparsers` returns
NEW_MOUNTPOINT = "the directory to mount on (an empty one)"
RUNNING_MOUNTPOINT = "where the mount is"


def _command(
    sub: Subcommands[argparse.ArgumentParser],
    name: str,
    summary: str,
    description: str,
    *,
    mountpoint: str | None = None,
) -> argparse.ArgumentParser:
    """A subcommand: `summary` is its line in `smugfs --help`, `description` opens
    `smugfs NAME --help`; with `mountpoint` (its help) the first argument is MOUNTPOINT."""
    parser = sub.add_parser(name, help=summary, description=description)
    if mountpoint is not None:
        parser.add_argument("mountpoint", type=Path, metavar="MOUNTPOINT", help=mountpoint)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="smugfs", description="Mount a SmugMug photo account as a filesystem."
    )
    parser.add_argument("--version", action="version", version=f"smugfs {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    mount = _command(
        sub,
        "mount",
        "mount a SmugMug account",
        "Mount your SmugMug account at MOUNTPOINT: the one of the saved login (smugfs login), "
        "the config file or the SMUGFS_* variables. It runs in the background (with -f, in "
        "the foreground) until smugfs unmount.",
        mountpoint=NEW_MOUNTPOINT,
    )
    _mount_args(mount)
    mount.add_argument(
        "--user",
        metavar="NICK",
        help="mount NICK's public galleries (read-only; an API key is enough)",
    )
    demo = _command(
        sub,
        "demo",
        "mount the built-in demo library",
        "Serve the built-in sample library (kept in your data directory) with the "
        "emulator and mount it at MOUNTPOINT; unmounting stops both.",
        mountpoint=NEW_MOUNTPOINT,
    )
    _mount_args(demo)
    demo.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="where the demo library lives (default: your data directory)",
    )
    _command(
        sub,
        "unmount",
        "unmount a smugfs mount",
        "Unmount a smugfs mount cleanly, then wait while its process finishes the uploads "
        "still queued (exit 1 naming any that were not uploaded).",
        mountpoint=RUNNING_MOUNTPOINT,
    )
    login = _command(
        sub,
        "login",
        "log in to SmugMug and save the access token",
        "Run SmugMug's OAuth 1.0a login: open the URL it prints, allow access, and "
        "type back the six-digit code. The API secret comes from SMUGFS_API_SECRET, the "
        "config file or a prompt (never from the command line, where other users could see it).",
    )
    login.add_argument(
        "--endpoint",
        metavar="URL",
        help="the service (default: SMUGFS_ENDPOINT, else the config file's, else SmugMug)",
    )
    login.add_argument(
        "--api-key",
        metavar="KEY",
        help="your SmugMug API key (default: SMUGFS_API_KEY, else the config file's)",
    )
    _command(sub, "logout", "forget the saved access token", "Remove the saved token.")
    _command(
        sub,
        "whoami",
        "show the account the saved token belongs to",
        "Show the account the credentials in use belong to.",
    )
    status = _command(
        sub,
        "status",
        "show what a running mount is doing",
        "Show the cache use, uploads, request counts, rate-limit headroom and thumbnails made "
        "of a running mount.",
        mountpoint=RUNNING_MOUNTPOINT,
    )
    status.add_argument("--json", action="store_true", help="print the raw status as JSON")
    _command(
        sub,
        "sync",
        "wait until everything written to a mount has been uploaded",
        "Wait until every file written to a running mount (with -o writeback, "
        "or left by a mount that was killed) has been uploaded, showing the progress; exit 1 "
        "naming each file that was not uploaded and why.",
        mountpoint=RUNNING_MOUNTPOINT,
    )
    thumbnails = _command(
        sub,
        "thumbnails",
        "make file managers' thumbnails for folders of a mount now",
        "Fill the personal thumbnail cache (the one file managers read) for every "
        "photo and video below each PATH of a running mount, from SmugMug's renditions, "
        "showing the progress; exit 1 if any could not be made.",
    )
    thumbnails.add_argument(
        "paths", type=Path, nargs="+", metavar="PATH", help="a folder or album in the mount"
    )
    emulator = _command(
        sub,
        "emulator",
        "serve a SmugMug API v2 emulator on 127.0.0.1",
        "Serve a SmugMug API v2 emulator on 127.0.0.1.",
    )
    _emulator_args(emulator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "emulator":
        return _run_emulator(args)
    if args.command in ("mount", "demo"):
        return _run_mount(args, list(argv if argv is not None else sys.argv[1:]))
    if args.command == "unmount":
        return _run_unmount(args.mountpoint)
    if args.command in ("login", "logout", "whoami"):
        return _run_account(args)
    if args.command == "status":
        return _run_status(args.mountpoint, as_json=args.json)
    if args.command == "sync":
        from smugfs.sync import sync

        return sync(args.mountpoint)
    if args.command == "thumbnails":
        from smugfs.thumbnails import command

        return command.run(args.paths)
    return 2  # pragma: no cover - argparse rejects unknown commands


def _fail(message: str) -> int:
    print(f"smugfs: {message}", file=sys.stderr)
    return 1


def _own_command() -> str:
    """How the user can run smugfs again: `smugfs` where the shell finds this one by that name,
    else its path (a virtual environment not activated, as scripts/demo leaves it)."""
    on_path = shutil.which("smugfs")
    mine = Path(sys.argv[0]).absolute()
    if on_path is not None and Path(on_path).resolve() == mine.resolve():
        return "smugfs"
    return shlex.join([str(mine)] if mine.name == "smugfs" else [sys.executable, "-m", "smugfs"])


def _parse_options(values: list[str]) -> dict[str, str | None]:
    """`-o` values by name: a flag's is None, a later item wins over an earlier one."""
    options: dict[str, str | None] = {}
    for item in option_items(values):
        name, eq, text = item.partition("=")
        options[name.strip()] = text.strip() if eq else None
    return options


def _log_level(
    args: argparse.Namespace, options: dict[str, str | None], file_values: dict[str, object]
) -> int:
    """-v and --debug, else `-o log_level`, else the config file's log_level, else WARNING."""
    from smugfs import logs

    if args.debug:
        return logging.DEBUG
    if args.verbose:
        return logging.INFO
    if "log_level" in options:
        return logs.level_named(options["log_level"] or "")
    if "log_level" in file_values:
        return logs.level_named(file_values["log_level"])
    return logging.WARNING


def _config_path(options: dict[str, str | None]) -> Path:
    """The config file: `-o config=PATH`, else config.toml in the config directory."""
    from smugfs import token_store
    from smugfs.errors import ConfigurationError

    if "config" in options:
        if not options["config"]:
            raise ConfigurationError("mount option config needs a value (config=PATH)")
        return Path(str(options["config"])).expanduser()
    return token_store.config_dir() / "config.toml"


def _run_mount(args: argparse.Namespace, argv: list[str]) -> int:
    from smugfs import background, config, demo_child, logs, mount
    from smugfs.errors import SmugfsError

    try:
        options = _parse_options(args.options)
        if "log_file" in options and not options["log_file"]:
            return _fail("mount option log_file needs a value (log_file=PATH)")
        chosen_log = args.log_file or (
            Path(str(options["log_file"])).expanduser() if options.get("log_file") else None
        )
        config_path = _config_path(options)
        # Read (and so check) the config file before going to the background: a mistake in it
        # is reported here, in one line.
        file_values = config.read_file(config_path)
        level = _log_level(args, options, file_values)
        if not args.foreground:
            mount.check_mountpoint(args.mountpoint)
            child_args = [a for a in argv if a not in ("-f", "--foreground")]
            default_log = Path(platformdirs.user_log_dir("smugfs")) / "mount.log"
            background.run_background(child_args, chosen_log or default_log)
            if args.command == "demo":
                # Someone trying smugfs for the first time is told where to look and how to end.
                where = args.mountpoint.absolute()
                print(
                    f"demo library mounted at {where}; end it with: {_own_command()} unmount"
                    f" {shlex.quote(str(where))} (or fusermount3 -u {shlex.quote(str(where))})"
                )
            return 0
        # A background child (it has --ready-fd) logs to the file its parent chose; a mount
        # started in the foreground to standard error unless a log file was named.
        to_file = chosen_log
        if args.ready_fd is not None and to_file is None:
            to_file = Path(platformdirs.user_log_dir("smugfs")) / "mount.log"
        logs.setup(level, log_file=to_file, syslog=args.syslog)
        report = background.report_to(args.ready_fd)
        try:
            if args.command == "demo":
                data_dir = args.data or Path(platformdirs.user_data_dir("smugfs")) / "demo"
                with demo_child.demo_service(data_dir) as service:
                    settings = config.from_environment(service.env, options)
                    mount.run_foreground(settings, args.mountpoint, ready=report)
            else:
                settings = _settings(options, config_path)
                if args.user:
                    import dataclasses

                    settings = dataclasses.replace(settings, user=args.user, read_only=True)
                mount.run_foreground(settings, args.mountpoint, ready=report)
        except SmugfsError as exc:
            report(f"{exc}")
            raise
    except SmugfsError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    return 0


def _settings(options: dict[str, str | None], config_path: Path | None = None) -> Any:
    """Mount settings from the config file, the saved login, the environment and `-o`."""
    from smugfs import config, token_store

    file_values = config.read_file(config_path or token_store.config_dir() / "config.toml")
    saved = token_store.load()
    return config.from_environment(
        None,
        options,
        file_values=file_values,
        saved=(saved.endpoint, saved.credentials) if saved else None,
    )


def _run_account(args: argparse.Namespace) -> int:
    """`login`, `logout` and `whoami`."""
    import getpass
    import os

    from smugfs import config, login, token_store
    from smugfs.errors import SmugfsError

    try:
        if args.command == "logout":
            removed = token_store.remove()
            print("logged out" if removed else "no saved login")
            return 0
        file_values = config.read_file(token_store.config_dir() / "config.toml")
        if args.command == "whoami":
            settings = _settings({})
            if not settings.credentials.has_token:
                return _fail("not logged in: run smugfs login")
            nick, name = login.whoami(settings.endpoint, settings.credentials)
            print(f"{nick} ({name})" if name else nick)
            return 0
        endpoint = (
            args.endpoint
            or os.environ.get("SMUGFS_ENDPOINT")
            or str(file_values.get("endpoint") or config.REAL_ENDPOINT)
        )
        api_key = (
            args.api_key
            or os.environ.get("SMUGFS_API_KEY")
            or str(file_values.get("api_key") or "")
        )
        api_secret = os.environ.get("SMUGFS_API_SECRET") or str(file_values.get("api_secret") or "")
        if api_key and not api_secret and sys.stdin.isatty():
            api_secret = getpass.getpass("API secret: ")

        def show(url: str) -> None:
            print("Open this address, sign in and allow access:", flush=True)
            print(f"  {url}", flush=True)

        def ask_code() -> str:
            print("Then enter the six-digit code it shows: ", end="", flush=True)
            return sys.stdin.readline()

        saved = login.login(endpoint, api_key, api_secret, show=show, ask_code=ask_code)
        path = token_store.save(saved)
        print(f"logged in as {saved.nick}; the token is in {path}")
        return 0
    except SmugfsError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130


def _run_status(mountpoint: Path, *, as_json: bool) -> int:
    """`status MOUNTPOINT`: what the mount process reports about itself."""
    import json

    from smugfs import status_report
    from smugfs.errors import SmugfsError
    from smugfs.status_file import read_status, remove_dead_statuses

    # Mounts that were killed could not remove their status files.
    remove_dead_statuses()
    try:
        status = read_status(mountpoint)
    except SmugfsError as exc:
        return _fail(str(exc))
    if as_json:
        print(json.dumps(status, indent=2))
        return 0
    for line in status_report.describe_status(status):
        print(line)
    return 0


def _run_unmount(mountpoint: Path) -> int:
    from smugfs.status_file import mounted_paths

    path = str(Path(mountpoint).absolute())
    if path not in mounted_paths():
        return _fail(f"{path} is not mounted")
    from smugfs.mount_guard import unmount_command

    result = subprocess.run(
        unmount_command(Path(path)), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        return _fail(result.stderr.strip() or f"could not unmount {path}")
    from smugfs.sync import wait_for_unmount

    return wait_for_unmount(Path(path))


def _run_emulator(args: argparse.Namespace) -> int:
    from smugfs.emulator.generate import Spec
    from smugfs.emulator.server import serve

    try:
        generated = Spec.parse(args.generate) if args.generate is not None else None
    except ValueError as exc:
        print(f"smugfs emulator: --generate: {exc}", file=sys.stderr)
        return 2

    settings = EmulatorSettings(
        **{field: getattr(args, field) for _, field, _, _, _ in _CONDITIONS},
        fault_kinds=tuple(k for k in args.fault_kinds.split(",") if k),
        range_enabled=not args.no_range,
    )
    try:
        settings.update(
            {
                "fault_kinds": list(settings.fault_kinds),
                "fault_rate": settings.fault_rate,
                "bandwidth_mbps": settings.bandwidth_mbps,
                "link_mbps": settings.link_mbps,
            }
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
            generated=generated,
        )
    except OSError as exc:
        print(f"smugfs emulator: cannot serve on port {args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
