"""Rooms left or re-joined while the bot was down are caught up at its next start.

A kick that happens while the bot runs arrives as a leave event (test_matrix_e2e). While it
is down, a room can be left for good or a stale departure can linger; the first sync lists
every joined room, so the bot records the missing ones as left (grace starts then), clears
departures of rooms it is in, and purges rooms left longer than the grace period ago.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.settings import load_settings
from bot.usecases.services import Services
from storage.database import open_database
from tests.matrix.conftest import Accounts
from tests.matrix.homeserver import BotProcess, Homeserver, is_membership
from tests.matrix.test_matrix_e2e import db_rows, person, room_with_bot

GHOST = "matrix:!ghost-room:unknown.example"
"""Has stored threads, but the bot is not in it any more (left while the bot was down)."""
OLD = "matrix:!long-gone:unknown.example"
"""Left 30 days ago, past the 7-day grace period: purged at start."""
THREAD = b"A plain thread\n\nThe rota should start at seven.\n\nSeven is too early for most.\n"


async def _prepare(db: Path, room_scope: str, now: datetime) -> None:
    database = await open_database(db)
    services = Services(database, load_settings(None, {}))
    try:
        for scope in (GHOST, OLD, room_scope):
            await services.ingest_bytes(scope, THREAD, name="rota")
        await services.scopes.mark_left(OLD, now - timedelta(days=30))
        # a stale departure of a room the bot is still in: must be cleared, never purged
        await services.scopes.mark_left(room_scope, now - timedelta(days=30))
    finally:
        await services.close()
        await database.close()


@pytest.fixture(autouse=True)
def _bot_running(bot: BotProcess) -> Iterator[None]:
    bot.ensure_running()
    yield
    bot.ensure_running()


async def test_start_catches_up_on_departures_and_purges_past_the_grace(
    synapse: Homeserver, accounts: Accounts, bot: BotProcess
) -> None:
    async with person(synapse, accounts.alice) as alice:
        room_id = await room_with_bot(alice, accounts)
    room_scope = f"matrix:{room_id}"
    assert bot.stop() == 0, bot.log_text()[-4000:]
    await _prepare(bot.db, room_scope, datetime.now(UTC))
    bot.start()
    bot.wait_for_log(f"no longer in {GHOST}")
    bot.wait_for_log(f"back in {room_scope}")
    bot.wait_for_log(f"purged the data of {OLD}")
    await asyncio.sleep(0.2)  # the purge's transaction has committed by the time it logs
    departures = dict(db_rows(bot.db, "SELECT scope, left_at FROM scope_departures"))
    assert room_scope not in departures and OLD not in departures
    assert GHOST in departures  # recorded at this start: its data waits out the grace
    threads = {scope for (scope,) in db_rows(bot.db, "SELECT scope FROM threads")}
    assert GHOST in threads and OLD not in threads


async def test_a_room_that_turns_on_encryption_is_refused_left_and_marked(
    synapse: Homeserver, accounts: Accounts, bot: BotProcess
) -> None:
    """The bot can no longer read the room: it says so once, leaves, and what it stored of
    the room is purged after the grace period like a kicked room's."""
    async with person(synapse, accounts.alice) as alice:
        room_id = await room_with_bot(alice, accounts)
        await alice.client.room_put_state(
            room_id, "m.room.encryption", {"algorithm": "m.megolm.v1.aes-sha2"}
        )
        await alice.wait_for(room_id, lambda ev: is_membership(ev, accounts.bot, "leave"))
        notices = [
            ev
            for ev in alice.events[room_id]
            if ev.get("sender") == accounts.bot
            and "encrypted" in str((ev.get("content") or {}).get("body", ""))
        ]
        assert len(notices) == 1
    bot.wait_for_log(f"left encrypted room {room_id}")
    scope = f"matrix:{room_id}"
    rows: list[tuple] = []
    for _ in range(100):  # written right after the leave is logged
        rows = db_rows(bot.db, "SELECT scope FROM scope_departures WHERE scope = ?", scope)
        if rows:
            break
        await asyncio.sleep(0.1)
    assert rows == [(scope,)]
