"""Commands the bots accepted, and Matrix messages waiting to go out.

A chat command is recorded when the bot accepts it and closed once it is answered. If the
process dies in between (kill -9, a crash, a restart during an ingest), the next start
finds it still 'running' and answers it. A command is keyed by its platform, the bot's
account and the platform's id for it (a Matrix event id, a Discord interaction id), so the
same command seen twice (a sync replayed, a gap read back) is accepted once.

The Matrix outbox keeps every message from the moment it is composed until the homeserver
has taken it: a rate limit, an outage or a restart delays an answer, never loses it. Each
row keeps its transaction id, so a resend after a crash is de-duplicated by the homeserver.
Queueing a command's first message marks the command answered in the same transaction, so
a restart never answers a command whose answer is already on its way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from .dbapi import Connection, Database
from .repositories import Clock, from_db_time, to_db_time, utcnow

Platform = Literal["matrix", "discord"]


@dataclass(frozen=True, slots=True)
class OpenCommand:
    """A command accepted by an earlier run of the bot and never closed."""

    id: int
    key: str
    scope: str
    what: str
    """What it was doing, for the restart answer: "ingesting https://…"."""
    reply_to: dict[str, Any]
    """Where its answer goes (platform specific: room and event; interaction token …)."""
    answered: bool
    """Its (first) answer was already queued or delivered."""
    accepted_at: datetime


class CommandRepository:
    def __init__(self, db: Database, platform: Platform, account: str, clock: Clock = utcnow):
        self._db = db
        self._platform = platform
        self._account = account
        self._clock = clock

    async def accept(
        self, key: str, scope: str, what: str, reply_to: dict[str, Any] | None = None
    ) -> int | None:
        """Record a command as running; None when this command was accepted before."""
        (command_id,) = await self.accept_all([(key, scope, what, reply_to)])
        return command_id

    async def accept_all(
        self, commands: Sequence[tuple[str, str, str, dict[str, Any] | None]]
    ) -> list[int | None]:
        """`accept` for (key, scope, what, reply_to) commands in one transaction."""
        ids: list[int | None] = []
        if not commands:
            return ids
        now = to_db_time(self._clock())
        async with self._db.transaction() as conn:
            for key, scope, what, reply_to in commands:
                command_id = await conn.fetchval(
                    "INSERT INTO bot_commands (platform, account, key, scope, what, reply_to,"
                    " status, accepted_at) VALUES ($1, $2, $3, $4, $5, $6, 'running', $7)"
                    " ON CONFLICT (platform, account, key) DO NOTHING RETURNING id",
                    self._platform,
                    self._account,
                    key,
                    scope,
                    what,
                    json.dumps(reply_to or {}),
                    now,
                )
                ids.append(None if command_id is None else int(command_id))
        return ids

    async def answered(self, command_id: int) -> None:
        async with self._db.transaction() as conn:
            await _mark_answered(conn, command_id, self._clock())

    async def finish(self, command_id: int, status: str = "done") -> None:
        """Close a command; where its answer went (a Discord token …) is forgotten."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE bot_commands SET status = $1, finished_at = $2, reply_to = NULL"
                " WHERE id = $3",
                status,
                to_db_time(self._clock()),
                command_id,
            )

    async def unfinished(self) -> list[OpenCommand]:
        """Commands of this bot account still 'running': a previous run died with them."""
        rows = await self._db.fetch(
            "SELECT id, key, scope, what, reply_to, answered_at, accepted_at FROM bot_commands"
            " WHERE platform = $1 AND account = $2 AND status = 'running' ORDER BY id",
            self._platform,
            self._account,
        )
        return [
            OpenCommand(
                id=int(r[0]),
                key=str(r[1]),
                scope=str(r[2]),
                what=str(r[3]),
                reply_to=json.loads(r[4] or "{}"),
                answered=r[5] is not None,
                accepted_at=from_db_time(r[6]) or self._clock(),
            )
            for r in rows
        ]

    async def prune(self, before: datetime) -> int:
        """Forget closed commands finished before `before` (the record is only needed while
        a command is open, and to ignore a replayed one for a while)."""
        async with self._db.transaction() as conn:
            return await conn.execute(
                "DELETE FROM bot_commands WHERE platform = $1 AND account = $2"
                " AND status != 'running' AND finished_at < $3",
                self._platform,
                self._account,
                to_db_time(before),
            )


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One Matrix message waiting to be sent."""

    id: int
    room_id: str
    tx_id: str
    content: dict[str, Any]
    command_id: int | None
    attempts: int


class MatrixOutboxRepository:
    def __init__(self, db: Database, account: str, clock: Clock = utcnow) -> None:
        self._db = db
        self._account = account
        self._clock = clock

    async def add(
        self,
        room_id: str,
        messages: Sequence[tuple[str, dict[str, Any]]],
        command_id: int | None = None,
    ) -> list[int]:
        """Queue (tx_id, content) messages for a room, in order; returns their row ids.

        A transaction id already waiting (a retried digest slot) is not queued twice: its
        row id is returned. The command, if any, counts as answered from now on.
        """
        ids: list[int] = []
        now = self._clock()
        async with self._db.transaction() as conn:
            for tx_id, content in messages:
                await conn.execute(
                    "INSERT INTO matrix_outbox (account, room_id, tx_id, content, command_id,"
                    " created_at) VALUES ($1, $2, $3, $4, $5, $6)"
                    " ON CONFLICT (account, tx_id) DO NOTHING",
                    self._account,
                    room_id,
                    tx_id,
                    json.dumps(content, ensure_ascii=False),
                    command_id,
                    to_db_time(now),
                )
                message_id = await conn.fetchval(
                    "SELECT id FROM matrix_outbox WHERE account = $1 AND tx_id = $2",
                    self._account,
                    tx_id,
                )
                ids.append(int(message_id))
            if command_id is not None:
                await _mark_answered(conn, command_id, now)
        return ids

    async def next_for(self, room_id: str) -> Outgoing | None:
        """The oldest message waiting for `room_id`."""
        row = await self._db.fetchrow(
            "SELECT id, room_id, tx_id, content, command_id, attempts FROM matrix_outbox"
            " WHERE account = $1 AND room_id = $2 ORDER BY id LIMIT 1",
            self._account,
            room_id,
        )
        if row is None:
            return None
        return Outgoing(
            id=int(row[0]),
            room_id=str(row[1]),
            tx_id=str(row[2]),
            content=json.loads(row[3]),
            command_id=None if row[4] is None else int(row[4]),
            attempts=int(row[5]),
        )

    async def rooms_waiting(self) -> list[str]:
        rows = await self._db.fetch(
            "SELECT DISTINCT room_id FROM matrix_outbox WHERE account = $1 ORDER BY room_id",
            self._account,
        )
        return [str(r[0]) for r in rows]

    async def waiting(self) -> int:
        count = await self._db.fetchval(
            "SELECT count(*) FROM matrix_outbox WHERE account = $1", self._account
        )
        return int(count or 0)

    async def attempt_failed(self, message_id: int, error: str) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE matrix_outbox SET attempts = attempts + 1, last_error = $1 WHERE id = $2",
                error[:500],
                message_id,
            )

    async def remove(self, message_id: int) -> None:
        """Sent, or refused for good: either way it leaves the queue."""
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM matrix_outbox WHERE id = $1", message_id)


async def _mark_answered(conn: Connection, command_id: int, when: datetime) -> None:
    await conn.execute(
        "UPDATE bot_commands SET answered_at = $1 WHERE id = $2 AND answered_at IS NULL",
        to_db_time(when),
        command_id,
    )


__all__ = [
    "CommandRepository",
    "MatrixOutboxRepository",
    "OpenCommand",
    "Outgoing",
]
