"""The Discord client: cogs, command sync, persistent buttons, graceful shutdown.

The engine comes in through the constructor (`StudioBot(engine=...,
settings=...)`) and the bot owns it from then on: `setup_hook` starts it (which
recovers jobs a crash left behind) and `close()` stops taking jobs, lets
running ones finish for `shutdown_grace_s`, then closes it.

Intents: only `guilds` (channels and roles for the cache). Slash commands,
buttons and their member data arrive with each interaction, so no privileged
intent is needed.

Every interaction passes one gate (`bot.checks.interaction_allowed`); every
message pings nobody unless it names its member (`bot.mentions`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.checks import interaction_allowed
from bot.errors import report_error
from bot.jobs import JobRunner
from bot.mentions import NO_PINGS
from bot.shards import IdentifyGate, ShardPlan
from bot.views import JobButton
from core.config import Settings
from core.engine import Engine

log = logging.getLogger(__name__)

COGS = (
    "cogs.design",
    "cogs.remove_bg",
    "cogs.upscale",
    "cogs.palette",
    "cogs.crop",
    "cogs.credits",
    "cogs.config",
    "cogs.history",
    "cogs.stats",
    "cogs.help",
)
INTENTS = discord.Intents(guilds=True)


class StudioTree(app_commands.CommandTree):
    """Slash commands: the shared interaction gate, and the one error handler."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await interaction_allowed(interaction)

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        await report_error(interaction, error)


class StudioBot(commands.Bot):
    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        shutdown_grace_s: float = 30.0,
        **options: Any,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=INTENTS,
            tree_cls=StudioTree,
            allowed_mentions=NO_PINGS,
            allowed_contexts=app_commands.AppCommandContext(
                guild=True, dm_channel=False, private_channel=False
            ),
            allowed_installs=app_commands.AppInstallationType(guild=True, user=False),
            **options,
        )
        self.engine = engine
        self.settings = settings
        self.shutdown_grace_s = shutdown_grace_s
        self.jobs = JobRunner(self)
        self.closing = False
        self.unhandled_errors: list[BaseException] = []  # also logged; tests assert it stays empty
        self.http_session: aiohttp.ClientSession = discord.utils.MISSING
        self.syncs_commands = True  # a sharded process without shard 0 leaves it to that one
        self.connection_task: asyncio.Task[None] | None = None
        self._close_task: asyncio.Task[None] | None = None
        engine.add_listener(self.jobs.on_event)

    async def setup_hook(self) -> None:
        self.http_session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        for name in COGS:
            await self.load_extension(name)
        self.add_dynamic_items(JobButton)
        await self.engine.start()  # resumed/refunded events are buffered until on_ready
        await self.sync_commands()

    async def sync_commands(self) -> list[app_commands.AppCommand]:
        if not self.settings.discord.sync_commands:
            return []
        if not self.syncs_commands:
            log.info("commands are synced by the process that runs shard 0")
            return []
        guild_id = self.settings.discord.dev_guild_id
        if guild_id:
            guild = discord.Object(guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        else:
            synced = await self.tree.sync()
        log.info(
            "synced %d commands %s",
            len(synced),
            f"to server {guild_id}" if guild_id else "globally",
        )
        return synced

    async def on_ready(self) -> None:
        log.info("ready as %s in %d servers", self.user, len(self.guilds))
        self.jobs.on_ready()

    async def close(self) -> None:
        """Stop taking jobs, let running ones finish (bounded), then disconnect."""
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close_once())
        await asyncio.shield(self._close_task)

    async def _close_once(self) -> None:
        self.closing = True
        try:
            await self.engine.close(grace_s=self.shutdown_grace_s)
        except Exception:
            log.exception("engine close failed")
        await self.jobs.close()
        await super().close()
        if self.http_session:
            await self.http_session.close()
        log.info("bot closed")


class ShardedStudioBot(StudioBot, commands.AutoShardedBot):
    """The bot running shards `plan.ids` of `plan.count` (bot/shards.py): it syncs the
    commands only when it holds shard 0, and spaces its IDENTIFYs through `gate`."""

    def __init__(self, *, plan: ShardPlan, gate: IdentifyGate, **kwargs: Any) -> None:
        super().__init__(shard_count=plan.count, shard_ids=list(plan.ids), **kwargs)
        self.plan = plan
        self.identify_gate = gate
        self.syncs_commands = plan.syncs_commands
        follows = getattr(self.engine.dispatcher, "follow_filter", None)
        if follows is not None:  # queue mode: after a restart, report only this process's guilds
            self.engine.dispatcher.follow_filter = (  # type: ignore[attr-defined]
                lambda rec: follows(rec) and plan.holds(rec.guild_id))

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        del initial  # the first identify waits its turn too: other processes may be identifying
        await self.identify_gate.turn(shard_id)

    async def _close_once(self) -> None:
        await super()._close_once()
        await self.identify_gate.close()
