"""`/digest add|list|remove|now`: scheduled digests of this server's threads (Manage Server).

The scheduler started by `threadwise run` (bot/usecases/scheduler.py) posts them; this cog stores,
lists, removes and previews schedules, scoped to the guild, with the target channel checked
to belong to it. Every option is checked before anything is written, and a bad option is
named in the answer (`every:`, `time:`, `weekday:`, `timezone:`), so the fix is obvious.
The options mean what they mean on the command line and in Matrix: every = day | week | Nh
| a cron expression, in an IANA zone, checked by bot/usecases/digest_options.py; this cog only adds
Discord's option names and its weekday choice.
"""

from __future__ import annotations

import dataclasses

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.digest import digest_answer
from bot.core.render import Answer, Line, Section, plural
from bot.core.schedule import WEEKDAYS, Cadence
from bot.discord_app.glue import (
    BotBase,
    Responder,
    channel_in_guild,
    guild_only,
    manager_only,
    scope_of,
    thread_autocomplete,
)
from bot.discord_app.render import render_answer
from bot.errors import NotFound, UserError
from bot.settings import DigestSettings
from bot.usecases import digest_options
from bot.usecases.digest_options import (
    OptionNames,
    describe_schedule,
    local_time,
    stored_names,
    zone_choices,
)
from bot.usecases.scheduler import preview
from storage.digests import DigestRepository

DAY_NAMES = tuple(d.title() for d in WEEKDAYS)
EVERY_SUGGESTIONS = ("day", "week", "1h", "2h", "3h", "4h", "6h", "8h", "12h", "0 9 * * 1-5")
MAX_CHOICES = 25
"""Discord shows at most 25 autocomplete choices."""
_WEEKLY = ("week", "weekly", "7d")
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


class DiscordOptionNames(OptionNames):
    """Slash-command option names; a cadence error always starts by naming `every:`."""

    def reword(self, message: str) -> str:
        return f"{self.every} {super().reword(message.removeprefix('--every '))}"


OPTION_NAMES = DiscordOptionNames(every="every:", at="time:", on="weekday:", tz="timezone:")


def cadence_from_options(
    every: str | None,
    time: str | None,
    weekday: int | None,
    timezone: str | None,
    defaults: DigestSettings,
) -> Cadence:
    """The cadence `/digest add` options mean; a UserError names the option to fix.

    The shared rules are bot.usecases.digest_options'; here only what Discord's options add: the
    weekday is a choice (an index), so its mistakes are told in Discord's words first.
    """
    word = " ".join((every or "").split()) or None
    if word is not None and " " in word and (time is not None or weekday is not None):
        raise UserError(
            "every: a cron expression sets its own time and day; leave out time: and weekday:."
        )
    if weekday is not None and word is None:
        word = "week"
    weekly = word is not None and word.lower() in _WEEKLY
    if weekday is not None and not weekly:
        raise UserError(f"weekday: only goes with every: week, not with every: {word}.")
    if weekly and weekday is None:
        raise UserError("weekday: a weekly digest needs a day; pick one in weekday:.")
    on = None if weekday is None else WEEKDAYS[weekday]
    return digest_options.cadence_from_options(word, time, on, timezone, defaults, OPTION_NAMES)


# --- the cog ---------------------------------------------------------------------------------


async def zone_autocomplete(
    itx: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=z, value=z) for z in zone_choices(current, MAX_CHOICES)]


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

    def __init__(self, bot: BotBase) -> None:
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
        lines = tuple(Line(describe_schedule(s, self._where(s.target))) for s in schedules)
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
        title = f"Preview of digest #{schedule_id}: {plural(digest.new_posts, 'new post')}"
        answer = digest_answer(digest, title=title)
        answer = dataclasses.replace(answer, notes=(*answer.notes, PREVIEW_NOTE))
        await responder.send(render_answer(answer))

    def _where(self, target: str) -> str:
        channel = self.bot.get_channel(int(target)) if target.isdigit() else None
        name = getattr(channel, "name", None)
        return f"#{name}" if name else f"channel {target}"


def _missing(schedule_id: int) -> str:
    return f"there is no digest #{schedule_id} in this server (see /digest list)."
