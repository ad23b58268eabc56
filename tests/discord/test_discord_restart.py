"""An interaction deferred by a bot that then died is answered by the next bot that starts.

The first bot defers `/thread ingest` of a forum on 127.0.0.1 that never answers, and dies
while it reads (its command task is cancelled: no answer, no error handler, as with
kill -9). A second bot object then logs in on the same SQLite file, the way a restarted
process does, and edits the "thinking…" answer while the interaction's 15-minute token
lasts. Discord's REST API is the fake (fake_discord.py), which keeps each original
response as Discord does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from discord_helpers import Driver, opt, sub
from fake_discord import APP_ID, FakeDiscord

from bot.settings import Settings
from bot.usecases.services import Services
from storage.database import Database


@pytest.fixture
def settings() -> Settings:
    base = Settings()
    fetch = dataclasses.replace(base.fetch, allow_private_addresses=True, per_host_delay=0.0)
    return dataclasses.replace(base, fetch=fetch)


@asynccontextmanager
async def stalling_forum() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A forum that never answers a thread page (robots.txt: 404, everything allowed)."""
    asked = asyncio.Event()
    release = asyncio.Event()

    async def robots(request: web.Request) -> web.Response:
        return web.Response(status=404)

    async def page(request: web.Request) -> web.Response:
        asked.set()
        await release.wait()
        return web.Response(status=503)

    app = web.Application()
    app.router.add_get("/robots.txt", robots)
    app.router.add_get("/{tail:.*}", page)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", asked
    finally:
        release.set()
        await runner.cleanup()


def edits_of(fake: FakeDiscord, token: str) -> list[dict[str, Any]]:
    """Edits of the original response, progress lines ("⏳ …") left out."""
    path = f"/webhooks/{APP_ID}/{token}/messages/@original"
    return [
        r.json
        for r in fake.requests
        if r.method == "PATCH"
        and r.path == path
        and not str(r.json.get("content") or "").startswith("⏳")
    ]


async def test_a_restart_answers_an_interaction_the_dead_bot_deferred(
    make_bot: Callable[..., Any], fake: FakeDiscord, services: Services
) -> None:
    async with stalling_forum() as (forum, asked):
        url = f"{forum}/threads/slow-thread.123/"
        first = await make_bot()
        payload = Driver(first, fake).payload("thread", [sub("ingest", opt("url", url))])
        token = str(payload["token"])
        task = asyncio.create_task(Driver(first, fake).run(payload))
        await asyncio.wait_for(asked.wait(), 30)  # deferred, and reading the forum
        shown = fake.originals[token]  # "thinking…", or a progress line by now
        assert shown["flags"] & 128 or shown["content"].startswith("⏳"), shown
        task.cancel()  # the process dies: nothing more comes from this bot
        await asyncio.gather(task, return_exceptions=True)
        assert edits_of(fake, token) == []

        await make_bot()  # the restart
        (edit,) = edits_of(fake, token)
        assert edit["content"] == (
            f"threadwise restarted while ingesting {url}; nothing was stored; please run it again."
        )
        assert edit["allowed_mentions"] == {"parse": []}
        assert fake.originals[token]["content"] == edit["content"]

        await make_bot()  # and another: the interaction is answered once
        assert len(edits_of(fake, token)) == 1
    assert await services.list_threads("discord:700000000000000001") == []


async def test_an_answer_that_got_there_is_left_alone(
    make_bot: Callable[..., Any], fake: FakeDiscord, services: Services
) -> None:
    """The bot died after Discord took its answer but before it noted that: the restart
    reads the original answer first and leaves it as it is."""
    bot = await make_bot()
    payload = Driver(bot, fake).payload("threads")
    await Driver(bot, fake).run(payload)
    token = str(payload["token"])
    answer = fake.originals[token]["embeds"]
    assert answer and not fake.originals[token]["flags"] & 128
    async with services.db.transaction() as conn:  # as if it died right after the edit
        await conn.execute(
            "UPDATE bot_commands SET status = 'running', answered_at = NULL, finished_at = NULL,"
            " reply_to = $1",
            json.dumps(
                {
                    "application_id": str(APP_ID),
                    "token": token,
                    "created_at": fake.now().isoformat(),
                    "stores": False,
                }
            ),
        )
    edits = len(edits_of(fake, token))
    await make_bot()
    assert len(edits_of(fake, token)) == edits
    assert fake.originals[token]["embeds"] == answer
    rows = await services.db.fetch("SELECT status FROM bot_commands")
    assert [r[0] for r in rows] == ["interrupted"]


async def test_past_the_15_minute_token_nothing_is_sent(
    make_bot: Callable[..., Any], fake: FakeDiscord, services: Services
) -> None:
    async with stalling_forum() as (forum, asked):
        first = await make_bot()
        payload = Driver(first, fake).payload("thread", [sub("ingest", opt("url", f"{forum}/t/1"))])
        task = asyncio.create_task(Driver(first, fake).run(payload))
        await asyncio.wait_for(asked.wait(), 30)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    fake.clock_offset = timedelta(minutes=16)
    before = len(fake.requests)
    await make_bot()
    webhooks = [r for r in fake.requests[before:] if r.path.startswith("/webhooks/")]
    assert webhooks == []  # Discord would refuse the token: not even tried
    rows = await services.db.fetch("SELECT status, reply_to FROM bot_commands")
    assert [tuple(r) for r in rows] == [("interrupted", None)]  # the token is forgotten


async def test_every_answered_interaction_is_closed(
    make_bot: Callable[..., Any], fake: FakeDiscord
) -> None:
    """Commands that answered, and one that failed with an error, leave no open record."""
    bot = await make_bot()
    driver = Driver(bot, fake)
    await driver.command("threads")
    await driver.command("summary", opt("thread", "nothing-here"))
    db: Database = bot.services.db
    rows = await db.fetch("SELECT status, answered_at IS NOT NULL FROM bot_commands")
    assert sorted(tuple(r) for r in rows) == [("done", 1), ("done", 1)]
