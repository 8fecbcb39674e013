"""One job's messages in Discord: the status message and the delivery.

The status message shows the queue position, then progress, edited at most
once per `[discord] progress_interval_s` (the latest state wins); failures and
cancellations are written into it at once. Results are a new message that
mentions the member, re-encoded to fit the upload limit when needed. While
the interaction token lives (15 minutes, `token_ttl_s` with a margin) this
goes through the interaction webhook; after that, or when Discord refuses
the token, through the bot token as channel messages.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import discord

from bot import render
from bot.errors import user_message
from bot.mentions import NO_PINGS, ping
from bot.views import cancel_view, result_view
from core.errors import StudioError
from core.imaging import encode_to_fit
from core.jobs import JobEvent, JobResult
from core.swatches import ase_bytes, gpl_text

if TYPE_CHECKING:
    from bot.jobs import JobRunner

log = logging.getLogger(__name__)

INTERACTION_TTL_S = 14 * 60  # Discord's tokens last 15 minutes; keep a minute of margin
DEFAULT_FILE_LIMIT = 10 * 1024 * 1024
_EXT = {"image/webp": ".webp", "image/jpeg": ".jpg", "image/png": ".png"}


def _token_refused(exc: discord.HTTPException) -> bool:
    """Discord refused the interaction token (expired: 401 / 50027, or Unknown Webhook)."""
    return exc.status == 401 or exc.code in (10015, 50027)


class JobMessage:
    """One job's messages in Discord: status (throttled edits) and delivery."""

    def __init__(
        self,
        runner: JobRunner,
        *,
        job_id: str,
        tool: str,
        owner_id: str,
        guild_id: str,
        channel_id: str,
        cost: int,
        interaction: discord.Interaction | None = None,
    ) -> None:
        self.runner = runner
        self.job_id = job_id
        self.tool = tool
        self.owner_id = owner_id
        self.guild_id = guild_id
        self.channel_id = channel_id
        self.cost = cost
        self.interaction = interaction
        self.canceled_by: str | None = None
        self.keep_status = False  # restart announcements stay (without buttons) after delivery
        self.status_id: int | None = None
        self._status_via_webhook = False
        self._token_dead = False
        self._line = ""
        self._pending: tuple[str, discord.ui.View | None] | None = None
        self._last_edit = 0.0
        self._pump: asyncio.Task[None] | None = None
        self._editing = False
        self._finished = False

    # -- where messages go ---------------------------------------------------------

    @property
    def token_alive(self) -> bool:
        if self.interaction is None or self._token_dead:
            return False
        age = (discord.utils.utcnow() - self.interaction.created_at).total_seconds()
        return age < self.runner.token_ttl_s

    @property
    def channel(self) -> discord.PartialMessageable:
        return self.runner.bot.get_partial_messageable(
            int(self.channel_id), guild_id=int(self.guild_id)
        )

    def _file_limit(self) -> int:
        if self.interaction is not None:
            return self.interaction.filesize_limit
        guild = self.runner.bot.get_guild(int(self.guild_id))
        return guild.filesize_limit if guild else DEFAULT_FILE_LIMIT

    # -- the status message ---------------------------------------------------------

    async def post_status(self, position: int, receipt: str) -> None:
        """Turn the ephemeral defer into a receipt, then post the public status message."""
        if self.interaction is None:
            raise RuntimeError("no interaction to reply to")
        self._line = render.initial_line(position)
        try:
            await self.interaction.edit_original_response(
                content=receipt, allowed_mentions=NO_PINGS
            )
            msg = await self.interaction.followup.send(
                self._status_text(),
                view=cancel_view(self.job_id),
                wait=True,
                allowed_mentions=NO_PINGS,
            )
        except discord.HTTPException as exc:
            log.warning("could not post the status message: %s", exc, extra={"job_id": self.job_id})
            return
        self.status_id, self._status_via_webhook = msg.id, True
        self._last_edit = time.monotonic()
        if self._pending is not None:
            self._kick()

    async def announce(self, text: str, *, with_cancel: bool) -> None:
        """Post a channel message (bot token) that becomes the status message."""
        view = cancel_view(self.job_id) if with_cancel else discord.utils.MISSING
        mentions = ping(self.owner_id)
        msg = await self.channel.send(text, view=view, allowed_mentions=mentions)
        self.status_id, self._status_via_webhook, self.keep_status = msg.id, False, True
        self._line = text.split("\n", 1)[-1]
        self._last_edit = time.monotonic()

    def _status_text(self) -> str:
        return render.status_text(self.owner_id, self.tool, self._line)

    def on_event(self, event: JobEvent) -> None:
        line = render.status_line(event)
        if line is None or self._finished:
            return
        self._line = line
        self._pending = (self._status_text(), cancel_view(self.job_id))
        if self.status_id is not None:
            self._kick()

    def _kick(self) -> None:
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._run_pump())

    async def _run_pump(self) -> None:
        """Apply pending progress edits, at most one per interval (the latest wins)."""
        interval = self.runner.bot.settings.discord.progress_interval_s
        while self._pending is not None:
            delay = self._last_edit + interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self._pending is None:
                break
            content, view = self._pending
            self._pending = None
            self._editing = True
            try:
                await self._edit_status(content, view)
            finally:
                self._editing = False
            self._last_edit = time.monotonic()

    async def _stop_progress(self) -> None:
        """No more progress edits; let one already on the wire land first."""
        self._finished = True
        self._pending = None
        pump = self._pump
        if pump is None or pump.done():
            return
        if not self._editing:
            pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)

    async def _edit_status(self, content: str, view: discord.ui.View | None) -> None:
        if self.status_id is None:
            return
        try:
            if self._status_via_webhook and self.token_alive:
                if self.interaction is None:
                    raise RuntimeError("no interaction to reply to")
                await self.interaction.followup.edit_message(
                    self.status_id, content=content, view=view, allowed_mentions=NO_PINGS
                )
            else:
                await self.channel.get_partial_message(self.status_id).edit(
                    content=content, view=view, allowed_mentions=NO_PINGS
                )
        except discord.HTTPException as exc:
            if self._status_via_webhook and _token_refused(exc):
                self._token_dead = True
            log.info("status edit failed: %s", exc, extra={"job_id": self.job_id})

    async def _final_edit(self, content: str) -> None:
        """The last status edit (no buttons). Not a progress edit: sent at once."""
        await self._stop_progress()
        if self.status_id is None:
            await self.channel.send(content, allowed_mentions=NO_PINGS)
            return
        await self._edit_status(content, None)

    async def _delete_status(self) -> None:
        await self._stop_progress()
        if self.status_id is None:
            return
        try:
            if self._status_via_webhook and self.token_alive:
                if self.interaction is None:
                    raise RuntimeError("no interaction to reply to")
                await self.interaction.followup.delete_message(self.status_id)
            else:
                await self.channel.get_partial_message(self.status_id).delete()
        except discord.HTTPException as exc:
            log.info("status delete failed: %s", exc, extra={"job_id": self.job_id})

    # -- the end of the job -----------------------------------------------------------

    async def follow(self) -> None:
        """Wait for the job to end and deliver what happened."""
        try:
            result = await self.runner.engine.wait(self.job_id)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            # the engine shut down with the job unfinished: it stays persisted
            await self._final_edit(
                render.status_text(
                    self.owner_id,
                    self.tool,
                    "⏸️ Luneo restarted before this job finished; it will be resumed or refunded "
                    "when Luneo is back.",
                )
            )
            return
        finally:
            self.runner.forget(self.job_id)
        try:
            await self.finish(result)
        except Exception:
            log.exception("delivery failed", extra={"job_id": self.job_id})

    async def finish(self, result: JobResult) -> None:
        if result.status == "succeeded":
            await self._deliver(result)
        elif result.status == "canceled":
            by = f" by <@{self.canceled_by}>" if self.canceled_by else ""
            await self._final_edit(
                render.status_text(
                    self.owner_id,
                    self.tool,
                    f"🚫 Canceled{by} — {render.credits(self.cost)} refunded; balance {result.balance}.",
                )
            )
        else:
            text, ref = user_message(result.error or StudioError("internal error"))
            if ref:
                log.error("job failed ref=%s: %s", ref, result.error, extra={"job_id": self.job_id})
            if "not charged" not in text:  # a failed job is always refunded: say so
                text += f" You were not charged; balance {result.balance}."
            await self._final_edit(render.status_text(self.owner_id, self.tool, text))

    async def _files(self, result: JobResult) -> tuple[list[tuple[str, bytes]], list[str]]:
        """Result files re-encoded to fit the upload limit, and notes saying so."""
        limit = self._file_limit()
        store = self.runner.engine.store  # a local folder or S3: read by key, never by path
        names = result.file_names or list(result.file_keys)
        out: list[tuple[str, bytes]] = []
        notes: list[str] = []
        for key, name in zip(result.file_keys, names, strict=False):
            data = await store.get_async(key)
            if len(data) > limit:
                data, mime, note = await asyncio.to_thread(encode_to_fit, data, limit)
                name = Path(name).stem + _EXT.get(mime, Path(name).suffix)  # noqa: PLW2901 - the re-encoded file's name
                if note:
                    notes.append(note[0].upper() + note[1:] + ".")
            out.append((name, data))
        return out, notes

    async def _deliver(self, result: JobResult) -> None:
        files, encode_notes = await self._files(result)
        files += swatch_files(result)
        embed = render.result_embed(result, encode_notes, files[0][0] if files else None)
        view = result_view(self.tool, self.job_id) or discord.utils.MISSING
        content = f"<@{self.owner_id}>"
        mentions = ping(self.owner_id)
        msg: discord.Message | None = None
        if self.token_alive:
            if self.interaction is None:
                raise RuntimeError("no interaction to reply to")
            try:
                msg = await self.interaction.followup.send(
                    content,
                    embed=embed,
                    files=_discord_files(files),
                    view=view,
                    wait=True,
                    allowed_mentions=mentions,
                )
            except discord.HTTPException as exc:
                if not _token_refused(exc):
                    raise
                self._token_dead = True
        if msg is None:
            msg = await self.channel.send(
                content,
                embed=embed,
                files=_discord_files(files),
                view=view,
                allowed_mentions=mentions,
            )
        await self.runner.engine.record_delivery(
            self.job_id, str(msg.channel.id), str(msg.id), msg.jump_url
        )
        if self.keep_status:
            self._line = "🔁 Interrupted by a restart and resumed — the result is below."
            await self._final_edit(self._status_text())
        else:
            await self._delete_status()


def _discord_files(files: list[tuple[str, bytes]]) -> list[discord.File]:
    return [discord.File(io.BytesIO(data), filename=name) for name, data in files]


def swatch_files(result: JobResult) -> list[tuple[str, bytes]]:
    """A palette's colours as swatch files design tools import (core/swatches.py):
    `.ase` for Adobe apps, Affinity and Procreate, `.gpl` for GIMP, Inkscape and Krita."""
    colours = (result.data or {}).get("colors") if result.tool == "palette" else None
    if not colours:
        return []
    return [("palette.ase", ase_bytes(colours)), ("palette.gpl", gpl_text(colours).encode())]
