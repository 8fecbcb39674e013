"""Fixtures: a fake Discord with a server in it, and the real bot started against it.

`studio(...)` writes a config.toml pointing `[discord]` at the fake, loads it
with `load_settings` and calls `start_bot(settings, ...)`, the code path
`studio bot` runs. Teardown closes the bot and asserts the fake saw no
unknown route and no late acknowledgement, every message the bot sent stated
safe allowed mentions (`unsafe_mentions`), and the bot logged no unhandled
error.
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bot import StudioBot, start_bot
from core.config import Settings, load_settings
from core.engine import Engine
from core.providers.base import Provider
from tests.bot.fake_discord import (
    ADMIN_PERMISSIONS,
    FakeAttachment,
    FakeChannel,
    FakeDiscord,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    FakeMessage,
    FakeRole,
    SentBody,
)
from tests.bot.scripted import Scripted


def image_bytes(w: int = 64, h: int = 48, seed: int = 0, fmt: str = "PNG") -> bytes:
    """A small noisy image; different seeds give different bytes (no cache hits)."""
    arr = (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt)
    return buf.getvalue()


def open_image(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def unsafe_mentions(sent: list[SentBody]) -> list[str]:
    """Message bodies whose `allowed_mentions` could ping more than the member it is about.

    Safe: `allowed_mentions` present, `parse` empty (no @everyone/@here, no
    roles, no users by content), no roles, no replied user, and at most one
    user id, which the content itself mentions. Deferrals (callback types 5
    and 6) create no message text and carry no mentions.
    """
    bad = []
    for body in sent:
        if body.callback_type in (5, 6):
            continue
        where = f"{body.kind} {body.method} {body.path}"
        am = body.message.get("allowed_mentions")
        if not isinstance(am, dict):
            bad.append(f"{where}: no allowed_mentions")
            continue
        users = [str(u) for u in am.get("users") or []]
        mentioned = set(re.findall(r"<@!?(\d+)>", body.message.get("content") or ""))
        if am.get("parse") != [] or am.get("roles") or am.get("replied_user"):
            bad.append(f"{where}: {am}")
        elif len(users) > 1 or not set(users) <= mentioned:
            bad.append(f"{where}: users {users} for content mentioning {sorted(mentioned)}")
    return bad


@dataclass
class World:
    fake: FakeDiscord
    guild: FakeGuild
    general: FakeChannel
    art: FakeChannel
    mod_role: FakeRole
    alice: FakeMember
    bob: FakeMember
    mod: FakeMember
    admin: FakeMember

    def upload(
        self, name: str = "photo.png", data: bytes | None = None, **kw: Any
    ) -> FakeAttachment:
        return self.fake.upload(name, image_bytes() if data is None else data, **kw)

    async def slash(
        self,
        command: str,
        options: dict[str, Any] | None = None,
        *,
        member: FakeMember | None = None,
        channel: FakeChannel | None = None,
        **kw: Any,
    ) -> FakeInteraction:
        return await self.fake.slash(
            command, options, member=member or self.alice, channel=channel or self.general, **kw
        )

    async def result_of(self, ix: FakeInteraction, within: float = 10.0) -> FakeMessage:
        """The public result message of a tool run started by `ix`."""
        return await self.fake.reply_to(
            ix, lambda m: bool(m.attachments) and not m.ephemeral, within
        )

    async def ephemeral_reply(self, ix: FakeInteraction) -> FakeMessage:
        return await self.fake.reply_to(ix, lambda m: m.ephemeral)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with FakeDiscord() as fake:
        guild = fake.add_guild("Luneo Test Server")
        general = fake.add_channel(guild, "general")
        art = fake.add_channel(guild, "art")
        mod_role = fake.add_role(guild, "Moderators")
        w = World(
            fake,
            guild,
            general,
            art,
            mod_role,
            alice=fake.add_member(guild, "alice"),
            bob=fake.add_member(guild, "bob"),
            mod=fake.add_member(guild, "mona", roles=[mod_role]),
            admin=fake.add_member(guild, "adam", permissions=ADMIN_PERMISSIONS),
        )
        yield w
        assert fake.unknown_routes == [], fake.unknown_routes
        assert unsafe_mentions(fake.sent) == [], unsafe_mentions(fake.sent)
        assert fake.late_acks == [], fake.late_acks


def write_config(
    world: World, folder: Path, extra: str = "", *, security: str = "", dev_guild: bool = True,
    storage: str = "",
) -> Path:
    fake = world.fake
    guild_line = f"dev_guild_id = {world.guild.id}" if dev_guild else ""
    path = folder / "config.toml"
    path.write_text(
        f"""
[storage]
database = "studio.db"
results_dir = "results"
{storage}

[discord]
api_base = "{fake.api_base}"
gateway_url = "{fake.gateway_url}"
{guild_line}

[security]
attachment_hosts = ["{fake.host}"]
{security}

{extra}
""",
        encoding="utf-8",
    )
    return path


def load(
    world: World, folder: Path, extra: str = "", env: dict[str, str] | None = None, **kw: Any
) -> Settings:
    return load_settings(
        write_config(world, folder, extra, **kw),
        env={"DISCORD_TOKEN": world.fake.token, **(env or {})},
    )


StartStudio = Callable[..., Awaitable[StudioBot]]


@pytest.fixture
async def studio(world: World, tmp_path: Path) -> AsyncIterator[StartStudio]:
    """`await studio(provider=None, extra="[credits]\\nstarting = 3")` -> a ready StudioBot.

    `provider` replaces `local`; pass `provider=False` for the real local tools.
    `storage` adds lines to `[storage]`, `env` to the environment (e.g. an S3 store);
    `dev_guild=False` syncs the commands globally; `options` go to `start_bot`.
    """
    bots: list[StudioBot] = []

    async def start(
        provider: Provider | bool | None = None,
        extra: str = "",
        *,
        security: str = "",
        folder: Path | None = None,
        storage: str = "",
        env: dict[str, str] | None = None,
        dev_guild: bool = True,
        **options: Any,
    ) -> StudioBot:
        settings = load(world, folder or tmp_path, extra, env, security=security, storage=storage,
                        dev_guild=dev_guild)
        engine = None
        if provider is not False:
            local = provider if isinstance(provider, Provider) else Scripted()
            engine = await Engine.create(settings, providers={"local": local})
        options.setdefault("guild_ready_timeout", 0.05)
        options.setdefault("shutdown_grace_s", 2.0)
        bot = await start_bot(settings, engine=engine, **options)
        bots.append(bot)
        return bot

    yield start
    for bot in bots:
        await bot.close()
        if bot.connection_task is not None:
            await bot.connection_task
    for bot in bots:
        assert bot.unhandled_errors == [], bot.unhandled_errors
