"""The Matrix bot: matrix-nio in front of the same services as the CLI and Discord.

`run_matrix(services, settings)` logs in, syncs and answers commands until it is cancelled,
then closes the connection. Modules, one job each: client (nio set-up, login, stored
state), app (the sync loop and which events count), gaps (limited timelines read back),
router (command text → Command), tracking (commands from acceptance to answer, and after
a restart), handlers (one method per command), history (a room or thread → ThreadDoc),
html (answers → m.notice HTML), outbox (the durable send queue, threads, images),
ratelimit (429 waits), power (power levels).
"""

from __future__ import annotations

import logging
from typing import Any

from bot.settings import Settings
from bot.usecases.services import Services

from .app import MatrixBot
from .client import make_client

log = logging.getLogger(__name__)


async def run_matrix(
    services: Services, settings: Settings, *, publishers: dict[str, Any] | None = None
) -> None:
    """Run the Matrix bot until cancelled; the client is closed on the way out.

    `publishers` (the digest scheduler's) gets the Matrix Publisher for this bot.
    """
    bot = MatrixBot(services, settings, make_client(settings.matrix))
    if publishers is not None:
        from .publisher import MatrixPublisher

        publishers["matrix"] = MatrixPublisher(bot.client, bot.outbox)
    try:
        await bot.run()
    finally:
        await bot.close()
        log.info("Matrix bot stopped")


__all__ = ["run_matrix"]
