"""A stand-in for Discord's REST API on 127.0.0.1: a real aiohttp server that records
every request, answers with minimal valid payloads and refuses what Discord refuses.

discord.py talks to it unchanged once `discord.http.Route.BASE` points here (the webhook
adapter used for interaction responses imports the same Route class). What it enforces,
as Discord does:
- message limits counted in UTF-16 units (400, code 50035): content 2000, embed title 256,
  description 4096, field name 256 / value 1024, footer 2048, author 256, 25 fields,
  6000 across a message's embeds, 10 embeds;
- one initial response per interaction (400, code 40060 "already acknowledged");
- interaction tokens last 15 minutes (401, code 50027 "Invalid Webhook Token"). The fake's
  clock can be moved forward to play a long job without waiting for it;
- a deferred response is an original message in the loading state ("thinking…", flag
  LOADING = 128) until it is edited; GET /webhooks/{app}/{token}/messages/@original
  returns it as it stands.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import discord
from aiohttp import web

APP_ID = 555000000000000001
BOT_ID = 555000000000000002
OWNER_ID = 555000000000000003
TOKEN_LIFETIME = timedelta(minutes=15)

BOT_USER = {
    "id": str(BOT_ID),
    "username": "threadwise",
    "discriminator": "0",
    "global_name": "threadwise",
    "avatar": None,
    "bot": True,
}


def user_json(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name.lower().replace(" ", "_")[:32] or "user",
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
        "bot": bot,
    }


def guild_json(guild_id: int, name: str = "A server", *, joined: bool = False) -> dict[str, Any]:
    """A GUILD_CREATE payload for a small guild. Discord marks one that comes back from an
    outage `unavailable: false`; a guild the bot was just added to has no such key."""
    payload = {
        "id": str(guild_id),
        "name": name,
        "icon": None,
        "owner_id": str(OWNER_ID),
        "roles": [
            {
                "id": str(guild_id),
                "name": "@everyone",
                "permissions": "0",
                "position": 0,
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }
        ],
        "emojis": [],
        "stickers": [],
        "features": [],
        "member_count": 2,
        "members": [],
        "channels": [],
        "threads": [],
        "voice_states": [],
        "presences": [],
        "large": False,
        "unavailable": False,
        "joined_at": "2025-01-01T00:00:00+00:00",
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "preferred_locale": "en-US",
        "system_channel_flags": 0,
    }
    if joined:
        del payload["unavailable"]
    return payload


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def limit_violations(payload: dict[str, Any]) -> list[str]:
    """Written from Discord's docs (message.mdx, "Embed Limits"), independently of the
    bot's renderer, so the renderer is checked against the rules rather than itself."""
    problems = []
    content = payload.get("content")
    if isinstance(content, str) and utf16(content) > 2000:
        problems.append(f"content {utf16(content)} > 2000")
    embeds = payload.get("embeds") or []
    if len(embeds) > 10:
        problems.append(f"{len(embeds)} embeds > 10")
    total = 0
    for embed in embeds:
        parts = {
            "title": (embed.get("title") or "", 256),
            "description": (embed.get("description") or "", 4096),
            "footer": ((embed.get("footer") or {}).get("text") or "", 2048),
            "author": ((embed.get("author") or {}).get("name") or "", 256),
        }
        for name, (text, limit) in parts.items():
            if utf16(text) > limit:
                problems.append(f"embed {name} {utf16(text)} > {limit}")
            total += utf16(text)
        fields = embed.get("fields") or []
        if len(fields) > 25:
            problems.append(f"{len(fields)} fields > 25")
        for f in fields:
            if utf16(f.get("name", "")) > 256 or utf16(f.get("value", "")) > 1024:
                problems.append("field too long")
            total += utf16(f.get("name", "")) + utf16(f.get("value", ""))
        if not any(
            embed.get(k) for k in ("title", "description", "fields", "image", "footer", "author")
        ):
            problems.append("empty embed")
    if total > 6000:
        problems.append(f"embeds total {total} > 6000")
    says_something = content not in (None, "") or embeds or payload.get("attachments")
    if not says_something and ("content" in payload or "embeds" in payload):
        problems.append("empty message")
    return problems


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[tuple[str, bytes]] = field(default_factory=list)
    status: int = 200

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def message_payload(self) -> dict[str, Any] | None:
        """The message part of a create/edit/callback request, if it carries one."""
        if not isinstance(self.json, dict):
            return None
        if "/callback" in self.path:
            return self.json.get("data") if self.json.get("type") in (4, 7) else None
        if self.method in ("POST", "PATCH") and (
            "/webhooks/" in self.path or self.path.endswith("/messages")
        ):
            return self.json
        return None


class FakeDiscord:
    """Start with `await fake.start()`; `fake.requests` lists what discord.py sent."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.violations: list[tuple[str, list[str]]] = []
        self.events: list[str] = []
        """A shared log tests may append to, to order HTTP against service calls."""
        self.clock_offset = timedelta(0)
        self.channels: dict[int, dict[str, Any]] = {}
        self.messages: dict[int, list[dict[str, Any]]] = {}
        self.attachments: dict[str, bytes] = {}
        self.acknowledged: dict[str, int] = {}  # token → interaction id
        self.originals: dict[str, dict[str, Any]] = {}  # token → the original response
        self.gateway_guilds: list[int] = []
        self.gateway_received: list[dict[str, Any]] = []
        self.identified = asyncio.Event()
        self.identified_shards: list[tuple[int, int]] = []
        self.gateway_closed = asyncio.Event()
        self._socket: web.WebSocketResponse | None = None
        self._sequences: dict[int, int] = {}
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.scripted: list[tuple[str, str, int, Any, dict[str, str]]] = []
        """(method, path suffix, status, JSON body, headers) answers to give once, first
        match first: rate limits and refusals as Discord sends them."""

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=30 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api(self) -> str:
        return self.url + "/api/v10"

    def now(self) -> datetime:
        return datetime.now(UTC) + self.clock_offset

    def snowflake(self) -> int:
        """A fresh id whose embedded time is the fake's now (ids encode their creation)."""
        return discord.utils.time_snowflake(self.now()) + next(self._ids)

    # --- helpers for tests -------------------------------------------------------------

    def add_channel(self, payload: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        self.channels[int(payload["id"])] = payload
        self.messages[int(payload["id"])] = sorted(messages, key=lambda m: int(m["id"]))

    def rate_limit_next(self, method: str, suffix: str, retry_after: float) -> None:
        """The next matching request gets a 429, with the body and the Via header Discord's
        API sends (discord.py takes a 429 without Via for a Cloudflare ban)."""
        body = {"message": "You are being rate limited.", "retry_after": retry_after,
                "global": False}  # fmt: skip
        headers = {"Via": "1.1 google", "Retry-After": str(int(retry_after) or 1)}
        self.scripted.append((method, suffix, 429, body, headers))

    def refuse_next(self, method: str, suffix: str, code: int = 50013) -> None:
        """The next matching request gets a 403 with a JSON error code (50013: Missing
        Permissions)."""
        body = {"message": "Missing Permissions", "code": code}
        self.scripted.append((method, suffix, 403, body, {}))

    def add_attachment(self, name: str, data: bytes) -> str:
        self.attachments[name] = data
        return f"{self.url}/attachments/{name}"

    def routes(self) -> list[str]:
        return [r.route for r in self.requests]

    def message_payloads(self) -> list[tuple[Recorded, dict[str, Any]]]:
        return [(r, p) for r in self.requests if (p := r.message_payload) is not None]

    # --- the server ----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path == "/" and request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._gateway(request)
        if path.startswith("/attachments/"):
            self.requests.append(Recorded(request.method, path, {}, None))
            data = self.attachments.get(path.rsplit("/", 1)[-1])
            return web.Response(body=data) if data is not None else web.Response(status=404)
        path = path.removeprefix("/api/v10")
        body, files = await self._body(request)
        record = Recorded(request.method, path, dict(request.query), body, files)
        self.requests.append(record)
        self.events.append(f"http {record.route}")
        for index, (method, suffix, status, answer, headers) in enumerate(self.scripted):
            if request.method == method and path.endswith(suffix):
                del self.scripted[index]
                record.status = status
                body = json.dumps(answer).encode()
                headers = {"Content-Type": "application/json", **headers}
                return web.Response(body=body, status=status, headers=headers)
        status, answer = self._answer(record)
        record.status = status
        if answer is None:
            return web.Response(status=status)
        # Discord's header is exactly "application/json"; discord.py compares it verbatim.
        body = json.dumps(answer).encode()
        return web.Response(body=body, status=status, headers={"Content-Type": "application/json"})

    async def _body(self, request: web.Request) -> tuple[Any, list[tuple[str, bytes]]]:
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            files = [
                (v.filename, v.file.read())
                for k, v in form.items()
                if k.startswith("files[") and hasattr(v, "file")
            ]
            raw = form.get("payload_json")
            return (json.loads(raw) if isinstance(raw, str) else None), files
        if request.can_read_body:
            text = await request.text()
            return (json.loads(text) if text else None), []
        return None, []

    def _answer(self, r: Recorded) -> tuple[int, Any]:
        m, p = r.method, r.path.split("/")[1:]
        payload = r.message_payload
        if payload is not None:
            problems = limit_violations(payload)
            if problems:
                self.violations.append((r.route, problems))
                return 400, {"code": 50035, "message": "Invalid Form Body", "errors": problems}
        if m == "GET" and r.path == "/users/@me":
            return 200, BOT_USER
        if m == "GET" and r.path == "/oauth2/applications/@me":
            return 200, {
                "id": str(APP_ID),
                "name": "threadwise",
                "description": "",
                "icon": None,
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": user_json(OWNER_ID, "Owner"),
                "verify_key": "0" * 64,
                "flags": 0,
            }
        if m == "POST" and p[0] == "interactions" and p[-1] == "callback":
            return self._callback(int(p[1]), p[2], r.json)
        if p[0] == "webhooks" and len(p) >= 3:
            token = p[2]
            if token not in self.acknowledged:
                return 404, {"code": 10015, "message": "Unknown Webhook"}
            created = discord.utils.snowflake_time(self.acknowledged[token])
            if self.now() - created > TOKEN_LIFETIME:
                return 401, {"code": 50027, "message": "Invalid Webhook Token"}
            if p[3:] == ["messages", "@original"]:
                return self._original(m, token, r.json or {})
            channel_id = 1
            return 200, self._message(channel_id, r.json or {})
        if p[0] == "channels" and len(p) >= 3 and p[2] == "messages":
            channel_id = int(p[1])
            if m == "POST":
                return 200, self._message(channel_id, r.json or {})
            if m == "GET":
                return 200, self._history(channel_id, r.query)
        if m == "GET" and p[0] == "channels" and len(p) == 2:
            channel = self.channels.get(int(p[1]))
            return (200, channel) if channel else (404, {"code": 10003, "message": "Unknown"})
        if m == "POST" and r.path == "/users/@me/channels":
            return 200, {
                "id": str(self.snowflake()),
                "type": 1,
                "recipients": [user_json(int(r.json["recipient_id"]), "someone")],
                "last_message_id": None,
            }
        if m == "PUT" and p[0] == "applications" and p[-1] == "commands":
            return 200, [
                {
                    "description": "",
                    **c,
                    "id": str(self.snowflake()),
                    "application_id": str(APP_ID),
                    "version": "1",
                }
                for c in r.json
            ]
        return 404, {"code": 0, "message": f"fake Discord has no route {r.route}"}

    # --- the gateway (point discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY at ws_url) --

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/"

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send one gateway DISPATCH event to the connected bot."""
        assert self._socket is not None, "no bot connected"
        await self._send(self._socket, event, data)

    async def _send(self, ws: web.WebSocketResponse, event: str, data: dict[str, Any]) -> None:
        """One DISPATCH on `ws`, numbered in that connection's own sequence."""
        self._sequences[id(ws)] = sequence = self._sequences.get(id(ws), 0) + 1
        await ws.send_json({"op": 0, "t": event, "s": sequence, "d": data})

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        """HELLO → IDENTIFY → READY (+ GUILD_CREATE per guild); heartbeats are acked.

        As Discord does, a connection that identifies as shard [id, count] is sent only the
        guilds of that shard, (guild_id >> 22) % count == id; several may be open at once
        (`identified_shards` lists them)."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._socket = ws

        async def send(event: str, data: dict[str, Any]) -> None:
            await self._send(ws, event, data)

        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        async for frame in ws:
            message = json.loads(frame.data)
            self.gateway_received.append(message)
            if message["op"] == 1:
                await ws.send_json({"op": 11, "d": None, "s": None, "t": None})
            elif message["op"] == 2:
                shard = message["d"].get("shard") or [0, 1]
                shard_id, shard_count = int(shard[0]), int(shard[1])
                guilds = [g for g in self.gateway_guilds if (g >> 22) % shard_count == shard_id]
                self.identified_shards.append((shard_id, shard_count))
                await send(
                    "READY",
                    {
                        "v": 10,
                        "user": BOT_USER,
                        "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
                        "session_id": f"fake-session-{shard_id}",
                        "resume_gateway_url": self.ws_url,
                        "application": {"id": str(APP_ID), "flags": 0},
                        "shard": [shard_id, shard_count],
                    },
                )
                for guild_id in guilds:
                    await send("GUILD_CREATE", guild_json(guild_id))
                self.identified.set()
        if self._socket is ws:
            self._socket = None
        self.gateway_closed.set()
        return ws

    def _callback(self, interaction_id: int, token: str, body: Any) -> tuple[int, Any]:
        if token in self.acknowledged:
            return 400, {"code": 40060, "message": "Interaction has already been acknowledged."}
        self.acknowledged[token] = interaction_id
        flags = (body.get("data") or {}).get("flags", 0) or 0
        if body.get("type") in (4, 5):  # a message, or "thinking…" until it is edited
            loading = 128 if body.get("type") == 5 else 0
            self.originals[token] = self._message(
                1, {**(body.get("data") or {}), "flags": flags | loading}
            )
        return 200, {
            "interaction": {
                "id": str(interaction_id),
                "type": 2,
                "response_message_loading": body.get("type") == 5,
                "response_message_ephemeral": bool(flags & 64),
            }
        }

    def _original(self, method: str, token: str, body: dict[str, Any]) -> tuple[int, Any]:
        original = self.originals.get(token)
        if original is None:
            return 404, {"code": 10008, "message": "Unknown Message"}
        if method == "PATCH":
            for key in ("content", "embeds"):
                if key in body:
                    original[key] = body[key] or ([] if key == "embeds" else "")
            original["flags"] = original["flags"] & ~128  # no longer "thinking…"
        elif method == "DELETE":
            del self.originals[token]
            return 204, None
        return 200, original

    def _message(self, channel_id: int, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": str(self.snowflake()),
            "channel_id": str(channel_id),
            "type": 0,
            "content": body.get("content") or "",
            "author": BOT_USER,
            "embeds": body.get("embeds") or [],
            "attachments": [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": self.now().isoformat(),
            "edited_timestamp": None,
            "flags": body.get("flags", 0) or 0,
            "components": [],
        }

    def _history(self, channel_id: int, query: dict[str, str]) -> list[dict[str, Any]]:
        """Discord's paging: `after` pages come newest first, as do `before` pages."""
        messages = self.messages.get(channel_id, [])
        limit = int(query.get("limit", 50))
        if "after" in query:
            after = int(query["after"])
            page = [m for m in messages if int(m["id"]) > after][:limit]
            return list(reversed(page))
        before = int(query["before"]) if "before" in query else None
        older = [m for m in messages if before is None or int(m["id"]) < before]
        return list(reversed(older))[:limit]
