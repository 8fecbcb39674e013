"""Restart recovery: a job a crash left `running` is resumed or refunded, and announced."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.bot.conftest import StartStudio, World, open_image
from tests.bot.scripted import Scripted


def snapshot(settings, dest: Path) -> None:
    """Copy the database (WAL included) and the result store, as a crash would leave them."""
    dest.mkdir()
    with sqlite3.connect(settings.database_path) as src, sqlite3.connect(dest / "studio.db") as dst:
        src.backup(dst)
    shutil.copytree(settings.results_path, dest / "results")


@pytest.mark.parametrize("recover", ["resume", "refund"])
async def test_interrupted_job_is_recovered_and_announced(
    world: World, studio: StartStudio, tmp_path: Path, recover: str
) -> None:
    gate = asyncio.Event()
    first = await studio(Scripted(gate=gate), folder=tmp_path, shutdown_grace_s=0.1)
    # a finished design from before the restart, with buttons on it
    done = await world.slash("design", {"prompt": "before the crash"}, member=world.bob)
    gate.set()
    old_result = await world.result_of(done)
    gate.clear()
    ix = await world.slash("crop", {"image": world.upload(), "ratio": "1:1"})
    await world.fake.wait_for(lambda: len(world.fake.messages_of(ix)) > 1)
    await asyncio.to_thread(snapshot, first.settings, tmp_path / "after-crash")
    await first.close()
    gate.set()

    provider = Scripted()
    second = await studio(
        provider, f'[jobs]\nrecover = "{recover}"', folder=tmp_path / "after-crash"
    )
    announcement = await world.fake.wait_message(
        lambda m: m.kind == "channel" and "restart" in m.content and m.created_at > ix.sent_at
    )
    assert announcement.content.startswith(f"<@{world.alice.id}> · **Crop**")
    balance = second.engine.credits.balance
    if recover == "refund":
        assert "interrupted by a restart; 1 credit refunded" in announcement.content
        assert await balance(world.guild.id, world.alice.id) == 10
        assert provider.calls == []
    else:
        assert "has been resumed" in announcement.content
        assert announcement.custom_ids[0].startswith("luneo:cancel:")
        result = await world.fake.wait_message(
            lambda m: m.kind == "channel" and bool(m.attachments)
        )
        assert result.content == world.alice.mention
        img = open_image(result.attachments[0][1])
        assert img.width == img.height
        await world.fake.wait_for(lambda: "resumed — the result is below" in announcement.content)
        assert announcement.custom_ids == []
        assert await balance(world.guild.id, world.alice.id) == 9

    # buttons posted by the previous process still work
    job_id = old_result.embeds[0]["footer"]["text"].removeprefix("job ")
    click = await world.fake.click(old_result, f"luneo:palette:{job_id}", member=world.bob)
    palette = await world.result_of(click)
    assert "**Palette**" in palette.embeds[0]["description"]
