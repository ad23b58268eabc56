"""`/digest add|list|remove`: store recurring digest schedules (Manage Server).

Posting the digests is the scheduler's job (a later issue); this stores what to post,
where and when, scoped to the guild, with the target channel checked to belong to it.
"""

from __future__ import annotations

import zoneinfo
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.render import Answer, Line, Section
from bot.discord_render import render_answer
from bot.errors import NotFound, UserError
from bot.services import Services
from cogs import (
    Responder,
    channel_in_guild,
    guild_only,
    manager_only,
    scope_of,
    thread_autocomplete,
)
from storage.repositories import DigestSchedule, DigestScheduleRepository

if TYPE_CHECKING:
    from bot.discord_app import ThreadwiseBot

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class DigestSchedules:
    """The small use case behind the commands (no Discord types): add, list, remove."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.repo = DigestScheduleRepository(services.db)

    async def add(
        self,
        scope: str,
        thread: str,
        target: str,
        time_of_day: str | None,
        timezone: str | None,
        weekday: int | None,
        created_by: str,
    ) -> tuple[int, str, str]:
        """Returns (schedule id, time, zone); NotFound when the thread is not stored here."""
        digest = self.services.settings.digest
        zone = (timezone or digest.default_timezone).strip()
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            raise UserError(f"unknown time zone {zone!r}; use one like Europe/Berlin") from None
        when = (time_of_day or digest.default_time).strip()
        try:
            schedule_id = await self.repo.add(
                scope,
                thread.strip().lower(),
                target,
                when,
                zone,
                "daily" if weekday is None else "weekly",
                weekday,
                created_by,
            )
        except ValueError as exc:
            raise UserError(str(exc)) from None
        return schedule_id, when, zone

    async def list(self, scope: str) -> list[DigestSchedule]:
        return await self.repo.list(scope)

    async def remove(self, scope: str, schedule_id: int) -> bool:
        return await self.repo.remove(scope, schedule_id)


def describe(schedule: DigestSchedule, channel_name: str | None) -> str:
    day = "daily" if schedule.weekday is None else f"every {WEEKDAYS[schedule.weekday]}"
    where = f"#{channel_name}" if channel_name else f"channel {schedule.target}"
    state = "" if schedule.enabled else " (paused)"
    return (
        f"{schedule.id}: {schedule.thread_name} → {where}, {day} at {schedule.time_of_day} "
        f"({schedule.timezone}){state}"
    )


@guild_only
@app_commands.default_permissions(manage_guild=True)
class DigestsCog(commands.GroupCog, group_name="digest", group_description="Scheduled digests"):
    def __init__(self, bot: ThreadwiseBot) -> None:
        self.bot = bot
        self.schedules = DigestSchedules(bot.services) if bot.services is not None else None
        super().__init__()

    @app_commands.command(name="add", description="Post what is new in a thread on a schedule")
    @app_commands.describe(
        thread="a stored thread",
        channel="where to post (default: here)",
        time="HH:MM, 24-hour (default: the server's setting)",
        weekday="weekly on this day (default: daily)",
        timezone="IANA zone such as Europe/Berlin (default: the server's setting)",
    )
    @app_commands.choices(
        weekday=[app_commands.Choice(name=d, value=i) for i, d in enumerate(WEEKDAYS)]
    )
    @app_commands.autocomplete(thread=thread_autocomplete)
    @manager_only()
    async def add(
        self,
        itx: discord.Interaction,
        thread: str,
        channel: app_commands.AppCommandChannel | app_commands.AppCommandThread | None = None,
        time: app_commands.Range[str, 4, 5] | None = None,
        weekday: int | None = None,
        timezone: app_commands.Range[str, 1, 64] | None = None,
    ) -> None:
        responder = await Responder.start(itx, private=True)
        scope = scope_of(itx)
        if channel is not None and not channel_in_guild(itx, channel.id):
            raise UserError("That channel belongs to another server.")
        target = str(channel.id if channel is not None else itx.channel_id)
        assert self.schedules is not None
        schedule_id, when, zone = await self.schedules.add(
            scope, thread, target, time, timezone, weekday, str(itx.user.id)
        )
        day = "every day" if weekday is None else f"every {WEEKDAYS[weekday]}"
        await responder.say(
            f"Digest {schedule_id} saved: what is new in {thread} goes to channel {target} "
            f"{day} at {when} ({zone}).",
            "Scheduled posting arrives in a later version; the schedule is kept until then.",
        )

    @app_commands.command(name="list", description="This server's digest schedules")
    @manager_only()
    async def list_(self, itx: discord.Interaction) -> None:
        responder = await Responder.start(itx, private=True)
        assert self.schedules is not None
        schedules = await self.schedules.list(scope_of(itx))
        lines = tuple(Line(describe(s, self._channel_name(s.target))) for s in schedules)
        notes = () if schedules else ("No digests scheduled. Add one with /digest add.",)
        answer = Answer(title="Digest schedules", sections=(Section(None, lines),), notes=notes)
        await responder.send(render_answer(answer))

    @app_commands.command(name="remove", description="Stop a digest schedule")
    @app_commands.describe(schedule="the schedule number from /digest list")
    @manager_only()
    async def remove(self, itx: discord.Interaction, schedule: app_commands.Range[int, 1]) -> None:
        responder = await Responder.start(itx, private=True)
        assert self.schedules is not None
        if not await self.schedules.remove(scope_of(itx), schedule):
            raise NotFound(f"there is no digest schedule {schedule} in this server.")
        await responder.say(f"Digest schedule {schedule} removed.")

    def _channel_name(self, target: str) -> str | None:
        channel = self.bot.get_channel(int(target)) if target.isdigit() else None
        return getattr(channel, "name", None)
