"""`threadwise run`: start every chat adapter that is configured, in one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from bot.errors import ConfigError, UserError
from bot.settings import Settings
from bot.usecases.services import Services
from storage.database import open_database

log = logging.getLogger(__name__)


async def run_bots(settings: Settings, db_path: str | Path, *, sync_commands: bool = False) -> None:
    """Run Discord and/or Matrix until SIGINT/SIGTERM, sharing one database and one core.

    Each adapter exposes `run_*(services, settings, ...)`, a coroutine that runs until it
    is cancelled and cleans up after itself.
    """
    jobs: list[Coroutine[Any, Any, None]] = []
    db = await open_database(db_path)
    services = Services(db, settings)
    publishers: dict[str, Any] = {}
    try:
        if settings.discord.enabled:
            from bot.discord_app.app import run_discord

            jobs.append(
                run_discord(services, settings, sync_commands=sync_commands, publishers=publishers)
            )
        if settings.matrix.enabled:
            jobs.append(_run_matrix_alone(services, settings, publishers))
        if jobs:
            from bot.usecases.scheduler import Scheduler

            jobs.append(Scheduler(services, publishers).run_forever())
        if not jobs:
            raise UserError(
                "nothing to run: set DISCORD_TOKEN (or [discord] token) for Discord, or "
                "[matrix] homeserver, user_id and a password or access token for Matrix"
            )
        await _until_stopped(jobs)
    finally:
        for job in jobs:
            job.close()  # never awaited when set-up failed part-way
        await services.close()
        await db.close()


MATRIX_LOCK = "matrix"


async def _run_matrix_alone(
    services: Services, settings: Settings, publishers: dict[str, Any]
) -> None:
    """The Matrix bot, in one process only: an account syncing from two processes would
    answer every command twice. The lock is released when this process ends or dies."""
    from bot.matrix_app import run_matrix
    from storage.locks import LockHeld, exclusive

    try:
        async with exclusive(services.db, MATRIX_LOCK):
            await run_matrix(services, settings, publishers=publishers)
    except LockHeld:
        raise ConfigError(
            "another threadwise process already runs the Matrix bot on this database: run it "
            "in exactly one process (leave [matrix] homeserver unset in the others)"
        ) from None


async def _until_stopped(jobs: list[Coroutine[Any, Any, None]]) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not main thread, Windows
            loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(job) for job in jobs]
    jobs.clear()
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        log.info("threadwise stopping")
        for task in [*tasks, stopper]:
            task.cancel()
        await asyncio.gather(*tasks, stopper, return_exceptions=True)
