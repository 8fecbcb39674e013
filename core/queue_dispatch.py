"""The queue-backed dispatcher: jobs run in `studio worker` processes (docs/scaling.md).

The gateway (the engine in `studio bot`) keeps what it needs to answer the member:
the jobs it accepted, their futures and events. The queue entry was written by the
hold's own transaction (`enqueue_in`); `enqueue` only starts following the job.
Workers report through rows (the job row, `luneo_job_events`) and `NOTIFY
luneo_jobs, '<id>'`; this dispatcher `LISTEN`s on a direct connection and, on each
id it follows, reads the new event rows and re-reads the job row. A final state
becomes the engine's done/failed/canceled event exactly once. Every `poll_s` it
re-reads the jobs it follows anyway, so a lost NOTIFY only delays a result.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from core import jobs as jobrows
from core import queue_sql
from core.config import Settings
from core.dispatch import CancelOutcome, FollowedJobs
from core.errors import AllProvidersFailed, StudioError, UserError
from core.jobs import ACTIVE_STATES, JobEvent, JobRecord, JobResult
from core.queue_sql import database_url
from core.reconcile import Reconciler
from core.runner import Emit, JobRunner, LiveJob
from core.tools.base import parse_params

log = logging.getLogger(__name__)
_KIND = {"succeeded": "done", "canceled": "canceled"}  # final state -> event kind (else failed)


def stored_error(rec: JobRecord) -> StudioError | None:
    """The error a failed job's row describes, as an instance of the class it names
    (its message as stored), for front ends; None unless the job failed."""
    if rec.state != "failed":
        return None
    classes: dict[str, type[StudioError]] = {}
    todo: list[type[StudioError]] = [StudioError]
    while todo:
        cls = todo.pop()
        classes[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    cls = classes.get(rec.error_type or "", StudioError)
    exc = cls.__new__(cls)
    Exception.__init__(exc, rec.error_message or "the job failed")
    if isinstance(exc, AllProvidersFailed):
        exc.tool, exc.reasons = rec.tool, []
    return exc


class QueueDispatcher(FollowedJobs):
    """Follows the jobs this gateway accepted while workers run them."""

    def __init__(self, settings: Settings, runner: JobRunner, emit: Emit) -> None:
        super().__init__()
        self.settings = settings
        self.runner = runner
        self.db = runner.db
        self.emit = emit
        self.queue = settings.queue
        self._seen: dict[str, int] = {}  # job id -> last luneo_job_events id read
        self._tasks: list[asyncio.Task[None]] = []
        self._refreshing: dict[str, asyncio.Task[None]] = {}
        self._closing = False
        self._adopted = asyncio.Event()  # set once the earlier gateway's jobs are followed
        self.reconciler = Reconciler(settings, runner)
        # which active jobs of earlier gateway processes this one follows and reports after
        # a restart (default: every job with a channel to answer in); a sharded gateway
        # keeps those of its own guilds, so no job is reported by two gateways
        self.follow_filter: Callable[[JobRecord], bool] = lambda rec: rec.channel_id is not None
        runner.on_end = self._ended

    # -- the Dispatcher interface ------------------------------------------------------
    def start(self) -> None:
        """Listen for job ids, poll the jobs followed, and take part in reconciling."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen(), name="queue-listen"),
                       loop.create_task(self._poll(), name="queue-poll"),
                       loop.create_task(self.reconciler.run_forever(), name="queue-reconcile")]

    def enqueue_in(self, conn: Any, rec: JobRecord) -> None:
        """Write the job's queue entry inside the hold's transaction."""
        queue_sql.defer_in(conn, rec.id, self.queue.name)

    def enqueue(self, job: LiveJob) -> int:
        """Follow `job` (already on the queue); its position among the queued jobs this
        gateway follows (1 = next)."""
        self._live[job.rec.id] = job
        position = sum(1 for jid in self._live if jid not in self._running)
        job.last_position = position
        self.emit(JobEvent("queued", job.rec.id, job.rec, position=position))
        return position

    async def cancel(self, job: LiveJob) -> CancelOutcome:
        """Conditional transition to canceled + refund in one transaction (the worker's
        own ending then loses), then abort the queue entry (a running task is cancelled
        and its local work killed). Exactly once, across processes."""
        if not job.claim("canceled"):
            if job.ending != "canceled":
                return CancelOutcome.ALREADY_FINISHED
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(job.future)
            return CancelOutcome.ALREADY_CANCELED
        await asyncio.shield(self.runner.fail(job, None, job.enqueued, state="canceled"))
        result = await asyncio.shield(job.future)
        if result.status != "canceled":
            return CancelOutcome.ALREADY_FINISHED
        await self.db.fetchall(queue_sql.ABORT_SQL, (job.rec.id,))
        await self.db.run_tx(lambda conn: queue_sql.notify_in(conn, job.rec.id))
        return CancelOutcome.CANCELED

    async def workers_alive(self) -> int:
        """`studio worker` processes alive on this database (queue_sql.workers_alive)."""
        return await queue_sql.workers_alive(self.db, self.settings)

    async def close(self, grace_s: float) -> None:
        """Stop following jobs; they go on in the workers (the rows keep their state)."""
        self._closing = True
        tasks = [*self._tasks, *self._refreshing.values()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for job in self._live.values():
            if not job.future.done():
                job.future.cancel()

    @property
    def closing(self) -> bool:
        """True once `close()` has begun."""
        return self._closing

    # -- following jobs ------------------------------------------------------------------
    def _ended(self, job: LiveJob, result: JobResult, kind: str) -> None:
        if not job.future.done():
            job.future.set_result(result)
        self._live.pop(job.rec.id, None)
        self._seen.pop(job.rec.id, None)
        self._running.discard(job.rec.id)
        self.remember(result)
        self.emit(JobEvent(kind, job.rec.id, job.rec, result=result))

    def _kick(self, job_id: str) -> None:
        """Re-read a followed job soon (one refresh at a time per job)."""
        if job_id not in self._live or self._closing:
            return
        running = self._refreshing.get(job_id)
        if running is not None and not running.done():
            running.add_done_callback(lambda _t: self._kick(job_id))
            return
        self._refreshing[job_id] = asyncio.get_running_loop().create_task(self._refresh(job_id))

    async def _refresh(self, job_id: str) -> None:
        try:
            await self._refresh_once(job_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("could not re-read a job", extra={"job_id": job_id})
        finally:
            self._refreshing.pop(job_id, None)

    async def _refresh_once(self, job_id: str) -> None:
        """Emit the job's new event rows, then end it if its row has ended."""
        job = self._live.get(job_id)
        if job is None:
            return
        rows = await self.db.fetchall(
            "SELECT id, kind, fields FROM luneo_job_events WHERE job_id = ? AND id > ? "
            "ORDER BY id", (job_id, self._seen.get(job_id, 0)))
        for row in rows:
            self._seen[job_id] = int(row["id"])
            if row["kind"] == "started":
                self._running.add(job_id)
            fields = json.loads(row["fields"])
            if row["kind"] == "attempt":
                job.rec.attempts += 1
            self.emit(JobEvent(row["kind"], job_id, job.rec, **fields))
        rec = await jobrows.get_job(self.db, job_id)
        if rec is None or rec.state in ACTIVE_STATES or job.future.done():
            return
        if not job.claim(rec.state):
            return  # this gateway's own cancel is ending it
        job.rec = rec
        balance = await self.runner.credits.balance(rec.guild_id, rec.member_id)
        self._ended(job, self.runner.result(rec, balance, error=stored_error(rec)),
                    _KIND.get(rec.state, "failed"))

    async def _listen(self) -> None:
        """LISTEN on a direct connection; reconnect (and re-read everything) on loss."""
        import psycopg

        url, pause = database_url(self.settings), 0.5
        while not self._closing:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {queue_sql.CHANNEL}")
                    pause = 0.5
                    if not self._adopted.is_set():
                        await self._adopt()
                        self._adopted.set()
                    for jid in list(self._live):
                        self._kick(jid)  # anything sent while we were not listening
                    async for note in conn.notifies():
                        self._kick(note.payload)
            except psycopg.Error as exc:
                log.warning("job listener lost its connection (%s); reconnecting",
                            type(exc).__name__)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 10.0)

    async def _adopt(self) -> None:
        """Follow the active jobs an earlier gateway process accepted (this process
        restarted): each gets a `resumed` event, then is reported like its own."""
        loop, now = asyncio.get_running_loop(), time.monotonic()
        for rec in await jobrows.active_jobs(self.db):
            if rec.id in self._live or not self.follow_filter(rec):
                continue
            try:
                params = parse_params(rec.tool, rec.params)
            except UserError:
                continue  # the reconciler refunds it at its deadline
            left = rec.created_at + self.settings.jobs.deadline_s - time.time()
            job = LiveJob(rec, params, loop.create_future(), now, now + max(0.0, left))
            last = await self.db.fetchone(
                "SELECT COALESCE(MAX(id), 0) FROM luneo_job_events WHERE job_id = ?", (rec.id,))
            self._seen[rec.id] = int(last[0]) if last else 0
            self._live[rec.id] = job
            if rec.state == "running":
                self._running.add(rec.id)
            self.emit(JobEvent("resumed", rec.id, rec,
                               message="the studio restarted; your job goes on"))
            self._kick(rec.id)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.queue.poll_s)
            for jid in list(self._live):
                self._kick(jid)


__all__ = ["QueueDispatcher", "stored_error"]
