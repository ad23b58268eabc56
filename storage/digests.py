"""Scheduled digests and "since I last read" marks, as the database keeps them.

A schedule belongs to one scope and one target (channel or room), names one or more of the
scope's threads with a mark each (the last post a sent digest covered), and has a cadence
in an IANA zone plus the next instant it is due (`next_run_at`).

Delivery is at-least-once with a claim, so two processes never send the same slot:

1. `claim` is one atomic ``UPDATE … WHERE next_run_at <= now AND claimed_until <= now
   RETURNING``: exactly one caller gets a lease (`claimed_until`, `claim_token`);
2. `begin_delivery` commits a 'sending' row for (schedule, slot) *before* publishing, so a
   crash after publishing is visible to the next attempt of the same slot;
3. `complete` stores the new marks, the next run time, the released claim and the record of
   the post in ONE transaction, and only while the claim is still ours.

A crash between publishing and `complete` leaves the marks where they were; once the lease
expires the slot is claimed again and `Delivery.attempt` > 1 says it may already be out.

Every call that names a schedule takes its scope, as for threads. Times that are compared
in SQL (next_run_at, claimed_until, slot) are stored as fixed-width UTC text, so text order
is time order.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from bot.core.models import validate_scope
from bot.core.schedule import Cadence, next_run

from .dbapi import Connection, Database
from .repositories import (
    Clock,
    _check_name,
    _required_time,
    _thread_id,
    from_db_time,
    to_db_time,
    utcnow,
)

RunStatus = Literal["sending", "sent", "empty", "failed", "target_gone"]
DEFAULT_LEASE = timedelta(minutes=10)
KEEP_RUNS = 200
"""Delivery records kept per schedule (older ones are pruned when a run completes)."""


class ClaimLost(Exception):
    """The lease on a schedule expired and another worker took it: stop, write nothing."""


def db_instant(value: datetime) -> str:
    """Fixed-width UTC text (always with microseconds) so that SQL text order is time order."""
    if value.tzinfo is None:
        raise ValueError("an aware datetime is needed")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


# --- shapes ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScheduledThread:
    """One thread of a schedule; `mark` is the last post number a sent digest covered."""

    thread_id: int
    name: str
    title: str
    source_url: str | None
    mark: int
    position: int


@dataclass(frozen=True, slots=True)
class Schedule:
    id: int
    scope: str
    target: str
    cadence: Cadence
    threads: tuple[ScheduledThread, ...]
    quiet_line: bool
    """Post a one-line "nothing new" message when no thread has news (default: post nothing)."""
    enabled: bool
    next_run_at: datetime | None
    last_run_at: datetime | None
    claimed_until: datetime | None
    failures: int
    last_error: str | None
    created_by: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Claim:
    """A lease on one due slot of a schedule; pass it back to record the outcome."""

    schedule: Schedule
    token: str
    slot: datetime
    """The next_run_at that was due: with the schedule id, the run's idempotency key."""
    until: datetime

    @property
    def key(self) -> str:
        return f"digest-{self.schedule.id}-{db_instant(self.slot)}"


@dataclass(frozen=True, slots=True)
class Delivery:
    run_id: int
    attempt: int
    """1 for the first try of this slot; more means an earlier try may have been published."""
    first_started: datetime | None = None
    """When the first try of this slot began to publish."""


@dataclass(frozen=True, slots=True)
class DigestRun:
    id: int
    schedule_id: int
    slot: datetime
    status: RunStatus
    attempts: int
    message_id: str | None
    new_posts: int
    covered: dict[str, tuple[int, int]]
    """thread name → (first, last) post number covered by this digest."""
    error: str | None
    started_at: datetime
    finished_at: datetime | None


# --- rows -----------------------------------------------------------------------------------

_SCHEDULE_COLUMNS = (
    "d.id, d.scope, d.target, d.cadence, d.time_of_day, d.weekday, d.every_hours, d.cron,"
    " d.timezone, d.quiet_line, d.enabled, d.next_run_at, d.last_run_at, d.claimed_until,"
    " d.failures, d.last_error, d.created_by, d.created_at"
)


def _cadence(row: Any) -> Cadence:
    return Cadence(
        kind=row["cadence"],
        timezone=row["timezone"],
        time_of_day=row["time_of_day"],
        weekday=row["weekday"],
        every_hours=row["every_hours"],
        cron=row["cron"],
    )


async def _load(conn: Connection, where: str, params: Sequence[Any]) -> list[Schedule]:
    """Schedules matching `where` (over alias d, parameters $1…) with their threads,
    oldest first."""
    rows = await conn.fetch(
        f"SELECT {_SCHEDULE_COLUMNS} FROM digest_schedules d WHERE {where} ORDER BY d.id",
        *params,
    )
    if not rows:
        return []
    links = await conn.fetch(
        "SELECT l.schedule_id, l.thread_id, t.name, t.title, t.source_url, l.mark, l.position"
        " FROM digest_schedule_threads l JOIN digest_schedules d ON d.id = l.schedule_id"
        " JOIN threads t ON t.id = l.thread_id AND t.scope = d.scope"
        f" WHERE {where} ORDER BY l.schedule_id, l.position, l.thread_id",
        *params,
    )
    threads: dict[int, list[ScheduledThread]] = {}
    for r in links:
        threads.setdefault(r[0], []).append(ScheduledThread(*tuple(r)[1:]))
    return [
        Schedule(
            id=r["id"],
            scope=r["scope"],
            target=r["target"],
            cadence=_cadence(r),
            threads=tuple(threads.get(r["id"], ())),
            quiet_line=bool(r["quiet_line"]),
            enabled=bool(r["enabled"]),
            next_run_at=from_db_time(r["next_run_at"]),
            last_run_at=from_db_time(r["last_run_at"]),
            claimed_until=from_db_time(r["claimed_until"]),
            failures=r["failures"],
            last_error=r["last_error"],
            created_by=r["created_by"],
            created_at=_required_time(r["created_at"]),
        )
        for r in rows
    ]


def _platform_filter(platforms: Sequence[str] | None, first: int) -> tuple[str, list[str]]:
    """SQL over d.scope for the platforms a worker can publish to ("local", "discord", ...),
    its parameters numbered from `first`."""
    if platforms is None:
        return "TRUE", []
    if not platforms:
        return "FALSE", []
    parts, params = [], []
    for p in platforms:
        if p == "local":
            parts.append("d.scope = 'local'")
        else:
            n = first + len(params)
            parts.append(f"substr(d.scope, 1, length(${n})) = ${n}")
            params.append(p + ":")
    return "(" + " OR ".join(parts) + ")", params


_DUE = (
    "d.enabled = 1 AND d.next_run_at IS NOT NULL AND d.next_run_at <= $1"
    " AND (d.claimed_until IS NULL OR d.claimed_until <= $1)"
)
"""Schedule d is due and unclaimed at $1 (fixed-width UTC text: text order is time order)."""
_DUE_HERE = (
    "enabled = 1 AND next_run_at IS NOT NULL AND next_run_at <= $1"
    " AND (claimed_until IS NULL OR claimed_until <= $1)"
)
"""The same test on the row an UPDATE changes."""


def _run_from_row(r: Any) -> DigestRun:
    covered = {k: (int(v[0]), int(v[1])) for k, v in json.loads(r["covered"]).items()}
    return DigestRun(
        id=r["id"],
        schedule_id=r["schedule_id"],
        slot=_required_time(r["slot"]),
        status=r["status"],
        attempts=r["attempts"],
        message_id=r["message_id"],
        new_posts=r["new_posts"],
        covered=covered,
        error=r["error"],
        started_at=_required_time(r["started_at"]),
        finished_at=from_db_time(r["finished_at"]),
    )


def _covered_json(covered: Mapping[str, tuple[int, int]]) -> str:
    return json.dumps({k: list(v) for k, v in covered.items()}, sort_keys=True)


# --- schedules ------------------------------------------------------------------------------


class DigestRepository:
    """Schedules with several threads, their claims and deliveries; always within a scope."""

    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    # --- managing ---------------------------------------------------------------------------

    async def add(
        self,
        scope: str,
        names: Sequence[str],
        target: str,
        cadence: Cadence,
        *,
        quiet_line: bool = False,
        created_by: str | None = None,
        start_from_latest: bool = True,
    ) -> Schedule:
        """Schedule a digest of the scope's threads `names` (NotFound names the missing one).

        With `start_from_latest` the first digest covers only posts that arrive after now;
        otherwise it covers each whole thread. The first run is the next slot after now.
        """
        validate_scope(scope)
        unique = list(dict.fromkeys(_check_name(n) for n in names))
        if not unique:
            raise ValueError("a digest needs at least one thread")
        if not target or not target.strip():
            raise ValueError("a digest needs a target channel or room")
        now = self._clock()
        first = next_run(now, cadence)
        async with self._db.transaction() as conn:
            ids = [await _thread_id(conn, scope, n) for n in unique]
            schedule_id = await conn.fetchval(
                "INSERT INTO digest_schedules (scope, target, cadence, time_of_day, weekday,"
                " every_hours, cron, timezone, quiet_line, next_run_at, created_by, created_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
                *(
                    scope,
                    target,
                    cadence.kind,
                    cadence.time_of_day,
                    cadence.weekday,
                    cadence.every_hours,
                    cadence.cron,
                    cadence.timezone,
                    int(quiet_line),
                    db_instant(first),
                    created_by,
                    to_db_time(now),
                ),
            )
            for position, thread_id in enumerate(ids):
                await conn.execute(
                    "INSERT INTO digest_schedule_threads (schedule_id, thread_id, position, mark)"
                    " VALUES ($1, $2, $3, CASE WHEN $4 THEN (SELECT coalesce(max(number), 0)"
                    " FROM posts WHERE thread_id = $2) ELSE 0 END)",
                    schedule_id,
                    thread_id,
                    position,
                    bool(start_from_latest),
                )
            (schedule,) = await _load(conn, "d.id = $1", (schedule_id,))
        return schedule

    async def get(self, scope: str, schedule_id: int) -> Schedule | None:
        validate_scope(scope)
        async with self._db.snapshot() as conn:
            found = await _load(conn, "d.scope = $1 AND d.id = $2", (scope, schedule_id))
        return found[0] if found else None

    async def list(self, scope: str) -> list[Schedule]:
        """The scope's schedules, oldest first."""
        validate_scope(scope)
        async with self._db.snapshot() as conn:
            return await _load(conn, "d.scope = $1", (scope,))

    async def remove(self, scope: str, schedule_id: int) -> bool:
        validate_scope(scope)
        async with self._db.transaction() as conn:
            changed = await conn.execute(
                "DELETE FROM digest_schedules WHERE scope = $1 AND id = $2", scope, schedule_id
            )
        return changed > 0

    async def set_enabled(self, scope: str, schedule_id: int, enabled: bool) -> bool:
        """Pause or resume; resuming clears the last error and plans the next slot from now."""
        validate_scope(scope)
        async with self._db.transaction() as conn:
            found = await _load(conn, "d.scope = $1 AND d.id = $2", (scope, schedule_id))
            if not found:
                return False
            nxt = db_instant(next_run(self._clock(), found[0].cadence)) if enabled else None
            await conn.execute(
                "UPDATE digest_schedules SET enabled = $1, next_run_at = coalesce($2, next_run_at),"
                " failures = CASE WHEN $3 THEN 0 ELSE failures END,"
                " last_error = CASE WHEN $3 THEN NULL ELSE last_error END,"
                " claimed_until = NULL, claim_token = NULL WHERE id = $4",
                int(enabled),
                nxt,
                bool(enabled),
                schedule_id,
            )
        return True

    async def set_mark(self, scope: str, schedule_id: int, name: str | None, mark: int) -> bool:
        """Set one thread's mark (None: the schedule's first thread), e.g. for the old API."""
        validate_scope(scope)
        async with self._db.transaction() as conn:
            if name is None:
                which = (
                    "(SELECT thread_id FROM digest_schedule_threads WHERE"
                    " schedule_id = $3 ORDER BY position, thread_id LIMIT 1)"
                )
            else:
                which = "(SELECT id FROM threads WHERE scope = $2 AND name = $4)"
            changed = await conn.execute(
                f"UPDATE digest_schedule_threads SET mark = $1 WHERE thread_id = {which}"
                " AND schedule_id = (SELECT id FROM digest_schedules WHERE scope = $2 AND id = $3)",
                mark,
                scope,
                schedule_id,
                *(() if name is None else (name,)),
            )
        return changed > 0

    async def set_last_run(self, scope: str, schedule_id: int, run_at: datetime) -> bool:
        validate_scope(scope)
        async with self._db.transaction() as conn:
            changed = await conn.execute(
                "UPDATE digest_schedules SET last_run_at = $1 WHERE scope = $2 AND id = $3",
                to_db_time(run_at),
                scope,
                schedule_id,
            )
        return changed > 0

    async def runs(self, scope: str, schedule_id: int, limit: int = 20) -> list[DigestRun]:
        """The latest delivery records of a schedule, newest first."""
        validate_scope(scope)
        rows = await self._db.fetch(
            "SELECT r.* FROM digest_runs r JOIN digest_schedules d ON d.id = r.schedule_id"
            " WHERE d.scope = $1 AND d.id = $2 ORDER BY r.slot DESC, r.id DESC LIMIT $3",
            scope,
            schedule_id,
            limit,
        )
        return [_run_from_row(r) for r in rows]

    # --- the scheduler's side ---------------------------------------------------------------

    async def plan_missing(self, now: datetime) -> int:
        """Give enabled schedules without a next run (rows from before schema 3) one from now."""
        async with self._db.transaction() as conn:
            found = await _load(conn, "d.enabled = 1 AND d.next_run_at IS NULL", ())
            for s in found:
                await conn.execute(
                    "UPDATE digest_schedules SET next_run_at = $1 WHERE id = $2"
                    " AND next_run_at IS NULL",
                    db_instant(next_run(now, s.cadence)),
                    s.id,
                )
        return len(found)

    async def due(
        self, now: datetime, platforms: Sequence[str] | None = None, limit: int = 100
    ) -> list[Schedule]:
        """Enabled, unclaimed schedules whose next run is at or before `now`, earliest first.

        Across every scope: this is the scheduler's query, not a user's. `platforms` limits
        it to scopes this worker can publish to ("local", "discord", "matrix").
        """
        where, params = _platform_filter(platforms, 3)
        stamp = db_instant(now)
        async with self._db.snapshot() as conn:
            ids = await conn.fetch(
                f"SELECT d.id FROM digest_schedules d WHERE {_DUE} AND {where}"
                " ORDER BY d.next_run_at, d.id LIMIT $2",
                stamp,
                limit,
                *params,
            )
            wanted = [int(r[0]) for r in ids]
            if not wanted:
                return []
            marks = ", ".join(f"${i}" for i in range(1, len(wanted) + 1))
            return await _load(conn, f"d.id IN ({marks})", wanted)

    async def next_due_at(self, platforms: Sequence[str] | None = None) -> datetime | None:
        """When the earliest enabled schedule may next be claimed (to sleep until then)."""
        where, params = _platform_filter(platforms, 1)
        value = await self._db.fetchval(
            "SELECT min(CASE WHEN d.claimed_until > d.next_run_at THEN d.claimed_until"
            " ELSE d.next_run_at END) FROM digest_schedules d"
            f" WHERE d.enabled = 1 AND d.next_run_at IS NOT NULL AND {where}",
            *params,
        )
        return from_db_time(value)

    async def claim(
        self, schedule_id: int, now: datetime, lease: timedelta = DEFAULT_LEASE
    ) -> Claim | None:
        """Take the schedule's due slot for `lease`, or None when it is not due or taken."""
        token = secrets.token_hex(8)
        until = now + lease
        stamp = db_instant(now)
        async with self._db.transaction() as conn:
            # One conditional UPDATE: on PostgreSQL a second claimer waits for the first
            # to commit, then finds the row no longer due (claimed_until is in the future).
            slot = await conn.fetchval(
                "UPDATE digest_schedules SET claimed_until = $2, claim_token = $3"
                f" WHERE id = $4 AND {_DUE_HERE} RETURNING next_run_at",
                stamp,
                db_instant(until),
                token,
                schedule_id,
            )
            if slot is None:
                return None
            (schedule,) = await _load(conn, "d.id = $1", (schedule_id,))
        return Claim(schedule=schedule, token=token, slot=_required_time(slot), until=until)

    async def claim_next(
        self,
        now: datetime,
        platforms: Sequence[str] | None = None,
        lease: timedelta = DEFAULT_LEASE,
    ) -> Claim | None:
        """Claim the earliest due schedule of `platforms`, or None when none is left.

        Several processes calling this at once each get a different schedule: on
        PostgreSQL the pick is ``FOR UPDATE SKIP LOCKED``, so they never queue behind
        each other's claims; on SQLite the one writer at a time does the same.
        """
        token = secrets.token_hex(8)
        until = now + lease
        where, params = _platform_filter(platforms, 4)
        async with self._db.transaction() as conn:
            row = await conn.fetchrow(
                "UPDATE digest_schedules SET claimed_until = $2, claim_token = $3"
                f" WHERE id = (SELECT d.id FROM digest_schedules d WHERE {_DUE} AND {where}"
                f" ORDER BY d.next_run_at, d.id LIMIT 1{conn.skip_locked})"
                f" AND {_DUE_HERE} RETURNING id, next_run_at",
                db_instant(now),
                db_instant(until),
                token,
                *params,
            )
            if row is None:
                return None
            (schedule,) = await _load(conn, "d.id = $1", (int(row[0]),))
        return Claim(schedule=schedule, token=token, slot=_required_time(row[1]), until=until)

    async def begin_delivery(
        self, claim: Claim, new_posts: int, covered: Mapping[str, tuple[int, int]]
    ) -> Delivery:
        """Commit "about to publish" for the claim's slot. ClaimLost if the lease is gone."""
        now = self._clock()
        async with self._db.transaction() as conn:
            await _require_claim(conn, claim)
            row = await conn.fetchrow(
                "INSERT INTO digest_runs (schedule_id, slot, status, new_posts, covered,"
                " started_at) VALUES ($1, $2, 'sending', $3, $4, $5)"
                " ON CONFLICT (schedule_id, slot) DO UPDATE SET"
                " attempts = digest_runs.attempts + 1, status = 'sending',"
                " new_posts = excluded.new_posts, covered = excluded.covered,"
                " error = NULL RETURNING id, attempts, started_at",
                claim.schedule.id,
                db_instant(claim.slot),
                new_posts,
                _covered_json(covered),
                to_db_time(now),
            )
            assert row is not None
        return Delivery(run_id=int(row[0]), attempt=int(row[1]), first_started=from_db_time(row[2]))

    async def complete(
        self,
        claim: Claim,
        *,
        marks: Mapping[int, int],
        next_run_at: datetime,
        status: Literal["sent", "empty"],
        message_id: str | None = None,
        new_posts: int = 0,
        covered: Mapping[str, tuple[int, int]] | None = None,
    ) -> bool:
        """Marks, next run, released claim and the delivery record: one transaction.

        `marks` maps thread id → last post covered (a mark never moves back). False, with
        nothing written, when the claim was lost meanwhile.
        """
        now = self._clock()
        async with self._db.transaction() as conn:
            try:
                await _require_claim(conn, claim)
            except ClaimLost:
                return False
            for thread_id, mark in marks.items():
                await conn.execute(
                    "UPDATE digest_schedule_threads SET mark = CASE WHEN mark > $1 THEN mark"
                    " ELSE $1 END WHERE schedule_id = $2 AND thread_id = $3",
                    mark,
                    claim.schedule.id,
                    thread_id,
                )
            await conn.execute(
                "UPDATE digest_schedules SET next_run_at = $1, last_run_at = $2,"
                " claimed_until = NULL, claim_token = NULL, failures = 0, last_error = NULL"
                " WHERE id = $3",
                db_instant(next_run_at),
                to_db_time(now),
                claim.schedule.id,
            )
            await conn.execute(
                "INSERT INTO digest_runs (schedule_id, slot, status, message_id, new_posts,"
                " covered, started_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"
                " ON CONFLICT (schedule_id, slot) DO UPDATE SET status = excluded.status,"
                " message_id = excluded.message_id, new_posts = excluded.new_posts,"
                " covered = excluded.covered, finished_at = excluded.finished_at, error = NULL",
                claim.schedule.id,
                db_instant(claim.slot),
                status,
                message_id,
                new_posts,
                _covered_json(covered or {}),
                to_db_time(now),
            )
            await conn.execute(
                "DELETE FROM digest_runs WHERE schedule_id = $1 AND id NOT IN (SELECT id FROM"
                " digest_runs WHERE schedule_id = $1 ORDER BY slot DESC, id DESC LIMIT $2)",
                claim.schedule.id,
                KEEP_RUNS,
            )
        return True

    async def fail(self, claim: Claim, error: str, retry_at: datetime) -> bool:
        """A failed try: keep the marks, remember the error, retry the slot at `retry_at`."""
        now = self._clock()
        async with self._db.transaction() as conn:
            try:
                await _require_claim(conn, claim)
            except ClaimLost:
                return False
            await conn.execute(
                "UPDATE digest_schedules SET claimed_until = $1, claim_token = NULL,"
                " failures = failures + 1, last_error = $2 WHERE id = $3",
                db_instant(retry_at),
                error[:500],
                claim.schedule.id,
            )
            await _finish_run(conn, claim, "failed", error, now)
        return True

    async def disable(self, claim: Claim, reason: str) -> bool:
        """The target is gone (403/404): stop the schedule until an admin resumes it."""
        now = self._clock()
        async with self._db.transaction() as conn:
            try:
                await _require_claim(conn, claim)
            except ClaimLost:
                return False
            await conn.execute(
                "UPDATE digest_schedules SET enabled = 0, claimed_until = NULL,"
                " claim_token = NULL, last_error = $1 WHERE id = $2",
                reason[:500],
                claim.schedule.id,
            )
            await _finish_run(conn, claim, "target_gone", reason, now)
        return True

    async def release(self, claim: Claim) -> bool:
        """Give the slot back untouched (shutting down mid-run): due again at once."""
        async with self._db.transaction() as conn:
            changed = await conn.execute(
                "UPDATE digest_schedules SET claimed_until = NULL, claim_token = NULL"
                " WHERE id = $1 AND claim_token = $2",
                claim.schedule.id,
                claim.token,
            )
        return changed > 0


async def _require_claim(conn: Connection, claim: Claim) -> None:
    """The claim is still ours, and (PostgreSQL) stays ours until this transaction ends:
    the row is locked, so a new claimer waits and then finds it no longer due."""
    held = await conn.fetchval(
        f"SELECT 1 FROM digest_schedules WHERE id = $1 AND claim_token = $2{conn.for_update}",
        claim.schedule.id,
        claim.token,
    )
    if held is None:
        raise ClaimLost(f"the claim on digest #{claim.schedule.id} was lost")


async def _finish_run(
    conn: Connection, claim: Claim, status: RunStatus, error: str, now: datetime
) -> None:
    stamp = to_db_time(now)
    await conn.execute(
        "INSERT INTO digest_runs (schedule_id, slot, status, error, started_at, finished_at)"
        " VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (schedule_id, slot) DO UPDATE SET"
        " status = excluded.status, error = excluded.error, finished_at = excluded.finished_at",
        claim.schedule.id,
        db_instant(claim.slot),
        status,
        error[:500],
        stamp,
    )


# --- "since I last read" ----------------------------------------------------------------------


class ReadMarkRepository:
    """Per person and thread, the last post shown to them (for `/summary since:last`)."""

    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    async def get(self, scope: str, user_id: str, name: str) -> int | None:
        """The last post shown to `user_id`, or None if they never read this thread here."""
        validate_scope(scope)
        _check_name(name)
        value = await self._db.fetchval(
            "SELECT m.last_post FROM read_marks m JOIN threads t ON t.id = m.thread_id"
            " WHERE t.scope = $1 AND t.name = $2 AND m.user_id = $3 AND m.scope = t.scope",
            scope,
            name,
            user_id,
        )
        return None if value is None else int(value)

    async def advance(self, scope: str, user_id: str, name: str, last_post: int) -> int:
        """Remember that posts up to `last_post` were shown; a mark never moves back.

        Returns the stored mark. NotFound if the scope has no such thread.
        """
        validate_scope(scope)
        _check_name(name)
        if not user_id:
            raise ValueError("a read mark needs a user id")
        async with self._db.transaction() as conn:
            thread_id = await _thread_id(conn, scope, name)
            stored = await conn.fetchval(
                "INSERT INTO read_marks (thread_id, user_id, scope, last_post, updated_at)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (thread_id, user_id) DO UPDATE SET"
                " last_post = CASE WHEN excluded.last_post > read_marks.last_post"
                " THEN excluded.last_post ELSE read_marks.last_post END,"
                " updated_at = excluded.updated_at RETURNING last_post",
                thread_id,
                user_id,
                scope,
                max(0, last_post),
                to_db_time(self._clock()),
            )
        return int(stored)

    async def forget_user(self, scope: str, user_id: str) -> int:
        """Drop a person's read marks in a scope (opt-out); returns how many were removed."""
        validate_scope(scope)
        async with self._db.transaction() as conn:
            return await conn.execute(
                "DELETE FROM read_marks WHERE scope = $1 AND user_id = $2", scope, user_id
            )
