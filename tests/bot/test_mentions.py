"""Allowed mentions (issue 14, finding 4): no message the bot sends can ping
@everyone, @here or a role; at most the one member a message is about.

Asserted on the REST bodies the fake Discord recorded (`FakeDiscord.sent`),
JSON or multipart `payload_json`. Every bot test also checks all of its
bodies at teardown (`unsafe_mentions` in conftest).
"""

from __future__ import annotations

import asyncio

from tests.bot.conftest import StartStudio, World, unsafe_mentions
from tests.bot.fake_discord import FakeInteraction, SentBody
from tests.bot.scripted import Scripted

NASTY = "@everyone @here <@&{role}> party"


def bodies_for(world: World, ix: FakeInteraction) -> list[SentBody]:
    """Bodies sent with this interaction's token (callback, followups, webhook edits)."""
    return [b for b in world.fake.sent if ix.token in b.path]


async def test_grant_reason_cannot_ping_everyone_here_or_roles(
    world: World, studio: StartStudio
) -> None:
    await studio()
    reason = NASTY.format(role=world.mod_role.id)
    ix = await world.slash(
        "credits grant",
        {"member": world.bob, "amount": 3, "reason": reason},
        member=world.admin,
    )
    msg = await world.fake.reply_to(ix)
    assert not msg.ephemeral
    assert reason in msg.content
    (body,) = bodies_for(world, ix)
    assert body.kind == "callback"
    assert body.callback_type == 4
    am = body.message["allowed_mentions"]
    # ...but only the member who received the credits is pinged
    assert am["parse"] == []
    assert not am.get("roles")
    assert not am.get("replied_user")
    assert [str(u) for u in am["users"]] == [world.bob.id]

    # revoke: names the member but pings nobody
    ix = await world.slash(
        "credits revoke",
        {"member": world.bob, "amount": 1, "reason": reason},
        member=world.admin,
    )
    await world.fake.reply_to(ix)
    (body,) = bodies_for(world, ix)
    assert body.message["allowed_mentions"] == {"parse": []}


async def test_every_reply_kind_states_safe_allowed_mentions(
    world: World, studio: StartStudio
) -> None:
    """Interaction responses, followups, webhook edits, channel sends and edits, errors."""
    gate = asyncio.Event()
    provider = Scripted(gate=gate)
    bot = await studio(provider, extra="[credits]\nstarting = 4")
    # interaction response (public) and an ephemeral one
    await world.fake.reply_to(await world.slash("credits top"))
    await world.fake.reply_to(await world.slash("credits balance"))
    # a tool run: defer, receipt (webhook edit), status (followup), result (followup)
    gate.set()
    await world.result_of(await world.slash("palette", {"image": world.upload()}))
    # a refusal after the defer (error followup)
    poor = await world.slash("design", {"prompt": "too expensive"})
    assert "costs 5 credits" in (await world.ephemeral_reply(poor)).content
    # a job whose token died: its cancellation is written with the bot token (channel edit)
    gate.clear()
    ix = await world.slash("crop", {"image": world.upload(), "ratio": "1:1"})
    await provider.started.wait()
    status = await world.fake.wait_for(
        lambda: next((m for m in world.fake.messages_of(ix) if not m.ephemeral), None)
    )
    bot.jobs.token_ttl_s = 0
    click = await world.fake.click(status, status.custom_ids[0], member=world.alice)
    assert "Canceled" in (await world.fake.reply_to(click)).content
    await world.fake.wait_for(lambda: "🚫 Canceled by" in status.content)
    # a job delivered with the bot token (channel send)
    gate.set()
    late = await world.slash("crop", {"image": world.upload(), "ratio": "4:3"})
    await world.fake.wait_message(
        lambda m: m.kind == "channel" and bool(m.attachments) and m.channel_id == world.general.id
    )

    kinds = {b.kind for b in world.fake.sent}
    assert kinds >= {"callback", "followup", "webhook_edit", "channel_send", "channel_edit"}, kinds
    assert any(b.file_names for b in world.fake.sent)  # multipart payload_json is covered too
    assert unsafe_mentions(world.fake.sent) == []
    # the result pings its owner, and only them
    result = next(b for b in world.fake.sent if b.kind == "channel_send" and b.file_names)
    assert result.message["allowed_mentions"] == {"parse": [], "users": [int(world.alice.id)]}
    assert late.callbacks  # acknowledged like any other run
