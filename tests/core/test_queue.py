"""The Postgres job queue: a gateway engine and a worker (core/worker.py) in this
process, each with its own engine and connections, over a fresh Postgres database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar

import pytest
from PIL import Image

from core import queue_sql
from core.config import Settings
from core.engine import CancelOutcome, Engine, JobRequest
from core.errors import ConfigError, InsufficientCredits
from core.jobs import JobEvent
from core.providers.base import Attempt, Provider, ProviderRequest, ProviderResult
from core.reconcile import Reconciler
from core.tools.base import TOOLS
from core.worker import Worker
from tests.conftest import png_bytes
from tests.core.scripted import result_for
from tests.queue_stack import FAST_QUEUE

GUILD = "g"


class Slow(Provider):
    """An async provider taking `delay` s (cancellable), recording idempotency keys."""

    name: ClassVar[str] = "local"
    tools: ClassVar[frozenset[str]] = frozenset(TOOLS)

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.keys: list[str] = []
        self.started = asyncio.Event()
        self.aborted = asyncio.Event()
        self.cancelled = 0

    async def run(self, req: ProviderRequest, attempt: Attempt) -> ProviderResult:
        self.keys.append(req.idempotency_key)
        self.started.set()
        try:
            for i in range(int(self.delay * 20)):
                await asyncio.sleep(0.05)
                req.progress(i / (self.delay * 20), "working")
        except asyncio.CancelledError:
            self.cancelled += 1
            self.aborted.set()
            raise
        return result_for(req)


@pytest.fixture
def queue_settings(make_settings: Callable[..., Settings], pg_database: str) -> Settings:
    return make_settings(**{"storage.database": pg_database, "queue.backend": "procrastinate",
                            **{f"queue.{k}": v for k, v in FAST_QUEUE.items()}})


@pytest.fixture
async def stack(queue_settings: Settings) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """`await stack(provider)`: (gateway engine, worker engine, Worker) with the worker
    serving; everything stopped at the end."""
    engines: list[Engine] = []
    serving: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def make(provider: Provider, *, serve: bool = True) -> tuple[Engine, Engine, Worker]:
        gateway = await Engine.create(queue_settings)
        await gateway.start()
        engines.append(gateway)
        weng = await Engine.create(queue_settings, providers={"local": provider})
        engines.append(weng)
        worker = Worker(weng)
        if serve:
            stop = asyncio.Event()
            serving.append((stop, asyncio.create_task(worker.serve(stop, grace_s=1))))
        return gateway, weng, worker

    yield make
    for stop, task in serving:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 30)
    for e in engines:
        await e.close(grace_s=0)


async def stop_reconciling(gateway: Engine) -> None:
    """Stop the gateway's own reconciler (its lock is released as it stops)."""
    for task in gateway.dispatcher._tasks:
        if task.get_name() == "queue-reconcile":
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def lead(rec: Reconciler) -> Any:
    """A round of `rec` once it gets the lock (the server frees a closed session's lock
    when that session's backend exits, a moment after the close)."""
    for _ in range(100):
        if (done := await rec.run_once()) is not None:
            return done
        await asyncio.sleep(0.05)
    raise AssertionError("the reconciler never got the advisory lock")


def png(seed: int) -> bytes:
    """Another small image (a different cache key)."""
    return png_bytes(Image.new("RGB", (40 + seed, 30), (seed * 40 % 256, 90, 160)))


def crop(image: bytes, member: str = "m") -> JobRequest:
    return JobRequest(GUILD, member, "crop", {"ratio": "1:1"}, image=image, channel_id="c",
                      source="discord")


async def ledger(engine: Engine, member: str = "m") -> tuple[int, int]:
    """(sum of the member's ledger, balance)."""
    row = await engine.db.fetchone(
        "SELECT COALESCE(SUM(delta), 0) FROM ledger WHERE guild_id = ? AND member_id = ?",
        (GUILD, member))
    return int(row[0]), await engine.credits.balance(GUILD, member)


async def test_job_runs_on_a_worker_and_events_reach_the_gateway(stack, photo_png) -> None:
    provider = Slow(delay=0.6)
    gateway, _, worker = await stack(provider)
    events: list[JobEvent] = []
    gateway.add_listener(events.append)
    handle = await gateway.submit(crop(photo_png))
    assert handle.position >= 1
    result = await asyncio.wait_for(gateway.wait(handle.job_id), 60)
    assert result.ok
    assert result.credits_charged == 1
    assert result.balance == 9
    assert result.files[0].read_bytes()[:4] == b"\x89PNG"
    kinds = [e.kind for e in events]
    assert kinds[0] == "queued"
    assert kinds[-1] == "done"
    assert kinds.count("done") == 1
    assert "started" in kinds
    assert "progress" in kinds
    assert provider.keys == [f"luneo-{handle.job_id}"]
    assert worker.jobs_run == 1
    assert await ledger(gateway) == (9, 9)
    rec = await gateway.get_job(handle.job_id)
    assert rec.state == "succeeded"
    assert rec.attempts == 1


async def test_queue_entry_is_written_with_the_hold(stack, photo_png, queue_settings) -> None:
    gateway, _, _ = await stack(Slow(), serve=False)
    handle = await gateway.submit(crop(photo_png))
    rows = await gateway.db.fetchall(
        "SELECT task_name, queue_name, lock, queueing_lock, args FROM procrastinate_jobs")
    assert len(rows) == 1
    assert rows[0]["task_name"] == queue_sql.TASK_NAME
    assert rows[0]["queue_name"] == queue_settings.queue.name
    assert rows[0]["lock"] == handle.job_id
    assert rows[0]["queueing_lock"] == handle.job_id
    await gateway.db.execute("UPDATE wallets SET balance = 0 WHERE member_id = 'm'")
    with pytest.raises(InsufficientCredits):
        await gateway.submit(crop(png(1)))
    count = await gateway.db.fetchone("SELECT count(*) FROM procrastinate_jobs")
    assert count[0] == 1  # a refused hold queued nothing


async def test_a_second_delivery_of_an_ended_job_does_nothing(stack, photo_png) -> None:
    provider = Slow()
    gateway, _, worker = await stack(provider)
    handle = await gateway.submit(crop(photo_png))
    assert (await asyncio.wait_for(gateway.wait(handle.job_id), 60)).ok
    await worker.run_job(handle.job_id)  # the queue delivers it again
    assert provider.keys == [f"luneo-{handle.job_id}"]
    holds = await gateway.db.fetchone(
        "SELECT count(*) FROM ledger WHERE job_id = ? AND kind = 'hold'", (handle.job_id,))
    assert holds[0] == 1
    assert await ledger(gateway) == (9, 9)


async def test_a_redelivered_running_job_runs_once_more_and_settles_once(stack,
                                                                         photo_png) -> None:
    provider = Slow()
    gateway, _, worker = await stack(provider, serve=False)
    handle = await gateway.submit(crop(photo_png))
    # a worker died after marking it running: the row is left 'running'
    await gateway.db.execute("UPDATE jobs SET state = 'running' WHERE id = ?", (handle.job_id,))
    await worker.run_job(handle.job_id)
    result = await asyncio.wait_for(gateway.wait(handle.job_id), 30)
    assert result.ok
    await worker.run_job(handle.job_id)
    assert len(provider.keys) == 1
    assert await ledger(gateway) == (9, 9)


async def test_cancel_of_a_queued_job_refunds_once_and_drops_the_entry(stack, photo_png) -> None:
    gateway, _, _ = await stack(Slow(), serve=False)
    handle = await gateway.submit(crop(photo_png))
    assert await gateway.cancel(handle.job_id, "m") == CancelOutcome.CANCELED
    assert await gateway.cancel(handle.job_id, "m") == CancelOutcome.ALREADY_CANCELED
    result = await gateway.wait(handle.job_id)
    assert result.status == "canceled"
    assert await ledger(gateway) == (10, 10)
    row = await gateway.db.fetchone("SELECT status FROM procrastinate_jobs WHERE lock = ?",
                                    (handle.job_id,))
    assert row["status"] == "cancelled"


async def test_cancel_of_a_running_job_aborts_the_worker_and_refunds_once(stack,
                                                                          photo_png) -> None:
    provider = Slow(delay=30)
    gateway, _, _ = await stack(provider)
    events: list[str] = []
    gateway.add_listener(lambda e: events.append(e.kind))
    handle = await gateway.submit(crop(photo_png))
    await asyncio.wait_for(provider.started.wait(), 60)
    assert await gateway.cancel(handle.job_id, "m") == CancelOutcome.CANCELED
    assert (await gateway.wait(handle.job_id)).status == "canceled"
    await asyncio.wait_for(provider.aborted.wait(), 30)
    assert provider.cancelled == 1  # the worker's task was aborted
    assert await ledger(gateway) == (10, 10)
    assert events.count("canceled") == 1
    assert "done" not in events


async def test_the_reconciler_requeues_orphans_and_refunds_late_jobs(stack, photo_png,
                                                                     queue_settings) -> None:
    gateway, weng, _ = await stack(Slow(), serve=False)  # the gateway runs a reconciler
    orphan = await gateway.submit(crop(photo_png))
    await gateway.db.execute("DELETE FROM procrastinate_jobs WHERE lock = ?", (orphan.job_id,))
    late = await gateway.submit(crop(png(2), member="late"))
    await gateway.db.execute("UPDATE jobs SET created_at = created_at - ? WHERE id = ?",
                             (queue_settings.jobs.deadline_s + 60, late.job_id))
    result = await asyncio.wait_for(gateway.wait(late.job_id), 30)
    assert result.status == "failed"
    assert "deadline" in str(result.error)
    assert await ledger(gateway, "late") == (10, 10)
    for _ in range(300):
        entries = await gateway.db.fetchall(
            "SELECT status FROM procrastinate_jobs WHERE lock = ?", (orphan.job_id,))
        if entries:
            break
        await asyncio.sleep(0.1)
    assert [r["status"] for r in entries] == ["todo"]
    await stop_reconciling(gateway)
    rec = Reconciler(queue_settings, weng.runner)
    try:
        again = await lead(rec)
        assert (again.requeued, again.refunded, again.stalled) == (0, 0, 0)  # nothing twice
    finally:
        await rec._drop_lock()
    assert await ledger(gateway, "late") == (10, 10)


async def test_one_reconciler_at_a_time(queue_settings, stack) -> None:
    gateway, weng, _ = await stack(Slow(), serve=False)
    await stop_reconciling(gateway)
    first, second = Reconciler(queue_settings, weng.runner), Reconciler(queue_settings, weng.runner)
    try:
        assert await first.run_once() is not None
        assert await second.run_once() is None  # the advisory lock is taken
        assert await first.run_once() is not None  # the leader keeps it
        await first._drop_lock()  # its process dies: the session's lock goes with it
        await lead(second)
    finally:
        await first._drop_lock()
        await second._drop_lock()


def test_procrastinate_queue_needs_postgres(make_settings) -> None:
    with pytest.raises(ConfigError, match="needs a Postgres database"):
        make_settings(**{"queue.backend": "procrastinate"})


async def test_a_restarted_gateway_follows_the_jobs_of_the_one_before(
        stack, photo_png, queue_settings) -> None:
    first, _, _ = await stack(Slow(), serve=False)
    handle = await first.submit(crop(photo_png))
    cli_job = await first.submit(JobRequest(GUILD, "m", "crop", {"ratio": "1:1"}, image=png(3)))
    await first.close(grace_s=0)  # the gateway restarts while its job waits in the queue
    _, _, worker = await stack(Slow(), serve=False)
    second = await Engine.create(queue_settings)
    events: list[JobEvent] = []
    second.add_listener(events.append)  # as the bot does, before start
    await second.start()
    assert second.dispatcher.follow_filter(await second.get_job(handle.job_id))
    assert not second.dispatcher.follow_filter(await second.get_job(cli_job.job_id))
    stop = asyncio.Event()
    serving = asyncio.create_task(worker.serve(stop, grace_s=1))
    try:
        await asyncio.wait_for(second.dispatcher._adopted.wait(), 30)
        result = await asyncio.wait_for(second.wait(handle.job_id), 60)
    finally:
        stop.set()
        await serving
        await second.close(grace_s=0)
    assert result.ok
    kinds = [(e.kind, e.job_id) for e in events]
    assert ("resumed", handle.job_id) in kinds
    assert kinds.count(("done", handle.job_id)) == 1
    assert all(job_id != cli_job.job_id for _, job_id in kinds)  # no channel: not followed


def test_studio_worker_refuses_the_in_process_queue(tmp_path, capsys) -> None:
    from core.cli import main

    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[storage]\ndatabase = "{tmp_path / "s.db"}"\n', encoding="utf-8")
    assert main(["worker", "--config", str(cfg)]) == 1
    assert 'needs [queue] backend = "procrastinate"' in capsys.readouterr().err
