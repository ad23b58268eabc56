"""Commands from the moment they are accepted until they are answered.

Each command event is recorded (storage.commands) before the sync position moves past it,
so a crash or restart at any point leaves it either unseen (the sync is replayed) or
recorded. The record also makes a command run once: an event seen again (a replayed sync,
a gap read back) is not accepted twice. At the next start, a command a previous run
accepted but never answered gets one answer: what it was doing, and to run it again. One
whose answer was already queued (the outbox marks it answered) gets nothing more.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta

from bot.core.render import interrupted_text
from storage.commands import CommandRepository

from . import html, router
from .handlers import Context
from .outbox import Outbox, Target

log = logging.getLogger(__name__)

KEEP_CLOSED = timedelta(days=7)
"""How long a closed command is remembered (a replay older than this is not expected)."""
_SHOWN = 80

Parsed = router.Command | router.UsageError


def describe(parsed: Parsed, body: str) -> tuple[str, bool]:
    """What a command does, for the restart answer, and whether it stores something."""
    if isinstance(parsed, router.Command) and parsed.name == "thread ingest":
        source = (parsed.args.source or "").strip()
        if source.lower() == "here":
            return "ingesting this room's messages", True
        if source:
            return f"ingesting {_short(source)}", True
        return "ingesting the file you replied to", True
    if isinstance(parsed, router.Command) and parsed.name == "thread refresh":
        return f"refreshing {_short(parsed.args.name)}", True
    return f"answering “{_short(body.strip())}”", False


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


class CommandLog:
    def __init__(self, repo: CommandRepository, outbox: Outbox) -> None:
        self._repo = repo
        self._outbox = outbox

    async def accept(
        self, found: list[tuple[Context, Parsed, str]]
    ) -> list[tuple[Context, Parsed]]:
        """Record commands (context, parsed command or usage error, text) in one
        transaction; returns those not accepted before, their contexts carrying the record."""
        rows = []
        for ctx, parsed, body in found:
            what, stores = describe(parsed, body)
            reply_to = {
                "room_id": ctx.room_id,
                "event_id": ctx.event_id,
                "thread_root": ctx.thread_root,
                "stores": stores,
            }
            rows.append((ctx.event_id, ctx.scope, what, reply_to))
        ids = await self._repo.accept_all(rows)
        return [
            (dataclasses.replace(ctx, command_id=command_id), parsed)
            for (ctx, parsed, _), command_id in zip(found, ids, strict=True)
            if command_id is not None
        ]

    async def finish(self, ctx: Context) -> None:
        if ctx.command_id is not None:
            await self._repo.finish(ctx.command_id)

    async def answer_interrupted(self, now: datetime) -> int:
        """Answer each command an earlier run accepted and never answered; returns how many
        were told. The answers go through the outbox, so they survive another restart."""
        told = 0
        for command in await self._repo.unfinished():
            where = command.reply_to
            room_id = where.get("room_id")
            if command.answered or not isinstance(room_id, str):
                await self._repo.finish(command.id)
                continue
            target = Target(room_id, where.get("event_id"), where.get("thread_root"), command.id)
            text = interrupted_text(command.what, stores=bool(where.get("stores")))
            log.info("Matrix: telling %s that %s was interrupted", room_id, command.key)
            await self._outbox.enqueue(target, html.notice(text))
            await self._repo.finish(command.id, "interrupted")
            told += 1
        await self._repo.prune(now - KEEP_CLOSED)
        return told
