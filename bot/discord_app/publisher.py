"""Posting scheduled digests to Discord channels (the scheduler's Publisher for Discord)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import discord

from bot.core.render import Answer
from bot.discord_app.render import render_answer
from bot.usecases.scheduler import TargetGone

if TYPE_CHECKING:
    from discord.ext import commands

log = logging.getLogger(__name__)

NONCE_MAX = 25  # Discord's limit on a message nonce
READY_TIMEOUT = 30.0
"""Seconds a digest waits for the gateway; then it fails for now and its slot is retried."""


def nonce_for(key: str, part: int) -> str:
    """A short, stable nonce: with enforce_nonce Discord returns the existing message for a
    repeated nonce, so a retried digest slot is not posted twice."""
    return hashlib.sha256(f"{key}/{part}".encode()).hexdigest()[:NONCE_MAX]


class DiscordPublisher:
    accepts_idempotency_key = True
    idempotency_window = timedelta(minutes=2)
    """Discord checks an enforced nonce "in the past few minutes" only: a retry later than
    this may post the digest again, and says so."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    async def publish(
        self, target: str, answer: Answer, idempotency_key: str | None = None
    ) -> str | None:
        try:  # a gateway outage must not hold the scheduler (every platform's digests) for good
            await asyncio.wait_for(self.bot.wait_until_ready(), READY_TIMEOUT)
        except TimeoutError:
            raise ConnectionError("Discord is not connected; the digest is retried later") from None
        if not target.isdigit():
            raise TargetGone(target, "not a Discord channel id")
        try:
            channel = self.bot.get_channel(int(target)) or await self.bot.fetch_channel(int(target))
        except (discord.NotFound, discord.Forbidden) as exc:
            raise TargetGone(target, str(exc)) from exc
        if not isinstance(channel, discord.abc.Messageable):
            raise TargetGone(target, "not a text channel")
        first_id: str | None = None
        try:
            for part, out in enumerate(render_answer(answer)):
                nonce = nonce_for(idempotency_key, part) if idempotency_key else None
                message = await channel.send(
                    content=out.content,
                    embeds=list(out.embeds),
                    allowed_mentions=discord.AllowedMentions.none(),
                    nonce=nonce,
                )
                first_id = first_id or str(message.id)
        except (discord.NotFound, discord.Forbidden) as exc:
            raise TargetGone(target, str(exc)) from exc
        return first_id
