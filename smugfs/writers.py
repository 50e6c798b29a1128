"""Whether the program that opened a file for writing is dying of a signal.

A program killed in the middle of a copy (`kill`, Ctrl-C, the OOM killer) never closes its
files: the kernel closes them as the process ends, and the mount sees the same `flush` as for a
close the program made. Uploading then would put on the service a prefix nobody finished. The
kernel closes the files of a dying process after it set the process's `PF_EXITING` flag and
its exit code (the signal, in the low seven bits, for a death by signal), and the process waits
in the flush until the mount answers, so `/proc/<pid>/stat` tells the two apart.

Linux only; anything unreadable (another user's process, no /proc, a process gone) counts as
an ordinary close, so the worst a failure here can do is keep today's behaviour.
"""

from __future__ import annotations

import os

# include/linux/sched.h: the task is exiting.
PF_EXITING = 0x00000004
# Fields of /proc/<pid>/stat after the command name, counted from the state (field 3).
_FLAGS = 9 - 3
_EXIT_CODE = 52 - 3


def process_group_leader(pid: int) -> int:
    """The process (thread group) a thread id belongs to, or `pid` itself if unknown."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Tgid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return pid


def killed_by_signal(pid: int) -> bool:
    """Whether process `pid` is ending now (not yet a zombie) because a signal killed it."""
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            text = stat.read()
    except OSError:
        return False
    # The command name is in parentheses and may itself hold spaces and parentheses.
    fields = text[text.rfind(")") + 2 :].split()
    try:
        state, flags, exit_code = fields[0], int(fields[_FLAGS]), int(fields[_EXIT_CODE])
    except (IndexError, ValueError):
        return False
    return state != "Z" and bool(flags & PF_EXITING) and exit_code & 0x7F != 0
