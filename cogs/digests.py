"""`/digest add|list|remove|now`: scheduled digests of this server's threads (Manage Server).

The scheduler started by `threadwise run` (bot/scheduler.py) posts them; this cog stores,
lists, removes and previews schedules, scoped to the guild, with the target channel checked
to belong to it. Every option is checked before anything is written, and a bad option is
named in the answer (`every:`, `time:`, `weekday:`, `timezone:`), so the fix is obvious.
The option words follow the CLI (bot/digest_cli.py): every = day | week | Nh | a cron
expression, in an IANA zone.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import zoneinfo
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.digest import digest_answer
from bot.core.render import Answer, Line, Section
from bot.core.schedule import WEEKDAYS, Cadence, load_zone, parse_cadence
from bot.discord_render import render_answer
from bot.errors import NotFound, UserError
from bot.scheduler import preview
from bot.services import Services
from bot.settings import DigestSettings
from cogs import (
    Responder,
    channel_in_guild,
    guild_only,
    manager_only,
    scope_of,
    thread_autocomplete,
)
from storage.digests import DigestRepository, Schedule

if TYPE_CHECKING:
    from bot.discord_app import ThreadwiseBot

DAY_NAMES = tuple(d.title() for d in WEEKDAYS)
EVERY_SUGGESTIONS = ("day", "week", "1h", "2h", "3h", "4h", "6h", "8h", "12h", "0 9 * * 1-5")
MAX_CHOICES = 25
"""Discord shows at most 25 autocomplete choices."""
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_WEEKLY = ("week", "weekly", "7d")
_CLI_WORDS = (("--every", "every:"), ("--at", "time:"), ("--on", "weekday:"), ("--tz", "timezone:"))
_POSTABLE = {
    discord.ChannelType.text,
    discord.ChannelType.news,
    discord.ChannelType.voice,
    discord.ChannelType.public_thread,
    discord.ChannelType.private_thread,
    discord.ChannelType.news_thread,
}
"""Channel kinds a bot can post a message in (not categories, forums or stages)."""
WEEKDAY_CHOICES = [app_commands.Choice(name=d, value=i) for i, d in enumerate(DAY_NAMES)]
PREVIEW_NOTE = (
    "This is a preview: nothing was stored or moved, so the next scheduled digest still "
    "covers these posts."
)


# --- options → a cadence (no Discord types: testable on its own) -----------------------------


@lru_cache(maxsize=1)
def all_zones() -> tuple[str, ...]:
    """Every IANA zone name this machine knows, sorted (read once: it walks the tz database)."""
    return tuple(sorted(zoneinfo.available_timezones() | {"UTC"}))


def zone_choices(current: str, limit: int = MAX_CHOICES) -> list[str]:
    """Zones whose name, or whose city part, starts with what was typed (case-insensitive)."""
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
    return picked[:limit]


def check_zone(name: str) -> str:
    """The zone name, or a UserError naming `timezone:` with the closest known zone."""
    name = name.strip()
    try:
        load_zone(name)
    except UserError:
        close = difflib.get_close_matches(name, all_zones(), n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]}?" if close else " Use one like Europe/Berlin or UTC."
        raise UserError(f"timezone: “{name}” is not a known IANA time zone.{hint}") from None
    return name


def check_time(value: str) -> str:
    """ "7:05" or "07:05" → "07:05"; anything else is a UserError naming `time:`."""
    m = _HHMM.match(value.strip())
    if not m:
        raise UserError(f"time: must be a 24-hour time HH:MM like 09:00, not “{value}”.")
    return f"{int(m.group(1)):02d}:{m.group(2)}"


def cadence_from_options(
    every: str | None,
    time: str | None,
    weekday: int | None,
    timezone: str | None,
    defaults: DigestSettings,
) -> Cadence:
    """The cadence `/digest add` options mean; a UserError names the option to fix.

    every: day (default), week, Nh, or a five-field cron expression. A weekday alone means
    weekly. time: defaults to [digest] default_time, and a cron expression has none.
    """
    zone = check_zone(timezone or defaults.default_timezone)
    word = " ".join((every or "").split()) or None
    cron = word is not None and " " in word
    if cron and (time is not None or weekday is not None):
        raise UserError(
            "every: a cron expression sets its own time and day; leave out time: and weekday:."
        )
    at = None if cron else check_time(time) if time is not None else defaults.default_time
    if weekday is not None and word is None:
        word = "week"
    weekly = word is not None and word.lower() in _WEEKLY
    if weekday is not None and not weekly:
        raise UserError(f"weekday: only goes with every: week, not with every: {word}.")
    if weekly and weekday is None:
        raise UserError("weekday: a weekly digest needs a day; pick one in weekday:.")
    on = None if weekday is None else WEEKDAYS[weekday]
    try:
        return parse_cadence(word, at, on, zone)
    except UserError as exc:
        raise UserError(f"every: {_discord_words(str(exc))}") from None


def _discord_words(message: str) -> str:
    """The core's messages name the CLI flags; say the slash-command options instead."""
    message = message.removeprefix("--every ")
    for flag, option in _CLI_WORDS:
        message = message.replace(flag, option)
    return message


def local_time(when: datetime | None, cadence: Cadence) -> str:
    """An instant on the schedule's own clock: "Fri 2025-06-13 18:45 CEST"."""
    if when is None:
        return "not planned"
    return when.astimezone(cadence.zone).strftime("%a %Y-%m-%d %H:%M %Z")


def describe(schedule: Schedule, where: str) -> str:
    """One line of `/digest list`: number, cadence, target, threads, next run or state."""
    names = ", ".join(t.name for t in schedule.threads) or "(no threads left)"
    text = f"#{schedule.id} {schedule.cadence.describe()} → {where}: {names}"
    if not schedule.enabled:
        return f"{text} — off: {schedule.last_error or 'paused'}"
    text += f"; next {local_time(schedule.next_run_at, schedule.cadence)}"
    if schedule.last_error:
        text += f" (the last try failed: {schedule.last_error})"
    return text


async def stored_names(services: Services, scope: str, names: Sequence[str]) -> list[str]:
    """The stored names, without repeats; NotFound (with close matches) names a missing one."""
    found: list[str] = []
    for name in names:
        key = name.strip().lower()
        try:
            thread = await services.threads.get(scope, key) if key else None
        except ValueError:  # not even a valid name: view() says what is stored
            thread = None
        if thread is None:
            await services.view(scope, name)  # raises NotFound naming close matches
            raise NotFound(f"no thread named “{name}” here.")
        found.append(thread.name)
    return list(dict.fromkeys(found))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# --- the cog ---------------------------------------------------------------------------------


async def zone_autocomplete(
    itx: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=z, value=z) for z in zone_choices(current)]


async def every_autocomplete(
    itx: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """The usual words; whatever else was typed (a cron expression) is offered as is."""
    typed = " ".join(current.split())
    words = [w for w in EVERY_SUGGESTIONS if w.startswith(typed.lower())]
    if typed and typed.lower() not in words:
        words.insert(0, typed[:100])
    return [app_commands.Choice(name=w, value=w) for w in words[:MAX_CHOICES]]


@guild_only
@app_commands.default_permissions(manage_guild=True)
class DigestsCog(commands.GroupCog, group_name="digest", group_description="Scheduled digests"):
    """Thin glue: check options, call the digest repository or preview, render the answer."""

    def __init__(self, bot: ThreadwiseBot) -> None:
        self.bot = bot
        super().__init__()

    def _repo(self) -> DigestRepository:
        return DigestRepository(self.bot.services.db, clock=self.bot.clock)

    @app_commands.command(name="add", description="Post what is new in threads on a schedule")
    @app_commands.describe(
        thread="a stored thread",
        time="HH:MM, 24-hour, in the time zone (default: the bot's setting)",
        every="day (default), week, every N hours like 6h, or a cron expression",
        weekday="the day of a weekly digest",
        timezone="IANA zone such as Europe/Berlin (default: the bot's setting)",
        channel="where to post (default: here)",
        thread2="another stored thread for the same digest",
        thread3="another stored thread for the same digest",
        thread4="another stored thread for the same digest",
    )
    @app_commands.choices(weekday=WEEKDAY_CHOICES)
    @app_commands.autocomplete(
        thread=thread_autocomplete,
        thread2=thread_autocomplete,
        thread3=thread_autocomplete,
        thread4=thread_autocomplete,
        every=every_autocomplete,
        timezone=zone_autocomplete,
    )
    @manager_only()
    async def add(
        self,
        itx: discord.Interaction,
        thread: str,
        time: app_commands.Range[str, 4, 5] | None = None,
        every: app_commands.Range[str, 1, 100] | None = None,
        weekday: int | None = None,
        timezone: app_commands.Range[str, 1, 64] | None = None,
        channel: app_commands.AppCommandChannel | app_commands.AppCommandThread | None = None,
        thread2: str | None = None,
        thread3: str | None = None,
        thread4: str | None = None,
    ) -> None:
        responder = await Responder.start(itx, private=True)
        scope = scope_of(itx)
        cadence = cadence_from_options(every, time, weekday, timezone, self.bot.settings.digest)
        if channel is not None:
            if not channel_in_guild(itx, channel.id):
                raise UserError("channel: that channel belongs to another server.")
            if channel.type not in _POSTABLE:
                raise UserError(
                    f"channel: #{channel.name} cannot hold messages; pick a text channel or thread."
                )
        target = str(channel.id if channel is not None else itx.channel_id)
        wanted = [n for n in (thread, thread2, thread3, thread4) if n]
        names = await stored_names(self.bot.services, scope, wanted)
        schedule = await self._repo().add(
            scope, names, target, cadence, created_by=str(itx.user.id), start_from_latest=True
        )
        await responder.say(
            f"Digest #{schedule.id} saved: {cadence.describe()}, what is new in "
            f"{', '.join(names)}, posted to {self._where(target)}.",
            f"First digest: {local_time(schedule.next_run_at, cadence)}. It covers posts that "
            f"arrive from now on; /digest now id:{schedule.id} shows one right away.",
        )

    @app_commands.command(name="list", description="This server's scheduled digests")
    @manager_only()
    async def list_(self, itx: discord.Interaction) -> None:
        responder = await Responder.start(itx, private=True)
        schedules = await self._repo().list(scope_of(itx))
        lines = tuple(Line(describe(s, self._where(s.target))) for s in schedules)
        notes = () if schedules else ("No digests scheduled. Add one with /digest add.",)
        answer = Answer(title="Scheduled digests", sections=(Section(None, lines),), notes=notes)
        await responder.send(render_answer(answer))

    @app_commands.command(name="remove", description="Stop and delete a scheduled digest")
    @app_commands.describe(schedule_id="the digest number from /digest list")
    @app_commands.rename(schedule_id="id")
    @manager_only()
    async def remove(
        self, itx: discord.Interaction, schedule_id: app_commands.Range[int, 1]
    ) -> None:
        responder = await Responder.start(itx, private=True)
        if not await self._repo().remove(scope_of(itx), schedule_id):
            raise NotFound(_missing(schedule_id))
        await responder.say(f"Digest #{schedule_id} removed.")

    @app_commands.command(name="now", description="Preview a scheduled digest now (only you)")
    @app_commands.describe(schedule_id="the digest number from /digest list")
    @app_commands.rename(schedule_id="id")
    @manager_only()
    async def now(self, itx: discord.Interaction, schedule_id: app_commands.Range[int, 1]) -> None:
        responder = await Responder.start(itx, private=True)
        scope = scope_of(itx)
        if await self._repo().get(scope, schedule_id) is None:
            raise NotFound(_missing(schedule_id))
        _, digest = await preview(self.bot.services, scope, schedule_id)
        title = f"Preview of digest #{schedule_id}: {_plural(digest.new_posts, 'new post')}"
        answer = digest_answer(digest, title=title)
        answer = dataclasses.replace(answer, notes=(*answer.notes, PREVIEW_NOTE))
        await responder.send(render_answer(answer))

    def _where(self, target: str) -> str:
        channel = self.bot.get_channel(int(target)) if target.isdigit() else None
        name = getattr(channel, "name", None)
        return f"#{name}" if name else f"channel {target}"


def _missing(schedule_id: int) -> str:
    return f"there is no digest #{schedule_id} in this server (see /digest list)."
