"""The engine: the one entry point front ends (bot, CLI) use to run jobs.

The path of a job (docs/architecture.md):

    submit -> Admission.admit (core/admission.py: every check, input stored, cost)
           -> hold + job row, one transaction (core/credits.py, core/jobs.py)
           -> Dispatcher.enqueue (core/dispatch.py: lanes, per-member limits)
           -> JobRunner.run (core/runner.py) -> ProviderChain.run (core/chain.py)
           -> result files stored, settle or refund + final row, one transaction
           -> JobEvents to every listener

On start, jobs a crash left queued/running are resumed or refunded, with an
event saying which.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from core import jobs as jobrows
from core.admission import Admission, Admitted
from core.breaker import Breakers
from core.chain import ProviderChain
from core.config import Settings
from core.credits import Credits
from core.dispatch import CancelOutcome, Dispatcher, InProcessDispatcher
from core.errors import InvalidInput, NotAllowed
from core.guild_config import GuildConfig
from core.jobs import JobEvent, JobHandle, JobRecord, JobRequest, JobResult
from core.metrics import Metrics
from core.process_pool import LocalProcessPool
from core.providers.base import LocalProvider, Provider
from core.providers.registry import build_providers
from core.runner import JobRunner, LiveJob, SqliteRecorder, ctx
from core.storage.blobs import open_blob_store
from core.storage.db import Connection, Database, open_database
from core.storage.results import sha256_hex
from core.tools.base import TOOLS, parse_params

log = logging.getLogger(__name__)

Listener = Callable[[JobEvent], Awaitable[None] | None]


class Engine:
    """Jobs from request to settled result. Build with `Engine.create`; see
    docs/ENGINE_API.md for what front ends call."""

    def __init__(self, settings: Settings, db: Database, providers: dict[str, Provider], *,
                 rate_limits: bool = True) -> None:
        self.settings = settings
        self.db = db
        self.providers = providers
        self.store = open_blob_store(settings)
        self.guild_config = GuildConfig(db, settings)
        self.credits = Credits(
            db,
            starting=lambda g: self.guild_config.effective_now(g).starting_credits,
            daily=lambda g: self.guild_config.effective_now(g).daily_credits,
        )
        self.metrics = Metrics()
        self.breakers = Breakers(settings.breaker.failure_threshold, settings.breaker.cooldown_s)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=settings.limits.local_threads, thread_name_prefix="luneo-local"
        )
        local = [p for p in providers.values() if isinstance(p, LocalProvider)]
        self._pool = (LocalProcessPool(settings.limits.local_threads, settings.limits.light_workers,
                                       settings.models.threads)
                      if local and settings.limits.local_isolation == "process" else None)
        for p in local:
            p.executor, p.pool = self._executor, self._pool
        self.admission = Admission(settings, self.guild_config, self.store, db, self.metrics,
                                   providers, rate_limits=rate_limits)
        chain = ProviderChain(providers, settings.tool_chain, self.breakers, settings.retry,
                              SqliteRecorder(db))
        self.runner = JobRunner(settings, db, self.store, self.credits, chain, self.metrics,
                                self._emit, on_end=lambda _j, _r, _k: None)
        self.dispatcher: Dispatcher
        if settings.queue.backend == "inprocess":
            self.dispatcher = InProcessDispatcher(settings, self.guild_config, self.runner,
                                                  self._emit)
        else:  # jobs run in `studio worker` processes (core/queue_dispatch.py)
            from core.queue_dispatch import QueueDispatcher

            self.dispatcher = QueueDispatcher(settings, self.runner, self._emit)
        self._listeners: list[Listener] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._started = False

    # -- lifecycle ------------------------------------------------------------------
    @classmethod
    async def create(cls, settings: Settings, providers: dict[str, Provider] | None = None, *,
                     rate_limits: bool = True) -> Engine:
        """Open the database (migrations applied) and build the provider registry from
        settings; `providers` replaces or adds providers (tests). `rate_limits=False`
        for the operator's own command line. Raises StorageError if storage fails."""
        db = await open_database(settings)
        try:
            registry = build_providers(settings)
            registry.update(providers or {})
            engine = cls(settings, db, registry, rate_limits=rate_limits)
        except BaseException:
            await db.close()  # an open connection thread would keep the process alive
            raise
        try:
            await engine.guild_config.load()
        except BaseException:
            await engine.close(grace_s=0)
            raise
        return engine

    async def start(self) -> None:
        """Recover jobs a crash left behind, then accept work."""
        if self._started:
            return
        self._started = True
        if self.settings.queue.backend != "inprocess":
            await self._start_queue()
            return
        for rec in await jobrows.active_jobs(self.db):
            if jobrows.owner_alive(rec.owner):
                continue  # another live process (e.g. the bot while the CLI runs) owns it
            resumable = (self.settings.jobs.recover == "resume"
                         and self.guild_config.effective_now(rec.guild_id).tools[rec.tool].enabled)
            live = await self.runner.recover(rec, resumable)
            if live is not None:
                self.dispatcher.enqueue(live)
        self.dispatcher.start()

    async def _start_queue(self) -> None:
        """Queue mode: workers and the reconciler recover jobs (core/reconcile.py); this
        process creates the queue schema if needed and starts following its jobs."""
        from core.queue_sql import database_url, ensure_schema

        await ensure_schema(database_url(self.settings))
        self.dispatcher.start()

    async def close(self, grace_s: float = 30.0) -> None:
        """Stop taking jobs; let running ones finish up to `grace_s`, else stop them and
        leave them persisted (they are resumed or refunded at the next start)."""
        if self._closed:
            return
        self._closed = True
        await self.dispatcher.close(grace_s)
        for t in list(self._tasks):
            if not t.done():
                t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for p in self.providers.values():
            await p.aclose()
        if self._pool is not None:
            await asyncio.to_thread(self._pool.close)  # kills any worker still busy
        self._executor.shutdown(wait=False, cancel_futures=True)
        await self.db.close()

    def add_listener(self, cb: Listener) -> None:
        """`cb(event)` hears every event of every job; it may return an awaitable."""
        self._listeners.append(cb)

    # -- submit -----------------------------------------------------------------------
    async def submit(self, req: JobRequest) -> JobHandle:
        """Check everything, hold the cost and queue the job. Every refusal is a
        UserError raised before any credit moves (core/admission.py)."""
        if self._closed:
            raise NotAllowed("The studio is restarting; try again in a minute.")
        ok = await self.admission.admit(req, self.dispatcher.member_load)
        rec = JobRecord(
            id=uuid.uuid4().hex, guild_id=req.guild_id, member_id=req.member_id,
            channel_id=req.channel_id, tool=req.tool, params=ok.params.model_dump(mode="json"),
            state="succeeded" if ok.cached else "queued", cost=ok.cost, source=req.source,
            created_at=time.time(), input_key=ok.input_key, cache_key=ok.cache_key,
            owner=jobrows.PROCESS_OWNER,
        )
        if ok.cached:
            rec.provider, rec.note = "cache", ok.cached.note
            rec.result_files, rec.result_data = ok.cached.files, ok.cached.data
            rec.started_at = rec.finished_at = rec.created_at
        balance = await self._hold_and_insert(rec, settle=ok.cached is not None)
        self.admission.take_rate(req)
        if ok.cached:
            return self._finish_cached(rec, balance)
        return self._enqueue(rec, ok, balance)

    def price(self, tool: str, params: dict[str, Any], guild: str) -> int:
        """What running `tool` costs in `guild` without a cache hit (InvalidInput if the
        tool or params are bad): for front ends that show or top up a price."""
        if tool not in TOOLS:
            raise InvalidInput(f"Unknown tool {tool!r}.", field="tool")
        g = self.guild_config.effective_now(guild)
        return TOOLS[tool].cost_for(g.tools[tool].cost, parse_params(tool, params))

    async def _hold_and_insert(self, rec: JobRecord, *, settle: bool) -> int:
        def tx(conn: Connection) -> int:
            balance = self.credits.hold_in(conn, rec.guild_id, rec.member_id, rec.cost, rec.id)
            jobrows.insert_job(conn, rec)
            if settle:
                self.credits.settle_in(conn, rec.id)
            else:
                self.dispatcher.enqueue_in(conn, rec)
            return balance

        return await self.db.run_tx(tx)

    def _finish_cached(self, rec: JobRecord, balance: int) -> JobHandle:
        result = self.runner.result(rec, balance, cached=True)
        self.metrics.record(rec.tool, "cache", ok=True, latency_ms=0, credits=rec.cost)
        log.info("job served from cache", extra=ctx(rec, outcome="cache"))
        self.dispatcher.remember(result)
        self._emit(JobEvent("done", rec.id, rec, result=result))
        return JobHandle(rec.id, rec.cost, 0, True, balance)

    def _enqueue(self, rec: JobRecord, ok: Admitted, balance: int) -> JobHandle:
        now = time.monotonic()
        fut: asyncio.Future[JobResult] = asyncio.get_running_loop().create_future()
        job = LiveJob(rec, ok.params, fut, now, now + self.settings.jobs.deadline_s,
                      lane=ok.lane, decoded=ok.decoded, input_bytes=ok.input_bytes)
        if ok.decoded:
            job.notes.extend(ok.decoded.notes)
        log.info("job queued", extra=ctx(rec))
        position = self.dispatcher.enqueue(job)
        return JobHandle(rec.id, rec.cost, position, False, balance)

    # -- queries and control ----------------------------------------------------------
    async def wait(self, job_id: str) -> JobResult:
        """The job's result once it ends (InvalidInput if unknown here)."""
        result = await self.dispatcher.wait(job_id)
        if result is not None:
            return result
        rec = await jobrows.get_job(self.db, job_id)
        if rec is None:
            raise InvalidInput(f"No job {job_id}.", field="job")
        if rec.state in jobrows.ACTIVE_STATES:
            raise InvalidInput("That job belongs to another running process.", field="job")
        balance = await self.credits.balance(rec.guild_id, rec.member_id)
        return self.runner.result(rec, balance)

    async def run(self, req: JobRequest) -> JobResult:
        """Submit the request, then wait for its result (`submit` + `wait`)."""
        handle = await self.submit(req)
        return await self.wait(handle.job_id)

    async def cancel(self, job_id: str, actor_id: str, is_moderator: bool = False) -> CancelOutcome:
        """Cancel a queued or running job (its owner or a moderator) and refund it,
        exactly once (core/dispatch.py). Raises NotAllowed for anyone else's job."""
        job = self.dispatcher.get(job_id)
        rec = job.rec if job is not None else await jobrows.get_job(self.db, job_id)
        if rec is not None and rec.member_id != actor_id and not is_moderator:
            raise NotAllowed("Only the member who started this job or a moderator can cancel it.")
        if job is not None:
            return await self.dispatcher.cancel(job)
        if rec is not None and rec.state == "canceled":
            return CancelOutcome.ALREADY_CANCELED
        return CancelOutcome.ALREADY_FINISHED

    async def get_job(self, job_id: str) -> JobRecord | None:
        """The job's row, or None."""
        return await jobrows.get_job(self.db, job_id)

    async def record_delivery(
        self, job_id: str, channel_id: str, message_id: str, url: str | None = None
    ) -> None:
        """Remember where a job's result was posted (for /history links after restarts)."""
        await jobrows.record_delivery(self.db, job_id, channel_id, message_id, url)

    async def history(self, guild: str, member: str, limit: int = 10) -> list[JobRecord]:
        """The member's last `limit` jobs, newest first."""
        return await jobrows.history(self.db, guild, member, limit)

    async def stats(self) -> dict[str, Any]:
        """Per tool/provider figures, breakers and the ledger summary (core/stats.py)."""
        from core.stats import collect_stats

        return await collect_stats(self.db, self.breakers, self.metrics)

    async def daily_figures(self, days: int = 14) -> dict[str, Any]:
        """Runs and credits per tool per day, failed attempts by provider (core/stats.py)."""
        from core.stats import daily_figures

        return await daily_figures(self.db, days)

    # -- events -----------------------------------------------------------------------
    def _emit(self, event: JobEvent) -> None:
        for cb in list(self._listeners):
            try:
                res = cb(event)
            except Exception:
                log.exception("event listener failed", extra={"job_id": event.job_id})
                continue
            if inspect.isawaitable(res):
                task = asyncio.ensure_future(res)
                self._tasks.add(task)
                task.add_done_callback(self._listener_done)

    def _listener_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("event listener failed", exc_info=task.exception())


__all__ = ["CancelOutcome", "Engine", "JobEvent", "JobHandle", "JobRecord", "JobRequest",
           "JobResult", "sha256_hex"]
