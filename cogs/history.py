"""/history: the member's recent jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.render import COLOUR_OK, LABELS, credits

if TYPE_CHECKING:
    from bot.client import StudioBot

STATES = {"queued": "⏳", "running": "⚙️", "succeeded": "✅", "failed": "❌", "canceled": "🚫"}


class History(commands.Cog):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot

    @app_commands.command(name="history", description="Your recent Studio jobs (only you see them)")
    async def history(self, interaction: discord.Interaction) -> None:
        jobs = await self.bot.engine.history(
            str(interaction.guild_id), str(interaction.user.id), limit=10
        )
        lines = []
        for job in jobs:
            link = job.result_url
            where = (
                f" · [result]({link})"
                if link
                else (
                    f" · <#{job.channel_id}>" if job.channel_id and job.state == "succeeded" else ""
                )
            )
            provider = f" · `{job.provider}`" if job.provider else ""
            charged = (
                credits(job.cost)
                if job.state == "succeeded"
                else "refunded"
                if job.cost
                else "free"
            )
            lines.append(
                f"{STATES.get(job.state, '•')} **{LABELS.get(job.tool, job.tool)}**{provider} · {charged}"
                f" · <t:{int(job.created_at)}:R> · `{job.id[:8]}`{where}"
            )
        embed = discord.Embed(
            title="Your recent jobs",
            description="\n".join(lines) or "No jobs yet — try `/design`.",
            colour=COLOUR_OK,
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(History(bot))
