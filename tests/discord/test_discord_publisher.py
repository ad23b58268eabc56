"""Scheduled digests posted to a Discord channel: mentions off, a nonce per slot, 404 = gone."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.render import Answer, Line, Ref, Section
from bot.discord_publisher import DiscordPublisher, nonce_for
from bot.scheduler import TargetGone
from tests.discord.discord_helpers import CHANNEL_A, GUILD_A, text_channel

DIGEST = Answer(
    title="What is new in tram-vote",
    sections=(
        Section(None, (Line("@everyone the depot <@&1> moved north", Ref(7, "ines", None)),)),
    ),
)


async def test_digest_goes_out_with_mentions_off_and_a_stable_nonce(bot: Any, fake: Any) -> None:
    fake.add_channel(text_channel(CHANNEL_A, GUILD_A), [])
    bot._ready.set()  # no gateway in tests: the bot counts as connected (private API)
    publisher = DiscordPublisher(bot)
    message_id = await publisher.publish(str(CHANNEL_A), DIGEST, idempotency_key="digest-3-x")
    assert message_id is not None
    posts = [p for r, p in fake.message_payloads() if r.path.endswith(f"/{CHANNEL_A}/messages")]
    assert posts and all(p["allowed_mentions"] == {"parse": []} for p in posts)
    assert posts[0]["nonce"] == nonce_for("digest-3-x", 0) and posts[0]["enforce_nonce"] is True
    assert len(posts[0]["nonce"]) <= 25


async def test_a_missing_channel_is_target_gone(bot: Any, fake: Any) -> None:
    bot._ready.set()
    with pytest.raises(TargetGone):
        await DiscordPublisher(bot).publish("123456789012345678", DIGEST)
    with pytest.raises(TargetGone):
        await DiscordPublisher(bot).publish("not-a-channel", DIGEST)
