"""`!tw digest add|list|remove|now` and `!tw summary NAME --since last` in Matrix.

Most tests drive the bot's own event path (MatrixBot._on_event → router → Handlers) with a
real nio client, real Services and SQLite, against a small homeserver stand-in on
127.0.0.1 that answers room state (power levels), typing and sends, and records every
message. One end-to-end test runs against the session's real Synapse.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nio import MatrixRoom

from bot.matrix_app.handlers import Handlers
from bot.matrix_app.publisher import MatrixPublisher
from bot.matrix_app.router import ADMIN_COMMANDS, LAST, UsageError, help_text, parse
from bot.usecases.scheduler import Scheduler
from storage.digests import DigestRepository
from tests.matrix.conftest import Accounts
from tests.matrix.homeserver import BotProcess, Homeserver
from tests.matrix.standin import (
    ALICE,
    BOB,
    BOT,
    ROOM,
    SCOPE,
    FakeHomeserver,
    Room,
    running_bot,
    serving,
)

OTHER_ROOM = "!elsewhere:example.org"
OTHER_SCOPE = f"matrix:{OTHER_ROOM}"
# Friday noon UTC, two days before Berlin moves its clocks forward (Sunday 2025-03-30).
T0 = datetime(2025, 3, 28, 12, 0, tzinfo=UTC)

# A thread in our own words: neighbours plan a repair café.
CAFE = [
    ("Lotte", "The church hall is free on the first Saturday of every month for a repair café."),
    ("Jonas", "I can bring two soldering irons and the multimeter from the radio club."),
    ("Lotte", "We still need someone who knows sewing machines, they are half of every queue."),
    ("Amara", "My aunt fixed sewing machines for thirty years and would love to help."),
    ("Jonas", "Then we should print posters for the library and the bakery this week."),
    ("Pieter", "The bakery owner offered free coffee if we hang the poster by the till."),
]


def cafe_json(posts: int) -> bytes:
    """The first `posts` posts as an uploaded file. No URLs: a digest refreshes a thread that
    has a web source, and these tests must never reach past loopback."""
    items = [
        {"id": str(n), "author": who, "text": words}
        for n, (who, words) in enumerate(CAFE[:posts], start=1)
    ]
    return json.dumps({"title": "Repair café", "posts": items}).encode()


# --- the bot on a homeserver stand-in -------------------------------------------------------


@pytest.fixture
async def homeserver() -> AsyncIterator[tuple[FakeHomeserver, str]]:
    fake = FakeHomeserver()
    async with serving(fake) as url:
        yield fake, url


@pytest.fixture
async def room(tmp_path: Path, homeserver: tuple[FakeHomeserver, str]) -> AsyncIterator[Room]:
    fake, url = homeserver
    async with running_bot(tmp_path / "t.db", fake, url) as room:
        bot = room.bot
        bot.handlers = Handlers(  # the same handlers, on a fixed clock
            room.services,
            room.services.settings,
            bot.client,
            bot.outbox,
            bot.policy.call,
            clock=lambda: T0,
        )
        yield room


# --- parsing ------------------------------------------------------------------------------------


def test_digest_add_takes_several_names_and_the_cli_options() -> None:
    command = parse(
        '!tw digest add cafe tram --every "0 9 * * 1-5" --tz Europe/Berlin --on mon --at 07:00',
        "!tw",
    )
    assert command is not None and command.name == "digest add" and command.admin
    args = command.args
    assert (args.names, args.every, args.tz, args.on, args.at) == (
        ["cafe", "tram"],
        "0 9 * * 1-5",
        "Europe/Berlin",
        "mon",
        "07:00",
    )
    old = parse("!tw digest add cafe --timezone UTC --weekly fr", "!tw")
    assert old is not None and (old.args.tz, old.args.weekly) == ("UTC", 4)


def test_digest_now_is_for_admins_and_listed_in_help() -> None:
    command = parse("!tw digest now 3", "!tw")
    assert command is not None and command.name == "digest now" and command.args.id == 3
    assert "digest now" in ADMIN_COMMANDS and "digest list" not in ADMIN_COMMANDS
    assert "!tw digest now ID" in help_text("!tw")


def test_since_is_a_post_number_or_last() -> None:
    assert parse("!tw summary cafe --since LAST", "!tw").args.since == LAST  # type: ignore[union-attr]
    assert parse("!tw summary cafe --since 4", "!tw").args.since == 4  # type: ignore[union-attr]
    with pytest.raises(UsageError, match="post number or “last”"):
        parse("!tw summary cafe --since lately", "!tw")


# --- validation ---------------------------------------------------------------------------------

BAD = {
    "unknown word": ("--every fortnightly", "--every must be day, week"),
    "hours not dividing a day": ("--every 5h", "N in 1, 2, 3, 4, 6, 8, 12, 24"),
    "cron with four fields": ('--every "0 9 * *"', "5 fields"),
    "cron with a time": ('--every "0 9 * * 1-5" --at 09:00', "drop --at"),
    "misspelt zone": ("--tz Europe/Berln", "Did you mean Europe/Berlin?"),
    "no such zone": ("--tz Mars/Olympus", "--tz “Mars/Olympus” is not a known IANA time zone."),
    "hour 25": ("--at 25:00", "--at must be a 24-hour time HH:MM like 09:00, not “25:00”."),
    "minutes 60": ("--at 7:60", "--at must be a 24-hour time"),
    "weekly without a day": ("--every week", "needs --on DAY"),
    "a day on a daily digest": ("--every day --on mon", "--on goes with --every week"),
    "no such day": ("--on someday", "unknown day"),
    "both spellings": ("--weekly mon --every day", "--weekly DAY means --every week --on DAY"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
async def test_a_bad_option_is_named_and_nothing_is_written(room: Room, case: str) -> None:
    await room.services.ingest_bytes(SCOPE, cafe_json(3), name="cafe")
    options, needle = BAD[case]
    answer = await room.say(f"!tw digest add cafe {options}")
    assert needle in answer
    assert await room.schedules() == []
    (_, _, content) = room.fake.sent[-1]
    assert content["msgtype"] == "m.notice"


async def test_an_unknown_thread_writes_nothing(room: Room) -> None:
    await room.services.ingest_bytes(SCOPE, cafe_json(3), name="cafe")
    answer = await room.say("!tw digest add cafe cafee --at 08:00")
    assert "no thread named “cafee” here" in answer and "Did you mean cafe?" in answer
    assert await room.schedules() == []


# --- add, list, now, run, remove ---------------------------------------------------------------


async def test_add_list_preview_then_the_real_run_then_remove(room: Room) -> None:
    services = room.services
    await services.ingest_bytes(SCOPE, cafe_json(4), name="cafe")
    added = await room.say(
        "!tw digest add cafe --at 07:30 --every week --on mon --tz Europe/Berlin"
    )
    # Monday after the clocks went forward: summer time.
    assert "Digest #1 saved: every Monday at 07:30 (Europe/Berlin)" in added
    assert "First digest: Mon 2025-03-31 07:30 CEST" in added
    (schedule,) = await room.schedules()
    assert schedule.next_run_at == datetime(2025, 3, 31, 5, 30, tzinfo=UTC)
    assert (schedule.target, schedule.created_by) == (ROOM, ALICE)
    assert [(t.name, t.mark) for t in schedule.threads] == [("cafe", 4)]

    listing = await room.say("!tw digest list", sender=BOB)  # reading is for everyone
    assert "#1 every Monday at 07:30 (Europe/Berlin): cafe; next Mon 2025-03-31 07:30 CEST" in (
        listing
    )

    await services.ingest_bytes(SCOPE, cafe_json(6), name="cafe")  # two new posts
    preview = await room.say("!tw digest now 1")
    assert "Preview of digest #1: 2 new posts" in preview
    assert "Jonas" in preview and "Pieter" in preview and "Amara" not in preview
    assert "nothing was stored or moved" in preview
    (still,) = await room.schedules()
    assert [t.mark for t in still.threads] == [4] and still.next_run_at == schedule.next_run_at
    assert await DigestRepository(services.db).runs(SCOPE, 1) == []

    room.bot.client.next_batch = "s1"  # as after the first sync:
    room.bot.client.rooms[ROOM] = MatrixRoom(ROOM, BOT)  # the bot is in the room
    publisher = MatrixPublisher(room.bot.client, room.bot.outbox)
    before = len(room.fake.sent)
    assert schedule.next_run_at is not None
    (report,) = await Scheduler(services, {"matrix": publisher}).run_due(schedule.next_run_at)
    assert report.status == "sent"
    ((target, txn, content),) = room.fake.sent[before:]
    assert target == ROOM and txn.startswith("digest-1-")  # the slot's idempotency key
    assert "Jonas" in content["body"] and "Pieter" in content["body"]
    (ran,) = await room.schedules()
    assert [t.mark for t in ran.threads] == [6]

    assert "Digest #1 removed." in await room.say("!tw digest remove 1")
    assert await room.schedules() == []
    assert "there is no digest #1 in this room" in await room.say("!tw digest now 1")


async def test_a_member_without_power_changes_and_previews_nothing(room: Room) -> None:
    await room.services.ingest_bytes(SCOPE, cafe_json(3), name="cafe")
    await room.say("!tw digest add cafe --at 08:00")
    before = await room.schedules()
    for text in ("!tw digest add cafe --every 6h --at 00:00", "!tw digest remove 1"):
        answer = await room.say(text, sender=BOB)
        assert "needs power level 50; yours is 0. Nothing was changed." in answer
    preview = await room.say("!tw digest now 1", sender=BOB)
    assert "needs power level 50" in preview and "Preview" not in preview
    assert await room.schedules() == before


async def test_another_room_cannot_see_remove_or_preview_a_schedule(room: Room) -> None:
    await room.services.ingest_bytes(SCOPE, cafe_json(3), name="cafe")
    await room.services.ingest_bytes(OTHER_SCOPE, cafe_json(3), name="cafe")
    await room.say("!tw digest add cafe --at 08:00")
    assert "No digests yet" in await room.say("!tw digest list", room=OTHER_ROOM)
    for text in ("!tw digest now 1", "!tw digest remove 1"):
        answer = await room.say(text, room=OTHER_ROOM)
        assert "there is no digest #1 in this room" in answer
    assert len(await room.schedules()) == 1
    assert await room.schedules(OTHER_SCOPE) == []


# --- summary --since last ------------------------------------------------------------------------


async def test_since_last_is_per_sender_and_the_second_read_says_nothing_new(room: Room) -> None:
    await room.services.ingest_bytes(SCOPE, cafe_json(4), name="cafe")
    first = await room.say("!tw summary cafe --since last")
    assert "First read: the whole thread, up to post #4." in first
    second = await room.say("!tw summary cafe --since last")
    assert "Nothing new in “Repair café” since you last read it" in second
    assert "You have seen up to post #4." in second
    assert "First read" in await room.say("!tw summary cafe --since last", sender=BOB)

    await room.services.ingest_bytes(SCOPE, cafe_json(6), name="cafe")
    third = await room.say("!tw summary cafe --since last")
    assert "New since you last read (after post #4, up to #6)." in third
    assert "Lotte" not in third  # only the two new posts are summarised


# --- end to end, against the session's Synapse ----------------------------------------------------


async def test_e2e_digest_add_and_preview(
    synapse: Homeserver, accounts: Accounts, bot: BotProcess
) -> None:
    from tests.matrix.test_matrix_e2e import body, command, db_rows, person, room_with_bot

    async with person(synapse, accounts.alice) as alice:
        room_id = await room_with_bot(alice, accounts)
        scope = f"matrix:{room_id}"

        async def ingest(posts: int) -> str:
            upload = await alice.upload_file(room_id, cafe_json(posts), "cafe.json", "text/plain")
            reply = {"m.relates_to": {"m.in_reply_to": {"event_id": upload}}}
            return body(await command(alice, room_id, "!tw thread ingest --name cafe", **reply))

        assert "Stored" in await ingest(4)
        added = body(
            await command(
                alice, room_id, "!tw digest add cafe --at 07:30 --every week --on mon --tz UTC"
            )
        )
        assert "saved: every Monday at 07:30 (UTC)" in added, added
        ((schedule_id,),) = db_rows(
            bot.db, "SELECT id FROM digest_schedules WHERE scope = ?", scope
        )
        assert "2 new posts" in await ingest(6)

        preview = body(await command(alice, room_id, f"!tw digest now {schedule_id}"))
        assert f"Preview of digest #{schedule_id}: 2 new posts" in preview, preview
        assert "Pieter" in preview and "nothing was stored or moved" in preview
        marks = "SELECT mark FROM digest_schedule_threads WHERE schedule_id = ?"
        assert db_rows(bot.db, marks, schedule_id) == [(4,)]
        runs = "SELECT count(*) FROM digest_runs WHERE schedule_id = ?"
        assert db_rows(bot.db, runs, schedule_id) == [(0,)]
