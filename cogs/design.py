"""/design: a design from a prompt."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.render import command_description, option_choices
from core.tools.base import bounds, default

if TYPE_CHECKING:
    from bot.client import StudioBot

PROMPT_MAX = bounds("design", "prompt")[1]
AVOID_MAX = bounds("design", "avoid")[1]


class Design(commands.Cog):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot
        self.design.description = command_description("design", bot.settings)

    @app_commands.command(name="design", description="Generate a design from a prompt")
    @app_commands.describe(
        prompt=f"What to design (1–{PROMPT_MAX} characters)",
        style=f"Visual style (default {default('design', 'style')})",
        aspect=f"Aspect ratio (default {default('design', 'aspect')})",
        colors="Colours to use: hex codes or CSS names, comma-separated (e.g. #112233, navy)",
        avoid="What to keep out of the design",
    )
    @app_commands.choices(
        style=option_choices("design", "style"), aspect=option_choices("design", "aspect")
    )
    async def design(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, PROMPT_MAX],
        style: str | None = None,
        aspect: str | None = None,
        colors: str | None = None,
        avoid: app_commands.Range[str, 1, AVOID_MAX] | None = None,
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
