"""One logging set-up for the long-running bots; noisy libraries kept quiet."""

from __future__ import annotations

import logging
import os

_NOISY = ("discord.gateway", "discord.http", "nio", "aiohttp.access", "matplotlib", "PIL")


def setup_logging(quiet: bool = False) -> None:
    level = os.environ.get("THREADWISE_LOG_LEVEL", "WARNING" if quiet else "INFO").upper()
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    for name in _NOISY:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
