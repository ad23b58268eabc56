"""The matrix-nio client: configuration, login with a kept device id, and the stored sync token.

Login uses MATRIX_ACCESS_TOKEN when set (checked with /whoami), else the password with the
device id kept from the previous start, so restarts do not pile up devices. The access
token itself is never written to the database. The sync token is saved before the events
of a sync are handled (at-most-once, like nio): a crash inside a handler never replays it.
"""

from __future__ import annotations

import logging

from nio import AsyncClient, AsyncClientConfig, LoginResponse, WhoamiResponse

from bot.errors import ConfigError
from bot.settings import MatrixSettings
from storage.members import BotStateRepository

log = logging.getLogger(__name__)

DEVICE_NAME = "threadwise"


def make_client(settings: MatrixSettings) -> AsyncClient:
    """A client that returns 429s to us (see ratelimit.py) and never tries encryption."""
    settings.require_login()
    assert settings.homeserver is not None and settings.user_id is not None
    config = AsyncClientConfig(
        max_limit_exceeded=0,
        encryption_enabled=False,
        store_sync_tokens=False,
        request_timeout=60,
        # nio retries a lost connection itself, waiting up to this long between tries: after
        # an outage of the homeserver the bot is back within 10 s, not a minute.
        max_timeout_retry_wait_time=10,
    )
    client = AsyncClient(settings.homeserver, settings.user_id, config=config)
    client.user_id = settings.user_id  # nio sets it at login; the filters need it from the start
    return client


class BotState:
    """The adapter's keys in bot_state, namespaced by account so a new account starts fresh."""

    def __init__(self, repo: BotStateRepository, user_id: str) -> None:
        self._repo = repo
        self._prefix = f"matrix:{user_id}:"

    async def device_id(self) -> str | None:
        return await self._repo.get(self._prefix + "device_id")

    async def set_device_id(self, device_id: str) -> None:
        await self._repo.set(self._prefix + "device_id", device_id)

    async def sync_token(self) -> str | None:
        return await self._repo.get(self._prefix + "sync_token")

    async def set_sync_token(self, token: str) -> None:
        await self._repo.set(self._prefix + "sync_token", token)


async def login(client: AsyncClient, settings: MatrixSettings, state: BotState) -> str:
    """Log in and return the device id (kept in `state`)."""
    if settings.access_token:
        client.access_token = settings.access_token
        who = await client.whoami()
        if not isinstance(who, WhoamiResponse):
            raise ConfigError(f"Matrix access token refused by the homeserver: {_why(who)}")
        if who.user_id != settings.user_id:
            raise ConfigError(
                f"MATRIX_ACCESS_TOKEN belongs to {who.user_id}, not [matrix] user_id "
                f"{settings.user_id}"
            )
        client.user_id = who.user_id
        device_id = who.device_id or await state.device_id() or ""
        client.device_id = device_id
    else:
        assert settings.password is not None
        client.device_id = await state.device_id() or ""
        resp = await client.login(settings.password, device_name=DEVICE_NAME)
        if not isinstance(resp, LoginResponse):
            raise ConfigError(f"Matrix login as {settings.user_id} failed: {_why(resp)}")
        device_id = resp.device_id
    if device_id:
        await state.set_device_id(device_id)
    log.info("Matrix: logged in as %s (device %s)", client.user_id, device_id or "unknown")
    return device_id


def _why(resp: object) -> str:
    return str(getattr(resp, "message", None) or getattr(resp, "status_code", None) or resp)
