"""`studio worker [--concurrency N] [--queue NAME]`: runs queued jobs (docs/scaling.md).

A procrastinate worker takes `luneo.run_job` tasks from the Postgres queue. For each,
`Worker.run_job` re-reads the job row (a job that has already ended is a duplicate
delivery and is left alone), builds a `LiveJob` with what remains of the job's
deadline, and hands it to `JobRunner` exactly as the in-process dispatcher would:
the input comes from the result store, the provider gets `luneo-<job id>` as its
idempotency key, the result files are stored, and settle or refund is written in
one conditional transaction with the job's final state. Events (started, attempt,
retrying, fallback, progress) become `luneo_job_events` rows with a NOTIFY of the
job id; the ending is NOTIFYed after its commit (the gateway also polls, so a
NOTIFY lost to a crash only delays the answer). SIGTERM/SIGINT: no new jobs,
running ones get `[queue] shutdown_grace_s`, then they are aborted and go back to
the queue for another worker.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import TYPE_CHECKING, Any

from core import jobs as jobrows
from core import queue_sql
from core.config import Settings
from core.errors import ConfigError
from core.jobs import ACTIVE_STATES, JobEvent, JobResult
from core.reconcile import Reconciler
from core.runner import LiveJob
from core.tools.base import parse_params

if TYPE_CHECKING:
    from core.engine import Engine

log = logging.getLogger(__name__)
_STORED_KINDS = frozenset({"started", "attempt", "retrying", "fallback", "progress"})


class Worker:
    """Runs jobs from the queue through an engine's `JobRunner`."""

    def __init__(self, engine: Engine, *, queue: str | None = None,
                 concurrency: int | None = None) -> None:
        self.engine = engine
        self.settings = engine.settings
        self.db = engine.db
        self.queue = queue or self.settings.queue.name
        self.concurrency = concurrency or self.settings.queue.concurrency
        self.runner = engine.runner
        self.runner.on_end = self._ended
        self.runner.emit = self._on_event
        self.reconciler = Reconciler(self.settings, self.runner)
        self._rows: list[tuple[str, str, str, float]] = []
        self._ended_ids: list[str] = []
        self._flusher: asyncio.Task[None] | None = None
        self._procrastinate: Any = None  # procrastinate.worker.Worker once running
        self.jobs_run = 0

    # -- one job ------------------------------------------------------------------------
    async def run_job(self, job_id: str) -> None:
        """Run job `job_id` from its row to its one ending (a job that has already
        ended is left alone). Raises on infrastructure errors (the queue retries)."""
        rec = await jobrows.get_job(self.db, job_id)
        if rec is None or rec.state not in ACTIVE_STATES:
            log.info("job already ended; duplicate delivery ignored", extra={"job_id": job_id})
            return
        if rec.state == "running":  # delivered again: the worker that had it is gone
            await self.db.execute(
                "UPDATE jobs SET state = 'queued' WHERE id = ? AND state = 'running'", (job_id,))
            rec.state = "queued"
        now, wall = time.monotonic(), time.time()
        left = rec.created_at + self.settings.jobs.deadline_s - wall
        if left <= 0:
            await self.reconciler.refund_late(rec)
            return
        fut: asyncio.Future[JobResult] = asyncio.get_running_loop().create_future()
        job = LiveJob(rec, parse_params(rec.tool, rec.params), fut, now, now + left)
        self.jobs_run += 1
        await self.runner.run(job)
        await self._flush()

    def _ended(self, job: LiveJob, result: JobResult, kind: str) -> None:
        if not job.future.done():
            job.future.set_result(result)
        self._ended_ids.append(job.rec.id)
        self._kick()

    def _on_event(self, event: JobEvent) -> None:
        if event.kind in _STORED_KINDS:
            self._rows.append(queue_sql.event_row(event))
            self._kick()

    def _kick(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        """Write pending event rows and NOTIFY their ids (and ended jobs' ids)."""
        while self._rows or self._ended_ids:
            rows, self._rows = self._rows, []
            ended, self._ended_ids = self._ended_ids, []

            def tx(conn: Any, rows: list[tuple[str, str, str, float]] = rows,
                   ended: list[str] = ended) -> None:
                queue_sql.insert_events_in(conn, rows)
                for job_id in ended:
                    queue_sql.notify_in(conn, job_id)

            try:
                await asyncio.shield(self.db.run_tx(tx))
            except Exception:
                log.exception("could not write job events")  # the gateway's poll catches up
                return

    # -- the process ----------------------------------------------------------------------
    async def serve(self, stop: asyncio.Event, *, grace_s: float = 30.0) -> None:
        """Take jobs until `stop` is set; then running jobs get `grace_s` seconds."""
        from procrastinate import App, PsycopgConnector, RetryStrategy
        from procrastinate.worker import Worker as QueueWorker

        from core.queue_sql import database_url

        url = database_url(self.settings)
        await queue_sql.ensure_schema(url)
        q = self.settings.queue
        app = App(connector=PsycopgConnector(conninfo=url, min_size=1,
                                             max_size=self.concurrency + 2))
        retry = RetryStrategy(max_attempts=q.max_attempts, exponential_wait=q.retry_backoff_s)
        app.task(name=queue_sql.TASK_NAME, queue=self.queue, retry=retry)(self.run_job)
        async with app.open_async():
            qw = QueueWorker(app, queues=[self.queue], name="luneo-worker",
                             concurrency=self.concurrency, install_signal_handlers=False,
                             shutdown_graceful_timeout=grace_s, abort_job_polling_interval=1.0,
                             update_heartbeat_interval=q.heartbeat_s,
                             stalled_worker_timeout=q.stalled_after_s)
            self._procrastinate = qw
            running = asyncio.create_task(qw.run(), name="queue-worker")  # type: ignore[no-untyped-call]
            reconcile = asyncio.create_task(self.reconciler.run_forever(), name="reconcile")
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({running, stopper}, return_when=asyncio.FIRST_COMPLETED)
            qw.stop()  # type: ignore[no-untyped-call]
            await asyncio.gather(running, return_exceptions=True)
            for t in (reconcile, stopper):
                t.cancel()
            await asyncio.gather(reconcile, stopper, return_exceptions=True)
            await self._flush()


async def serve_worker(settings: Settings, *, queue: str | None = None,
                       concurrency: int | None = None) -> int:
    """A whole worker process until SIGTERM/SIGINT; the exit status (0). Raises
    ConfigError when `[queue] backend` is not a Postgres queue."""
    from core.engine import Engine

    if settings.queue.backend == "inprocess":
        raise ConfigError('config: `studio worker` needs [queue] backend = "procrastinate" '
                          'and [storage] database = "postgresql://..."')
    engine = await Engine.create(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker = Worker(engine, queue=queue, concurrency=concurrency)
    log.info("worker started", extra={"queue": worker.queue, "concurrency": worker.concurrency})
    try:
        await worker.serve(stop, grace_s=settings.queue.shutdown_grace_s)
    finally:
        await engine.close(grace_s=0)
    log.info("worker stopped", extra={"jobs": worker.jobs_run})
    return 0


def worker_command(settings: Settings, *, queue: str | None, concurrency: int | None) -> int:
    """`studio worker`: run `serve_worker` in a new event loop (logging configured)."""
    from core.logging import setup_logging

    setup_logging(settings)
    try:
        return asyncio.run(serve_worker(settings, queue=queue, concurrency=concurrency))
    except KeyboardInterrupt:
        return 130


__all__ = ["Worker", "serve_worker", "worker_command"]
