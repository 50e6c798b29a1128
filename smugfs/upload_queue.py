"""The queue of uploads that run in the background, several at once.

With `-o writeback`, `close()` of a written file returns once its bytes and its intent are on
disk (`staging.py`); the upload itself becomes a job here. The uploads a killed mount left
staged (`recovery.py`) are jobs here too, in either mode. A job is one upload attempt, called
again while the service is unavailable (`ServiceUnavailable`: it kept failing, or cannot be
reached) and given up after `MAX_ATTEMPTS`, its intent still journaled so the next mount
tries again. Any other error is final: whoever made the job has handed the bytes back
(`recovered/`) before raising it, and the queue keeps the failure for `smugfs status` and
`smugfs sync` for the life of the mount.

Jobs are keyed by the object they upload (a staging file), so a job still waiting can be
withdrawn (the file is written again, renamed or deleted) and a running one waited for.
Nothing here does I/O itself; the jobs run in the mount's nursery.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import trio

from smugfs.api.retry import Retry, RetryPolicy
from smugfs.errors import ServiceUnavailable, SmugfsError

log = logging.getLogger(__name__)

# A job the service cannot take now is tried again after about this long (jittered by half
# either way, so mounts that lost the service together do not come back together), this many
# times in all.
RETRY_INTERVAL = 30.0
MAX_ATTEMPTS = 20


@dataclasses.dataclass(eq=False)
class Job:
    """One file to upload: who it is for people, how big, and how to make one attempt."""

    key: Hashable
    path: str
    size: int
    attempt: Callable[[Job], Awaitable[None]]
    error: SmugfsError | None = None
    # What the attempt that failed says besides its error (where the bytes were handed back).
    detail: str = ""
    finished: trio.Event = dataclasses.field(default_factory=trio.Event)

    async def outcome(self) -> None:
        """Wait until the job is over; raise its error if it failed."""
        await self.finished.wait()
        if self.error is not None:
            raise self.error


@dataclasses.dataclass(frozen=True)
class Failure:
    """An upload that did not happen, and why (kept for `smugfs status` and `smugfs sync`)."""

    path: str
    why: str
    when: float


class UploadQueue:
    """Jobs waiting, jobs running (at most `concurrency`), and what became of the others."""

    def __init__(self, concurrency: int, retry_interval: float = RETRY_INTERVAL) -> None:
        self.concurrency = max(1, concurrency)
        self.retry_interval = retry_interval
        self._waiting: collections.OrderedDict[Hashable, Job] = collections.OrderedDict()
        self._running: dict[Hashable, Job] = {}
        # What follows an upload (reading the new photo back), by key, while it runs.
        self._following: dict[Hashable, trio.Event] = {}
        self._workers = 0
        self._nursery: trio.Nursery | None = None
        self.done_files = 0
        self.done_bytes = 0
        self.failures: list[Failure] = []
        self._changed = trio.Event()

    def attach(self, nursery: trio.Nursery) -> None:
        """Run jobs in the mount's nursery (none run before this)."""
        self._nursery = nursery
        self._start_workers()

    # ------------------------------------------------------------------ jobs

    def submit(
        self, key: Hashable, path: str, size: int, attempt: Callable[[Job], Awaitable[None]]
    ) -> Job:
        """Queue an upload; returns at once."""
        job = Job(key, path, size, attempt)
        self._waiting.pop(key, None)
        self._waiting[key] = job
        self._touch()
        self._start_workers()
        return job

    def job_of(self, key: Hashable) -> Job | None:
        """The job of `key` waiting or running, if any."""
        return self._running.get(key) or self._waiting.get(key)

    async def withdraw(self, key: Hashable) -> bool:
        """Take back the job of `key` if it is still waiting (returns True), or wait until
        the running one is over (its outcome is not raised here)."""
        job = self._waiting.pop(key, None)
        if job is not None:
            job.finished.set()
            self._touch()
            return True
        running = self._running.get(key)
        if running is not None:
            await running.finished.wait()
        following = self._following.get(key)
        if following is not None:
            await following.wait()
        return False

    async def after(self, key: Hashable, work: Callable[[], Awaitable[None]]) -> None:
        """Run what follows an upload in the background, so that neither `close()` nor a
        queue worker waits for it; `withdraw` of the same key and `drain` do. Before the
        queue runs (no nursery yet), it runs at once."""
        if self._nursery is None:
            await work()
            return
        done = trio.Event()
        self._following[key] = done

        async def follow() -> None:
            try:
                await work()
            except SmugfsError as exc:
                # The upload landed; only describing it failed (the listing will show it).
                log.info("after an upload: %s", exc)
            finally:
                if self._following.get(key) is done:
                    del self._following[key]
                done.set()
                self._touch()

        self._nursery.start_soon(follow)

    @property
    def idle(self) -> bool:
        """Whether nothing waits or runs."""
        return not self._waiting and not self._running and not self._following

    async def drain(self, progress: Callable[[str], None], every: float = 5.0) -> None:
        """Wait until every job is over, saying how many are left every `every` seconds."""
        while not self.idle:
            files, size = self.pending()
            progress(f"waiting for {files} uploads ({size / 1024**2:.1f} MiB) to finish")
            with trio.move_on_after(every):
                while not self.idle:
                    await self.changed()

    async def changed(self) -> None:
        """Wait until something in the queue changes."""
        await self._changed.wait()

    def pending(self) -> tuple[int, int]:
        """How many files, and bytes, wait or are being uploaded."""
        jobs = [*self._waiting.values(), *self._running.values()]
        return len(jobs), sum(job.size for job in jobs)

    def report(self) -> dict[str, Any]:
        """The queue for the status file."""
        return {
            "queued": len(self._waiting),
            "queued_bytes": sum(job.size for job in self._waiting.values()),
            "uploading": [job.path for job in self._running.values()],
            "uploading_bytes": sum(job.size for job in self._running.values()),
            # Uploads done whose new photo is still being read back.
            "following": len(self._following),
            "done": self.done_files,
            "done_bytes": self.done_bytes,
            "failed": [dataclasses.asdict(failure) for failure in self.failures],
        }

    # ------------------------------------------------------------------ running

    def _touch(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def _start_workers(self) -> None:
        while self._nursery is not None and self._waiting and self._workers < self.concurrency:
            self._workers += 1
            self._nursery.start_soon(self._work)

    async def _work(self) -> None:
        """Run waiting jobs, oldest first, until none is left."""
        try:
            while self._waiting:
                _, job = self._waiting.popitem(last=False)
                self._running[job.key] = job
                self._touch()
                try:
                    await self._run(job)
                finally:
                    del self._running[job.key]
                    job.finished.set()
                    self._touch()
        finally:
            self._workers -= 1

    async def _run(self, job: Job) -> None:
        # The one retry policy, with the queue's patience: each attempt's requests have already
        # been retried by the client; this waits for a service that stays away.
        policy = RetryPolicy(
            retries=MAX_ATTEMPTS - 1, first_delay=self.retry_interval, max_delay=self.retry_interval
        )
        last: list[ServiceUnavailable] = []

        async def attempt() -> None:
            try:
                await job.attempt(job)
            except ServiceUnavailable as exc:
                last.append(exc)
                log.warning("%s: upload waits for the service (%s)", job.path, exc)
                raise Retry(str(exc)) from exc

        try:
            await policy.run(job.path, attempt)
        except ServiceUnavailable as exc:
            error = last[-1] if last else exc
            self._fail(job, error, f"{error}; left for the next mount")
        except SmugfsError as exc:
            self._fail(job, exc, f"{exc}; {job.detail}" if job.detail else str(exc))
        else:
            self.done_files += 1
            self.done_bytes += job.size

    def _fail(self, job: Job, error: SmugfsError, why: str) -> None:
        job.error = error
        self.failures.append(Failure(job.path, why, time.time()))
        log.warning("%s was not uploaded: %s", job.path, why)


def describe(report: dict[str, Any]) -> list[str]:
    """The queue of a status report in lines a person reads (`smugfs status`)."""
    mib = 1024 * 1024
    uploading = report.get("uploading", [])
    lines = [
        f"queue        {report.get('queued', 0)} waiting "
        f"({report.get('queued_bytes', 0) / mib:.1f} MiB), {len(uploading)} uploading "
        f"({report.get('uploading_bytes', 0) / mib:.1f} MiB), {report.get('done', 0)} done "
        f"({report.get('done_bytes', 0) / mib:.1f} MiB)"
    ]
    lines.extend(f"uploading    {path}" for path in uploading)
    lines.extend(
        f"failed       {failure['path']}: {failure['why']}" for failure in report.get("failed", [])
    )
    return lines
