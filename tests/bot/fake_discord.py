"""A fake Discord for driving the real discord.py client over real sockets.

One aiohttp server plays three parts:

* the gateway (``/gateway``): HELLO, IDENTIFY -> READY + GUILD_CREATE,
  heartbeats -> ACK, RESUME -> RESUMED, and INTERACTION_CREATE dispatches;
  sharded sessions (IDENTIFY with ``shard: [id, count]``) get only their guilds
  (``(guild_id >> 22) % count``), and a guild's interactions go to its shard's
  socket (DMs to shard 0); ``identify_log`` records when each shard identified;
* the REST API under ``/api/v10``: the routes the bot uses (login, command
  sync, interaction callbacks, webhook followups and edits, channel messages),
  JSON or multipart (``payload_json`` + ``files[i]``);
* a CDN (``/cdn/...``) serving attachments that tests upload.

It imitates the Discord behaviours that trip bots up: a callback later than
``ack_deadline_s`` gets 404 Unknown interaction, a second callback gets 400,
the first followup after a deferred ("thinking") response *replaces* that
message and keeps its visibility, webhook tokens expire after
``token_ttl_s``, and JSON bodies carry Content-Type exactly ``application/json``.

Every request is recorded with a timestamp. Routes it does not know are
recorded in ``unknown_routes`` (tests assert the list is empty at teardown).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

from tests.bot.fake_models import (
    ADMIN_PERMISSIONS,
    DISCORD_EPOCH_MS,
    EPHEMERAL,
    LOADING,
    MANAGE_GUILD,
    MEMBER_PERMISSIONS,
    OPTION_ATTACHMENT,
    OPTION_CHANNEL,
    OPTION_ROLE,
    OPTION_SUB_COMMAND,
    OPTION_SUB_COMMAND_GROUP,
    OPTION_USER,
    Callback,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    FakeMessage,
    FakeRole,
    SentBody,
    iso,
)
from tests.bot.fake_rest import RestRoutes

__all__ = [
    "ADMIN_PERMISSIONS",
    "EPHEMERAL",
    "LOADING",
    "MANAGE_GUILD",
    "MEMBER_PERMISSIONS",
    "Callback",
    "FakeAttachment",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeInteraction",
    "FakeMember",
    "FakeMessage",
    "FakeRole",
    "SentBody",
]

T = TypeVar("T")


class FakeDiscord(RestRoutes):
    """See the module docstring. Use as ``async with FakeDiscord() as fake:``."""

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        heartbeat_interval_ms: int = 41250,
        ack_deadline_s: float = 3.0,
        token_ttl_s: float = 15 * 60,
        attachment_size_limit: int = 10 * 1024 * 1024,
    ) -> None:
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.ack_deadline_s = ack_deadline_s
        self.token_ttl_s = token_ttl_s
        self.attachment_size_limit = attachment_size_limit
        self._ids = itertools.count(1)
        self.app_id = self.snowflake()
        self.bot_user = {
            "id": self.app_id,
            "username": "Luneo",
            "global_name": "Luneo",
            "discriminator": "0",
            "avatar": None,
            "bot": True,
            "flags": 0,
            "verified": True,
            "mfa_enabled": False,
        }
        self.guilds: dict[str, FakeGuild] = {}
        self.interactions: dict[str, FakeInteraction] = {}  # by token
        self.messages: dict[str, FakeMessage] = {}
        self.attachments: dict[str, FakeAttachment] = {}
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[tuple[float, str, str]] = []
        self.sent: list[SentBody] = []  # message create/edit bodies, as the bot sent them
        self.dm_channels: dict[str, FakeChannel] = {}  # by member id
        self.unknown_routes: list[str] = []
        self.late_acks: list[str] = []
        self.rejected: list[str] = []  # callbacks/webhook calls the fake refused (for debugging)
        self.identifies: list[dict[str, Any]] = []
        self.identify_log: list[tuple[float, int, int]] = []  # (monotonic s, shard id, count)
        self.shard_count = 1  # of the sessions identified so far
        self.shard_sockets: dict[int, web.WebSocketResponse] = {}
        self.resumes: list[dict[str, Any]] = []
        self.heartbeats: list[float] = []
        self.heartbeat_acks = 0
        self._ws: web.WebSocketResponse | None = None
        self._ws_ready = asyncio.Event()
        self._seq = 0
        self._session_id = "fake-session"
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._app = self._build_app()

    # -- lifecycle ---------------------------------------------------------

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def snowflake(self) -> str:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return str((ms << 22) | (next(self._ids) & 0x3FFFFF))

    def _touch(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], T], within: float = 10.0) -> T:
        """Wait until ``predicate()`` is truthy; return its value."""
        deadline = time.monotonic() + within
        while True:
            value = predicate()
            if value:
                return value
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"condition not met within {within:.1f} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    # -- world building ------------------------------------------------------

    def add_guild(self, name: str = "Test Server", *, shard: tuple[int, int] | None = None
                  ) -> FakeGuild:
        """A guild; `shard=(id, count)` picks an id that Discord routes to that shard."""
        gid = self.snowflake()
        if shard is not None:
            ms, low = int(gid) >> 22, int(gid) & 0x3FFFFF
            ms += (shard[0] - ms) % shard[1]
            gid = str((ms << 22) | low)
        guild = FakeGuild(id=gid, name=name, owner_id="1")
        guild.roles.append(FakeRole(id=gid, name="@everyone", permissions=MEMBER_PERMISSIONS))
        self.guilds[gid] = guild
        return guild

    def add_role(self, guild: FakeGuild, name: str, permissions: int = 0) -> FakeRole:
        role = FakeRole(id=self.snowflake(), name=name, permissions=permissions)
        guild.roles.append(role)
        return role

    def add_channel(self, guild: FakeGuild, name: str) -> FakeChannel:
        channel = FakeChannel(id=self.snowflake(), name=name, guild_id=guild.id)
        guild.channels.append(channel)
        return channel

    def add_member(
        self,
        guild: FakeGuild,
        name: str,
        *,
        roles: list[FakeRole] | None = None,
        permissions: int = MEMBER_PERMISSIONS,
    ) -> FakeMember:
        member = FakeMember(
            id=self.snowflake(),
            name=name,
            roles=[r.id for r in roles or []],
            permissions=permissions,
        )
        guild.members.append(member)
        return member

    def upload(
        self,
        filename: str,
        data: bytes,
        content_type: str | None = "image/png",
        *,
        host: str | None = None,
    ) -> FakeAttachment:
        """Put a file on the fake CDN; pass the result as an attachment option."""
        aid = self.snowflake()
        base = f"http://127.0.0.1:{self.port}" if host is None else f"https://{host}"
        att = FakeAttachment(
            aid, filename, data, content_type, f"{base}/cdn/attachments/{aid}/{filename}"
        )
        self.attachments[aid] = att
        return att

    # -- sending interactions -----------------------------------------------

    def command(self, name: str, guild_id: str | None = None) -> dict[str, Any]:
        """A synced command by top-level name (guild commands first)."""
        pools = ([self.guild_commands.get(guild_id, [])] if guild_id else []) + [
            self.global_commands
        ]
        for pool in pools:
            for cmd in pool:
                if cmd["name"] == name:
                    return cmd
        raise AssertionError(f"/{name} was not synced")

    def all_commands(self) -> list[dict[str, Any]]:
        out = list(self.global_commands)
        for cmds in self.guild_commands.values():
            out += cmds
        return out

    async def slash(
        self,
        command: str,
        options: dict[str, Any] | None = None,
        *,
        member: FakeMember,
        channel: FakeChannel,
        attachment_size_limit: int | None = None,
    ) -> FakeInteraction:
        """Send ``/command [sub [subsub]]`` with options, as ``member`` in ``channel``."""
        names = command.split()
        guild = self.guilds[channel.guild_id]
        cmd = self.command(names[0], guild.id)
        resolved: dict[str, dict[str, Any]] = {}
        spec: dict[str, Any] = cmd
        path: list[dict[str, Any]] = []
        for sub in names[1:]:
            spec = next((o for o in spec.get("options", []) if o["name"] == sub), {})
            if spec.get("type") not in (OPTION_SUB_COMMAND, OPTION_SUB_COMMAND_GROUP):
                raise AssertionError(f"/{command}: no subcommand {sub!r}")
            path.append({"name": sub, "type": spec["type"]})
        opts = self._options(spec, options or {}, resolved, guild)
        for node in reversed(path):
            opts = [{**node, "options": opts}]
        data: dict[str, Any] = {"id": cmd["id"], "name": cmd["name"], "type": 1, "options": opts}
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return await self._send_interaction(2, data, member, channel, attachment_size_limit)

    def _options(
        self,
        spec: dict[str, Any],
        values: dict[str, Any],
        resolved: dict[str, dict[str, Any]],
        guild: FakeGuild,
    ) -> list[dict[str, Any]]:
        known = {o["name"]: o for o in spec.get("options", [])}
        out = []
        for name, value in values.items():
            if name not in known:
                raise AssertionError(
                    f"/{spec['name']} has no option {name!r} (has {sorted(known)})"
                )
            otype = known[name]["type"]
            wire = value
            if otype == OPTION_ATTACHMENT:
                assert isinstance(value, FakeAttachment)
                resolved.setdefault("attachments", {})[value.id] = value.payload()
                wire = value.id
            elif otype == OPTION_USER:
                assert isinstance(value, FakeMember)
                resolved.setdefault("users", {})[value.id] = value.user_payload()
                resolved.setdefault("members", {})[value.id] = value.member_payload(with_user=False)
                wire = value.id
            elif otype == OPTION_ROLE:
                role = value
                assert isinstance(role, FakeRole)
                resolved.setdefault("roles", {})[role.id] = role.payload(1)
                wire = role.id
            elif otype == OPTION_CHANNEL:
                assert isinstance(value, FakeChannel)
                resolved.setdefault("channels", {})[value.id] = {
                    "id": value.id,
                    "type": 0,
                    "name": value.name,
                    "permissions": str(ADMIN_PERMISSIONS),
                }
                wire = value.id
            out.append({"name": name, "type": otype, "value": wire})
        return out

    async def click(
        self, message: FakeMessage, custom_id: str, *, member: FakeMember, in_dm: bool = False
    ) -> FakeInteraction:
        """Click the button ``custom_id`` on ``message`` as ``member``.

        ``in_dm=True`` sends the click as Discord would from outside any server
        (a DM with the bot): no ``guild_id``, no ``member``, only ``user``.
        """
        if custom_id not in message.custom_ids:
            raise AssertionError(f"no button {custom_id!r} on message (has {message.custom_ids})")
        channel = self.dm_channel(member) if in_dm else self._channel(message.channel_id)
        data = {"custom_id": custom_id, "component_type": 2}
        return await self._send_interaction(3, data, member, channel, None, message=message)

    def dm_channel(self, member: FakeMember) -> FakeChannel:
        """The DM channel between the bot and ``member`` (created on first use)."""
        if member.id not in self.dm_channels:
            self.dm_channels[member.id] = FakeChannel(
                id=self.snowflake(), name="", guild_id=None, recipient=member
            )
        return self.dm_channels[member.id]

    def _channel(self, channel_id: str) -> FakeChannel:
        for g in self.guilds.values():
            for c in g.channels:
                if c.id == channel_id:
                    return c
        for c in self.dm_channels.values():
            if c.id == channel_id:
                return c
        raise AssertionError(f"unknown channel {channel_id}")

    async def _send_interaction(
        self,
        itype: int,
        data: dict[str, Any],
        member: FakeMember,
        channel: FakeChannel,
        attachment_size_limit: int | None,
        message: FakeMessage | None = None,
    ) -> FakeInteraction:
        ws = await self._connected(channel.guild_id)
        iid, token = self.snowflake(), f"itoken-{next(self._ids)}"
        payload: dict[str, Any] = {
            "id": iid,
            "application_id": self.app_id,
            "type": itype,
            "data": data,
            "guild_id": channel.guild_id,
            "guild": {"id": channel.guild_id, "locale": "en-US", "features": []},
            "channel_id": channel.id,
            "channel": {**channel.payload(), "permissions": str(member.permissions)},
            "member": member.member_payload(),
            "token": token,
            "version": 1,
            "app_permissions": str(ADMIN_PERMISSIONS),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": channel.guild_id},
            "context": 0,
            "attachment_size_limit": attachment_size_limit or self.attachment_size_limit,
        }
        if channel.guild_id is None:  # a DM: Discord sends `user`, no server, no member
            for key in ("guild_id", "guild", "member", "guild_locale"):
                del payload[key]
            payload["user"] = member.user_payload()
            payload["channel"] = channel.payload()
            payload["authorizing_integration_owners"] = {"1": member.id}
            payload["context"] = 1
        if message is not None:
            payload["message"] = self._message_payload(message)
        ix = FakeInteraction(iid, token, itype, member, channel.id, payload, time.monotonic())
        self.interactions[token] = ix
        await self._dispatch(ws, "INTERACTION_CREATE", payload)
        return ix

    async def wait_ack(self, ix: FakeInteraction, within: float = 5.0) -> Callback:
        return await self.wait_for(lambda: ix.callbacks and ix.callbacks[0], within)

    async def wait_message(
        self,
        predicate: Callable[[FakeMessage], bool],
        within: float = 10.0,
        *,
        include_deleted: bool = False,
    ) -> FakeMessage:
        """Wait for a message (created or edited so far) matching ``predicate``."""

        def find() -> FakeMessage | None:
            for m in list(self.messages.values()):
                if (include_deleted or not m.deleted) and predicate(m):
                    return m
            return None

        return await self.wait_for(find, within)

    def messages_of(self, ix: FakeInteraction) -> list[FakeMessage]:
        return [self.messages[i] for i in ix.message_ids]

    async def reply_to(
        self,
        ix: FakeInteraction,
        predicate: Callable[[FakeMessage], bool] | None = None,
        within: float = 10.0,
    ) -> FakeMessage:
        """Wait for a non-loading message of this interaction matching ``predicate``."""

        def find() -> FakeMessage | None:
            for m in self.messages_of(ix):
                if not m.loading and not m.deleted and (predicate is None or predicate(m)):
                    return m
            return None

        return await self.wait_for(find, within)

    # -- gateway ---------------------------------------------------------------

    def shard_of(self, guild_id: str | None) -> int:
        """The shard that gets `guild_id`'s events (DMs: shard 0)."""
        return (int(guild_id) >> 22) % self.shard_count if guild_id else 0

    async def _connected(self, guild_id: str | None = None) -> web.WebSocketResponse:
        if self.shard_count > 1:  # the socket of the guild's shard
            shard = self.shard_of(guild_id)
            return await self.wait_for(
                lambda: (ws := self.shard_sockets.get(shard)) is not None and not ws.closed
                and ws)
        await asyncio.wait_for(self._ws_ready.wait(), 10)
        assert self._ws is not None
        return self._ws

    async def _dispatch(self, ws: web.WebSocketResponse, event: str, data: dict[str, Any]) -> None:
        self._seq += 1
        await ws.send_str(json.dumps({"op": 0, "t": event, "s": self._seq, "d": data}))

    async def force_reconnect(self) -> None:
        """Send op 7 RECONNECT; the client is expected to RESUME."""
        ws = await self._connected()
        self._ws_ready.clear()
        await ws.send_str(json.dumps({"op": 7, "d": None}))

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.requests.append((time.monotonic(), "WS", request.path_qs))
        await ws.send_str(
            json.dumps({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        )
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            op = frame.get("op")
            if op == 1:
                self.heartbeats.append(time.monotonic())
                await ws.send_str(json.dumps({"op": 11}))
                self.heartbeat_acks += 1
            elif op == 2:
                await self._identify(ws, frame["d"])
            elif op == 6:
                self.resumes.append(frame["d"])
                self._ws = ws
                await self._dispatch(ws, "RESUMED", {})
                self._ws_ready.set()
            self._touch()
        if self._ws is ws:
            self._ws_ready.clear()
        return ws

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        if data.get("token") != self.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        self.identifies.append(data)
        shard_id, self.shard_count = data.get("shard") or (0, 1)
        self.identify_log.append((time.monotonic(), shard_id, self.shard_count))
        self.shard_sockets[shard_id] = ws
        guilds = [g for gid, g in self.guilds.items() if self.shard_of(gid) == shard_id]
        self._ws = ws
        self._seq = 0
        ready = {
            "v": 10,
            "user": self.bot_user,
            "guilds": [{"id": g.id, "unavailable": True} for g in guilds],
            "session_id": self._session_id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": self.app_id, "flags": 0},
            "private_channels": [],
            "relationships": [],
        }
        if self.shard_count > 1:
            ready["shard"] = [shard_id, self.shard_count]
        await self._dispatch(ws, "READY", ready)
        bot_member = {
            "user": self.bot_user,
            "roles": [],
            "joined_at": iso(time.time()),
            "deaf": False,
            "mute": False,
            "flags": 0,
        }
        for guild in guilds:
            await self._dispatch(ws, "GUILD_CREATE", guild.payload(bot_member))
        self._ws_ready.set()
