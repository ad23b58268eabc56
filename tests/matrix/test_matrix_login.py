"""Login against the real homeserver: the device id is kept, a token is checked, bad ones fail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nio import AsyncClient, LoginResponse

from bot.errors import ConfigError
from bot.matrix_app.client import BotState, login, make_client
from bot.settings import MatrixSettings
from storage.database import open_database
from storage.members import BotStateRepository
from tests.matrix.conftest import Accounts
from tests.matrix.homeserver import Homeserver


@pytest.fixture
async def state(tmp_path: Path) -> AsyncIterator[BotStateRepository]:
    db = await open_database(tmp_path / "state.db")
    try:
        yield BotStateRepository(db)
    finally:
        await db.close()


async def logged_in(settings: MatrixSettings, state: BotState) -> str:
    client = make_client(settings)
    try:
        return await login(client, settings, state)
    finally:
        await client.close()


async def test_password_login_keeps_one_device_across_restarts(
    synapse: Homeserver, accounts: Accounts, state: BotStateRepository
) -> None:
    user = synapse.register("keeper", "keeper-password")
    settings = MatrixSettings(homeserver=synapse.url, user_id=user, password="keeper-password")
    kept = BotState(state, user)
    first = await logged_in(settings, kept)
    second = await logged_in(settings, kept)
    assert first and first == second == await kept.device_id()


async def test_access_token_login_is_checked_and_its_device_recorded(
    synapse: Homeserver, accounts: Accounts, state: BotStateRepository
) -> None:
    user = synapse.register("tokenbot", "token-password")
    human = AsyncClient(synapse.url, user)
    try:
        resp = await human.login("token-password", device_name="made by hand")
        assert isinstance(resp, LoginResponse)
    finally:
        await human.close()
    kept = BotState(state, user)
    settings = MatrixSettings(homeserver=synapse.url, user_id=user, access_token=resp.access_token)
    assert await logged_in(settings, kept) == resp.device_id
    assert await kept.device_id() == resp.device_id

    wrong_user = MatrixSettings(
        homeserver=synapse.url, user_id=accounts.alice, access_token=resp.access_token
    )
    with pytest.raises(ConfigError, match="belongs to"):
        await logged_in(wrong_user, BotState(state, accounts.alice))
    bad = MatrixSettings(homeserver=synapse.url, user_id=user, access_token="not-a-token")
    with pytest.raises(ConfigError, match="refused"):
        await logged_in(bad, kept)


async def test_a_wrong_password_is_a_clear_config_error(
    synapse: Homeserver, accounts: Accounts, state: BotStateRepository
) -> None:
    settings = MatrixSettings(homeserver=synapse.url, user_id=accounts.bob, password="wrong")
    with pytest.raises(ConfigError, match="login as @bob:localhost failed"):
        await logged_in(settings, BotState(state, accounts.bob))
