"""Everything the bot sends: m.notice answers in the right thread, images, and room failures.

A command in a thread is answered in that thread (rel_type m.thread on its root, with
m.in_reply_to + is_falling_back, per the threading module); any other command gets a plain
reply. Each event keeps one transaction id across rate-limit retries, so a retry of a send
that did land is de-duplicated by the homeserver. A room still rate limited past the
policy's cap is recorded as failed and its job stops; other rooms are not held up.
"""

from __future__ import annotations

import io
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from nio import AsyncClient, RoomSendResponse, UploadResponse

from bot.core.render import Answer

from . import html
from .ratelimit import RateLimited, RetryPolicy

log = logging.getLogger(__name__)


class RoomFailed(Exception):
    """Sending to one room failed for good (rate limit cap, forbidden, gone)."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where an answer goes: the room, the command event, and its thread root if any."""

    room_id: str
    event_id: str | None = None
    thread_root: str | None = None

    def relation(self) -> dict[str, Any] | None:
        if self.thread_root:
            relation: dict[str, Any] = {
                "rel_type": "m.thread",
                "event_id": self.thread_root,
                "is_falling_back": True,
            }
            if self.event_id:
                relation["m.in_reply_to"] = {"event_id": self.event_id}
            return relation
        if self.event_id:
            return {"m.in_reply_to": {"event_id": self.event_id}}
        return None


class Outbox:
    def __init__(self, client: AsyncClient, policy: RetryPolicy) -> None:
        self._client = client
        self._policy = policy
        self.failed_rooms: dict[str, str] = {}
        """room id → why its last send failed; cleared by the next success."""

    async def answer(self, target: Target, answer: Answer) -> list[str]:
        return [await self.send(target, c) for c in html.answer_contents(answer)]

    async def notice(self, target: Target, text: str) -> str:
        return await self.send(target, html.notice(text))

    async def image(self, target: Target, png: bytes, filename: str = "quote-graph.png") -> str:
        async def upload() -> object:
            resp, _keys = await self._client.upload(
                io.BytesIO(png), content_type="image/png", filename=filename, filesize=len(png)
            )
            return resp

        resp = await self._call(target.room_id, upload)
        if not isinstance(resp, UploadResponse):
            raise self._failed(target.room_id, f"upload refused: {_why(resp)}")
        return await self.send(target, html.image_content(resp.content_uri, png, filename))

    async def send(self, target: Target, content: dict[str, Any], tx_id: str | None = None) -> str:
        """`tx_id`: the same id for a retried send makes the homeserver keep one event."""
        relation = target.relation()
        if relation is not None:
            content = {**content, "m.relates_to": relation}
        tx_id = tx_id or str(uuid.uuid4())
        resp = await self._call(
            target.room_id,
            lambda: self._client.room_send(target.room_id, "m.room.message", content, tx_id=tx_id),
        )
        if not isinstance(resp, RoomSendResponse):
            raise self._failed(target.room_id, f"send refused: {_why(resp)}")
        self.failed_rooms.pop(target.room_id, None)
        return resp.event_id

    async def _call(self, room_id: str, request: Any) -> Any:
        try:
            return await self._policy.call(request)
        except RateLimited as exc:
            raise self._failed(room_id, str(exc)) from exc

    def _failed(self, room_id: str, why: str) -> RoomFailed:
        self.failed_rooms[room_id] = why
        log.error("Matrix room %s failed: %s", room_id, why)
        return RoomFailed(f"{room_id}: {why}")


def _why(resp: object) -> str:
    return str(getattr(resp, "message", None) or resp)
