"""`/digest add|list|remove|now` and `/summary since:last` through the real command tree, cogs,
Services and SQLite, with only Discord's REST API faked (fake_discord.py) and forum pages
served by a real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest
from discord_helpers import (
    ADMIN,
    CHANNEL_A,
    CHANNEL_B,
    EVERYDAY,
    GUILD_A,
    GUILD_B,
    MEMBER,
    Driver,
    garden_json,
    hostile_json,
    opt,
    sub,
    text_channel,
)

from bot.core.schedule import Cadence
from bot.discord_app.app import ThreadwiseBot
from bot.discord_app.publisher import DiscordPublisher
from bot.usecases.digest_options import local_time, zone_choices
from bot.usecases.scheduler import Scheduler
from bot.usecases.services import Services
from storage.digests import DigestRepository
from tests.sources.loopback import LoopbackServer, Page
from tests.sources.test_xenforo import THREAD_PATH, xf2_page, xf2_post

GARDEN = "garden"
HOSTILE = "hostile"
SCOPE_A = f"discord:{GUILD_A}"
SCOPE_B = f"discord:{GUILD_B}"
EPHEMERAL = 64

# A thread of our own words, served as a XenForo page: a street argues about a bike lane.
LANE = [
    (2001, "Odile", "The painted bike lane on Quay Street ends right where the buses pull in."),
    (2002, "Bram", "Moving the bus stop ten metres east would give the lane a clean finish."),
    (2003, "Odile", "Ten metres east puts the stop in front of the pharmacy ramp, though."),
    (2004, "Sunita", "A floating bus stop solves both: riders pass behind the shelter."),
]
LATER = [
    (2005, "Bram", "Floating stops need a wide pavement, and Quay Street has barely two metres."),
    (2006, "Kofi", "The council survey last spring counted four hundred riders each morning."),
]


def lane_page(posts: list[tuple[int, str, str]]) -> dict[str, Page]:
    bodies = [xf2_post(i, who, 1_700_000_000 + i * 60, words) for i, who, words in posts]
    return {THREAD_PATH: Page(xf2_page(bodies, 1, 1))}


# --- helpers -----------------------------------------------------------------------------------


def shown(requests: list[Any]) -> str:
    """Everything the member sees (content, embed titles, descriptions, footers), unescaped."""
    parts = []
    for r in requests:
        payload = r.message_payload
        if payload is None:
            continue
        parts.append(payload.get("content") or "")
        for embed in payload.get("embeds") or []:
            parts.append(embed.get("title") or "")
            parts.append(embed.get("description") or "")
            parts.append((embed.get("footer") or {}).get("text") or "")
    return "\n".join(parts).replace("\\", "")


def is_private(requests: list[Any]) -> bool:
    """Whether the first response (the defer, or a refusal) was ephemeral."""
    first = requests[0]
    assert first.path.endswith("/callback"), first.route
    return bool(((first.json.get("data") or {}).get("flags") or 0) & EPHEMERAL)


def no_errors(requests: list[Any], fake: Any) -> None:
    assert [r.status for r in requests if r.status >= 400] == []
    assert fake.violations == []
    for r in requests:
        if r.message_payload is not None:
            assert r.message_payload.get("allowed_mentions") == {"parse": []}


async def store(services: Services, scope: str, data: bytes, name: str) -> str:
    return (await services.ingest_bytes(scope, data, name=name)).thread.name


def in_guild_channel(channel_id: int, guild_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A channel option and the resolved data Discord sends with it."""
    channel = text_channel(channel_id, guild_id, "digests")
    resolved = {"channels": {str(channel_id): {**channel, "permissions": str(EVERYDAY)}}}
    return opt("channel", str(channel_id), kind=7), resolved


# --- validation --------------------------------------------------------------------------------

BAD_OPTIONS = {
    "unknown word": ([opt("every", "fortnightly")], ["every:", "day, week"]),
    "hours not dividing a day": ([opt("every", "5h")], ["every:", "1, 2, 3, 4, 6, 8, 12, 24"]),
    "cron with four fields": ([opt("every", "0 9 * *")], ["every:", "5 fields"]),
    "cron every minute": ([opt("every", "*/5 * * * *")], ["every:", "minute"]),
    "cron with a time": (
        [opt("every", "0 9 * * 1-5"), opt("time", "09:00")],
        ["every:", "leave out time:"],
    ),
    "misspelt zone": ([opt("timezone", "Europe/Berln")], ["timezone:", "Europe/Berlin?"]),
    "no such zone": ([opt("timezone", "Mars/Olympus")], ["timezone:", "IANA"]),
    "hour 25": ([opt("time", "25:00")], ["time:", "HH:MM"]),
    "weekly without a day": ([opt("every", "week")], ["weekday:", "needs a day"]),
    "a day on a daily digest": ([opt("every", "day"), opt("weekday", 2)], ["weekday:", "week"]),
}


@pytest.mark.parametrize("case", BAD_OPTIONS, ids=list(BAD_OPTIONS))
async def test_a_bad_option_is_named_and_nothing_is_written(case, driver, fake, services) -> None:
    await store(services, SCOPE_A, garden_json(), GARDEN)
    options, needles = BAD_OPTIONS[case]
    requests = await driver.command("digest", sub("add", opt("thread", GARDEN), *options))
    text = shown(requests)
    for needle in needles:
        assert needle in text, text
    assert is_private(requests)
    no_errors(requests, fake)
    assert await DigestRepository(services.db).list(SCOPE_A) == []


async def test_an_unknown_thread_is_named_with_close_matches(driver, fake, services) -> None:
    await store(services, SCOPE_A, garden_json(), GARDEN)
    options = sub("add", opt("thread", GARDEN), opt("thread2", "gardn"))
    text = shown(await driver.command("digest", options))
    assert "no thread named “gardn”" in text and "Did you mean garden?" in text
    assert await DigestRepository(services.db).list(SCOPE_A) == []


# --- add, list, remove ---------------------------------------------------------------------------


async def test_add_then_list_shows_threads_target_and_next_run_in_local_time(
    driver, fake, services
) -> None:
    await store(services, SCOPE_A, garden_json(), GARDEN)
    await store(services, SCOPE_A, hostile_json(12), HOSTILE)
    channel, resolved = in_guild_channel(CHANNEL_B, GUILD_A)
    options = sub(
        "add",
        opt("thread", GARDEN),
        opt("time", "7:30"),
        opt("every", "week"),
        opt("weekday", 4),
        opt("timezone", "America/New_York"),
        channel,
        opt("thread2", HOSTILE),
        opt("thread3", GARDEN),  # a repeat counts once
    )
    added = await driver.command("digest", options, resolved=resolved)
    assert is_private(added)
    no_errors(added, fake)

    (schedule,) = await DigestRepository(services.db).list(SCOPE_A)
    assert schedule.cadence == Cadence("weekly", "America/New_York", time_of_day="07:30", weekday=4)
    assert schedule.target == str(CHANNEL_B) and schedule.created_by == str(ADMIN)
    assert [(t.name, t.mark) for t in schedule.threads] == [(GARDEN, 6), (HOSTILE, 12)]
    assert schedule.next_run_at is not None
    local = schedule.next_run_at.astimezone(schedule.cadence.zone)
    assert (local.weekday(), local.hour, local.minute) == (4, 7, 30)
    first_run = local_time(schedule.next_run_at, schedule.cadence)
    assert first_run.startswith("Fri ") and " 07:30 E" in first_run  # EST or EDT
    assert f"Digest #{schedule.id} saved" in shown(added)
    assert f"First digest: {first_run}" in shown(added)

    cron = sub("add", opt("thread", GARDEN), opt("every", "15 6 * * 1-5"), opt("timezone", "UTC"))
    no_errors(await driver.command("digest", cron), fake)

    listing = await driver.command("digest", sub("list"))
    assert is_private(listing)
    text = shown(listing)
    assert (
        f"#1 every Friday at 07:30 (America/New_York) → channel {CHANNEL_B}: {GARDEN}, {HOSTILE}"
        f"; next {first_run}"
    ) in text
    second = (await DigestRepository(services.db).list(SCOPE_A))[1]
    assert f"#2 cron “15 6 * * 1-5” (UTC) → channel {CHANNEL_A}: {GARDEN}" in text
    assert f"next {local_time(second.next_run_at, second.cadence)}" in text

    removed = await driver.command("digest", sub("remove", opt("id", 1)))
    assert "Digest #1 removed." in shown(removed)
    assert [s.id for s in await DigestRepository(services.db).list(SCOPE_A)] == [2]
    again = await driver.command("digest", sub("remove", opt("id", 1)))
    assert "there is no digest #1 in this server" in shown(again)


async def test_a_channel_of_another_server_is_refused(driver, fake, services) -> None:
    await store(services, SCOPE_A, garden_json(), GARDEN)
    channel, resolved = in_guild_channel(CHANNEL_B, GUILD_B)
    requests = await driver.command(
        "digest", sub("add", opt("thread", GARDEN), channel), resolved=resolved
    )
    assert "channel: that channel belongs to another server" in shown(requests)
    assert await DigestRepository(services.db).list(SCOPE_A) == []


async def test_a_channel_that_cannot_hold_messages_is_refused(driver, fake, services) -> None:
    await store(services, SCOPE_A, garden_json(), GARDEN)
    category = {**text_channel(CHANNEL_B, GUILD_A, "archive"), "type": 4}
    resolved = {"channels": {str(CHANNEL_B): {**category, "permissions": str(EVERYDAY)}}}
    options = sub("add", opt("thread", GARDEN), opt("channel", str(CHANNEL_B), kind=7))
    requests = await driver.command("digest", options, resolved=resolved)
    assert "channel: #archive cannot hold messages" in shown(requests)
    assert await DigestRepository(services.db).list(SCOPE_A) == []


async def test_timezone_autocomplete_is_a_prefix_match_of_at_most_25(driver, fake) -> None:
    def typed(text: str) -> list[dict[str, Any]]:
        return [sub("add", opt("thread", "x"), opt("timezone", text, focused=True))]

    berlin = await driver.autocomplete("digest", typed("europe/ber"))
    assert [c["value"] for c in berlin] == ["Europe/Berlin"]
    america = [c["value"] for c in await driver.autocomplete("digest", typed("America/"))]
    assert len(america) == 25 and all(z.startswith("America/") for z in america)
    assert america == sorted(america)
    assert "Europe/Berlin" in [
        c["value"] for c in await driver.autocomplete("digest", typed("ber"))
    ]
    assert [c["value"] for c in await driver.autocomplete("digest", typed("Nowhere/"))] == []
    assert zone_choices("utc")[0] == "UTC"


# --- permissions and isolation ---------------------------------------------------------------


async def test_members_without_manage_server_change_and_preview_nothing(
    driver, fake, services
) -> None:
    await store(services, SCOPE_A, garden_json(), GARDEN)
    await driver.command("digest", sub("add", opt("thread", GARDEN)))
    before = await DigestRepository(services.db).list(SCOPE_A)
    member = {"user_id": MEMBER, "permissions": EVERYDAY}
    for options in (
        sub("add", opt("thread", GARDEN), opt("every", "6h")),
        sub("remove", opt("id", 1)),
        sub("now", opt("id", 1)),
        sub("list"),
    ):
        (reply,) = await driver.command("digest", options, **member)
        assert reply.json["type"] == 4 and reply.json["data"]["flags"] & EPHEMERAL
        assert "Manage Server" in reply.json["data"]["content"]
    assert await DigestRepository(services.db).list(SCOPE_A) == before


async def test_another_server_cannot_see_remove_or_preview_a_schedule(
    driver, fake, services
) -> None:
    await store(services, SCOPE_A, garden_json(), GARDEN)
    await store(services, SCOPE_B, garden_json(), GARDEN)  # same name there: still not theirs
    await driver.command("digest", sub("add", opt("thread", GARDEN)))
    in_b = {"guild_id": GUILD_B, "channel_id": CHANNEL_B}
    assert "No digests scheduled" in shown(await driver.command("digest", sub("list"), **in_b))
    for action in ("remove", "now"):
        requests = await driver.command("digest", sub(action, opt("id", 1)), **in_b)
        assert "there is no digest #1 in this server" in shown(requests), action
    assert len(await DigestRepository(services.db).list(SCOPE_A)) == 1
    assert await DigestRepository(services.db).list(SCOPE_B) == []


# --- preview, then the real run ---------------------------------------------------------------


@pytest.fixture
async def forum_bot(make_bot: Callable[..., Any], services: Services) -> ThreadwiseBot:
    """A bot whose fetcher may read the loopback forum (and nothing else, see conftest)."""
    fetch = dataclasses.replace(
        services.settings.fetch, allow_private_addresses=True, per_host_delay=0.0
    )
    return await make_bot(settings=dataclasses.replace(services.settings, fetch=fetch))


async def test_now_previews_without_moving_marks_and_the_next_run_still_has_the_posts(
    forum_bot: ThreadwiseBot, fake: Any
) -> None:
    services = forum_bot.services
    driver = Driver(forum_bot, fake)
    repo = DigestRepository(services.db)
    async with LoopbackServer(lane_page(LANE)) as forum:
        await services.ingest_url(SCOPE_A, forum.url(THREAD_PATH), name="lane")
        added = await driver.command(
            "digest", sub("add", opt("thread", "lane"), opt("time", "08:00"))
        )
        no_errors(added, fake)
        (before,) = await repo.list(SCOPE_A)
        assert [t.mark for t in before.threads] == [4]  # only what arrives from now on

        forum.routes.update(lane_page(LANE + LATER))  # two new posts on the forum
        preview = await driver.command("digest", sub("now", opt("id", before.id)))
        assert is_private(preview)
        no_errors(preview, fake)
        text = shown(preview)
        assert "Preview of digest #1: 2 new posts" in text
        assert "First unread post" in text and "#5 Bram" in text
        assert "nothing was stored or moved" in text
        assert "Odile" not in text  # her posts were covered before the schedule existed

        (after,) = await repo.list(SCOPE_A)
        assert [t.mark for t in after.threads] == [4]
        assert (after.next_run_at, after.last_run_at) == (before.next_run_at, None)
        assert await repo.runs(SCOPE_A, before.id) == []

        fake.add_channel(text_channel(CHANNEL_A, GUILD_A), [])
        forum_bot._ready.set()  # no gateway in tests: the bot counts as connected (private API)
        scheduler = Scheduler(services, {"discord": DiscordPublisher(forum_bot)})
        assert before.next_run_at is not None
        (report,) = await scheduler.run_due(before.next_run_at)

    assert report.status == "sent" and report.digest is not None
    assert [t.covered for t in report.digest.threads] == [(5, 6)]
    posted = [r for r in fake.requests if r.route == f"POST /channels/{CHANNEL_A}/messages"]
    assert posted and "#5 Bram" in shown(posted) and "Odile" not in shown(posted)
    (done,) = await repo.list(SCOPE_A)
    assert [t.mark for t in done.threads] == [6]


# --- /summary since:last ---------------------------------------------------------------------


async def test_since_last_catches_up_once_per_member_and_privately(driver, fake, services) -> None:
    await store(services, SCOPE_A, garden_json(), GARDEN)
    first = await driver.command("summary", opt("thread", GARDEN), opt("since", "last"))
    assert is_private(first)  # a personal catch-up is private unless asked otherwise
    no_errors(first, fake)
    assert "First read: the whole thread, up to post #6." in shown(first)

    second = await driver.command("summary", opt("thread", GARDEN), opt("since", "last"))
    assert "Nothing new in “A garden behind the library” since you last read it" in shown(second)
    assert "You have seen up to post #6." in shown(second)

    other = await driver.command(
        "summary",
        opt("thread", GARDEN),
        opt("since", "LAST"),
        opt("private", False),
        user_id=MEMBER,
        permissions=EVERYDAY,
    )
    assert not is_private(other)
    assert "First read" in shown(other)  # marks are per member

    public = await driver.command("summary", opt("thread", GARDEN), opt("since", "3"))
    assert not is_private(public) and "First read" not in shown(public)

    longer = json.loads(garden_json())
    longer["posts"].append(
        {"id": "7", "author": "Ines", "text": "The parks office sent the lease draft today."}
    )
    await services.ingest_bytes(SCOPE_A, json.dumps(longer).encode(), name=GARDEN)
    third = await driver.command("summary", opt("thread", GARDEN), opt("since", "last"))
    assert "New since you last read (after post #6, up to #7)." in shown(third)
    assert "#7 Ines" in shown(third)


async def test_since_must_be_a_number_or_last(driver, fake, services) -> None:
    await store(services, SCOPE_A, garden_json(), GARDEN)
    requests = await driver.command("summary", opt("thread", GARDEN), opt("since", "lately"))
    assert "since: give a post number like 12, or “last”" in shown(requests)
    choices = await driver.autocomplete(
        "summary", [opt("thread", GARDEN), opt("since", "la", focused=True)]
    )
    assert [c["value"] for c in choices] == ["last"]
