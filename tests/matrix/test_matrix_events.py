"""Which events count as commands: the filters of platform-rules M1, M3 and M5, event by event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.matrix_app.app import MatrixBot, _after_own_join
from bot.matrix_app.client import make_client
from bot.settings import MatrixSettings, Settings
from bot.usecases.services import Services
from storage.database import open_database

BOT = "@threadwise:example.org"
ROOM = "!room:example.org"
START_MS = 1_800_000_000_000


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[MatrixBot]:
    db = await open_database(tmp_path / "t.db")
    matrix = MatrixSettings(homeserver="http://127.0.0.1:9", user_id=BOT, password="x")
    settings = Settings(matrix=matrix)
    client = make_client(matrix)  # never connects: only its user id is used here
    instance = MatrixBot(Services(db, settings), settings, client, clock=lambda: START_MS / 1000)
    instance._started_ms = START_MS
    try:
        yield instance
    finally:
        await client.close()
        await db.close()


def message(body: str, event_id: str = "$1", sender: str = "@alice:example.org", **content) -> dict:  # type: ignore[no-untyped-def]
    return {
        "type": "m.room.message",
        "event_id": event_id,
        "sender": sender,
        "origin_server_ts": START_MS + 5,
        "content": {"msgtype": "m.text", "body": body, **content},
    }


async def test_a_plain_command_counts_once(bot: MatrixBot) -> None:
    found = bot._command(ROOM, message("!tw help"))
    assert found is not None
    ctx, body = found
    assert (ctx.room_id, ctx.sender, ctx.event_id, ctx.thread_root, ctx.reply_to) == (
        ROOM,
        "@alice:example.org",
        "$1",
        None,
        None,
    )
    assert body == "!tw help" and ctx.scope == f"matrix:{ROOM}"
    parsed = bot._parse(ROOM, message("!tw help"))
    assert parsed is not None
    (accepted,) = await bot.commands.accept([parsed])
    assert accepted[0].command_id is not None
    again = bot._parse(ROOM, message("!tw help"))  # the same event id again (a replay)
    assert again is not None and await bot.commands.accept([again]) == []


@pytest.mark.parametrize(
    "event",
    [
        message("!tw help", msgtype="m.notice"),
        message("!tw help", sender=BOT),  # the bot's account, from any device
        message("* !tw help", **{"m.relates_to": {"rel_type": "m.replace", "event_id": "$0"}}),
        {**message("!tw help"), "origin_server_ts": START_MS - 1},  # before this start
        message("hello there"),
        message("!tw help", msgtype="m.emote"),
        {**message("!tw help"), "type": "m.room.encrypted"},
        {**message("!tw help"), "content": {"msgtype": "m.text"}},  # redacted: no body
    ],
    ids=["notice", "own", "edit", "old", "not-for-us", "emote", "encrypted", "no-body"],
)
async def test_events_that_are_never_commands(bot: MatrixBot, event: dict) -> None:
    assert bot._command(ROOM, event) is None


async def test_thread_and_reply_context(bot: MatrixBot) -> None:
    threaded = message(
        "!tw thread ingest here",
        "$t",
        **{
            "m.relates_to": {
                "rel_type": "m.thread",
                "event_id": "$root",
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": "$latest"},
            }
        },
    )
    found = bot._command(ROOM, threaded)
    assert found is not None
    assert (found[0].thread_root, found[0].reply_to) == ("$root", None)
    assert found[0].target.relation() == {
        "rel_type": "m.thread",
        "event_id": "$root",
        "is_falling_back": True,
        "m.in_reply_to": {"event_id": "$t"},
    }

    reply = message(
        "> <@bob:example.org> file.txt\n\n!tw thread ingest",
        "$r",
        **{"m.relates_to": {"m.in_reply_to": {"event_id": "$file"}}},
    )
    found = bot._command(ROOM, reply)
    assert found is not None
    ctx, body = found
    assert (ctx.thread_root, ctx.reply_to, body) == (None, "$file", "!tw thread ingest")
    assert ctx.target.relation() == {"m.in_reply_to": {"event_id": "$r"}}


def test_only_events_after_the_bots_own_join_are_read() -> None:
    def member(user: str, membership: str, prev: str | None = None) -> SimpleNamespace:
        unsigned = {"prev_content": {"membership": prev}} if prev else {}
        return SimpleNamespace(
            source={
                "type": "m.room.member",
                "state_key": user,
                "content": {"membership": membership},
                "unsigned": unsigned,
            }
        )

    before = SimpleNamespace(source=message("!tw help", "$before"))
    after = SimpleNamespace(source=message("!tw help", "$after"))
    rename = member(BOT, "join", prev="join")  # a profile change, not a join
    timeline = [before, member(BOT, "join", prev="invite"), after, rename]
    assert [e.get("event_id") for e in _after_own_join(timeline, BOT)] == ["$after", None]
    assert len(_after_own_join([before, after], BOT)) == 2  # joined in an earlier sync
