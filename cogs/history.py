"""/history: the member's recent jobs as a numbered thumbnail grid (bot/pictures.py,
drawn in a thread) with one line and link per job under it."""

from __future__ import annotations

import asyncio
import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.pictures import Tile, history_grid_png
from bot.render import COLOUR_OK, LABELS, credits
from core.errors import StudioError

if TYPE_CHECKING:
    from bot.client import StudioBot
    from core.jobs import JobRecord

GRID_NAME = "history.png"

STATES = {"queued": "⏳", "running": "⚙️", "succeeded": "✅", "failed": "❌", "canceled": "🚫"}


class History(commands.Cog):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot

    @app_commands.command(name="history", description="Your recent Studio jobs (only you see them)")
    async def history(self, interaction: discord.Interaction) -> None:
        jobs = await self.bot.engine.history(
            str(interaction.guild_id), str(interaction.user.id), limit=10
        )
        if not jobs:
            embed = discord.Embed(
                title="Your recent jobs", description="No jobs yet — try `/design`.",
                colour=COLOUR_OK,
            )
            await interaction.response.send_message(embed=embed, ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        lines = [f"**{n}.** {_line(job)}" for n, job in enumerate(jobs, 1)]
        tiles = [
            Tile(n, LABELS.get(job.tool, job.tool), await self._picture(job),
                 mark="" if job.state == "succeeded" else job.state)
            for n, job in enumerate(jobs, 1)
        ]
        grid = await asyncio.to_thread(history_grid_png, tiles)
        embed = discord.Embed(
            title="Your recent jobs", description="\n".join(lines)[:4096], colour=COLOUR_OK
        )
        embed.set_image(url=f"attachment://{GRID_NAME}")
        await interaction.followup.send(
            embed=embed, file=discord.File(io.BytesIO(grid), filename=GRID_NAME), ephemeral=True
        )

    async def _picture(self, job: JobRecord) -> bytes | None:
        """The job's first image result from the result store, if it succeeded and is
        still there."""
        if job.state != "succeeded":
            return None
        for f in job.result_files:
            if str(f.get("mime", "")).startswith("image/"):
                try:
                    return await self.bot.engine.store.get_async(f["key"])
                except (OSError, StudioError):
                    return None
        return None


def _line(job: JobRecord) -> str:
    link = job.result_url
    where = (
        f" · [result]({link})"
        if link
        else (f" · <#{job.channel_id}>" if job.channel_id and job.state == "succeeded" else "")
    )
    provider = f" · `{job.provider}`" if job.provider else ""
    charged = (
        credits(job.cost) if job.state == "succeeded" else "refunded" if job.cost else "free"
    )
    return (
        f"{STATES.get(job.state, '•')} **{LABELS.get(job.tool, job.tool)}**{provider} · {charged}"
        f" · <t:{int(job.created_at)}:R> · `{job.id[:8]}`{where}"
    )


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(History(bot))
