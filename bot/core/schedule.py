"""When a scheduled digest fires: cadences as local wall-clock times in an IANA zone.

Every cadence (daily at HH:MM, weekly on a day at HH:MM, every N hours from HH:MM, or a
five-field cron expression) is turned into one cron expression over *local wall-clock*
time. cronsim (Debian-cron compatible parser) enumerates the matching local times on naive
datetimes; each is then pinned to an instant by `resolve_local`:

* a local time that does not exist (the hour skipped when clocks go forward) moves forward
  by the length of the gap, as RFC 5545 does: 02:30 on the spring-forward day in Berlin
  becomes 03:30 CEST, so a daily 02:30 digest still fires once that day;
* a local time that exists twice (the hour repeated when clocks go back) fires once, at
  its first occurrence.

Several local times landing on one instant fire once. An "every N hours" cadence is a
grid of local times (N must divide 24), so across a clock change one interval is an hour
shorter or longer and the digest stays at the times people chose.

Missed slots collapse: after downtime the scheduler fires once and then asks for
`next_run(now)`, the first slot after *now*, not after the missed one.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal

from cronsim import CronSim, CronSimError

from bot.errors import UserError

CadenceKind = Literal["daily", "weekly", "hours", "cron"]
KINDS: tuple[CadenceKind, ...] = ("daily", "weekly", "hours", "cron")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
HOUR_STEPS = (1, 2, 3, 4, 6, 8, 12, 24)
"""Allowed N for "every N hours": the divisors of 24, so the grid is the same every day."""

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_EVERY_HOURS = re.compile(r"^(\d{1,2})\s*h(?:ours?)?$")
_MINUTE = re.compile(r"^[0-5]?\d$")
# A local time and its resolved instant differ from "after" by at most this much (DST and
# other offset changes are far smaller; Debian cron assumes under 3 hours too).
_SLACK = timedelta(hours=3)


@dataclass(frozen=True, slots=True)
class Cadence:
    """How often a digest fires, in which zone. Build with `parse_cadence` or directly.

    `weekday` is 0=Monday .. 6=Sunday (datetime.weekday()); `time_of_day` is "HH:MM" and
    unused for cron; `every_hours` only for kind "hours"; `cron` only for kind "cron".
    """

    kind: CadenceKind
    timezone: str
    time_of_day: str | None = None
    weekday: int | None = None
    every_hours: int | None = None
    cron: str | None = None

    def __post_init__(self) -> None:
        check_cadence(self)

    @property
    def zone(self) -> tzinfo:
        return load_zone(self.timezone)

    @property
    def expression(self) -> str:
        """The five-field cron expression (local wall-clock time) this cadence means."""
        if self.kind == "cron":
            assert self.cron is not None
            return self.cron
        assert self.time_of_day is not None
        hour, minute = (int(x) for x in self.time_of_day.split(":"))
        if self.kind == "daily":
            return f"{minute} {hour} * * *"
        if self.kind == "weekly":
            assert self.weekday is not None
            return f"{minute} {hour} * * {(self.weekday + 1) % 7}"  # cron: 0 = Sunday
        assert self.every_hours is not None
        hours = sorted({(hour + k * self.every_hours) % 24 for k in range(24)})
        return f"{minute} {','.join(map(str, hours))} * * *"

    def describe(self) -> str:
        """Short English for lists: "daily at 09:00 (Europe/Berlin)"."""
        zone = f"({self.timezone})"
        if self.kind == "daily":
            return f"daily at {self.time_of_day} {zone}"
        if self.kind == "weekly":
            assert self.weekday is not None
            return f"every {WEEKDAYS[self.weekday].title()} at {self.time_of_day} {zone}"
        if self.kind == "hours":
            return f"every {self.every_hours} h from {self.time_of_day} {zone}"
        return f"cron “{self.cron}” {zone}"


def load_zone(name: str) -> tzinfo:
    """An IANA zone; UserError naming the zone when it is unknown."""
    if name == "UTC":
        return UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise UserError(
            f"unknown time zone {name!r}: use an IANA name like Europe/Berlin or UTC"
        ) from None


def check_cadence(c: Cadence) -> None:
    """UserError when the fields do not make one valid cadence."""
    if c.kind not in KINDS:
        raise UserError(f"cadence must be one of {', '.join(KINDS)}, not {c.kind!r}")
    load_zone(c.timezone)
    if c.kind == "cron":
        if c.cron is None or c.time_of_day is not None or c.weekday is not None:
            raise UserError("a cron cadence has only its expression (no --at, no --on)")
        check_cron(c.cron)
        return
    if c.cron is not None:
        raise UserError("only a cron cadence has a cron expression")
    if c.time_of_day is None or not _HHMM.match(c.time_of_day):
        raise UserError(f"time must be a 24-hour HH:MM like 09:00, not {c.time_of_day!r}")
    if c.kind == "weekly":
        if c.weekday is None or not 0 <= c.weekday <= 6:
            raise UserError("a weekly digest needs a day (monday .. sunday)")
    elif c.weekday is not None:
        raise UserError("only a weekly digest has a day")
    if c.kind == "hours":
        if c.every_hours not in HOUR_STEPS:
            steps = ", ".join(map(str, HOUR_STEPS))
            raise UserError(
                f"every N hours needs N in {steps} (so every day has the same times), "
                f"not {c.every_hours!r}; use a cron expression for anything else"
            )
    elif c.every_hours is not None:
        raise UserError("only an 'every N hours' digest has a number of hours")


def check_cron(expression: str) -> str:
    """A five-field cron expression firing at most hourly (the minute is one number)."""
    fields = expression.split()
    if len(fields) != 5:
        raise UserError(
            f"a cron expression has 5 fields (minute hour day month weekday), not "
            f"{len(fields)}: {expression!r}"
        )
    if not _MINUTE.match(fields[0]):
        raise UserError(
            f"the cron minute must be a single number (digests are at most hourly): {expression!r}"
        )
    try:
        CronSim(expression, datetime(2000, 1, 1))
    except CronSimError as exc:
        raise UserError(f"bad cron expression {expression!r}: {exc}") from None
    return expression


def parse_weekday(text: str) -> int:
    """ "mon", "Monday", "1" (ISO, Monday=1) or "7"/"0" (Sunday) → 0..6 (Monday=0)."""
    word = text.strip().lower()
    if word.isdigit():
        number = int(word)
        if 0 <= number <= 7:
            return (number - 1) % 7
    for index, name in enumerate(WEEKDAYS):
        if len(word) >= 2 and name.startswith(word):
            return index
    raise UserError(f"unknown day {text!r}: use monday .. sunday (or mon, tue, ...)")


def parse_cadence(every: str | None, at: str | None, on: str | None, timezone: str) -> Cadence:
    """The CLI and chat form: every = day|week|Nh|CRON (default day), at = HH:MM, on = DAY."""
    word = (every or "day").strip()
    lowered = word.lower()
    if len(word.split()) > 1:
        if at is not None or on is not None:
            raise UserError("a cron expression sets its own time and day: drop --at and --on")
        return Cadence("cron", timezone, cron=" ".join(word.split()))
    if at is None:
        raise UserError("say when: --at HH:MM (24-hour, local to --tz)")
    at = at.strip()
    if lowered in ("day", "daily", "1d"):
        if on is not None:
            raise UserError("--on goes with --every week")
        return Cadence("daily", timezone, time_of_day=at)
    if lowered in ("week", "weekly", "7d"):
        if on is None:
            raise UserError("a weekly digest needs --on DAY (monday .. sunday)")
        return Cadence("weekly", timezone, time_of_day=at, weekday=parse_weekday(on))
    m = _EVERY_HOURS.match(lowered)
    if m:
        if on is not None:
            raise UserError("--on goes with --every week")
        return Cadence("hours", timezone, time_of_day=at, every_hours=int(m.group(1)))
    raise UserError(
        f"--every must be day, week, a number of hours like 6h, or a cron expression "
        f"like '0 9 * * 1-5', not {word!r}"
    )


def resolve_local(naive: datetime, zone: tzinfo) -> datetime:
    """The UTC instant of a local wall-clock time (gap: moved forward; repeat: the first)."""
    # fold=0 takes the offset in force *before* a transition: for a repeated time that is
    # the first occurrence; for a skipped time it lands after the gap by the gap's length.
    return naive.replace(tzinfo=zone, fold=0).astimezone(UTC)


def next_run(after: datetime, cadence: Cadence) -> datetime:
    """The first firing instant strictly after `after`, in UTC."""
    if after.tzinfo is None:
        raise ValueError("next_run needs an aware datetime")
    after = after.astimezone(UTC)
    zone = cadence.zone
    start = (after - _SLACK).astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
    best: datetime | None = None
    stop_after: datetime | None = None
    for local in CronSim(cadence.expression, start):
        if stop_after is not None and local > stop_after:
            break
        instant = resolve_local(local, zone)
        if instant > after and (best is None or instant < best):
            best = instant
            stop_after = local + 2 * _SLACK
    if best is None:  # cronsim stops after 50 years without a match
        raise UserError(f"the schedule {cadence.describe()} never fires")
    return best


def slots_between(start: datetime, end: datetime, cadence: Cadence, limit: int = 1000) -> int:
    """How many firing instants lie in [start, end] (capped at `limit`): missed digests."""
    count = 0
    at = start - timedelta(microseconds=1)
    while count < limit:
        at = next_run(at, cadence)
        if at > end:
            break
        count += 1
    return count
