"""The one database interface the repositories use, over SQLite or PostgreSQL.

Repositories write ONE SQL text for both backends, with PostgreSQL's numbered
placeholders (``$1``, ``$2``, …): asyncpg takes them as they are, and the SQLite
backend turns ``$N`` into ``?N``, which SQLite accepts natively (the approach of
mautrix-python's ``util/async_db``). The SQL itself is the common subset of the two:
``ON CONFLICT … DO NOTHING`` instead of ``INSERT OR IGNORE``, ``CASE`` instead of the
two-argument ``max()``, ``lower(x)`` instead of ``COLLATE NOCASE``, ``RETURNING``. Where
the dialects really differ (row locks, DDL types) the code says so with `Connection.dialect`
or `Connection.for_update`; there is no translator.

A `Database` hands out connections three ways:

* ``async with db.transaction() as conn`` — every statement commits together or not at
  all; re-entrant within one task (a nested block is a SAVEPOINT);
* ``async with db.snapshot() as conn`` — several reads that agree with each other;
* ``await db.fetch(...)`` and friends — one read of the last committed data.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

Dialect = Literal["sqlite", "postgresql"]
Row = Any
"""A result row: sqlite3.Row or asyncpg.Record; both index by position and by column name."""

POSTGRES_SCHEMES = ("postgresql", "postgres")


def is_postgres_url(target: str | Path) -> bool:
    """True for ``postgresql://…`` and ``postgres://…`` (libpq's two spellings)."""
    return isinstance(target, str) and urlsplit(target).scheme.lower() in POSTGRES_SCHEMES


def url_has_password(url: str) -> bool:
    try:
        return urlsplit(url).password is not None
    except ValueError:
        return False


def redact_url(url: str) -> str:
    """The URL as it may be shown: any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def is_unique_violation(exc: BaseException, table: str, columns: Sequence[str]) -> bool:
    """The UNIQUE (`columns`) constraint of `table` refused a write, on either backend."""
    if getattr(exc, "sqlstate", None) == "23505":  # asyncpg.UniqueViolationError
        # PostgreSQL's default name for UNIQUE (a, b) on t: t_a_b_key.
        return getattr(exc, "constraint_name", None) == f"{table}_{'_'.join(columns)}_key"
    wanted = "UNIQUE constraint failed: " + ", ".join(f"{table}.{c}" for c in columns)
    return isinstance(exc, sqlite3.IntegrityError) and str(exc) == wanted


def scope_lock(scope: str) -> str:
    """The lock an ingest holds shared and an opt-out or purge of its scope exclusively."""
    return f"threadwise-scope:{scope}"


class Connection(ABC):
    """One connection (inside a transaction or a snapshot), asyncpg-style calls."""

    dialect: Dialect

    @abstractmethod
    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """Every row of a query."""

    @abstractmethod
    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        """The first row, or None."""

    async def fetchval(self, sql: str, *args: Any, column: int = 0) -> Any:
        """One value of the first row, or None when there is no row."""
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[column]

    async def fetch_tuples(self, sql: str, *args: Any) -> Sequence[Sequence[Any]]:
        """Every row of a query, indexed by position only: for reads of many rows (a
        100,000-post thread), where building rows that also index by name costs time."""
        return await self.fetch(sql, *args)

    @abstractmethod
    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; returns how many rows it changed."""

    @abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per parameter row (batched by the driver)."""

    async def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """INSERT many rows of `columns` into `table`: one statement a row (executemany)
        here; SQLite packs them into multi-row statements."""
        values = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        await self.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})", rows
        )

    @abstractmethod
    async def execute_script(self, sql: str) -> None:
        """Several statements without parameters (schema steps), inside the transaction."""

    @abstractmethod
    async def lock(self, key: str, *, shared: bool = False) -> None:
        """Hold the named lock until the transaction ends (`shared`: with other shared holders).

        For writes that must not interleave although they touch different rows (an opt-out
        and an ingest in the same scope). A PostgreSQL advisory lock; nothing on SQLite,
        where a transaction already excludes every other writer.
        """

    @property
    def for_update(self) -> str:
        """`` FOR UPDATE`` on PostgreSQL, nothing on SQLite (whose one writer at a time
        already holds every row it reads inside a transaction)."""
        return " FOR UPDATE" if self.dialect == "postgresql" else ""

    @property
    def skip_locked(self) -> str:
        """`` FOR UPDATE SKIP LOCKED`` on PostgreSQL (take a row nobody else holds), nothing
        on SQLite."""
        return " FOR UPDATE SKIP LOCKED" if self.dialect == "postgresql" else ""


class Database(ABC):
    """Connections to one threadwise database. Open with storage.database.open_database."""

    dialect: Dialect
    schema_version: int
    target: str
    """What it was opened with (a path, or the URL): workers reopen it from this."""

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the data is, as it may be shown to a person (never a password)."""

    @property
    @abstractmethod
    def closed(self) -> bool: ...

    @abstractmethod
    async def close(self) -> None:
        """Close every connection. Safe to call twice."""

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """All statements commit together or not at all; re-entrant within one task.

        Rolls back on any exception, CancelledError included. Tasks spawned inside a
        transaction must not open another one on SQLite (they would wait on the lock held
        by their parent).
        """

    @abstractmethod
    def snapshot(self) -> AbstractAsyncContextManager[Connection]:
        """Several reads that must agree with each other (one committed state)."""

    @abstractmethod
    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """One query on the last committed data.

        Inside a transaction() this does NOT see that transaction's own writes; query the
        connection the transaction yielded instead.
        """

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any, column: int = 0) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[column]

    @abstractmethod
    async def backup(self, dest: str | Path) -> int:
        """A consistent copy of the database in the new file `dest`; returns its size."""

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
