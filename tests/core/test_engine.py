"""The engine over real SQLite, and over Postgres, with scripted providers."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

from core.engine import CancelOutcome, JobRequest
from core.errors import (
    AllProvidersFailed,
    ContentRejected,
    InsufficientCredits,
    InvalidInput,
    NotAllowed,
    PermanentProviderError,
    QueueFull,
    RateLimited,
    ToolDisabled,
    TransientProviderError,
)
from core.jobs import JobEvent
from core.operator import run_as_operator
from tests.core.scripted import ScriptedLocal, ScriptedRemote


@pytest.fixture(params=["sqlite", "postgres"])
def make_settings(request: pytest.FixtureRequest, make_settings: Any) -> Any:
    """Every test here runs on SQLite, then on a fresh Postgres database."""
    if request.param == "sqlite":
        return make_settings
    url = request.getfixturevalue("pg_database")

    def make(env: dict[str, str] | None = None, **overrides: Any) -> Any:
        return make_settings(env, **{"storage__database": url, **overrides})

    return make


def crop(image: bytes, member: str = "m", **kw: Any) -> JobRequest:
    return JobRequest("g", member, "crop", {"ratio": "1:1"}, image=image, channel_id="c", **kw)


async def ledger_total(engine: Any, member: str = "m") -> tuple[int, int]:
    balance = await engine.credits.balance("g", member)
    row = await engine.db.fetchone(
        "SELECT COALESCE(SUM(delta), 0) FROM ledger WHERE guild_id = 'g' AND member_id = ?",
        (member,))
    return int(row[0]), balance


async def test_success_settles_and_stores_result(engine_factory, photo_png) -> None:
    local = ScriptedLocal()
    engine = await engine_factory({"local": local})
    events: list[JobEvent] = []
    engine.add_listener(events.append)
    result = await engine.run(crop(photo_png))
    assert result.ok
    assert result.provider == "local"
    assert result.credits_charged == 1
    assert result.balance == 9
    assert result.files[0].is_file()
    assert result.files[0].read_bytes()[:4] == b"\x89PNG"
    assert [e.kind for e in events] == ["started", "attempt", "done"]
    rec = await engine.get_job(result.job_id)
    assert rec.state == "succeeded"
    assert rec.attempts == 1
    assert await ledger_total(engine) == (9, 9)


async def test_cache_hit_costs_cache_hit_cost_and_calls_no_provider(engine_factory,
                                                                   photo_png) -> None:
    local = ScriptedLocal()
    engine = await engine_factory({"local": local}, credits__cache_hit_cost=0)
    first = await engine.run(crop(photo_png))
    second = await engine.run(crop(photo_png))
    assert local.calls == 1
    assert second.cached
    assert second.provider == "cache"
    assert second.credits_charged == 0
    assert second.files == first.files
    assert second.balance == first.balance
    # the cost is configurable per server
    await engine.guild_config.set("g", "cache_hit_cost", "1", actor="admin")
    third = await engine.run(crop(photo_png))
    assert third.cached
    assert third.credits_charged == 1
    assert third.balance == first.balance - 1
    assert local.calls == 1
    assert await ledger_total(engine) == (third.balance, third.balance)


async def test_provider_failure_refunds_exactly_once(engine_factory, photo_png) -> None:
    remote = ScriptedRemote("replicate", [PermanentProviderError("bad model")],
                            then_succeed=False)
    engine = await engine_factory({"replicate": remote}, tools__crop__providers=["replicate"])
    result = await engine.run(crop(photo_png))
    assert result.status == "failed"
    assert isinstance(result.error, AllProvidersFailed)
    assert result.credits_charged == 0
    assert result.balance == 10
    assert await engine.db.run_tx(  # second refund: no-op
        lambda c: engine.credits.refund_in(c, result.job_id)) is False
    assert await engine.credits.balance("g", "m") == 10
    rows = await engine.credits.history("g", "m")
    assert [r.kind for r in rows] == ["refund", "hold", "start"]


async def test_transient_errors_retry_then_succeed(engine_factory, photo_png) -> None:
    remote = ScriptedRemote("replicate", [TransientProviderError("503"),
                                          TransientProviderError("429", retry_after=0.3)])
    engine = await engine_factory({"replicate": remote}, tools__crop__providers=["replicate"],
                                  retry__base_delay_s=0.01)
    events: list[JobEvent] = []
    engine.add_listener(events.append)
    result = await engine.run(crop(photo_png))
    assert result.ok
    assert result.provider == "replicate"
    assert len(remote.calls) == 3
    assert remote.calls[2] - remote.calls[1] >= 0.29  # Retry-After honoured
    retrying = [e for e in events if e.kind == "retrying"]
    assert [e.attempt for e in retrying] == [1, 2]
    assert 0.3 <= retrying[1].delay_s <= 0.33
    rows = await engine.db.fetchall("SELECT outcome FROM provider_attempts ORDER BY id")
    assert [r[0] for r in rows] == ["transient", "transient", "ok"]


async def test_permanent_error_is_not_retried_and_falls_back(engine_factory, photo_png) -> None:
    remote = ScriptedRemote("replicate", [PermanentProviderError("422 bad input")])
    local = ScriptedLocal()
    engine = await engine_factory({"replicate": remote, "local": local},
                                  tools__crop__providers=["replicate", "local"])
    result = await engine.run(crop(photo_png))
    assert len(remote.calls) == 1
    assert local.calls == 1
    assert result.ok
    assert result.provider == "local"
    assert result.fallback_reason == "replicate: 422 bad input"
    assert result.credits_charged == 1


async def test_content_rejected_is_final(engine_factory) -> None:
    remote = ScriptedRemote("openai", [ContentRejected("refused by the content filter")])
    local = ScriptedLocal()
    engine = await engine_factory({"openai": remote, "local": local})
    result = await engine.run(JobRequest("g", "m", "design", {"prompt": "something"}))
    assert result.status == "failed"
    assert isinstance(result.error, ContentRejected)
    assert len(remote.calls) == 1
    assert local.calls == 0
    assert result.balance == 10


async def test_breaker_opens_then_half_opens(engine_factory, photo_png) -> None:
    remote = ScriptedRemote("replicate", [TransientProviderError("500")] * 3)
    local = ScriptedLocal()
    engine = await engine_factory(
        {"replicate": remote, "local": local}, tools__crop__providers=["replicate", "local"],
        retry__max_attempts=1, breaker__failure_threshold=2, breaker__cooldown_s=0.3)
    for i in range(2):
        await engine.run(crop(photo_png + bytes([i])))  # distinct inputs: no cache hits
    assert engine.breakers.get("replicate", "crop").state == "open"
    r = await engine.run(crop(photo_png + b"x"))
    assert len(remote.calls) == 2  # skipped while open
    assert "circuit open" in (r.fallback_reason or "")
    await asyncio.sleep(0.35)
    assert engine.breakers.get("replicate", "crop").state == "half-open"
    await engine.run(crop(photo_png + b"y"))  # the probe fails: open again
    assert len(remote.calls) == 3
    assert engine.breakers.get("replicate", "crop").state == "open"
    await asyncio.sleep(0.35)
    r = await engine.run(crop(photo_png + b"z"))  # the probe succeeds: closed
    assert r.provider == "replicate"
    assert engine.breakers.get("replicate", "crop").state == "closed"
    stats = await engine.stats()
    assert stats["circuits"]["replicate/crop"]["circuit"] == "closed"


async def test_rate_limit_reports_wait_and_costs_nothing(engine_factory, photo_png) -> None:
    engine = await engine_factory({"local": ScriptedLocal()}, limits__per_member_per_minute=2)
    await engine.run(crop(photo_png))
    await engine.run(crop(photo_png + b"1"))
    with pytest.raises(RateLimited) as info:
        await engine.submit(crop(photo_png + b"2"))
    assert 20 < info.value.retry_after <= 30  # 2 per minute: a token every 30 s
    assert "try again in" in str(info.value)
    assert await ledger_total(engine) == (8, 8)
    # another member is not limited
    assert (await engine.run(crop(photo_png, member="other"))).ok


async def test_per_member_concurrency_limit(engine_factory, photo_png) -> None:
    gate = threading.Event()
    engine = await engine_factory({"local": ScriptedLocal(gate=gate)},
                                  limits__per_member_running=2, limits__per_member_queued=1,
                                  limits__local_threads=4)
    h1 = await engine.submit(crop(photo_png + b"1"))
    h2 = await engine.submit(crop(photo_png + b"2"))
    h3 = await engine.submit(crop(photo_png + b"3"))
    assert (h1.position, h2.position, h3.position) == (0, 0, 1)
    with pytest.raises(QueueFull) as info:
        await engine.submit(crop(photo_png + b"4"))
    assert info.value.retry_after >= 1
    assert "2 job(s) running and 1 waiting" in str(info.value)
    gate.set()
    results = [await engine.wait(h.job_id) for h in (h1, h2, h3)]
    assert all(r.ok for r in results)
    assert await engine.credits.balance("g", "m") == 7


async def test_cancel_queued_and_running_refunds(engine_factory, photo_png) -> None:
    gate = threading.Event()
    engine = await engine_factory({"local": ScriptedLocal(gate=gate)},
                                  limits__per_member_running=1)
    running = await engine.submit(crop(photo_png + b"1"))
    queued = await engine.submit(crop(photo_png + b"2"))
    with pytest.raises(NotAllowed):
        await engine.cancel(queued.job_id, actor_id="stranger")
    assert await engine.cancel(queued.job_id, actor_id="m") == CancelOutcome.CANCELED
    await asyncio.sleep(0.05)
    assert await engine.cancel(running.job_id, actor_id="mod", is_moderator=True) == CancelOutcome.CANCELED
    r1, r2 = await engine.wait(running.job_id), await engine.wait(queued.job_id)
    gate.set()
    assert r1.status == r2.status == "canceled"
    assert await engine.credits.balance("g", "m") == 10
    assert await engine.cancel(running.job_id, actor_id="m") == CancelOutcome.ALREADY_CANCELED
    assert await ledger_total(engine) == (10, 10)


@pytest.mark.parametrize("recover", ["resume", "refund"])
async def test_job_left_running_is_recovered_on_start(engine_factory, make_settings, photo_png,
                                                      recover: str) -> None:
    settings = make_settings(jobs__recover=recover)
    gate = threading.Event()
    first = await engine_factory({"local": ScriptedLocal(gate=gate)}, settings=settings)
    handle = await first.submit(crop(photo_png))
    await asyncio.sleep(0.05)
    assert (await first.get_job(handle.job_id)).state == "running"
    # the process stops mid-job (no grace): the row stays `running` with its hold
    await first.close(grace_s=0)
    gate.set()
    local = ScriptedLocal()
    second = await engine_factory({"local": local}, settings=settings, start=False)
    events: list[JobEvent] = []
    second.add_listener(events.append)
    await second.start()
    result = await second.wait(handle.job_id)
    if recover == "resume":
        assert events[0].kind == "resumed"
        assert result.ok
        assert local.calls == 1
        assert result.balance == 9
    else:
        assert events[0].kind == "refunded"
        assert result.status == "failed"
        assert local.calls == 0
        assert result.balance == 10
    assert await ledger_total(second) == (result.balance, result.balance)


BAD_INPUTS = {
    "empty": (b"", "empty"),
    "text renamed .png": (b"hello, this is not an image\n" * 4, "not a supported image"),
}


def _bad_inputs() -> dict[str, tuple[bytes, str]]:
    import io
    import struct
    import zlib

    from PIL import Image

    out = dict(BAD_INPUTS)
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buf, "PNG")
    out["truncated png"] = (buf.getvalue()[: len(buf.getvalue()) // 2], "truncated or corrupt")

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) \
        + chunk(b"IEND", b"")
    out["20000x20000 header"] = (bomb, "20000×20000")
    return out


@pytest.mark.parametrize("name", list(_bad_inputs()))
async def test_bad_input_is_a_user_error_and_costs_nothing(engine_factory, name: str) -> None:
    data, expected = _bad_inputs()[name]
    local = ScriptedLocal()
    engine = await engine_factory({"local": local})
    with pytest.raises(InvalidInput) as info:
        await engine.submit(crop(data))
    assert expected in str(info.value)
    assert info.value.field == "image"
    assert local.calls == 0
    assert await ledger_total(engine) == (10, 10)
    assert tuple(await engine.db.fetchone("SELECT COUNT(*) FROM jobs")) == (0,)


async def test_validation_names_the_field(engine_factory, photo_png) -> None:
    engine = await engine_factory({"local": ScriptedLocal()})
    with pytest.raises(InvalidInput, match="`ratio`"):
        await engine.submit(JobRequest("g", "m", "crop", {"ratio": "5:4"}, image=photo_png))
    with pytest.raises(InvalidInput, match="`colors`"):
        await engine.submit(JobRequest("g", "m", "palette", {"colors": 40}, image=photo_png))
    with pytest.raises(InvalidInput, match="`image`: attach an image"):
        await engine.submit(JobRequest("g", "m", "upscale", {"scale": 2}))
    with pytest.raises(InvalidInput, match=r"`colors`.*'blurple'"):
        await engine.submit(JobRequest("g", "m", "design", {"prompt": "x", "colors": "blurple"}))
    assert tuple(await engine.db.fetchone("SELECT COUNT(*) FROM ledger")) == (0,)


async def test_server_config_applies_at_once(engine_factory, photo_png) -> None:
    engine = await engine_factory({"local": ScriptedLocal()})
    await engine.guild_config.set("g", "tool.crop.cost", "3", actor="admin")
    assert (await engine.run(crop(photo_png))).credits_charged == 3
    await engine.guild_config.set("g", "tool.crop.enabled", "off", actor="admin")
    with pytest.raises(ToolDisabled):
        await engine.submit(crop(photo_png + b"1"))
    await engine.guild_config.set("g", "allowed_channels", "42", actor="admin")
    await engine.guild_config.set("g", "tool.crop.enabled", "on", actor="admin")
    with pytest.raises(NotAllowed) as refused:  # front ends render the channels
        await engine.submit(crop(photo_png + b"2"))
    assert refused.value.channel_ids == ("42",)
    log = await engine.guild_config.log("g")
    assert log[0]["key"] == "tool.crop.enabled"
    assert log[0]["actor_id"] == "admin"
    with pytest.raises(InvalidInput, match="Unknown setting"):
        await engine.guild_config.set("g", "nonsense", "1", actor="admin")


async def test_insufficient_credits_via_engine(engine_factory) -> None:
    engine = await engine_factory({"local": ScriptedLocal()}, credits__starting=4)
    with pytest.raises(InsufficientCredits):
        await engine.submit(JobRequest("g", "m", "design", {"prompt": "poster"}))
    assert await ledger_total(engine) == (4, 4)


async def test_cli_wallet_is_topped_up(engine_factory) -> None:
    engine = await engine_factory({"local": ScriptedLocal()}, credits__starting=0,
                                  credits__operator_topup=100)
    r = await run_as_operator(engine, JobRequest("cli", "operator", "design",
                                                 {"prompt": "poster"}, source="cli"))
    assert r.ok
    assert r.credits_charged == 5
    assert r.balance == 95
    kinds = [row.kind for row in await engine.credits.history("cli", "operator")]
    assert kinds == ["hold", "topup"]


async def test_deadline_fails_and_refunds(engine_factory, photo_png) -> None:
    remote = ScriptedRemote("replicate", [], delay=5)
    engine = await engine_factory({"replicate": remote}, tools__crop__providers=["replicate"],
                                  jobs__deadline_s=0.3)
    t0 = time.monotonic()
    result = await engine.run(crop(photo_png))
    assert time.monotonic() - t0 < 4  # the deadline plus the adapter's clean-up grace
    assert result.status == "failed"
    assert result.balance == 10
    rec = await engine.get_job(result.job_id)
    assert rec.error_type == "AllProvidersFailed"
    rows = await engine.db.fetchall("SELECT outcome FROM provider_attempts")
    assert rows
    assert rows[0][0] == "timeout"
    assert json.loads(json.dumps(await engine.stats()))["tools"]


async def test_input_caused_errors_do_not_open_the_breaker(engine_factory, photo_png) -> None:
    bad_input = [PermanentProviderError("422 unprocessable", status=422) for _ in range(4)]
    remote = ScriptedRemote("replicate", bad_input)
    engine = await engine_factory({"replicate": remote, "local": ScriptedLocal()},
                                  tools__crop__providers=["replicate", "local"],
                                  breaker__failure_threshold=2)
    for i in range(4):
        assert (await engine.run(crop(photo_png + bytes([i])))).provider == "local"
    assert len(remote.calls) == 4
    assert engine.breakers.get("replicate", "crop").state == "closed"
    # an account-level failure does count
    remote.errors = [PermanentProviderError("402 out of credits", status=402)] * 2
    for i in range(2):
        await engine.run(crop(photo_png + bytes([10 + i])))
    assert engine.breakers.get("replicate", "crop").state == "open"
