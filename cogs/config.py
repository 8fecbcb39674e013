"""/config show and /config set (server admins, PRODUCT.md §3)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot.checks import is_admin
from bot.errors import Refused
from bot.render import COLOUR_OK, LABELS, cost_label
from core.guild_config import config_keys

if TYPE_CHECKING:
    from bot.client import StudioBot

def _show(key: str, value: Any) -> str:
    if key == "moderator_role":
        return f"<@&{value}>" if value else "none (Manage Server only)"
    if key == "allowed_channels":
        return " ".join(f"<#{c}>" for c in value) if value else "all channels"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


@app_commands.default_permissions(manage_guild=True)
class Config(commands.GroupCog, group_name="config", group_description="Server settings (admins)"):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if not is_admin(interaction):
            raise Refused("Only server admins (Manage Server permission) can do that.")
        return True

    @app_commands.command(name="show", description="Show this server's Studio settings")
    async def show(self, interaction: discord.Interaction) -> None:
        guild = str(interaction.guild_id)
        values = await self.bot.engine.guild_config.show(guild)
        tools = "\n".join(
            f"{'✅' if values[f'tool.{t}.enabled'] else '⛔'} **{label}** — "
            f"{cost_label(t, values[f'tool.{t}.cost'])}"
            for t, label in LABELS.items()
        )
        embed = discord.Embed(title="Studio settings", colour=COLOUR_OK)
        embed.add_field(name="Tools", value=tools, inline=False)
        for key, value in values.items():
            if not key.startswith("tool."):
                embed.add_field(name=key, value=_show(key, value))
        changes = await self.bot.engine.guild_config.log(guild, 5)
        if changes:
            embed.add_field(
                name="Recent changes",
                value="\n".join(
                    f"`{c['key']}` → {c['new_value']} by <@{c['actor_id']}> <t:{int(c['at'])}:R>"
                    for c in changes
                ),
                inline=False,
            )
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(name="set", description="Change a setting (applies at once, logged)")
    @app_commands.describe(
        key="The setting", value="on/off, a number, a @role or none, #channels or all"
    )
    @app_commands.choices(key=[Choice(name=k, value=k) for k in config_keys()])
    async def set_value(
        self, interaction: discord.Interaction, key: str, value: app_commands.Range[str, 1, 500]
    ) -> None:
        message = await self.bot.engine.guild_config.set(
            str(interaction.guild_id), key, value, str(interaction.user.id)
        )
        shown = await self.bot.engine.guild_config.show(str(interaction.guild_id))
        if key in shown:
            message = f"`{key}` is now {_show(key, shown[key])}."
        await interaction.response.send_message(f"⚙️ {message}", ephemeral=True)


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(Config(bot))
