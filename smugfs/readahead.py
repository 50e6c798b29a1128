"""Read-ahead across files: which photos a process will read next, and when to stop guessing.

A backup reads the files of a directory one after another, each from start to end: `cp -r` in
the order of their inode numbers, `tar -c` in the order the directory lists them, `rsync -a` in
the byte order of their names, `md5sum *` in the shell's (collating) order of the names. Once a
process has read one file whole, the next file it opens is fetched whole by its first read (in
one request); if that file is the next one in one of those orders, the process is sweeping the
directory, and the files that follow in that order are fetched ahead, several at once, before
it asks for them.

The guess is bounded: at most `files` files and `size` bytes fetched ahead and not yet opened,
per process. It stops (and what is being fetched ahead is cut) as soon as the pattern breaks: a
file not read from start to end (a seek, a reader of heads such as a thumbnailer, `file` or
`exiftool`), a file opened out of the order, or another directory. A reader of heads therefore
never starts a sweep.

This module only decides; `prefetch.py` carries the decisions out. It knows nothing of FUSE or
the network: the filesystem tells it what each process opens and how each file was read.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Sequence

# How many processes are followed at once; the least recently active is forgotten first (a
# process that ended says nothing, so the table must bound itself).
MAX_PROCESSES = 64


@dataclasses.dataclass(frozen=True)
class Limits:
    """How far a sweep may be guessed ahead: files and bytes fetched and not yet opened."""

    files: int = 8
    size: int = 256 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Listed:
    """A file of a directory as the sweep sees it: its name, inode and size."""

    name: str
    inode: int
    size: int


def orders(files: Sequence[Listed]) -> list[list[int]]:
    """The orders a tool may read a directory's files in, as inodes: the listing's own (tar),
    by inode number (cp), by the bytes of the name (rsync), and by the name ignoring case (a
    shell's glob in most locales). Orders equal to an earlier one are left out."""
    candidates = [
        list(files),
        sorted(files, key=lambda f: f.inode),
        sorted(files, key=lambda f: f.name.encode("utf-8", "surrogateescape")),
        sorted(files, key=lambda f: (f.name.casefold(), f.name)),
    ]
    found: list[list[int]] = []
    for candidate in candidates:
        inodes = [f.inode for f in candidate]
        if inodes not in found:
            found.append(inodes)
    return found


@dataclasses.dataclass
class FileRead:
    """How one open file was read: from its start, and every byte of it. (The kernel may ask
    for the parts of its own read-ahead out of order: that is still a read from start to end;
    a seek leaves bytes unread.)"""

    size: int
    reads: int = 0
    started_at_zero: bool = False
    end: int = 0
    # Bytes read, counted once per read (the kernel hardly ever reads the same page twice).
    read_bytes: int = 0

    def note(self, offset: int, size: int) -> None:
        """One read of `size` bytes at `offset`."""
        if self.reads == 0:
            self.started_at_zero = offset == 0
        self.reads += 1
        self.end = max(self.end, min(offset + size, self.size))
        self.read_bytes += max(0, min(offset + size, self.size) - offset)

    @property
    def whole(self) -> bool:
        """Whether the file was read from its start to its end, every byte of it."""
        return self.started_at_zero and self.end >= self.size and self.read_bytes >= self.size


@dataclasses.dataclass
class Decision:
    """What to do after an open or a close: read the opened file whole in one request, fetch
    these files ahead (inodes, in order), cut what is being fetched ahead for these inodes."""

    whole: bool = False
    fetch: list[Listed] = dataclasses.field(default_factory=list)
    cut: list[int] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class _Sweep:
    """One process's walk through one directory."""

    directory: int
    current: int
    # How the file opened last is being read. It is judged when the next file is opened: the
    # kernel tells of a close only later, often after the next open.
    read: FileRead
    # Worked out when a second file is opened: the directory's files, and the orders still
    # consistent with what the process opened (each as its inodes and their positions).
    files: dict[int, Listed] | None = None
    orders: list[tuple[list[int], dict[int, int]]] | None = None
    # Fetched ahead and not yet opened, in order: inode -> size.
    ahead: OrderedDict[int, int] = dataclasses.field(default_factory=OrderedDict)


class Sweeps:
    """The sweeps of every process: fed with opens and closes, answering with decisions."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._sweeps: OrderedDict[int, _Sweep] = OrderedDict()

    def opened(
        self,
        process: int,
        directory: int,
        inode: int,
        listing: Callable[[], Sequence[Listed]],
        read: FileRead,
    ) -> Decision:
        """Process `process` opened file `inode` of `directory`, to be read as `read` will
        tell (it is noted as the reads come); `listing()` gives the directory's files in its
        own order (asked only once a sweep looks likely, so that a reader of heads opening
        thousands of files costs nothing)."""
        sweep = self._sweeps.get(process)
        if sweep is not None:
            self._sweeps.move_to_end(process)
        # A process that read its last file whole will most likely read this one whole too,
        # whichever file it is: it is fetched whole at once even when no order is known yet.
        reads_whole = sweep is not None and sweep.read.whole
        if sweep is None or sweep.directory != directory or not reads_whole:
            return self._restart(process, directory, inode, read, whole=reads_whole)
        if sweep.orders is None or sweep.files is None:
            files = list(listing())
            sweep.files = {f.inode: f for f in files}
            sweep.orders = [(o, {n: at for at, n in enumerate(o)}) for o in orders(files)]
        previous = sweep.current
        following = [
            (order, at)
            for order, at in sweep.orders
            if inode in at and previous in at and at[inode] == at[previous] + 1
        ]
        if not following:
            return self._restart(process, directory, inode, read, whole=True)
        sweep.orders = following
        sweep.current = inode
        sweep.read = read
        sweep.ahead.pop(inode, None)
        decision = Decision(whole=True)
        order, position = following[0]
        # Only the next few can be fetched ahead (and were).
        at = position[inode] + 1
        upcoming = order[at : at + self.limits.files]
        # What was fetched ahead in an order since ruled out is not coming: cut it.
        coming = set(upcoming)
        decision.cut = [n for n in sweep.ahead if n not in coming]
        for n in decision.cut:
            del sweep.ahead[n]
        spent = sum(sweep.ahead.values())
        for n in upcoming:
            if len(sweep.ahead) >= self.limits.files:
                break
            if n in sweep.ahead:
                continue
            file = sweep.files[n]
            if spent + file.size > self.limits.size:
                break
            sweep.ahead[n] = file.size
            spent += file.size
            decision.fetch.append(file)
        return decision

    def closed(self, process: int, inode: int, read: FileRead) -> Decision:
        """Process `process` closed file `inode`, having read it as `read` says. A file closed
        before it was read whole stops the sweep at once (the close of a file the process has
        moved on from was judged when it moved on)."""
        sweep = self._sweeps.get(process)
        if sweep is None or sweep.current != inode or read.whole:
            return Decision()
        return Decision(cut=self._stop(sweep))

    def forget(self, inode: int) -> list[int]:
        """`inode` is gone (deleted, replaced): every sweep that fetched it ahead is stopped.
        The inodes to cut."""
        cut: list[int] = []
        for sweep in self._sweeps.values():
            if inode in sweep.ahead:
                cut += self._stop(sweep)
        return cut

    def ahead_of(self, process: int) -> list[int]:
        """What is fetched ahead for `process` and not yet opened."""
        sweep = self._sweeps.get(process)
        return list(sweep.ahead) if sweep is not None else []

    def _restart(
        self, process: int, directory: int, inode: int, read: FileRead, *, whole: bool = False
    ) -> Decision:
        """A new sweep may begin at `inode`; whatever the process had fetched ahead is cut."""
        old = self._sweeps.pop(process, None)
        cut = self._stop(old) if old is not None else []
        self._sweeps[process] = _Sweep(directory, inode, read)
        while len(self._sweeps) > MAX_PROCESSES:
            _, dropped = self._sweeps.popitem(last=False)
            cut += self._stop(dropped)
        return Decision(whole=whole, cut=cut)

    @staticmethod
    def _stop(sweep: _Sweep) -> list[int]:
        """End the guessing of `sweep`; what it fetched ahead and was not opened, to be cut."""
        cut = list(sweep.ahead)
        sweep.ahead.clear()
        sweep.orders = None
        return cut
