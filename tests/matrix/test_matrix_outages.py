"""Nothing lost when things go wrong: a paused bot, a homeserver that was down, a kill -9
in the middle of an ingest, and a homeserver that rate-limits every answer.

Each test runs a bot of its own (its own account, database and config, started as
`python -m bot ... run`) so it can pause, kill and restart it without touching the
session's bot. The outage and rate-limit tests have a Synapse of their own as well.
People are played by matrix-nio clients; every command must be answered exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from tests.matrix.conftest import Accounts
from tests.matrix.homeserver import (
    BotProcess,
    Homeserver,
    Human,
    is_membership,
    synapse_python,
    write_bot_config,
)
from tests.matrix.test_matrix_e2e import body, db_rows

CHATTER_PER_COMMAND = 10
"""Messages of plain chat between two commands: with 15 commands that is 165 events, more
than the sync filter's timeline of 100, so the homeserver cuts the timeline (`limited`)."""


def own_bot(hs: Homeserver, base: Path, name: str, inviter: str, extra: str = "") -> BotProcess:
    """A bot account of its own on `hs`, with its own database; not started yet."""
    user = hs.register(name, f"{name}-password")
    base.mkdir(parents=True, exist_ok=True)
    db = base / "threadwise.db"
    config = write_bot_config(base / "config.toml", hs.url, user, [inviter], db, extra)
    return BotProcess(config=config, db=db, log=base / "bot.log", password=hs.passwords[user])


def bot_user(process: BotProcess) -> str:
    for line in process.config.read_text().splitlines():
        if line.startswith("user_id"):
            return line.split("=", 1)[1].strip().strip('"')
    raise AssertionError("no user_id in the bot's config")


@asynccontextmanager
async def room_with(
    hs: Homeserver, user_id: str, bot: BotProcess
) -> AsyncIterator[tuple[Human, str]]:
    """`user_id` makes a room, invites `bot`, and returns once it has joined."""
    async with Human(hs, user_id) as human:
        room_id = await human.create_room(invite=[bot_user(bot)])
        await human.wait_for(room_id, lambda ev: is_membership(ev, bot_user(bot), "join"))
        yield human, room_id


async def commands_with_chatter(human: Human, room_id: str, count: int) -> list[str]:
    """`count` commands, each after CHATTER_PER_COMMAND ordinary messages."""
    sent = []
    for n in range(count):
        for m in range(CHATTER_PER_COMMAND):
            await human.send(room_id, f"Round {n}, remark {m}: the hedge needs trimming.")
        sent.append(await human.send(room_id, "!tw thread list"))
    return sent


async def assert_each_answered_once(human: Human, room_id: str, commands: list[str]) -> None:
    for event_id in commands:
        await human.answers_to(room_id, event_id, within=60)
    await human.pump(1.0)  # anything sent twice would be here by now
    counts = {e: len(human.all_answers_to(room_id, e)) for e in commands}
    assert counts == dict.fromkeys(commands, 1)


@pytest.fixture
def finally_stopped(request: pytest.FixtureRequest) -> Iterator[list[BotProcess]]:
    """Bots a test started: stopped at its end (resumed first, should a pause be pending);
    their logs are shown when the test failed."""
    bots: list[BotProcess] = []
    yield bots
    report = getattr(request.node, "rep_call", None)
    for bot in bots:
        if bot.process is not None:
            bot.resume()
        bot.stop()
        if report is not None and report.failed:
            print(bot.log.read_text(errors="replace")[-8000:])


# --- a paused bot (item 8) --------------------------------------------------------------------


async def test_a_bot_paused_for_6_s_answers_every_command_once(
    synapse: Homeserver,
    accounts: Accounts,
    workdir: Path,
    finally_stopped: list[BotProcess],
) -> None:
    """SIGSTOP for 6 s while 15 commands and 150 chat messages arrive: when the bot wakes,
    its sync is cut short (`limited`); the gap is read back and every command answered."""
    bot = own_bot(synapse, workdir / "paused", "pausedbot", accounts.alice)
    finally_stopped.append(bot)
    bot.start()
    async with room_with(synapse, accounts.alice, bot) as (alice, room_id):
        bot.pause()
        paused_at = time.monotonic()
        commands = await commands_with_chatter(alice, room_id, 15)
        await asyncio.sleep(max(0.0, 6.0 - (time.monotonic() - paused_at)))
        bot.resume()
        await assert_each_answered_once(alice, room_id, commands)
    assert "cut the sync of" in bot.log_text()  # the gap is logged as a warning


# --- kill -9 during an ingest, and a command sent while the bot is down (item 10) -------------


@asynccontextmanager
async def stalling_forum() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A forum on 127.0.0.1 that never answers a thread page (robots.txt: 404, all allowed).
    Yields its base URL and an event set once a thread page has been asked for."""
    asked = asyncio.Event()
    release = asyncio.Event()

    async def robots(request: web.Request) -> web.Response:
        return web.Response(status=404)

    async def page(request: web.Request) -> web.Response:
        asked.set()
        await release.wait()
        return web.Response(status=503)

    app = web.Application()
    app.router.add_get("/robots.txt", robots)
    app.router.add_get("/{tail:.*}", page)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", asked
    finally:
        release.set()
        await runner.cleanup()


async def test_kill_9_during_an_ingest_then_restart_answers_it_and_what_came_meanwhile(
    synapse: Homeserver,
    accounts: Accounts,
    workdir: Path,
    finally_stopped: list[BotProcess],
) -> None:
    extra = "[fetch]\nallow_private_addresses = true\nper_host_delay = 0.0\n"
    bot = own_bot(synapse, workdir / "killed", "killedbot", accounts.alice, extra)
    finally_stopped.append(bot)
    bot.start()
    async with (
        stalling_forum() as (forum, asked),
        room_with(synapse, accounts.alice, bot) as (alice, room_id),
    ):
        url = f"{forum}/threads/slow-thread.123/"
        ingest = await alice.send(room_id, f"!tw thread ingest {url}")
        await asyncio.wait_for(asked.wait(), 30)  # the bot is reading the forum now
        bot.kill()
        while_down = await alice.send(room_id, "!tw thread list")
        bot.start()

        told = await alice.answers_to(room_id, ingest, within=30)
        assert body(told) == (
            f"threadwise restarted while ingesting {url}; nothing was stored; please run it again."
        )
        listed = await alice.answers_to(room_id, while_down, within=30)
        assert "No threads stored yet" in body(listed)

        assert bot.stop() == 0  # another restart: nothing is answered a second time
        bot.start()
        sentinel = await alice.send(room_id, "!tw thread list")
        await assert_each_answered_once(alice, room_id, [ingest, while_down, sentinel])
    assert db_rows(bot.db, "SELECT count(*) FROM threads") == [(0,)]
    assert db_rows(bot.db, "SELECT status, count(*) FROM bot_commands GROUP BY status") == [
        ("done", 2),
        ("interrupted", 1),
    ]
    assert "Traceback" not in bot.log_text()


# --- a homeserver that was down (item 8) ------------------------------------------------------


@pytest.fixture(scope="module")
def own_synapse(workdir: Path) -> Iterator[Homeserver]:
    python = synapse_python()
    if python is None:
        pytest.skip("Synapse is not installed (see tests/matrix/conftest.py)")
    hs = Homeserver.start(python, workdir / "outage-synapse")
    try:
        yield hs
    finally:
        hs.stop()


async def test_synapse_down_for_14_s_loses_no_command(
    own_synapse: Homeserver, workdir: Path, finally_stopped: list[BotProcess]
) -> None:
    """The homeserver stops for 14 s; right after it is back, 12 commands and 120 chat
    messages arrive before the bot's next sync: all 12 are answered once."""
    hs = own_synapse
    alice = hs.register("alice", "alice-password")
    bot = own_bot(hs, workdir / "outage", "outagebot", alice)
    finally_stopped.append(bot)
    bot.start()
    async with room_with(hs, alice, bot) as (human, room_id):
        hs.stop()
        await asyncio.sleep(14)
        await asyncio.to_thread(hs.run)
        commands = await commands_with_chatter(human, room_id, 12)
        await assert_each_answered_once(human, room_id, commands)


# --- a homeserver that rate-limits the bot (item 9) ------------------------------------------


@pytest.fixture(scope="module")
def strict_synapse(workdir: Path) -> Iterator[Homeserver]:
    """Synapse allowing one message a second with a burst of two (its default is one every
    5 s with a burst of 10: tighter per second, but the burst hides it in a short test)."""
    python = synapse_python()
    if python is None:
        pytest.skip("Synapse is not installed (see tests/matrix/conftest.py)")
    tight = {"rc_message": {"per_second": 1, "burst_count": 2}}
    hs = Homeserver.start(python, workdir / "strict-synapse", overrides=tight)
    try:
        yield hs
    finally:
        hs.stop()


async def test_rate_limited_answers_all_arrive_once(
    strict_synapse: Homeserver, workdir: Path, finally_stopped: list[BotProcess]
) -> None:
    hs = strict_synapse
    root = hs.register("root", "root-password", admin=True)
    alice = hs.register("alice", "alice-password")
    hs.exempt_from_rate_limits(alice, hs.login(root))  # the people may talk fast
    bot = own_bot(hs, workdir / "strict", "strictbot", alice)
    finally_stopped.append(bot)
    bot.start()
    async with room_with(hs, alice, bot) as (human, room_id):
        commands = [await human.send(room_id, "!tw thread list") for _ in range(12)]
        await assert_each_answered_once(human, room_id, commands)
    assert "rate limited" in bot.log_text()  # the limits did bite
