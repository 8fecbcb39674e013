"""The engine: run a job from request to settled result.

submit: validate -> rate-limit -> queue check -> cache lookup -> hold + job row
(one transaction) -> queue. A worker runs the tool's provider chain (retries
for transient errors, circuit breakers, fallback), stores result files in the
content-addressed store, then settles (success) or refunds (anything else) in
the same transaction that writes the job's final state. Events go to every
listener (the bot, the CLI). On start, jobs a crash left queued/running are
resumed or refunded, with an event saying which.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import inspect
import json
import logging
import sqlite3
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from core import jobs as jobrows
from core.admission import Admission, MemberLoad
from core.breaker import Breakers
from core.budget import estimate
from core.chain import run_chain
from core.config import Settings
from core.credits import Credits
from core.errors import (
    AllProvidersFailed,
    InternalError,
    InvalidInput,
    NotAllowed,
    StudioError,
    UserError,
)
from core.guild_config import GuildConfig
from core.imaging import DecodedImage, decode_image, mime_of
from core.jobs import JobEvent, JobHandle, JobRecord, JobResult
from core.metrics import Metrics
from core.process_pool import LocalProcessPool
from core.providers.base import LocalProvider, Provider, ProviderResult
from core.providers.registry import build_providers
from core.storage.db import Database
from core.storage.results import ResultStore, sha256_hex
from core.tools.base import TOOLS, Params, parse_params

log = logging.getLogger(__name__)

Listener = Callable[[JobEvent], Awaitable[None] | None]


@dataclass(frozen=True)
class JobRequest:
    guild_id: str
    member_id: str
    tool: str
    params: dict[str, Any]
    image: bytes | None = None
    filename: str | None = None
    channel_id: str | None = None
    source: str = "discord"
    is_moderator: bool = False


@dataclass
class _Live:
    """A job in flight in this process."""

    rec: JobRecord
    params: Params
    decoded: DecodedImage | None
    input_bytes: bytes | None
    future: asyncio.Future[JobResult]
    enqueued: float
    deadline: float
    task: asyncio.Task[None] | None = None
    # the job's one ending, claimed synchronously on the event loop by whoever gets there
    # first: "succeeded", "failed" or "canceled" (None while it may still go either way)
    ending: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)  # stops local work
    lane: str = "heavy"  # "light" jobs have their own running slots and local workers
    fallback_reason: str | None = None
    last_position: int | None = None
    notes: list[str] = field(default_factory=list)


class CancelOutcome(StrEnum):
    """What a cancel request did. Only CANCELED refunded anything."""

    CANCELED = "canceled"  # this request stopped the job and refunded its hold
    ALREADY_CANCELED = "already_canceled"  # an earlier request canceled it
    ALREADY_FINISHED = "already_finished"  # it succeeded or failed first


class _EndingLost(Exception):
    """A job's final transition found it already ended (another process got there)."""


class Engine:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        providers: dict[str, Provider],
    ) -> None:
        self.settings = settings
        self.db = db
        self.providers = providers
        self.store = ResultStore(settings.results_path)
        self.guild_config = GuildConfig(db, settings)
        self.credits = Credits(
            db,
            starting=lambda g: self.guild_config.effective_now(g).starting,
            daily=lambda g: self.guild_config.effective_now(g).daily,
        )
        self.metrics = Metrics()
        self.breakers = Breakers(settings.breaker.failure_threshold, settings.breaker.cooldown_s)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=settings.limits.local_threads, thread_name_prefix="luneo-local"
        )
        local = [p for p in providers.values() if isinstance(p, LocalProvider)]
        self._pool = (LocalProcessPool(settings.limits.local_threads, settings.limits.light_workers)
                      if local and settings.limits.local_isolation == "process" else None)
        for p in local:
            p.executor, p.pool = self._executor, self._pool
        self.admission = Admission(settings, self.metrics)
        self._listeners: list[Listener] = []
        self._live: dict[str, _Live] = {}  # jobs in flight (queued or running) only
        self._recent: OrderedDict[str, JobResult] = OrderedDict()  # last results, for wait()
        self._queue: list[str] = []  # job ids waiting, FIFO
        self._running: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._closed = False
        self._started = False

    # -- lifecycle ------------------------------------------------------------------
    @classmethod
    async def create(
        cls, settings: Settings, providers: dict[str, Provider] | None = None
    ) -> Engine:
        db = await Database.open(settings.database_path)
        try:
            registry = build_providers(settings)
            registry.update(providers or {})
            engine = cls(settings, db, registry)
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
        for rec in await jobrows.active_jobs(self.db):
            if jobrows.owner_alive(rec.owner):
                continue  # another live process (e.g. the bot while the CLI runs) owns it
            await self._recover(rec)
        self._pump()

    async def close(self, grace_s: float = 30.0) -> None:
        """Stop taking jobs; let running ones finish up to `grace_s`, else leave them
        persisted (they are resumed or refunded at the next start)."""
        if self._closed:
            return
        self._closing = self._closed = True
        for live in self._live.values():
            if live.rec.id not in self._running:
                live.stop.set()  # queued: it will not start
        running = [self._live[j].task for j in self._running if self._live[j].task]
        if running:
            await asyncio.wait([t for t in running if t], timeout=grace_s)
        cancelled = []
        for jid in list(self._running):
            self._live[jid].stop.set()  # work on a thread stops at its next checkpoint
            task = self._live[jid].task
            if task and not task.done():
                task.cancel()
                cancelled.append(task)
        await asyncio.gather(*cancelled, return_exceptions=True)
        for t in list(self._tasks):
            if not t.done():
                t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for live in self._live.values():
            if not live.future.done():
                live.future.cancel()
        for p in self.providers.values():
            await p.aclose()
        if self._pool is not None:
            await asyncio.to_thread(self._pool.close)  # kills any worker still busy
        self._executor.shutdown(wait=False, cancel_futures=True)
        await self.db.close()

    def add_listener(self, cb: Listener) -> None:
        self._listeners.append(cb)

    def remove_listener(self, cb: Listener) -> None:
        if cb in self._listeners:
            self._listeners.remove(cb)

    # -- submit -----------------------------------------------------------------------
    async def submit(self, req: JobRequest) -> JobHandle:
        """Check everything, hold the cost and queue the job. UserError before any credit moves."""
        if self._closing:
            raise NotAllowed("The studio is restarting; try again in a minute.")
        if req.tool not in TOOLS:
            raise InvalidInput(f"Unknown tool {req.tool!r}.", field="tool")
        g = self.guild_config.effective_now(req.guild_id)
        self.admission.check_allowed(req, g)
        params = parse_params(req.tool, req.params)
        self.admission.check_prompt(params)
        decoded = await self._decode(req) if TOOLS[req.tool].takes_image else None
        if decoded:  # time/memory/output limits of local work (core/budget.py), before the hold
            from core.budget import admit
            admit(req.tool, params, decoded.image, self.settings, self.providers)
        self.admission.check_rate(req, g)
        self.admission.check_queue(req, g, self._member_load(req.guild_id, req.member_id))
        input_key = ((await self._store_files([(req.image, mime_of(req.image))]))[0]
                     if req.image and decoded else None)
        cache_key = _cache_key(req.tool, params, input_key)
        cached = await self._cache_lookup(cache_key)
        cost = g.cache_hit_cost if cached else TOOLS[req.tool].cost_for(g.tools[req.tool].cost, params)
        rec = JobRecord(
            id=uuid.uuid4().hex, guild_id=req.guild_id, member_id=req.member_id,
            channel_id=req.channel_id, tool=req.tool, params=params.model_dump(mode="json"),
            state="succeeded" if cached else "queued", cost=cost, source=req.source,
            created_at=time.time(), input_key=input_key, cache_key=cache_key,
            owner=jobrows.PROCESS_OWNER,
        )
        if cached:
            rec.provider, rec.note = "cache", cached["note"]
            rec.result_files, rec.result_data = cached["files"], cached["data"]
            rec.started_at = rec.finished_at = rec.created_at
        if req.source == "cli":
            await self._operator_topup(req, cost)
        balance = await self._hold_and_insert(rec, settle=bool(cached))
        self.admission.take_rate(req, g)
        if cached:
            return self._finish_cached(rec, balance)
        return self._enqueue(rec, params, decoded, req.image, balance,
                             self._lane(req.tool, params, decoded))

    def _lane(self, tool: str, params: Params, decoded: DecodedImage | None) -> str:
        """"light" when the local work is estimated at most `limits.light_seconds` and
        small in memory (crops, palettes, designs), else "heavy"."""
        w, h = (decoded.width, decoded.height) if decoded else (0, 0)
        try:
            cost = estimate(tool, params, w, h, self.settings)
        except UserError:
            return "heavy"
        light = cost.seconds <= self.settings.limits.light_seconds and not cost.heavy
        return "light" if light else "heavy"

    async def _decode(self, req: JobRequest) -> DecodedImage:
        if req.image is None:
            raise InvalidInput("Invalid `image`: attach an image to run this tool.", field="image")
        sec = self.settings.security
        data = req.image
        return await asyncio.to_thread(
            decode_image, data, max_bytes=sec.max_input_bytes, max_pixels=sec.max_pixels
        )

    def _member_load(self, guild: str, member: str) -> MemberLoad:
        """The member's jobs in flight, and how long their running ones have run."""
        now = time.monotonic()
        queued, ages = 0, []
        for live in self._live.values():
            r = live.rec
            if r.guild_id != guild or r.member_id != member or live.future.done():
                continue
            if r.id in self._running:
                ages.append(now - live.enqueued)
            else:
                queued += 1
        return MemberLoad(len(ages), queued, ages)

    async def _store_files(self, files: list[tuple[bytes, str]]) -> list[str]:
        """Put files in the result store; big ones are hashed and written off the event
        loop (below ~256 KB the thread hand-off costs more than the work)."""
        if sum(len(data) for data, _ in files) < 256 * 1024:
            return [self.store.put(data, mime) for data, mime in files]
        return await asyncio.to_thread(lambda: [self.store.put(d, m) for d, m in files])

    async def _cache_lookup(self, key: str) -> dict[str, Any] | None:
        row = await self.db.fetchone("SELECT files, data, note FROM cache WHERE key = ?", (key,))
        if row is None:
            return None
        files = json.loads(row[0])
        if not all(self.store.exists(f["key"]) for f in files):
            return None
        return {"files": files, "data": json.loads(row[1]), "note": row[2]}

    async def _operator_topup(self, req: JobRequest, cost: int) -> None:
        topup = self.settings.credits.operator_topup
        if topup <= 0 or cost <= 0:
            return
        wallet = await self.credits.wallet(req.guild_id, req.member_id)
        if wallet.balance < cost:
            await self.credits.grant(req.guild_id, req.member_id, max(topup, cost), "cli",
                                     "automatic operator top-up", kind="topup")

    async def _hold_and_insert(self, rec: JobRecord, *, settle: bool) -> int:
        def tx(conn: sqlite3.Connection) -> int:
            balance = self.credits.hold_in(conn, rec.guild_id, rec.member_id, rec.cost, rec.id)
            jobrows.insert_job(conn, rec)
            if settle:
                self.credits.settle_in(conn, rec.id)
            return balance

        return await self.db.run_tx(tx)

    def _finish_cached(self, rec: JobRecord, balance: int) -> JobHandle:
        result = self._result(rec, balance, cached=True)
        self.metrics.record(rec.tool, "cache", ok=True, latency_ms=0, credits=rec.cost)
        log.info("job served from cache", extra=self._ctx(rec, outcome="cache"))
        self._remember(result)
        self._emit(JobEvent("done", rec.id, rec, result=result))
        return JobHandle(rec.id, rec.cost, 0, True, balance)

    def _enqueue(
        self, rec: JobRecord, params: Params, decoded: DecodedImage | None,
        data: bytes | None, balance: int, lane: str,
    ) -> JobHandle:
        now = time.monotonic()
        fut: asyncio.Future[JobResult] = asyncio.get_running_loop().create_future()
        live = _Live(rec, params, decoded, data, fut, now, now + self.settings.jobs.deadline_s,
                     lane=lane)
        if decoded:
            live.notes.extend(decoded.notes)
        self._live[rec.id] = live
        self._queue.append(rec.id)
        log.info("job queued", extra=self._ctx(rec))
        self._pump()
        position = 0 if rec.id in self._running else self._queue.index(rec.id) + 1
        if position:
            live.last_position = position
            self._emit(JobEvent("queued", rec.id, rec, position=position))
        return JobHandle(rec.id, rec.cost, position, False, balance)

    # -- scheduling -------------------------------------------------------------------
    def _pump(self) -> None:
        """Start every queued job that the per-lane and per-member limits allow: at most
        `limits.max_running` heavy and as many light jobs at once, so a quick crop never
        waits behind upscales."""
        if self._closing or not self._started:
            return
        busy = {"light": 0, "heavy": 0}
        for jid in self._running:
            running = self._live.get(jid)
            busy[running.lane if running else "heavy"] += 1
        for jid in list(self._queue):
            live = self._live[jid]
            if busy[live.lane] >= self.settings.limits.max_running:
                continue
            g = self.guild_config.effective_now(live.rec.guild_id)
            load = self._member_load(live.rec.guild_id, live.rec.member_id)
            if load.running >= g.per_member_running:
                continue
            self._queue.remove(jid)
            self._running.add(jid)
            busy[live.lane] += 1
            live.task = asyncio.get_running_loop().create_task(self._run_job(live))
        for i, jid in enumerate(self._queue, start=1):
            live = self._live[jid]
            if live.last_position is not None and live.last_position != i:
                live.last_position = i
                self._emit(JobEvent("queued", jid, live.rec, position=i))

    async def _run_job(self, live: _Live) -> None:
        rec = live.rec
        t0 = time.monotonic()
        try:
            if live.ending is not None or not await jobrows.mark_running(self.db, rec):
                return  # canceled before it started: the canceller ends it
            self._emit(JobEvent("started", rec.id, rec))
            # the attempt's own timeout fires at the deadline; this one is a backstop
            remaining = max(0.1, live.deadline - time.monotonic()) + 3.0
            try:
                provider, out = await asyncio.wait_for(run_chain(self, live), timeout=remaining)
            except TimeoutError:
                raise AllProvidersFailed(rec.tool, [("engine", "the job ran past its deadline")]) from None
            if self._claim_end(live, "succeeded"):
                await self._succeed(live, provider, out, t0)
        except asyncio.CancelledError:
            live.stop.set()
            if live.ending != "canceled" and not live.future.done():
                live.future.cancel()  # shutdown: the row stays active for recovery
                self._live.pop(rec.id, None)
            raise
        except StudioError as exc:
            if self._claim_end(live, "failed"):
                await self._fail(live, exc, t0)
        except Exception:
            ref = uuid.uuid4().hex[:8]
            log.exception("bug: job crashed (ref %s)", ref, extra=self._ctx(rec, ref=ref))
            if self._claim_end(live, "failed"):
                await self._fail(live, InternalError(ref), t0)
        finally:
            live.stop.set()  # whatever happened, no local work outlives its job
            self._release(rec.id)

    def _release(self, job_id: str) -> None:
        self._running.discard(job_id)
        self._pump()

    @staticmethod
    def _claim_end(live: _Live, ending: str) -> bool:
        """Claim the job's one ending. Synchronous (no await), so on the event loop
        exactly one of success, failure and cancel wins; the losers see False."""
        if live.ending is not None:
            return False
        live.ending = ending
        return True

    # -- endings ----------------------------------------------------------------------
    async def _succeed(self, live: _Live, provider: str, out: ProviderResult, t0: float) -> None:
        rec = live.rec
        keys = await self._store_files([(f.data, f.mime) for f in out.files])
        files = [{"key": k, "name": f.name, "mime": f.mime} for k, f in zip(keys, out.files, strict=True)]
        notes = [*live.notes, *([out.note] if out.note else [])]
        rec.state, rec.provider = "succeeded", provider
        rec.result_files, rec.result_data = files, out.data
        rec.note = "; ".join(notes) or None
        def tx(conn: sqlite3.Connection) -> int:
            if not jobrows.finish_job_in(conn, rec) or not self.credits.settle_in(conn, rec.id):
                raise _EndingLost(rec.id)
            conn.execute(
                "INSERT OR REPLACE INTO cache (key, tool, provider, files, data, note, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (rec.cache_key, rec.tool, provider, json.dumps(files), json.dumps(out.data),
                 out.note, time.time()),
            )
            return self.credits.balance_in(conn, rec.guild_id, rec.member_id)

        try:
            balance = await asyncio.shield(self.db.run_tx(tx))
        except _EndingLost:
            await self._resolve_lost(live)
            return
        latency = (time.monotonic() - t0) * 1000
        self.metrics.record(rec.tool, provider, ok=True, latency_ms=latency, credits=rec.cost)
        log.info("job succeeded", extra=self._ctx(rec, provider=provider, outcome="succeeded",
                                                  latency_ms=round(latency)))
        result = self._result(rec, balance, fallback=live.fallback_reason)
        self._resolve(live, result, "done")

    async def _fail(
        self, live: _Live, exc: StudioError | None, t0: float, *, state: str = "failed"
    ) -> None:
        """Refund and record a failed (exc given) or canceled (exc None) job, in one
        transaction that also moves the job row from queued/running to `state`."""
        rec = live.rec
        if live.future.done():
            return
        if exc is not None:
            rec.error_type, rec.error_message = type(exc).__name__, str(exc)
        else:
            rec.error_type, rec.error_message = "Canceled", "canceled"
        rec.state = state
        def tx(conn: sqlite3.Connection) -> int:
            if not jobrows.finish_job_in(conn, rec):
                raise _EndingLost(rec.id)
            self.credits.refund_in(conn, rec.id, reason=f"job {state}")
            return self.credits.balance_in(conn, rec.guild_id, rec.member_id)

        try:
            balance = await asyncio.shield(self.db.run_tx(tx))
        except _EndingLost:
            await self._resolve_lost(live)
            return
        if rec.id in self._queue:
            self._queue.remove(rec.id)
        latency = (time.monotonic() - t0) * 1000
        self.metrics.record(rec.tool, rec.provider or "none", ok=False, latency_ms=latency,
                            failure=rec.error_type)
        log.info("job %s, refunded", state, extra=self._ctx(rec, outcome=state,
                                                              error_type=rec.error_type))
        result = self._result(rec, balance, error=exc)
        self._resolve(live, result, "canceled" if state == "canceled" else "failed")

    async def _resolve_lost(self, live: _Live) -> None:
        """The row had already ended elsewhere: tell listeners what the database says."""
        log.warning("job ending lost a race; reporting the stored outcome",
                    extra=self._ctx(live.rec))
        stored = await jobrows.get_job(self.db, live.rec.id)
        rec = stored or live.rec
        balance = await self.credits.balance(rec.guild_id, rec.member_id)
        kind = {"succeeded": "done", "canceled": "canceled"}.get(rec.state, "failed")
        self._resolve(live, self._result(rec, balance), kind)

    def _resolve(self, live: _Live, result: JobResult, kind: str) -> None:
        if not live.future.done():
            live.future.set_result(result)
        self._live.pop(live.rec.id, None)
        self._remember(result)
        self._emit(JobEvent(kind, live.rec.id, live.rec, result=result))

    def _remember(self, result: JobResult) -> None:
        self._recent[result.job_id] = result
        while len(self._recent) > 1000:
            self._recent.popitem(last=False)

    def _result(
        self, rec: JobRecord, balance: int, *, cached: bool = False,
        fallback: str | None = None, error: StudioError | None = None,
    ) -> JobResult:
        ok = rec.state == "succeeded"
        end = rec.finished_at or time.time()
        return JobResult(
            job_id=rec.id, tool=rec.tool, status=rec.state, provider=rec.provider,
            credits_charged=rec.cost if ok else 0, balance=balance,
            files=[self.store.path(f["key"]) for f in rec.result_files],
            file_names=[f["name"] for f in rec.result_files],
            data=rec.result_data, note=rec.note, fallback_reason=fallback, error=error,
            elapsed_ms=int((end - rec.created_at) * 1000), cached=cached,
        )

    # -- recovery ---------------------------------------------------------------------
    async def _recover(self, rec: JobRecord) -> None:
        data = self.store.get(rec.input_key) if rec.input_key and self.store.exists(rec.input_key) else None
        can_resume = (
            self.settings.jobs.recover == "resume"
            and (data is not None or not TOOLS[rec.tool].takes_image)
            and self.guild_config.effective_now(rec.guild_id).tools[rec.tool].enabled
        )
        decoded = None
        if can_resume and data is not None:
            try:
                decoded = await self._decode(JobRequest(rec.guild_id, rec.member_id, rec.tool, {},
                                                        image=data))
            except UserError:
                can_resume = False
        if not can_resume:
            rec.state, rec.error_type = "failed", "Interrupted"
            rec.error_message = "interrupted by a restart"
            def tx(conn: sqlite3.Connection) -> None:
                self.credits.refund_in(conn, rec.id, reason="interrupted by a restart")
                jobrows.finish_job_in(conn, rec)

            await self.db.run_tx(tx)
            log.info("recovered job refunded", extra=self._ctx(rec, outcome="refunded"))
            self._emit(JobEvent("refunded", rec.id, rec,
                                message="interrupted by a restart; your credits were refunded"))
            return
        rec.state, rec.owner = "queued", jobrows.PROCESS_OWNER
        await self.db.execute("UPDATE jobs SET state = 'queued', owner = ? WHERE id = ?",
                              (rec.owner, rec.id))
        now = time.monotonic()
        fut: asyncio.Future[JobResult] = asyncio.get_running_loop().create_future()
        live = _Live(rec, parse_params(rec.tool, rec.params), decoded, data, fut, now,
                     now + self.settings.jobs.deadline_s)
        self._live[rec.id] = live
        self._queue.append(rec.id)
        log.info("recovered job resumed", extra=self._ctx(rec, outcome="resumed"))
        self._emit(JobEvent("resumed", rec.id, rec,
                            message="interrupted by a restart; it has been resumed"))

    # -- queries and control ----------------------------------------------------------
    async def wait(self, job_id: str) -> JobResult:
        live = self._live.get(job_id)
        if live is not None:
            return await asyncio.shield(live.future)
        if job_id in self._recent:
            return self._recent[job_id]
        rec = await jobrows.get_job(self.db, job_id)
        if rec is None:
            raise InvalidInput(f"No job {job_id}.", field="job")
        if rec.state in jobrows.ACTIVE_STATES:
            raise InvalidInput("That job belongs to another running process.", field="job")
        balance = await self.credits.balance(rec.guild_id, rec.member_id)
        return self._result(rec, balance)

    async def run(self, req: JobRequest) -> JobResult:
        handle = await self.submit(req)
        return await self.wait(handle.job_id)

    async def cancel(
        self, job_id: str, actor_id: str, is_moderator: bool = False
    ) -> CancelOutcome:
        """Cancel a queued or running job (its owner or a moderator) and refund it.

        Exactly once: of a cancel and the job's own success or failure, the first to
        claim the ending wins, and the refund is in the same transaction as the job's
        final state. Running local work is stopped (its worker process is killed)
        before this returns. Raises NotAllowed for anyone else's job.
        """
        live = self._live.get(job_id)
        if live is None:
            rec = await jobrows.get_job(self.db, job_id)
            if rec is not None and rec.member_id != actor_id and not is_moderator:
                raise NotAllowed("Only the member who started this job or a moderator can cancel it.")
            if rec is not None and rec.state == "canceled":
                return CancelOutcome.ALREADY_CANCELED
            return CancelOutcome.ALREADY_FINISHED
        if live.rec.member_id != actor_id and not is_moderator:
            raise NotAllowed("Only the member who started this job or a moderator can cancel it.")
        if not self._claim_end(live, "canceled"):
            if live.ending != "canceled":
                return CancelOutcome.ALREADY_FINISHED
            try:  # let the first cancel finish, so replies arrive in order
                await asyncio.shield(live.future)
            except asyncio.CancelledError:
                pass
            return CancelOutcome.ALREADY_CANCELED
        live.stop.set()
        if job_id in self._queue:
            self._queue.remove(job_id)
        task = live.task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self._release(job_id)  # a task canceled before its first step runs no finally
        await asyncio.shield(self._fail(live, None, live.enqueued, state="canceled"))
        return CancelOutcome.CANCELED

    async def get_job(self, job_id: str) -> JobRecord | None:
        return await jobrows.get_job(self.db, job_id)

    async def record_delivery(
        self, job_id: str, channel_id: str, message_id: str, url: str | None = None
    ) -> None:
        """Remember where a job's result was posted (for /history links after restarts)."""
        await jobrows.record_delivery(self.db, job_id, channel_id, message_id, url)

    async def history(self, guild: str, member: str, limit: int = 10) -> list[JobRecord]:
        return await jobrows.history(self.db, guild, member, limit)

    def queue_position(self, job_id: str) -> int:
        return self._queue.index(job_id) + 1 if job_id in self._queue else 0

    async def stats(self) -> dict[str, Any]:
        from core.stats import collect_stats

        return await collect_stats(self.db, self.breakers, self.metrics)

    # -- events and logs --------------------------------------------------------------
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

    @staticmethod
    def _ctx(rec: JobRecord, **extra: Any) -> dict[str, Any]:
        return {"job_id": rec.id, "guild_id": rec.guild_id, "member_id": rec.member_id,
                "tool": rec.tool, **extra}


def _cache_key(tool: str, params: Params, input_key: str | None) -> str:
    raw = f"{tool}\n{params.normalised()}\n{input_key or ''}"
    return hashlib.sha256(raw.encode()).hexdigest()


__all__ = ["CancelOutcome", "Engine", "JobEvent", "JobHandle", "JobRecord", "JobRequest", "JobResult",
           "sha256_hex"]
