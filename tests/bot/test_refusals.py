"""Refusals: answered ephemerally, nothing charged, nothing posted publicly."""

from __future__ import annotations

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
    assert "running tools too fast; try again in" in reply.content and reply.content.endswith(" s.")
    assert len(world.fake.messages_of(second)) == 1
    assert len(await bot.engine.history(world.guild.id, world.alice.id)) == 1


async def test_channel_not_allowed(world: World, studio: StartStudio) -> None:
    bot = await studio()
    await bot.engine.guild_config.set(world.guild.id, "allowed_channels", f"<#{world.art.id}>", "x")
    ix = await world.slash("palette", {"image": world.upload()})
    reply = await world.ephemeral_reply(ix)
    assert f"<#{world.art.id}>" in reply.content
    ok = await world.slash("palette", {"image": world.upload()}, channel=world.art)
    assert (await world.result_of(ok)).channel_id == world.art.id
