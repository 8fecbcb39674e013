"""/remove-bg: a transparent cut-out of an image."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.render import command_description, option_choices
from core.tools.base import default

if TYPE_CHECKING:
    from bot.client import StudioBot


class RemoveBackground(commands.Cog):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot
        self.remove_bg.description = command_description("remove-bg", bot.settings)

    @app_commands.command(name="remove-bg", description="Remove the background of an image")
    @app_commands.describe(
        image="The image to cut out (PNG, JPEG, WebP, GIF, BMP or TIFF)",
        mode=f"What the subject is (default {default('remove-bg', 'mode')})",
    )
    @app_commands.choices(mode=option_choices("remove-bg", "mode"))
    async def remove_bg(
        self, interaction: discord.Interaction, image: discord.Attachment, mode: str | None = None
    ) -> None:
        await self.bot.jobs.start(interaction, "remove-bg", {"mode": mode}, image)


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(RemoveBackground(bot))
