"""Job buttons that keep working after a restart.

Every button's custom id carries its action and the job id
(`luneo:cancel:<job_id>`, `luneo:upscale:<job_id>` ...). One DynamicItem,
registered in `setup_hook`, matches them all, so a click on a message posted
by a previous process still reaches `JobRunner`.

Every click passes the interaction gate (`bot.checks.interaction_allowed`)
before its callback. Any other view or modal must subclass `StudioView` or
`StudioModal`, which pass the same gate and report errors the one way.
"""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.checks import interaction_allowed
from bot.errors import report_error

ACTIONS: dict[str, tuple[str, discord.ButtonStyle, str]] = {
    "cancel": ("Cancel", discord.ButtonStyle.danger, "✖️"),
    "variation": ("Variation", discord.ButtonStyle.primary, "🔄"),
    "upscale": ("Upscale", discord.ButtonStyle.secondary, "🔍"),
    "remove-bg": ("Remove background", discord.ButtonStyle.secondary, "✂️"),
    "palette": ("Palette", discord.ButtonStyle.secondary, "🎨"),
}

# design: Variation, Upscale; any image: Remove background, Palette (not the tool itself)
FOLLOW_ONS: dict[str, tuple[str, ...]] = {
    "design": ("variation", "upscale", "remove-bg", "palette"),
    "upscale": ("remove-bg", "palette"),
    "remove-bg": ("palette",),
    "crop": ("remove-bg", "palette"),
    "palette": (),
}


def custom_id(action: str, job_id: str) -> str:
    return f"luneo:{action}:{job_id}"


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"luneo:(?P<action>cancel|variation|upscale|remove-bg|palette):(?P<job_id>[\w-]{1,64})",
):
    def __init__(self, action: str, job_id: str) -> None:
        label, style, emoji = ACTIONS[action]
        super().__init__(
            discord.ui.Button(
                label=label, style=style, emoji=emoji, custom_id=custom_id(action, job_id)
            )
        )
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> JobButton:
        return cls(match["action"], match["job_id"])

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await interaction_allowed(interaction)

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await interaction.client.jobs.on_button(interaction, self.action, self.job_id)  # type: ignore[attr-defined]
        except Exception as exc:
            await report_error(interaction, exc)


class StudioView(discord.ui.View):
    """A view whose items pass the interaction gate; errors go to `report_error`."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await interaction_allowed(interaction)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any], /
    ) -> None:
        await report_error(interaction, error)


class StudioModal(discord.ui.Modal):
    """A modal whose submission passes the interaction gate; errors go to `report_error`."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await interaction_allowed(interaction)

    async def on_error(  # type: ignore[override]  # discord.py types Modal.on_error as View's
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        await report_error(interaction, error)


def cancel_view(job_id: str) -> discord.ui.View:
    view = StudioView(timeout=None)
    view.add_item(JobButton("cancel", job_id))
    return view


def result_view(tool: str, job_id: str) -> discord.ui.View | None:
    actions = FOLLOW_ONS.get(tool, ())
    if not actions:
        return None
    view = StudioView(timeout=None)
    for action in actions:
        view.add_item(JobButton(action, job_id))
    return view
