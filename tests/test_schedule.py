"""Cadence maths: the right instants across DST changes, gaps, repeats and missed slots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.schedule import (
    Cadence,
    next_run,
    parse_cadence,
    parse_weekday,
    resolve_local,
    slots_between,
)
from bot.errors import UserError

BERLIN = "Europe/Berlin"  # 2025: clocks forward Sun 30 March 02:00, back Sun 26 October 03:00
NEW_YORK = "America/New_York"  # 2025: forward Sun 9 March 02:00, back Sun 2 November 02:00


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def runs(cadence: Cadence, after: datetime, count: int) -> list[datetime]:
    out, at = [], after
    for _ in range(count):
        at = next_run(at, cadence)
        out.append(at)
    return out


# --- daily and weekly across DST -----------------------------------------------------------


def test_daily_0900_berlin_across_spring_forward() -> None:
    daily = Cadence("daily", BERLIN, time_of_day="09:00")
    assert runs(daily, utc(2025, 3, 28, 12), 4) == [
        utc(2025, 3, 29, 8),  # CET, UTC+1
        utc(2025, 3, 30, 7),  # change day: CEST, UTC+2, still 09:00 local
        utc(2025, 3, 31, 7),
        utc(2025, 4, 1, 7),
    ]


def test_daily_0900_new_york_across_fall_back() -> None:
    daily = Cadence("daily", NEW_YORK, time_of_day="09:00")
    assert runs(daily, utc(2025, 11, 1, 0), 3) == [
        utc(2025, 11, 1, 13),  # EDT, UTC-4
        utc(2025, 11, 2, 14),  # change day: EST, UTC-5
        utc(2025, 11, 3, 14),
    ]


def test_nonexistent_local_time_moves_forward_and_fires_once() -> None:
    # 02:30 does not exist on 30 March in Berlin: it becomes 03:30 CEST.
    berlin = Cadence("daily", BERLIN, time_of_day="02:30")
    assert runs(berlin, utc(2025, 3, 28, 12), 3) == [
        utc(2025, 3, 29, 1, 30),
        utc(2025, 3, 30, 1, 30),  # 03:30 CEST
        utc(2025, 3, 31, 0, 30),
    ]
    # 02:30 does not exist on 9 March in New York: 03:30 EDT.
    new_york = Cadence("daily", NEW_YORK, time_of_day="02:30")
    assert next_run(utc(2025, 3, 8, 12), new_york) == utc(2025, 3, 9, 7, 30)
    assert datetime(2025, 3, 9, 7, 30, tzinfo=UTC).astimezone(ZoneInfo(NEW_YORK)).hour == 3


def test_ambiguous_local_time_fires_once_at_its_first_occurrence() -> None:
    # 02:30 happens twice on 26 October in Berlin (CEST, then CET): fire at the first only.
    berlin = Cadence("daily", BERLIN, time_of_day="02:30")
    assert runs(berlin, utc(2025, 10, 24, 12), 3) == [
        utc(2025, 10, 25, 0, 30),
        utc(2025, 10, 26, 0, 30),  # 02:30 CEST; 01:30 UTC (02:30 CET) is skipped
        utc(2025, 10, 27, 1, 30),
    ]
    new_york = Cadence("daily", NEW_YORK, time_of_day="01:30")
    assert runs(new_york, utc(2025, 11, 1, 12), 2) == [
        utc(2025, 11, 2, 5, 30),  # 01:30 EDT; not again at 06:30 UTC (01:30 EST)
        utc(2025, 11, 3, 6, 30),
    ]


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK, "Australia/Lord_Howe"])
@pytest.mark.parametrize("at", ["02:00", "02:30", "09:00"])
def test_daily_fires_exactly_once_every_local_day_for_a_year(zone: str, at: str) -> None:
    tz = ZoneInfo(zone)
    fired = runs(Cadence("daily", zone, time_of_day=at), utc(2024, 12, 31, 23, 59), 365)
    assert fired == sorted(set(fired))
    assert len({f.astimezone(tz).date() for f in fired}) == 365
    hour, minute = map(int, at.split(":"))
    shifted = 0
    for f in fired:
        local = f.astimezone(tz)
        if (local.hour, local.minute) != (hour, minute):
            # Only where HH:MM did not exist that day, and then moved forward by the gap.
            naive = local.replace(tzinfo=None, hour=hour, minute=minute)
            assert resolve_local(naive, tz).astimezone(tz).replace(tzinfo=None) != naive
            assert resolve_local(naive, tz) == f and local.replace(tzinfo=None) > naive
            shifted += 1
    assert shifted <= 1  # at most the spring-forward day


def test_weekly_sunday_new_york_on_the_change_day() -> None:
    weekly = Cadence("weekly", NEW_YORK, time_of_day="09:00", weekday=6)
    assert runs(weekly, utc(2025, 3, 1), 3) == [
        utc(2025, 3, 2, 14),  # EST
        utc(2025, 3, 9, 13),  # EDT from this very morning
        utc(2025, 3, 16, 13),
    ]


def test_weekly_monday_berlin_across_fall_back() -> None:
    weekly = Cadence("weekly", BERLIN, time_of_day="07:15", weekday=0)
    assert runs(weekly, utc(2025, 10, 19), 2) == [
        utc(2025, 10, 20, 5, 15),
        utc(2025, 10, 27, 6, 15),
    ]


# --- every N hours and cron ----------------------------------------------------------------


def test_every_6h_keeps_local_times_across_spring_forward_in_berlin() -> None:
    every = Cadence("hours", BERLIN, time_of_day="00:00", every_hours=6)
    assert every.expression == "0 0,6,12,18 * * *"
    assert runs(every, utc(2025, 3, 29, 18), 5) == [
        utc(2025, 3, 29, 23),  # 00:00 CET
        utc(2025, 3, 30, 4),  # 06:00 CEST: five real hours later
        utc(2025, 3, 30, 10),
        utc(2025, 3, 30, 16),
        utc(2025, 3, 30, 22),
    ]


def test_every_hour_new_york_gap_and_repeat_fire_once() -> None:
    hourly = Cadence("hours", NEW_YORK, time_of_day="00:00", every_hours=1)
    # Spring: 02:00 does not exist; it and 03:00 EDT are one instant, fired once.
    assert runs(hourly, utc(2025, 3, 9, 4, 30), 4) == [
        utc(2025, 3, 9, 5),  # 00:00 EST
        utc(2025, 3, 9, 6),  # 01:00 EST
        utc(2025, 3, 9, 7),  # 03:00 EDT (02:00 moved forward)
        utc(2025, 3, 9, 8),  # 04:00 EDT
    ]
    # Fall: the repeated 01:00 fires once (EDT); the next is 02:00 EST.
    assert runs(hourly, utc(2025, 11, 2, 3, 30), 3) == [
        utc(2025, 11, 2, 4),
        utc(2025, 11, 2, 5),
        utc(2025, 11, 2, 7),
    ]


def test_every_12h_from_an_odd_anchor() -> None:
    every = Cadence("hours", "UTC", time_of_day="07:45", every_hours=12)
    assert runs(every, utc(2025, 1, 1), 3) == [
        utc(2025, 1, 1, 7, 45),
        utc(2025, 1, 1, 19, 45),
        utc(2025, 1, 2, 7, 45),
    ]


def test_cron_weekdays_berlin_across_spring_forward() -> None:
    cron = parse_cadence("30 8 * * 1-5", None, None, BERLIN)
    assert runs(cron, utc(2025, 3, 27, 12), 3) == [
        utc(2025, 3, 28, 7, 30),  # Friday, CET
        utc(2025, 3, 31, 6, 30),  # Monday, CEST
        utc(2025, 4, 1, 6, 30),
    ]


def test_cron_in_the_gap_and_in_the_repeat_new_york() -> None:
    at_two = parse_cadence("0 2 * * *", None, None, NEW_YORK)
    assert runs(at_two, utc(2025, 3, 8, 12), 2) == [utc(2025, 3, 9, 7), utc(2025, 3, 10, 6)]
    at_one_thirty = parse_cadence("30 1 * * 0", None, None, NEW_YORK)
    assert next_run(utc(2025, 11, 1), at_one_thirty) == utc(2025, 11, 2, 5, 30)


def test_cron_last_friday_of_the_month() -> None:
    cron = parse_cadence("0 17 * * 5L", None, None, BERLIN)
    assert next_run(utc(2025, 10, 1), cron) == utc(2025, 10, 31, 16)  # CET again by then


# --- missed slots ----------------------------------------------------------------------------


def test_missed_slots_collapse_to_one_next_run() -> None:
    daily = Cadence("daily", BERLIN, time_of_day="09:00")
    slot = utc(2025, 3, 28, 8)  # the first missed one
    back = utc(2025, 3, 31, 12)  # three days later
    assert slots_between(slot, back, daily) == 4  # 28, 29, 30, 31 March
    assert next_run(back, daily) == utc(2025, 4, 1, 7)  # not 29 March
    assert slots_between(slot, slot, daily) == 1
    assert slots_between(slot, back, daily, limit=2) == 2


# --- properties ------------------------------------------------------------------------------

ZONES = [BERLIN, NEW_YORK, "Asia/Kolkata", "Australia/Lord_Howe", "America/Sao_Paulo", "UTC"]


@st.composite
def cadences(draw: st.DrawFn) -> Cadence:
    zone = draw(st.sampled_from(ZONES))
    at = f"{draw(st.integers(0, 23)):02d}:{draw(st.sampled_from([0, 15, 30, 59])):02d}"
    kind = draw(st.sampled_from(["daily", "weekly", "hours", "cron"]))
    if kind == "daily":
        return Cadence("daily", zone, time_of_day=at)
    if kind == "weekly":
        return Cadence("weekly", zone, time_of_day=at, weekday=draw(st.integers(0, 6)))
    if kind == "hours":
        step = draw(st.sampled_from([1, 2, 3, 4, 6, 8, 12, 24]))
        return Cadence("hours", zone, time_of_day=at, every_hours=step)
    minute, hour = draw(st.integers(0, 59)), draw(st.sampled_from(["*", "*/5", "9", "1-3"]))
    return Cadence("cron", zone, cron=f"{minute} {hour} * * *")


@settings(max_examples=150, deadline=None)
@given(
    cadence=cadences(),
    after=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
)
def test_next_run_is_strictly_later_and_nothing_fires_in_between(
    cadence: Cadence, after: datetime
) -> None:
    first = next_run(after, cadence)
    assert first > after
    assert first.utcoffset() == timedelta(0)
    # Asking again from just before `first` gives `first` back: no slot is skipped.
    assert next_run(first - timedelta(microseconds=1), cadence) == first
    # And from any point between `after` and `first`, `first` is still next.
    middle = after + (first - after) / 2
    assert next_run(middle, cadence) == first
    assert next_run(first, cadence) > first


# --- parsing ---------------------------------------------------------------------------------


def test_parse_cadence_forms() -> None:
    assert parse_cadence(None, "09:00", None, "UTC") == Cadence("daily", "UTC", time_of_day="09:00")
    assert parse_cadence("week", "18:30", "fri", BERLIN) == Cadence(
        "weekly", BERLIN, time_of_day="18:30", weekday=4
    )
    assert parse_cadence("6h", "03:00", None, "UTC").every_hours == 6
    assert parse_cadence("  0  9 * * 1-5 ", None, None, "UTC").cron == "0 9 * * 1-5"
    assert [parse_weekday(d) for d in ("Monday", "su", "7", "0", "1")] == [0, 6, 6, 6, 0]
    assert Cadence("weekly", BERLIN, time_of_day="18:30", weekday=4).describe() == (
        "every Friday at 18:30 (Europe/Berlin)"
    )


@pytest.mark.parametrize(
    ("every", "at", "on", "zone", "match"),
    [
        ("day", "9:00", None, "UTC", "HH:MM"),
        ("day", "24:00", None, "UTC", "HH:MM"),
        ("day", None, None, "UTC", "--at"),
        ("day", "09:00", "mon", "UTC", "--on"),
        ("week", "09:00", None, "UTC", "needs --on"),
        ("week", "09:00", "funday", "UTC", "unknown day"),
        ("5h", "09:00", None, "UTC", "divide|N in"),
        ("0h", "09:00", None, "UTC", "N in"),
        ("fortnight", "09:00", None, "UTC", "--every"),
        ("* 9 * * *", None, None, "UTC", "single number"),
        ("*/5 * * * *", None, None, "UTC", "single number"),
        ("0 9 * *", None, None, "UTC", "5 fields"),
        ("0 25 * * *", None, None, "UTC", "bad cron"),
        ("0 9 * * *", "09:00", None, "UTC", "drop --at"),
        ("day", "09:00", None, "Mars/Olympus", "time zone"),
    ],
)
def test_bad_cadences_are_refused_with_a_reason(
    every: str, at: str | None, on: str | None, zone: str, match: str
) -> None:
    with pytest.raises(UserError, match=match):
        parse_cadence(every, at, on, zone)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_run(datetime(2025, 1, 1), Cadence("daily", "UTC", time_of_day="09:00"))
