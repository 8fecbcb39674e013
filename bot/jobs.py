"""Running tools from Discord: acknowledge, submit, show progress, deliver.

Interaction flow (the choice RESEARCH.md §B asks for: *defer ephemerally,
post the job publicly another way*):

1. The first thing a tool command or a job button does is an **ephemeral**
   defer, so Discord's 3-second deadline is met whatever the load (nothing
   is awaited before it).
2. The engine checks everything (options, image decode, channel, rate limit,
   queue, credits). A refusal raises a UserError; the error handler answers
   in that ephemeral "thinking" message: only the member sees it, nothing
   was charged.
3. Accepted: the ephemeral message becomes a short receipt (credits held).
   That ends the "thinking" state, so the next followup is a message of its
   own and public: the job's status message (queue position, then progress,
   edited at most once per `progress_interval_s`, with a Cancel button).
4. The result is a new public followup that mentions the member (embed with
   the result line, the file(s), follow-on buttons); the status message is
   deleted. Failures and cancellations are written into the status message.
5. Interaction tokens last 15 minutes. Past `token_ttl_s` (or when Discord
   refuses the token) messages go through the bot token as channel messages.

Jobs the engine resumed or refunded after a restart are announced in their
channel once the bot is ready; resumed ones are delivered there too.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import discord

from bot import render
from bot.attachments import download_attachment
from bot.checks import is_moderator
from bot.delivery import INTERACTION_TTL_S, JobMessage
from bot.mentions import NO_PINGS
from core.engine import CancelOutcome, JobRequest
from core.errors import UserError
from core.jobs import JobEvent

if TYPE_CHECKING:
    from bot.client import StudioBot

log = logging.getLogger(__name__)


class JobRunner:
    """Bridges interactions and engine events to `JobMessage`s."""

    def __init__(self, bot: StudioBot) -> None:
        self.bot = bot
        self.engine = bot.engine
        self.token_ttl_s: float = INTERACTION_TTL_S
        self._jobs: dict[str, JobMessage] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._early: list[JobEvent] = []

    # -- engine events --------------------------------------------------------------

    def on_event(self, event: JobEvent) -> None:
        """Engine listener (synchronous; anything slow runs in our own tasks)."""
        job = self._jobs.get(event.job_id)
        if job is not None:
            job.on_event(event)
        elif event.kind in ("resumed", "refunded"):
            if self.bot.is_ready():
                self._spawn(self._announce(event))
            else:
                self._early.append(event)  # engine.start() runs before the gateway is up

    def on_ready(self) -> None:
        events, self._early = self._early, []
        for event in events:
            self._spawn(self._announce(event))

    async def _announce(self, event: JobEvent) -> None:
        rec = event.job
        if rec.source != "discord" or not rec.channel_id:
            return
        job = JobMessage(
            self,
            job_id=rec.id,
            tool=rec.tool,
            owner_id=rec.member_id,
            guild_id=rec.guild_id,
            channel_id=rec.channel_id,
            cost=rec.cost,
        )
        label = render.LABELS[rec.tool]
        try:
            if event.kind == "refunded":
                await job.announce(
                    f"<@{rec.member_id}> · **{label}**\n↩️ Your job was interrupted by a restart; "
                    f"{render.credits(rec.cost)} refunded.",
                    with_cancel=False,
                )
                return
            self._jobs[rec.id] = job
            await job.announce(
                f"<@{rec.member_id}> · **{label}**\n🔁 Your job was interrupted by a restart and has "
                "been resumed; the result will be posted here.",
                with_cancel=True,
            )
        except discord.HTTPException as exc:
            log.warning("could not announce a recovered job: %s", exc, extra={"job_id": rec.id})
        await job.follow()

    def forget(self, job_id: str) -> None:
        self._jobs.pop(job_id, None)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- starting jobs ----------------------------------------------------------------

    async def start(
        self,
        interaction: discord.Interaction,
        tool: str,
        params: dict[str, Any],
        attachment: discord.Attachment | None = None,
    ) -> None:
        """Run `tool` for a slash command (see the module docstring for the flow)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        image = None
        if attachment is not None:
            image = await download_attachment(
                self.bot.http_session, attachment, self.bot.settings.security
            )
        await self._submit(interaction, tool, params, image)

    async def _submit(
        self,
        interaction: discord.Interaction,
        tool: str,
        params: dict[str, Any],
        image: bytes | None,
        input_key: str | None = None,
    ) -> None:
        handle = await self.engine.submit(
            JobRequest(
                guild_id=str(interaction.guild_id),
                member_id=str(interaction.user.id),
                tool=tool,
                params=params,
                image=image,
                input_key=input_key,
                channel_id=str(interaction.channel_id),
                source="discord",
            )
        )
        job = JobMessage(
            self,
            job_id=handle.job_id,
            tool=tool,
            owner_id=str(interaction.user.id),
            guild_id=str(interaction.guild_id),
            channel_id=str(interaction.channel_id),
            cost=handle.cost,
            interaction=interaction,
        )
        self._jobs[handle.job_id] = job
        held = f"{render.credits(handle.cost)} held" if handle.cost else "free"
        receipt = f"✅ **{render.LABELS[tool]}** accepted — {held}, balance {handle.balance}."
        if handle.cached:
            await interaction.edit_original_response(
                content=f"{receipt} Served from the cache.", allowed_mentions=NO_PINGS
            )
        else:
            await job.post_status(handle.position, receipt)
        self._spawn(job.follow())

    # -- buttons ------------------------------------------------------------------------

    async def on_button(self, interaction: discord.Interaction, action: str, job_id: str) -> None:
        """A job button (the interaction gate in `JobButton` has already passed)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        if action == "cancel":
            await self._cancel(interaction, job_id)
            return
        tool, params, input_key = await self._follow_on_input(action, job_id)
        await self._submit(interaction, tool, params, None, input_key)

    async def _cancel(self, interaction: discord.Interaction, job_id: str) -> None:
        job = self._jobs.get(job_id)
        actor = str(interaction.user.id)
        if job is not None:
            job.canceled_by = actor
        try:
            outcome = await self.engine.cancel(
                job_id, actor_id=actor, is_moderator=await is_moderator(interaction)
            )
        except BaseException:
            if job is not None:
                job.canceled_by = None
            raise
        if outcome != CancelOutcome.CANCELED and job is not None:
            job.canceled_by = None
        text = {
            CancelOutcome.CANCELED: "🚫 Canceled; the held credits were refunded.",
            CancelOutcome.ALREADY_CANCELED: "That job was already canceled and refunded.",
            CancelOutcome.ALREADY_FINISHED: "Too late: that job had already finished.",
        }[outcome]
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)

    async def _follow_on_input(
        self, action: str, job_id: str
    ) -> tuple[str, dict[str, Any], str | None]:
        """A follow-on tool's input: the previous job's result, by its key in the result
        store (the engine reads it from there), or for a variation its prompt."""
        rec = await self.engine.get_job(job_id)
        if rec is None or rec.state != "succeeded":
            raise UserError("That result is no longer available; run the tool again.")
        if action == "variation":
            if rec.tool != "design":
                raise UserError("Variations are only for designs.")
            return "design", {**rec.params, "seed": secrets.randbelow(2**31 - 2) + 1}, None
        if not rec.result_files:
            raise UserError("That result has no image to work on.")
        return action, ({"scale": 2} if action == "upscale" else {}), rec.result_files[0]["key"]

    # -- shutdown -------------------------------------------------------------------------

    async def close(self, grace_s: float = 10.0) -> None:
        """Let deliveries in flight finish (bounded), then cancel the rest."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace_s)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
