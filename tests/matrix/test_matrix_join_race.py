"""A room that turns on encryption while the bot is still joining it (its hello on the way)
is refused and left once the join is done, never forgotten: the in-process bot against a
stand-in homeserver that holds the hello until the test lets it go."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.matrix_app.app import ENCRYPTED_REFUSAL
from tests.matrix.standin import ALICE, ROOMS, FakeHomeserver, running_bot, serving

JOINED = "!turning:example.org"


class JoiningHomeserver(FakeHomeserver):
    """Joins, an unencrypted room at join time, sends held until `release`, leaves."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.sending = asyncio.Event()
        self.left: list[str] = []

    def routes(self) -> list[web.RouteDef]:
        return [
            *super().routes(),
            web.post("/_matrix/client/v3/join/{room}", self.join),
            web.get(f"{ROOMS}/state/m.room.encryption/", self.no_encryption),
            web.get(f"{ROOMS}/state/m.room.encryption", self.no_encryption),
            web.post(f"{ROOMS}/leave", self.leave),
        ]

    async def join(self, request: web.Request) -> web.Response:
        return web.json_response({"room_id": request.match_info["room"]})

    async def no_encryption(self, request: web.Request) -> web.Response:
        return web.json_response({"errcode": "M_NOT_FOUND", "error": "no state"}, status=404)

    async def send(self, request: web.Request) -> web.Response:
        self.sending.set()
        await self.release.wait()
        return await super().send(request)

    async def leave(self, request: web.Request) -> web.Response:
        self.left.append(request.match_info["room"])
        return web.json_response({})


async def test_encryption_turned_on_during_the_join_is_refused_after_it(tmp_path: Path) -> None:
    fake = JoiningHomeserver()
    async with serving(fake) as url, running_bot(tmp_path / "t.db", fake, url) as room:
        bot: Any = room.bot
        bot._spawn(bot._join(JOINED, ALICE, False), JOINED)
        await asyncio.wait_for(fake.sending.wait(), 30)  # the hello is on its way, held
        bot._spawn(bot._refuse_encrypted(JOINED), JOINED)  # the sync that saw encryption
        await asyncio.sleep(0.1)
        assert fake.left == []  # not while the join still has the room
        fake.release.set()
        for _ in range(300):
            if fake.left:
                break
            await asyncio.sleep(0.05)
        await asyncio.wait_for(asyncio.gather(*list(bot._tasks)), timeout=30)
    assert fake.left == [JOINED]
    bodies = fake.bodies()
    assert bodies[0].startswith("Hello!")
    assert bodies.count(ENCRYPTED_REFUSAL) == 1
