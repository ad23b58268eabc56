"""What the bot keeps about chat members and places: opt-outs, departures, adapter state.

The bot stores other people's words, so a member must be able to say "leave me out" and
have what is stored of them removed, and a guild/room the bot leaves is purged after a
grace period. Every call is scoped like the thread repositories.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.models import validate_scope

from .dbapi import Database, scope_lock
from .redaction import REDACTED, redact_member
from .repositories import from_db_time, to_db_time, utcnow


@dataclass(frozen=True, slots=True)
class RedactResult:
    posts: int
    threads: int


@dataclass(frozen=True, slots=True)
class Reconciled:
    """What ScopeRepository.reconcile changed: scopes now recorded as left, and scopes
    whose pending departure was cleared (both sorted)."""

    left: tuple[str, ...]
    back: tuple[str, ...]
    skipped: str | None = None
    """Why nothing was changed (the bot is in none of the places with stored data: a wrong
    token, or another bot sharing the database)."""


# Platforms whose membership can be reconciled; `local` (the CLI) is never "left".
_PLATFORMS = ("discord", "matrix")
_SCOPE_DATA = ("digest_schedules", "threads", "opt_outs")
"""What is stored of a guild or room (the rest cascades): a scope with rows here has data,
and purging a scope deletes them."""
_STARTS_WITH = "substr(scope, 1, length($1)) = $1"
"""`scope` begins with the text $1, exactly (LIKE ignores case on SQLite; GLOB is SQLite's)."""


class OptOutRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def is_opted_out(self, scope: str, user_id: str) -> bool:
        validate_scope(scope)
        row = await self._db.fetchrow(
            "SELECT 1 FROM opt_outs WHERE scope = $1 AND user_id = $2", scope, user_id
        )
        return row is not None

    async def opted_out(self, scope: str) -> set[str]:
        validate_scope(scope)
        rows = await self._db.fetch("SELECT user_id FROM opt_outs WHERE scope = $1", scope)
        return {r[0] for r in rows}

    async def opt_out(self, scope: str, user_id: str) -> RedactResult:
        """Record the opt-out and redact every stored post of that member, in one transaction."""
        validate_scope(scope)
        now = to_db_time(utcnow())
        async with self._db.transaction() as conn:
            # No ingest of this scope may commit posts between the redaction and the opt-out.
            await conn.lock(scope_lock(scope))
            await conn.execute(
                "INSERT INTO opt_outs (scope, user_id, created_at) VALUES ($1, $2, $3)"
                " ON CONFLICT (scope, user_id) DO NOTHING",
                scope,
                user_id,
                now,
            )
            # What they read is about them too ("since I last read" marks).
            await conn.execute(
                "DELETE FROM read_marks WHERE scope = $1 AND user_id = $2", scope, user_id
            )
            posts, threads = await redact_member(conn, scope, user_id, now)
        return RedactResult(posts=posts, threads=threads)

    async def opt_in(self, scope: str, user_id: str) -> bool:
        """Future ingests include the member again; what was removed stays removed."""
        validate_scope(scope)
        async with self._db.transaction() as conn:
            changed = await conn.execute(
                "DELETE FROM opt_outs WHERE scope = $1 AND user_id = $2", scope, user_id
            )
            return changed > 0


class ScopeRepository:
    """Guilds/rooms the bot left: data is purged only after a grace period."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def mark_left(self, scope: str, when: datetime | None = None) -> None:
        validate_scope(scope)
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO scope_departures (scope, left_at) VALUES ($1, $2)"
                " ON CONFLICT (scope) DO NOTHING",
                scope,
                to_db_time(when or utcnow()),
            )

    async def mark_back(self, scope: str) -> bool:
        validate_scope(scope)
        async with self._db.transaction() as conn:
            changed = await conn.execute("DELETE FROM scope_departures WHERE scope = $1", scope)
            return changed > 0

    async def reconcile(
        self,
        platform: str,
        present: Iterable[str],
        when: datetime | None = None,
        account: str | None = None,
        owns: Callable[[str], bool] | None = None,
    ) -> Reconciled:
        """Make the departures of one platform match where the bot is now.

        Leave and join events that happen while the bot is offline never arrive, so at
        start the adapter passes every scope it is in (`present`). A scope of `platform`
        with stored data (threads, schedules, opt-outs) that is not present is recorded as
        left at `when`, so its grace period starts now and a partial list purges nothing at
        once; a departure already pending keeps its time, so repeating this changes
        nothing. A pending departure of a present scope is cleared. Scopes of other
        platforms and `local` are never read or written.

        `owns`: the scopes this process answers for (a process running some of a sharded
        bot's shards sees only their guilds); any other scope is neither marked nor cleared.
        """
        if platform not in _PLATFORMS:
            raise ValueError(f"cannot reconcile scopes of {platform!r}")
        prefix = f"{platform}:"
        here = {validate_scope(scope) for scope in present}
        foreign = sorted(scope for scope in here if not scope.startswith(prefix))
        if foreign:
            raise ValueError(f"not {platform} scopes: {', '.join(foreign)}")
        async with self._db.transaction() as conn:
            stored_rows = await conn.fetch(
                " UNION ".join(f"SELECT scope FROM {t} WHERE {_STARTS_WITH}" for t in _SCOPE_DATA),
                prefix,
            )
            stored = {r[0] for r in stored_rows if owns is None or owns(r[0])}
            key = f"{platform}:reconciled-account"
            known_value = await conn.fetchval("SELECT value FROM bot_state WHERE key = $1", key)
            known = None if known_value is None else str(known_value)
            # A wrong token, or a staging bot sharing the database, is in none of the stored
            # places: reconciling would mark every one of them as left and purge them all.
            # So nothing changes unless the bot is in at least one of them (then the account
            # is adopted: a new token for the same bot, or the bot was simply moved).
            if stored and not stored & here:
                other = known not in (None, account)
                whose = f" (this database last served {known})" if other else ""
                return Reconciled(
                    left=(),
                    back=(),
                    skipped=f"none of the {len(stored)} {platform} places with stored data is "
                    f"among the {len(here)} this account is in{whose}; nothing is marked as left",
                )
            if account is not None and known != account:
                await conn.execute(
                    "INSERT INTO bot_state (key, value) VALUES ($1, $2)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    key,
                    account,
                )
            pending_rows = await conn.fetch(
                f"SELECT scope FROM scope_departures WHERE {_STARTS_WITH}", prefix
            )
            pending = {r[0] for r in pending_rows if owns is None or owns(r[0])}
            left = sorted(stored - here - pending)
            back = sorted(pending & here)
            left_at = to_db_time(when or utcnow())
            await conn.executemany(
                "INSERT INTO scope_departures (scope, left_at) VALUES ($1, $2)"
                " ON CONFLICT (scope) DO NOTHING",
                [(scope, left_at) for scope in left],
            )
            await conn.executemany(
                "DELETE FROM scope_departures WHERE scope = $1", [(scope,) for scope in back]
            )
        return Reconciled(left=tuple(left), back=tuple(back))

    async def purge_departed(
        self,
        grace: timedelta,
        now: datetime | None = None,
        platform: str | None = None,
        present: Iterable[str] = (),
        owns: Callable[[str], bool] | None = None,
    ) -> list[str]:
        """Delete every thread and schedule of scopes left longer than `grace` ago; only
        `platform`'s scopes when given (each adapter purges its own, with its own grace).

        `present`: scopes the adapter is in right now. A departure of one of them is stale
        (a join that raced the start-up reconcile): it is cleared, never purged.
        `owns`: as for `reconcile`; another process's scopes are left to it.
        """
        if platform is not None and platform not in _PLATFORMS:
            raise ValueError(f"cannot purge scopes of {platform!r}")
        cutoff = (now or utcnow()) - grace
        prefix = "" if platform is None else f"{platform}:"
        here = frozenset(present)
        async with self._db.transaction() as conn:
            rows = await conn.fetch(
                f"SELECT scope, left_at FROM scope_departures WHERE {_STARTS_WITH}"
                f" ORDER BY scope{conn.for_update}",
                prefix,
            )
            rows = [r for r in rows if owns is None or owns(r[0])]
            stale = [r[0] for r in rows if r[0] in here]
            await conn.executemany(
                "DELETE FROM scope_departures WHERE scope = $1", [(scope,) for scope in stale]
            )
            gone = [
                r[0]
                for r in rows
                if r[0] not in here and (left := from_db_time(r[1])) is not None and left <= cutoff
            ]
            for scope in gone:
                await conn.lock(scope_lock(scope))
                for table in _SCOPE_DATA:
                    await conn.execute(f"DELETE FROM {table} WHERE scope = $1", scope)
                # what the bots kept of its commands (their words, a Discord token) and
                # answers still queued for a room it left go with it
                await conn.execute("DELETE FROM bot_commands WHERE scope = $1", scope)
                if scope.startswith("matrix:"):
                    await conn.execute(
                        "DELETE FROM matrix_outbox WHERE room_id = $1",
                        scope.removeprefix("matrix:"),
                    )
                await conn.execute("DELETE FROM scope_departures WHERE scope = $1", scope)
        return gone


class BotStateRepository:
    """Adapter state that must survive restarts (sync tokens, device ids)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, key: str) -> str | None:
        value = await self._db.fetchval("SELECT value FROM bot_state WHERE key = $1", key)
        return None if value is None else str(value)

    async def set(self, key: str, value: str) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO bot_state (key, value) VALUES ($1, $2)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                key,
                value,
            )


__all__ = [
    "REDACTED",
    "BotStateRepository",
    "OptOutRepository",
    "Reconciled",
    "RedactResult",
    "ScopeRepository",
]
