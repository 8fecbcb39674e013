"""Running one job: from its row and the result store to its one ending.

`JobRunner.run(job)` marks the row running, builds the provider request (the
input comes from the result store by the row's `input_key`, so a worker in
another process needs nothing but the row and the store), runs the provider
chain, stores the result files, and ends the job: settle on success, refund
otherwise, each in the same transaction that moves the row out of
queued/running. `LiveJob.ending` is claimed synchronously on the event loop, so
of success, failure and cancel exactly one wins; the database transition is
conditional too, so a second writer can only lose, never double-charge.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core import jobs as jobrows
from core.breaker import CircuitBreaker
from core.chain import AttemptRecord, ProviderChain
from core.config import Settings
from core.credits import Credits
from core.errors import (
    AllProvidersFailed,
    InternalError,
    Interrupted,
    StorageError,
    StudioError,
    UserError,
)
from core.imaging import DecodedImage, decode_image
from core.jobs import JobEvent, JobRecord, JobResult
from core.metrics import Metrics
from core.providers.base import ProviderRequest
from core.storage.db import Connection, Database
from core.storage.results import BlobStore
from core.tools.base import Params, parse_params

log = logging.getLogger(__name__)

Emit = Callable[[JobEvent], None]


@dataclass
class LiveJob:
    """A job in flight in this process: its row plus what only this process holds
    (the decoded input, when admission already decoded it; the stop event)."""

    rec: JobRecord
    params: Params
    future: asyncio.Future[JobResult]
    enqueued: float  # time.monotonic()
    deadline: float  # time.monotonic() by which the whole job must be done
    lane: str = "heavy"  # "light" jobs have their own running slots and local workers
    decoded: DecodedImage | None = None
    input_bytes: bytes | None = None
    task: asyncio.Task[None] | None = None
    # the job's one ending, claimed synchronously by whoever gets there first:
    # "succeeded", "failed" or "canceled" (None while it may still go either way)
    ending: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)  # stops local work
    last_position: int | None = None
    notes: list[str] = field(default_factory=list)

    def claim(self, ending: str) -> bool:
        """Claim the job's one ending; False if another already won. No await inside,
        so on the event loop the first caller wins."""
        if self.ending is not None:
            return False
        self.ending = ending
        return True


class _EndingLost(Exception):
    """A job's final transition found it already ended (another process got there)."""


class JobRunner:
    """Runs jobs and writes their endings. `on_end(job, result, kind)` hears each
    ending exactly once (kind: done, failed or canceled)."""

    def __init__(self, settings: Settings, db: Database, store: BlobStore, credits: Credits,
                 chain: ProviderChain, metrics: Metrics, emit: Emit,
                 on_end: Callable[[LiveJob, JobResult, str], None]) -> None:
        self.settings = settings
        self.db = db
        self.store = store
        self.credits = credits
        self.chain = chain
        self.metrics = metrics
        self.emit = emit
        self.on_end = on_end

    async def run(self, job: LiveJob) -> None:
        """Run `job` to its ending (unless a cancel claims it first)."""
        rec = job.rec
        t0 = time.monotonic()
        try:
            if job.ending is not None or not await jobrows.mark_running(self.db, rec):
                return  # canceled before it started: the canceller ends it
            if job.ending is not None:
                return  # canceled while the row was being marked running: same
            self.emit(JobEvent("started", rec.id, rec))
            req = await self._request(job)
            # the attempt's own timeout fires at the deadline; this one is a backstop
            remaining = max(0.1, job.deadline - time.monotonic()) + 3.0
            try:
                outcome = await asyncio.wait_for(self.chain.run(req, self._notify(job)),
                                                 timeout=remaining)
            except TimeoutError:
                raise AllProvidersFailed(rec.tool, [("engine", "the job ran past its deadline")]) from None
            if job.claim("succeeded"):
                await self.succeed(job, outcome.provider, outcome.result, outcome.fallback_reason, t0)
        except asyncio.CancelledError:
            job.stop.set()
            raise
        except StudioError as exc:
            if job.claim("failed"):
                await self.fail(job, exc, t0)
        except Exception:
            ref = uuid.uuid4().hex[:8]
            log.exception("bug: job crashed (ref %s)", ref, extra=ctx(rec, ref=ref))
            if job.claim("failed"):
                await self.fail(job, InternalError(ref), t0)
        finally:
            job.stop.set()  # whatever happened, no local work outlives its job

    async def _request(self, job: LiveJob) -> ProviderRequest:
        """The provider request; a job without its input in memory reads it from the
        result store by the row's `input_key` (as a worker in another process would)."""
        rec = job.rec
        if rec.input_key and job.decoded is None:
            job.input_bytes = await self.store.get_async(rec.input_key)
            job.decoded = await asyncio.to_thread(self.decode, job.input_bytes)
            job.notes.extend(job.decoded.notes)
        if rec.input_key and job.input_bytes is None:
            job.input_bytes = await self.store.get_async(rec.input_key)
        loop = asyncio.get_running_loop()
        last = [0.0]

        def progress(fraction: float, message: str) -> None:
            """Progress from worker threads, marshalled to the loop; also the checkpoint
            where work on a thread stops once the job is stopped or past its deadline."""
            if job.stop.is_set():
                raise Interrupted("the job was stopped")
            now = time.monotonic()
            if now > job.deadline:
                raise Interrupted("the job ran past its deadline")
            if now - last[0] < 0.25 and fraction < 1.0:
                return
            last[0] = now
            ev = JobEvent("progress", rec.id, rec, fraction=fraction, message=message)
            loop.call_soon_threadsafe(self.emit, ev)

        return ProviderRequest(
            job_id=rec.id, tool=rec.tool, params=job.params,
            image=job.decoded.image if job.decoded else None, image_bytes=job.input_bytes,
            idempotency_key=f"luneo-{rec.id}", deadline=job.deadline, progress=progress,
            stop=job.stop, lane=job.lane,
        )

    def decode(self, data: bytes) -> DecodedImage:
        """Decode an input with the configured safety limits; InvalidInput if bad."""
        sec = self.settings.security
        return decode_image(data, max_bytes=sec.max_input_bytes, max_pixels=sec.max_pixels)

    def _notify(self, job: LiveJob) -> Callable[..., None]:
        rec = job.rec

        def notify(kind: str, **fields: Any) -> None:
            if kind == "attempt":
                rec.attempts += 1
            self.emit(JobEvent(kind, rec.id, rec, **fields))

        return notify

    # -- endings ----------------------------------------------------------------------
    async def succeed(self, job: LiveJob, provider: str, out: Any, fallback: str | None,
                      t0: float) -> None:
        """Store the files, then settle and record success in one transaction."""
        rec = job.rec
        try:
            keys = await self.store.put_many([(f.data, f.mime) for f in out.files])
        except StorageError as exc:  # the ending is claimed: end it failed, refunded
            log.warning("job results not stored: %s", exc, extra=ctx(rec))
            await self.fail(job, exc, t0)
            return
        files = [{"key": k, "name": f.name, "mime": f.mime} for k, f in zip(keys, out.files, strict=True)]
        rec.state, rec.provider = "succeeded", provider
        rec.result_files, rec.result_data = files, out.data
        rec.note = "; ".join([*job.notes, *([out.note] if out.note else [])]) or None

        def tx(conn: Connection) -> int:
            if not jobrows.finish_job_in(conn, rec) or not self.credits.settle_in(conn, rec.id):
                raise _EndingLost(rec.id)
            conn.execute(
                "INSERT INTO cache (key, tool, provider, files, data, note, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                "tool = excluded.tool, provider = excluded.provider, files = excluded.files, "
                "data = excluded.data, note = excluded.note, created_at = excluded.created_at",
                (rec.cache_key, rec.tool, provider, json.dumps(files), json.dumps(out.data),
                 out.note, time.time()),
            )
            return self.credits.balance_in(conn, rec.guild_id, rec.member_id)

        balance = await self._commit_ending(job, tx)
        if balance is None:
            return
        latency = (time.monotonic() - t0) * 1000
        self.metrics.record(rec.tool, provider, ok=True, latency_ms=latency, credits=rec.cost)
        log.info("job succeeded", extra=ctx(rec, provider=provider, outcome="succeeded",
                                            latency_ms=round(latency)))
        self.on_end(job, self.result(rec, balance, fallback=fallback), "done")

    async def fail(self, job: LiveJob, exc: StudioError | None, t0: float, *,
                   state: str = "failed") -> None:
        """Refund and record a failed (exc given) or canceled (exc None) job, in one
        transaction that also moves the row from queued/running to `state`."""
        rec = job.rec
        if job.future.done():
            return
        if exc is not None:
            rec.error_type, rec.error_message = type(exc).__name__, str(exc)
        else:
            rec.error_type, rec.error_message = "Canceled", "canceled"
        rec.state = state

        def tx(conn: Connection) -> int:
            if not jobrows.finish_job_in(conn, rec):
                raise _EndingLost(rec.id)
            self.credits.refund_in(conn, rec.id, reason=f"job {state}")
            return self.credits.balance_in(conn, rec.guild_id, rec.member_id)

        balance = await self._commit_ending(job, tx)
        if balance is None:
            return
        latency = (time.monotonic() - t0) * 1000
        self.metrics.record(rec.tool, rec.provider or "none", ok=False, latency_ms=latency,
                            failure=rec.error_type)
        log.info("job %s, refunded", state, extra=ctx(rec, outcome=state,
                                                        error_type=rec.error_type))
        self.on_end(job, self.result(rec, balance, error=exc),
                    "canceled" if state == "canceled" else "failed")

    async def _commit_ending(self, job: LiveJob,
                             tx: Callable[[Connection], int]) -> int | None:
        """Run a job's ending transaction (shielded: a cancel cannot tear it in half);
        the member's balance after it, or None when the row had already ended elsewhere
        (then what the database says has been reported instead)."""
        try:
            return await asyncio.shield(self.db.run_tx(tx))
        except _EndingLost:
            await self._report_lost(job)
            return None

    async def _report_lost(self, job: LiveJob) -> None:
        """The row had already ended elsewhere: report what the database says."""
        log.warning("job ending lost a race; reporting the stored outcome", extra=ctx(job.rec))
        rec = await jobrows.get_job(self.db, job.rec.id) or job.rec
        balance = await self.credits.balance(rec.guild_id, rec.member_id)
        kind = {"succeeded": "done", "canceled": "canceled"}.get(rec.state, "failed")
        self.on_end(job, self.result(rec, balance), kind)

    def result(self, rec: JobRecord, balance: int, *, cached: bool = False,
               fallback: str | None = None, error: StudioError | None = None) -> JobResult:
        """The JobResult a front end shows for `rec` (files as paths in the store)."""
        ok = rec.state == "succeeded"
        end = rec.finished_at or time.time()
        return JobResult(
            job_id=rec.id, tool=rec.tool, status=rec.state, provider=rec.provider,
            credits_charged=rec.cost if ok else 0, balance=balance,
            files=[p for f in rec.result_files if (p := self.store.local_path(f["key"]))],
            file_keys=[f["key"] for f in rec.result_files],
            file_names=[f["name"] for f in rec.result_files],
            data=rec.result_data, note=rec.note, fallback_reason=fallback, error=error,
            elapsed_ms=int((end - rec.created_at) * 1000), cached=cached,
        )

    # -- recovery ---------------------------------------------------------------------
    async def recover(self, rec: JobRecord, resumable: bool) -> LiveJob | None:
        """A job a crash left queued/running: a LiveJob to queue again when it can be
        resumed (`resumable` and its input still decodes), else refunded here (None)."""
        data = None
        if rec.input_key:
            try:
                data = await self.store.get_async(rec.input_key)
            except (FileNotFoundError, StorageError):
                data = None
        decoded = None
        if resumable and data is not None:
            try:
                decoded = await asyncio.to_thread(self.decode, data)
            except UserError:
                resumable = False
        elif rec.input_key:
            resumable = False
        if not resumable:
            rec.state, rec.error_type = "failed", "Interrupted"
            rec.error_message = "interrupted by a restart"

            def tx(conn: Connection) -> None:
                self.credits.refund_in(conn, rec.id, reason="interrupted by a restart")
                jobrows.finish_job_in(conn, rec)

            await self.db.run_tx(tx)
            log.info("recovered job refunded", extra=ctx(rec, outcome="refunded"))
            self.emit(JobEvent("refunded", rec.id, rec,
                               message="interrupted by a restart; your credits were refunded"))
            return None
        rec.state, rec.owner = "queued", jobrows.PROCESS_OWNER
        await self.db.execute("UPDATE jobs SET state = 'queued', owner = ? WHERE id = ?",
                              (rec.owner, rec.id))
        now = time.monotonic()
        fut: asyncio.Future[JobResult] = asyncio.get_running_loop().create_future()
        live = LiveJob(rec, parse_params(rec.tool, rec.params), fut, now,
                       now + self.settings.jobs.deadline_s, decoded=decoded, input_bytes=data)
        if decoded:
            live.notes.extend(decoded.notes)
        log.info("recovered job resumed", extra=ctx(rec, outcome="resumed"))
        self.emit(JobEvent("resumed", rec.id, rec,
                           message="interrupted by a restart; it has been resumed"))
        return live


class SqliteRecorder:
    """The chain's recorder: attempts into `provider_attempts`, breaker changes into
    `provider_state` (so `studio providers` in another process sees them)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def attempt(self, r: AttemptRecord) -> None:
        """Insert one `provider_attempts` row."""
        await self.db.execute(
            "INSERT INTO provider_attempts (job_id, tool, provider, attempt, model, request_id, "
            "outcome, error, cost_usd, upstream_credits, latency_ms, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (r.job_id, r.tool, r.provider, r.attempt, r.model, r.request_id, r.outcome, r.error,
             r.cost_usd, r.upstream_credits, r.latency_ms, time.time()),
        )

    async def breaker(self, key: str, breaker: CircuitBreaker) -> None:
        """Upsert the provider's circuit state into `provider_state`."""
        args: tuple[Any, ...] = (key, breaker.state, breaker.failures,
                                 breaker.opened_at and time.time(), breaker.last_error, time.time())
        await self.db.execute(
            "INSERT INTO provider_state (provider, circuit, failures, opened_at, last_error, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (provider) DO UPDATE SET "
            "circuit = excluded.circuit, failures = excluded.failures, "
            "opened_at = excluded.opened_at, last_error = excluded.last_error, "
            "updated_at = excluded.updated_at",
            args,
        )


def ctx(rec: JobRecord, **extra: Any) -> dict[str, Any]:
    """Log fields for a job (ids only: never prompts or secrets)."""
    return {"job_id": rec.id, "guild_id": rec.guild_id, "member_id": rec.member_id,
            "tool": rec.tool, **extra}
