"""/upscale: an image at exactly 2x or 4x its size."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot.render import command_description, credits
from core.tools.base import TOOLS, UpscaleParams

if TYPE_CHECKING:
    from bot.client import StudioBot


class Upscale(commands.Cog):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot
        self.upscale.description = command_description("upscale", bot.settings)
        base = bot.settings.tool_cost("upscale")
        # choice names state the cost; discord.py has no public setter for them
        self.upscale._params["scale"].choices = [
            Choice(name=f"{n}x ({credits(TOOLS['upscale'].cost_for(base, UpscaleParams(scale=n)))})",
                   value=n)
            for n in (2, 4)
        ]

    @app_commands.command(name="upscale", description="Upscale an image 2x or 4x")
    @app_commands.describe(image="The image to enlarge", scale="How much larger (default 2x)")
    @app_commands.choices(scale=[Choice(name="2x", value=2), Choice(name="4x", value=4)])
    async def upscale(
        self, interaction: discord.Interaction, image: discord.Attachment, scale: int = 2
    ) -> None:
        await self.bot.jobs.start(interaction, "upscale", {"scale": scale}, image)


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(Upscale(bot))
