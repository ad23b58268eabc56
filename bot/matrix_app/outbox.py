"""Everything the bot sends: m.notice answers in the right thread, images, and room failures.

A command in a thread is answered in that thread (rel_type m.thread on its root, with
m.in_reply_to + is_falling_back, per the threading module); any other command gets a plain
reply.

Every message goes through a durable queue (storage.commands.MatrixOutboxRepository)
before it is sent: one sender per room takes the room's messages in order and keeps
trying until the homeserver takes each one. A 429 waits what the server asks
(`Retry-After`, else `retry_after_ms`), an outage or a 5xx backs off, and a restart picks
the queue up again. Each message keeps one transaction id for all its tries, so a retry of
a send that did land is de-duplicated by the homeserver. Only a refusal for good (403: the
bot is not in the room; 400: a malformed event) drops a message; the room is then recorded
as failed. `send` waits a while for delivery and then lets the queue finish the job.
"""

from __future__ import annotations

import asyncio
import io
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from nio import AsyncClient, ErrorResponse, RoomSendResponse, UploadResponse

from bot.core.render import Answer
from storage.commands import MatrixOutboxRepository, Outgoing

from . import html
from .ratelimit import RateLimited, RetryPolicy, retry_after

log = logging.getLogger(__name__)

DELIVERY_WAIT = 60.0
"""Seconds `send` waits for delivery before leaving the message to the queue."""
BACKOFF_MAX = 60.0


class RoomFailed(Exception):
    """A message to one room was refused for good (forbidden, gone, malformed), or an
    upload stayed rate limited past the policy's cap."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where an answer goes: the room, the command event, and its thread root if any."""

    room_id: str
    event_id: str | None = None
    thread_root: str | None = None
    command_id: int | None = None
    """The recorded command this answers (storage.commands): queueing its first message
    marks it answered."""

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
    def __init__(
        self,
        client: AsyncClient,
        policy: RetryPolicy,
        queue: MatrixOutboxRepository,
        *,
        wait: float = DELIVERY_WAIT,
    ) -> None:
        self._client = client
        self._policy = policy
        self._queue = queue
        self._wait = wait
        self._senders: dict[str, asyncio.Task[None]] = {}
        self._woken: set[str] = set()
        self._delivered: dict[str, asyncio.Future[str]] = {}
        """transaction id → its delivery, while someone waits for it."""
        self._early: dict[str, asyncio.Future[str]] = {}
        """Settled before anyone waited (sent while `add` was still returning)."""
        self.failed_rooms: dict[str, str] = {}
        """room id → why its last message was refused; cleared by the next success."""

    async def answer(self, target: Target, answer: Answer) -> list[str | None]:
        contents = html.answer_contents(answer)
        return await self._send_all(target, [(None, c) for c in contents])

    async def notice(self, target: Target, text: str) -> str | None:
        return await self.send(target, html.notice(text))

    async def image(
        self, target: Target, png: bytes, filename: str = "quote-graph.png"
    ) -> str | None:
        async def upload() -> object:
            resp, _keys = await self._client.upload(
                io.BytesIO(png), content_type="image/png", filename=filename, filesize=len(png)
            )
            return resp

        try:
            resp = await self._policy.call(upload)
        except RateLimited as exc:
            raise self._failed(target.room_id, f"upload: {exc}") from exc
        if not isinstance(resp, UploadResponse):
            raise self._failed(target.room_id, f"upload refused: {_why(resp)}")
        return await self.send(target, html.image_content(resp.content_uri, png, filename))

    async def send(
        self, target: Target, content: dict[str, Any], tx_id: str | None = None
    ) -> str | None:
        """Queue one message and wait (a while) for it to be sent: its event id, or None
        when it is still waiting (rate limited, homeserver down); it goes out later.
        RoomFailed when the homeserver refused it for good.

        `tx_id`: the same id for a retried send makes the homeserver keep one event.
        """
        (event_id,) = await self._send_all(target, [(tx_id, content)])
        return event_id

    async def _send_all(
        self, target: Target, messages: list[tuple[str | None, dict[str, Any]]]
    ) -> list[str | None]:
        tx_ids = await self._enqueue(target, messages)
        loop = asyncio.get_running_loop()
        futures = [
            self._early.pop(t, None) or self._delivered.setdefault(t, loop.create_future())
            for t in tx_ids
        ]
        done, _ = await asyncio.wait(futures, timeout=self._wait)
        if len(done) < len(futures):
            log.warning(
                "Matrix: %d message(s) to %s not sent yet (rate limited or unreachable); "
                "they stay queued and go out as soon as the homeserver takes them",
                len(futures) - len(done),
                target.room_id,
            )
        results: list[str | None] = []
        for future in futures:
            if future.done():
                results.append(future.result())  # RoomFailed for a refusal
            else:
                results.append(None)
        return results

    async def enqueue(self, target: Target, content: dict[str, Any]) -> None:
        """Queue one message without waiting for it."""
        await self._enqueue(target, [(None, content)])

    async def _enqueue(
        self, target: Target, messages: list[tuple[str | None, dict[str, Any]]]
    ) -> list[str]:
        """Queue messages; their transaction ids (which also name them while queued)."""
        relation = target.relation()
        rows = [
            (tx_id or str(uuid.uuid4()), {**c, "m.relates_to": relation} if relation else c)
            for tx_id, c in messages
        ]
        await self._queue.add(target.room_id, rows, target.command_id)
        self.wake(target.room_id)
        return [tx_id for tx_id, _ in rows]

    # --- the queue ------------------------------------------------------------------------

    async def resume(self) -> int:
        """After a start: send what an earlier run left queued. Returns how many."""
        waiting = await self._queue.waiting()
        if waiting:
            log.info("Matrix: %d message(s) left queued by the last run; sending them", waiting)
        for room_id in await self._queue.rooms_waiting():
            self.wake(room_id)
        return waiting

    def wake(self, room_id: str) -> None:
        """Make sure the room's sender runs (it stops when the room's queue is empty)."""
        self._woken.add(room_id)
        sender = self._senders.get(room_id)
        if sender is None or sender.done():
            self._senders[room_id] = asyncio.create_task(self._drain(room_id))

    async def close(self) -> None:
        senders = list(self._senders.values())
        for sender in senders:
            sender.cancel()
        await asyncio.gather(*senders, return_exceptions=True)

    async def _drain(self, room_id: str) -> None:
        while True:
            self._woken.discard(room_id)
            try:
                message = await self._queue.next_for(room_id)
                if message is None:
                    if room_id in self._woken:
                        continue  # queued while we looked
                    return
                await self._deliver(message)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database, most likely: try again shortly
                log.exception("Matrix: the outbox of %s failed; retrying", room_id)
                await self._policy.sleep(5.0)

    async def _deliver(self, message: Outgoing) -> None:
        """Send one queued message; returns once it is sent or refused for good."""
        failures = 0
        while True:
            try:
                resp: object = await self._client.room_send(
                    message.room_id, "m.room.message", message.content, tx_id=message.tx_id
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # nio raises on some transport errors
                resp = exc
            if isinstance(resp, RoomSendResponse):
                await self._queue.remove(message.id)
                self.failed_rooms.pop(message.room_id, None)
                self._settle(message.tx_id, result=resp.event_id)
                return
            delay = retry_after(resp, self._policy.default_wait)
            if delay is None and not _temporary(resp):
                why = f"send refused: {_why(resp)}"
                await self._queue.remove(message.id)
                self._settle(message.tx_id, error=self._failed(message.room_id, why))
                return
            if delay is None:
                failures += 1
                delay = min(BACKOFF_MAX, 2.0**failures)
            await self._queue.attempt_failed(message.id, _why(resp))
            log.warning(
                "Matrix: a message to %s is waiting %.1f s (%s); it stays queued",
                message.room_id,
                delay,
                "rate limited" if failures == 0 else _why(resp),
            )
            await self._policy.sleep(delay)

    def _settle(
        self, tx_id: str, *, result: str | None = None, error: Exception | None = None
    ) -> None:
        future = self._delivered.pop(tx_id, None)
        if future is None:
            future = self._early[tx_id] = asyncio.get_running_loop().create_future()
            while len(self._early) > 1000:
                self._early.pop(next(iter(self._early)))
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
            future.exception()  # nobody may be waiting any more: never "never retrieved"
        else:
            future.set_result(result or "")

    def _failed(self, room_id: str, why: str) -> RoomFailed:
        self.failed_rooms[room_id] = why
        log.error("Matrix room %s failed: %s", room_id, why)
        return RoomFailed(f"{room_id}: {why}")


def _temporary(resp: object) -> bool:
    """A failure worth retrying: no answer at all, or the server's own trouble (5xx)."""
    if isinstance(resp, Exception):
        return True
    if not isinstance(resp, ErrorResponse):
        return True  # an unexpected answer: try again rather than lose the message
    status = getattr(getattr(resp, "transport_response", None), "status", None)
    if status is None or status >= 500:
        return True
    # A token logged out under the running bot: kept for the next start with a new one.
    return resp.status_code == "M_UNKNOWN_TOKEN"


def _why(resp: object) -> str:
    if isinstance(resp, Exception):
        return f"{type(resp).__name__}: {resp}"
    return str(getattr(resp, "message", None) or resp)
