"""/crop: a smart crop at an exact aspect ratio."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot.render import command_description

if TYPE_CHECKING:
    from bot.client import StudioBot

RATIOS = ("1:1", "16:9", "9:16", "4:3")
FOCUS = ("auto", "face", "center", "product")


class Crop(commands.Cog):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot
        self.crop.description = command_description("crop", bot.settings)

    @app_commands.command(name="crop", description="Smart-crop an image to an aspect ratio")
    @app_commands.describe(
        image="The image to crop",
        ratio="Target aspect ratio",
        focus="What to keep in frame (default auto: faces, then the subject)",
    )
    @app_commands.choices(
        ratio=[Choice(name=r, value=r) for r in RATIOS],
        focus=[Choice(name=f, value=f) for f in FOCUS],
    )
    async def crop(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        ratio: str,
        focus: str = "auto",
    ) -> None:
        await self.bot.jobs.start(interaction, "crop", {"ratio": ratio, "focus": focus}, image)


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(Crop(bot))
