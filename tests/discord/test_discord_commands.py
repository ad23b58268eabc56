"""Every command through the real command tree, cogs and Services, with only Discord's REST
API faked (fake_discord.py). Payloads are asserted as Discord would receive them."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from datetime import timedelta
from pathlib import Path
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
    attachment_option,
    garden_json,
    hostile_json,
    opt,
    sub,
    text_channel,
)
from fake_discord import OWNER_ID

from bot.usecases.services import Services
from storage.digests import DigestRepository
from storage.legacy_schedules import DigestScheduleRepository

GARDEN = "a-garden-behind-the-library"
HOSTILE = "hostile"
SCOPE_A = f"discord:{GUILD_A}"
SCOPE_B = f"discord:{GUILD_B}"
NO_PINGS = {"parse": []}


async def store(services: Services, scope: str, data: bytes, name: str | None = None) -> str:
    result = await services.ingest_bytes(scope, data, name=name)
    return result.thread.name


def check_payloads(requests: list[Any]) -> None:
    """Every create/edit carries AllowedMentions.none(); nothing broke Discord's limits."""
    for r in requests:
        payload = r.message_payload
        if payload is None:
            continue
        assert payload.get("allowed_mentions") == NO_PINGS, (r.route, payload)
        assert payload["allowed_mentions"].get("replied_user", False) is False
    assert [r.status for r in requests if r.status >= 400] == []


def answers(requests: list[Any]) -> list[dict[str, Any]]:
    return [r.message_payload for r in requests if r.message_payload is not None]


def text_of(requests: list[Any]) -> str:
    parts = []
    for payload in answers(requests):
        parts.append(payload.get("content") or "")
        parts.extend(e.get("description", "") for e in payload.get("embeds") or [])
    return "\n".join(parts)


# --- every command: defer first, no pings, within limits ---------------------------------

COMMANDS: dict[str, tuple[str, list[dict[str, Any]], bool]] = {
    "threads": ("threads", [], False),
    "threads private": ("threads", [opt("private", True)], True),
    "summary": ("summary", [opt("thread", HOSTILE)], False),
    "summary private": ("summary", [opt("thread", HOSTILE), opt("private", True)], True),
    "brief": ("brief", [opt("thread", HOSTILE)], False),
    "brief private": ("brief", [opt("thread", HOSTILE), opt("private", True)], True),
    "stance": ("stance", [opt("thread", HOSTILE)], False),
    "stance private": ("stance", [opt("thread", HOSTILE), opt("private", True)], True),
    "quotes": ("quotes", [opt("thread", HOSTILE)], False),
    "thread refresh": ("thread", [sub("refresh", opt("thread", HOSTILE))], True),
    "thread forget": ("thread", [sub("forget", opt("thread", HOSTILE))], True),
    "digest add": ("digest", [sub("add", opt("thread", HOSTILE), opt("time", "08:30"))], True),
    "digest list": ("digest", [sub("list")], True),
    "digest remove": ("digest", [sub("remove", opt("id", 1))], True),
    "digest now": ("digest", [sub("now", opt("id", 1))], True),
    "summary since last": ("summary", [opt("thread", HOSTILE), opt("since", "last")], True),
    "optout": ("optout", [], True),
    "optin": ("optin", [], True),
}


def record_storage_calls(services: Services, fake: Any, monkeypatch: Any) -> None:
    """Log every Services / digest-repository call into the fake's event log, so the order
    of database work against HTTP requests can be checked."""

    def wrap(owner: Any, name: str) -> None:
        original = getattr(owner, name)

        async def recorded(*args: Any, **kwargs: Any) -> Any:
            fake.events.append(f"storage {name}")
            return await original(*args, **kwargs)

        monkeypatch.setattr(owner, name, recorded)

    for name in dir(Services):
        if not name.startswith("_") and asyncio.iscoroutinefunction(getattr(Services, name)):
            wrap(services, name)
    for name in ("add", "list", "remove", "get"):
        wrap(DigestRepository, name)


@pytest.mark.parametrize("case", COMMANDS, ids=list(COMMANDS))
async def test_every_command_defers_first_and_never_pings(
    case, driver, fake, services, monkeypatch
) -> None:
    await store(services, SCOPE_A, hostile_json(), HOSTILE)
    record_storage_calls(services, fake, monkeypatch)
    fake.events.clear()
    name, options, private = COMMANDS[case]
    requests = await driver.command(name, *options)
    assert fake.events[0].endswith("/callback"), fake.events[:3]  # before any database await
    assert any(e.startswith("storage ") for e in fake.events)
    first = requests[0]
    assert first.path.endswith("/callback") and first.json["type"] == 5  # deferred, thinking
    assert bool((first.json.get("data") or {}).get("flags", 0) & 64) is private
    assert len([r for r in requests if r.path.endswith("/callback")]) == 1
    assert answers(requests), "the interaction was deferred but never answered"
    check_payloads(requests)
    assert fake.violations == []


async def test_defer_happens_before_the_service_is_awaited(driver, fake, services) -> None:
    """D1: the defer is on the wire while the analysis is still running (however slow)."""
    await store(services, SCOPE_A, garden_json())
    release = asyncio.Event()
    real = services.summary

    async def slow_summary(*args: Any, **kwargs: Any) -> Any:
        fake.events.append("service summary entered")
        await release.wait()
        return await real(*args, **kwargs)

    services.summary = slow_summary  # type: ignore[method-assign]
    fake.events.clear()  # forget the log-in requests
    run = asyncio.create_task(driver.run(driver.payload("summary", [opt("thread", GARDEN)])))
    while "service summary entered" not in fake.events:  # noqa: ASYNC110 (a test poll)
        await asyncio.sleep(0.01)
    assert fake.events[0].endswith("/callback")
    assert not [e for e in fake.events if "/webhooks/" in e]  # nothing else sent yet
    release.set()
    await run
    assert any("/messages/@original" in e for e in fake.events)


# --- ingest, summary, quotes ---------------------------------------------------------------


async def test_ingest_a_file_then_summarise_with_links_on_every_line(driver, fake, services):
    option, resolved = attachment_option(fake, garden_json())
    requests = await driver.command("thread", sub("ingest", option), resolved=resolved)
    check_payloads(requests)
    assert "GET /attachments/thread.json" in [r.route for r in requests]
    assert f"as {GARDEN}: 6 posts" in text_of(requests)
    assert [t.name for t in await services.list_threads(SCOPE_A)] == [GARDEN]

    requests = await driver.command("summary", opt("thread", GARDEN), opt("length", 3))
    check_payloads(requests)
    (embed,) = answers(requests)[-1]["embeds"]
    assert embed["title"] == "Summary — A garden behind the library"
    assert embed["url"] == "https://forum.example/t/garden"
    lines = [line for line in embed["description"].split("\n") if not line.startswith("*")]
    assert len(lines) == 3
    for line in lines:
        assert "](<https://forum.example/t/garden/" in line  # a jump to the post itself


async def test_summary_by_chapters_has_a_section_per_run_of_posts(driver, fake, services):
    await store(services, SCOPE_A, garden_json())
    requests = await driver.command(
        "summary", opt("thread", GARDEN), opt("length", 1), opt("chapters", True)
    )
    check_payloads(requests)
    (embed,) = answers(requests)[-1]["embeds"]
    assert embed["title"] == "Chapters — A garden behind the library"
    shown = embed["description"] + "".join(
        f["name"] + f["value"] for f in embed.get("fields") or []
    )
    assert "Posts 1–3" in shown and "Posts 4–6" in shown  # 6 posts: two chapters
    assert shown.count("](<https://forum.example/t/garden/") == 2  # one linked line each
    assert fake.violations == []


async def test_hostile_thread_renders_within_limits_and_escaped(driver, fake, services):
    option, resolved = attachment_option(fake, hostile_json())
    await driver.command("thread", sub("ingest", option, opt("name", HOSTILE)), resolved=resolved)
    for command in ("summary", "brief", "stance", "quotes"):
        extra = [opt("length", 50)] if command == "summary" else []
        requests = await driver.command(command, opt("thread", HOSTILE), *extra)
        check_payloads(requests)
        shown = text_of(requests) + "".join(
            e.get("title") or "" for p in answers(requests) for e in p.get("embeds") or []
        )
        assert "@everyone" not in shown and "@here" not in shown
        assert "<@&1>" not in shown and "</summary:1>" not in shown
        assert "[free money](" not in shown
    assert fake.violations == []


async def test_quotes_attach_the_graph_picture(driver, fake, services) -> None:
    await store(services, SCOPE_A, garden_json())
    requests = await driver.command("quotes", opt("thread", GARDEN))
    check_payloads(requests)
    (edit,) = [r for r in requests if r.path.endswith("/messages/@original")]
    ((filename, data),) = edit.files
    assert filename == "quote-graph.png" and data.startswith(b"\x89PNG\r\n\x1a\n")
    assert edit.json["embeds"][0]["image"]["url"] == "attachment://quote-graph.png"


async def test_brief_is_one_message_of_at_most_2000_characters_with_links(driver, fake, services):
    """A long thread with long sentences: the brief is cut, not split, and every line still
    links to its post."""
    posts = [
        {
            "author": f"Member {n % 9}",
            "url": f"https://forum.example/t/long-brief/{n + 1}",
            "text": " ".join(f"the tram plan{n % 5} part{k} matters" for k in range(40)) + ".",
        }
        for n in range(60)
    ]
    data = json.dumps({"title": "Long brief", "posts": posts}).encode()
    await store(services, SCOPE_A, data, "long-brief")
    requests = await driver.command("brief", opt("thread", "long-brief"))
    check_payloads(requests)
    (payload,) = answers(requests)
    (embed,) = payload["embeds"]
    shown = (
        len(embed["title"].encode("utf-16-le")) // 2
        + len(embed["description"].encode("utf-16-le")) // 2
        + len((embed.get("footer") or {}).get("text", "").encode("utf-16-le")) // 2
    )
    assert shown <= 2000
    assert embed["title"] == "Brief — Long brief"
    lines = [
        line
        for line in embed["description"].split("\n")
        if line and not line.startswith(("**", "*"))
    ]
    assert len(lines) >= 4
    for line in lines:
        assert "](<https://forum.example/t/long-brief/" in line  # a jump to the post itself
    assert "**Main points**" in embed["description"]
    assert "made by " in embed["description"]


async def test_private_answers_stay_ephemeral_across_followups(driver, fake, services):
    posts = [
        {"author": f"A{n}", "text": " ".join(f"word{n}x{k}" for k in range(100)) + "."}
        for n in range(30)
    ]
    long_posts = json.dumps({"title": "Long", "posts": posts}).encode()
    await store(services, SCOPE_A, long_posts, "long")
    requests = await driver.command(
        "summary", opt("thread", "long"), opt("length", 30), opt("private", True)
    )
    check_payloads(requests)
    followups = [r for r in requests if r.method == "POST" and "/webhooks/" in r.path]
    assert followups, "a 30-sentence summary of long posts needs more than one message"
    assert all(r.json["flags"] & 64 for r in followups)


async def test_oversized_attachment_is_refused_before_download(make_bot, fake, services):
    settings = dataclasses.replace(
        services.settings,
        storage=dataclasses.replace(services.settings.storage, max_upload_bytes=100),
    )
    bot = await make_bot(settings=settings)
    from discord_helpers import Driver

    driver = Driver(bot, fake)
    option, resolved = attachment_option(fake, garden_json())
    requests = await driver.command("thread", sub("ingest", option), resolved=resolved)
    assert "GET /attachments/thread.json" not in [r.route for r in requests]
    assert "the limit is 0.0 MB" in text_of(requests)
    assert await services.list_threads(SCOPE_A) == []


async def test_ingest_needs_exactly_one_source(driver, fake, services) -> None:
    requests = await driver.command("thread", sub("ingest"))
    assert "exactly one source" in text_of(requests)
    option, resolved = attachment_option(fake, garden_json())
    both = sub("ingest", option, opt("url", "https://forum.example/t/1"))
    assert "exactly one source" in text_of(await driver.command("thread", both, resolved=resolved))
    assert await services.list_threads(SCOPE_A) == []


async def test_ingest_url_hands_the_url_to_the_service(driver, fake, services) -> None:
    calls: list[tuple[str, str, str | None]] = []

    async def ingest_url(scope: str, url: str, *, name: Any = None, progress: Any = None) -> Any:
        calls.append((scope, url, name))
        progress("Reading page 1 of 1…")
        return await services.ingest_bytes(scope, garden_json(), name=name, progress=progress)

    services.ingest_url = ingest_url  # type: ignore[method-assign]
    url = "https://forum.example/t/garden "
    requests = await driver.command("thread", sub("ingest", opt("url", url), opt("name", "g")))
    assert calls == [(SCOPE_A, url.strip(), "g")]
    assert "Stored “A garden behind the library” as g" in text_of(requests)
    check_payloads(requests)


# --- permissions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        [sub("forget", opt("thread", GARDEN))],
        [sub("refresh", opt("thread", GARDEN))],
        [sub("ingest", opt("url", "https://forum.example/t/2"))],
    ],
    ids=["forget", "refresh", "ingest"],
)
async def test_members_without_manage_server_are_refused_and_nothing_changes(
    options, driver, fake, services
) -> None:
    await store(services, SCOPE_A, garden_json())
    before = await services.list_threads(SCOPE_A)
    requests = await driver.command("thread", *options, user_id=MEMBER, permissions=EVERYDAY)
    (reply,) = requests
    assert reply.json["type"] == 4 and reply.json["data"]["flags"] & 64
    assert "Manage Server" in reply.json["data"]["content"]
    assert reply.json["data"]["allowed_mentions"] == NO_PINGS
    assert await services.list_threads(SCOPE_A) == before


async def test_refused_file_ingest_downloads_and_stores_nothing(driver, fake, services):
    option, resolved = attachment_option(fake, garden_json())
    requests = await driver.command(
        "thread", sub("ingest", option), resolved=resolved, user_id=MEMBER, permissions=EVERYDAY
    )
    assert [r.route.split(" ")[0] for r in requests] == ["POST"]  # the refusal only
    assert await services.list_threads(SCOPE_A) == []


async def test_refused_digest_add_writes_no_schedule(driver, fake, services) -> None:
    await store(services, SCOPE_A, garden_json())
    options = sub("add", opt("thread", GARDEN), opt("time", "07:00"))
    requests = await driver.command("digest", options, user_id=MEMBER, permissions=EVERYDAY)
    assert "Manage Server" in requests[0].json["data"]["content"]
    assert await DigestScheduleRepository(services.db).list(SCOPE_A) == []


async def test_the_configured_role_may_manage(make_bot, fake, services) -> None:
    role = 730000000000000001
    discord_settings = dataclasses.replace(services.settings.discord, admin_role=str(role))
    bot = await make_bot(settings=dataclasses.replace(services.settings, discord=discord_settings))
    from discord_helpers import Driver

    driver = Driver(bot, fake)
    await store(services, SCOPE_A, garden_json())
    kw = {"user_id": MEMBER, "permissions": EVERYDAY}
    requests = await driver.command("thread", sub("forget", opt("thread", GARDEN)), **kw)
    assert "Manage Server permission or the" in requests[0].json["data"]["content"]
    requests = await driver.command(
        "thread", sub("forget", opt("thread", GARDEN)), roles=(role,), **kw
    )
    assert f"Forgot {GARDEN}" in text_of(requests)
    assert await services.list_threads(SCOPE_A) == []


async def test_dms_and_user_installs_are_refused(driver, fake, services) -> None:
    await store(services, SCOPE_A, garden_json())
    for kw in ({"guild_id": None}, {"user_install": True}):
        requests = await driver.command("summary", opt("thread", GARDEN), **kw)
        (reply,) = requests
        assert reply.json["type"] == 4 and reply.json["data"]["flags"] & 64
        assert "servers it has been added to" in reply.json["data"]["content"]


# --- two guilds --------------------------------------------------------------------------


async def test_two_guilds_never_see_each_others_threads(driver, fake, services) -> None:
    await store(services, SCOPE_A, garden_json(), "garden-a")
    await store(services, SCOPE_B, hostile_json(), "hostile-b")
    in_b = {"guild_id": GUILD_B, "channel_id": CHANNEL_B}

    assert [
        c["value"] for c in await driver.autocomplete("summary", [opt("thread", "", focused=True)])
    ] == ["garden-a"]
    assert [
        c["value"]
        for c in await driver.autocomplete("summary", [opt("thread", "g", focused=True)], **in_b)
    ] == []
    assert "garden-a" not in text_of(await driver.command("threads", **in_b))
    assert "hostile-b" in text_of(await driver.command("threads", **in_b))

    for name, options in [
        ("summary", [opt("thread", "garden-a")]),
        ("stance", [opt("thread", "garden-a")]),
        ("quotes", [opt("thread", "garden-a")]),
        ("thread", [sub("forget", opt("thread", "garden-a"))]),
        ("thread", [sub("refresh", opt("thread", "garden-a"))]),
        ("digest", [sub("add", opt("thread", "garden-a"))]),
    ]:
        requests = await driver.command(name, *options, **in_b)
        assert "no thread named" in text_of(requests).lower(), name
        check_payloads(requests)
    assert [t.name for t in await services.list_threads(SCOPE_A)] == ["garden-a"]

    add = await driver.command("digest", sub("add", opt("thread", "garden-a")))
    assert "Digest #1 saved" in text_of(add)
    assert "no digest #1 in this server" in text_of(
        await driver.command("digest", sub("remove", opt("id", 1)), **in_b)
    )
    assert "garden-a" not in text_of(await driver.command("digest", sub("list"), **in_b))
    assert len(await DigestScheduleRepository(services.db).list(SCOPE_A)) == 1


async def test_a_digest_cannot_target_another_guilds_channel(driver, fake, services) -> None:
    await store(services, SCOPE_A, garden_json(), "garden-a")
    channel = text_channel(CHANNEL_B, GUILD_B, "elsewhere")
    resolved = {"channels": {str(CHANNEL_B): {**channel, "permissions": str(EVERYDAY)}}}
    options = sub("add", opt("thread", "garden-a"), opt("channel", str(CHANNEL_B), kind=7))
    requests = await driver.command("digest", options, resolved=resolved)
    assert "another server" in text_of(requests)
    assert await DigestScheduleRepository(services.db).list(SCOPE_A) == []


async def test_digest_add_list_remove(driver, fake, services) -> None:
    await store(services, SCOPE_A, garden_json())
    add = sub(
        "add",
        opt("thread", GARDEN),
        opt("time", "18:45"),
        opt("weekday", 4),
        opt("timezone", "Europe/Berlin"),
    )
    assert "Digest #1 saved" in text_of(await driver.command("digest", add))
    (schedule,) = await DigestScheduleRepository(services.db).list(SCOPE_A)
    assert (schedule.cadence, schedule.weekday, schedule.time_of_day) == ("weekly", 4, "18:45")
    assert schedule.target == str(CHANNEL_A) and schedule.created_by == str(ADMIN)
    listing = text_of(await driver.command("digest", sub("list")))
    assert "every Friday at 18:45 (Europe/Berlin)" in listing
    bad = sub("add", opt("thread", GARDEN), opt("time", "25:00"))
    assert "HH:MM" in text_of(await driver.command("digest", bad))
    assert "removed" in text_of(await driver.command("digest", sub("remove", opt("id", 1))))
    assert await DigestScheduleRepository(services.db).list(SCOPE_A) == []


# --- errors ----------------------------------------------------------------------------------


async def test_domain_errors_are_clear_messages(driver, fake, services) -> None:
    await store(services, SCOPE_A, garden_json())
    requests = await driver.command("summary", opt("thread", "gardn"))
    assert "no thread named “gardn” here" in text_of(requests)
    check_payloads(requests)
    requests = await driver.command("quotes", opt("thread", GARDEN), opt("post", 99))
    check_payloads(requests)
    assert answers(requests)


async def test_an_unexpected_exception_is_logged_and_answered(driver, fake, services, caplog):
    await store(services, SCOPE_A, garden_json())

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    services.stance = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="bot.discord_app"):
        requests = await driver.command("stance", opt("thread", GARDEN), opt("topic", "fees"))
    assert "Something went wrong on my side" in text_of(requests)
    assert "disk on fire" not in text_of(requests)
    check_payloads(requests)
    (record,) = [r for r in caplog.records if "command /stance failed" in r.getMessage()]
    assert f"guild {GUILD_A}" in record.getMessage() and "'topic': 'fees'" in record.getMessage()
    assert record.exc_info is not None


async def test_an_exception_before_the_defer_is_still_answered(driver, fake, services, monkeypatch):
    from bot.discord_app import glue

    def boom(itx: Any) -> str:
        raise RuntimeError("scope exploded")

    monkeypatch.setattr(glue, "services_of", lambda itx: (_ for _ in ()).throw(KeyError("x")))
    answered = await driver.autocomplete("summary", [opt("thread", "", focused=True)])
    assert answered == []  # autocomplete errors still answer (with no choices)

    import cogs.summary

    monkeypatch.setattr(
        cogs.summary.Responder, "start", classmethod(lambda cls, itx, **kw: boom(itx))
    )
    requests = await driver.command("summary", opt("thread", GARDEN))
    (reply,) = requests
    assert reply.json["type"] == 4 and "Something went wrong" in reply.json["data"]["content"]


# --- the 15-minute token ---------------------------------------------------------------------


async def test_work_past_fifteen_minutes_finishes_in_the_channel(driver, fake, services) -> None:
    await store(services, SCOPE_A, garden_json())
    real = services.summary

    async def sixteen_minutes(*args: Any, **kwargs: Any) -> Any:
        result = await real(*args, **kwargs)
        fake.clock_offset += timedelta(minutes=16)  # the bot and the fake share this clock
        return result

    services.summary = sixteen_minutes  # type: ignore[method-assign]
    requests = await driver.command("summary", opt("thread", GARDEN))
    check_payloads(requests)
    late = [r for r in requests if r.route == f"POST /channels/{CHANNEL_A}/messages"]
    assert len(late) == 1
    assert "15-minute reply window" in late[0].json["content"]
    assert late[0].json["embeds"][0]["title"].startswith("Summary")
    assert not [r for r in requests if r.status == 401]  # the dead token was never tried


async def test_a_token_discord_declares_dead_is_not_retried(driver, fake, services) -> None:
    await store(services, SCOPE_A, garden_json())
    real = services.summary

    async def token_dies(*args: Any, **kwargs: Any) -> Any:
        result = await real(*args, **kwargs)
        fake.clock_offset += timedelta(minutes=16)
        driver.bot.clock = lambda: fake.now() - timedelta(minutes=16)  # the bot thinks it is fine
        return result

    services.summary = token_dies  # type: ignore[method-assign]
    requests = await driver.command("summary", opt("thread", GARDEN))
    refused = [r for r in requests if r.status == 401]
    assert len(refused) == 1  # one 50027, then the channel
    assert [r.route for r in requests][-1] == f"POST /channels/{CHANNEL_A}/messages"


async def test_a_late_private_answer_goes_to_dms(driver, fake, services) -> None:
    real = services.ingest_bytes

    async def slow(*args: Any, **kwargs: Any) -> Any:
        result = await real(*args, **kwargs)
        fake.clock_offset += timedelta(minutes=16)
        return result

    services.ingest_bytes = slow  # type: ignore[method-assign]
    option, resolved = attachment_option(fake, garden_json())
    requests = await driver.command("thread", sub("ingest", option), resolved=resolved)
    routes = [r.route for r in requests]
    assert "POST /users/@me/channels" in routes  # ingest answers are private: a DM
    assert f"POST /channels/{CHANNEL_A}/messages" not in routes
    (dm,) = [r for r in requests if r.method == "POST" and r.path.startswith("/channels/")]
    assert f"as {GARDEN}" in dm.json["content"]
    check_payloads(requests)


# --- sync ------------------------------------------------------------------------------------


async def test_only_an_owner_can_sync(driver, fake, services) -> None:
    requests = await driver.command("sync", user_id=ADMIN)
    assert "Only the bot's owner" in requests[0].json["data"]["content"]
    assert not [r for r in fake.requests if r.method == "PUT"]
    requests = await driver.command("sync", user_id=OWNER_ID)
    assert len([r for r in requests if r.method == "PUT"]) == 1
    assert "Synced 11 commands" in text_of(requests)


@pytest.mark.parametrize(
    ("command", "doing"),
    [("stance", "Reading the stances in"), ("summary", "Summarising")],
)
async def test_a_big_thread_shows_what_is_being_done_then_the_answer(
    driver, fake, services, command: str, doing: str
) -> None:
    from bot.usecases.analysis import PROGRESS_POSTS

    posts = [
        {"author": f"member{n % 7}", "text": f"Plot {n} needs water on day {n % 5}. Fine by me."}
        for n in range(PROGRESS_POSTS)
    ]
    name = await store(services, SCOPE_A, json.dumps({"title": "Plots", "posts": posts}).encode())
    requests = await driver.command(command, opt("thread", name))
    check_payloads(requests)
    edits = [r.json.get("content") or "" for r in requests if r.method == "PATCH"]
    assert any(f"⏳ {doing} {PROGRESS_POSTS} posts" in text for text in edits), edits
    assert edits[-1] == "" or "⏳" not in edits[-1]  # the answer replaced the progress line
    again = await driver.command(command, opt("thread", name))  # cached: nothing to wait for
    assert not any("⏳" in (r.json.get("content") or "") for r in again if r.method == "PATCH")


def _message_chars(payload: dict[str, Any]) -> int:
    """What one message shows, as Discord counts it (UTF-16 units)."""
    parts = [payload.get("content") or ""]
    for embed in payload.get("embeds") or []:
        parts += [embed.get("title", ""), embed.get("description", "")]
        parts.append((embed.get("footer") or {}).get("text", ""))
    return sum(len(part.encode("utf-16-le")) // 2 for part in parts)


async def test_a_stance_of_hundreds_of_participants_is_one_message(driver, fake, services):
    posts = [{"text": f"Plot {n} should get the rain barrel on day {n}."} for n in range(300)]
    name = await store(services, SCOPE_A, json.dumps({"title": "Barrels", "posts": posts}).encode())
    requests = await driver.command("stance", opt("thread", name))
    check_payloads(requests)
    (message,) = answers(requests)
    assert _message_chars(message) <= 2000
    shown = text_of(requests)
    assert "does not split into sides" in shown  # 300 posts, nobody argues
    assert "user:" in shown  # how to ask about one


async def test_a_stance_leads_with_the_sides_in_one_message(driver, fake, services):
    debate = Path(__file__).parents[2] / "bench" / "data" / "sides" / "high-street.md"
    name = await store(services, SCOPE_A, debate.read_bytes())
    requests = await driver.command("stance", opt("thread", name))
    check_payloads(requests)
    (message,) = answers(requests)
    assert _message_chars(message) <= 2000
    shown = text_of(requests)
    assert "Side A (5 people): " in shown and " · Side B (4): " in shown
    assert "Side A: what it argues" in shown and "user:" in shown
    person = await driver.command("stance", opt("thread", name), opt("user", "derek"))
    check_payloads(person)
    (detail,) = answers(person)
    assert _message_chars(detail) <= 2000
    assert "Side B (confidence" in text_of(person)


async def test_a_graph_over_the_upload_limit_is_left_out_with_a_note(driver, fake, services):
    await store(services, SCOPE_A, garden_json())

    async def huge_graph(answer: Any) -> bytes:
        return b"\x89PNG\r\n\x1a\n" + b"\0" * (26 * 1024 * 1024)  # over the 25 MiB default

    services.quote_graph = huge_graph  # type: ignore[method-assign]
    requests = await driver.command("quotes", opt("thread", GARDEN))
    check_payloads(requests)
    (edit,) = [r for r in requests if r.path.endswith("/messages/@original")]
    assert edit.files == [] and "image" not in edit.json["embeds"][0]
    assert "too big to attach" in text_of(requests)
