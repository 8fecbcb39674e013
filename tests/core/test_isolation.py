"""Issue 14, findings 1-3: one member's job never degrades another's.

Invisible prompts are refused for free; a crash in our own code is a bug with a
reference id, not a sick provider; breakers are per (provider, tool); and every
job ending is exactly once, whatever moment a cancel lands.
"""

from __future__ import annotations

import asyncio
import random
import threading
from typing import Any, ClassVar

import pytest

from core.engine import CancelOutcome, JobRequest
from core.errors import AllProvidersFailed, InvalidInput, TransientProviderError
from core.providers.base import Attempt, LocalProvider, Provider, ProviderRequest, ProviderResult
from core.tools.base import TOOLS, parse_params
from tests.core.scripted import ScriptedLocal, result_for

ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]


def crop(image: bytes, member: str = "m") -> JobRequest:
    return JobRequest("g", member, "crop", {"ratio": "1:1"}, image=image, channel_id="c")


async def job_rows(engine: Any) -> int:
    row = await engine.db.fetchone("SELECT COUNT(*) FROM jobs")
    return int(row[0])


# -- finding 1: invisible prompts, crashes and breakers --------------------------------------

@pytest.mark.parametrize("prompt", ["".join(ZERO_WIDTH), *ZERO_WIDTH, "\u200b \ufeff \u200d",
                                    "\u0301\u0301", "\x01\x02"])
def test_prompt_without_visible_characters_is_invalid(prompt: str) -> None:
    with pytest.raises(InvalidInput, match="no visible characters") as err:
        parse_params("design", {"prompt": prompt})
    assert err.value.field == "prompt"


@pytest.mark.parametrize("prompt", ["🎉", "東京", "a\u200bb", "42", "مرحبا"])
def test_prompts_with_something_to_draw_are_accepted(prompt: str) -> None:
    assert parse_params("design", {"prompt": prompt}).prompt == prompt  # type: ignore[attr-defined]


def test_invisible_avoid_text_is_dropped() -> None:
    params = parse_params("design", {"prompt": "poster", "avoid": "\u200b\u200c"})
    assert params.avoid is None  # type: ignore[attr-defined]


async def test_zero_width_design_is_refused_before_any_credit_moves(engine_factory) -> None:
    local = ScriptedLocal()
    engine = await engine_factory({"local": local})
    with pytest.raises(InvalidInput, match="no visible characters"):
        await engine.submit(JobRequest("g", "m", "design", {"prompt": "".join(ZERO_WIDTH)}))
    assert await engine.credits.balance("g", "m") == 10
    assert await job_rows(engine) == 0
    assert local.calls == 0


class CrashingDesigns(LocalProvider):
    """Our own code with a bug in one tool: design raises ZeroDivisionError."""

    name: ClassVar[str] = "local"
    tools: ClassVar[frozenset[str]] = frozenset(TOOLS)

    def run_sync(self, req: ProviderRequest, attempt: Attempt) -> ProviderResult:
        if req.tool == "design":
            raise ZeroDivisionError("division by zero")
        return result_for(req)


async def test_a_crash_in_our_code_is_a_bug_with_a_ref_not_a_sick_provider(
    engine_factory, photo_png, caplog: pytest.LogCaptureFixture
) -> None:
    engine = await engine_factory({"local": CrashingDesigns()}, breaker__failure_threshold=2,
                                  limits__per_member_per_minute=100)
    for i in range(6):  # three times the breaker threshold
        r = await engine.run(JobRequest("g", "m", "design", {"prompt": f"poster {i}"}))
        assert r.status == "failed"
        assert isinstance(r.error, AllProvidersFailed)
        assert "internal error (ref " in str(r.error)
        assert r.credits_charged == 0
    assert engine.breakers.get("local", "design").state == "closed"
    refs = [rec for rec in caplog.records if "bug: provider local crashed" in rec.getMessage()]
    assert len(refs) == 6
    assert all(rec.exc_info for rec in refs)
    # another member's crop is untouched
    r = await engine.run(crop(photo_png, member="victim"))
    assert r.ok
    assert r.provider == "local"
    assert await engine.credits.balance("g", "m") == 10


class SickForDesign(Provider):
    """A remote provider that keeps timing out on design only."""

    name: ClassVar[str] = "replicate"
    tools: ClassVar[frozenset[str]] = frozenset(TOOLS)

    async def run(self, req: ProviderRequest, attempt: Attempt) -> ProviderResult:
        if req.tool == "design":
            raise TransientProviderError("503")
        return result_for(req)


async def test_breakers_are_per_provider_and_tool(engine_factory, photo_png) -> None:
    engine = await engine_factory(
        {"replicate": SickForDesign(), "local": ScriptedLocal()},
        tools__design__providers=["replicate", "local"],
        tools__crop__providers=["replicate", "local"],
        retry__max_attempts=1, breaker__failure_threshold=2,
        limits__per_member_per_minute=100)
    await engine.credits.grant("g", "m", 100, "mod", "test")
    for i in range(3):
        await engine.run(JobRequest("g", "m", "design", {"prompt": f"poster {i}"}))
    assert engine.breakers.get("replicate", "design").state == "open"
    r = await engine.run(crop(photo_png))
    assert r.ok
    assert r.provider == "replicate"
    assert not r.fallback_reason
    assert engine.breakers.get("replicate", "crop").state == "closed"
    stats = await engine.stats()
    assert stats["circuits"]["replicate/design"]["circuit"] == "open"
    assert stats["circuits"]["replicate"]["circuit"] == "open for design"


# -- finding 3: exactly-once endings -----------------------------------------------------------

class Gated(Provider):
    """A local-like provider that finishes when the test says so."""

    name: ClassVar[str] = "local"
    tools: ClassVar[frozenset[str]] = frozenset(TOOLS)

    def __init__(self) -> None:
        self.gates: dict[str, asyncio.Event] = {}
        self.running: dict[str, asyncio.Event] = {}
        self.started: list[str] = []

    def gate(self, job_id: str) -> asyncio.Event:
        return self.gates.setdefault(job_id, asyncio.Event())

    def is_running(self, job_id: str) -> asyncio.Event:
        return self.running.setdefault(job_id, asyncio.Event())

    async def run(self, req: ProviderRequest, attempt: Attempt) -> ProviderResult:
        self.started.append(req.job_id)
        self.is_running(req.job_id).set()
        await self.gate(req.job_id).wait()
        return result_for(req)


async def check_ending(engine: Any, job_id: str, told: CancelOutcome) -> str:
    """Job state, hold and what the member was told must all agree."""
    result = await engine.wait(job_id)
    row = await engine.db.fetchone(
        "SELECT j.state, h.state FROM jobs j JOIN holds h ON h.job_id = j.id WHERE j.id = ?",
        (job_id,))
    state, hold = row[0], row[1]
    assert (state, hold) in {("succeeded", "settled"), ("canceled", "refunded"),
                             ("failed", "refunded")}, (state, hold)
    if told == CancelOutcome.CANCELED:
        assert state == "canceled"
    else:
        assert told == CancelOutcome.ALREADY_FINISHED
        assert state != "canceled"
    assert result.status == state
    assert result.credits_charged == (1 if state == "succeeded" else 0)
    refunds = await engine.db.fetchone(
        "SELECT COUNT(*) FROM ledger WHERE job_id = ? AND kind = 'refund'", (job_id,))
    assert refunds[0] == (1 if hold == "refunded" else 0)
    return str(state)


async def ledger_agrees(engine: Any, member: str = "m") -> None:
    row = await engine.db.fetchone(
        "SELECT COALESCE(SUM(delta), 0) FROM ledger WHERE guild_id = 'g' AND member_id = ?",
        (member,))
    assert row[0] == await engine.credits.balance("g", member)


@pytest.fixture
async def race_engine(engine_factory) -> Any:
    provider = Gated()
    engine = await engine_factory({"local": provider}, limits__per_member_per_minute=100000,
                                  limits__per_server_per_minute=100000,
                                  limits__per_member_queued=1000, limits__per_member_running=1)
    await engine.credits.grant("g", "m", 5000, "mod", "race test")
    engine.test_provider = provider
    return engine


ITERATIONS = 200


async def test_cancel_racing_the_start_of_a_job(race_engine, photo_png) -> None:
    """Cancel lands 0-6 loop steps after submit: queued, being started, or just running."""
    engine, provider = race_engine, race_engine.test_provider
    states = []
    for i in range(ITERATIONS):
        handle = await engine.submit(crop(photo_png + i.to_bytes(4, "big")))
        for _ in range(i % 7):
            await asyncio.sleep(0)
        told = await engine.cancel(handle.job_id, actor_id="m")
        provider.gate(handle.job_id).set()
        states.append(await check_ending(engine, handle.job_id, told))
        # the scheduler never ran a job whose cancel was requested before it started
        if told == CancelOutcome.CANCELED and handle.job_id in provider.started:
            assert (await engine.get_job(handle.job_id)).started_at is not None
    assert states.count("canceled") == ITERATIONS  # it never finishes on its own here
    await ledger_agrees(engine)


async def test_cancel_racing_a_queued_job_being_scheduled(race_engine, photo_png) -> None:
    """A job waits behind the member's running one; the running one ends (so the scheduler
    starts the waiting one) at the same moment the waiting one is canceled."""
    engine, provider = race_engine, race_engine.test_provider
    rng = random.Random(14)
    seen = set()
    for i in range(ITERATIONS):
        first = await engine.submit(crop(photo_png + b"a" + i.to_bytes(4, "big")))
        second = await engine.submit(crop(photo_png + b"b" + i.to_bytes(4, "big")))
        await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        loop.call_later(rng.random() * 0.002, provider.gate(first.job_id).set)
        await asyncio.sleep(rng.random() * 0.002)
        told = await engine.cancel(second.job_id, actor_id="m")
        provider.gate(second.job_id).set()
        await engine.wait(first.job_id)
        state = await check_ending(engine, second.job_id, told)
        seen.add((state, second.job_id in provider.started))
        if told == CancelOutcome.CANCELED and second.job_id in provider.started:
            pytest.fail("a canceled queued job was started anyway")
    assert ("canceled", False) in seen
    await ledger_agrees(engine)


async def test_cancel_racing_the_end_of_a_running_job(race_engine, photo_png) -> None:
    engine, provider = race_engine, race_engine.test_provider
    rng = random.Random(3)
    outcomes = []
    for i in range(ITERATIONS):
        handle = await engine.submit(crop(photo_png + i.to_bytes(4, "big")))
        await provider.is_running(handle.job_id).wait()
        asyncio.get_running_loop().call_later(rng.random() * 0.003,
                                              provider.gate(handle.job_id).set)
        await asyncio.sleep(rng.random() * 0.003)
        told = await engine.cancel(handle.job_id, actor_id="m")
        outcomes.append(await check_ending(engine, handle.job_id, told))
    assert {"canceled", "succeeded"} <= set(outcomes)  # both sides of the race were hit
    await ledger_agrees(engine)


async def test_cancel_landing_during_the_settle_transaction(race_engine, photo_png) -> None:
    """The cancel arrives while the settle transaction runs on the database thread: the
    member was charged, so they must be told the job had already finished."""
    engine, provider = race_engine, race_engine.test_provider
    loop = asyncio.get_running_loop()
    settle_in = engine.credits.settle_in
    cancels: list[asyncio.Future[CancelOutcome]] = []
    landed = threading.Event()

    def settle_and_cancel(conn: Any, job_id: str) -> bool:
        fut = asyncio.run_coroutine_threadsafe(engine.cancel(job_id, actor_id="m"), loop)
        cancels.append(asyncio.wrap_future(fut, loop=loop))
        landed.wait(0.002)  # give the cancel a moment to run mid-transaction
        return settle_in(conn, job_id)

    engine.credits.settle_in = settle_and_cancel
    for i in range(ITERATIONS):
        handle = await engine.submit(crop(photo_png + i.to_bytes(4, "big")))
        provider.gate(handle.job_id).set()
        await engine.wait(handle.job_id)
        told = await cancels[-1]
        assert told == CancelOutcome.ALREADY_FINISHED
        assert await check_ending(engine, handle.job_id, told) == "succeeded"
    await ledger_agrees(engine)


async def test_two_simultaneous_cancels_refund_once_and_say_so(race_engine, photo_png) -> None:
    engine, provider = race_engine, race_engine.test_provider
    for i in range(50):
        handle = await engine.submit(crop(photo_png + i.to_bytes(4, "big")))
        for _ in range(i % 4):
            await asyncio.sleep(0)
        told = await asyncio.gather(engine.cancel(handle.job_id, actor_id="m"),
                                    engine.cancel(handle.job_id, actor_id="m"))
        assert sorted(told) == [CancelOutcome.ALREADY_CANCELED, CancelOutcome.CANCELED]
        await check_ending(engine, handle.job_id, CancelOutcome.CANCELED)
        provider.gate(handle.job_id).set()
    assert await engine.cancel(handle.job_id, actor_id="m") == CancelOutcome.ALREADY_CANCELED
    await ledger_agrees(engine)


async def test_queue_position_events_count_down(race_engine, photo_png) -> None:
    """Waiting jobs hear their place in the queue, and hear it again as it moves."""
    engine, provider = race_engine, race_engine.test_provider
    events: list[tuple[str, int]] = []
    engine.add_listener(lambda e: events.append((e.job_id, e.position))
                        if e.kind == "queued" else None)
    handles = [await engine.submit(crop(photo_png + bytes([i]))) for i in range(3)]
    first, second, third = (h.job_id for h in handles)
    assert [h.position for h in handles] == [0, 1, 2]
    assert events == [(second, 1), (third, 2)]
    provider.gate(first).set()
    await engine.wait(first)
    await provider.is_running(second).wait()
    assert events[-1] == (third, 1)
    provider.gate(second).set()
    provider.gate(third).set()
    await engine.wait(third)
