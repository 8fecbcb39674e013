"""Credits, config, history, stats and help commands, with their permission rules."""

from __future__ import annotations

from tests.bot.conftest import StartStudio, World


async def test_grant_by_moderator_works_and_by_member_is_refused(
    world: World, studio: StartStudio
) -> None:
    bot = await studio()
    credits = bot.engine.credits
    # the admin makes "Moderators" the moderator role
    ix = await world.slash(
        "config set",
        {"key": "moderator_role", "value": f"<@&{world.mod_role.id}>"},
        member=world.admin,
    )
    assert (
        await world.fake.reply_to(ix)
    ).content == f"⚙️ `moderator_role` is now <@&{world.mod_role.id}>."

    ix = await world.slash(
        "credits grant",
        {"member": world.bob, "amount": 7, "reason": "art contest"},
        member=world.mod,
    )
    msg = await world.fake.reply_to(ix)
    assert (
        not msg.ephemeral
    )
    assert (
        "granted **7 credits** to" in msg.content
    )
    assert (
        "art contest" in msg.content
    )
    assert await credits.balance(world.guild.id, world.bob.id) == 17
    row = (await credits.history(world.guild.id, world.bob.id))[0]
    assert (row.kind, row.delta, row.actor_id, row.reason) == (
        "grant",
        7,
        world.mod.id,
        "art contest",
    )

    ix = await world.slash("credits grant", {"member": world.alice, "amount": 50}, member=world.bob)
    refusal = await world.fake.reply_to(ix)
    assert refusal.ephemeral
    assert refusal.content.startswith("⛔ Only moderators")
    assert await credits.balance(world.guild.id, world.alice.id) == 10

    # revoke never goes below zero, and says so
    ix = await world.slash(
        "credits revoke", {"member": world.bob, "amount": 100}, member=world.admin
    )
    assert "(they only had 17)" in (await world.fake.reply_to(ix)).content
    assert await credits.balance(world.guild.id, world.bob.id) == 0


async def test_config_set_cost_is_charged_by_the_next_run(
    world: World, studio: StartStudio
) -> None:
    bot = await studio()
    ix = await world.slash(
        "config set", {"key": "tool.crop.cost", "value": "3"}, member=world.admin
    )
    assert (await world.fake.reply_to(ix)).content == "⚙️ `tool.crop.cost` is now 3."

    ix = await world.slash("crop", {"image": world.upload(), "ratio": "1:1"})
    result = await world.result_of(ix)
    assert "charged **3 credits**" in result.embeds[0]["description"]
    assert await bot.engine.credits.balance(world.guild.id, world.alice.id) == 7

    # a member without Manage Server is refused at run time, and nothing changes
    ix = await world.slash("config set", {"key": "tool.crop.cost", "value": "0"}, member=world.bob)
    refusal = await world.fake.reply_to(ix)
    assert refusal.ephemeral
    assert "Manage Server" in refusal.content
    assert bot.engine.guild_config.effective_now(world.guild.id).tools["crop"].cost == 3

    ix = await world.slash("config set", {"key": "rate_limit", "value": "lots"}, member=world.admin)
    assert "Invalid `rate_limit`" in (await world.fake.reply_to(ix)).content

    ix = await world.slash("config show", member=world.admin)
    shown = await world.fake.reply_to(ix)
    assert shown.ephemeral
    assert "**Crop** — 3 credits" in shown.text
    assert f"`tool.crop.cost` → 3 by <@{world.admin.id}>" in shown.text


async def test_member_commands(world: World, studio: StartStudio) -> None:
    bot = await studio()
    ix = await world.slash("credits daily")
    assert (
        "You claimed **5 credits**; your balance is now **15**"
        in (await world.fake.reply_to(ix)).content
    )
    again = await world.fake.reply_to(await world.slash("credits daily"))
    assert again.ephemeral
    assert "already claimed today's credits" in again.content

    await world.fake.force_reconnect()  # the gateway drops; the bot RESUMEs and keeps serving
    await world.fake.wait_for(lambda: world.fake.resumes)
    balance = await world.fake.reply_to(await world.slash("credits balance"))
    assert (
        balance.ephemeral
    )
    assert (
        "Your balance: **15 credits**. Daily credits: claimed today." in balance.content
    )
    other = await world.fake.reply_to(await world.slash("credits balance", {"member": world.bob}))
    assert other.content.startswith("⛔ Only moderators")
    modview = await world.fake.reply_to(
        await world.slash("credits balance", {"member": world.alice}, member=world.admin)
    )
    assert f"<@{world.alice.id}>'s balance: **15 credits**" in modview.content

    history = await world.fake.reply_to(await world.slash("credits history"))
    assert (
        history.ephemeral
    )
    assert (
        "`+5` daily claim" in history.text
    )
    assert (
        "`+10` starting credits" in history.text
    )

    top = await world.fake.reply_to(await world.slash("credits top"))
    assert not top.ephemeral
    assert f"🥇 <@{world.alice.id}> — **15**" in top.text

    run = await world.slash("palette", {"image": world.upload()})
    result = await world.result_of(run)
    jobs = await world.fake.reply_to(await world.slash("history"))
    job_id = result.embeds[0]["footer"]["text"].removeprefix("job ")
    assert jobs.ephemeral
    assert f"`{job_id[:8]}`" in jobs.text
    assert "[result](" in jobs.text

    helptext = await world.fake.reply_to(await world.slash("help"))
    assert (
        helptext.ephemeral
    )
    assert (
        "/design prompt" in helptext.text
    )
    assert (
        "**5 credits**" in helptext.text
    )

    refused = await world.fake.reply_to(await world.slash("stats"))
    assert refused.ephemeral
    assert "Manage Server" in refused.content
    stats = await world.fake.reply_to(await world.slash("stats", member=world.admin))
    assert stats.ephemeral
    assert "**palette** · `local` — 1 runs, 1 ok" in stats.text
    assert bot.unhandled_errors == []
