"""Starting and running the bot: `start_bot` (used by `studio bot` and tests)
and `run_bot` (a whole process: logging, signals, exit status)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Sequence
from typing import Any

import discord
import yarl

from bot.client import ShardedStudioBot, StudioBot
from bot.shards import IdentifyGate, ShardError, ShardPlan, add_shard_arguments, parse_shards
from core.config import Settings
from core.engine import Engine
from core.errors import ConfigError, StorageError
from core.logging import setup_logging

log = logging.getLogger(__name__)


def point_client_at(settings: Settings) -> None:
    """Send discord.py's REST and gateway traffic to `[discord] api_base` / `gateway_url`."""
    discord.http.Route.BASE = settings.discord.api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord.gateway_url)


async def start_bot(
    settings: Settings,
    *,
    engine: Engine | None = None,
    shards: ShardPlan | None = None,
    identify_gate: IdentifyGate | None = None,
    **options: Any,
) -> StudioBot:
    """Log in, connect and wait until the bot is ready; return it running.

    The bot owns `engine` (created from `settings` when None) and closes it in
    `bot.close()`. `options` go to `StudioBot` (e.g. `guild_ready_timeout`).
    The gateway connection runs in `bot.connection_task`. `shards` runs those shards
    (bot/shards.py), their IDENTIFYs spaced by `identify_gate` (default: through
    `[storage] database` when it is Postgres, else within this process).
    """
    token = settings.secrets.discord_token
    if token is None:
        raise ConfigError("DISCORD_TOKEN is not set; put the bot token in the environment.")
    point_client_at(settings)
    if engine is None:
        engine = await Engine.create(settings)
    bot: StudioBot
    if shards is None:
        bot = StudioBot(engine=engine, settings=settings, **options)
    else:
        gate = identify_gate or IdentifyGate.for_database(settings.storage.database)
        bot = ShardedStudioBot(plan=shards, gate=gate, engine=engine, settings=settings,
                               **options)
        log.info("starting %s", shards.describe())
    try:
        await bot.login(token.get_secret_value())
        bot.connection_task = asyncio.create_task(
            bot.connect(reconnect=True), name="discord-gateway"
        )
        ready = asyncio.create_task(bot.wait_until_ready())
        await asyncio.wait({ready, bot.connection_task}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            exc = bot.connection_task.exception()
            raise exc or RuntimeError("the Discord gateway closed before the bot was ready")
    except BaseException:
        await bot.close()
        raise
    return bot


def _startup_failure(exc: BaseException) -> int:
    """Log why the bot could not start; the exit status."""
    if isinstance(exc, ConfigError):
        log.error("%s", exc)
        return 2
    if isinstance(exc, StorageError):
        log.error("%s", exc)  # one line naming the file and the problem
        return 1
    if isinstance(exc, discord.LoginFailure):
        log.error("Discord rejected the bot token (DISCORD_TOKEN).")
        return 1
    log.error("could not connect to Discord: %s", exc, exc_info=exc)
    return 1


async def serve(settings: Settings, shards: ShardPlan | None = None) -> int:
    """Run until SIGINT/SIGTERM or a fatal gateway error; the process exit status."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stopper = asyncio.create_task(stop.wait())
    starting = asyncio.create_task(start_bot(settings, shards=shards))
    await asyncio.wait({stopper, starting}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():  # a signal during startup (e.g. Discord unreachable)
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        log.info("stopped before the bot was ready")
        return 0
    if (exc := starting.exception()) is not None:
        stopper.cancel()
        return _startup_failure(exc)
    bot = starting.result()
    if bot.connection_task is None:
        raise RuntimeError("the bot started without a connection task")
    metrics = None
    if settings.metrics.prometheus_port:
        from core.metrics_server import start_metrics_server

        metrics = await start_metrics_server(bot.engine.metrics, settings.metrics.prometheus_port)
    await asyncio.wait({stopper, bot.connection_task}, return_when=asyncio.FIRST_COMPLETED)
    log.info("shutting down")
    stopper.cancel()
    await bot.close()
    if metrics is not None:
        await metrics.cleanup()
    task = bot.connection_task
    if task.done() and not task.cancelled() and (failed := task.exception()) is not None:
        log.error("the gateway connection failed: %s", failed)
        return 1
    return 0


def bot_arguments(argv: Sequence[str]) -> ShardPlan | None:
    """The shard plan from `studio bot`'s own options (`--shard-count`, `--shard-ids`);
    exits 2 with one line on a bad value, 0 after `--help`."""
    parser = argparse.ArgumentParser(prog="studio bot", description="run the Discord bot")
    add_shard_arguments(parser)
    args = parser.parse_args(list(argv))
    try:
        return parse_shards(args.shard_count, args.shard_ids)
    except ShardError as exc:
        parser.exit(2, f"studio bot: {exc}\n")


def run_bot(settings: Settings, argv: Sequence[str] = (), *,
            shards: ShardPlan | None = None) -> int:
    """Run the bot in this process (`python -m bot`, `studio bot [--shard-count S
    --shard-ids A-B]`); `argv` are the bot's own options (or `shards`, parsed)."""
    if shards is None:
        shards = bot_arguments(argv)
    setup_logging(settings)
    try:
        return asyncio.run(serve(settings, shards))
    except KeyboardInterrupt:
        return 130
