"""The first, one-thread daily/weekly digest schedule API, kept for existing callers.

It lives apart from both repositories and digests because it wraps the one (the schema-3
DigestRepository) with the other's helpers: neither module needs to import it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.core.models import validate_scope
from bot.core.schedule import Cadence as CadenceSpec
from bot.errors import UserError

from .database import Database
from .digests import DigestRepository
from .repositories import Clock, _check_name, utcnow

Cadence = Literal["daily", "weekly"]


@dataclass(frozen=True, slots=True)
class DigestSchedule:
    """A daily/weekly digest of one thread posted to `target` (channel or room id).

    `weekday` is 0=Monday ... 6=Sunday (datetime.weekday()), set only for weekly digests.
    """

    id: int
    scope: str
    thread_name: str
    target: str
    time_of_day: str
    timezone: str
    cadence: Cadence
    weekday: int | None
    last_post_seen: int
    last_run_at: datetime | None
    enabled: bool
    created_by: str | None
    created_at: datetime


_TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class DigestScheduleRepository:
    """The first, one-thread daily/weekly schedule API, kept for existing callers.

    A thin wrapper over storage.digests.DigestRepository (schema 3): a schedule may now
    name several threads, each with its own mark; here `thread_name` and `last_post_seen`
    are those of its first thread. Schedules made with other cadences are listed with
    `cadence` "hours" or "cron" (and `time_of_day` "" for cron). New code should use
    DigestRepository, which also plans the next run and handles claims.
    """

    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock
        self._digests = DigestRepository(db, clock=clock)

    async def add(
        self,
        scope: str,
        name: str,
        target: str,
        time_of_day: str,
        timezone: str,
        cadence: Cadence = "daily",
        weekday: int | None = None,
        created_by: str | None = None,
        *,
        more_threads: Sequence[str] = (),
        quiet_line: bool = False,
        start_from_latest: bool = False,
    ) -> int:
        """Schedule a digest of thread `name`; returns the schedule id. NotFound if no thread.

        The first digest covers the whole thread unless `start_from_latest`; it fires at the
        next `time_of_day` in `timezone` (the scheduler in bot/usecases/scheduler.py sends it).
        """
        validate_scope(scope)
        _check_name(name)
        if not target:
            raise ValueError("a digest needs a target channel or room")
        if not _TIME_OF_DAY.match(time_of_day):
            raise ValueError(f"time of day must be HH:MM (24h), not {time_of_day!r}")
        if not timezone:
            raise ValueError("a digest needs a timezone")
        if cadence == "weekly":
            if weekday is None or not 0 <= weekday <= 6:
                raise ValueError("a weekly digest needs a weekday 0 (Monday) .. 6 (Sunday)")
        elif cadence == "daily":
            if weekday is not None:
                raise ValueError("a daily digest has no weekday")
        else:
            raise ValueError(f"cadence must be 'daily' or 'weekly', not {cadence!r}")
        try:
            spec = CadenceSpec(cadence, timezone, time_of_day=time_of_day, weekday=weekday)
        except UserError as exc:
            raise ValueError(str(exc)) from None
        schedule = await self._digests.add(
            scope,
            [name, *more_threads],
            target,
            spec,
            quiet_line=quiet_line,
            created_by=created_by,
            start_from_latest=start_from_latest,
        )
        return schedule.id

    async def list(self, scope: str) -> list[DigestSchedule]:
        """The scope's schedules, oldest first."""
        return [
            DigestSchedule(
                id=s.id,
                scope=s.scope,
                thread_name=s.threads[0].name,
                target=s.target,
                time_of_day=s.cadence.time_of_day or "",
                timezone=s.cadence.timezone,
                cadence=s.cadence.kind,  # type: ignore[arg-type]
                weekday=s.cadence.weekday,
                last_post_seen=s.threads[0].mark,
                last_run_at=s.last_run_at,
                enabled=s.enabled,
                created_by=s.created_by,
                created_at=s.created_at,
            )
            for s in await self._digests.list(scope)
            if s.threads
        ]

    async def remove(self, scope: str, schedule_id: int) -> bool:
        return await self._digests.remove(scope, schedule_id)

    async def mark_run(
        self, scope: str, schedule_id: int, last_post_seen: int, run_at: datetime
    ) -> bool:
        """Record a run: the digest covered posts up to `last_post_seen` (first thread).

        This does not move the next scheduled run; the scheduler owns that.
        """
        validate_scope(scope)
        async with self._db.transaction():  # both updates or neither (nested savepoints)
            if not await self._digests.set_mark(scope, schedule_id, None, last_post_seen):
                return False
            return await self._digests.set_last_run(scope, schedule_id, run_at)
