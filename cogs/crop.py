"""/crop: a smart crop at an exact aspect ratio."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.render import command_description, option_choices
from core.tools.base import default

if TYPE_CHECKING:
    from bot.client import StudioBot


class Crop(commands.Cog):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot
        self.crop.description = command_description("crop", bot.settings)

    @app_commands.command(name="crop", description="Smart-crop an image to an aspect ratio")
    @app_commands.describe(
        image="The image to crop",
        ratio="Target aspect ratio",
        focus=f"What to keep in frame (default {default('crop', 'focus')}: faces, then the subject)",
    )
    @app_commands.choices(
        ratio=option_choices("crop", "ratio"), focus=option_choices("crop", "focus")
    )
    async def crop(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        ratio: str,
        focus: str | None = None,
    ) -> None:
        await self.bot.jobs.start(interaction, "crop", {"ratio": ratio, "focus": focus}, image)


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(Crop(bot))
