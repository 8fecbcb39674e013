"""The one place that turns exceptions into what a member reads.

    exception                         member sees (always ephemeral)
    ──────────────────────────────    ─────────────────────────────────────────
    Refused (permission check)        its message ("Only moderators ...")
    UserError and subclasses          str(error): written for members by core/
    AllProvidersFailed                "every provider failed; you were not charged"
    anything else                     a generic apology with a short reference id;
                                      the traceback goes to the log with that id

`StudioTree.on_error` (bot/client.py) handles slash commands; button
callbacks and the interaction gate (bot/checks.py) call `report_error`
themselves (discord.py routes their errors elsewhere). No exception text
from libraries ever reaches a member, and error messages ping nobody.
"""

from __future__ import annotations

import logging
import secrets

import discord
from discord import app_commands

from bot.mentions import NO_PINGS
from core.errors import AllProvidersFailed, NotAllowed, UserError

log = logging.getLogger(__name__)

ALL_FAILED = "every provider failed; you were not charged"


class Refused(app_commands.CheckFailure):
    """A permission or availability refusal; the message is shown to the member."""


def user_message(error: BaseException) -> tuple[str, str | None]:
    """(text for the member, reference id if the error was unexpected)."""
    if isinstance(error, app_commands.CommandInvokeError | app_commands.TransformerError):
        if isinstance(error, app_commands.TransformerError):
            return f"❌ `{error.value}` is not a valid value for that option.", None
        error = error.original
    if isinstance(error, Refused):
        return f"⛔ {error}", None
    if isinstance(error, app_commands.NoPrivateMessage):
        return "⛔ Luneo works in servers only.", None
    if isinstance(error, app_commands.CheckFailure):
        return "⛔ You can't use this command here.", None
    if isinstance(error, NotAllowed) and error.channel_ids:
        where = ", ".join(f"<#{c}>" for c in error.channel_ids)
        return f"❌ Studio tools can only be used in {where} on this server.", None
    if isinstance(error, UserError):
        return f"❌ {error}", None
    if isinstance(error, AllProvidersFailed):
        return f"⚠️ {ALL_FAILED}.", None
    ref = secrets.token_hex(3)
    return (
        f"💥 Something went wrong on our side (reference `{ref}`). "
        "Please try again; if it keeps happening, give that reference to a server admin.",
        ref,
    )


async def report_error(interaction: discord.Interaction, error: BaseException) -> None:
    """Answer `interaction` ephemerally with the member-facing text for `error`."""
    text, ref = user_message(error)
    original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    if ref is not None:
        log.error(
            "unhandled error ref=%s in %s",
            ref,
            interaction.command.qualified_name if interaction.command else interaction.data,
            exc_info=(type(original), original, original.__traceback__),
        )
        errors = getattr(interaction.client, "unhandled_errors", None)
        if errors is not None:
            errors.append(original)
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
        else:
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)
    except discord.HTTPException as exc:
        log.warning("could not deliver an error message: %s", exc.status)
