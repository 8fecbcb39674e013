"""The dispatch seam: where accepted jobs wait, start, and are canceled.

`Dispatcher` is the interface the engine talks to after a job's hold and row
are committed: `enqueue`, `cancel`, `member_load`, `wait`. `InProcessDispatcher`
is today's implementation: a FIFO in this process with two lanes (quick jobs
never wait behind heavy ones), per-member running limits, queue-position
events, and exactly-once cancellation. A queue-backed dispatcher for workers in
other processes implements the same interface; everything a worker needs is in
the job row and the result store (see core/runner.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from enum import StrEnum
from typing import Any, Protocol

from core.admission import MemberLoad
from core.config import Settings
from core.guild_config import GuildConfig
from core.jobs import JobEvent, JobRecord, JobResult
from core.runner import Emit, JobRunner, LiveJob


class CancelOutcome(StrEnum):
    """What a cancel request did. Only CANCELED refunded anything."""

    CANCELED = "canceled"  # this request stopped the job and refunded its hold
    ALREADY_CANCELED = "already_canceled"  # an earlier request canceled it
    ALREADY_FINISHED = "already_finished"  # it succeeded or failed first


class Dispatcher(Protocol):
    """Takes committed jobs to their runner and back."""

    def start(self) -> None:
        """Begin starting queued jobs."""

    def enqueue_in(self, conn: Any, rec: JobRecord) -> None:
        """Write the job's queue entry inside the hold's transaction (in-process: nothing)."""

    def enqueue(self, job: LiveJob) -> int:
        """Queue a committed job; its 1-based queue position, 0 if it started at once."""

    def get(self, job_id: str) -> LiveJob | None:
        """The job if it is in flight here."""

    async def cancel(self, job: LiveJob) -> CancelOutcome:
        """Stop `job` (its work too) and refund it, exactly once."""

    def member_load(self, guild: str, member: str) -> MemberLoad:
        """The member's jobs in flight, and how long their running ones have run."""

    async def wait(self, job_id: str) -> JobResult | None:
        """The job's result once it ends; None if this dispatcher does not know it."""

    def remember(self, result: JobResult) -> None:
        """Keep a recent result for `wait` (e.g. a cache hit that never queued)."""

    async def workers_alive(self) -> int | None:
        """Worker processes taking jobs from this queue (alive by their heartbeat); None
        when jobs run in this process."""

    async def close(self, grace_s: float) -> None:
        """Stop starting jobs; running ones get `grace_s`, then are stopped (their rows
        stay active and are resumed or refunded at the next start)."""


class FollowedJobs:
    """What both dispatchers share: the live jobs this process follows
    (`_live`) and the last 1000 results (`_recent`)."""

    def __init__(self) -> None:
        self._live: dict[str, LiveJob] = {}  # queued or running, followed here
        self._recent: OrderedDict[str, JobResult] = OrderedDict()  # last results, for wait()
        self._running: set[str] = set()  # ids of the followed jobs that have started

    def remember(self, result: JobResult) -> None:
        """Keep `result` for `wait()` (the last 1000 results)."""
        self._recent[result.job_id] = result
        while len(self._recent) > 1000:
            self._recent.popitem(last=False)

    def get(self, job_id: str) -> LiveJob | None:
        """The live (queued or running) job with this id here, or None."""
        job = self._live.get(job_id)
        return job if job is not None and not job.future.done() else None

    def member_load(self, guild: str, member: str) -> MemberLoad:
        """The member's running and queued jobs followed here, and how long (s) the running
        ones have run."""
        now = time.monotonic()
        queued, ages = 0, []
        for job in self._live.values():
            r = job.rec
            if r.guild_id != guild or r.member_id != member or job.future.done():
                continue
            if r.id in self._running:
                ages.append(now - job.enqueued)
            else:
                queued += 1
        return MemberLoad(len(ages), queued, ages)

    async def wait(self, job_id: str) -> JobResult | None:
        """The job's result once it ends; None when this process does not follow it."""
        job = self._live.get(job_id)
        if job is not None:
            return await asyncio.shield(job.future)
        return self._recent.get(job_id)


class InProcessDispatcher(FollowedJobs):
    """A FIFO per process with a light and a heavy lane, each with
    `limits.max_running` slots, and the per-member running limit."""

    def __init__(self, settings: Settings, guild_config: GuildConfig, runner: JobRunner,
                 emit: Emit) -> None:
        super().__init__()
        self.settings = settings
        self.guild_config = guild_config
        self.runner = runner
        self.emit = emit
        self._queue: list[str] = []  # job ids waiting, FIFO
        self._started = False
        self._closing = False
        runner.on_end = self._ended

    def start(self) -> None:
        """Start running queued jobs (jobs enqueued before this wait)."""
        self._started = True
        self._pump()

    def enqueue_in(self, conn: Any, rec: JobRecord) -> None:
        """Nothing: an in-process job is queued by `enqueue` after the commit."""

    def enqueue(self, job: LiveJob) -> int:
        """Queue `job`; returns its queue position (1 = next), or 0 when it started at once."""
        self._live[job.rec.id] = job
        self._queue.append(job.rec.id)
        self._pump()
        if job.rec.id in self._running:
            return 0
        position = self._queue.index(job.rec.id) + 1
        job.last_position = position
        self.emit(JobEvent("queued", job.rec.id, job.rec, position=position))
        return position

    def _pump(self) -> None:
        """Start every queued job the per-lane and per-member limits allow."""
        if self._closing or not self._started:
            return
        busy = {"light": 0, "heavy": 0}
        for jid in self._running:
            running = self._live.get(jid)
            busy[running.lane if running else "heavy"] += 1
        for jid in list(self._queue):
            job = self._live[jid]
            if busy[job.lane] >= self.settings.limits.max_running:
                continue
            g = self.guild_config.effective_now(job.rec.guild_id)
            if self.member_load(job.rec.guild_id, job.rec.member_id).running >= g.per_member_running:
                continue
            self._queue.remove(jid)
            self._running.add(jid)
            busy[job.lane] += 1
            job.task = asyncio.get_running_loop().create_task(self._run(job))
        for i, jid in enumerate(self._queue, start=1):
            job = self._live[jid]
            if job.last_position is not None and job.last_position != i:
                job.last_position = i
                self.emit(JobEvent("queued", jid, job.rec, position=i))

    async def _run(self, job: LiveJob) -> None:
        try:
            await self.runner.run(job)
        except asyncio.CancelledError:
            if job.ending != "canceled" and not job.future.done():
                job.future.cancel()  # shutdown: the row stays active for recovery
                self._live.pop(job.rec.id, None)
            raise
        finally:
            self._release(job.rec.id)

    def _release(self, job_id: str) -> None:
        self._running.discard(job_id)
        self._pump()

    def _ended(self, job: LiveJob, result: JobResult, kind: str) -> None:
        if not job.future.done():
            job.future.set_result(result)
        if job.rec.id in self._queue:
            self._queue.remove(job.rec.id)
        self._live.pop(job.rec.id, None)
        self.remember(result)
        self.emit(JobEvent(kind, job.rec.id, job.rec, result=result))

    async def cancel(self, job: LiveJob) -> CancelOutcome:
        """Exactly once: of a cancel and the job's own success or failure, the first to
        claim the ending wins. Running local work is stopped (its worker process is
        killed) before this returns."""
        if not job.claim("canceled"):
            if job.ending != "canceled":
                return CancelOutcome.ALREADY_FINISHED
            # let the first cancel finish, so replies arrive in order
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(job.future)
            return CancelOutcome.ALREADY_CANCELED
        job.stop.set()
        if job.rec.id in self._queue:
            self._queue.remove(job.rec.id)
        task = job.task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self._release(job.rec.id)  # a task canceled before its first step runs no finally
        await asyncio.shield(self.runner.fail(job, None, job.enqueued, state="canceled"))
        return CancelOutcome.CANCELED

    async def workers_alive(self) -> int | None:
        """None: jobs run in this process."""
        return None

    async def close(self, grace_s: float) -> None:
        """Stop starting jobs; running ones get `grace_s` seconds, then are stopped (their
        rows stay active and are resumed or refunded at the next start).
        """
        self._closing = True
        for job in self._live.values():
            if job.rec.id not in self._running:
                job.stop.set()  # queued: it will not start
        running = [j for jid in self._running if (j := self._live.get(jid)) is not None]
        tasks = [j.task for j in running if j.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=grace_s)
        stopped = []
        for job in running:
            job.stop.set()  # work on a thread stops at its next checkpoint
            if job.task and not job.task.done():
                job.task.cancel()
                stopped.append(job.task)
        await asyncio.gather(*stopped, return_exceptions=True)
        for job in self._live.values():
            if not job.future.done():
                job.future.cancel()

    @property
    def closing(self) -> bool:
        """True once `close()` has begun."""
        return self._closing


__all__ = ["CancelOutcome", "Dispatcher", "InProcessDispatcher"]
