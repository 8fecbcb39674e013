"""/design: a design from a prompt."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot.render import command_description

if TYPE_CHECKING:
    from bot.client import StudioBot

STYLES = ("modern", "vintage", "minimal", "bold", "playful")
ASPECTS = ("1:1", "16:9", "9:16", "4:3")


class Design(commands.Cog):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot
        self.design.description = command_description("design", bot.settings)

    @app_commands.command(name="design", description="Generate a design from a prompt")
    @app_commands.describe(
        prompt="What to design (1–1000 characters)",
        style="Visual style (default modern)",
        aspect="Aspect ratio (default 1:1)",
        colors="Colours to use: hex codes or CSS names, comma-separated (e.g. #112233, navy)",
        avoid="What to keep out of the design",
    )
    @app_commands.choices(
        style=[Choice(name=s, value=s) for s in STYLES],
        aspect=[Choice(name=a, value=a) for a in ASPECTS],
    )
    async def design(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 1000],
        style: str = "modern",
        aspect: str = "1:1",
        colors: str | None = None,
        avoid: app_commands.Range[str, 1, 500] | None = None,
    ) -> None:
        params = {
            "prompt": prompt,
            "style": style,
            "aspect": aspect,
            "colors": colors,
            "avoid": avoid,
        }
        await self.bot.jobs.start(interaction, "design", params)


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(Design(bot))
