"""The provider chain: fallback along a tool's providers, circuit breakers, and the
one retry layer around every provider attempt (PRODUCT.md §5).

`ProviderChain` knows nothing of the engine. It is given the providers, the
order to try them in per tool, the breakers, the retry policy and a recorder;
`run(req, notify)` returns a `ChainOutcome` or raises `AllProvidersFailed` (or
the UserError / ContentRejected that ends a chain at once).

Only TransientProviderError is retried, with exponential backoff and equal
jitter, honouring Retry-After up to a cap, and never past the job's deadline.
Every attempt goes to the recorder as one `AttemptRecord` and is counted by the
breaker of its (provider, tool); when the breaker opens, retrying that provider
stops. A crash inside our own code is a bug: it is logged with a reference id,
the chain moves on, and the breaker does not count it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from core.breaker import Breakers, CircuitBreaker
from core.config import RetrySettings
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
from core.providers.base import Attempt, Provider, ProviderRequest, ProviderResult

log = logging.getLogger(__name__)

ATTEMPT_GRACE_S = 2.0
# Permanent failures that say the provider (account, key) is broken, not the input.
_ACCOUNT_STATUSES = (401, 402, 403)

# notify(kind, **fields): "attempt" (provider, attempt), "retrying" (provider, attempt,
# delay_s, message), "fallback" (provider, message)
Notify = Callable[..., None]


@dataclass(frozen=True)
class AttemptRecord:
    """One provider attempt, as stored in `provider_attempts`. `outcome`: ok, transient,
    permanent, timeout, rejected, canceled or crashed; `latency_ms` in milliseconds."""

    job_id: str
    tool: str
    provider: str
    attempt: int
    outcome: str
    error: str | None
    latency_ms: int
    model: str | None = None
    request_id: str | None = None
    cost_usd: float = 0.0
    upstream_credits: float = 0.0


class ChainRecorder(Protocol):
    """Where the chain writes what happened (the engine stores it in SQLite)."""

    async def attempt(self, record: AttemptRecord) -> None:
        """Store one provider attempt (outcome, latency, cost) for accounting."""

    async def breaker(self, key: str, breaker: CircuitBreaker) -> None:
        """Store a breaker's new state under `key` (provider/tool) after it changed."""


@dataclass(frozen=True)
class ChainOutcome:
    """The provider that answered, its result, and why earlier ones were skipped."""

    provider: str
    result: ProviderResult
    fallback_reason: str | None


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None,
                  retry_after_cap: float) -> float:
    """Delay (s) before attempt `attempt + 1`: Retry-After (capped, plus up to 10 %
    jitter so throttled jobs do not return in lockstep), else exponential backoff with
    equal jitter (between half and all of the step)."""
    if retry_after is not None:
        ra = max(0.0, min(retry_after, retry_after_cap))
        return ra * random.uniform(1.0, 1.1)  # noqa: S311 - jitter, not a secret
    exp = min(cap, base * (2 ** (attempt - 1)))
    return random.uniform(exp / 2, exp)  # noqa: S311 - jitter, not a secret


def counts_against_provider(exc: ProviderError) -> bool:
    """Should this failure count toward the provider's circuit breaker? Transient errors
    and account-level failures do; a 400/422 caused by one member's input does not."""
    if isinstance(exc, TransientProviderError):
        return True
    return exc.status is None or exc.status in _ACCOUNT_STATUSES


class ProviderChain:
    """Runs one request along its tool's providers: first success wins.

    `order(tool)` gives the provider names to try; unconfigured ones are skipped
    silently, unavailable or open-circuit ones and those that give up become the
    fallback reason. A content refusal or a UserError ends the chain at once.
    """

    def __init__(self, providers: Mapping[str, Provider], order: Callable[[str], Sequence[str]],
                 breakers: Breakers, retry: RetrySettings, recorder: ChainRecorder) -> None:
        self.providers = providers
        self.order = order
        self.breakers = breakers
        self.retry = retry
        self.recorder = recorder

    async def run(self, req: ProviderRequest, notify: Notify) -> ChainOutcome:
        """Raises AllProvidersFailed with every provider's reason when none succeeds."""
        reasons: list[tuple[str, str]] = []
        for name in self.order(req.tool):
            provider = self.providers.get(name)
            if provider is None or req.tool not in provider.tools:
                continue  # not configured (no key): skipped silently
            ok, why = provider.available()
            if not ok:
                reasons.append((name, why))
                continue
            breaker = self.breakers.get(name, req.tool)
            if not breaker.allow():
                why = ("circuit half-open (a probe is in flight)" if breaker.state == "half-open"
                       else f"circuit open (retry in {breaker.retry_in():.0f} s)")
                reasons.append((name, why))
                continue
            try:
                result = await self._with_retries(provider, breaker, req, notify)
            except (ProviderError, InternalError) as exc:
                why = exc.reason if isinstance(exc, ProviderError) else str(exc)
                reasons.append((name, why))
                notify("fallback", provider=name, message=why)
                continue
            fallback = "; ".join(f"{p}: {r}" for p, r in reasons) if reasons else None
            return ChainOutcome(name, result, fallback)
        raise AllProvidersFailed(req.tool, reasons)

    async def _with_retries(self, provider: Provider, breaker: CircuitBreaker,
                            req: ProviderRequest, notify: Notify) -> ProviderResult:
        rs = self.retry
        planned: dict[int, float] = {}

        def next_delay(state: RetryCallState) -> float:
            if state.attempt_number not in planned:
                exc = state.outcome.exception() if state.outcome else None
                ra = exc.retry_after if isinstance(exc, ProviderError) else None
                planned[state.attempt_number] = backoff_delay(
                    state.attempt_number, rs.base_delay_s, rs.max_delay_s, ra,
                    rs.retry_after_cap_s)
            return planned[state.attempt_number]

        def should_stop(state: RetryCallState) -> bool:
            if state.attempt_number >= rs.max_attempts or breaker.state == "open":
                return True
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, ProviderError) and (exc.retry_after or 0) > rs.retry_after_cap_s:
                return True  # asked to wait longer than we will: fall back, don't hammer it
            return time.monotonic() + next_delay(state) >= req.deadline

        async def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            notify("retrying", provider=provider.name, attempt=state.attempt_number,
                   delay_s=next_delay(state), message=str(exc) if exc else None)

        retrying = AsyncRetrying(
            stop=should_stop, wait=next_delay,
            retry=retry_if_exception_type(TransientProviderError),
            before_sleep=before_sleep, reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._attempt(provider, breaker, req, notify,
                                           attempt.retry_state.attempt_number)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(self, provider: Provider, breaker: CircuitBreaker, req: ProviderRequest,
                       notify: Notify, number: int) -> ProviderResult:
        remaining = req.deadline - time.monotonic()
        if remaining <= 0:  # not an attempt: nothing is sent, nothing is counted
            raise PermanentProviderError("no time left before the job's deadline",
                                         provider=provider.name)
        notify("attempt", provider=provider.name, attempt=number)
        acc = Attempt()
        t0 = time.monotonic()
        outcome, error, counted = "ok", None, True
        try:
            # adapters bound their own work by req.deadline; this grace lets them report
            # their own error and clean up (e.g. cancel upstream) before we cut them off
            return await asyncio.wait_for(provider.run(req, acc),
                                          timeout=remaining + ATTEMPT_GRACE_S)
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
                          extra={"job_id": req.job_id, "provider": provider.name, "ref": ref})
            outcome, error = "crashed", f"internal error ({type(exc).__name__}, ref {ref})"
            raise InternalError(ref) from None
        finally:
            record = AttemptRecord(
                req.job_id, req.tool, provider.name, number, outcome, error,
                int((time.monotonic() - t0) * 1000), acc.model, acc.request_id, acc.cost_usd,
                acc.upstream_credits)
            await self._account(record, breaker, counted)

    async def _account(self, record: AttemptRecord, breaker: CircuitBreaker,
                       counted: bool) -> None:
        key = Breakers.key(record.provider, record.tool)
        changed = False
        if record.outcome == "ok" or (record.outcome == "permanent" and not counted):
            changed = breaker.opened_at is not None
            breaker.record_success()  # the provider answered properly, even if it said no
        elif record.outcome in ("transient", "permanent", "timeout"):
            changed = breaker.record_failure(record.error or record.outcome)
            if changed:
                log.warning("circuit opened", extra={"provider": record.provider,
                                                     "job_id": record.job_id})
        else:
            breaker.release_probe()
        log.info("provider attempt %s", record.outcome, extra=_log_fields(record))
        await self.recorder.attempt(record)
        if changed:
            await self.recorder.breaker(key, breaker)


def _log_fields(r: AttemptRecord) -> dict[str, Any]:
    return {"job_id": r.job_id, "tool": r.tool, "provider": r.provider, "attempt": r.attempt,
            "latency_ms": r.latency_ms, "outcome": r.outcome}
