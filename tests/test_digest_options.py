"""bot/usecases/digest_options.py on its own: the option rules the CLI, Discord and Matrix share."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot.core.schedule import Cadence
from bot.errors import NotFound, UserError
from bot.settings import DigestSettings
from bot.usecases import digest_options
from bot.usecases.digest_options import (
    FLAGS,
    OptionNames,
    cadence_from_options,
    check_time,
    check_zone,
    describe_schedule,
    local_time,
    stored_names,
    zone_choices,
)
from storage.digests import Schedule, ScheduledThread
from tests.test_architecture import imported_modules, offending

BERLIN = "Europe/Berlin"
DEFAULTS = DigestSettings(default_time="09:00", default_timezone="UTC")


def test_the_module_imports_no_chat_platform() -> None:
    assert offending(imported_modules(Path(digest_options.__file__))) == []


# --- time zones ------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["UTC", BERLIN, "America/Argentina/Buenos_Aires", "Asia/Kolkata"])
def test_known_zones_pass_unchanged(zone: str) -> None:
    assert check_zone(zone) == zone
    assert check_zone(f"  {zone} ") == zone


def test_a_misspelt_zone_gets_the_closest_name_and_the_option_to_fix() -> None:
    with pytest.raises(UserError) as cli:
        check_zone("Europe/Berln")
    assert str(cli.value) == (
        "--tz “Europe/Berln” is not a known IANA time zone. Did you mean Europe/Berlin?"
    )
    with pytest.raises(UserError, match=r"^timezone: “america/new_york” .* America/New_York\?$"):
        check_zone("america/new_york", "timezone:")


@pytest.mark.parametrize("typed", ["Mars/Olympus", "", "Nowhere"])
def test_a_zone_with_no_close_match_gets_examples_not_a_guess(typed: str) -> None:
    with pytest.raises(UserError) as exc:
        check_zone(typed)
    message = str(exc.value)
    assert message.endswith("is not a known IANA time zone. Use one like Europe/Berlin or UTC.")
    assert "Did you mean" not in message


def test_zone_choices_match_name_or_city_with_utc_first() -> None:
    assert zone_choices("utc")[0] == "UTC"
    assert zone_choices("europe/ber") == [BERLIN]
    assert BERLIN in zone_choices("ber")  # the city part
    america = zone_choices("America/", 25)
    assert len(america) == 25 and america == sorted(america)
    assert len(zone_choices("America/")) > 25  # no limit: all of them
    assert zone_choices("Nowhere/") == []


# --- times -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "time"),
    [
        ("07:05", "07:05"),
        ("7:05", "07:05"),
        (" 9:30 ", "09:30"),
        ("00:00", "00:00"),
        ("23:59", "23:59"),
    ],
)
def test_hh_mm_is_read_with_or_without_a_leading_zero(typed: str, time: str) -> None:
    assert check_time(typed) == time


@pytest.mark.parametrize("typed", ["24:00", "7:60", "9am", "0930", "07:5", "", "07:05:00", "-1:00"])
def test_anything_else_is_refused_naming_the_option(typed: str) -> None:
    with pytest.raises(UserError) as cli:
        check_time(typed)
    assert str(cli.value) == (
        f"--at must be a 24-hour time HH:MM like 09:00, not “{typed.strip()}”."
    )
    with pytest.raises(UserError, match=r"^time: must be a 24-hour time"):
        check_time(typed, "time:")


# --- cadences --------------------------------------------------------------------------------


def test_defaults_fill_in_time_and_zone() -> None:
    assert cadence_from_options(None, None, None, None, DEFAULTS) == Cadence(
        "daily", "UTC", time_of_day="09:00"
    )
    assert cadence_from_options("6h", "1:30", None, BERLIN, DEFAULTS) == Cadence(
        "hours", BERLIN, time_of_day="01:30", every_hours=6
    )


def test_a_day_alone_means_weekly() -> None:
    assert cadence_from_options(None, "18:00", "fri", None, DEFAULTS) == Cadence(
        "weekly", "UTC", time_of_day="18:00", weekday=4
    )


def test_a_cron_expression_gets_no_default_time_and_refuses_one() -> None:
    cron = cadence_from_options("  0 9   * * 1-5 ", None, None, BERLIN, DEFAULTS)
    assert cron == Cadence("cron", BERLIN, cron="0 9 * * 1-5")
    with pytest.raises(UserError, match="drop --at and --on"):
        cadence_from_options("0 9 * * 1-5", "09:00", None, None, DEFAULTS)


def test_errors_are_worded_with_the_platform_option_names() -> None:
    names = OptionNames(every="every:", at="time:", on="weekday:", tz="timezone:")
    with pytest.raises(UserError, match=r"^every: must be day, week"):
        cadence_from_options("fortnightly", None, None, None, DEFAULTS, names)
    with pytest.raises(UserError, match=r"^--every must be day, week"):
        cadence_from_options("fortnightly", None, None, None, DEFAULTS)
    with pytest.raises(UserError, match=r"^timezone: “Europe/Berln”"):
        cadence_from_options(None, None, None, "Europe/Berln", DEFAULTS, names)
    with pytest.raises(UserError, match=r"^time: must be"):
        cadence_from_options(None, "25:00", None, None, DEFAULTS, names)
    assert FLAGS.reword("--on goes with --every week") == "--on goes with --every week"
    assert names.reword("--on goes with --every week") == "weekday: goes with every: week"


# --- the list line ---------------------------------------------------------------------------


def schedule(cadence: Cadence, *names: str, **changes: object) -> Schedule:
    threads = tuple(
        ScheduledThread(thread_id=i, name=n, title=n.title(), source_url=None, mark=0, position=i)
        for i, n in enumerate(names)
    )
    made = Schedule(
        id=3,
        scope="local",
        target="local",
        cadence=cadence,
        threads=threads,
        quiet_line=False,
        enabled=True,
        next_run_at=datetime(2025, 3, 31, 5, 30, tzinfo=UTC),
        last_run_at=None,
        claimed_until=None,
        failures=0,
        last_error=None,
        created_by=None,
        created_at=datetime(2025, 3, 28, 12, tzinfo=UTC),
    )
    return dataclasses.replace(made, **changes)  # type: ignore[arg-type]


def test_a_daily_schedule_is_one_line_with_its_next_run_on_its_own_clock() -> None:
    daily = schedule(Cadence("daily", BERLIN, time_of_day="07:30"), "cafe", "tram")
    assert describe_schedule(daily, "#general") == (
        "#3 daily at 07:30 (Europe/Berlin) → #general: cafe, tram; next Mon 2025-03-31 07:30 CEST"
    )
    assert describe_schedule(daily, None) == (
        "#3 daily at 07:30 (Europe/Berlin): cafe, tram; next Mon 2025-03-31 07:30 CEST"
    )


def test_a_weekly_schedule_says_its_day_and_why_it_is_off_or_failing() -> None:
    weekly = schedule(Cadence("weekly", "UTC", time_of_day="05:30", weekday=0), "cafe")
    assert describe_schedule(weekly, "local") == (
        "#3 every Monday at 05:30 (UTC) → local: cafe; next Mon 2025-03-31 05:30 UTC"
    )
    failing = dataclasses.replace(weekly, last_error="room gone")
    assert describe_schedule(failing, "local").endswith(
        "; next Mon 2025-03-31 05:30 UTC (the last try failed: room gone)"
    )
    off = dataclasses.replace(weekly, enabled=False, threads=())
    assert describe_schedule(off, "local") == (
        "#3 every Monday at 05:30 (UTC) → local: (no threads left) — off: paused"
    )


def test_local_time_shows_the_zone_in_force_then() -> None:
    cadence = Cadence("daily", BERLIN, time_of_day="09:00")
    assert local_time(datetime(2025, 3, 29, 8, tzinfo=UTC), cadence) == "Sat 2025-03-29 09:00 CET"
    assert local_time(datetime(2025, 3, 31, 7, tzinfo=UTC), cadence) == "Mon 2025-03-31 09:00 CEST"
    assert local_time(None, cadence) == "not planned"


# --- stored names ----------------------------------------------------------------------------


class Threads:
    """Services.thread as the adapters use it: the stored thread, or NotFound with a hint."""

    def __init__(self, *names: str) -> None:
        self.names = names

    async def thread(self, scope: str, name: str) -> SimpleNamespace:
        key = name.strip().lower()
        if key not in self.names:
            raise NotFound(f"no thread named “{name}” here. Did you mean {self.names[0]}?")
        return SimpleNamespace(name=key)


async def test_stored_names_keep_order_drop_repeats_and_name_a_missing_one() -> None:
    services: Any = Threads("cafe", "tram")
    assert await stored_names(services, "local", ["Tram", "cafe", " tram "]) == ["tram", "cafe"]
    missing = re.escape("no thread named “cafee” here. Did you mean cafe?")
    with pytest.raises(NotFound, match=missing):
        await stored_names(services, "local", ["cafe", "cafee"])
