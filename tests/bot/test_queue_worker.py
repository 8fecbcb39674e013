"""End to end over Postgres: the bot as a gateway (`[queue] backend = "procrastinate"`)
and a separate `studio worker` process running the real local tools, both against
the fake Discord: a tool from slash command to result, cancel with refund, and a
worker killed mid-job (recovered by a replacement worker; the member told once)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot import StudioBot, start_bot
from core.config import load_settings
from core.jobs import PROCESS_OWNER
from tests.bot.conftest import World, image_bytes, open_image, write_config
from tests.queue_stack import FAST_QUEUE, spawn_worker, stop_worker

QUEUE = "\n".join(["[queue]", 'backend = "procrastinate"',
                   *(f"{k} = {v}" for k, v in FAST_QUEUE.items()),
                   "[limits]", "local_threads = 1", "[models]", "threads = 1"])

Stack = Callable[..., Awaitable[tuple[StudioBot, Path]]]


@pytest.fixture
async def gateway(world: World, tmp_path: Path, pg_database: str
                  ) -> AsyncIterator[tuple[Stack, list[subprocess.Popen[bytes]]]]:
    """`await start()` -> (a ready bot whose engine queues jobs, its config path);
    `workers` holds the worker processes (stopped at the end)."""
    bots: list[StudioBot] = []
    workers: list[subprocess.Popen[bytes]] = []

    async def start() -> tuple[StudioBot, Path]:
        cfg = write_config(world, tmp_path, QUEUE)
        text = cfg.read_text(encoding="utf-8").replace(
            'database = "studio.db"', f'database = "{pg_database}"', 1)
        cfg.write_text(text, encoding="utf-8")
        settings = load_settings(cfg, env={"DISCORD_TOKEN": world.fake.token})
        bot = await start_bot(settings, guild_ready_timeout=0.05, shutdown_grace_s=2.0)
        bots.append(bot)
        return bot, cfg

    yield start, workers
    for bot in bots:
        await bot.close()
        if bot.connection_task is not None:
            await bot.connection_task
    for proc in workers:
        await asyncio.to_thread(stop_worker, proc)
    for bot in bots:
        assert bot.unhandled_errors == [], bot.unhandled_errors


def status_of(world: World, ix: Any) -> Any:
    return next(m for m in world.fake.messages_of(ix) if not m.ephemeral)


async def until(check: Callable[[], Awaitable[Any]], within: float) -> Any:
    """Poll `check()` every 50 ms until it returns something truthy (at most `within` s)."""
    for _ in range(int(within / 0.05)):
        if value := await check():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {within} s")


async def job_running(bot: StudioBot, within: float = 120.0) -> str:
    """The id of the first job whose row says it is running on a worker."""
    async def running() -> str | None:
        row = await bot.engine.db.fetchone("SELECT id FROM jobs WHERE state = 'running'")
        return str(row["id"]) if row else None

    job_id: str = await until(running, within)
    return job_id


async def ledger_matches(bot: StudioBot, world: World) -> tuple[int, int]:
    row = await bot.engine.db.fetchone(
        "SELECT COALESCE(SUM(delta), 0) FROM ledger WHERE guild_id = ? AND member_id = ?",
        (str(world.guild.id), str(world.alice.id)))
    return int(row[0]), await bot.engine.credits.balance(str(world.guild.id), str(world.alice.id))


def results_for(world: World, member_id: int) -> list[Any]:
    return [m for m in world.fake.messages.values()
            if m.attachments and not m.ephemeral and m.content == f"<@{member_id}>"]


async def test_a_tool_runs_on_the_worker_and_the_result_reaches_the_member(
        world: World, gateway: Any) -> None:
    start, workers = gateway
    bot, cfg = await start()
    workers.append(spawn_worker(cfg))
    ix = await world.slash("crop", {"image": world.upload(data=image_bytes(96, 64, seed=3)),
                                    "ratio": "1:1"})
    result = await world.result_of(ix, within=120)
    img = open_image(result.attachments[0][1])
    assert img.width == img.height
    assert result.content == world.alice.mention
    assert await ledger_matches(bot, world) == (9, 9)
    job_id = result.embeds[0]["footer"]["text"].removeprefix("job ")
    rec = await bot.engine.get_job(job_id)
    assert rec.state == "succeeded"
    assert rec.owner != PROCESS_OWNER  # it ran in the worker process, not in the gateway


async def test_cancel_of_a_job_running_on_the_worker_refunds(world: World, gateway: Any) -> None:
    start, workers = gateway
    bot, cfg = await start()
    workers.append(spawn_worker(cfg))
    ix = await world.slash("upscale", {"image": world.upload(data=image_bytes(384, 384, seed=5)),
                                       "scale": 4})
    job_id = await job_running(bot)
    status = await world.fake.wait_for(
        lambda: status_of(world, ix) if status_of(world, ix).custom_ids else None, within=30)
    assert await ledger_matches(bot, world) == (6, 6)  # 4 credits held
    click = await world.fake.click(status, status.custom_ids[0], member=world.alice)
    assert (await world.fake.reply_to(click, within=30)).content == (
        "🚫 Canceled; the held credits were refunded.")
    await world.fake.wait_for(lambda: "Canceled by" in status.content, within=30)
    assert "4 credits refunded; balance 10." in status.content
    assert await ledger_matches(bot, world) == (10, 10)
    assert (await bot.engine.get_job(job_id)).state == "canceled"

    async def aborted() -> bool:  # the worker's task was stopped, not left running
        row = await bot.engine.db.fetchone(
            "SELECT status FROM procrastinate_jobs WHERE lock = ?", (job_id,))
        return row[0] != "doing"

    await until(aborted, 30)
    assert results_for(world, world.alice.id) == []


async def test_a_worker_killed_mid_job_is_replaced_and_the_member_told_once(
        world: World, gateway: Any) -> None:
    start, workers = gateway
    bot, cfg = await start()
    first = spawn_worker(cfg)
    workers.append(first)
    ix = await world.slash("upscale", {"image": world.upload(data=image_bytes(256, 256, seed=7)),
                                       "scale": 2})
    job_id = await job_running(bot)
    first.send_signal(signal.SIGKILL)
    await asyncio.to_thread(first.wait)
    workers.append(spawn_worker(cfg))  # the replacement takes the job once the first is stalled
    result = await world.result_of(ix, within=180)
    assert result.embeds[0]["footer"]["text"] == f"job {job_id}"
    rec = await bot.engine.get_job(job_id)
    assert rec.state == "succeeded"
    assert await ledger_matches(bot, world) == (8, 8)  # charged once (2 credits)
    holds = await bot.engine.db.fetchone(
        "SELECT count(*) FROM holds WHERE state = 'held'")
    assert holds[0] == 0
    await asyncio.sleep(1.0)  # nothing else arrives for this job
    assert len(results_for(world, world.alice.id)) == 1
