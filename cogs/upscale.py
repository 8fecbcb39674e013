"""/upscale: an image at exactly 2x or 4x its size."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot.render import choice_name, command_description, credits, option_choices
from core.tools.base import default, option_costs

if TYPE_CHECKING:
    from bot.client import StudioBot


class Upscale(commands.Cog):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot
        self.upscale.description = command_description("upscale", bot.settings)
        prices = option_costs("upscale", bot.settings.tool_cost("upscale"))
        # choice names state the cost; discord.py has no public setter for them
        self.upscale._params["scale"].choices = [
            Choice(name=f"{choice_name('scale', n)} ({credits(cost)})", value=n)
            for n, cost in prices.items()
        ]

    @app_commands.command(name="upscale", description="Upscale an image 2x or 4x")
    @app_commands.describe(
        image="The image to enlarge",
        scale=f"How much larger (default {choice_name('scale', default('upscale', 'scale'))})",
    )
    @app_commands.choices(scale=option_choices("upscale", "scale"))
    async def upscale(
        self, interaction: discord.Interaction, image: discord.Attachment, scale: int | None = None
    ) -> None:
        await self.bot.jobs.start(interaction, "upscale", {"scale": scale}, image)


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(Upscale(bot))
