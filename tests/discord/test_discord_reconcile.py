"""Guild removals and re-adds that happened while the bot was offline are caught up on at
start: no gateway event ever arrives for them.

The bot connects through ConnectionState's own gateway parsers (READY lists every guild as
unavailable, then one GUILD_CREATE per guild that is up, and discord.py fires on_ready
`guild_ready_timeout` later), over a real SQLite file. One test runs the whole bot over the
fake gateway websocket.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import discord
import pytest
from discord_helpers import GUILD_A, GUILD_B, garden_json, settle_discord_tasks
from fake_discord import APP_ID, BOT_USER, FakeDiscord, guild_json

from bot.discord_app.app import ThreadwiseBot, run_discord
from bot.usecases.services import Services

GUILD_C = 700000000000000003
GUILD_D = 700000000000000004
SCOPE_A = f"discord:{GUILD_A}"
SCOPE_B = f"discord:{GUILD_B}"
SCOPE_C = f"discord:{GUILD_C}"
SCOPE_D = f"discord:{GUILD_D}"
MATRIX = "matrix:!garden:example.org"
GRACE = timedelta(days=7)  # Settings().discord.leave_grace_days


@pytest.fixture
async def quick_bot(make_bot: Any) -> ThreadwiseBot:
    """A bot whose on_ready follows the last GUILD_CREATE by 50 ms instead of 2 s."""
    return await make_bot(guild_ready_timeout=0.05)


async def connect(
    bot: ThreadwiseBot,
    up: Iterable[int],
    down: Iterable[int] = (),
    user: dict[str, Any] | None = None,
) -> None:
    """What the gateway does on every (re)connect: READY lists the bot's guilds as
    unavailable, GUILD_CREATE follows for each guild that is up (`down` are in an outage
    and never arrive); returns once on_ready and its listeners have finished."""
    up, down = list(up), list(down)
    state = bot._connection
    state.parse_ready(
        {
            "v": 10,
            "user": user or BOT_USER,
            "guilds": [{"id": str(g), "unavailable": True} for g in up + down],
            "session_id": "reconcile-session",
            "resume_gateway_url": "ws://127.0.0.1:1/",
            "application": {"id": str(APP_ID), "flags": 0},
        }
    )
    ready = state._ready_task
    assert ready is not None
    for guild_id in up:
        state.parse_guild_create(guild_json(guild_id))
    await ready
    await settle_events()


async def settle_events() -> None:
    await settle_discord_tasks()


async def departures(services: Services) -> dict[str, datetime]:
    rows = await services.db.fetch("SELECT scope, left_at FROM scope_departures")
    return {r[0]: datetime.fromisoformat(r[1]) for r in rows}


async def names(services: Services, scope: str) -> list[str]:
    return [t.name for t in await services.list_threads(scope)]


async def test_a_guild_removed_while_offline_is_departed_at_start_and_purged_after_grace(
    quick_bot: ThreadwiseBot,
    services: Services,
    fake: FakeDiscord,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.discord_app")
    fake.clock_offset = timedelta(days=3)  # the bot's clock, told apart from the real one
    await services.ingest_bytes(SCOPE_A, garden_json(), name="garden")
    await services.ingest_bytes(SCOPE_B, garden_json(), name="garden")
    await services.opt_outs.opt_out(SCOPE_C, "720000000000000009")  # only an opt-out stored

    await connect(quick_bot, up=[GUILD_A])

    left = await departures(services)
    assert set(left) == {SCOPE_B, SCOPE_C}
    logged = [r.getMessage() for r in caplog.records]
    assert any(SCOPE_B in line and "removed after" in line for line in logged)
    assert any("1 guilds (0 unavailable, kept), 2 left, 0 back" in line for line in logged)
    for when in left.values():  # the grace period starts at start-up, by the bot's clock
        assert abs(when - fake.now()) < timedelta(minutes=1)
    start = fake.now()
    assert await quick_bot.purge_departed_scopes(now=start) == []  # not purged at once
    assert await quick_bot.purge_departed_scopes(now=start + GRACE - timedelta(hours=1)) == []
    assert await names(services, SCOPE_B) == ["garden"]
    purged = await quick_bot.purge_departed_scopes(now=start + GRACE + timedelta(hours=1))
    assert sorted(purged) == [SCOPE_B, SCOPE_C]
    assert await names(services, SCOPE_B) == []
    assert not await services.opt_outs.is_opted_out(SCOPE_C, "720000000000000009")
    assert await names(services, SCOPE_A) == ["garden"]
    assert await departures(services) == {}


async def test_a_guild_that_re_added_the_bot_while_offline_is_not_purged(
    make_bot: Any, services: Services
) -> None:
    await services.ingest_bytes(SCOPE_B, garden_json(), name="garden")
    long_ago = discord.utils.utcnow() - timedelta(days=30)  # far past the grace period
    await services.scopes.mark_left(SCOPE_B, long_ago)

    bot = await make_bot(guild_ready_timeout=0.05)  # setup_hook starts the purge loop
    rounds: list[list[str]] = []
    real = bot.purge_departed_scopes

    async def recorded(now: datetime | None = None) -> list[str]:
        rounds.append(await real(now))
        return rounds[-1]

    bot.purge_departed_scopes = recorded  # type: ignore[method-assign]
    for _ in range(20):
        await asyncio.sleep(0)
    assert rounds == []  # no purge before the reconcile...
    assert await names(services, SCOPE_B) == ["garden"]

    await connect(bot, up=[GUILD_B])  # GUILD_CREATE as guild_available: no on_guild_join
    assert await departures(services) == {}
    for _ in range(500):  # ...and the purge loop's first round follows it
        if rounds:
            break
        await asyncio.sleep(0.01)
    assert rounds == [[]]
    assert await names(services, SCOPE_B) == ["garden"]


async def test_unavailable_guilds_are_never_taken_for_removed_ones(
    quick_bot: ThreadwiseBot, services: Services
) -> None:
    for scope in (SCOPE_A, SCOPE_C, SCOPE_D):
        await services.ingest_bytes(scope, garden_json(), name="garden")
    long_ago = discord.utils.utcnow() - timedelta(days=30)
    await services.scopes.mark_left(SCOPE_D, long_ago)

    # C and D are in an outage: READY lists them, their GUILD_CREATE does not come.
    await connect(quick_bot, up=[GUILD_A], down=[GUILD_C, GUILD_D])

    assert {g.id for g in quick_bot.guilds if g.unavailable} == {GUILD_C, GUILD_D}
    # READY lists only guilds the bot is in, so D's old departure is void as well.
    assert await departures(services) == {}
    later = discord.utils.utcnow() + timedelta(days=60)
    assert await quick_bot.purge_departed_scopes(now=later) == []
    for scope in (SCOPE_A, SCOPE_C, SCOPE_D):
        assert await names(services, scope) == ["garden"]


async def test_matrix_and_local_scopes_are_left_alone(
    quick_bot: ThreadwiseBot, services: Services
) -> None:
    for scope in (MATRIX, "local", SCOPE_A, SCOPE_B):
        await services.ingest_bytes(scope, garden_json(), name="garden")
    matrix_gone = "matrix:!left:example.org"
    await services.opt_outs.opt_out(matrix_gone, "@someone:example.org")
    pending_since = discord.utils.utcnow() - timedelta(days=2)
    await services.scopes.mark_left(matrix_gone, pending_since)

    await connect(quick_bot, up=[GUILD_A])

    left = await departures(services)
    assert set(left) == {SCOPE_B, matrix_gone}
    assert left[matrix_gone] == pending_since  # the Matrix departure kept as it was
    assert await names(services, MATRIX) == ["garden"]
    assert await names(services, "local") == ["garden"]


async def test_reconciling_again_after_a_reconnect_changes_nothing_more(
    quick_bot: ThreadwiseBot, services: Services, fake: FakeDiscord
) -> None:
    for scope in (SCOPE_A, SCOPE_B):
        await services.ingest_bytes(scope, garden_json(), name="garden")
    await services.scopes.mark_left(SCOPE_A, discord.utils.utcnow() - timedelta(days=1))

    await connect(quick_bot, up=[GUILD_A])
    first = await departures(services)
    assert set(first) == {SCOPE_B}

    fake.clock_offset += timedelta(hours=5)  # a later reconnect must not restart the grace
    await connect(quick_bot, up=[GUILD_A])  # on_ready fires again
    assert await departures(services) == first
    again = await quick_bot.reconcile_guilds()
    assert again is not None and (again.left, again.back) == ((), ())
    assert await departures(services) == first


async def test_a_join_during_the_reconcile_is_not_lost(
    quick_bot: ThreadwiseBot, services: Services
) -> None:
    """on_guild_join waits for a reconcile that started before the guild was cached."""
    await services.ingest_bytes(SCOPE_B, garden_json(), name="garden")
    quick_bot._connection.parse_guild_create(guild_json(GUILD_A))
    await settle_events()

    real = services.scopes.reconcile
    started = asyncio.Event()
    proceed = asyncio.Event()

    async def slow(*args: Any, **kwargs: Any) -> Any:
        started.set()
        await proceed.wait()
        return await real(*args, **kwargs)

    services.scopes.reconcile = slow  # type: ignore[method-assign]
    task = asyncio.create_task(quick_bot.reconcile_guilds())  # sees A only
    await started.wait()
    quick_bot._connection.parse_guild_create(guild_json(GUILD_B, joined=True))  # B re-adds us
    await asyncio.sleep(0.01)
    proceed.set()
    await task
    await settle_events()
    assert await departures(services) == {}  # the join came after the reconcile's mark


# guilds of a bot split over two shards: Discord puts a guild on (guild_id >> 22) % 2
SHARD0_UP = GUILD_A + (1 << 22)
SHARD0_GONE = GUILD_B + (1 << 22)
SHARD1_UP = GUILD_C
SHARD1_BACK = GUILD_D
SCOPE_0_UP, SCOPE_0_GONE, SCOPE_1_UP, SCOPE_1_BACK = (
    f"discord:{g}" for g in (SHARD0_UP, SHARD0_GONE, SHARD1_UP, SHARD1_BACK)
)


def on_shards(settings: Any, *shard_ids: int) -> Any:
    discord_settings = dataclasses.replace(
        settings.discord, token="t0ken", shard_count=2, shard_ids=shard_ids
    )
    return dataclasses.replace(settings, discord=discord_settings)


def test_the_shard_guilds_are_where_discord_puts_them() -> None:
    shards = [(g >> 22) % 2 for g in (SHARD0_UP, SHARD0_GONE, SHARD1_UP, SHARD1_BACK)]
    assert shards == [0, 0, 1, 1]


async def test_each_shard_process_reconciles_and_purges_only_its_own_guilds(
    make_bot: Any, services: Services, fake: FakeDiscord
) -> None:
    for scope in (SCOPE_0_UP, SCOPE_0_GONE, SCOPE_1_UP):
        await services.ingest_bytes(scope, garden_json(), name="garden")
    first = await make_bot(settings=on_shards(services.settings, 0), guild_ready_timeout=0.05)
    await connect(first, up=[SHARD0_UP])  # shard 0's process sees only shard 0's guilds
    assert set(await departures(services)) == {SCOPE_0_GONE}
    second = await make_bot(settings=on_shards(services.settings, 1), guild_ready_timeout=0.05)
    await connect(second, up=[SHARD1_UP])
    assert set(await departures(services)) == {SCOPE_0_GONE}  # not cleared by shard 1
    later = fake.now() + GRACE + timedelta(hours=1)
    assert await second.purge_departed_scopes(now=later) == []  # not its guild
    assert await first.purge_departed_scopes(now=later) == [SCOPE_0_GONE]
    assert await names(services, SCOPE_1_UP) == ["garden"]
    assert await names(services, SCOPE_0_UP) == ["garden"]


async def test_two_shard_processes_over_the_gateway_never_touch_each_others_guilds(
    fake: FakeDiscord, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two whole bots, one per shard, each with its own AutoShardedBot connection: the
    gateway sends each only its shard's guilds (READY then GUILD_CREATE)."""
    import yarl

    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.ws_url))
    monkeypatch.delenv("THREADWISE_DISCORD_MESSAGE_CONTENT", raising=False)
    for scope in (SCOPE_0_UP, SCOPE_0_GONE, SCOPE_1_UP, SCOPE_1_BACK):
        await services.ingest_bytes(scope, garden_json(), name="garden")
    long_ago = discord.utils.utcnow() - timedelta(days=30)
    await services.scopes.mark_left(SCOPE_1_BACK, long_ago)  # re-added while offline
    fake.gateway_guilds = [SHARD0_UP, SHARD1_UP, SHARD1_BACK]  # SHARD0_GONE removed the bot

    async def until(condition: Any) -> None:
        for _ in range(1000):
            if await condition():
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"never: {await departures(services)}")

    tasks: list[asyncio.Task[None]] = []
    own: list[Services] = []
    try:
        for shard in (0, 1):
            settings = on_shards(services.settings, shard)
            own.append(Services(services.db, settings))
            tasks.append(asyncio.create_task(run_discord(own[-1], settings)))
            if shard == 0:
                await until(lambda: _has(services, SCOPE_0_GONE))
                await settle_events()
                gone = await departures(services)
                assert set(gone) == {SCOPE_0_GONE, SCOPE_1_BACK}  # shard 1's left alone
                assert abs(gone[SCOPE_1_BACK] - long_ago) < timedelta(seconds=1)
                assert fake.identified_shards == [(0, 2)]
        await until(lambda: _lacks(services, SCOPE_1_BACK))  # shard 1 clears its own
        assert set(await departures(services)) == {SCOPE_0_GONE}
        assert sorted(fake.identified_shards) == [(0, 2), (1, 2)]
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with pytest.raises(asyncio.CancelledError):
                await task
        for services_of_shard in own:
            await services_of_shard.close()


async def _has(services: Services, scope: str) -> bool:
    return scope in await departures(services)


async def _lacks(services: Services, scope: str) -> bool:
    return scope not in await departures(services)


# --- the whole bot over the fake gateway websocket ------------------------------------------


async def test_run_discord_reconciles_when_ready(
    fake: FakeDiscord, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yarl

    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.ws_url))
    monkeypatch.delenv("THREADWISE_DISCORD_MESSAGE_CONTENT", raising=False)
    for scope in (SCOPE_A, SCOPE_B):
        await services.ingest_bytes(scope, garden_json(), name="garden")
    await services.scopes.mark_left(SCOPE_A, discord.utils.utcnow() - timedelta(days=30))
    settings = dataclasses.replace(
        services.settings, discord=dataclasses.replace(services.settings.discord, token="t0ken")
    )
    fake.gateway_guilds = [GUILD_A]  # B removed the bot while it was offline; A re-added it
    own = Services(services.db, settings)
    task = asyncio.create_task(run_discord(own, settings))
    try:
        for _ in range(1000):
            if set(await departures(services)) == {SCOPE_B}:
                break
            await asyncio.sleep(0.01)
        assert set(await departures(services)) == {SCOPE_B}
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await own.close()
    assert await names(services, SCOPE_A) == ["garden"]
    assert await names(services, SCOPE_B) == ["garden"]  # inside its grace period


async def test_another_bot_account_on_the_same_database_marks_nothing_as_left(
    make_bot: Any, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.discord_app")
    await services.ingest_bytes(SCOPE_A, garden_json(), name="garden")
    await connect(await make_bot(guild_ready_timeout=0.05), up=[GUILD_A])
    staging = {**BOT_USER, "id": "730000000000000001", "username": "threadwise-staging"}
    other = await make_bot(guild_ready_timeout=0.05)
    await connect(other, up=[GUILD_D], user=staging)  # a wrong token: none of our guilds
    assert await departures(services) == {}
    assert any("not reconciled" in r.getMessage() for r in caplog.records)
    assert await names(services, SCOPE_A) == ["garden"]


async def test_a_stale_departure_of_a_guild_the_bot_is_in_is_cleared_not_purged(
    quick_bot: ThreadwiseBot, services: Services, fake: FakeDiscord
) -> None:
    await services.ingest_bytes(SCOPE_A, garden_json(), name="garden")
    await connect(quick_bot, up=[GUILD_A])
    # a departure written after the reconcile (e.g. a join that raced it)
    await services.scopes.mark_left(SCOPE_A, fake.now() - timedelta(days=30))
    assert await quick_bot.purge_departed_scopes(now=fake.now()) == []
    assert await departures(services) == {}
    assert await names(services, SCOPE_A) == ["garden"]


async def test_a_bot_in_none_of_the_stored_guilds_marks_nothing_as_left(
    quick_bot: ThreadwiseBot, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    # a fresh database or an upgrade knows no account yet: a wrong token on its first run
    # sees none of the stored guilds, which are not gone
    caplog.set_level(logging.WARNING, logger="bot.discord_app")
    for scope in (SCOPE_A, SCOPE_B):
        await services.ingest_bytes(scope, garden_json(), name="garden")
    await connect(quick_bot, up=[GUILD_D])
    assert await departures(services) == {}
    assert any("none of the 2 discord places" in r.getMessage() for r in caplog.records)
