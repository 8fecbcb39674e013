"""Refusals: answered ephemerally, nothing charged, nothing posted publicly."""

from __future__ import annotations

import importlib
import sqlite3

import discord
from discord import app_commands

from bot.client import COGS
from tests.bot.conftest import StartStudio, World, image_bytes


async def ledger_rows(bot, world: World, member) -> list:
    return await bot.engine.credits.history(world.guild.id, member.id, limit=50)


async def test_insufficient_credits_is_ephemeral_and_free(
    world: World, studio: StartStudio
) -> None:
    bot = await studio(extra="[credits]\nstarting = 3")
    ix = await world.slash("design", {"prompt": "a poster"})
    reply = await world.ephemeral_reply(ix)
    assert "costs 5 credits but your balance is 3" in reply.content
    assert [m.ephemeral for m in world.fake.messages_of(ix)] == [True]  # nothing public
    assert await bot.engine.credits.balance(world.guild.id, world.alice.id) == 3
    assert [r.kind for r in await ledger_rows(bot, world, world.alice)] == ["start"]
    assert await bot.engine.history(world.guild.id, world.alice.id) == []


async def test_non_image_attachment_gets_a_clear_error_and_costs_nothing(
    world: World, studio: StartStudio
) -> None:
    bot = await studio()
    note = world.upload("notes.txt", b"just some text, not a picture\n", content_type="text/plain")
    ix = await world.slash("upscale", {"image": note})
    reply = await world.ephemeral_reply(ix)
    assert reply.content.startswith("❌ Invalid `image`: the file is not a supported image")
    assert "text file" in reply.content
    assert len(world.fake.messages_of(ix)) == 1
    assert await bot.engine.credits.balance(world.guild.id, world.alice.id) == 10
    assert await bot.engine.history(world.guild.id, world.alice.id) == []


async def test_attachment_from_a_host_not_allowed_is_never_fetched(
    world: World, studio: StartStudio
) -> None:
    await studio()
    att = world.upload("photo.png", image_bytes(), host="evil.example")
    ix = await world.slash("crop", {"image": att, "ratio": "1:1"})
    reply = await world.ephemeral_reply(ix)
    assert "only accepted from Discord's CDN" in reply.content
    assert not any("/cdn/" in path for _, _, path in world.fake.requests)


async def test_oversized_attachment_refused_before_download(
    world: World, studio: StartStudio
) -> None:
    await studio(security="max_input_bytes = 2048")
    ix = await world.slash(
        "crop", {"image": world.upload("big.png", image_bytes(64, 64)), "ratio": "1:1"}
    )
    reply = await world.ephemeral_reply(ix)
    assert reply.content == "❌ Invalid `image`: big.png is larger than the 2 KB limit."
    assert not any("/cdn/" in path for _, _, path in world.fake.requests)


async def test_rate_limit_message_names_the_wait(world: World, studio: StartStudio) -> None:
    bot = await studio(extra="[limits]\nper_member_per_minute = 1")
    first = await world.slash("palette", {"image": world.upload("a.png", image_bytes(seed=1))})
    await world.result_of(first)
    second = await world.slash("palette", {"image": world.upload("b.png", image_bytes(seed=2))})
    reply = await world.ephemeral_reply(second)
    assert "running tools too fast; try again in" in reply.content
    assert reply.content.endswith(" s.")
    assert len(world.fake.messages_of(second)) == 1
    assert len(await bot.engine.history(world.guild.id, world.alice.id)) == 1


async def test_channel_not_allowed(world: World, studio: StartStudio) -> None:
    bot = await studio()
    await bot.engine.guild_config.set(world.guild.id, "allowed_channels", world.art.id, "x")
    ix = await world.slash("palette", {"image": world.upload()})
    reply = await world.ephemeral_reply(ix)
    assert f"<#{world.art.id}>" in reply.content
    ok = await world.slash("palette", {"image": world.upload()}, channel=world.art)
    assert (await world.result_of(ok)).channel_id == world.art.id


async def test_button_click_outside_a_server_is_refused_and_runs_nothing(
    world: World, studio: StartStudio
) -> None:
    """Issue 14, finding 7: buttons pass the same server check as slash commands."""
    bot = await studio()
    ix = await world.slash("design", {"prompt": "a poster"})
    design = await world.result_of(ix)
    assert len(design.custom_ids) == 4  # variation, upscale, remove-bg, palette
    for button in design.custom_ids:
        click = await world.fake.click(design, button, member=world.bob, in_dm=True)
        reply = await world.fake.reply_to(click)
        assert reply.ephemeral, (button, reply.content)
        assert reply.content == "⛔ Luneo works in servers only.", (button, reply.content)
        assert click.callbacks[0].type == 4  # answered at once, not deferred into a job

    with sqlite3.connect(bot.settings.database_path) as db:
        jobs = db.execute("SELECT guild_id, tool FROM jobs ORDER BY created_at").fetchall()
        wallets = db.execute("SELECT guild_id, member_id FROM wallets").fetchall()
    assert jobs == [(world.guild.id, "design")]  # only the slash command's job
    assert wallets == [(world.guild.id, world.alice.id)]  # no wallet for guild "None"
    assert bot.unhandled_errors == []


def test_every_interaction_kind_passes_the_one_gate() -> None:
    """Command tree, views, modals and dynamic buttons all check through `interaction_allowed`."""
    importlib.import_module("bot.client")
    for name in COGS:
        importlib.import_module(name)
    bases = (app_commands.CommandTree, discord.ui.View, discord.ui.Modal, discord.ui.DynamicItem)
    ours: list[type] = []
    todo: list[type] = list(bases)
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.startswith(("bot.", "cogs.")):
            ours.append(cls)
    assert {c.__name__ for c in ours} >= {"StudioTree", "StudioView", "StudioModal", "JobButton"}
    for cls in ours:
        assert "interaction_allowed" in cls.interaction_check.__code__.co_names, cls
