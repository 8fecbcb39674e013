"""/credits: balance, history, daily, grant, revoke, top (PRODUCT.md §2).

`grant` and `revoke` are moderator commands. Discord applies default
permissions to a whole top-level command, so they cannot be hidden without
hiding `/credits balance` too; they are refused at run time instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.checks import is_moderator, moderator_only
from bot.errors import Refused
from bot.mentions import NO_PINGS, ping
from bot.render import COLOUR_OK, credits
from core.errors import InvalidInput

if TYPE_CHECKING:
    from bot.client import StudioBot

KINDS = {
    "start": "starting credits",
    "daily": "daily claim",
    "grant": "grant",
    "revoke": "revoke",
    "hold": "tool run",
    "refund": "refund",
    "topup": "top-up",
}


def _guild(interaction: discord.Interaction) -> str:
    return str(interaction.guild_id)


class Credits(commands.GroupCog, group_name="credits", group_description="Your Studio credits"):
    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot
        self.credits = bot.engine.credits

    @app_commands.command(name="balance", description="Your balance (moderators: anyone's)")
    @app_commands.describe(member="Whose balance (moderators only; default you)")
    async def balance(
        self, interaction: discord.Interaction, member: discord.Member | None = None
    ) -> None:
        target = member or interaction.user
        if target.id != interaction.user.id and not await is_moderator(interaction):
            raise Refused("Only moderators can see other members' balances.")
        wallet = await self.credits.wallet(_guild(interaction), str(target.id))
        whose = "Your" if target.id == interaction.user.id else f"{target.mention}'s"
        daily = "available — use `/credits daily`" if wallet.daily_available else "claimed today"
        await interaction.response.send_message(
            f"💳 {whose} balance: **{credits(wallet.balance)}**. Daily credits: {daily}.",
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )

    @app_commands.command(
        name="history", description="Your recent credit movements (only you see them)"
    )
    async def history(self, interaction: discord.Interaction) -> None:
        rows = await self.credits.history(_guild(interaction), str(interaction.user.id), limit=15)
        lines = []
        for r in rows:
            what = KINDS.get(r.kind, r.kind)
            extra = f" · job `{r.job_id[:8]}`" if r.job_id else ""
            extra += f" · by <@{r.actor_id}>" if r.actor_id and r.actor_id.isdigit() else ""
            extra += f" · {r.reason}" if r.reason else ""
            lines.append(
                f"`{r.delta:+d}` {what}{extra} · <t:{int(r.at)}:R> → **{r.balance_after}**"
            )
        embed = discord.Embed(
            title="Your credit history",
            description="\n".join(lines) or "No movements yet.",
            colour=COLOUR_OK,
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(name="daily", description="Claim your daily credits (once per UTC day)")
    async def daily(self, interaction: discord.Interaction) -> None:
        amount, balance = await self.credits.claim_daily(
            _guild(interaction), str(interaction.user.id)
        )
        await interaction.response.send_message(
            f"🎁 You claimed **{credits(amount)}**; your balance is now **{balance}**.",
            ephemeral=True,
        )

    @app_commands.command(name="grant", description="Give a member credits (moderators)")
    @app_commands.describe(
        member="Who receives them", amount="How many credits", reason="Why (kept in the ledger)"
    )
    @moderator_only()
    async def grant(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        amount: app_commands.Range[int, 1, 1_000_000],
        reason: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        if member.bot:
            raise InvalidInput("Invalid `member`: bots have no wallet.", field="member")
        balance = await self.credits.grant(
            _guild(interaction), str(member.id), amount, str(interaction.user.id), reason
        )
        why = f" — {reason}" if reason else ""
        await interaction.response.send_message(
            f"➕ {interaction.user.mention} granted **{credits(amount)}** to {member.mention}{why}. "
            f"Their balance is now **{balance}**.",
            allowed_mentions=ping(member.id),  # the reason is free text: no @everyone/roles
        )

    @app_commands.command(name="revoke", description="Remove credits from a member (moderators)")
    @app_commands.describe(
        member="Whose credits", amount="How many credits", reason="Why (kept in the ledger)"
    )
    @moderator_only()
    async def revoke(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        amount: app_commands.Range[int, 1, 1_000_000],
        reason: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        removed, balance = await self.credits.revoke(
            _guild(interaction), str(member.id), amount, str(interaction.user.id), reason
        )
        note = f" (they only had {removed})" if removed < amount else ""
        why = f" — {reason}" if reason else ""
        await interaction.response.send_message(
            f"➖ {interaction.user.mention} removed **{credits(removed)}** from {member.mention}{note}{why}. "
            f"Their balance is now **{balance}**.",
            allowed_mentions=NO_PINGS,
        )

    @app_commands.command(name="top", description="The server's credit leaderboard")
    async def top(self, interaction: discord.Interaction) -> None:
        rows = await self.credits.top(_guild(interaction), limit=10)
        medals = ["🥇", "🥈", "🥉"]
        lines = [
            f"{medals[i] if i < 3 else f'`{i + 1}.`'} <@{member}> — **{balance}**"
            for i, (member, balance) in enumerate(rows)
        ]
        embed = discord.Embed(
            title="Credit leaderboard",
            description="\n".join(lines) or "Nobody has credits yet.",
            colour=COLOUR_OK,
        )
        await interaction.response.send_message(embed=embed, allowed_mentions=NO_PINGS)


async def setup(bot: StudioBot) -> None:
    await bot.add_cog(Credits(bot))
