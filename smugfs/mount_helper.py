"""`mount.smugfs`: the helper mount(8) runs for `mount -t smugfs` and fstab lines of type smugfs.

mount(8) calls helpers as `mount.TYPE SOURCE MOUNTPOINT [-sfnv] [-o OPTIONS]`. SOURCE says
what to mount: `smugfs` or `account` is the configured account (saved login, config file or
`SMUGFS_*` variables), `demo` the built-in demo library, and anything else is a SmugMug
nickname whose public galleries are mounted read-only. The helper starts the same background
mount as `smugfs mount` and returns once it is up, so mount(8) reports success only for a
working mount. Exit status as mount(8) documents for helpers: 0, 1 for a wrong invocation, 32 for
a mount that failed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from smugfs import cli, config

USAGE_ERROR = 1
MOUNT_FAILURE = 32
ACCOUNT_SOURCES = ("smugfs", "account")


def build_parser() -> argparse.ArgumentParser:
    """The arguments mount(8) passes to a helper."""
    parser = argparse.ArgumentParser(
        prog="mount.smugfs",
        description="Mount smugfs from mount(8) or /etc/fstab. SOURCE is `smugfs` (or "
        "`account`) for your account, `demo` for the demo library, or a SmugMug nickname "
        "for that user's public galleries (read-only).",
    )
    parser.add_argument("source", metavar="SOURCE")
    parser.add_argument("mountpoint", metavar="MOUNTPOINT")
    cli.add_options_argument(parser, "mount options, as for `smugfs mount -o`")
    parser.add_argument(
        "-n", dest="no_mtab", action="store_true", help="accepted (there is no mtab to write)"
    )
    parser.add_argument(
        "-s", dest="sloppy", action="store_true", help="drop options smugfs does not know"
    )
    parser.add_argument(
        "-f", dest="fake", action="store_true", help="check the options but do not mount"
    )
    parser.add_argument("-v", dest="verbose", action="store_true", help="say more (INFO log)")
    # mount(8) names the type with -t for types that have a subtype; the helper needs no type.
    parser.add_argument("-t", dest="fstype", help=argparse.SUPPRESS)
    return parser


def smugfs_arguments(
    source: str, mountpoint: str, options: Sequence[str], *, verbose: bool
) -> list[str]:
    """The `smugfs` command line that mounts SOURCE at MOUNTPOINT."""
    if source in ACCOUNT_SOURCES:
        command = ["mount", mountpoint]
    elif source == "demo":
        command = ["demo", mountpoint]
    else:
        command = ["mount", mountpoint, f"--user={source}"]
    if options:
        command += ["-o", ",".join(options)]
    if verbose:
        command.append("-v")
    return command


def _options(values: Sequence[str], *, sloppy: bool) -> list[str]:
    """The options as `name[=value]` items; unknown ones dropped when sloppy."""
    items = cli.option_items(values)
    if sloppy:
        items = [item for item in items if config.is_known_option(item.partition("=")[0])]
    return items


def main(argv: Sequence[str] | None = None) -> int:
    """Run the helper; returns the exit status mount(8) expects."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else USAGE_ERROR
    if not args.source:
        print("mount.smugfs: empty source", file=sys.stderr)
        return USAGE_ERROR
    options = _options(args.options, sloppy=args.sloppy)
    command = smugfs_arguments(args.source, args.mountpoint, options, verbose=args.verbose)
    if args.verbose:
        print("mount.smugfs: smugfs " + " ".join(command), file=sys.stderr)
    if args.fake:
        unknown = [o for o in options if not config.is_known_option(o.partition("=")[0])]
        if unknown:
            print(f"mount.smugfs: unknown mount option {unknown[0]}", file=sys.stderr)
            return USAGE_ERROR
        return 0
    return 0 if cli.main(command) == 0 else MOUNT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
