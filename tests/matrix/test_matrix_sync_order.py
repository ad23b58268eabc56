"""Rule M1: the sync token is stored before the sync's events are handled.

A crash inside a handler must not make a restart replay that sync (and run a command twice),
so the stored position must already be the new one when any handler starts. The bot runs its
real sync loop (`MatrixBot.run`) against a stand-in homeserver that serves /whoami and /sync.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.matrix_app.client import BotState
from tests.matrix.standin import BOT, FakeHomeserver, running_bot, serving

CLIENT = "/_matrix/client/v3"


@dataclass
class SyncingHomeserver(FakeHomeserver):
    """Answers /whoami for the bot and hands out sync batches s1, s2, ..."""

    syncs: list[str | None] = field(default_factory=list)

    def routes(self) -> list[web.RouteDef]:
        return [
            *super().routes(),
            web.get(f"{CLIENT}/account/whoami", self.whoami),
            web.get(f"{CLIENT}/sync", self.sync),
        ]

    async def whoami(self, request: web.Request) -> web.Response:
        return web.json_response({"user_id": BOT, "device_id": "STANDIN"})

    async def sync(self, request: web.Request) -> web.Response:
        self.syncs.append(request.query.get("since"))
        if len(self.syncs) > 1:
            await asyncio.sleep(0.05)  # a long poll with nothing new
        return web.json_response(
            {"next_batch": f"s{len(self.syncs)}", "rooms": {"join": {}, "invite": {}, "leave": {}}}
        )


async def test_the_sync_token_is_stored_before_any_handler_runs(tmp_path: Path) -> None:
    fake = SyncingHomeserver()
    seen: list[str | None] = []
    async with serving(fake) as url, running_bot(tmp_path / "m.db", fake, url) as room:
        bot = room.bot
        state = BotState(room.services.state, BOT)

        async def crashing_handler(resp: Any, *, backlog: bool, **_: Any) -> None:
            seen.append(await state.sync_token())
            raise RuntimeError("a handler died half-way")

        bot.on_sync = crashing_handler  # type: ignore[method-assign]
        task = asyncio.create_task(bot.run())
        for _ in range(200):
            if len(seen) >= 2:
                break
            await asyncio.sleep(0.02)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        stored = await state.sync_token()
    assert seen[:2] == ["s1", "s2"]  # each batch's token was saved before its events ran
    assert fake.syncs[:2] == [None, "s1"]  # and the crash did not make it sync s1 again
    assert stored is not None and stored.startswith("s")
