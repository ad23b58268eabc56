"""The digest options every adapter shares: time zones, "HH:MM" times, cadences, list lines.

The CLI, the Matrix handlers and the Discord cog take the same options (every, at, on, tz)
under different names: `--tz` on the command line and in Matrix, `timezone:` in Discord.
They are checked here once, so a misspelt zone gets the same "Did you mean …?" everywhere,
and errors are worded with the names the user typed (`OptionNames`). Nothing here imports a
chat platform: adapters pass in what differs (option names, how a target is shown).
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from bot.core.schedule import Cadence, load_zone, parse_cadence
from bot.errors import UserError

if TYPE_CHECKING:
    from bot.settings import DigestSettings
    from bot.usecases.services import Services
    from storage.digests import Schedule

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_CLI_FLAGS = ("--every", "--at", "--on", "--tz")


@dataclass(frozen=True)
class OptionNames:
    """How one platform names the digest options in its messages (default: the CLI flags).

    Subclass and override `reword` when a platform words core messages differently.
    """

    every: str = "--every"
    at: str = "--at"
    on: str = "--on"
    tz: str = "--tz"

    def reword(self, message: str) -> str:
        """bot.core.schedule names the CLI flags; say this platform's option names instead."""
        for flag, name in zip(_CLI_FLAGS, (self.every, self.at, self.on, self.tz), strict=True):
            if name != flag:
                message = message.replace(flag, name)
        return message


FLAGS = OptionNames()
"""The command line's and Matrix's names: --every, --at, --on, --tz."""


# --- time zones ------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def all_zones() -> tuple[str, ...]:
    """Every IANA zone name this machine knows, sorted (read once: it walks the tz database)."""
    return tuple(sorted(zoneinfo.available_timezones() | {"UTC"}))


def zone_choices(current: str, limit: int | None = None) -> list[str]:
    """Zones whose name, or whose city part, starts with what was typed (case-insensitive).

    For autocompletion: "ber" finds Europe/Berlin; UTC comes first when it matches.
    """
    typed = current.strip().lower().replace(" ", "_")
    zones = all_zones()
    by_name = [z for z in zones if z.lower().startswith(typed)]
    by_city = (
        [z for z in zones if z.lower().rsplit("/", 1)[-1].startswith(typed)]
        if typed and "/" not in typed
        else []
    )
    picked = list(dict.fromkeys([*by_name, *by_city]))
    if "UTC" in picked:  # the most common answer first
        picked.remove("UTC")
        picked.insert(0, "UTC")
    return picked if limit is None else picked[:limit]


def check_zone(name: str, option: str = FLAGS.tz) -> str:
    """The zone name, or a UserError naming `option` and the closest known zone.

    core's load_zone only says "unknown"; people mostly mistype, so offer the near miss.
    """
    name = name.strip()
    try:
        load_zone(name)
    except UserError:
        close = difflib.get_close_matches(name, all_zones(), n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]}?" if close else " Use one like Europe/Berlin or UTC."
        raise UserError(f"{option} “{name}” is not a known IANA time zone.{hint}") from None
    return name


# --- times and cadences -----------------------------------------------------------------------


def check_time(value: str, option: str = FLAGS.at) -> str:
    """ "7:05" or "07:05" → "07:05"; anything else is a UserError naming `option`."""
    m = _HHMM.match(value.strip())
    if not m:
        raise UserError(f"{option} must be a 24-hour time HH:MM like 09:00, not “{value.strip()}”.")
    return f"{int(m.group(1)):02d}:{m.group(2)}"


def cadence_from_options(
    every: str | None,
    at: str | None,
    on: str | None,
    timezone: str | None,
    defaults: DigestSettings,
    names: OptionNames = FLAGS,
) -> Cadence:
    """The cadence the options mean, with [digest] defaults filled in.

    every: day (default), week, Nh, or a five-field cron expression, which sets its own time
    (so `at` gets no default then). A day alone means weekly. A UserError names the option to
    fix in the platform's own words (`names`).
    """
    zone = check_zone(timezone or defaults.default_timezone, names.tz)
    word = " ".join((every or "").split()) or None
    cron = word is not None and " " in word
    if at is not None and not cron:
        at = check_time(at, names.at)
    elif at is None and not cron:
        at = defaults.default_time
    if on is not None and word is None:
        word = "week"
    try:
        return parse_cadence(word, at, on, zone)
    except UserError as exc:
        raise UserError(names.reword(str(exc))) from None


async def stored_names(services: Services, scope: str, names: Iterable[str]) -> list[str]:
    """The stored names, in order and without repeats; NotFound (naming close matches) for a
    missing one, before anything is written."""
    found = [(await services.thread(scope, name)).name for name in names]
    return list(dict.fromkeys(found))


# --- answers ----------------------------------------------------------------------------------


def local_time(when: datetime | None, cadence: Cadence) -> str:
    """An instant on the schedule's own clock: "Mon 2025-03-31 07:30 CEST"."""
    if when is None:
        return "not planned"
    return when.astimezone(cadence.zone).strftime("%a %Y-%m-%d %H:%M %Z")


def describe_schedule(schedule: Schedule, where: str | None) -> str:
    """One line of a digest list: number, cadence, target, threads, next run (or why it is off).

    `where` is the target as the platform shows it ("#general", "local"); None leaves it out,
    e.g. in Matrix when the schedule posts in the room that asks.
    """
    names = ", ".join(t.name for t in schedule.threads) or "(no threads left)"
    target = "" if where is None else f" → {where}"
    text = f"#{schedule.id} {schedule.cadence.describe()}{target}: {names}"
    if not schedule.enabled:
        return f"{text} — off: {schedule.last_error or 'paused'}"
    text += f"; next {local_time(schedule.next_run_at, schedule.cadence)}"
    if schedule.last_error:
        text += f" (the last try failed: {schedule.last_error})"
    return text
