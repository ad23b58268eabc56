"""Discord without Discord (testing.md recipe B): the real bot, cogs and command tree, a real
Services over a real SQLite file, and real discord.Interaction objects built from raw
INTERACTION_CREATE payloads. Only the network boundary is fake: a local aiohttp server
(tests/discord/fake_discord.py) stands in for Discord's REST API.

Private discord.py APIs used here (pin discord.py below the next minor, as pyproject does):
`CommandTree._call`, `Client._connection` (ConnectionState, its `parse_guild_create` /
`parse_guild_delete` parsers and `_add_guild`), and `discord.http.Route.BASE`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import discord
import pytest
from discord_helpers import Driver
from fake_discord import FakeDiscord

from bot.discord_app.app import ThreadwiseBot
from bot.errors import SourceError
from bot.settings import Settings
from bot.usecases.services import Services
from storage.database import open_database

os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="tw-mpl-"))


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    monkeypatch.setattr(discord.http.Route, "BASE", server.api)
    yield server
    await server.stop()


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests reach 127.0.0.1 and nothing else: a URL ingest or refresh for any other host
    fails before any I/O (test threads carry forum.example permalinks)."""
    original = Services.ingest_url

    async def guarded(self: Services, scope: str, url: str, **kwargs: Any) -> Any:
        if urlsplit(url).hostname not in ("127.0.0.1", "::1"):
            raise SourceError(f"(tests) not fetching {url}: tests stay on loopback")
        return await original(self, scope, url, **kwargs)

    monkeypatch.setattr(Services, "ingest_url", guarded)


async def _close(services: Services) -> None:
    close = getattr(services, "close", None)  # the shared HTTP client, where there is one
    if close is not None:
        await close()


@pytest.fixture
async def services(tmp_path: Any, settings: Settings) -> AsyncIterator[Services]:
    db = await open_database(tmp_path / "threadwise.db")
    instance = Services(db, settings)
    yield instance
    await _close(instance)
    await db.close()


@pytest.fixture
async def make_bot(fake: FakeDiscord, services: Services) -> AsyncIterator[Callable[..., Any]]:
    """Log a ThreadwiseBot in against the fake (GET /users/@me, application info,
    setup_hook); no gateway connection is made. Pass settings= to change settings."""
    bots: list[ThreadwiseBot] = []
    extra: list[Services] = []

    async def factory(**kw: Any) -> ThreadwiseBot:
        settings = kw.pop("settings", services.settings)
        used = services if settings is services.settings else Services(services.db, settings)
        if used is not services:
            extra.append(used)
        bot = ThreadwiseBot(used, settings, clock=fake.now, **kw)
        bots.append(bot)
        await bot.login("fake-token")
        return bot

    yield factory
    for instance in bots:
        await instance.close()
    for other in extra:
        await _close(other)


@pytest.fixture
async def bot(make_bot: Callable[..., Any]) -> ThreadwiseBot:
    return await make_bot()


@pytest.fixture
def driver(bot: ThreadwiseBot, fake: FakeDiscord) -> Driver:
    return Driver(bot, fake)
