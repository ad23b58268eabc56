"""Posting scheduled digests to Matrix rooms (the scheduler's Publisher for Matrix)."""

from __future__ import annotations

from datetime import timedelta

from nio import AsyncClient

from bot.core.render import Answer
from bot.usecases.scheduler import TargetGone

from . import html
from .outbox import Outbox, RoomFailed, Target


class MatrixPublisher:
    """Digests go out as m.notice like every answer; the scheduler's idempotency key
    becomes the transaction id, so a retried slot is stored once by the homeserver."""

    accepts_idempotency_key = True
    idempotency_window = timedelta(minutes=20)
    """Synapse keeps a device's transaction ids for about 30 minutes: a retry later than
    this may post the digest again, and says so."""

    def __init__(self, client: AsyncClient, outbox: Outbox) -> None:
        self.client = client
        self.outbox = outbox

    async def publish(
        self, target: str, answer: Answer, idempotency_key: str | None = None
    ) -> str | None:
        if not self.client.next_batch:
            # Not synced yet (just started): a temporary failure, retried later; never
            # "gone", which would switch the schedule off.
            raise RuntimeError("the Matrix client has not synced yet")
        if target not in self.client.rooms:
            raise TargetGone(target, "the bot is not in that room")
        ids = []
        for part, content in enumerate(html.answer_contents(answer)):
            tx_id = f"{idempotency_key}-{part}" if idempotency_key else None
            try:
                ids.append(await self.outbox.send(Target(target), content, tx_id=tx_id))
            except RoomFailed as exc:
                if "M_FORBIDDEN" in str(exc) or "not in room" in str(exc).lower():
                    raise TargetGone(target, str(exc)) from exc
                raise
        return ids[0] if ids else None
