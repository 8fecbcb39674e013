"""The fake Discord itself, driven by a minimal discord.py client.

These tests pin the fake's imitation of Discord (login, gateway, interaction
callbacks, followups, multipart files, buttons, RESUME) independently of the
Studio bot, so a failure in the bot's tests points at the bot.
"""

from __future__ import annotations

import asyncio
import io

import discord
import pytest
from discord import app_commands
from discord.ext import commands
from PIL import Image

from tests.bot.fake_discord import EPHEMERAL, FakeDiscord


class MiniBot(commands.Bot):
    def __init__(self) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents(guilds=True),
            guild_ready_timeout=0.05,
        )
        self.errors: list[BaseException] = []

        @self.tree.error
        async def on_error(
            interaction: discord.Interaction, error: app_commands.AppCommandError
        ) -> None:
            self.errors.append(error)

        @app_commands.command(name="echo", description="Echo an image back")
        async def echo(
            interaction: discord.Interaction, image: discord.Attachment, note: str = ""
        ) -> None:
            await interaction.response.defer(thinking=True)
            data = await image.read()
            view = discord.ui.View(timeout=None)
            view.add_item(discord.ui.Button(label="Again", custom_id="mini:again"))
            await interaction.followup.send(
                f"{note}:{len(data)}", file=discord.File(io.BytesIO(data), "echo.png"), view=view
            )
            await interaction.followup.send("secret", ephemeral=True)

        self.tree.add_command(echo)

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is discord.InteractionType.component:
            await interaction.response.send_message("clicked", ephemeral=True)


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), "red").save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
async def world():
    async with FakeDiscord(heartbeat_interval_ms=200) as fake:
        guild = fake.add_guild()
        channel = fake.add_channel(guild, "general")
        member = fake.add_member(guild, "alice")
        old_base, old_gw = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = fake.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = discord.gateway.yarl.URL(
            fake.gateway_url
        )
        bot = MiniBot()
        await bot.login(fake.token)
        task = asyncio.create_task(bot.connect())
        await asyncio.wait_for(bot.wait_until_ready(), 5)
        try:
            yield fake, bot, channel, member
        finally:
            await bot.close()
            await task
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = (
                old_base,
                old_gw,
            )
            assert fake.unknown_routes == []


async def test_login_ready_and_sync(world) -> None:
    fake, bot, channel, _ = world
    assert bot.user is not None
    assert str(bot.user.id) == fake.app_id
    assert [g.id for g in bot.guilds] == [int(channel.guild_id)]
    assert bot.get_channel(int(channel.id)) is not None
    assert [c["name"] for c in fake.global_commands] == ["echo"]
    assert fake.identifies[0]["intents"] == discord.Intents(guilds=True).value


async def test_slash_defer_followup_file_and_visibility(world) -> None:
    fake, bot, channel, member = world
    png = _png()
    ix = await fake.slash(
        "echo", {"image": fake.upload("a.png", png), "note": "hi"}, member=member, channel=channel
    )
    await fake.wait_for(
        lambda: len(fake.messages_of(ix)) == 2 and not fake.messages_of(ix)[0].loading
    )
    first, second = fake.messages_of(ix)
    assert ix.callbacks[0].type == 5
    assert ix.defer_latency is not None
    assert ix.defer_latency < 1
    # the first followup replaced the (public) thinking message
    assert first.kind == "original"
    assert first.content == f"hi:{len(png)}"
    assert not first.ephemeral
    assert first.attachments == [("echo.png", png)]
    assert first.custom_ids == ["mini:again"]
    assert second.kind == "followup"
    assert second.ephemeral
    assert second.flags & EPHEMERAL
    assert bot.errors == []


async def test_button_click_reaches_client(world) -> None:
    fake, _bot, channel, member = world
    ix = await fake.slash(
        "echo", {"image": fake.upload("a.png", _png())}, member=member, channel=channel
    )
    msg = await fake.reply_to(ix, lambda m: bool(m.custom_ids))
    click = await fake.click(msg, "mini:again", member=member)
    reply = await fake.reply_to(click)
    assert reply.content == "clicked"
    assert reply.ephemeral


async def test_late_ack_is_refused(world) -> None:
    fake, _bot, channel, member = world
    fake.ack_deadline_s = 0.0
    ix = await fake.slash(
        "echo", {"image": fake.upload("a.png", _png())}, member=member, channel=channel
    )
    await fake.wait_for(lambda: fake.late_acks)
    assert not ix.acked
    fake.late_acks.clear()  # expected here


async def test_heartbeats_and_resume(world) -> None:
    fake, _bot, _channel, _ = world
    await fake.wait_for(lambda: fake.heartbeat_acks >= 2, within=3)
    await fake.force_reconnect()
    await fake.wait_for(lambda: fake.resumes, within=5)
    assert fake.resumes[0]["session_id"] == "fake-session"
    assert fake.resumes[0]["token"] == fake.token
    assert len(fake.identifies) == 1
