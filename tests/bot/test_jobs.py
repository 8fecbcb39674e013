"""Job life in Discord: cancel, throttled progress, buttons, big results, late delivery, failures."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from core.errors import InvalidInput, PermanentProviderError
from tests.bot.conftest import StartStudio, World, image_bytes, open_image
from tests.bot.fake_discord import FakeMessage
from tests.bot.scripted import Scripted


def status_of(world: World, ix) -> FakeMessage:
    return next(m for m in world.fake.messages_of(ix) if not m.ephemeral)


async def test_cancel_by_owner_refunds_and_others_are_refused(
    world: World, studio: StartStudio
) -> None:
    gate = asyncio.Event()
    provider = Scripted(gate=gate)
    bot = await studio(provider)
    ix = await world.slash("design", {"prompt": "a slow poster"})
    await provider.started.wait()
    status = await world.fake.wait_for(
        lambda: status_of(world, ix) if len(world.fake.messages_of(ix)) > 1 else None
    )
    assert await bot.engine.credits.balance(world.guild.id, world.alice.id) == 5  # held
    cancel_id = status.custom_ids[0]

    nosy = await world.fake.click(status, cancel_id, member=world.bob)
    refusal = await world.fake.reply_to(nosy)
    assert (
        refusal.ephemeral
    )
    assert (
        "Only the member who started this job or a moderator" in refusal.content
    )

    click = await world.fake.click(status, cancel_id, member=world.alice)
    assert (
        await world.fake.reply_to(click)
    ).content == "🚫 Canceled; the held credits were refunded."
    await world.fake.wait_for(lambda: "Canceled by" in status.content)
    assert f"🚫 Canceled by <@{world.alice.id}> — 5 credits refunded; balance 10." in status.content
    assert status.custom_ids == []  # the Cancel button is gone
    assert await bot.engine.credits.balance(world.guild.id, world.alice.id) == 10
    assert (await bot.engine.get_job(cancel_id.split(":")[2])).state == "canceled"

    # a moderator (the configured role) may cancel anyone's job
    await bot.engine.guild_config.set(world.guild.id, "moderator_role", world.mod_role.id, "x")
    ix = await world.slash("palette", {"image": world.upload()})
    status = await world.fake.wait_for(
        lambda: status_of(world, ix) if len(world.fake.messages_of(ix)) > 1 else None
    )
    click = await world.fake.click(status, status.custom_ids[0], member=world.mod)
    assert "Canceled" in (await world.fake.reply_to(click)).content
    await world.fake.wait_for(lambda: f"🚫 Canceled by <@{world.mod.id}>" in status.content)
    gate.set()


async def test_progress_edits_are_throttled(world: World, studio: StartStudio) -> None:
    provider = Scripted(progress_steps=16, step_s=0.3)  # a progress report every 0.3 s for ~4.8 s
    bot = await studio(provider)
    ix = await world.slash("upscale", {"image": world.upload()})
    result = await world.result_of(ix, within=15)
    status = status_of(world, ix)
    edits = [t for t, _ in status.edits]
    assert len(edits) >= 2
    assert any("%" in body.get("content", "") for _, body in status.edits)
    gaps = [b - a for a, b in zip([status.created_at, *edits], edits, strict=False)]
    interval = bot.settings.discord.progress_interval_s
    assert interval == 2.0, gaps
    assert min(gaps) >= interval - 0.05, gaps
    await world.fake.wait_for(lambda: status.deleted)
    assert result.attachments


async def test_result_buttons_start_follow_on_tools(world: World, studio: StartStudio) -> None:
    provider = Scripted()
    bot = await studio(provider)
    ix = await world.slash("design", {"prompt": "a bold logo", "aspect": "4:3"})
    design = await world.result_of(ix)
    job_id = design.embeds[0]["footer"]["text"].removeprefix("job ")
    design_bytes = design.attachments[0][1]

    click = await world.fake.click(design, f"luneo:upscale:{job_id}", member=world.bob)
    upscaled = await world.result_of(click)
    assert click.callbacks[0].type == 5
    assert click.defer_latency < 1.0
    assert open_image(upscaled.attachments[0][1]).size == (512, 384)  # 2x the 256×192 design
    assert provider.calls[-1].image_bytes == design_bytes  # the previous result is the input
    assert upscaled.content == world.bob.mention  # the clicker runs (and pays for) it
    assert await bot.engine.credits.balance(world.guild.id, world.bob.id) == 8

    click = await world.fake.click(design, f"luneo:variation:{job_id}", member=world.alice)
    variation = await world.result_of(click)
    assert provider.calls[-1].params.prompt == "a bold logo"
    assert provider.calls[-1].params.seed != 0
    assert open_image(variation.attachments[0][1]).size == (256, 192)


async def test_big_results_are_reencoded_to_fit(world: World, studio: StartStudio) -> None:
    await studio(Scripted(noisy=True))
    ix = await world.slash(
        "upscale",
        {"image": world.upload("n.png", image_bytes(96, 96))},
        attachment_size_limit=60_000,
    )
    result = await world.result_of(ix)
    name, data = result.attachments[0]
    assert name == "upscaled.webp"
    assert len(data) <= 60_000
    assert open_image(data).size == (192, 192) or "resized" in result.text
    assert "Re-encoded as WebP" in result.text
    assert "upload limit" in result.text


@pytest.mark.parametrize("who_knows", ["discord refuses the token", "the bot knows it expired"])
async def test_job_outliving_the_token_is_delivered_in_the_channel(
    world: World, studio: StartStudio, who_knows: str
) -> None:
    bot = await studio(Scripted(delay_s=1.0))
    if who_knows == "discord refuses the token":
        world.fake.token_ttl_s = 0.6
    else:
        bot.jobs.token_ttl_s = 0.6
    ix = await world.slash("crop", {"image": world.upload(), "ratio": "4:3"})
    result = await world.fake.wait_message(lambda m: m.kind == "channel" and bool(m.attachments))
    assert result.content == world.alice.mention
    assert result.channel_id == world.general.id
    assert "charged **1 credit**" in result.embeds[0]["description"]
    assert result.custom_ids  # follow-on buttons on channel deliveries too
    status = status_of(world, ix)
    await world.fake.wait_for(lambda: status.deleted)  # cleaned up with the bot token
    if who_knows == "the bot knows it expired":
        assert world.fake.rejected == []  # it did not even try the dead token


async def test_all_providers_failed_and_unexpected_errors(
    world: World, studio: StartStudio
) -> None:
    provider = Scripted(error=PermanentProviderError("model missing", provider="local"))
    bot = await studio(provider)
    ix = await world.slash("crop", {"image": world.upload(), "ratio": "1:1"})
    status = await world.fake.wait_for(
        lambda: next((m for m in world.fake.messages_of(ix) if "every provider" in m.content), None)
    )
    assert "⚠️ every provider failed; you were not charged." in status.content
    assert "model missing" not in status.content  # no exception text for members
    assert await bot.engine.credits.balance(world.guild.id, world.alice.id) == 10

    async def broken(*_a, **_k):
        raise RuntimeError("database on fire")

    bot.engine.credits.top = broken
    reply = await world.fake.reply_to(await world.slash("credits top"))
    assert reply.ephemeral
    assert "Something went wrong on our side (reference `" in reply.content
    assert "fire" not in reply.content
    assert [type(e) for e in bot.unhandled_errors] == [RuntimeError]
    bot.unhandled_errors.clear()


async def test_shutdown_stops_taking_jobs_and_reports_unfinished_ones(
    world: World, studio: StartStudio
) -> None:
    gate = asyncio.Event()
    provider = Scripted(gate=gate)
    bot = await studio(provider, shutdown_grace_s=1.0)
    ix = await world.slash("design", {"prompt": "never finishes"})
    await provider.started.wait()
    status = await world.fake.wait_for(
        lambda: status_of(world, ix) if len(world.fake.messages_of(ix)) > 1 else None
    )
    closing = asyncio.create_task(bot.close())
    await asyncio.sleep(0)
    late = await world.slash(
        "palette", {"image": world.upload()}
    )  # while running jobs get their grace
    refusal = await world.fake.reply_to(late)
    assert refusal.ephemeral
    assert "Luneo is restarting" in refusal.content
    await closing
    assert "Luneo restarted before this job finished" in status.content
    with sqlite3.connect(bot.settings.database_path) as db:
        (state,) = db.execute("SELECT state FROM jobs").fetchone()
        (hold,) = db.execute("SELECT state FROM holds").fetchone()
    assert (state, hold) == ("running", "held")  # left for recovery at the next start
    gate.set()


async def test_a_tool_that_finds_nothing_says_so_and_that_nothing_was_charged(
    world: World, studio: StartStudio
) -> None:
    provider = Scripted(error=InvalidInput("remove-bg couldn't find a subject to separate "
                                           "from the background."))
    bot = await studio(provider)
    ix = await world.slash("remove-bg", {"image": world.upload()})
    status = await world.fake.wait_for(
        lambda: next((m for m in world.fake.messages_of(ix) if "couldn't find" in m.content), None)
    )
    assert "You were not charged; balance 10." in status.content
    assert await bot.engine.credits.balance(world.guild.id, world.alice.id) == 10
