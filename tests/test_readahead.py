"""The decisions of read-ahead across files (`smugfs.readahead`): which files a sweeping process
gets fetched ahead, in which order, within which budget, and when the guessing stops."""

from __future__ import annotations

from smugfs.readahead import MAX_PROCESSES, FileRead, Limits, Listed, Sweeps, orders

DIR = 1
MIB = 1024 * 1024


def listing(names: list[str], size: int = 2 * MIB, first_inode: int = 100) -> list[Listed]:
    """Files in listing order, inodes counting up from `first_inode`."""
    return [Listed(name, first_inode + n, size) for n, name in enumerate(names)]


def whole(size: int = 2 * MIB) -> FileRead:
    """A file read from its start to its end, in 128 KiB reads."""
    read = FileRead(size)
    for offset in range(0, size, 128 * 1024):
        read.note(offset, 128 * 1024)
    return read


def head(size: int = 2 * MIB, length: int = 64 * 1024) -> FileRead:
    """A file of which only the first `length` bytes were read."""
    read = FileRead(size)
    read.note(0, length)
    return read


class Process:
    """One process's opens and closes fed to `sweeps`, the decisions kept."""

    def __init__(self, sweeps: Sweeps, files: list[Listed], pid: int = 7) -> None:
        self.sweeps, self.files, self.pid = sweeps, files, pid
        self.fetched: list[int] = []
        self.cut: list[int] = []
        self.whole: list[bool] = []

    def read(self, inode: int, how: FileRead | None = None, *, close: bool = True) -> None:
        how = how or whole()
        decision = self.sweeps.opened(self.pid, DIR, inode, lambda: self.files, how)
        self.whole.append(decision.whole)
        self.fetched += [f.inode for f in decision.fetch]
        self.cut += decision.cut
        if close:
            self.cut += self.sweeps.closed(self.pid, inode, how).cut


def test_orders_are_listing_inode_bytes_and_casefolded_names() -> None:
    files = [Listed("b.jpg", 12, 1), Listed("C.jpg", 11, 1), Listed("a.jpg", 10, 1)]
    assert orders(files) == [
        [12, 11, 10],  # the listing's (tar)
        [10, 11, 12],  # by inode (cp)
        [11, 10, 12],  # by the bytes of the name (rsync): capitals first
        [10, 12, 11],  # by the name, case ignored (a shell's glob)
    ]
    # Orders that coincide are kept once.
    assert orders(listing(["a.jpg", "b.jpg"])) == [[100, 101]]


def test_a_sweep_in_listing_order_fetches_the_next_files_after_the_second() -> None:
    files = listing([f"p{n:02d}.jpg" for n in range(20)])
    process = Process(Sweeps(Limits(files=4, size=64 * MIB)), files)
    process.read(100)
    assert process.fetched == []
    assert process.whole == [False]
    process.read(101)
    # The second file is read whole in one request, the next four are fetched ahead.
    assert process.whole == [False, True]
    assert process.fetched == [102, 103, 104, 105]
    process.read(102)
    # One was opened: one more comes in, keeping four ahead.
    assert process.fetched[-1] == 106
    assert process.cut == []


def test_rsync_order_is_followed_when_names_are_not_in_listing_order() -> None:
    names = ["d.jpg", "a.jpg", "c.jpg", "e.jpg", "b.jpg", "f.jpg"]
    files = listing(names)
    by_name = sorted(files, key=lambda f: f.name)
    process = Process(Sweeps(Limits(files=2, size=64 * MIB)), files)
    process.read(by_name[0].inode)
    process.read(by_name[1].inode)
    assert process.fetched == [by_name[2].inode, by_name[3].inode]
    process.read(by_name[2].inode)
    assert process.fetched[-1] == by_name[4].inode
    assert process.cut == []


def test_cp_order_is_by_inode() -> None:
    # Inode numbers that do not follow the listing.
    files = [Listed(f"p{n}.jpg", inode, MIB) for n, inode in enumerate([105, 101, 104, 102, 103])]
    process = Process(Sweeps(Limits(files=2, size=64 * MIB)), files)
    process.read(101)
    process.read(102)
    assert process.fetched == [103, 104]


def test_the_budget_in_bytes_bounds_what_is_fetched_ahead() -> None:
    files = listing([f"p{n:02d}.jpg" for n in range(20)], size=10 * MIB)
    process = Process(Sweeps(Limits(files=8, size=25 * MIB)), files)
    process.read(100, whole(10 * MIB))
    process.read(101, whole(10 * MIB))
    assert process.fetched == [102, 103]


def test_a_reader_of_heads_never_starts_a_sweep() -> None:
    files = listing([f"p{n:02d}.jpg" for n in range(50)])
    process = Process(Sweeps(Limits()), files)
    for file in files:
        process.read(file.inode, head())
    assert process.fetched == []
    assert not any(process.whole)


def test_a_seek_stops_the_sweep_and_cuts_what_was_fetched_ahead() -> None:
    files = listing([f"p{n:02d}.jpg" for n in range(20)])
    sweeps = Sweeps(Limits(files=3, size=64 * MIB))
    process = Process(sweeps, files)
    process.read(100)
    process.read(101)
    assert process.fetched == [102, 103, 104]
    seeker = FileRead(2 * MIB)
    seeker.note(0, 64 * 1024)
    seeker.note(2 * MIB - 64 * 1024, 64 * 1024)  # to the end: exiftool looking for a trailer
    assert not seeker.whole
    process.read(102, seeker)
    # Opening 102 topped the files ahead up to 105; the seek cut all three.
    assert sorted(process.cut) == [103, 104, 105]
    assert sweeps.ahead_of(process.pid) == []
    fetched = len(process.fetched)
    process.read(103, head())
    process.read(104, head())
    assert len(process.fetched) == fetched
    assert process.whole[-2:] == [False, False]


def test_opening_out_of_order_stops_the_sweep() -> None:
    files = listing([f"p{n:02d}.jpg" for n in range(20)])
    sweeps = Sweeps(Limits(files=3, size=64 * MIB))
    process = Process(sweeps, files)
    process.read(100)
    process.read(101)
    process.read(110)  # a jump: no order has it next
    assert sorted(process.cut) == [102, 103, 104]
    # It was still read whole after a whole one: its GET is whole, but nothing more is guessed.
    assert process.whole[-1] is True
    assert sweeps.ahead_of(process.pid) == []


def test_another_directory_starts_over() -> None:
    files = listing([f"p{n:02d}.jpg" for n in range(10)])
    sweeps = Sweeps(Limits(files=2, size=64 * MIB))
    sweeps.opened(7, DIR, 100, lambda: files, whole())
    decision = sweeps.opened(7, DIR, 101, lambda: files, whole())
    assert [f.inode for f in decision.fetch] == [102, 103]
    other = listing(["x.jpg", "y.jpg"], first_inode=500)
    decision = sweeps.opened(7, 2, 500, lambda: other, whole())
    assert sorted(decision.cut) == [102, 103]
    assert decision.whole  # it has been reading whole files
    assert decision.fetch == []


def test_processes_are_followed_apart_and_the_table_is_bounded() -> None:
    files = listing([f"p{n:02d}.jpg" for n in range(10)])
    sweeps = Sweeps(Limits(files=2, size=64 * MIB))
    a, b = Process(sweeps, files, pid=1), Process(sweeps, files, pid=2)
    a.read(100)
    b.read(105)
    a.read(101)
    b.read(106)
    assert a.fetched == [102, 103]
    assert b.fetched == [107, 108]
    for pid in range(10, 10 + 2 * MAX_PROCESSES):
        sweeps.opened(pid, DIR, 100, lambda: files, whole())
    assert len(sweeps._sweeps) == MAX_PROCESSES


def test_the_listing_is_asked_for_only_once_a_sweep_is_likely() -> None:
    files = listing([f"p{n:02d}.jpg" for n in range(10)])
    asked = []

    def files_of() -> list[Listed]:
        asked.append(1)
        return files

    sweeps = Sweeps(Limits())
    for file in files:
        read = head()
        sweeps.opened(7, DIR, file.inode, files_of, read)
        sweeps.closed(7, file.inode, read)
    assert asked == []


def test_a_file_read_backwards_or_not_from_the_start_is_not_whole() -> None:
    tail_first = FileRead(MIB)
    tail_first.note(MIB // 2, MIB // 2)
    tail_first.note(0, MIB // 2)
    assert not tail_first.whole
    reordered = FileRead(MIB)  # the kernel's read-ahead answered out of order
    for offset in (0, 256 * 1024, 128 * 1024, 384 * 1024, 512 * 1024, 768 * 1024, 640 * 1024):
        reordered.note(offset, 128 * 1024)
    reordered.note(896 * 1024, 128 * 1024)
    assert reordered.whole


def test_a_close_the_kernel_tells_of_after_the_next_open_does_not_stop_the_sweep() -> None:
    files = listing([f"p{n:02d}.jpg" for n in range(10)])
    sweeps = Sweeps(Limits(files=2, size=64 * MIB))
    process = Process(sweeps, files)
    first, second = whole(), whole()
    process.read(100, first, close=False)
    process.read(101, second, close=False)
    assert process.fetched == [102, 103]
    assert sweeps.closed(process.pid, 100, first).cut == []
    process.read(102)
    assert process.fetched[-1] == 104
    assert process.cut == []


def test_files_missing_from_the_listing_follow_nothing() -> None:
    # The listing was worked out without the files opened (deleted, or new since).
    files = listing([f"p{n:02d}.jpg" for n in range(5)])
    sweeps = Sweeps(Limits(files=2, size=64 * MIB))
    process = Process(sweeps, files)
    process.read(900)
    process.read(901)
    process.read(902)
    assert process.fetched == []
    assert process.whole == [False, True, True]


def test_forgetting_a_file_fetched_ahead_stops_its_sweep() -> None:
    files = listing([f"p{n:02d}.jpg" for n in range(10)])
    sweeps = Sweeps(Limits(files=2, size=64 * MIB))
    process = Process(sweeps, files)
    process.read(100)
    process.read(101)
    assert sorted(sweeps.forget(103)) == [102, 103]
    assert sweeps.ahead_of(process.pid) == []
