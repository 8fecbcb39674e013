"""Who a message may ping: nobody, or the one member it is about.

The client's default (`StudioBot(allowed_mentions=NO_PINGS)`) goes into every
message body discord.py sends, so text a member typed (a grant reason, a
prompt, an option value echoed in an error) can never ping @everyone, @here
or a role. Messages addressed to a member (a result, a grant, a restart
notice) pass `ping(member_id)`, which lists that user and nothing else.
"""

from __future__ import annotations

import discord

NO_PINGS = discord.AllowedMentions.none()


def ping(member_id: int | str) -> discord.AllowedMentions:
    """Ping exactly this member; never @everyone/@here, roles or the replied-to user."""
    return discord.AllowedMentions(
        everyone=False,
        users=[discord.Object(int(member_id))],
        roles=False,
        replied_user=False,
    )
