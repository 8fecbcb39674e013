"""The fake Discord's world: members, channels, roles, guilds, attachments, and
the messages and interactions it records (with timestamps) for assertions."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1420070400000
EPHEMERAL = 1 << 6
LOADING = 1 << 7
MANAGE_GUILD = 1 << 5
# VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY | USE_APPLICATION_COMMANDS
MEMBER_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16) | (1 << 31)
ADMIN_PERMISSIONS = MEMBER_PERMISSIONS | MANAGE_GUILD

OPTION_SUB_COMMAND = 1
OPTION_SUB_COMMAND_GROUP = 2
OPTION_USER = 6
OPTION_CHANNEL = 7
OPTION_ROLE = 8
OPTION_ATTACHMENT = 11


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + "+00:00"


@dataclass
class FakeMember:
    id: str
    name: str
    roles: list[str] = field(default_factory=list)
    permissions: int = MEMBER_PERMISSIONS

    def user_payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.name,
            "global_name": self.name.title(),
            "discriminator": "0",
            "avatar": None,
            "bot": False,
        }

    def member_payload(self, *, with_user: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": list(self.roles),
            "joined_at": iso(time.time() - 86400),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "nick": None,
            "avatar": None,
            "pending": False,
            "permissions": str(self.permissions),
        }
        if with_user:
            data["user"] = self.user_payload()
        return data

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass
class FakeChannel:
    id: str
    name: str
    guild_id: str | None  # None: a DM channel with `recipient`
    recipient: FakeMember | None = None

    def payload(self) -> dict[str, Any]:
        if self.guild_id is None:
            assert self.recipient is not None
            return {
                "id": self.id,
                "type": 1,
                "last_message_id": None,
                "recipients": [self.recipient.user_payload()],
                "flags": 0,
            }
        return {
            "id": self.id,
            "type": 0,
            "guild_id": self.guild_id,
            "name": self.name,
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }


@dataclass
class FakeRole:
    id: str
    name: str
    permissions: int = 0

    def payload(self, position: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": position,
            "permissions": str(self.permissions),
            "managed": False,
            "mentionable": True,
            "flags": 0,
        }


@dataclass
class FakeGuild:
    id: str
    name: str
    owner_id: str
    roles: list[FakeRole] = field(default_factory=list)
    channels: list[FakeChannel] = field(default_factory=list)
    members: list[FakeMember] = field(default_factory=list)

    def payload(self, bot_member: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "icon": None,
            "owner_id": self.owner_id,
            "unavailable": False,
            "member_count": len(self.members) + 1,
            "large": False,
            "features": [],
            "premium_tier": 0,
            "roles": [r.payload(i) for i, r in enumerate(self.roles)],
            "channels": [c.payload() for c in self.channels],
            "members": [m.member_payload() for m in self.members] + [bot_member],
            "threads": [],
            "emojis": [],
            "stickers": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "joined_at": iso(time.time() - 3600),
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "system_channel_flags": 0,
            "preferred_locale": "en-US",
        }


@dataclass
class FakeAttachment:
    """A file a member attaches to a slash command (served by the fake CDN)."""

    id: str
    filename: str
    data: bytes
    content_type: str | None
    url: str

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "filename": self.filename,
            "size": len(self.data),
            "url": self.url,
            "proxy_url": self.url,
        }
        if self.content_type:
            out["content_type"] = self.content_type
        return out


@dataclass
class FakeMessage:
    """A message the bot created (interaction response, followup or channel message)."""

    id: str
    channel_id: str
    kind: str  # "original" | "followup" | "channel"
    created_at: float
    data: dict[str, Any]
    # attachment id -> (file name, bytes)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    token: str | None = None
    deleted_at: float | None = None
    edits: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    @property
    def content(self) -> str:
        return self.data.get("content") or ""

    @property
    def flags(self) -> int:
        return int(self.data.get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & LOADING)

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return list(self.data.get("embeds") or [])

    @property
    def text(self) -> str:
        """Content plus every embed's visible text, for assertions."""
        parts = [self.content]
        for e in self.embeds:
            parts += [e.get("title") or "", e.get("description") or ""]
            parts += [f"{f.get('name')}: {f.get('value')}" for f in e.get("fields") or []]
            parts.append((e.get("footer") or {}).get("text") or "")
        return "\n".join(p for p in parts if p)

    @property
    def custom_ids(self) -> list[str]:
        out: list[str] = []

        def walk(components: list[dict[str, Any]]) -> None:
            for c in components:
                if "custom_id" in c:
                    out.append(c["custom_id"])
                walk(c.get("components") or [])

        walk(self.data.get("components") or [])
        return out

    @property
    def attachments(self) -> list[tuple[str, bytes]]:
        return list(self.files.values())


@dataclass
class SentBody:
    """One request body the bot sent that creates or edits a message.

    `kind`: "callback" (interaction response; `message` is its `data`),
    "followup", "webhook_edit", "channel_send" or "channel_edit". `message`
    is the message payload as sent (JSON body or multipart `payload_json`).
    """

    at: float
    kind: str
    method: str
    path: str
    message: dict[str, Any]
    callback_type: int | None = None
    file_names: list[str] = field(default_factory=list)


@dataclass
class Callback:
    at: float
    type: int
    data: dict[str, Any]


@dataclass
class FakeInteraction:
    """One interaction the fake sent, and everything the bot answered to it."""

    id: str
    token: str
    type: int
    member: FakeMember
    channel_id: str
    payload: dict[str, Any]
    sent_at: float
    callbacks: list[Callback] = field(default_factory=list)
    original_id: str | None = None
    message_ids: list[str] = field(default_factory=list)  # original + followups, in order

    @property
    def acked(self) -> bool:
        return bool(self.callbacks)

    @property
    def defer_latency(self) -> float | None:
        """Seconds from INTERACTION_CREATE sent to the first callback received."""
        return self.callbacks[0].at - self.sent_at if self.callbacks else None
