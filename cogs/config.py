"""/config show and /config set (server admins, PRODUCT.md §3).

The settings, their parsing and their plain text come from core/guild_config.py;
this cog only turns role and channel mentions into ids on the way in, and ids
into mentions on the way out.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot.checks import require_admin
from bot.render import COLOUR_OK, LABELS, cost_label
from core.errors import UserError
from core.guild_config import SETTINGS, ChannelIds, GuildSetting, RoleId, setting

if TYPE_CHECKING:
    from bot.client import StudioBot

_MENTION = re.compile(r"<(?:#|@&)(\d+)>")


def ids_of(value: str) -> str:
    """`<#1> <@&2>` -> `1 2`: the ids core parses (other text is left as typed)."""
    return _MENTION.sub(r"\1", value)


def render(s: GuildSetting, value: Any) -> str:
    """A setting's value as Discord text: roles and channels as mentions."""
    if isinstance(s, RoleId) and value:
        return f"<@&{value}>"
    if isinstance(s, ChannelIds) and value:
        return " ".join(f"<#{c}>" for c in value)
    return s.show(value)


def _logged(key: str, new_value: str) -> str:
    """A `config_log` value as Discord text (raw, for a setting that no longer exists)."""
    try:
        s = setting(key)
    except UserError:
        return new_value
    return render(s, s.load(json.loads(new_value)))


@app_commands.default_permissions(manage_guild=True)
class Config(commands.GroupCog, group_name="config", group_description="Server settings (admins)"):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        require_admin(interaction)
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
                embed.add_field(name=key, value=render(SETTINGS[key], value))
        changes = await self.bot.engine.guild_config.log(guild, 5)
        if changes:
            embed.add_field(
                name="Recent changes",
                value="\n".join(
                    f"`{c['key']}` → {_logged(c['key'], c['new_value'])} by <@{c['actor_id']}> "
                    f"<t:{int(c['at'])}:R>"
                    for c in changes
                ),
                inline=False,
            )
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(name="set", description="Change a setting (applies at once, logged)")
    @app_commands.describe(
        key="The setting", value="on/off, a number, a @role or none, #channels or all"
    )
    @app_commands.choices(
        key=[Choice(name=f"{k}: {s.what}"[:100], value=k) for k, s in SETTINGS.items()]
    )
    async def set_value(
        self, interaction: discord.Interaction, key: str, value: app_commands.Range[str, 1, 500]
    ) -> None:
        stored = await self.bot.engine.guild_config.set(
            str(interaction.guild_id), key, ids_of(value), str(interaction.user.id)
        )
        s = setting(key)
        await interaction.response.send_message(
            f"⚙️ `{s.name}` is now {render(s, stored)}.", ephemeral=True
        )


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(Config(bot))
