"""`threadwise digest …`: scheduled digests from the command line, and the stdout Publisher.

    threadwise digest add NAME... --at HH:MM [--every day|week|Nh|CRON] [--on DAY]
                                 [--tz ZONE] [--target local] [--quiet-line] [--from-start]
    threadwise digest list
    threadwise digest remove ID
    threadwise digest now ID            (preview: nothing is stored or moved)
    threadwise digest run-due [--now ISO-TIME] [--json]

The CLI works in the `local` scope and its only target is `local`: `run-due` runs every due
local schedule once, exactly as the bot's loop would, and prints each digest on stdout (run
it from cron or a systemd timer). bot/cli/main.py wires this in with `register(sub)` (from
bot/cli/digest_args.py, which stays light) and the `cmd_digest` handler, imported when used.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.cli.digest_args import LOCAL_TARGET
from bot.cli.terminal import render_text
from bot.core.digest import Digest, digest_answer, digest_json
from bot.core.models import LOCAL_SCOPE
from bot.core.render import Answer, Line, Section, plural
from bot.errors import NotFound, UserError
from bot.usecases.digest_options import (
    cadence_from_options,
    describe_schedule,
    local_time,
    stored_names,
)
from bot.usecases.scheduler import RunReport, Scheduler, preview
from bot.usecases.services import Services
from storage.digests import DigestRepository, Schedule


def utcnow() -> datetime:
    """The CLI's clock (tests replace it; `run-due --now` overrides it per run)."""
    return datetime.now(UTC)


class Output(Protocol):
    """What the handlers need of bot.cli.main.Console."""

    json_mode: bool

    def progress(self, message: str) -> None: ...
    def answer(self, answer: Answer, document: Any) -> None: ...


class LocalPublisher:
    """The `local` target: prints each digest on stdout (or hands the text to `write`).

    It cannot take a digest back, so a crash between printing and the final commit shows that
    digest once more on the next run (the retry carries a note saying so).
    """

    def __init__(self, write: Callable[[str], None] | None = print) -> None:
        self._write = write
        self.published: list[Answer] = []

    async def publish(self, target: str, answer: Answer) -> str | None:
        if target != LOCAL_TARGET:
            raise UserError(f"the command line can only print digests (target {target!r})")
        self.published.append(answer)
        if self._write is not None:
            if len(self.published) > 1:
                self._write("")
            self._write(render_text(answer))
        return f"local-{len(self.published)}"


# --- handlers ---------------------------------------------------------------------------------


async def cmd_digest(services: Services, args: argparse.Namespace, out: Output) -> None:
    """The one handler bot/cli/main.py registers for `digest`; dispatches on the action."""
    handler = _ACTIONS[args.digest_command]
    await handler(services, args, out)


async def cmd_add(services: Services, args: argparse.Namespace, out: Output) -> None:
    if args.target != LOCAL_TARGET:
        raise UserError("the command line posts only to --target local (it prints digests)")
    cadence = cadence_from_options(args.every, args.at, args.on, args.tz, services.settings.digest)
    names = await stored_names(services, LOCAL_SCOPE, args.names)
    schedule = await DigestRepository(services.db, clock=utcnow).add(
        LOCAL_SCOPE,
        names,
        args.target,
        cadence,
        quiet_line=args.quiet_line,
        start_from_latest=not args.from_start,
    )
    answer = Answer(
        title=f"Digest #{schedule.id}: {cadence.describe()} of {', '.join(names)}",
        sections=(),
        notes=(
            f"First run: {local_time(schedule.next_run_at, cadence)}.",
            "Local digests are printed by `threadwise digest run-due`: run it from cron or "
            "a systemd timer.",
        ),
    )
    out.answer(answer, schedule_json(schedule))


async def cmd_list(services: Services, args: argparse.Namespace, out: Output) -> None:
    schedules = await DigestRepository(services.db).list(LOCAL_SCOPE)
    lines = tuple(Line(describe_schedule(s, s.target)) for s in schedules)
    notes = () if schedules else ("No digests yet. Add one: threadwise digest add NAME --at 09:00",)
    answer = Answer(title="Digests", sections=(Section(None, lines),), notes=notes)
    out.answer(answer, [schedule_json(s) for s in schedules])


async def cmd_remove(services: Services, args: argparse.Namespace, out: Output) -> None:
    if not await DigestRepository(services.db).remove(LOCAL_SCOPE, args.id):
        raise NotFound(f"no digest #{args.id} here (see: threadwise digest list)")
    out.answer(Answer(title=f"Removed digest #{args.id}.", sections=()), {"removed": args.id})


async def cmd_now(services: Services, args: argparse.Namespace, out: Output) -> None:
    schedule, digest = await preview(services, LOCAL_SCOPE, args.id, refresh=not args.no_refresh)
    title = f"Preview of digest #{schedule.id}: {plural(digest.new_posts, 'new post')}"
    answer = digest_answer(digest, title=title)
    out.answer(answer, {"schedule": schedule.id, **digest_json(digest)})


async def cmd_run_due(services: Services, args: argparse.Namespace, out: Output) -> None:
    now: datetime = args.now or utcnow()
    publisher = LocalPublisher(None if out.json_mode else print)
    scheduler = Scheduler(services, {"local": publisher}, clock=lambda: now)
    reports = await scheduler.run_due(now)
    sent = sum(r.status == "sent" for r in reports)
    out.progress(
        f"{plural(len(reports), 'due digest')}: {sent} posted, "
        f"{sum(r.status == 'empty' for r in reports)} with nothing new"
        + "".join(f"; #{r.schedule_id} {r.status}: {r.error}" for r in reports if r.error)
    )
    if out.json_mode:
        out.answer(Answer(title="", sections=()), [report_json(r) for r in reports])


_ACTIONS = {
    "add": cmd_add,
    "list": cmd_list,
    "remove": cmd_remove,
    "now": cmd_now,
    "run-due": cmd_run_due,
}


# --- shapes -----------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def schedule_json(s: Schedule) -> dict[str, Any]:
    c = s.cadence
    return {
        "id": s.id,
        "target": s.target,
        "cadence": c.kind,
        "describe": c.describe(),
        "time": c.time_of_day,
        "weekday": c.weekday,
        "every_hours": c.every_hours,
        "cron": c.cron,
        "timezone": c.timezone,
        "threads": [{"name": t.name, "mark": t.mark} for t in s.threads],
        "quiet_line": s.quiet_line,
        "enabled": s.enabled,
        "next_run_at": _iso(s.next_run_at),
        "last_run_at": _iso(s.last_run_at),
        "last_error": s.last_error,
    }


def report_json(r: RunReport) -> dict[str, Any]:
    digest = r.digest or Digest(threads=())
    doc = digest_json(digest)
    return {
        "schedule": r.schedule_id,
        "status": r.status,
        "slot": _iso(r.slot),
        "missed": r.missed,
        "message_id": r.message_id,
        "next_run_at": _iso(r.next_run_at),
        "error": r.error,
        **doc,
    }
