"""/remove-bg: a transparent cut-out of an image."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot.render import command_description

if TYPE_CHECKING:
    from bot.client import StudioBot

MODES = ("auto", "person", "product", "animal")


class RemoveBackground(commands.Cog):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot
        self.remove_bg.description = command_description("remove-bg", bot.settings)

    @app_commands.command(name="remove-bg", description="Remove the background of an image")
    @app_commands.describe(
        image="The image to cut out (PNG, JPEG, WebP, GIF, BMP or TIFF)",
        mode="What the subject is (default auto)",
    )
    @app_commands.choices(mode=[Choice(name=m, value=m) for m in MODES])
    async def remove_bg(
        self, interaction: discord.Interaction, image: discord.Attachment, mode: str = "auto"
    ) -> None:
        await self.bot.jobs.start(interaction, "remove-bg", {"mode": mode}, image)


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(RemoveBackground(bot))
