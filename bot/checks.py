"""Who may do what: the gate every interaction passes, moderators and admins (PRODUCT.md §2).

`interaction_allowed` is the one check for every interaction kind: the
command tree's `interaction_check` (slash commands), job buttons
(`JobButton.interaction_check`), and `StudioView` / `StudioModal` for any
other component or modal. It refuses anything from outside a server (a DM,
a user install) and everything while Luneo is shutting down, before any
job, wallet or ledger row can exist.

Moderator: the server's configured moderator role, or Manage Server.
Admin: Manage Server. Admin-only commands are also hidden by default
permissions; the run-time check here is what actually protects them (server
admins can change command visibility in their Integrations settings).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import discord
from discord import app_commands

from bot.errors import Refused, report_error

T = TypeVar("T")


SERVERS_ONLY = "Luneo works in servers only."
RESTARTING = "Luneo is restarting; try again in a minute."


def refusal(interaction: discord.Interaction) -> Refused | None:
    """Why this interaction may not run at all, or None when it may."""
    # a server interaction carries `member`; without it there is no server to bill
    if interaction.guild_id is None or not isinstance(interaction.user, discord.Member):
        return Refused(SERVERS_ONLY)
    if getattr(interaction.client, "closing", False):
        return Refused(RESTARTING)
    return None


async def interaction_allowed(interaction: discord.Interaction) -> bool:
    """The gate: True to go on; otherwise answer the refusal (ephemeral) and return False."""
    refused = refusal(interaction)
    if refused is None:
        return True
    if interaction.type is not discord.InteractionType.autocomplete:
        await report_error(interaction, refused)
    return False


def is_admin(interaction: discord.Interaction) -> bool:
    return interaction.permissions.manage_guild


async def is_moderator(interaction: discord.Interaction) -> bool:
    if is_admin(interaction):
        return True
    if interaction.guild_id is None or not isinstance(interaction.user, discord.Member):
        return False
    engine = interaction.client.engine  # type: ignore[attr-defined]
    role_id = engine.guild_config.effective_now(str(interaction.guild_id)).moderator_role
    return role_id is not None and any(str(r.id) == str(role_id) for r in interaction.user.roles)


def moderator_only() -> Callable[[T], T]:
    async def predicate(interaction: discord.Interaction) -> bool:
        if not await is_moderator(interaction):
            raise Refused("Only moderators (the moderator role or Manage Server) can do that.")
        return True

    return app_commands.check(predicate)


def require_admin(interaction: discord.Interaction) -> None:
    """Refuse anyone without Manage Server (raises Refused)."""
    if not is_admin(interaction):
        raise Refused("Only server admins (Manage Server permission) can do that.")


def admin_only() -> Callable[[T], T]:
    def predicate(interaction: discord.Interaction) -> bool:
        require_admin(interaction)
        return True

    return app_commands.check(predicate)


def admin_command(obj: Any) -> Any:
    """Hide from members by default AND refuse at run time."""
    return app_commands.default_permissions(manage_guild=True)(admin_only()(obj))
