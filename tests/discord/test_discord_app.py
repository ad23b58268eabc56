"""The bot as a whole: intents, the command payload, syncing only on purpose, start-up in
setup_hook, guild outages versus removals, progress marshalling, and run_discord over a
fake gateway until it is cancelled."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from datetime import timedelta
from typing import Any

import discord
import pytest
from discord_helpers import GUILD_A, GUILD_B, garden_json, opt
from fake_discord import OWNER_ID, FakeDiscord, guild_json

from bot.discord_app.app import ThreadwiseBot, build_intents, command_payload, run_discord
from bot.discord_app.glue import Progress
from bot.errors import ConfigError
from bot.settings import Settings
from bot.usecases.services import Services

SCOPE_A = f"discord:{GUILD_A}"
SCOPE_B = f"discord:{GUILD_B}"
GUILD_INTENT = 1 << 0
MESSAGE_CONTENT_INTENT = 1 << 15


def test_no_privileged_intents_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("THREADWISE_DISCORD_MESSAGE_CONTENT", raising=False)
    bot = ThreadwiseBot(None, Settings())
    assert bot.intents.message_content is False
    assert bot.intents.members is False
    assert bot.intents.presences is False
    assert bot.intents.value == GUILD_INTENT
    assert build_intents(history=True).message_content is True
    assert build_intents(history=True).members is False
    monkeypatch.setenv("THREADWISE_DISCORD_MESSAGE_CONTENT", "1")
    assert ThreadwiseBot(None, Settings()).intents.message_content is True


def test_client_default_allows_no_mentions() -> None:
    bot = ThreadwiseBot(None, Settings())
    assert bot.allowed_mentions is not None
    assert bot.allowed_mentions.to_dict() == {"parse": []}


def test_command_payload_shows_permissions_and_contexts() -> None:
    payload = {c["name"]: c for c in command_payload(Settings())}
    assert set(payload) == {
        "thread", "threads", "summary", "brief", "stance", "quotes", "digest", "optout", "optin",
        "sync", "Ingest this thread",
    }  # fmt: skip
    for command in payload.values():
        assert command["contexts"] == [0]  # guild only
        assert command["integration_types"] == [0]  # guild install only
    for name in ("thread", "digest", "Ingest this thread"):
        assert str(payload[name]["default_member_permissions"]) == str(1 << 5)  # Manage Server
    assert str(payload["sync"]["default_member_permissions"]) == "0"  # administrators only
    for name in ("threads", "summary", "brief", "stance", "quotes", "optout", "optin"):
        assert payload[name]["default_member_permissions"] is None
    assert payload["Ingest this thread"]["type"] == 3
    summary = {o["name"]: o for o in payload["summary"]["options"]}
    assert summary["thread"]["autocomplete"] is True and summary["thread"]["required"] is True
    assert {c["value"] for c in summary["algorithm"]["choices"]} >= {"thread", "lexrank", "luhn"}
    assert summary["length"]["max_value"] == 50
    json.dumps(payload)  # plain JSON, printable by `threadwise discord-commands --json`


async def test_the_owner_sync_sends_exactly_the_payload(driver, fake: FakeDiscord) -> None:
    await driver.command("sync", user_id=OWNER_ID)
    (put,) = [r for r in fake.requests if r.method == "PUT"]
    assert put.path == f"/applications/{driver.bot.application_id}/commands"
    expected = command_payload(driver.bot.settings)
    key = lambda c: (c["type"], c["name"])  # noqa: E731
    assert sorted(put.json, key=key) == sorted(expected, key=key)


async def test_starting_again_never_syncs(make_bot, fake: FakeDiscord) -> None:
    first = await make_bot()
    await first.close()
    await make_bot()  # a restart: log in, setup_hook, cogs
    assert not [r for r in fake.requests if r.method == "PUT"]
    assert [r.route for r in fake.requests].count("GET /users/@me") == 2


async def test_sync_commands_flag_syncs_once(make_bot, fake: FakeDiscord) -> None:
    await make_bot(sync_commands=True)
    assert len([r for r in fake.requests if r.method == "PUT"]) == 1


async def test_start_up_work_is_in_setup_hook_not_on_ready(bot: ThreadwiseBot) -> None:
    assert bot.purge_departed.is_running()
    cogs_before = dict(bot.cogs)
    bot.dispatch("ready")
    bot.dispatch("ready")  # reconnects fire on_ready again
    await asyncio.sleep(0)
    assert bot.cogs == cogs_before
    loops = [t for t in asyncio.all_tasks() if "purge_departed" in repr(t.get_coro())]
    assert len(loops) <= 1


# --- guild outage versus removal (through ConnectionState's gateway parsers) --------------


async def test_an_outage_keeps_data_and_a_removal_purges_after_grace(bot, services: Services):
    await services.ingest_bytes(SCOPE_A, garden_json(), name="garden")
    await services.ingest_bytes(SCOPE_B, garden_json(), name="garden")
    state = bot._connection
    for guild_id in (GUILD_A, GUILD_B):
        state.parse_guild_create(guild_json(guild_id))
    await asyncio.sleep(0)

    state.parse_guild_delete({"id": str(GUILD_A), "unavailable": True})  # an outage
    state.parse_guild_delete({"id": str(GUILD_B)})  # kicked
    await settle_events()
    assert await bot.purge_departed_scopes() == []  # still inside the grace period
    later = discord.utils.utcnow() + timedelta(days=8)
    assert await bot.purge_departed_scopes(now=later) == [SCOPE_B]
    assert [t.name for t in await services.list_threads(SCOPE_A)] == ["garden"]
    assert await services.list_threads(SCOPE_B) == []


async def test_coming_back_within_the_grace_period_keeps_data(bot, services: Services) -> None:
    await services.ingest_bytes(SCOPE_B, garden_json(), name="garden")
    state = bot._connection
    state.parse_guild_create(guild_json(GUILD_B))
    state.parse_guild_delete({"id": str(GUILD_B)})
    await settle_events()
    state.parse_guild_create(guild_json(GUILD_B, joined=True))  # invited back → guild_join
    await settle_events()
    later = discord.utils.utcnow() + timedelta(days=30)
    assert await bot.purge_departed_scopes(now=later) == []
    assert [t.name for t in await services.list_threads(SCOPE_B)] == ["garden"]


async def settle_events() -> None:
    for _ in range(20):
        pending = [t for t in asyncio.all_tasks() if t.get_name().startswith("discord.py:")]
        if not pending:
            return
        await asyncio.gather(*pending, return_exceptions=True)


# --- progress from worker threads ---------------------------------------------------------


class RecordingResponder:
    """Stands in for the Responder: Progress only ever calls edit_progress."""

    def __init__(self) -> None:
        self.edits: list[tuple[str, str]] = []

    async def edit_progress(self, text: str) -> None:
        self.edits.append((threading.current_thread().name, text))


async def test_progress_from_worker_threads_is_marshalled_and_throttled() -> None:
    responder = RecordingResponder()
    progress = Progress(responder, interval=3600)  # type: ignore[arg-type]

    def work() -> None:
        for n in range(50):
            progress(f"page {n + 1} of 50")

    await asyncio.to_thread(work)
    for _ in range(5):
        await asyncio.sleep(0)
    await progress.close()
    ((thread_name, text),) = responder.edits  # one edit at once, the rest waits its turn
    assert thread_name == threading.current_thread().name  # edited on the loop's thread
    pages = [int(line.split()[2]) for line in text.split("\n")]  # "⏳ page N of 50"
    assert pages == list(range(pages[0], pages[0] + len(pages)))  # the latest lines, in order
    progress("after close")
    await asyncio.sleep(0)
    assert len(responder.edits) == 1


async def test_progress_shows_the_latest_lines_after_the_interval() -> None:
    responder = RecordingResponder()
    progress = Progress(responder, interval=0)  # type: ignore[arg-type]
    progress("Reading @everyone’s **thread**")
    for _ in range(5):
        await asyncio.sleep(0)
    progress("Saving…")
    for _ in range(5):
        await asyncio.sleep(0)
    await progress.close()
    assert [text.split("\n")[-1] for _, text in responder.edits] == [
        "⏳ Reading @\u200beveryone’s \\*\\*thread\\*\\*",
        "⏳ Saving…",
    ]


# --- run_discord over a fake gateway -------------------------------------------------------


async def test_run_discord_needs_a_token(services: Services) -> None:
    with pytest.raises(ConfigError, match="DISCORD_TOKEN"):
        await run_discord(services, Settings())


async def test_run_discord_runs_until_cancelled(fake: FakeDiscord, services, monkeypatch):
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", _yarl(fake.ws_url))
    monkeypatch.delenv("THREADWISE_DISCORD_MESSAGE_CONTENT", raising=False)
    await services.ingest_bytes(SCOPE_A, garden_json(), name="garden")
    await services.ingest_bytes(SCOPE_B, garden_json(), name="garden")
    settings = dataclasses.replace(
        services.settings, discord=dataclasses.replace(services.settings.discord, token="t0ken")
    )
    fake.gateway_guilds = [GUILD_A, GUILD_B]
    own = Services(services.db, settings)
    task = asyncio.create_task(run_discord(own, settings))
    try:
        await asyncio.wait_for(fake.identified.wait(), timeout=30)
        (identify,) = [m for m in fake.gateway_received if m["op"] == 2]
        assert identify["d"]["intents"] == GUILD_INTENT
        assert identify["d"]["token"] == "t0ken"

        await fake.dispatch("GUILD_DELETE", {"id": str(GUILD_A), "unavailable": True})
        await fake.dispatch("GUILD_DELETE", {"id": str(GUILD_B)})
        await wait_for_departures(services, {SCOPE_B})  # A's outage left no mark
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await own.close()
    await asyncio.wait_for(fake.gateway_closed.wait(), timeout=30)
    assert not [r for r in fake.requests if r.method == "PUT"]  # no sync on start
    assert [t.name for t in await services.list_threads(SCOPE_A)] == ["garden"]


def _yarl(url: str) -> Any:
    import yarl

    return yarl.URL(url)


async def wait_for_departures(services: Services, expected: set[str]) -> None:
    """Poll the departures table until the bot's listeners have written `expected`."""
    for _ in range(500):
        rows = await services.db.fetch("SELECT scope FROM scope_departures")
        if {r[0] for r in rows} == expected:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"departures never became {expected}")


async def test_summary_options_reach_the_service(driver, fake, services) -> None:
    await services.ingest_bytes(SCOPE_A, garden_json(), name="garden")
    seen: list[Any] = []
    real = services.summary

    async def spy(scope: str, name: str, request: Any, progress: Any = None) -> Any:
        seen.append((scope, name, request))
        return await real(scope, name, request, progress)

    services.summary = spy  # type: ignore[method-assign]
    await driver.command(
        "summary",
        opt("thread", "garden"),
        opt("algorithm", "luhn"),
        opt("length", 2),
        opt("since", 1),
        opt("author", "Tom"),
    )
    ((scope, name, request),) = seen
    assert (scope, name) == (SCOPE_A, "garden")
    assert (request.algorithm, request.sentences, request.since_post, request.author) == (
        "luhn",
        2,
        1,
        "Tom",
    )
