"""A homeserver stand-in on 127.0.0.1 and the bot wired to it, for in-process Matrix tests.

The bot runs its own event path (MatrixBot._on_event → router → Handlers) with a real nio
client, real Services and SQLite; the stand-in answers what the handlers ask (room state with
power levels, typing, sends) and records every message. Tests that need more endpoints
subclass FakeHomeserver and extend `routes()`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.matrix_app.app import MatrixBot
from bot.matrix_app.client import make_client
from bot.settings import MatrixSettings, Settings
from bot.usecases.services import Services
from storage.database import open_database
from storage.digests import DigestRepository

BOT = "@threadwise:example.org"
ALICE = "@alice:example.org"
"""Has power level 100 in every stand-in room."""
BOB = "@bob:example.org"
"""Has power level 0."""
ROOM = "!digests:example.org"
SCOPE = f"matrix:{ROOM}"
ROOMS = "/_matrix/client/v3/rooms/{room}"


@dataclass
class FakeHomeserver:
    """Answers what the handlers need; `sent` keeps (room, txn id, content) in order."""

    sent: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def routes(self) -> list[web.RouteDef]:
        """The endpoints this stand-in answers; a subclass adds its own."""
        return [
            web.get(f"{ROOMS}/state", self.state),
            web.put(f"{ROOMS}/typing/{{user}}", self.typing),
            web.put(f"{ROOMS}/send/m.room.message/{{txn}}", self.send),
        ]

    async def state(self, request: web.Request) -> web.Response:
        def event(kind: str, content: dict[str, Any]) -> dict[str, Any]:
            return {
                "type": kind,
                "state_key": "",
                "sender": ALICE,
                "event_id": f"${kind}",
                "origin_server_ts": 1,
                "room_id": request.match_info["room"],
                "content": content,
            }

        return web.json_response(
            [
                event("m.room.create", {"room_version": "10", "creator": ALICE}),
                event("m.room.power_levels", {"users": {ALICE: 100, BOT: 50}, "users_default": 0}),
            ]
        )

    async def typing(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def send(self, request: web.Request) -> web.Response:
        room, txn = request.match_info["room"], request.match_info["txn"]
        self.sent.append((room, txn, await request.json()))
        return web.json_response({"event_id": f"$sent{len(self.sent)}"})

    def bodies(self, since: int = 0) -> list[str]:
        return [content.get("body", "") for _, _, content in self.sent[since:]]


@asynccontextmanager
async def serving(fake: FakeHomeserver) -> AsyncIterator[str]:
    """`fake` on a free port of 127.0.0.1; yields its base URL."""
    app = web.Application()
    app.router.add_routes(fake.routes())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@dataclass
class Room:
    """The bot as it runs, fed one command event at a time."""

    bot: MatrixBot
    fake: FakeHomeserver
    services: Services
    events: int = 0

    async def say(self, text: str, sender: str = ALICE, room: str = ROOM, **content: Any) -> str:
        """Send `text` as `sender` (`content` adds fields, e.g. m.relates_to); returns
        everything the bot answered, joined."""
        self.events += 1
        before = len(self.fake.sent)
        event = {
            "type": "m.room.message",
            "event_id": f"$cmd{self.events}",
            "sender": sender,
            "origin_server_ts": 1,
            "content": {"msgtype": "m.text", "body": text, **content},
        }
        self.bot._on_event(room, event)
        await asyncio.wait_for(asyncio.gather(*list(self.bot._tasks)), timeout=60)
        return "\n".join(self.fake.bodies(before))

    async def schedules(self, scope: str = SCOPE) -> list[Any]:
        return await DigestRepository(self.services.db).list(scope)

    async def threads(self, scope: str = SCOPE) -> list[str]:
        return [t.name for t in await self.services.list_threads(scope)]


@asynccontextmanager
async def running_bot(
    db_path: Path, fake: FakeHomeserver, url: str, settings: Settings | None = None, **bot: Any
) -> AsyncIterator[Room]:
    """The bot wired as `threadwise run` wires it, talking to `fake` at `url`.

    `settings` changes anything but [matrix]; `bot` goes to MatrixBot (e.g. a retry policy).
    """
    db = await open_database(db_path)
    matrix = MatrixSettings(homeserver=url, user_id=BOT, access_token="test-token")
    settings = dataclasses.replace(settings or Settings(), matrix=matrix)
    client = make_client(matrix)
    client.access_token = "test-token"
    client.user_id = BOT
    services = Services(db, settings)
    try:
        yield Room(MatrixBot(services, settings, client, **bot), fake, services)
    finally:
        await services.close()
        await client.close()
        await db.close()
