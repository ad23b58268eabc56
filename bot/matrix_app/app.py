"""The sync loop: which events become commands, invites, departures; nothing else is answered.

Rules kept here (platform-rules M1, M3, M5, M7, M8; issue 16):
- syncs use a filter with a larger timeline, and a timeline the homeserver still cut short
  (`limited`, after a pause or an outage) is read back with /messages (gaps.py), so no
  command in the gap is missed;
- every command of a sync is recorded in the database before the sync token is stored,
  and the token before any command runs: a crash leaves each command either unseen (the
  sync is replayed) or recorded, and a recorded one is never run twice but answered at the
  next start (tracking.py); commands sent while the bot was down are answered then too;
- the first sync without a token only takes invites, never the backlog;
- only m.text from someone else is a command: never an m.notice, never the bot's own
  account (any device), never an edit, never anything from before the bot's join (or, on
  the very first start, before it); each event id is handled once;
- invites are joined only from settings.matrix.allowed_inviters, other invites rejected;
  an encrypted room is told plainly that the bot cannot read it, then left;
- a kick or ban marks the room's scope as left (purged after the grace period); at start,
  rooms left or re-joined while the bot was down are caught up the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from nio import (
    AsyncClient,
    InviteMemberEvent,
    JoinResponse,
    RoomGetStateEventResponse,
    SyncResponse,
)

from bot.core.models import StoredThread
from bot.settings import Settings
from bot.usecases.services import IngestResult, Services
from storage.commands import CommandRepository, MatrixOutboxRepository
from storage.members import Reconciled

from . import gaps, router
from .client import BotState, login
from .handlers import Context, Handlers
from .outbox import Outbox, RoomFailed, Target
from .ratelimit import RetryPolicy, retry_after
from .tracking import CommandLog, Parsed

log = logging.getLogger(__name__)

SYNC_TIMEOUT_MS = 30_000
PURGE_EVERY_S = 6 * 3600
MAX_PARALLEL_COMMANDS = 4

ENCRYPTED_REFUSAL = (
    "This room is end-to-end encrypted, and threadwise does not support encrypted rooms: "
    "it could not read the messages here. Invite it to an unencrypted room instead. Leaving now."
)


class MatrixBot:
    def __init__(
        self,
        services: Services,
        settings: Settings,
        client: AsyncClient,
        *,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.services = services
        self.settings = settings
        self.client = client
        self.policy = policy or RetryPolicy()
        account = client.user_id or settings.matrix.user_id or ""
        self.outbox = Outbox(client, self.policy, MatrixOutboxRepository(services.db, account))
        self.commands = CommandLog(CommandRepository(services.db, "matrix", account), self.outbox)
        self.handlers = Handlers(services, settings, client, self.outbox, self.policy.call)
        services.chat_readers["matrix"] = self._reread  # digests read new messages first
        self.prefix = settings.matrix.command_prefix
        self._clock = clock
        self._started_ms = 0
        self._rooms_in_hand: set[str] = set()  # joins/refusals under way
        self._refuse_after_join: set[str] = set()  # turned encrypted while being joined
        self._joining: set[str] = set()  # joins on an allowed invite, until they are done
        self._refused: set[str] = set()  # encrypted rooms already told and left
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(MAX_PARALLEL_COMMANDS)

    async def _reread(self, thread: StoredThread, progress: object = None) -> IngestResult:
        return await self.handlers.reread(thread, progress)  # tests swap the handlers

    @property
    def user_id(self) -> str:
        return self.client.user_id

    async def run(self) -> None:
        """Log in and sync until cancelled."""
        state = BotState(self.services.state, self.settings.matrix.user_id or "")
        await login(self.client, self.settings.matrix, state)
        token = await state.sync_token()
        backlog = token is None
        if backlog:  # the very first start: nothing said before it is answered
            self._started_ms = int(self._clock() * 1000)
        await self._catch_up_on_commands()
        first = True
        failures = 0
        while True:
            try:
                resp = await self.client.sync(
                    timeout=0 if first else SYNC_TIMEOUT_MS,
                    sync_filter=gaps.SYNC_FILTER,
                    since=token,
                    full_state=True if first else None,
                    set_presence="online",
                )
                if isinstance(resp, SyncResponse) and not backlog:
                    await gaps.fill_gaps(self.client, resp, token, self.policy.call)
            except Exception as exc:  # a dropped connection must not end the bot
                resp = exc
            if not isinstance(resp, SyncResponse):
                failures += 1
                delay = retry_after(resp) or min(60.0, 2.0**failures)
                log.warning("Matrix sync failed (%r); retrying in %.0f s", resp, delay)
                await asyncio.sleep(delay)
                continue
            try:
                accepted = await self.accept_commands(resp, backlog=backlog)
            except Exception:  # nothing recorded: the same sync is read again
                failures += 1
                log.exception("Matrix: recording the commands of a sync failed; syncing again")
                await asyncio.sleep(min(60.0, 2.0**failures))
                continue
            failures = 0
            token = resp.next_batch
            try:
                await state.set_sync_token(token)  # before any command runs
            except Exception:  # its commands are recorded: a replay will not run them again
                log.exception("Matrix: storing the sync position failed")
            try:
                await self.on_sync(resp, backlog=backlog, accepted=accepted)
            except Exception:
                log.exception("Matrix: handling a sync failed; its events are skipped")
            if first:
                log.info(
                    "Matrix bot ready as %s (device %s) in %d rooms",
                    self.user_id,
                    self.client.device_id,
                    len(self.client.rooms),
                )
                await self._after_first_sync()
            first = backlog = False

    async def _catch_up_on_commands(self) -> None:
        """Answer the commands a previous run left unanswered, and send what it left queued."""
        try:
            told = await self.commands.answer_interrupted(
                datetime.fromtimestamp(self._clock(), UTC)
            )
            if told:
                log.info("Matrix: %d command(s) interrupted by the last stop were answered", told)
            await self.outbox.resume()
        except Exception:  # the bot still starts; the records stay for the next start
            log.exception("Matrix: answering interrupted commands failed")

    async def _after_first_sync(self) -> None:
        """Catch up on departures, then purge departed rooms now and every few hours."""
        try:
            await self.reconcile_rooms()
        except Exception:  # data is kept, never purged on a guess; retried at the next start
            log.exception("Matrix: reconciling room departures failed; purging is off")
            return
        task = asyncio.create_task(self._purge_forever())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reconcile_rooms(self) -> Reconciled:
        """Rooms the bot left or was re-invited to while it was not running: the first
        sync lists every joined room, so stored rooms not among them are recorded as left
        (their grace period starts now) and pending departures of joined rooms cleared."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        result = await self.services.scopes.reconcile(
            "matrix", self._present(), when=now, account=self.user_id
        )
        if result.skipped:
            log.warning("Matrix: room departures not reconciled: %s", result.skipped)
        for scope in result.left:
            log.info("Matrix: no longer in %s; its data is removed after the grace period", scope)
        for scope in result.back:
            log.info("Matrix: back in %s; its pending removal is cancelled", scope)
        return result

    async def purge_departed_rooms(self, now: datetime | None = None) -> list[str]:
        """Delete what is stored of rooms the bot left longer than leave_grace_days ago."""
        grace = timedelta(days=self.settings.matrix.leave_grace_days)
        now = now or datetime.fromtimestamp(self._clock(), UTC)
        gone = await self.services.scopes.purge_departed(
            grace, now, platform="matrix", present=self._present()
        )
        for scope in gone:
            log.info("Matrix: purged the data of %s (left over %s ago)", scope, grace)
        return gone

    def _present(self) -> set[str]:
        """Scopes of the rooms the bot is in or is joining on an allowed invite right now
        (a join may finish before the next sync lists the room). Not invites it rejects,
        nor encrypted rooms it is leaving: it is not staying there."""
        return {f"matrix:{room_id}" for room_id in {*self.client.rooms, *self._joining}}

    async def _purge_forever(self) -> None:
        while True:
            try:
                await self.purge_departed_rooms()
            except Exception:
                log.exception("Matrix: purging departed rooms failed; retrying next round")
            await asyncio.sleep(PURGE_EVERY_S)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.outbox.close()
        await self.client.close()

    # --- one sync ------------------------------------------------------------------------

    async def accept_commands(
        self, resp: SyncResponse, *, backlog: bool
    ) -> list[tuple[Context, Parsed]]:
        """The sync's commands, recorded in the database; nothing runs yet."""
        if backlog:
            return []  # first start: nothing said before the bot was running is answered
        found = []
        for room_id, joined in resp.rooms.join.items():
            sources = [e.source for e in joined.state] + [e.source for e in joined.timeline.events]
            if any(_is_encryption(ev) for ev in sources):
                continue
            for ev in _after_own_join(joined.timeline.events, self.user_id):
                parsed = self._parse(room_id, ev)
                if parsed is not None:
                    found.append(parsed)
        return await self.commands.accept(found)

    async def on_sync(
        self,
        resp: SyncResponse,
        *,
        backlog: bool,
        accepted: Sequence[tuple[Context, Parsed]] = (),
    ) -> None:
        for room_id, invite in resp.rooms.invite.items():
            self._on_invite(room_id, invite.invite_state)
        for room_id, left in resp.rooms.leave.items():
            await self._on_leave(room_id, [e.source for e in left.timeline.events])
        for room_id, joined in resp.rooms.join.items():
            sources = [e.source for e in joined.state] + [e.source for e in joined.timeline.events]
            if any(_is_encryption(ev) for ev in sources):
                self._spawn(self._refuse_encrypted(room_id), room_id)
        for ctx, parsed in accepted:
            self._spawn(self._run(ctx, parsed), ctx.room_id)

    def _on_event(self, room_id: str, ev: dict[str, Any]) -> None:
        """One event on its own (tests feed events this way): accepted, then run."""
        parsed = self._parse(room_id, ev)
        if parsed is not None:
            self._spawn(self._accept_and_run(parsed), room_id)

    async def _accept_and_run(self, parsed: tuple[Context, Parsed, str]) -> None:
        for ctx, command in await self.commands.accept([parsed]):
            await self._run(ctx, command)

    def _parse(self, room_id: str, ev: dict[str, Any]) -> tuple[Context, Parsed, str] | None:
        """A command for us (or its usage error) with its text; None for anything else."""
        ctx_command = self._command(room_id, ev)
        if ctx_command is None:
            return None
        ctx, body = ctx_command
        try:
            command = router.parse(body, self.prefix)
        except router.UsageError as exc:
            return ctx, exc, body
        return None if command is None else (ctx, command, body)

    async def _run(self, ctx: Context, parsed: Parsed) -> None:
        """Answer one accepted command; its record is closed once it is answered. Cancelled
        (the bot stops), it stays open and is answered at the next start."""
        if isinstance(parsed, router.UsageError):
            await self._usage(ctx, str(parsed))
        else:
            await self._run_command(ctx, parsed)
        await self.commands.finish(ctx)

    def _command(self, room_id: str, ev: dict[str, Any]) -> tuple[Context, str] | None:
        """The event as a command context and its text, or None if it is not one for us."""
        content = ev.get("content")
        event_id = ev.get("event_id")
        if ev.get("type") != "m.room.message" or not isinstance(content, dict):
            return None
        if not isinstance(event_id, str) or ev.get("sender") == self.user_id:
            return None
        if content.get("msgtype") != "m.text" or not isinstance(content.get("body"), str):
            return None  # m.notice is never answered (spec), nor files, emotes, ...
        rel = content.get("m.relates_to") or {}
        if not isinstance(rel, dict) or rel.get("rel_type") == "m.replace":
            return None  # an edit of a command is not a second command
        ts = ev.get("origin_server_ts")
        if not isinstance(ts, int) or ts < self._started_ms:
            return None  # _started_ms is set on the very first start only
        body = router.strip_reply_fallback(content["body"])
        if not router.addressed(body, self.prefix):
            return None  # each event runs once: tracking.CommandLog.accept records it
        in_reply = (rel.get("m.in_reply_to") or {}).get("event_id")
        thread_root = rel.get("event_id") if rel.get("rel_type") == "m.thread" else None
        if thread_root is not None and rel.get("is_falling_back"):
            in_reply = None  # a thread's fallback reply is not a real reply
        ctx = Context(
            room_id=room_id,
            sender=str(ev["sender"]),
            event_id=event_id,
            thread_root=thread_root if isinstance(thread_root, str) else None,
            reply_to=in_reply if isinstance(in_reply, str) else None,
        )
        return ctx, body

    async def _run_command(self, ctx: Context, command: router.Command) -> None:
        async with self._slots:
            log.info("Matrix: %s in %s: %s", ctx.sender, ctx.room_id, command.name)
            await self.handlers.handle(ctx, command)

    async def _usage(self, ctx: Context, text: str) -> None:
        with contextlib.suppress(RoomFailed):
            await self.outbox.notice(ctx.target, text)

    # --- membership ----------------------------------------------------------------------

    def _on_invite(self, room_id: str, invite_state: list[Any]) -> None:
        """`invite_state` holds nio's stripped events (their .source lacks the content)."""
        inviter = next(
            (
                ev.sender
                for ev in invite_state
                if isinstance(ev, InviteMemberEvent)
                and ev.state_key == self.user_id
                and ev.membership == "invite"
            ),
            None,
        )
        if not isinstance(inviter, str) or room_id in self._rooms_in_hand:
            return
        if not self.settings.matrix.may_invite(inviter):
            log.info("Matrix: rejecting invite to %s from %s (not allowed)", room_id, inviter)
            self._spawn(self._reject(room_id), room_id)
            return
        encrypted = any(_is_encryption(ev.source) for ev in invite_state)
        if not encrypted:
            self._joining.add(room_id)  # now, not when the task starts: a reconcile may run first
        self._spawn(self._join(room_id, inviter, encrypted), room_id)

    async def _join(self, room_id: str, inviter: str, encrypted: bool) -> None:
        self._rooms_in_hand.add(room_id)
        try:
            resp = await self.policy.call(lambda: self.client.join(room_id))
            if not isinstance(resp, JoinResponse):
                log.warning("Matrix: could not join %s: %s", room_id, resp)
                return
            log.info("Matrix: joined %s (invited by %s)", room_id, inviter)
            if not encrypted:
                state = await self.policy.call(
                    lambda: self.client.room_get_state_event(room_id, "m.room.encryption")
                )
                encrypted = isinstance(state, RoomGetStateEventResponse) and bool(state.content)
            if encrypted:
                self._joining.discard(room_id)
                await self._refuse_encrypted(room_id, in_hand=True)
                return
            await self.services.scopes.mark_back(f"matrix:{room_id}")
            self._joining.discard(room_id)
            await self.outbox.notice(
                Target(room_id),
                f"Hello! I summarise long threads. Type “{self.prefix} help” to see how.",
            )
        finally:
            self._rooms_in_hand.discard(room_id)
            self._joining.discard(room_id)
            if room_id in self._refuse_after_join:
                self._refuse_after_join.discard(room_id)
                self._spawn(self._refuse_encrypted(room_id), room_id)

    async def _reject(self, room_id: str) -> None:
        await self.policy.call(lambda: self.client.room_leave(room_id))

    async def _refuse_encrypted(self, room_id: str, *, in_hand: bool = False) -> None:
        if room_id in self._refused:
            return
        if room_id in self._rooms_in_hand and not in_hand:
            # encryption turned on while the join (and its hello) is under way: the join
            # hands the room over when it is done, never leaving it unrefused
            self._refuse_after_join.add(room_id)
            return
        self._refused.add(room_id)
        self._rooms_in_hand.add(room_id)
        try:
            with contextlib.suppress(RoomFailed):
                await self.outbox.notice(Target(room_id), ENCRYPTED_REFUSAL)
            await self.policy.call(lambda: self.client.room_leave(room_id))
            log.info("Matrix: left encrypted room %s", room_id)
            # its own leave is never seen as a removal: anything stored of the room (it was
            # readable once) is purged after the grace period like a kicked room's
            await self.services.scopes.mark_left(f"matrix:{room_id}")
        finally:
            self._rooms_in_hand.discard(room_id)

    async def _on_leave(self, room_id: str, timeline: list[dict[str, Any]]) -> None:
        for ev in reversed(timeline):
            if ev.get("type") != "m.room.member" or ev.get("state_key") != self.user_id:
                continue
            membership = (ev.get("content") or {}).get("membership")
            if membership in ("leave", "ban") and ev.get("sender") != self.user_id:
                log.info(
                    "Matrix: removed from %s by %s (%s)", room_id, ev.get("sender"), membership
                )
                await self.services.scopes.mark_left(f"matrix:{room_id}")
                self._spawn(self._forget(room_id), room_id)
            return

    async def _forget(self, room_id: str) -> None:
        await self.policy.call(lambda: self.client.room_forget(room_id))

    # --- tasks ---------------------------------------------------------------------------

    def _spawn(self, job: Coroutine[Any, Any, None], room_id: str) -> None:
        """Run one room's job beside the sync loop; a failure is logged, never fatal."""
        task = asyncio.create_task(job)
        self._tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("Matrix job in %s failed", room_id, exc_info=t.exception())

        task.add_done_callback(done)


def _is_encryption(ev: dict[str, Any]) -> bool:
    return ev.get("type") == "m.room.encryption" and ev.get("state_key") == ""


def _after_own_join(events: list[Any], user_id: str) -> list[dict[str, Any]]:
    """Timeline events after the bot's own join, if the join is in this batch."""
    sources = [e.source for e in events]
    start = 0
    for i, ev in enumerate(sources):
        content = ev.get("content") or {}
        prev = (ev.get("unsigned") or {}).get("prev_content") or {}
        if (
            ev.get("type") == "m.room.member"
            and ev.get("state_key") == user_id
            and content.get("membership") == "join"
            and prev.get("membership") != "join"
        ):
            start = i + 1
    return sources[start:]
