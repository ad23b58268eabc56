"""429 / M_LIMIT_EXCEEDED: the wait the server asks for, and an answer is never dropped.

A real nio client (configured as the bot configures it) talks to a small homeserver fake on
127.0.0.1 that answers the send endpoint the way Synapse does when it rate-limits. Every
message goes through the durable outbox in a real SQLite file. Waits are recorded by an
injected sleep (which takes only a few milliseconds), so the test checks the durations asked
for without spending them. Against a real Synapse with tight limits: test_matrix_outages.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from bot.matrix_app.client import make_client
from bot.matrix_app.outbox import Outbox, RoomFailed, Target
from bot.matrix_app.ratelimit import RetryPolicy
from bot.settings import MatrixSettings
from storage.commands import MatrixOutboxRepository
from storage.database import open_database

LIMITED = {"errcode": "M_LIMIT_EXCEEDED", "error": "Too Many Requests"}
OK = (200, {}, {"event_id": "$sent"})


@dataclass
class FakeHomeserver:
    """Per room: a list of (status, headers, body) answers, the last one repeating."""

    script: dict[str, list[tuple[int, dict[str, str], dict]]]
    requests: list[tuple[str, str]] = field(default_factory=list)

    async def send(self, request: web.Request) -> web.Response:
        room = request.match_info["room"]
        self.requests.append((room, request.match_info["txn"]))
        assert request.headers["Authorization"] == "Bearer test-token"
        answers = self.script[room]
        status, headers, body = answers.pop(0) if len(answers) > 1 else answers[0]
        return web.json_response(body, status=status, headers=headers)

    def tries(self, room: str) -> list[str]:
        return [txn for r, txn in self.requests if r == room]


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeHomeserver, str]]:
    server = FakeHomeserver(
        script={
            "!header:x": [(429, {"Retry-After": "7"}, LIMITED), OK],
            "!body:x": [(429, {}, {**LIMITED, "retry_after_ms": 2500}), OK],
            "!bare:x": [(429, {}, LIMITED), OK],
            "!long:x": [(429, {"Retry-After": "30"}, LIMITED)] * 8 + [OK],
            "!down:x": [(502, {}, {"errcode": "M_UNKNOWN", "error": "Bad Gateway"})] * 2 + [OK],
            "!gone:x": [(403, {}, {"errcode": "M_FORBIDDEN", "error": "not in room"})],
            "!fine:x": [OK],
        }
    )
    app = web.Application()
    app.router.add_put("/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}", server.send)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def outbox_for(
    url: str, db_path: Path, sleeps: list[float], *, wait: float = 30.0
) -> AsyncIterator[tuple[Outbox, MatrixOutboxRepository]]:
    """An Outbox on a client set up exactly as the bot's, with waits recorded, not slept."""
    settings = MatrixSettings(homeserver=url, user_id="@bot:x", access_token="test-token")
    client = make_client(settings)
    client.access_token = "test-token"

    async def record(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(0.01)

    db = await open_database(db_path)
    queue = MatrixOutboxRepository(db, "@bot:x")
    outbox = Outbox(client, RetryPolicy(sleep=record), queue, wait=wait)  # type: ignore[arg-type]
    try:
        yield outbox, queue
    finally:
        await outbox.close()
        await client.close()
        await db.close()


async def until_sent(queue: MatrixOutboxRepository) -> None:
    for _ in range(500):
        if await queue.waiting() == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the outbox never emptied")


async def test_retry_after_header_is_honoured_with_the_same_transaction(fake, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server, url = fake
    sleeps: list[float] = []
    async with outbox_for(url, tmp_path / "q.db", sleeps) as (outbox, queue):
        assert await outbox.notice(Target("!header:x"), "hello") == "$sent"
        assert await queue.waiting() == 0
    assert sleeps == [7.0]
    (first, second) = server.requests
    assert first == second  # one transaction id: a retried send cannot post twice


async def test_retry_after_ms_in_the_body_and_a_default(fake, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _server, url = fake
    sleeps: list[float] = []
    async with outbox_for(url, tmp_path / "q.db", sleeps) as (outbox, _queue):
        await outbox.notice(Target("!body:x"), "hello")
        await outbox.notice(Target("!bare:x"), "hello")
    assert sleeps == [2.5, 5.0]


async def test_a_long_rate_limit_never_drops_the_answer(fake, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Eight 429s asking for 30 s each (the old cap gave up after 5 retries or 120 s): the
    caller stops waiting, the message stays queued and goes out, once, with one
    transaction id; other rooms get their answers meanwhile."""
    server, url = fake
    sleeps: list[float] = []
    async with outbox_for(url, tmp_path / "q.db", sleeps, wait=0.02) as (outbox, queue):
        assert await outbox.notice(Target("!long:x"), "hello") is None  # not sent yet
        assert await queue.waiting() == 1
        outbox._wait = 30.0
        assert await outbox.notice(Target("!fine:x"), "hello") == "$sent"
        await until_sent(queue)
    assert sleeps == [30.0] * 8
    tries = server.tries("!long:x")
    assert len(tries) == 9 and len(set(tries)) == 1
    assert outbox.failed_rooms == {}


async def test_an_outage_backs_off_and_a_refusal_is_final(fake, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server, url = fake
    sleeps: list[float] = []
    async with outbox_for(url, tmp_path / "q.db", sleeps) as (outbox, queue):
        assert await outbox.notice(Target("!down:x"), "hello") == "$sent"
        with pytest.raises(RoomFailed):
            await outbox.notice(Target("!gone:x"), "hello")
        assert await queue.waiting() == 0
    assert sleeps == [2.0, 4.0]  # 502, 502, then sent
    assert len(server.tries("!gone:x")) == 1  # a 403 is not retried
    assert set(outbox.failed_rooms) == {"!gone:x"}


async def test_a_queued_answer_is_sent_by_the_next_start(fake, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The bot stops (or dies) while an answer waits out a rate limit; the next start sends
    it, with the transaction id it was given, so it is stored once."""
    server, url = fake
    server.script["!later:x"] = [(429, {"Retry-After": "30"}, LIMITED)]
    sleeps: list[float] = []
    async with outbox_for(url, tmp_path / "q.db", sleeps, wait=0.05) as (outbox, queue):
        assert await outbox.notice(Target("!later:x", "$cmd"), "your answer") is None
        assert await queue.waiting() == 1
    first_try = server.tries("!later:x")[0]
    server.script["!later:x"] = [OK]
    async with outbox_for(url, tmp_path / "q.db", sleeps) as (outbox, queue):
        assert await outbox.resume() == 1
        await until_sent(queue)
    assert set(server.tries("!later:x")) == {first_try}
