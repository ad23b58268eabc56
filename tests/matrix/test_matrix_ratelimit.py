"""429 / M_LIMIT_EXCEEDED: the wait the server asks for, then a cap, and other rooms go on.

A real nio client (configured as the bot configures it) talks to a small homeserver fake on
127.0.0.1 that answers the send endpoint the way Synapse does when it rate-limits. Waits
are recorded by an injected sleep, so the test checks the durations asked for without
spending them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from bot.matrix_app.client import make_client
from bot.matrix_app.outbox import Outbox, RoomFailed, Target
from bot.matrix_app.ratelimit import RetryPolicy
from bot.settings import MatrixSettings

LIMITED = {"errcode": "M_LIMIT_EXCEEDED", "error": "Too Many Requests"}


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


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeHomeserver, str]]:
    ok = (200, {}, {"event_id": "$sent"})
    server = FakeHomeserver(
        script={
            "!header:x": [(429, {"Retry-After": "7"}, LIMITED), ok],
            "!body:x": [(429, {}, {**LIMITED, "retry_after_ms": 2500}), ok],
            "!bare:x": [(429, {}, LIMITED), ok],
            "!stuck:x": [(429, {"Retry-After": "30"}, LIMITED)],
            "!fine:x": [ok],
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
async def outbox_for(url: str, sleeps: list[float], **policy: float) -> AsyncIterator[Outbox]:
    """An Outbox on a client set up exactly as the bot's, with waits recorded, not slept."""
    settings = MatrixSettings(homeserver=url, user_id="@bot:x", access_token="test-token")
    client = make_client(settings)
    client.access_token = "test-token"

    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    try:
        yield Outbox(client, RetryPolicy(sleep=record, **policy))  # type: ignore[arg-type]
    finally:
        await client.close()


async def test_retry_after_header_is_honoured_with_the_same_transaction(fake) -> None:  # type: ignore[no-untyped-def]
    server, url = fake
    sleeps: list[float] = []
    async with outbox_for(url, sleeps) as outbox:
        assert await outbox.notice(Target("!header:x"), "hello") == "$sent"
    assert sleeps == [7.0]
    (first, second) = server.requests
    assert first == second  # one transaction id: a retried send cannot post twice


async def test_retry_after_ms_in_the_body_and_a_default(fake) -> None:  # type: ignore[no-untyped-def]
    _server, url = fake
    sleeps: list[float] = []
    async with outbox_for(url, sleeps, default_wait=5.0) as outbox:
        await outbox.notice(Target("!body:x"), "hello")
        await outbox.notice(Target("!bare:x"), "hello")
    assert sleeps == [2.5, 5.0]


async def test_past_the_cap_the_room_fails_and_other_rooms_still_get_answers(fake) -> None:  # type: ignore[no-untyped-def]
    server, url = fake
    sleeps: list[float] = []
    async with outbox_for(url, sleeps, max_retries=3, max_total_wait=120.0) as outbox:
        with pytest.raises(RoomFailed):
            await outbox.notice(Target("!stuck:x"), "hello")
        assert await outbox.notice(Target("!fine:x"), "hello") == "$sent"
    assert sleeps == [30.0, 30.0, 30.0]
    assert [room for room, _ in server.requests].count("!stuck:x") == 4
    assert set(outbox.failed_rooms) == {"!stuck:x"}
    assert "rate limited" in outbox.failed_rooms["!stuck:x"]


async def test_a_long_wait_counts_against_the_total_cap(fake) -> None:  # type: ignore[no-untyped-def]
    server, url = fake
    sleeps: list[float] = []
    async with outbox_for(url, sleeps, max_retries=10, max_total_wait=45.0) as outbox:
        with pytest.raises(RoomFailed):
            await outbox.notice(Target("!stuck:x"), "hello")
    assert sleeps == [30.0]  # a second 30 s wait would pass the 45 s cap
    assert len(server.requests) == 2
