"""The provider chain: fallback along the tool's providers, circuit breakers, and the
one retry layer around every provider attempt (PRODUCT.md §5).

Only TransientProviderError is retried, with exponential backoff and equal
jitter, honouring Retry-After up to a cap, and never past the job's deadline.
Every attempt is written to `provider_attempts` and counted by the breaker of
its (provider, tool); when the breaker opens, retrying that provider stops. A
crash inside our own code is a bug: it is logged with a reference id, the chain
moves on, and the breaker does not count it (the provider is not unhealthy).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from typing import TYPE_CHECKING, Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from core.breaker import Breakers, CircuitBreaker
from core.errors import (
    AllProvidersFailed,
    ContentRejected,
    InternalError,
    Interrupted,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    UserError,
)
from core.jobs import JobEvent
from core.providers.base import Attempt, Provider, ProviderRequest, ProviderResult

if TYPE_CHECKING:
    from core.engine import Engine, _Live

log = logging.getLogger(__name__)

ATTEMPT_GRACE_S = 2.0


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None,
                  retry_after_cap: float) -> float:
    """Delay before attempt `attempt + 1`: Retry-After (capped, plus up to 10 % jitter so
    throttled jobs do not return in lockstep), else exponential backoff with equal jitter
    (between half and all of the step)."""
    if retry_after is not None:
        ra = max(0.0, min(retry_after, retry_after_cap))
        return ra * random.uniform(1.0, 1.1)
    exp = min(cap, base * (2 ** (attempt - 1)))
    return random.uniform(exp / 2, exp)


# Permanent failures that say the provider (account, key) is broken, not the input.
_ACCOUNT_STATUSES = (401, 402, 403)


def counts_against_provider(exc: ProviderError) -> bool:
    """Should this failure count toward the provider's circuit breaker? Transient errors
    and account-level failures do; a 400/422 caused by one member's input does not."""
    if isinstance(exc, TransientProviderError):
        return True
    return exc.status is None or exc.status in _ACCOUNT_STATUSES


async def run_chain(engine: Engine, live: _Live) -> tuple[str, ProviderResult]:
    """Try the tool's providers in order; the first success wins. Unconfigured providers
    are skipped silently; unavailable or open-circuit ones and those that give up are
    recorded as the fallback reason. A content refusal ends the chain at once."""
    rec = live.rec
    reasons: list[tuple[str, str]] = []
    req = provider_request(engine, live)
    for name in engine.settings.tool_chain(rec.tool):
        provider = engine.providers.get(name)
        if provider is None or rec.tool not in provider.tools:
            continue  # not configured (no key): skipped silently
        ok, why = provider.available()
        if not ok:
            reasons.append((name, why))
            continue
        breaker = engine.breakers.get(name, rec.tool)
        if not breaker.allow():
            why = ("circuit half-open (a probe is in flight)" if breaker.state == "half-open"
                   else f"circuit open (retry in {breaker.retry_in():.0f} s)")
            reasons.append((name, why))
            continue
        try:
            out = await run_with_retries(engine, live, provider, breaker, req)
        except ContentRejected:
            raise
        except (ProviderError, InternalError) as exc:
            why = exc.reason if isinstance(exc, ProviderError) else str(exc)
            reasons.append((name, why))
            engine._emit(JobEvent("fallback", rec.id, rec, provider=name, message=why))
            continue
        if reasons:
            live.fallback_reason = "; ".join(f"{p}: {r}" for p, r in reasons)
        return name, out
    raise AllProvidersFailed(rec.tool, reasons)

def provider_request(engine: Engine, live: _Live) -> ProviderRequest:
    """The request a provider sees; progress from worker threads is marshalled to the loop.

    Progress is also the checkpoint of work on a thread: once the job is stopped
    (canceled, shut down) or past its deadline, the next call raises Interrupted.
    """
    loop = asyncio.get_running_loop()
    rec = live.rec
    last = [0.0]

    def progress(fraction: float, message: str) -> None:
        if live.stop.is_set():
            raise Interrupted("the job was stopped")
        now = time.monotonic()
        if now > live.deadline:
            raise Interrupted("the job ran past its deadline")
        if now - last[0] < 0.25 and fraction < 1.0:
            return
        last[0] = now
        ev = JobEvent("progress", rec.id, rec, fraction=fraction, message=message)
        loop.call_soon_threadsafe(engine._emit, ev)

    return ProviderRequest(
        job_id=rec.id, tool=rec.tool, params=live.params,
        image=live.decoded.image if live.decoded else None, image_bytes=live.input_bytes,
        idempotency_key=f"luneo-{rec.id}", deadline=live.deadline, progress=progress,
        stop=live.stop, lane=live.lane,
    )


async def run_with_retries(
    engine: Engine, live: _Live, provider: Provider, breaker: CircuitBreaker,
    req: ProviderRequest,
) -> ProviderResult:
    rs = engine.settings.retry
    planned: dict[int, float] = {}

    def next_delay(state: RetryCallState) -> float:
        if state.attempt_number not in planned:
            exc = state.outcome.exception() if state.outcome else None
            ra = exc.retry_after if isinstance(exc, ProviderError) else None
            planned[state.attempt_number] = backoff_delay(
                state.attempt_number, rs.base_delay_s, rs.max_delay_s, ra, rs.retry_after_cap_s)
        return planned[state.attempt_number]

    def should_stop(state: RetryCallState) -> bool:
        if state.attempt_number >= rs.max_attempts or breaker.state == "open":
            return True
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ProviderError) and (exc.retry_after or 0) > rs.retry_after_cap_s:
            return True  # asked to wait longer than we will: fall back now, don't hammer it
        return time.monotonic() + next_delay(state) >= req.deadline

    async def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = next_delay(state)
        engine._emit(JobEvent("retrying", live.rec.id, live.rec, provider=provider.name,
                              attempt=state.attempt_number, delay_s=delay,
                              message=str(exc) if exc else None))

    retrying = AsyncRetrying(
        stop=should_stop, wait=next_delay, retry=retry_if_exception_type(TransientProviderError),
        before_sleep=before_sleep, reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await _one_attempt(engine, live, provider, breaker, req,
                                      attempt.retry_state.attempt_number)
    raise AssertionError("unreachable")  # pragma: no cover


async def _one_attempt(
    engine: Engine, live: _Live, provider: Provider, breaker: CircuitBreaker,
    req: ProviderRequest, number: int,
) -> ProviderResult:
    rec = live.rec
    remaining = req.deadline - time.monotonic()
    if remaining <= 0:  # not an attempt: nothing is sent, nothing is counted
        raise PermanentProviderError("no time left before the job's deadline",
                                     provider=provider.name)
    rec.attempts += 1
    engine._emit(JobEvent("attempt", rec.id, rec, provider=provider.name, attempt=number))
    acc = Attempt()
    t0 = time.monotonic()
    outcome, error = "ok", None
    counted = True
    try:
        # adapters bound their own work by req.deadline; this grace lets them report
        # their own error and clean up (e.g. cancel upstream) before we cut them off
        return await asyncio.wait_for(provider.run(req, acc), timeout=remaining + ATTEMPT_GRACE_S)
    except TimeoutError:
        outcome, error = "timeout", "timed out"
        raise TransientProviderError("timed out", provider=provider.name) from None
    except ContentRejected as exc:
        outcome, error = "rejected", "content rejected"
        exc.provider = exc.provider or provider.name
        raise
    except UserError as exc:
        outcome, error = "rejected", type(exc).__name__
        raise
    except TransientProviderError as exc:
        outcome, error = "transient", exc.reason
        raise
    except ProviderError as exc:
        outcome, error = "permanent", exc.reason
        counted = counts_against_provider(exc)
        raise
    except asyncio.CancelledError:
        outcome, error = "canceled", "canceled"
        raise
    except Interrupted as exc:  # stopped at a checkpoint: not the provider's fault
        outcome, error = "canceled", str(exc)
        raise PermanentProviderError(str(exc), provider=provider.name) from None
    except Exception as exc:
        ref = uuid.uuid4().hex[:8]
        log.exception("bug: provider %s crashed (ref %s)", provider.name, ref,
                      extra={"job_id": rec.id, "provider": provider.name, "ref": ref})
        outcome, error = "crashed", f"internal error ({type(exc).__name__}, ref {ref})"
        raise InternalError(ref) from None
    finally:
        latency = int((time.monotonic() - t0) * 1000)
        await _account(engine, live, provider, breaker, acc, number, outcome, error, latency,
                       counted)


async def _account(
    engine: Engine, live: _Live, provider: Provider, breaker: CircuitBreaker, acc: Attempt,
    number: int, outcome: str, error: str | None, latency: int, counted: bool = True,
) -> None:
    rec = live.rec
    opened = False
    if outcome == "ok" or (outcome == "permanent" and not counted):
        was_open = breaker.opened_at is not None
        breaker.record_success()  # the provider answered properly, even if it said no
        if was_open:
            await _persist_breaker(engine, provider.name, rec.tool, breaker)
    elif outcome in ("transient", "permanent", "timeout"):
        opened = breaker.record_failure(error or outcome)
    else:
        breaker.release_probe()
    log.info("provider attempt %s", outcome, extra={
        "job_id": rec.id, "tool": rec.tool, "provider": provider.name, "attempt": number,
        "latency_ms": latency, "outcome": outcome})
    await engine.db.execute(
        "INSERT INTO provider_attempts (job_id, tool, provider, attempt, model, request_id, "
        "outcome, error, cost_usd, upstream_credits, latency_ms, at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (rec.id, rec.tool, provider.name, number, acc.model, acc.request_id, outcome, error,
         acc.cost_usd, acc.upstream_credits, latency, time.time()),
    )
    if opened:
        log.warning("circuit opened", extra={"provider": provider.name, "job_id": rec.id})
        await _persist_breaker(engine, provider.name, rec.tool, breaker)


async def _persist_breaker(engine: Engine, name: str, tool: str, breaker: CircuitBreaker) -> None:
    args: tuple[Any, ...] = (Breakers.key(name, tool), breaker.state, breaker.failures, breaker.opened_at and time.time(),
                             breaker.last_error, time.time())
    await engine.db.execute(
        "INSERT INTO provider_state (provider, circuit, failures, opened_at, last_error, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (provider) DO UPDATE SET circuit = excluded.circuit,"
        " failures = excluded.failures, opened_at = excluded.opened_at,"
        " last_error = excluded.last_error, updated_at = excluded.updated_at",
        args,
    )
