"""Worker processes over Postgres: graceful SIGTERM (a running job finishes within the
grace), a SIGTERM past the grace (the job is run again by the next worker), and a
`kill -9` mid-job (recovered by a replacement worker); every time charged and told once."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from core.config import load_settings
from core.engine import Engine, JobRequest
from core.jobs import JobEvent
from tests.conftest import png_bytes
from tests.queue_stack import spawn_worker, stop_worker, write_config

FINAL = ("done", "failed", "canceled")


@pytest.fixture
async def gateway(tmp_path: Path, pg_database: str) -> AsyncIterator[Callable[..., Any]]:
    """`await gateway(**sections)` -> (engine, config path, final-event counter, workers)."""
    engines: list[Engine] = []
    workers: list[Any] = []

    async def make(**sections: dict[str, Any]) -> tuple[Engine, Path, dict[str, int], list[Any]]:
        cfg = write_config(tmp_path, pg_database, sections)
        engine = await Engine.create(load_settings(cfg))
        finals: dict[str, int] = {}

        def count(e: JobEvent) -> None:
            if e.kind in FINAL:
                finals[e.job_id] = finals.get(e.job_id, 0) + 1

        engine.add_listener(count)
        await engine.start()
        engines.append(engine)
        return engine, cfg, finals, workers

    yield make
    for proc in workers:
        await asyncio.to_thread(stop_worker, proc)
    for e in engines:
        await e.close(grace_s=0)


def crop(member: str = "m") -> JobRequest:
    return JobRequest("g", member, "crop", {"ratio": "1:1"},
                      image=png_bytes(Image.new("RGB", (64, 48), (200, 9, 9))), channel_id="c")


async def running(engine: Engine, job_id: str) -> None:
    for _ in range(1200):
        rec = await engine.get_job(job_id)
        if rec.state == "running":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the job never started")


async def balanced(engine: Engine, member: str = "m") -> tuple[int, int]:
    row = await engine.db.fetchone(
        "SELECT COALESCE(SUM(delta), 0) FROM ledger WHERE guild_id = 'g' AND member_id = ?",
        (member,))
    return int(row[0]), await engine.credits.balance("g", member)


async def test_sigterm_lets_the_running_job_finish(gateway) -> None:
    engine, cfg, finals, workers = await gateway()
    proc = spawn_worker(cfg, delay=2.0)
    workers.append(proc)
    handle = await engine.submit(crop())
    await running(engine, handle.job_id)
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(asyncio.to_thread(proc.wait), 60) == 0
    result = await asyncio.wait_for(engine.wait(handle.job_id), 30)
    assert result.ok
    assert finals[handle.job_id] == 1
    assert await balanced(engine) == (9, 9)


async def test_a_job_cut_off_by_shutdown_runs_again_on_the_next_worker(gateway) -> None:
    engine, cfg, finals, workers = await gateway(queue={"shutdown_grace_s": 1.0})
    first = spawn_worker(cfg, delay=120.0)  # longer than the shutdown grace
    workers.append(first)
    handle = await engine.submit(crop())
    await running(engine, handle.job_id)
    first.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(asyncio.to_thread(first.wait), 90) == 0
    workers.append(spawn_worker(cfg, delay=0.5))
    result = await asyncio.wait_for(engine.wait(handle.job_id), 120)
    assert result.ok
    assert finals[handle.job_id] == 1
    assert await balanced(engine) == (9, 9)


async def test_a_job_of_a_killed_worker_is_recovered_by_a_replacement(gateway) -> None:
    engine, cfg, finals, workers = await gateway()
    first = spawn_worker(cfg, delay=30.0)
    workers.append(first)
    handle = await engine.submit(crop())
    await running(engine, handle.job_id)
    first.send_signal(signal.SIGKILL)
    await asyncio.to_thread(first.wait)
    workers.append(spawn_worker(cfg, delay=0.5))
    result = await asyncio.wait_for(engine.wait(handle.job_id), 120)
    assert result.ok
    assert finals[handle.job_id] == 1
    holds = await engine.db.fetchone("SELECT state FROM holds WHERE job_id = ?", (handle.job_id,))
    assert holds[0] == "settled"
    assert await balanced(engine) == (9, 9)
