"""The Matrix bot end to end: a real Synapse, the bot started as `python -m bot ... run`, and
people played by matrix-nio clients. Each test makes its own rooms, so tests share one bot.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing
from pathlib import Path

import pytest

from tests.matrix.conftest import Accounts, Backlog
from tests.matrix.homeserver import BotProcess, Homeserver, Human, is_membership, replies_to

# A small thread of our own: a community garden argues about watering. Post 3 quotes post 1.
GARDEN_THREAD = {
    "title": "Watering rota for the allotment garden",
    "posts": [
        {
            "author": "Maren",
            "text": "We should water the bean rows every evening after seven, because the "
            "soil dries out by noon in July. A shared rota on the shed door would help.",
        },
        {
            "author": "Tobias",
            "text": "Evening watering invites slugs. Early morning is better for the beans "
            "and for the tomatoes along the fence.",
        },
        {
            "author": "Ines",
            "text": "> We should water the bean rows every evening after seven, because the "
            "soil dries out by noon in July.\nI agree with Maren. Most of us work in the "
            "morning, so a rota that asks for six o'clock starts will stay empty.",
        },
        {
            "author": "Tobias",
            "text": "Then let us buy a timer for the drip hose and stop arguing about the "
            "clock. The water board sells them cheaply every spring.",
        },
        {
            "author": "Maren",
            "text": "A timer is fine with me if the committee pays for it. I will put the "
            "question on the agenda for the next meeting.",
        },
    ],
}


def is_bot_notice(ev: dict, bot: str) -> bool:
    return ev.get("sender") == bot and (ev.get("content") or {}).get("msgtype") == "m.notice"


def body(ev: dict) -> str:
    return str((ev.get("content") or {}).get("body", ""))


def db_rows(db: Path, sql: str, *params: object) -> list[tuple]:
    """Read the bot's database the way an operator would, while the bot runs."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        return conn.execute(sql, params).fetchall()


@asynccontextmanager
async def person(hs: Homeserver, user_id: str) -> AsyncIterator[Human]:
    async with Human(hs, user_id) as human:
        yield human


async def room_with_bot(alice: Human, accounts: Accounts, *, bob: Human | None = None) -> str:
    """Alice makes a room and invites the bot (and Bob); returns once the bot has joined."""
    invite = [accounts.bot] + ([accounts.bob] if bob else [])
    room_id = await alice.create_room(invite=invite)
    await alice.wait_for(room_id, lambda ev: is_membership(ev, accounts.bot, "join"))
    if bob is not None:
        await bob.client.join(room_id)
        await alice.wait_for(room_id, lambda ev: is_membership(ev, accounts.bob, "join"))
    return room_id


async def command(human: Human, room_id: str, text: str, **extra: object) -> dict:
    """Send a command and return the bot's (first) answer to it."""
    event_id = await human.send(room_id, text, **extra)
    return await human.answers_to(room_id, event_id)


# --- joining --------------------------------------------------------------------------------


async def test_invite_from_allowlisted_user_is_joined_once_and_help_answers(
    synapse: Homeserver, accounts: Accounts, bot: BotProcess
) -> None:
    async with person(synapse, accounts.alice) as alice:
        room_id = await room_with_bot(alice, accounts)
        greeting = await alice.wait_for(room_id, lambda ev: is_bot_notice(ev, accounts.bot))
        assert "!tw help" in body(greeting)
        answer = await command(alice, room_id, "!tw help")
        content = answer["content"]
        assert content["msgtype"] == "m.notice"
        assert content["m.mentions"] == {}
        assert content["format"] == "org.matrix.custom.html"
        assert "thread ingest" in content["body"] and "summary" in content["body"]
        joins = [ev for ev in alice.events[room_id] if is_membership(ev, accounts.bot, "join")]
        assert len(joins) == 1


async def test_invite_from_unlisted_user_is_rejected(
    synapse: Homeserver, accounts: Accounts, bot: BotProcess
) -> None:
    async with person(synapse, accounts.mallory) as mallory:
        room_id = await mallory.create_room(invite=[accounts.bot])
        await mallory.wait_for(room_id, lambda ev: is_membership(ev, accounts.bot, "leave"))
        assert not any(is_membership(ev, accounts.bot, "join") for ev in mallory.events[room_id])


async def test_encrypted_room_is_refused_with_a_message(
    synapse: Homeserver, accounts: Accounts, bot: BotProcess
) -> None:
    encryption = {
        "type": "m.room.encryption",
        "state_key": "",
        "content": {"algorithm": "m.megolm.v1.aes-sha2"},
    }
    async with person(synapse, accounts.alice) as alice:
        room_id = await alice.create_room(invite=[accounts.bot], initial_state=[encryption])
        await alice.wait_for(room_id, lambda ev: is_membership(ev, accounts.bot, "leave"))
        notices = [ev for ev in alice.events[room_id] if is_bot_notice(ev, accounts.bot)]
        assert len(notices) == 1 and "encrypted" in body(notices[0])


# --- commands and answers ------------------------------------------------------------------


async def test_uploaded_file_is_ingested_and_every_analysis_answers(
    synapse: Homeserver, accounts: Accounts, bot: BotProcess
) -> None:
    scope = None
    async with person(synapse, accounts.alice) as alice:
        room_id = await room_with_bot(alice, accounts)
        scope = f"matrix:{room_id}"
        data = json.dumps(GARDEN_THREAD).encode()
        file_event = await alice.upload_file(room_id, data, "garden.json", "application/json")
        reply = {"m.relates_to": {"m.in_reply_to": {"event_id": file_event}}}
        stored = await command(alice, room_id, "!tw thread ingest --name garden", **reply)
        assert "Stored" in body(stored) and "garden" in body(stored), body(stored)
        rows = db_rows(bot.db, "SELECT name, scope FROM threads WHERE scope = ?", scope)
        assert rows == [("garden", scope)]

        claimed_huge = await alice.send(
            room_id,
            "huge.txt",
            msgtype="m.file",
            url="mxc://localhost/never-downloaded",
            info={"mimetype": "text/plain", "size": 11 * 1024 * 1024},
        )
        reply_huge = {"m.relates_to": {"m.in_reply_to": {"event_id": claimed_huge}}}
        refused = await command(alice, room_id, "!tw thread ingest", **reply_huge)
        assert "the limit is 10.0 MB" in body(refused)
        chat = await alice.send(room_id, "just words, not a file")
        reply_chat = {"m.relates_to": {"m.in_reply_to": {"event_id": chat}}}
        not_a_file = await command(alice, room_id, "!tw thread ingest", **reply_chat)
        assert "reply to an uploaded file" in body(not_a_file)

        listing = await command(alice, room_id, "!tw thread list")
        assert "garden" in body(listing) and "5 posts" in body(listing)

        summary = await command(alice, room_id, "!tw summary garden --sentences 2 --explain")
        html = summary["content"]["formatted_body"]
        assert summary["content"]["msgtype"] == "m.notice"
        assert "Summary" in body(summary) and "score" in body(summary)
        assert "<li>" in html and "<script" not in html

        brief = await command(alice, room_id, "!tw brief garden")
        assert brief["content"]["msgtype"] == "m.notice"
        assert body(brief).startswith("Brief — Watering rota") and len(body(brief)) <= 2000
        assert "What it is about" in body(brief) and "— #1 Maren" in body(brief)

        by_chapters = await command(alice, room_id, "!tw summary garden --chapters 2 --sentences 1")
        assert body(by_chapters).startswith("Chapters — Watering rota")
        headings = [line for line in body(by_chapters).split("\n") if line.startswith("Posts ")]
        assert len(headings) == 2, body(by_chapters)

        overview_cmd = await alice.send(room_id, "!tw stance garden")
        overview = await alice.answers_to(room_id, overview_cmd)
        assert len(body(overview)) <= 2000, body(overview)
        assert "does not split into sides" in body(overview)  # five calm posts
        assert "!tw stance NAME @user" in body(overview)  # how to ask about one person
        stance = await command(alice, room_id, "!tw stance garden @Tobias")
        headings = [
            line for line in body(stance).split("\n") if line in ("Tobias", "Maren", "Ines")
        ]
        assert headings == ["Tobias"], body(stance)

        quotes_cmd = await alice.send(room_id, "!tw quotes garden")
        text = await alice.answers_to(room_id, quotes_cmd)
        assert "Ines quoted Maren" in body(text)
        image = await alice.wait_for(
            room_id,
            lambda ev: (
                replies_to(ev) == quotes_cmd
                and (ev.get("content") or {}).get("msgtype") == "m.image"
            ),
        )
        assert image["content"]["url"].startswith("mxc://")
        assert image["content"]["info"]["mimetype"] == "image/png"

        added = await command(alice, room_id, "!tw digest add garden --at 07:30 --weekly mon")
        assert "saved" in body(added)
        listed = await command(alice, room_id, "!tw digest list")
        assert "garden" in body(listed) and "every Monday at 07:30" in body(listed)
        (schedule_id,) = db_rows(bot.db, "SELECT id FROM digest_schedules WHERE scope = ?", scope)
        removed = await command(alice, room_id, f"!tw digest remove {schedule_id[0]}")
        assert "removed" in body(removed)

        refresh = await command(alice, room_id, "!tw thread refresh garden")
        assert "cannot be refreshed" in body(refresh)
        bad = await command(alice, room_id, "!tw summary garden --algorithm nope")
        assert "invalid choice" in body(bad) and "usage:" in body(bad)

        forgot = await command(alice, room_id, "!tw thread forget garden")
        assert "Forgot garden" in body(forgot)
        assert db_rows(bot.db, "SELECT name FROM threads WHERE scope = ?", scope) == []


async def test_room_history_is_ingested_with_replies_and_without_the_bot(
    synapse: Homeserver, accounts: Accounts, bot: BotProcess
) -> None:
    async with (
        person(synapse, accounts.alice) as alice,
        person(synapse, accounts.bob) as bob,
    ):
        room_id = await room_with_bot(alice, accounts, bob=bob)
        first = await alice.send(room_id, "The reading group should meet on Thursdays.")
        await bob.send(
            room_id,
            "Thursdays clash with the choir rehearsal for half of us.",
            **{"m.relates_to": {"m.in_reply_to": {"event_id": first}}},
        )
        await alice.send(room_id, "> Thursdays clash with the choir\nThen Wednesday it is.")
        await command(alice, room_id, "!tw help")  # a command and its answer: left out
        done = await command(alice, room_id, "!tw thread ingest here --name reading")
        assert "Stored" in body(done) and "3 posts" in body(done), body(done)
        rows = db_rows(
            bot.db,
            "SELECT p.number, p.author_id, p.reply_to FROM posts p JOIN threads t"
            " ON t.id = p.thread_id WHERE t.scope = ? AND t.name = 'reading' ORDER BY p.number",
            f"matrix:{room_id}",
        )
        assert rows == [(1, accounts.alice, None), (2, accounts.bob, 1), (3, accounts.alice, None)]

        await bob.send(room_id, "Wednesday works for me.")
        refreshed = await command(alice, room_id, "!tw thread refresh reading")
        updated = "Updated reading: 1 new post, 0 edited, 0 deleted"
        assert updated in body(refreshed), body(refreshed)


async def test_a_digest_of_a_room_reads_its_new_messages_itself(
    synapse: Homeserver, accounts: Accounts, bot: BotProcess
) -> None:
    """Issue 16, item 11: no `thread refresh` in between; the digest reads the room first."""
    async with (
        person(synapse, accounts.alice) as alice,
        person(synapse, accounts.bob) as bob,
    ):
        room_id = await room_with_bot(alice, accounts, bob=bob)
        await alice.send(room_id, "The allotment shed needs a new padlock before winter.")
        await bob.send(room_id, "I can buy one at the hardware shop on Friday.")
        stored = await command(alice, room_id, "!tw thread ingest here --name shed")
        assert "Stored" in body(stored), body(stored)
        added = await command(alice, room_id, "!tw digest add shed --at 07:00")
        assert "saved" in body(added), body(added)
        ((schedule_id,),) = db_rows(
            bot.db, "SELECT id FROM digest_schedules WHERE scope = ?", f"matrix:{room_id}"
        )
        await bob.send(room_id, "Bought it: a brass padlock with two keys.")
        await alice.send(room_id, "Thank you, the spare key goes into the rota box.")
        preview = await command(alice, room_id, f"!tw digest now {schedule_id}")
        assert f"Preview of digest #{schedule_id}: 2 new posts" in body(preview), body(preview)
        assert "rota box" in body(preview) or "brass padlock" in body(preview)
        assert "Could not refresh" not in body(preview)


async def test_command_in_a_thread_is_answered_in_that_thread(
    synapse: Homeserver, accounts: Accounts, bot: BotProcess
) -> None:
    async with person(synapse, accounts.alice) as alice:
        room_id = await room_with_bot(alice, accounts)
        root = await alice.send(room_id, "Where should the summer outing go?")
        await alice.send(
            room_id,
            "The lake, as long as there is shade.",
            **{"m.relates_to": {"rel_type": "m.thread", "event_id": root}},
        )
        in_thread = {
            "m.relates_to": {
                "rel_type": "m.thread",
                "event_id": root,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": root},
            }
        }
        answer = await command(alice, room_id, "!tw thread ingest here", **in_thread)
        relation = answer["content"]["m.relates_to"]
        assert relation["rel_type"] == "m.thread" and relation["event_id"] == root
        assert relation["is_falling_back"] is True
        assert "Stored" in body(answer) and "2 posts" in body(answer), body(answer)


async def test_command_sent_as_a_reply_with_fallback_still_parses(
    synapse: Homeserver, accounts: Accounts, bot: BotProcess
) -> None:
    async with person(synapse, accounts.alice) as alice:
        room_id = await room_with_bot(alice, accounts)
        earlier = await alice.send(room_id, "What can the bot do?")
        answer = await command(
            alice,
            room_id,
            f"> <{accounts.alice}> What can the bot do?\n\n!tw thread list",
            format="org.matrix.custom.html",
            formatted_body="<mx-reply><blockquote>What can the bot do?</blockquote></mx-reply>"
            "!tw thread list",
            **{"m.relates_to": {"m.in_reply_to": {"event_id": earlier}}},
        )
        assert "No threads stored yet" in body(answer)


async def test_notices_and_the_bots_own_messages_are_never_answered(
    synapse: Homeserver, accounts: Accounts, bot: BotProcess
) -> None:
    async with (
        person(synapse, accounts.alice) as alice,
        person(synapse, accounts.bot) as bot_elsewhere,  # the bot's account, another device
    ):
        room_id = await room_with_bot(alice, accounts)
        notice = await alice.send(room_id, "!tw help", msgtype="m.notice")
        own = await bot_elsewhere.send(room_id, "!tw help")
        sentinel = await alice.send(room_id, "!tw thread list")
        await alice.answers_to(room_id, sentinel)
        await alice.pump(0.3)
        assert alice.all_answers_to(room_id, notice) == []
        assert alice.all_answers_to(room_id, own) == []


async def test_member_without_power_is_refused_and_nothing_is_written(
    synapse: Homeserver, accounts: Accounts, bot: BotProcess
) -> None:
    async with (
        person(synapse, accounts.alice) as alice,
        person(synapse, accounts.bob) as bob,
    ):
        room_id = await room_with_bot(alice, accounts, bob=bob)
        await alice.send(room_id, "Something worth keeping.")
        for text in ("!tw thread ingest here --name mine", "!tw digest add anything"):
            refused = await command(bob, room_id, text)
            assert "power level 50" in body(refused) and "yours is 0" in body(refused)
        listing = await command(bob, room_id, "!tw thread list")  # reading is for everyone
        assert "No threads stored yet" in body(listing)
    scope = f"matrix:{room_id}"
    assert db_rows(bot.db, "SELECT count(*) FROM threads WHERE scope = ?", scope) == [(0,)]
    assert db_rows(bot.db, "SELECT count(*) FROM digest_schedules WHERE scope = ?", scope) == [(0,)]


async def test_one_room_never_sees_another_rooms_threads(
    synapse: Homeserver, accounts: Accounts, bot: BotProcess
) -> None:
    async with person(synapse, accounts.alice) as alice:
        room_a = await room_with_bot(alice, accounts)
        room_b = await room_with_bot(alice, accounts)
        await alice.send(room_a, "A private conversation in room A.")
        stored = await command(alice, room_a, "!tw thread ingest here --name secret")
        assert "Stored" in body(stored)
        listing = await command(alice, room_b, "!tw thread list")
        assert "secret" not in body(listing)
        summary = await command(alice, room_b, "!tw summary secret")
        assert "no thread named" in body(summary)
        forget = await command(alice, room_b, "!tw thread forget secret")
        assert "no thread named" in body(forget)
    assert db_rows(bot.db, "SELECT scope FROM threads WHERE name = 'secret'") == [
        (f"matrix:{room_a}",)
    ]


async def test_kick_marks_the_room_as_left(
    synapse: Homeserver, accounts: Accounts, bot: BotProcess
) -> None:
    async with person(synapse, accounts.alice) as alice:
        room_id = await room_with_bot(alice, accounts)
        await alice.client.room_kick(room_id, accounts.bot, reason="test")
        bot.wait_for_log(f"removed from {room_id}")
    rows = db_rows(
        bot.db, "SELECT scope FROM scope_departures WHERE scope = ?", f"matrix:{room_id}"
    )
    assert rows == [(f"matrix:{room_id}",)]


# --- restarts ------------------------------------------------------------------------------


async def test_restart_answers_nothing_twice_and_answers_what_came_meanwhile(
    synapse: Homeserver, accounts: Accounts, bot: BotProcess
) -> None:
    device_key = f"matrix:{accounts.bot}:device_id"
    async with person(synapse, accounts.alice) as alice:
        room_id = await room_with_bot(alice, accounts)
        before = await alice.send(room_id, "!tw help")
        await alice.answers_to(room_id, before)
        (device_before,) = db_rows(bot.db, "SELECT value FROM bot_state WHERE key = ?", device_key)

        assert bot.stop() == 0, bot.log_text()[-4000:]
        while_down = await alice.send(room_id, "!tw help")
        bot.start()

        sentinel = await alice.send(room_id, "!tw thread list")
        await alice.answers_to(room_id, sentinel)
        await alice.answers_to(room_id, while_down)  # sent while the bot was down
        await alice.pump(0.3)
        assert len(alice.all_answers_to(room_id, before)) == 1
        assert len(alice.all_answers_to(room_id, while_down)) == 1
    assert db_rows(bot.db, "SELECT value FROM bot_state WHERE key = ?", device_key) == [
        device_before
    ]


async def test_first_start_without_a_sync_token_skips_the_backlog(
    synapse: Homeserver, accounts: Accounts, bot: BotProcess, backlog: Backlog
) -> None:
    """The bot's account sat in this room with a command waiting before the bot first ran."""
    async with person(synapse, accounts.alice) as alice:
        sentinel = await alice.send(backlog.room_id, "!tw thread list")
        await alice.answers_to(backlog.room_id, sentinel)
        await alice.pump(0.3)
        assert alice.all_answers_to(backlog.room_id, backlog.command_id) == []


@pytest.fixture(autouse=True)
def _bot_running_and_its_log_on_failure(
    request: pytest.FixtureRequest, bot: BotProcess
) -> Iterator[None]:
    bot.ensure_running()
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(bot.log_text()[-6000:])
