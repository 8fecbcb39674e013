"""The sharded gateway (`studio bot --shard-count S --shard-ids A-B`) against the fake
Discord: each process gets only its shards' guilds and their interactions, one syncs
the commands, and IDENTIFYs are spaced (within a process, and across processes
through a Postgres advisory lock)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from pathlib import Path

import discord
import pytest

from bot import StudioBot
from bot.client import ShardedStudioBot
from bot.runner import bot_arguments
from bot.shards import IdentifyGate, ShardError, ShardPlan, parse_shards, shard_of
from core.cli import main
from tests.bot.conftest import StartStudio, World
from tests.bot.fake_discord import FakeChannel, FakeGuild, FakeMember

SPACING_S = 0.4  # the tests' identify spacing (Discord's is 5 s)
# The fake's clock sees each identify a few ms after the gate let it go, and under load
# that delay varies; without any gate the identifies would arrive milliseconds apart.
MIN_GAP_S = SPACING_S * 0.75


def command_syncs(world: World) -> list[str]:
    return [path for _, method, path in world.fake.requests
            if method == "PUT" and path.endswith("/commands")]


def seen_guilds(bot: StudioBot) -> list[str]:
    """Guild ids of the interactions `bot` received."""
    seen: list[str] = []

    async def on_interaction(interaction: discord.Interaction) -> None:
        seen.append(str(interaction.guild_id))

    bot.add_listener(on_interaction)
    return seen


def second_guild(world: World, count: int = 2) -> tuple[FakeGuild, FakeChannel, FakeMember]:
    """A guild on the shard after world.guild's, with a channel and a member."""
    shard = (shard_of(int(world.guild.id), count) + 1) % count
    guild = world.fake.add_guild("Second Server", shard=(shard, count))
    return guild, world.fake.add_channel(guild, "lobby"), world.fake.add_member(guild, "carol")


@pytest.mark.parametrize(("count", "ids", "expected"), [
    (None, None, None),
    (2, None, ShardPlan(2, (0, 1))),
    (4, "1-2", ShardPlan(4, (1, 2))),
    (8, "5,0,3", ShardPlan(8, (0, 3, 5))),
    (8, "0-1,6-7", ShardPlan(8, (0, 1, 6, 7))),
])
def test_shard_ids_parse(count: int | None, ids: str | None, expected: ShardPlan | None) -> None:
    assert parse_shards(count, ids) == expected


@pytest.mark.parametrize(("count", "ids", "message"), [
    (None, "0-1", "--shard-ids needs --shard-count"),
    (0, None, "--shard-count must be at least 1"),
    (2, "1-2", "shard 2 is outside 0-1"),
    (2, "one", "expected A-B or A,B,C"),
    (4, "3-1", "3-1 is an empty range"),
    (4, "1,1", "names a shard twice"),
])
def test_bad_shard_flags_are_one_clear_line(count: int | None, ids: str | None,
                                           message: str) -> None:
    with pytest.raises(ShardError, match=message):
        parse_shards(count, ids)


def test_studio_bot_takes_the_shard_flags(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    assert bot_arguments(["--shard-count", "4", "--shard-ids", "2-3"]) == ShardPlan(4, (2, 3))
    assert bot_arguments([]) is None  # no flags: the plain, unsharded bot
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # `studio bot` sets up logging
    monkeypatch.setattr(root, "level", root.level)
    with pytest.raises(SystemExit) as exit_:
        main(["bot", "--shard-ids", "0-1"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "studio bot: --shard-ids needs --shard-count (the total number of shards)"]
    with pytest.raises(SystemExit):
        main(["stats", "--shard-count", "2"])  # only the bot takes them
    assert "unrecognized arguments: --shard-count 2" in capsys.readouterr().err


def test_the_identify_lock_follows_the_database() -> None:
    assert IdentifyGate.for_database("postgresql://u@h/db").database_url == "postgresql://u@h/db"
    assert IdentifyGate.for_database(Path("data/studio.db")).database_url is None


async def test_two_processes_split_the_guilds_and_one_syncs_commands(
        world: World, studio: StartStudio, tmp_path: Path) -> None:
    guild_b, lobby, carol = second_guild(world)
    gate = IdentifyGate(SPACING_S)  # one process's spacing, shared by the two bots here
    bots = []
    for shard in (shard_of(int(world.guild.id), 2), shard_of(int(guild_b.id), 2)):
        folder = tmp_path / f"shard{shard}"
        folder.mkdir()
        bots.append(await studio(folder=folder, dev_guild=False,
                                 shards=ShardPlan(2, (shard,)), identify_gate=gate))
    bot_a, bot_b = bots
    assert all(isinstance(b, ShardedStudioBot) for b in bots)
    assert [g.id for g in bot_a.guilds] == [int(world.guild.id)]
    assert [g.id for g in bot_b.guilds] == [int(guild_b.id)]
    assert len(command_syncs(world)) == 1  # only the process holding shard 0
    assert (bot_a if shard_of(int(world.guild.id), 2) == 0 else bot_b).syncs_commands

    seen_a, seen_b = seen_guilds(bot_a), seen_guilds(bot_b)
    first = await world.fake.reply_to(await world.slash("credits balance"))
    second = await world.fake.reply_to(
        await world.fake.slash("credits balance", member=carol, channel=lobby))
    assert "10" in first.text
    assert "10" in second.text
    assert seen_a == [world.guild.id]
    assert seen_b == [guild_b.id]
    # each process keeps its own guild's wallet: the other never saw the member
    assert [tuple(r) for r in await bot_a.engine.db.fetchall(
        "SELECT guild_id FROM wallets")] == [(world.guild.id,)]
    assert [tuple(r) for r in await bot_b.engine.db.fetchall(
        "SELECT guild_id FROM wallets")] == [(guild_b.id,)]

    (t0, s0, _), (t1, s1, _) = world.fake.identify_log
    assert {s0, s1} == {0, 1}
    assert t1 - t0 >= MIN_GAP_S


async def test_one_process_runs_several_shards_spaced(world: World, studio: StartStudio) -> None:
    guild_b, _, _ = second_guild(world, 3)
    bot = await studio(dev_guild=False, shards=ShardPlan(3, (0, 1, 2)),
                       identify_gate=IdentifyGate(SPACING_S))
    assert {g.id for g in bot.guilds} == {int(world.guild.id), int(guild_b.id)}
    assert [s for _, s, _ in world.fake.identify_log] == [0, 1, 2]
    times = [t for t, _, _ in world.fake.identify_log]
    assert all(b - a >= MIN_GAP_S for a, b in itertools.pairwise(times))
    assert len(command_syncs(world)) == 1


async def test_processes_space_their_identifies_through_postgres(
        world: World, studio: StartStudio, tmp_path: Path, pg_url: str) -> None:
    """Two processes (separate gates, like two machines) start at once: the advisory
    lock lets one IDENTIFY per spacing, whoever goes first."""
    second_guild(world)
    starts = []
    for shard in (0, 1):
        folder = tmp_path / f"shard{shard}"
        folder.mkdir()
        starts.append(studio(folder=folder, dev_guild=False, shards=ShardPlan(2, (shard,)),
                             identify_gate=IdentifyGate(SPACING_S, pg_url)))
    bots = await asyncio.gather(*starts)
    assert sorted(len(b.guilds) for b in bots) == [1, 1]
    (t0, _, _), (t1, _, _) = world.fake.identify_log
    assert t1 - t0 >= MIN_GAP_S
    assert len(command_syncs(world)) == 1


async def test_a_sharded_gateway_follows_only_its_own_guilds_jobs(engine_factory) -> None:
    """With the queue, a restarted gateway re-follows active jobs: each shard process
    keeps those of its own guilds (QueueDispatcher.follow_filter)."""
    from types import SimpleNamespace

    engine = await engine_factory(start=False)
    dispatcher = engine.dispatcher
    engine.dispatcher = SimpleNamespace(follow_filter=lambda rec: rec.channel_id is not None)
    plan = ShardPlan(2, (1,))
    ShardedStudioBot(plan=plan, gate=IdentifyGate(), engine=engine, settings=engine.settings)
    follows = engine.dispatcher.follow_filter
    engine.dispatcher = dispatcher
    on_1, on_0 = str((7 << 22) | 5), str((8 << 22) | 5)
    assert follows(SimpleNamespace(guild_id=on_1, channel_id="c"))
    assert not follows(SimpleNamespace(guild_id=on_0, channel_id="c"))
    assert not follows(SimpleNamespace(guild_id=on_1, channel_id=None))
    assert not follows(SimpleNamespace(guild_id="cli", channel_id="c"))


async def test_an_unreachable_lock_falls_back_to_spacing_here(
        caplog: pytest.LogCaptureFixture) -> None:
    gate = IdentifyGate(0.05, "postgresql://luneo:hunter2secret@127.0.0.1:1/studio")
    with caplog.at_level(logging.WARNING, logger="bot.shards"):
        await gate.turn(0)
        await gate.turn(1)
    assert "spacing in this process" in caplog.text
    assert "hunter2secret" not in caplog.text
    await gate.close()
