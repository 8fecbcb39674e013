"""Per-server configuration set by admins (PRODUCT.md §3).

Bot-wide defaults come from config.toml; a server's overrides are rows in
`guild_settings`, applied at once, each change written to `config_log` with
who made it. All rows are small, so they are cached in memory at start.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from core.config import Settings
from core.errors import InvalidInput
from core.storage.db import Database
from core.tools.base import TOOLS


@dataclass(frozen=True)
class ToolConfig:
    enabled: bool
    cost: int


@dataclass(frozen=True)
class GuildSettings:
    tools: dict[str, ToolConfig]
    moderator_role_id: str | None
    allowed_channel_ids: tuple[str, ...]
    starting: int
    daily: int
    per_member_per_minute: int
    per_member_running: int
    per_member_queued: int
    cache_hit_cost: int
    overrides: dict[str, Any] = field(default_factory=dict)


def _int(value: Any, key: str, lo: int, hi: int) -> int:
    try:
        n = int(str(value).strip())
    except ValueError:
        raise InvalidInput(f"Invalid `{key}`: {value!r} is not a whole number.", field=key) from None
    if not lo <= n <= hi:
        raise InvalidInput(f"Invalid `{key}`: must be between {lo} and {hi}.", field=key)
    return n


def _bool(value: Any, key: str) -> bool:
    s = str(value).strip().lower()
    if s in ("true", "on", "yes", "1", "enabled", "enable"):
        return True
    if s in ("false", "off", "no", "0", "disabled", "disable"):
        return False
    raise InvalidInput(f"Invalid `{key}`: say on or off.", field=key)


def _snowflakes(value: Any, key: str) -> list[str]:
    if isinstance(value, list | tuple):
        items = [str(v) for v in value]
    else:
        items = [p for p in str(value).replace(",", " ").split() if p]
    out = []
    for item in items:
        digits = item.strip("<#@&>")
        if not digits.isdigit():
            raise InvalidInput(f"Invalid `{key}`: {item!r} is not a channel or role.", field=key)
        out.append(digits)
    return out


def parse_value(key: str, value: Any) -> Any:
    """Validate one `/config set` value; InvalidInput names the key."""
    parts = key.split(".")
    if parts[0] == "tool" and len(parts) == 3 and parts[1] in TOOLS:
        if parts[2] == "enabled":
            return _bool(value, key)
        if parts[2] == "cost":
            return _int(value, key, 0, 10_000)
    simple = {
        "starting_credits": lambda v: _int(v, key, 0, 1_000_000),
        "daily_credits": lambda v: _int(v, key, 0, 1_000_000),
        "rate_limit": lambda v: _int(v, key, 1, 1000),
        "concurrent_jobs": lambda v: _int(v, key, 1, 20),
        "queued_jobs": lambda v: _int(v, key, 0, 50),
        "cache_hit_cost": lambda v: _int(v, key, 0, 10_000),
        "moderator_role": lambda v: _one_or_none(_snowflakes(v, key))
        if str(v).strip().lower() not in ("", "none", "off") else None,
        "allowed_channels": lambda v: []
        if str(v).strip().lower() in ("", "all", "none", "any") else _snowflakes(v, key),
    }
    if key in simple:
        return simple[key](value)
    raise InvalidInput(f"Unknown setting `{key}`; known: {', '.join(config_keys())}.", field="key")


def _one_or_none(items: list[str]) -> str | None:
    return items[0] if items else None


def config_keys() -> list[str]:
    keys = [f"tool.{t}.{a}" for t in TOOLS for a in ("enabled", "cost")]
    return [*keys, "moderator_role", "allowed_channels", "starting_credits", "daily_credits",
            "rate_limit", "concurrent_jobs", "queued_jobs", "cache_hit_cost"]


class GuildConfig:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._overrides: dict[str, dict[str, Any]] = {}

    async def load(self) -> None:
        rows = await self.db.fetchall("SELECT guild_id, key, value FROM guild_settings")
        self._overrides = {}
        for guild, key, value in rows:
            self._overrides.setdefault(str(guild), {})[str(key)] = json.loads(value)

    def effective_now(self, guild: str) -> GuildSettings:
        """Defaults from config.toml with this server's overrides applied (no I/O)."""
        s = self.settings
        o = self._overrides.get(guild, {})
        tools = {
            t: ToolConfig(
                enabled=bool(o.get(f"tool.{t}.enabled", s.tool(t).enabled)),
                cost=int(o.get(f"tool.{t}.cost", s.tool_cost(t))),
            )
            for t in TOOLS
        }
        return GuildSettings(
            tools=tools,
            moderator_role_id=o.get("moderator_role"),
            allowed_channel_ids=tuple(o.get("allowed_channels", ())),
            starting=int(o.get("starting_credits", s.credits.starting)),
            daily=int(o.get("daily_credits", s.credits.daily)),
            per_member_per_minute=int(o.get("rate_limit", s.limits.per_member_per_minute)),
            per_member_running=int(o.get("concurrent_jobs", s.limits.per_member_running)),
            per_member_queued=int(o.get("queued_jobs", s.limits.per_member_queued)),
            cache_hit_cost=int(o.get("cache_hit_cost", s.credits.cache_hit_cost)),
            overrides=dict(o),
        )

    async def set(self, guild: str, key: str, value: Any, actor: str) -> str:
        """Apply one setting at once and log who changed it; returns a confirmation."""
        key = key.strip().lower().replace("-", "_") if not key.startswith("tool.") else key.strip()
        parsed = parse_value(key, value)
        old = self._overrides.get(guild, {}).get(key)
        now = time.time()
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO guild_settings (guild_id, key, value, updated_by, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, key) DO UPDATE SET "
                "value = excluded.value, updated_by = excluded.updated_by, "
                "updated_at = excluded.updated_at",
                (guild, key, json.dumps(parsed), actor, now),
            )
            conn.execute(
                "INSERT INTO config_log (guild_id, key, old_value, new_value, actor_id, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (guild, key, json.dumps(old) if old is not None else None, json.dumps(parsed),
                 actor, now),
            )

        await self.db.run_tx(write)
        self._overrides.setdefault(guild, {})[key] = parsed
        return f"`{key}` is now {_show(parsed)}."

    async def show(self, guild: str) -> dict[str, Any]:
        g = self.effective_now(guild)
        out: dict[str, Any] = {}
        for t, tc in g.tools.items():
            out[f"tool.{t}.enabled"] = tc.enabled
            out[f"tool.{t}.cost"] = tc.cost
        out.update(
            moderator_role=g.moderator_role_id, allowed_channels=list(g.allowed_channel_ids),
            starting_credits=g.starting, daily_credits=g.daily,
            rate_limit=g.per_member_per_minute, concurrent_jobs=g.per_member_running,
            queued_jobs=g.per_member_queued, cache_hit_cost=g.cache_hit_cost,
        )
        return out

    async def log(self, guild: str, limit: int = 20) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT key, old_value, new_value, actor_id, at FROM config_log WHERE guild_id = ? "
            "ORDER BY id DESC LIMIT ?",
            (guild, limit),
        )
        return [dict(r) for r in rows]


def _show(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ", ".join(value) if value else "all channels"
    return str(value)
