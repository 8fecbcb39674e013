"""/stats: runs, failures, latency and spend per tool and provider (admins), with a chart
of the last 14 days (bot/pictures.py, drawn in a thread)."""

from __future__ import annotations

import asyncio
import io
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.checks import admin_command
from bot.pictures import stats_chart_png
from bot.render import COLOUR_OK

if TYPE_CHECKING:
    from bot.client import StudioBot


CHART_NAME = "stats.png"


def _tool_lines(rows: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"**{r['tool']}** · `{r['provider']}` — {r['runs']} runs, {r['successes'] or 0} ok, "
        f"{r['failures'] or 0} failed, {r['canceled'] or 0} canceled · avg {r['avg_latency_ms'] or 0} ms"
        f" · {r['credits'] or 0} credits"
        for r in rows
    )


def _provider_lines(rows: list[dict[str, Any]], circuits: dict[str, dict[str, Any]]) -> str:
    out = []
    for r in rows:
        circuit = circuits.get(r["provider"], {}).get("circuit", "closed")
        out.append(
            f"`{r['provider']}` — {r['attempts']} attempts, {r['ok'] or 0} ok, "
            f"{r['transient'] or 0} transient, {r['permanent'] or 0} permanent, "
            f"{r['timeouts'] or 0} timeouts · avg {r['avg_latency_ms'] or 0} ms · "
            f"${r['cost_usd'] or 0} · circuit {circuit}"
        )
    return "\n".join(out)


class Stats(commands.Cog):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot

    @app_commands.command(name="stats", description="Tool and provider statistics (admins)")
    @admin_command
    async def stats(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        stats = await self.bot.engine.stats()
        chart = await asyncio.to_thread(stats_chart_png, await self.bot.engine.daily_figures())
        embed = discord.Embed(title="Studio statistics", colour=COLOUR_OK)
        embed.set_image(url=f"attachment://{CHART_NAME}")
        embed.add_field(
            name="Tools",
            value=_tool_lines(stats.get("tools", []))[:1024] or "No runs yet.",
            inline=False,
        )
        providers = _provider_lines(stats.get("providers", []), stats.get("circuits", {}))
        embed.add_field(
            name="Providers", value=providers[:1024] or "No provider calls yet.", inline=False
        )
        failures = "\n".join(
            f"{f['tool']}: {f['error_type']} × {f['n']}" for f in stats.get("failures", [])
        )
        if failures:
            embed.add_field(name="Failures", value=failures[:1024], inline=False)
        ledger = stats.get("ledger") or {}
        if ledger:
            embed.add_field(
                name="Credits (all servers)",
                value=f"given out {ledger.get('issued', 0)} · spent {ledger.get('spent', 0)} · "
                f"refunded {ledger.get('refunded', 0)} · "
                f"held now by running jobs {ledger.get('held_now', 0)}",
                inline=False,
            )
        await interaction.followup.send(
            embed=embed, file=discord.File(io.BytesIO(chart), filename=CHART_NAME), ephemeral=True
        )


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(Stats(bot))
