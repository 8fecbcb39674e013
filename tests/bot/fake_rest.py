"""The fake Discord's REST API and CDN (a mixin of `FakeDiscord`).

Routes: login (`users/@me`, `oauth2/applications/@me`), command sync (global
and per server), interaction callbacks (`?with_response=1`), webhook
followups (`?wait=1`), webhook message get/edit/delete, channel messages
(bot token), and the CDN. Bodies are JSON or multipart (`payload_json` +
`files[i]`); every body that creates or edits a message is recorded in
`sent` (`SentBody`), so tests can assert on what the bot asked for (e.g.
`allowed_mentions`). JSON responses carry Content-Type exactly
`application/json`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from tests.bot.fake_models import (
    EPHEMERAL,
    LOADING,
    Callback,
    FakeInteraction,
    FakeMessage,
    SentBody,
    iso,
)


def _json(data: Any, status: int = 200) -> web.Response:
    # discord.py parses JSON only when Content-Type is exactly application/json
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


class RestRoutes:
    """Request handlers. All state (guilds, interactions, messages, records) lives on
    `FakeDiscord`, which mixes this class in; `_gateway` is its websocket handler."""

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._record], client_max_size=64 * 1024 * 1024)
        r = app.router
        api = "/api/v10"
        r.add_get("/gateway", self._gateway)
        r.add_get("/cdn/attachments/{aid}/{filename}", self._cdn)
        r.add_get(api + "/users/@me", self._users_me)
        r.add_get(api + "/oauth2/applications/@me", self._app_info)
        r.add_put(api + "/applications/{app}/commands", self._sync_global)
        r.add_put(api + "/applications/{app}/guilds/{guild}/commands", self._sync_guild)
        r.add_post(api + "/interactions/{iid}/{token}/callback", self._callback)
        r.add_post(api + "/webhooks/{app}/{token}", self._followup)
        r.add_get(api + "/webhooks/{app}/{token}/messages/{mid}", self._webhook_get)
        r.add_patch(api + "/webhooks/{app}/{token}/messages/{mid}", self._webhook_edit)
        r.add_delete(api + "/webhooks/{app}/{token}/messages/{mid}", self._webhook_delete)
        r.add_post(api + "/channels/{cid}/messages", self._channel_send)
        r.add_patch(api + "/channels/{cid}/messages/{mid}", self._channel_edit)
        r.add_delete(api + "/channels/{cid}/messages/{mid}", self._channel_delete)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((time.monotonic(), request.method, request.path_qs))
        try:
            response = await handler(request)
        except web.HTTPNotFound:
            self.unknown_routes.append(f"{request.method} {request.path_qs}")
            self._touch()
            return _json({"message": "404: Not Found", "code": 0}, 404)
        except web.HTTPMethodNotAllowed:
            self.unknown_routes.append(f"{request.method} {request.path_qs}")
            self._touch()
            return _json({"message": "405: Method Not Allowed", "code": 0}, 405)
        self._touch()
        return response

    def _bot_auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bot {self.token}":
            return _json({"message": "401: Unauthorized", "code": 0}, 401)
        return None

    async def _cdn(self, request: web.Request) -> web.Response:
        att = self.attachments.get(request.match_info["aid"])
        if att is None:
            for m in self.messages.values():
                if request.match_info["aid"] in m.files:
                    _name, data = m.files[request.match_info["aid"]]
                    return web.Response(body=data, content_type="application/octet-stream")
            return web.Response(status=404)
        return web.Response(
            body=att.data, content_type=att.content_type or "application/octet-stream"
        )

    async def _users_me(self, request: web.Request) -> web.Response:
        return self._bot_auth(request) or _json(self.bot_user)

    async def _app_info(self, request: web.Request) -> web.Response:
        return self._bot_auth(request) or _json(
            {
                "id": self.app_id,
                "name": "Luneo",
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": 0,
                "team": None,
                "owner": {**self.bot_user, "id": "1", "username": "owner", "bot": False},
                "bot": self.bot_user,
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "approximate_guild_count": len(self.guilds),
            }
        )

    def _store_commands(
        self, commands: list[dict[str, Any]], guild_id: str | None
    ) -> list[dict[str, Any]]:
        out = []
        for c in commands:
            full = {**c, "id": self.snowflake(), "application_id": self.app_id, "version": "1"}
            if guild_id:
                full["guild_id"] = guild_id
            perms = full.get("default_member_permissions")
            full["default_member_permissions"] = None if perms is None else str(perms)
            full.setdefault("options", [])
            out.append(full)
        return out

    async def _sync_global(self, request: web.Request) -> web.Response:
        if (denied := self._bot_auth(request)) is not None:
            return denied
        self.global_commands = self._store_commands(await request.json(), None)
        return _json(self.global_commands)

    async def _sync_guild(self, request: web.Request) -> web.Response:
        if (denied := self._bot_auth(request)) is not None:
            return denied
        gid = request.match_info["guild"]
        self.guild_commands[gid] = self._store_commands(await request.json(), gid)
        return _json(self.guild_commands[gid])

    async def _read_body(
        self, request: web.Request, kind: str
    ) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
        """JSON body, or multipart payload_json + files[i] (in index order); recorded."""
        body, files = await self._parse_body(request)
        is_callback = kind == "callback"
        self.sent.append(
            SentBody(
                at=time.monotonic(),
                kind=kind,
                method=request.method,
                path=request.path,
                message=(body.get("data") or {}) if is_callback else body,
                callback_type=int(body["type"]) if is_callback else None,
                file_names=[name for name, _ in files],
            )
        )
        return body, files

    async def _parse_body(
        self, request: web.Request
    ) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
        if not request.content_type.startswith("multipart/"):
            text = await request.text()
            return (json.loads(text) if text else {}), []
        payload: dict[str, Any] = {}
        files: dict[int, tuple[str, bytes]] = {}
        reader = await request.multipart()
        async for part in reader:
            name = part.name or ""
            body = await part.read(decode=False)  # type: ignore[union-attr]
            if name == "payload_json":
                payload = json.loads(body)
            elif name.startswith("files["):
                files[int(name[6:-1])] = (part.filename or "file", bytes(body))  # type: ignore[union-attr]
            else:
                raise AssertionError(f"unexpected multipart field {name!r}")
        return payload, [files[i] for i in sorted(files)]

    def _apply(
        self, msg: FakeMessage, body: dict[str, Any], files: list[tuple[str, bytes]]
    ) -> None:
        """Apply a create/edit payload (content, embeds, components, attachments)."""
        for key in ("content", "embeds", "components"):
            if key in body:
                msg.data[key] = (
                    body[key] if body[key] is not None else ([] if key != "content" else "")
                )
        if "attachments" in body or files:
            keep: dict[str, tuple[str, bytes]] = {}
            new_names = {str(a.get("id")): a.get("filename") for a in body.get("attachments") or []}
            for a in body.get("attachments") or []:
                if str(a.get("id")) in msg.files:
                    keep[str(a["id"])] = msg.files[str(a["id"])]
            for i, (fname, data) in enumerate(files):
                keep[self.snowflake()] = (new_names.get(str(i)) or fname, data)
            msg.files = keep
        msg.data["attachments"] = [
            {
                "id": aid,
                "filename": name,
                "size": len(data),
                "url": f"http://127.0.0.1:{self.port}/cdn/attachments/{aid}/{name}",
                "proxy_url": f"http://127.0.0.1:{self.port}/cdn/attachments/{aid}/{name}",
                "content_type": _mime(name),
            }
            for aid, (name, data) in msg.files.items()
        ]
        # resolve attachment:// references in embeds like Discord does
        urls = {f"attachment://{a['filename']}": a["url"] for a in msg.data["attachments"]}
        for e in msg.data.get("embeds") or []:
            for slot in ("image", "thumbnail"):
                if isinstance(e.get(slot), dict) and e[slot].get("url") in urls:
                    e[slot]["url"] = urls[e[slot]["url"]]

    def _new_message(
        self, channel_id: str, kind: str, token: str | None, flags: int
    ) -> FakeMessage:
        mid = self.snowflake()
        ix = self.interactions.get(token or "")
        data: dict[str, Any] = {
            "id": mid,
            "channel_id": channel_id,
            "guild_id": self._channel(channel_id).guild_id,  # None in a DM
            "type": 20 if kind == "original" else 0,
            "content": "",
            "author": self.bot_user,
            "attachments": [],
            "embeds": [],
            "components": [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": iso(time.time()),
            "edited_timestamp": None,
            "flags": flags,
        }
        if token is not None:
            data["webhook_id"] = self.app_id
            data["application_id"] = self.app_id
            if ix is not None:
                data["interaction_metadata"] = {
                    "id": ix.id,
                    "type": ix.type,
                    "user": ix.member.user_payload(),
                    "authorizing_integration_owners": {"0": data["guild_id"]},
                }
        if data["guild_id"] is None:  # a DM: no server, authorised by the user
            del data["guild_id"]
            if "interaction_metadata" in data:
                data["interaction_metadata"]["authorizing_integration_owners"] = {"1": ix.member.id}  # type: ignore[union-attr]
        msg = FakeMessage(mid, channel_id, kind, time.monotonic(), data, token=token)
        self.messages[mid] = msg
        if ix is not None:
            ix.message_ids.append(mid)
        return msg

    def _message_payload(self, msg: FakeMessage) -> dict[str, Any]:
        return json.loads(json.dumps(msg.data))

    def _interaction(self, token: str) -> FakeInteraction | web.Response:
        ix = self.interactions.get(token)
        if ix is None:
            return _json({"message": "Unknown Webhook", "code": 10015}, 404)
        if time.monotonic() - ix.sent_at > self.token_ttl_s:
            self.rejected.append(f"expired token {token}")
            return _json({"message": "Invalid Webhook Token", "code": 50027}, 401)
        return ix

    async def _callback(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        ix = self.interactions.get(request.match_info["token"])
        if ix is None or ix.id != request.match_info["iid"]:
            return _json({"message": "Unknown interaction", "code": 10062}, 404)
        body, files = await self._read_body(request, "callback")
        if ix.callbacks:
            self.rejected.append(f"second callback for {ix.id}")
            return _json(
                {"message": "Interaction has already been acknowledged.", "code": 40060}, 400
            )
        if now - ix.sent_at > self.ack_deadline_s:
            self.late_acks.append(f"{ix.id}: {now - ix.sent_at:.2f}s")
            return _json({"message": "Unknown interaction", "code": 10062}, 404)
        if request.query.get("with_response") not in ("1", "true", "True"):
            raise AssertionError("callbacks must ask for with_response")
        ctype = int(body["type"])
        data = body.get("data") or {}
        ix.callbacks.append(Callback(now, ctype, data))
        resource: dict[str, Any] = {"type": ctype}
        flags = int(data.get("flags") or 0) & EPHEMERAL
        if ctype in (4, 5):
            msg = self._new_message(
                ix.channel_id, "original", ix.token, flags | (LOADING if ctype == 5 else 0)
            )
            ix.original_id = msg.id
            if ctype == 4:
                self._apply(msg, data, files)
            resource["message"] = self._message_payload(msg)
        elif ctype == 7:
            target = self.messages[ix.payload["message"]["id"]]
            target.edits.append((now, data))
            self._apply(target, data, files)
            resource["message"] = self._message_payload(target)
        elif ctype != 6:
            raise AssertionError(f"unsupported callback type {ctype}")
        return _json(
            {
                "interaction": {
                    "id": ix.id,
                    "type": ix.type,
                    "activity_instance_id": None,
                    "response_message_id": ix.original_id,
                    "response_message_loading": ctype == 5,
                    "response_message_ephemeral": bool(flags),
                },
                "resource": resource,
            }
        )

    async def _followup(self, request: web.Request) -> web.Response:
        found = self._interaction(request.match_info["token"])
        if isinstance(found, web.Response):
            return found
        ix = found
        if not ix.callbacks:
            return _json({"message": "Unknown Webhook", "code": 10015}, 404)
        body, files = await self._read_body(request, "followup")
        original = self.messages.get(ix.original_id or "")
        if original is not None and original.loading and not original.deleted:
            # Discord: the first followup after a deferred response replaces the
            # "thinking" message and keeps its visibility (ephemeral flag ignored).
            msg = original
            msg.data["flags"] = msg.flags & ~LOADING
            msg.edits.append((time.monotonic(), body))
        else:
            msg = self._new_message(
                ix.channel_id, "followup", ix.token, int(body.get("flags") or 0) & EPHEMERAL
            )
        self._apply(msg, body, files)
        if request.query.get("wait") not in ("1", "true", "True"):
            return web.Response(status=204)
        return _json(self._message_payload(msg))

    def _webhook_message(self, request: web.Request) -> FakeMessage | web.Response:
        found = self._interaction(request.match_info["token"])
        if isinstance(found, web.Response):
            return found
        mid = request.match_info["mid"]
        if mid == "@original":
            mid = found.original_id or ""
        msg = self.messages.get(mid)
        if msg is None or msg.deleted or msg.token != found.token:
            return _json({"message": "Unknown Message", "code": 10008}, 404)
        return msg

    async def _webhook_get(self, request: web.Request) -> web.Response:
        msg = self._webhook_message(request)
        return msg if isinstance(msg, web.Response) else _json(self._message_payload(msg))

    async def _webhook_edit(self, request: web.Request) -> web.Response:
        msg = self._webhook_message(request)
        if isinstance(msg, web.Response):
            return msg
        body, files = await self._read_body(request, "webhook_edit")
        msg.edits.append((time.monotonic(), body))
        msg.data["flags"] = msg.flags & ~LOADING
        msg.data["edited_timestamp"] = iso(time.time())
        self._apply(msg, body, files)
        return _json(self._message_payload(msg))

    async def _webhook_delete(self, request: web.Request) -> web.Response:
        msg = self._webhook_message(request)
        if isinstance(msg, web.Response):
            return msg
        msg.deleted_at = time.monotonic()
        return web.Response(status=204)

    async def _channel_send(self, request: web.Request) -> web.Response:
        if (denied := self._bot_auth(request)) is not None:
            return denied
        body, files = await self._read_body(request, "channel_send")
        msg = self._new_message(request.match_info["cid"], "channel", None, 0)
        self._apply(msg, body, files)
        return _json(self._message_payload(msg))

    def _channel_message(self, request: web.Request) -> FakeMessage | web.Response:
        if (denied := self._bot_auth(request)) is not None:
            return denied
        msg = self.messages.get(request.match_info["mid"])
        if (
            msg is None
            or msg.deleted
            or msg.channel_id != request.match_info["cid"]
            or msg.ephemeral
        ):
            return _json({"message": "Unknown Message", "code": 10008}, 404)
        return msg

    async def _channel_edit(self, request: web.Request) -> web.Response:
        msg = self._channel_message(request)
        if isinstance(msg, web.Response):
            return msg
        body, files = await self._read_body(request, "channel_edit")
        msg.edits.append((time.monotonic(), body))
        self._apply(msg, body, files)
        return _json(self._message_payload(msg))

    async def _channel_delete(self, request: web.Request) -> web.Response:
        msg = self._channel_message(request)
        if isinstance(msg, web.Response):
            return msg
        msg.deleted_at = time.monotonic()
        return web.Response(status=204)


def _mime(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower()
    return {
        "png": "image/png",
        "webp": "image/webp",
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
    }.get(ext, "application/octet-stream")
