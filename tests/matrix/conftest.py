"""Session fixtures: one Synapse and one bot process for the whole Matrix suite.

Without Synapse (run scripts/synapse-env.sh, or set SYNAPSE_PYTHON) the end-to-end tests
skip, except under CI=true, where a missing homeserver is a failure, not a quiet skip.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.matrix.homeserver import BotProcess, Homeserver, synapse_python, write_bot_config


@dataclass(frozen=True)
class Accounts:
    bot: str
    alice: str
    """Allowed to invite the bot; creates the rooms, so she has every power."""
    bob: str
    """A member with power level 0."""
    mallory: str
    """Not on the invite allowlist."""


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    """The session's own folder, outside pytest's basetemp: a concurrent pytest run on the
    same machine prunes old basetemp folders, which would pull the files from under a
    homeserver and a bot that are still running."""
    with tempfile.TemporaryDirectory(prefix="threadwise-matrix-", ignore_cleanup_errors=True) as d:
        yield Path(d)


@pytest.fixture(scope="session")
def synapse(workdir: Path) -> Iterator[Homeserver]:
    python = synapse_python()
    if python is None:
        reason = (
            "Synapse is not installed: run `bash scripts/synapse-env.sh` (or set SYNAPSE_PYTHON "
            "to a python that has matrix-synapse) to run the Matrix end-to-end tests"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    hs = Homeserver.start(python, workdir / "synapse")
    try:
        yield hs
    finally:
        hs.stop()


@pytest.fixture(scope="session")
def accounts(synapse: Homeserver) -> Accounts:
    return Accounts(
        bot=synapse.register("threadwise", "bot-password"),
        alice=synapse.register("alice", "alice-password"),
        bob=synapse.register("bob", "bob-password"),
        mallory=synapse.register("mallory", "mallory-password"),
    )


@dataclass(frozen=True)
class Backlog:
    """A room the bot's account joined before the bot first ran, with a command waiting."""

    room_id: str
    command_id: str


@pytest.fixture(scope="session")
def backlog(synapse: Homeserver, accounts: Accounts) -> Backlog:
    """Made before the bot's first start; test_first_start... checks it is never answered."""
    alice = synapse.login(accounts.alice)
    room_id = synapse.api("POST", "/createRoom", {"invite": [accounts.bot]}, alice)["room_id"]
    synapse.api("POST", f"/join/{quote(room_id)}", {}, synapse.login(accounts.bot))
    sent = synapse.api(
        "PUT",
        f"/rooms/{quote(room_id)}/send/m.room.message/backlog-1",
        {"msgtype": "m.text", "body": "!tw help"},
        alice,
    )
    return Backlog(room_id=room_id, command_id=sent["event_id"])


@pytest.fixture(scope="session")
def bot(
    synapse: Homeserver,
    accounts: Accounts,
    backlog: Backlog,
    workdir: Path,
) -> Iterator[BotProcess]:
    """The bot under test, shared by every test (a restart test stops and starts it)."""
    base = workdir / "bot"
    base.mkdir()
    db = base / "threadwise.db"
    config = write_bot_config(base / "config.toml", synapse.url, accounts.bot, [accounts.alice], db)
    process = BotProcess(
        config=config, db=db, log=base / "bot.log", password=synapse.passwords[accounts.bot]
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def bot_db(bot: BotProcess) -> Path:
    return bot.db


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Keep each phase's report on the test item, so a fixture can show the bot's log."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
