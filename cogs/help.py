"""/help: what the bot does and what it costs on this server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.render import COLOUR_OK, cost_label

if TYPE_CHECKING:
    from bot.client import StudioBot

TOOLS_HELP = (
    ("design", "/design prompt [style] [aspect] [colors] [avoid]", "a design from your prompt"),
    ("remove-bg", "/remove-bg image [mode]", "a transparent cut-out"),
    ("upscale", "/upscale image [scale]", "the image at 2x or 4x"),
    ("palette", "/palette image [colors] [include_neutral]", "its main colours"),
    ("crop", "/crop image ratio [focus]", "a smart crop at an exact ratio"),
)


class Help(commands.Cog):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="help", description="How Luneo AI Studio works and what it costs here"
    )
    async def help(self, interaction: discord.Interaction) -> None:
        g = self.bot.engine.guild_config.effective_now(str(interaction.guild_id))
        tools = "\n".join(
            f"`{usage}` — {what} · **{cost_label(tool, g.tools[tool].cost)}**"
            + ("" if g.tools[tool].enabled else " · *disabled here*")
            for tool, usage, what in TOOLS_HELP
        )
        embed = discord.Embed(
            title="Luneo AI Studio",
            description=(
                "Run a tool with a slash command; the cost is held from your wallet first and "
                "refunded if the job fails or you cancel it. Results come with buttons for the "
                "next step (variation, upscale, background removal, palette)."
            ),
            colour=COLOUR_OK,
        )
        embed.add_field(name="Tools", value=tools, inline=False)
        embed.add_field(
            name="Credits",
            value=(
                f"New members start with {g.starting_credits}. `/credits daily` adds {g.daily_credits} once per UTC day.\n"
                "`/credits balance` · `/credits history` · `/credits top` · `/history`"
            ),
            inline=False,
        )
        embed.add_field(
            name="Moderators",
            value="`/credits grant member amount [reason]` · `/credits revoke member amount [reason]` · "
            "`/credits balance member`",
            inline=False,
        )
        embed.add_field(
            name="Admins (Manage Server)",
            value="`/config show` · `/config set key value` · `/stats`",
            inline=False,
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(Help(bot))
