"""Chat history → ThreadDoc: replies become reply edges, "> " lines quotes, bots and opted-out
members are left out. History is read by discord.py's own paging from the fake REST API."""

from __future__ import annotations

import json
from typing import Any

import discord
import pytest
from discord_helpers import ADMIN, CHANNEL_A, GUILD_A, Driver, opt, sub, text_channel
from fake_discord import FakeDiscord, user_json

from bot.core.models import Block
from bot.discord_app.history import message_blocks, messages_to_doc
from bot.discord_app.publisher import DiscordPublisher
from bot.usecases.scheduler import Scheduler
from bot.usecases.services import Services
from storage.digests import DigestRepository

LENA = (730000000000000011, "Lena")
OMAR = (730000000000000012, "Omar")
PRIYA = (730000000000000013, "Priya")
SAM = (730000000000000014, "Sam")
HELPER_BOT = (730000000000000015, "Helper Bot")
SCOPE = f"discord:{GUILD_A}"

LINES = [
    "The council wants a protected bike lane on Harbour Road before next summer.",
    "Protected lanes work when they connect to something, otherwise riders never use them.",
    "Harbour Road already carries most of the school traffic on weekday mornings.",
    "A painted lane would be cheaper, but delivery vans park on painted lanes all day.",
    "The consultation closes on the twelfth, so written answers need to go in this week.",
    "Shop owners worry about losing the loading bays outside the bakery and the chemist.",
]


def message_json(
    fake: FakeDiscord,
    author: tuple[int, str],
    content: str,
    *,
    bot: bool = False,
    kind: int = 0,
    reply_to: dict[str, Any] | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": str(fake.snowflake()),
        "channel_id": str(CHANNEL_A),
        "type": kind,
        "content": content,
        "author": user_json(author[0], author[1], bot=bot),
        "embeds": [],
        "attachments": [],
        "mentions": [],
        "mention_roles": [],
        "mention_everyone": False,
        "pinned": False,
        "tts": False,
        "timestamp": fake.now().isoformat(),
        "edited_timestamp": None,
        "flags": 0,
        "components": [],
    }
    if reply_to is not None:
        payload["type"] = 19
        payload["message_reference"] = {
            "type": 0,
            "message_id": reply_to["id"],
            "channel_id": str(CHANNEL_A),
            "guild_id": str(GUILD_A),
        }
        payload["referenced_message"] = reply_to
    return payload


def conversation(fake: FakeDiscord, count: int = 240) -> list[dict[str, Any]]:
    """`count` messages over several REST pages: people, a bot, a join notice, replies."""
    people = [LENA, OMAR, PRIYA, SAM]
    messages: list[dict[str, Any]] = []
    for n in range(count):
        if n % 17 == 5:
            messages.append(message_json(fake, HELPER_BOT, f"Reminder {n}: be kind.", bot=True))
            continue
        if n % 53 == 7:
            messages.append(message_json(fake, OMAR, "", kind=7))  # "Omar joined the server"
            continue
        who = people[n % len(people)]
        text = f"{LINES[n % len(LINES)]} Point {n} from {who[1]}."
        if n % 3 == 2 and messages and messages[-1]["type"] in (0, 19):
            parent = messages[-1]
            if not parent["author"]["bot"]:
                quoted = parent["content"].split("\n")[-1]
                messages.append(
                    message_json(fake, who, f"> {quoted}\nI disagree, point {n}.", reply_to=parent)
                )
                continue
        messages.append(message_json(fake, who, text))
    return messages


# --- pure parsing ------------------------------------------------------------------------------


def test_quote_lines_and_paragraphs() -> None:
    content = (
        "> what they said\n> over two lines\nMy answer.\n\nA second thought.\n>>> all\nof this"
    )
    assert message_blocks(content, "Omar") == (
        Block("what they said\nover two lines", is_quote=True, quoted_author="Omar"),
        Block("My answer."),
        Block("A second thought."),
        Block("all\nof this", is_quote=True, quoted_author="Omar"),
    )
    assert message_blocks("", None) == ()
    assert message_blocks(">not a quote", None) == (Block(">not a quote"),)


async def test_messages_become_posts_with_reply_edges(bot, fake: FakeDiscord) -> None:
    channel = discord.PartialMessageable(state=bot._connection, id=CHANNEL_A, guild_id=GUILD_A)
    raw = conversation(fake, 40)
    messages = [discord.Message(state=bot._connection, channel=channel, data=m) for m in raw]
    doc = messages_to_doc("#bikes", "https://discord.com/channels/1/2", messages, {str(SAM[0])})
    people = {m["id"] for m in raw if not m["author"]["bot"] and m["type"] in (0, 19)}
    sams = {m["id"] for m in raw if m["author"]["id"] == str(SAM[0])}
    assert {p.source_id for p in doc.posts} == people - sams
    assert doc.source_kind == "discord"
    replies = [p for p in doc.posts if p.reply_to_source_id]
    assert replies
    for post in replies:
        parent = next(m for m in raw if m["id"] == post.reply_to_source_id)
        quotes = [b for b in post.blocks if b.is_quote]
        if parent["author"]["id"] == str(SAM[0]):
            assert quotes == []  # an opted-out member's words are not kept as quotes either
        else:
            assert quotes and quotes[0].quoted_author == parent["author"]["global_name"]
    first = doc.posts[0]
    assert first.author_id == str(LENA[0]) and first.author == "Lena"
    assert first.url == f"https://discord.com/channels/{GUILD_A}/{CHANNEL_A}/{first.source_id}"


# --- through the commands ---------------------------------------------------------------------


@pytest.fixture
async def history_bot(make_bot: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("THREADWISE_DISCORD_MESSAGE_CONTENT", "1")
    return await make_bot()


def requests_text(requests: list[Any]) -> str:
    return "\n".join(
        (r.message_payload or {}).get("content") or "" for r in requests if r.message_payload
    )


async def test_without_the_intent_ingest_here_says_so(driver, fake, services) -> None:
    fake.add_channel(text_channel(CHANNEL_A, GUILD_A), conversation(fake, 10))
    requests = await driver.command("thread", sub("ingest", opt("here", True)))
    assert "Message Content intent" in requests_text(requests)
    assert not [r for r in requests if r.route.startswith("GET /channels/")]
    assert await services.list_threads(SCOPE) == []


async def test_ingest_here_reads_every_page(history_bot, fake, services: Services) -> None:
    raw = conversation(fake, 240)
    fake.add_channel(text_channel(CHANNEL_A, GUILD_A, "general"), raw)
    driver = Driver(history_bot, fake)
    requests = await driver.command("thread", sub("ingest", opt("here", True)))
    pages = [r for r in requests if r.route == f"GET /channels/{CHANNEL_A}/messages"]
    assert len(pages) == 3  # 240 messages at 100 per page
    humans = [m for m in raw if not m["author"]["bot"] and m["type"] in (0, 19)]
    assert f"as general: {len(humans)} posts" in requests_text(requests)
    view = await services.view(SCOPE, "general")
    assert view.thread.source_kind == "discord"
    assert view.thread.source_url == f"https://discord.com/channels/{GUILD_A}/{CHANNEL_A}"
    replied = [p for p in view.posts if p.reply_to is not None]
    assert replied and all(p.reply_to < p.number for p in replied)
    assert any(s.kind == "quote" and s.source_post for p in view.posts for s in p.segments)
    replies = {(r.from_post, r.to_post) for r in await services.threads.replies(SCOPE, "general")}
    assert {(p.number, p.reply_to) for p in replied} == replies
    assert {p.author_id for p in view.posts} == {str(u[0]) for u in (LENA, OMAR, PRIYA, SAM)}


async def test_opted_out_members_are_removed_and_left_out(history_bot, fake, services) -> None:
    raw = conversation(fake, 60)
    fake.add_channel(text_channel(CHANNEL_A, GUILD_A, "general"), raw)
    driver = Driver(history_bot, fake)
    await driver.command("thread", sub("ingest", opt("here", True)))
    before = await services.view(SCOPE, "general")
    assert any(p.author_id == str(SAM[0]) for p in before.posts)

    requests = await driver.command("optout", user_id=SAM[0], permissions=0)
    assert "opted out" in requests_text(requests)
    redacted = await services.view(SCOPE, "general")
    assert not [p for p in redacted.posts if p.author_id == str(SAM[0])]

    await services.forget(SCOPE, "general")
    await driver.command("thread", sub("ingest", opt("here", True)))
    again = await services.view(SCOPE, "general")
    assert str(SAM[0]) not in {p.author_id for p in again.posts}
    sams_words = {m["content"] for m in raw if m["author"]["id"] == str(SAM[0])}
    assert not any(s.text in sams_words for p in again.posts for s in p.segments)

    assert "included again" in requests_text(await driver.command("optin", user_id=SAM[0]))


async def test_message_menu_ingests_the_thread_it_is_used_in(history_bot, fake, services):
    thread_id = fake.snowflake()
    thread = {
        "id": str(thread_id),
        "type": 11,
        "guild_id": str(GUILD_A),
        "parent_id": str(CHANNEL_A),
        "owner_id": str(LENA[0]),
        "name": "Harbour Road lane",
        "message_count": 3,
        "member_count": 3,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 1440,
            "archive_timestamp": fake.now().isoformat(),
            "locked": False,
        },
    }
    raw = conversation(fake, 12)
    for m in raw:
        m["channel_id"] = str(thread_id)
    fake.add_channel(thread, raw)
    driver = Driver(history_bot, fake)
    target = raw[2]
    requests = await driver.command(
        "Ingest this thread",
        command_type=3,
        target_id=int(target["id"]),
        resolved={"messages": {target["id"]: target}},
    )
    assert requests[0].json["type"] == 5
    assert "as harbour-road-lane" in requests_text(requests)
    stored = await services.view(SCOPE, "harbour-road-lane")
    assert stored.thread.title == "Harbour Road lane"


async def test_refresh_rereads_a_chat_thread(history_bot, fake, services) -> None:
    raw = conversation(fake, 20)
    fake.add_channel(text_channel(CHANNEL_A, GUILD_A, "general"), raw)
    driver = Driver(history_bot, fake)
    await driver.command("thread", sub("ingest", opt("here", True)))
    count = (await services.view(SCOPE, "general")).thread.post_count
    fake.messages[CHANNEL_A].append(message_json(fake, PRIYA, "One more thought on the lane."))
    requests = await driver.command("thread", sub("refresh", opt("thread", "general")))
    assert "Updated general: 1 new post, 0 edited, 0 deleted" in requests_text(requests)
    assert (await services.view(SCOPE, "general")).thread.post_count == count + 1


async def test_refused_menu_for_members(history_bot, fake, services) -> None:
    raw = conversation(fake, 5)
    fake.add_channel(text_channel(CHANNEL_A, GUILD_A), raw)
    driver = Driver(history_bot, fake)
    requests = await driver.command(
        "Ingest this thread",
        command_type=3,
        target_id=int(raw[0]["id"]),
        resolved={"messages": {raw[0]["id"]: raw[0]}},
        user_id=ADMIN + 99,
        permissions=0,
    )
    (reply,) = requests
    assert "Manage Server" in reply.json["data"]["content"]
    assert await services.list_threads(SCOPE) == []


async def test_a_digest_of_a_chat_thread_reads_the_new_messages_itself(
    history_bot, fake, services: Services
) -> None:
    """Issue 16, item 11: nobody runs /thread refresh; the scheduled digest reads the
    channel's new messages before it is composed."""
    fake.add_channel(text_channel(CHANNEL_A, GUILD_A, "general"), conversation(fake, 12))
    driver = Driver(history_bot, fake)
    await driver.command("thread", sub("ingest", opt("here", True)))
    await driver.command("digest", sub("add", opt("thread", "general"), opt("time", "08:00")))
    (schedule,) = await DigestRepository(services.db).list(SCOPE)
    fake.messages[CHANNEL_A].extend(
        [
            message_json(fake, LENA, "The bakery agreed to keep one loading bay for deliveries."),
            message_json(fake, OMAR, "Then the lane can run the whole length of Harbour Road."),
            message_json(fake, PRIYA, "I will write that into our consultation answer tonight."),
        ]
    )
    history_bot._ready.set()  # no gateway in tests: the bot counts as connected (private API)
    scheduler = Scheduler(services, {"discord": DiscordPublisher(history_bot)})
    assert schedule.next_run_at is not None
    (report,) = await scheduler.run_due(schedule.next_run_at)
    assert report.status == "sent" and report.digest is not None
    assert report.digest.new_posts == 3
    assert not [n for t in report.digest.threads for n in t.notes]  # read without trouble
    posted = [r for r in fake.requests if r.route == f"POST /channels/{CHANNEL_A}/messages"]
    shown = json.dumps([r.json for r in posted])
    assert "3 new posts" in shown and "Harbour Road" in shown
