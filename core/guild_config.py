"""Per-server configuration set by admins (PRODUCT.md §3).

Every per-server setting is declared once, in `SETTINGS` (Red's
`Config.register_guild` is the model): its name, its kind (how a typed value is
parsed and how a value is shown), its range and where its bot-wide default comes
from in config.toml. `/config set` choices and parsing, `/config show` and the
effective settings the engine reads are all derived from it, so a setting has one
name everywhere: in `/config`, in the database and as a `GuildSettings` field.

A server's overrides are rows in `guild_settings`, applied at once, each change
written to `config_log` with who made it. All rows are small, so they are cached
in memory at start. Values are plain ids and words: the bot turns Discord
mentions into ids before they reach this module.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from core.config import Settings
from core.errors import InvalidInput
from core.storage.db import Connection, Database
from core.tools.base import TOOLS

Default = Callable[[Settings], Any]


@dataclass(frozen=True)
class GuildSetting:
    """One per-server setting: `/config` name, bot-wide default, what it means."""

    name: str
    default: Default  # the config.toml value it overrides
    what: str  # one line for admins

    def parse(self, value: Any) -> Any:
        """A typed value -> the value stored; InvalidInput names the setting."""
        raise NotImplementedError

    def show(self, value: Any) -> str:
        """A value as plain text."""
        return str(value)

    def load(self, stored: Any) -> Any:
        """A stored JSON value -> the effective value."""
        return stored

    def _invalid(self, why: str) -> InvalidInput:
        return InvalidInput(f"Invalid `{self.name}`: {why}", field=self.name)


@dataclass(frozen=True)
class Whole(GuildSetting):
    """A whole number in `lo..hi`."""

    lo: int = 0
    hi: int = 0

    def parse(self, value: Any) -> int:
        """The text or number given -> an int in `lo..hi`; InvalidInput otherwise."""
        try:
            n = int(str(value).strip())
        except ValueError:
            raise self._invalid(f"{value!r} is not a whole number.") from None
        if not self.lo <= n <= self.hi:
            raise self._invalid(f"must be between {self.lo} and {self.hi}.")
        return n

    def load(self, stored: Any) -> int:
        """The stored JSON value as an int."""
        return int(stored)


_ON = ("true", "on", "yes", "1", "enabled", "enable")
_OFF = ("false", "off", "no", "0", "disabled", "disable")


@dataclass(frozen=True)
class Switch(GuildSetting):
    """On or off."""

    def parse(self, value: Any) -> bool:
        """on/off, true/false, yes/no, 1/0, enabled/disabled -> a bool; InvalidInput otherwise."""
        s = str(value).strip().lower()
        if s in _ON or s in _OFF:
            return s in _ON
        raise self._invalid("say on or off.")

    def show(self, value: Any) -> str:
        """"on" or "off"."""
        return "on" if value else "off"

    def load(self, stored: Any) -> bool:
        """The stored JSON value as a bool."""
        return bool(stored)


def _ids(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value]
    return [p for p in str(value).replace(",", " ").split() if p]


@dataclass(frozen=True)
class RoleId(GuildSetting):
    """One role id, or none."""

    unset: str = "none"

    def parse(self, value: Any) -> str | None:
        """One numeric role id, or None for "none"/"off"/empty; InvalidInput otherwise."""
        items = [] if str(value).strip().lower() in ("", "none", "off") else _ids(value)
        for item in items:
            if not item.isdigit():
                raise self._invalid(f"{item!r} is not a role id.")
        return items[0] if items else None

    def show(self, value: Any) -> str:
        """The role id, or `unset` when there is none."""
        return str(value) if value else self.unset


@dataclass(frozen=True)
class ChannelIds(GuildSetting):
    """Channel ids; none means every channel."""

    unset: str = "all channels"

    def parse(self, value: Any) -> list[str]:
        """Numeric channel ids (comma or space separated); [] for "all"/"none"/empty."""
        if str(value).strip().lower() in ("", "all", "none", "any"):
            return []
        items = _ids(value)
        for item in items:
            if not item.isdigit():
                raise self._invalid(f"{item!r} is not a channel id.")
        return items

    def show(self, value: Any) -> str:
        """The ids comma separated, or `unset` (every channel) when there are none."""
        return ", ".join(value) if value else self.unset

    def load(self, stored: Any) -> tuple[str, ...]:
        """The stored JSON list as a tuple of id strings."""
        return tuple(str(c) for c in stored)


def _tool_settings(tool: str) -> tuple[GuildSetting, ...]:
    return (
        Switch(f"tool.{tool}.enabled", lambda s: s.tool(tool).enabled,
               f"whether /{TOOLS[tool].command} may be used here"),
        Whole(f"tool.{tool}.cost", lambda s: s.tool_cost(tool),
              f"credits one /{TOOLS[tool].command} run costs", 0, 10_000),
    )


SETTINGS: dict[str, GuildSetting] = {
    s.name: s
    for s in (
        *(ts for tool in TOOLS for ts in _tool_settings(tool)),
        RoleId("moderator_role", lambda s: None,
               "the role whose members may grant and revoke credits",
               unset="none (Manage Server only)"),
        ChannelIds("allowed_channels", lambda s: (), "the channels tools may be used in"),
        Whole("starting_credits", lambda s: s.credits.starting,
              "credits a new member starts with", 0, 1_000_000),
        Whole("daily_credits", lambda s: s.credits.daily,
              "credits /credits daily adds", 0, 1_000_000),
        Whole("per_member_per_minute", lambda s: s.limits.per_member_per_minute,
              "tool runs one member may start per minute", 1, 1000),
        Whole("per_member_running", lambda s: s.limits.per_member_running,
              "jobs one member may have running at once", 1, 20),
        Whole("per_member_queued", lambda s: s.limits.per_member_queued,
              "jobs one member may have waiting", 0, 50),
        Whole("cache_hit_cost", lambda s: s.credits.cache_hit_cost,
              "what a result already made for the same inputs costs", 0, 10_000),
    )
}

# names these settings were stored under before they took their config.toml names;
# rows under them still load, and are replaced the next time the setting is set
RENAMED = {
    "rate_limit": "per_member_per_minute",
    "concurrent_jobs": "per_member_running",
    "queued_jobs": "per_member_queued",
}


@dataclass(frozen=True)
class ToolConfig:
    """One tool's effective setting on a server: switched on, and its cost in credits."""

    enabled: bool
    cost: int


@dataclass(frozen=True)
class GuildSettings:
    """A server's effective settings: one field per entry of `SETTINGS` (tools grouped)."""

    tools: dict[str, ToolConfig]
    moderator_role: str | None
    allowed_channels: tuple[str, ...]
    starting_credits: int
    daily_credits: int
    per_member_per_minute: int
    per_member_running: int
    per_member_queued: int
    cache_hit_cost: int
    overrides: dict[str, Any] = field(default_factory=dict)


def config_keys() -> list[str]:
    """Every `/config set` name, in the order `/config show` lists them."""
    return list(SETTINGS)


def setting(key: str) -> GuildSetting:
    """The setting `/config set` names (old names included); InvalidInput if none."""
    name = key.strip()
    if not name.startswith("tool."):
        name = name.lower().replace("-", "_")
    found = SETTINGS.get(RENAMED.get(name, name))
    if found is None:
        raise InvalidInput(f"Unknown setting `{key}`; known: {', '.join(SETTINGS)}.",
                           field="key")
    return found


def parse_value(key: str, value: Any) -> Any:
    """Validate one `/config set` value; InvalidInput names the key as typed."""
    s = setting(key)
    try:
        return s.parse(value)
    except InvalidInput as exc:
        if key.strip() == s.name:
            raise
        raise InvalidInput(str(exc).replace(f"`{s.name}`", f"`{key.strip()}`", 1),
                           field=exc.field) from None


def _effective(settings: Settings, overrides: dict[str, Any]) -> GuildSettings:
    values = {
        name: s.load(overrides[name]) if name in overrides else s.default(settings)
        for name, s in SETTINGS.items()
    }
    tools = {
        t: ToolConfig(enabled=values.pop(f"tool.{t}.enabled"), cost=values.pop(f"tool.{t}.cost"))
        for t in TOOLS
    }
    return GuildSettings(tools=tools, overrides=dict(overrides), **values)


class GuildConfig:
    """Per-server overrides of config.toml, kept in the database and cached in memory."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._overrides: dict[str, dict[str, Any]] = {}
        self._effective: dict[str, GuildSettings] = {}

    async def load(self) -> None:
        """Read every server's overrides from the database (at startup); clears the cache."""
        rows = await self.db.fetchall("SELECT guild_id, key, value FROM guild_settings")
        self._overrides = _overrides(rows)
        self._effective = {}

    def effective_now(self, guild: str) -> GuildSettings:
        """Defaults from config.toml with this server's overrides applied (no I/O)."""
        found = self._effective.get(guild)
        if found is None:
            found = _effective(self.settings, self._overrides.get(guild, {}))
            self._effective[guild] = found
        return found

    async def set(self, guild: str, key: str, value: Any, actor: str) -> Any:
        """Apply one setting at once and log who changed it; returns the value stored."""
        name = setting(key).name
        parsed = parse_value(key, value)
        old = self._overrides.get(guild, {}).get(name)
        now = time.time()
        old_names = [k for k, v in RENAMED.items() if v == name]

        def tx(conn: Connection) -> None:
            conn.execute(
                "INSERT INTO guild_settings (guild_id, key, value, updated_by, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, key) DO UPDATE SET "
                "value = excluded.value, updated_by = excluded.updated_by, "
                "updated_at = excluded.updated_at",
                (guild, name, json.dumps(parsed), actor, now),
            )
            for old_name in old_names:
                conn.execute("DELETE FROM guild_settings WHERE guild_id = ? AND key = ?",
                             (guild, old_name))
            conn.execute(
                "INSERT INTO config_log (guild_id, key, old_value, new_value, actor_id, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (guild, name, json.dumps(old) if old is not None else None, json.dumps(parsed),
                 actor, now),
            )

        await self.db.run_tx(tx)
        self._overrides.setdefault(guild, {})[name] = parsed
        self._effective.pop(guild, None)
        return SETTINGS[name].load(parsed)

    async def show(self, guild: str) -> dict[str, Any]:
        """Every setting's effective value, by name, in `config_keys()` order."""
        g = self.effective_now(guild)
        out: dict[str, Any] = {}
        for name in SETTINGS:
            parts = name.split(".")
            if parts[0] == "tool":
                out[name] = getattr(g.tools[parts[1]], parts[2])
            else:
                out[name] = getattr(g, name)
        return out

    async def log(self, guild: str, limit: int = 20) -> list[dict[str, Any]]:
        """The server's last `limit` setting changes, newest first: key, old and new value, actor,
        time."""
        rows = await self.db.fetchall(
            "SELECT key, old_value, new_value, actor_id, at FROM config_log WHERE guild_id = ? "
            "ORDER BY id DESC LIMIT ?",
            (guild, limit),
        )
        return [dict(r) for r in rows]


def _overrides(rows: Iterable[Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for guild, key, value in rows:
        o = out.setdefault(str(guild), {})
        if key in RENAMED:  # an older row never replaces one under the current name
            o.setdefault(RENAMED[key], json.loads(value))
        elif key in SETTINGS:
            o[str(key)] = json.loads(value)
    return out
