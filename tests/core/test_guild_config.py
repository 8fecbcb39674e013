"""The per-server setting registry: one declaration per setting, everything derived."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from core.config import Settings
from core.errors import InvalidInput
from core.guild_config import (
    SETTINGS,
    ChannelIds,
    GuildConfig,
    GuildSettings,
    RoleId,
    Switch,
    Whole,
    config_keys,
)
from core.storage.db import Database
from core.tools.base import TOOLS


@pytest.fixture
async def gc(settings: Settings) -> AsyncIterator[GuildConfig]:
    db = await Database.open(settings.database_path)
    config = GuildConfig(db, settings)
    await config.load()
    yield config
    await db.close()


def other_value(s: Any, default: Any) -> tuple[str, Any]:
    """A typed value that differs from the default, and what it must read back as."""
    if isinstance(s, Switch):
        return ("off", False) if default else ("on", True)
    if isinstance(s, Whole):
        n = s.hi if default != s.hi else s.lo
        return str(n), n
    if isinstance(s, RoleId):
        return "123456789012345678", "123456789012345678"
    assert isinstance(s, ChannelIds)
    return "11, 22 33", ("11", "22", "33")


def test_every_setting_is_a_guild_settings_field_and_a_config_key() -> None:
    names = {f.name for f in dataclasses.fields(GuildSettings)} - {"tools", "overrides"}
    assert names == {n for n in SETTINGS if not n.startswith("tool.")}
    assert {f"tool.{t}.{a}" for t in TOOLS for a in ("enabled", "cost")} <= set(SETTINGS)
    assert config_keys() == list(SETTINGS)
    assert len(SETTINGS) <= 25  # Discord's limit on one option's choices


async def test_every_setting_round_trips_through_set_show_and_reload(
    gc: GuildConfig, settings: Settings
) -> None:
    defaults = await gc.show("g")
    for name, s in SETTINGS.items():
        assert defaults[name] == s.default(settings), name
    for name, s in SETTINGS.items():
        typed, expected = other_value(s, defaults[name])
        assert await gc.set("g", name, typed, actor="admin") == expected, name
    shown = await gc.show("g")
    fresh = GuildConfig(gc.db, settings)
    await fresh.load()
    assert await fresh.show("g") == shown
    for name, s in SETTINGS.items():
        assert shown[name] == other_value(s, defaults[name])[1], name
    assert await gc.show("other") == defaults  # another server keeps the defaults


async def test_defaults_come_from_config_toml(make_settings: Callable[..., Settings]) -> None:
    s = make_settings(limits__per_member_per_minute=7, credits__daily=3,
                      tools={"crop": {"cost": 4, "enabled": False}})
    db = await Database.open(s.database_path)
    try:
        g = GuildConfig(db, s).effective_now("g")
    finally:
        await db.close()
    assert (g.per_member_per_minute, g.daily_credits) == (7, 3)
    assert g.tools["crop"] == type(g.tools["crop"])(enabled=False, cost=4)


async def test_values_are_ids_not_mentions(gc: GuildConfig) -> None:
    for key, value in (("allowed_channels", "<#42>"), ("moderator_role", "<@&42>")):
        with pytest.raises(InvalidInput, match=f"`{key}`"):
            await gc.set("g", key, value, actor="admin")
    assert await gc.set("g", "allowed_channels", "all", actor="admin") == ()
    assert await gc.set("g", "moderator_role", "none", actor="admin") is None


async def test_bad_values_name_the_setting_as_typed(gc: GuildConfig) -> None:
    with pytest.raises(InvalidInput, match=r"Invalid `per_member_per_minute`: must be between"):
        await gc.set("g", "per_member_per_minute", "0", actor="admin")
    with pytest.raises(InvalidInput, match=r"Invalid `rate_limit`: 'lots'"):
        await gc.set("g", "rate_limit", "lots", actor="admin")
    with pytest.raises(InvalidInput, match="Unknown setting `nonsense`"):
        await gc.set("g", "nonsense", "1", actor="admin")


async def test_rows_under_old_names_load_and_are_replaced(gc: GuildConfig) -> None:
    await gc.db.execute(
        "INSERT INTO guild_settings (guild_id, key, value, updated_by, updated_at) "
        "VALUES ('g', 'rate_limit', ?, 'x', 0), ('g', 'queued_jobs', ?, 'x', 0)",
        (json.dumps(3), json.dumps(0)),
    )
    await gc.load()
    g = gc.effective_now("g")
    assert (g.per_member_per_minute, g.per_member_queued) == (3, 0)
    assert await gc.set("g", "per_member_per_minute", "9", actor="admin") == 9
    rows = await gc.db.fetchall("SELECT key FROM guild_settings WHERE guild_id = 'g'")
    assert sorted(r[0] for r in rows) == ["per_member_per_minute", "queued_jobs"]
    await gc.load()
    assert gc.effective_now("g").per_member_per_minute == 9
