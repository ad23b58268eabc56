"""Scheduled digests posted to a Discord channel: mentions off, a nonce per slot, 404 = gone."""

from __future__ import annotations

from typing import Any

import discord
import pytest

from bot.core.render import Answer, Line, Ref, Section
from bot.discord_app.publisher import DiscordPublisher, nonce_for
from bot.usecases.scheduler import TargetGone
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


async def test_a_short_rate_limit_is_waited_out_and_the_digest_sent_once(bot: Any, fake: Any):
    fake.add_channel(text_channel(CHANNEL_A, GUILD_A), [])
    bot._ready.set()
    fake.rate_limit_next("POST", f"/channels/{CHANNEL_A}/messages", retry_after=0.3)
    message_id = await DiscordPublisher(bot).publish(str(CHANNEL_A), DIGEST, "digest-4-x")
    sends = [r for r in fake.requests if r.route == f"POST /channels/{CHANNEL_A}/messages"]
    assert [r.status for r in sends] == [429, 200] and message_id is not None


async def test_a_long_rate_limit_fails_for_now_instead_of_holding_the_scheduler(
    bot: Any, fake: Any
) -> None:
    fake.add_channel(text_channel(CHANNEL_A, GUILD_A), [])
    bot._ready.set()
    assert bot.http.max_ratelimit_timeout == 30.0
    fake.rate_limit_next("POST", f"/channels/{CHANNEL_A}/messages", retry_after=600)
    with pytest.raises(discord.RateLimited):  # not TargetGone: the slot is retried later
        await DiscordPublisher(bot).publish(str(CHANNEL_A), DIGEST, "digest-5-x")


async def test_missing_permissions_on_send_is_target_gone(bot: Any, fake: Any) -> None:
    fake.add_channel(text_channel(CHANNEL_A, GUILD_A), [])
    bot._ready.set()
    fake.refuse_next("POST", f"/channels/{CHANNEL_A}/messages")
    with pytest.raises(TargetGone):
        await DiscordPublisher(bot).publish(str(CHANNEL_A), DIGEST, "digest-6-x")


async def test_a_gateway_that_never_comes_up_fails_the_digest_for_now(bot: Any, monkeypatch):
    monkeypatch.setattr("bot.discord_app.publisher.READY_TIMEOUT", 0.05)
    with pytest.raises(ConnectionError, match="retried later"):
        await DiscordPublisher(bot).publish(str(CHANNEL_A), DIGEST, "digest-7-x")


async def test_a_shard_process_posts_digests_to_guilds_on_other_shards(fake: Any, services: Any):
    """Sending is a REST call: whichever process claims a digest posts it, even to a guild
    whose gateway events go to another process's shards."""
    import dataclasses

    from discord.ext import commands

    from bot.discord_app.app import make_bot

    on_shard_0 = dataclasses.replace(services.settings.discord, shard_count=2, shard_ids=(0,))
    settings = dataclasses.replace(services.settings, discord=on_shard_0)
    bot = make_bot(services, settings)
    assert isinstance(bot, commands.AutoShardedBot)
    assert not settings.discord.owns_guild(GUILD_A)  # GUILD_A is on shard 1
    await bot.login("fake-token")
    try:
        fake.add_channel(text_channel(CHANNEL_A, GUILD_A), [])
        bot._ready.set()
        message_id = await DiscordPublisher(bot).publish(str(CHANNEL_A), DIGEST, "digest-7-x")
    finally:
        await bot.close()
    assert message_id is not None
    assert f"GET /channels/{CHANNEL_A}" in fake.routes()
    assert any(r.path.endswith(f"/{CHANNEL_A}/messages") for r, _ in fake.message_payloads())
