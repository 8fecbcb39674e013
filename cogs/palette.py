"""/palette: the main colours of an image."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.render import command_description
from core.tools.base import bounds, default

if TYPE_CHECKING:
    from bot.client import StudioBot

COLORS_MIN, COLORS_MAX = bounds("palette", "colors")


class Palette(commands.Cog):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot
        self.palette.description = command_description("palette", bot.settings)

    @app_commands.command(name="palette", description="Extract a colour palette")
    @app_commands.describe(
        image="The image to analyse",
        colors=f"How many colours ({COLORS_MIN}–{COLORS_MAX}, default {default('palette', 'colors')})",
        include_neutral="Keep greys, black and white in the palette (default no)",
    )
    async def palette(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        colors: app_commands.Range[int, COLORS_MIN, COLORS_MAX] | None = None,
        include_neutral: bool | None = None,
    ) -> None:
        params = {"colors": colors, "include_neutral": include_neutral}
        await self.bot.jobs.start(interaction, "palette", params, image)


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(Palette(bot))
