"""Where a mount's log goes and how much it says: the terminal, a log file or syslog.

A foreground mount logs to standard error, a background one to its log file. `--syslog` sends
the log to the system logger through /dev/log, in the form syslog daemons and journald expect
(`smugfs[PID]: LEVEL message`, the timestamp added by the logger); where there is no /dev/log
(a container, a minimal system) the log file is used instead. The level is WARNING unless the
config file's `log_level`, `-v` (INFO) or `--debug` (DEBUG) says otherwise.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from smugfs.errors import ConfigurationError

SYSLOG_SOCKET = "/dev/log"
FILE_FORMAT = "%(asctime)s smugfs %(levelname)s %(name)s: %(message)s"
SYSLOG_FORMAT = "smugfs[%(process)d]: %(levelname)s %(message)s"

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def level_named(name: object) -> int:
    """The logging level of a `log_level` setting (`debug`, `info`, `warning`, `error`)."""
    level = LEVELS.get(str(name).strip().lower())
    if level is None:
        raise ConfigurationError(f"bad log_level {str(name)!r}: use one of {', '.join(LEVELS)}")
    return level


def syslog_handler(address: str = SYSLOG_SOCKET) -> logging.Handler | None:
    """A handler writing to the system logger's socket, or None if nothing listens there."""
    if not Path(address).exists():
        return None
    try:
        handler = logging.handlers.SysLogHandler(
            address=address, facility=logging.handlers.SysLogHandler.LOG_USER
        )
    except OSError:
        return None
    handler.setFormatter(logging.Formatter(SYSLOG_FORMAT))
    return handler


def choose_handler(
    *, log_file: Path | None = None, syslog: bool = False, syslog_address: str = SYSLOG_SOCKET
) -> logging.Handler:
    """Syslog (if asked and possible), else a handler for `log_file`, else standard error."""
    handler = syslog_handler(syslog_address) if syslog else None
    if handler is None and log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file)
        handler.setFormatter(logging.Formatter(FILE_FORMAT))
    if handler is None:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FILE_FORMAT))
    return handler


def setup(level: int, *, log_file: Path | None = None, syslog: bool = False) -> logging.Handler:
    """Log at `level` through the handler `choose_handler` picks; returns that handler."""
    handler = choose_handler(log_file=log_file, syslog=syslog)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    # The HTTP libraries log every request line at INFO; keep them for DEBUG.
    http_level = logging.DEBUG if level <= logging.DEBUG else logging.WARNING
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(http_level)
    return handler
