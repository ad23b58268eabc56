"""Digests posted to a Matrix room by the scheduler's Publisher, against the real homeserver."""

from __future__ import annotations

from pathlib import Path

import pytest
from nio import AsyncClient, LoginResponse, RoomCreateResponse, RoomMessagesResponse

from bot.core.render import Answer, Line, Ref, Section
from bot.matrix_app.outbox import Outbox
from bot.matrix_app.publisher import MatrixPublisher
from bot.matrix_app.ratelimit import RetryPolicy
from bot.usecases.scheduler import TargetGone
from storage.commands import MatrixOutboxRepository
from storage.database import open_database
from tests.matrix.homeserver import Homeserver

DIGEST = Answer(
    title="What is new in tram-vote",
    sections=(Section(None, (Line("@room the depot moved north", Ref(7, "ines", None)),)),),
)


async def test_digest_is_an_inert_notice_and_a_retried_slot_posts_once(
    synapse: Homeserver, tmp_path: Path
) -> None:
    user = synapse.register("digestbot", "digest-password")
    client = AsyncClient(synapse.url, user)
    db = await open_database(tmp_path / "outbox.db")
    outbox = Outbox(client, RetryPolicy(), MatrixOutboxRepository(db, user))
    try:
        assert isinstance(await client.login("digest-password"), LoginResponse)
        created = await client.room_create(name="digests")
        assert isinstance(created, RoomCreateResponse)
        await client.sync(timeout=0)
        publisher = MatrixPublisher(client, outbox)
        first = await publisher.publish(created.room_id, DIGEST, idempotency_key="digest-1-slot")
        again = await publisher.publish(created.room_id, DIGEST, idempotency_key="digest-1-slot")
        assert first == again  # same transaction id: the homeserver keeps one event
        history = await client.room_messages(created.room_id, start="", limit=20)
        assert isinstance(history, RoomMessagesResponse)
        notices = [
            e for e in history.chunk if getattr(e, "source", {}).get("type") == "m.room.message"
        ]
        assert len(notices) == 1
        content = notices[0].source["content"]
        assert content["msgtype"] == "m.notice"
        assert content["m.mentions"] == {}
        with pytest.raises(TargetGone):
            await publisher.publish("!nowhere:localhost", DIGEST)
    finally:
        await outbox.close()
        await client.close()
        await db.close()
