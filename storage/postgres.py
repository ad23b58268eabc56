"""The PostgreSQL backend, over asyncpg: for several processes (or machines) on one database.

A pool of connections instead of SQLite's one writer and one reader:

* ``transaction()`` takes a connection for the block (READ COMMITTED, PostgreSQL's
  default). Writers of different rows run side by side; repositories lock what they read
  to change (`Connection.for_update`) and rely on unique constraints, as the field does,
  so two processes never claim the same digest or mix two ingests under one name;
* ``snapshot()`` is a READ ONLY, REPEATABLE READ transaction: several reads, one state;
* ``fetch()`` runs one statement on any free connection (last committed data).

Queries use ``$N`` placeholders, which asyncpg takes as they are. This module is imported
only when a ``postgresql://`` URL is used, so the SQLite-only command line never loads
asyncpg.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

from bot.errors import StorageError, UserError

from .dbapi import Connection, Database, Row, redact_url
from .migrations import MIGRATIONS, Migration, check_sequence, latest_version, newer_schema_message
from .sqlite import check_backup_target, publish_backup

VERSION_TABLE = "threadwise_schema"
MIGRATION_LOCK = 0x7477_6D69_6772_6174  # pg_advisory_xact_lock key: "twmigrat"
CONNECT_TIMEOUT = 15.0
DEFAULT_POOL_SIZE = 10


class PostgresConnection(Connection):
    """An asyncpg connection with the interface every repository uses."""

    dialect = "postgresql"
    __slots__ = ("raw",)

    def __init__(self, raw: asyncpg.Connection) -> None:
        self.raw = raw

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return list(await self.raw.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        return await self.raw.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any, column: int = 0) -> Any:
        return await self.raw.fetchval(sql, *args, column=column)

    async def execute(self, sql: str, *args: Any) -> int:
        return _changed(await self.raw.execute(sql, *args))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = list(rows)
        if batch:
            await self.raw.executemany(sql, batch)

    async def lock(self, key: str, *, shared: bool = False) -> None:
        how = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        await self.raw.execute(f"SELECT {how}(hashtextextended($1, 0))", key)

    async def execute_script(self, sql: str) -> None:
        # Without arguments asyncpg uses the simple query protocol: several statements at once.
        await self.raw.execute(sql)


def _changed(status: str) -> int:
    """Rows changed, from a command tag such as ``UPDATE 3`` or ``INSERT 0 1``."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresDatabase(Database):
    """A pool of asyncpg connections to one database: ``await PostgresDatabase.open(url)``."""

    dialect = "postgresql"

    def __init__(self, url: str, pool: asyncpg.Pool, schema_version: int) -> None:
        self.target = url
        self.schema_version = schema_version
        self._pool: asyncpg.Pool | None = pool
        # The connection each task's open transaction / snapshot holds (nesting reuses it).
        self._tx: dict[asyncio.Task[Any] | None, PostgresConnection] = {}
        self._snap: dict[asyncio.Task[Any] | None, PostgresConnection] = {}

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        migrations: Sequence[Migration] = MIGRATIONS,
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> PostgresDatabase:
        """Connect, and bring the schema up to date (one process at a time).

        Raises StorageError when the server cannot be reached, refuses the login, or the
        database belongs to something else or to a newer threadwise.
        """
        shown = redact_url(url)
        try:
            pool = await asyncpg.create_pool(
                dsn=url,
                min_size=1,
                max_size=max(2, pool_size),
                timeout=CONNECT_TIMEOUT,
                server_settings={"application_name": "threadwise"},
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            raise StorageError(f"Cannot connect to PostgreSQL at {shown}: {_reason(e)}") from e
        try:
            version = await migrate(pool, migrations, location=shown)
        except BaseException:
            await _close_pool(pool)
            raise
        return cls(url, pool, version)

    @property
    def location(self) -> str:
        return redact_url(self.target)

    @property
    def closed(self) -> bool:
        return self._pool is None

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await _close_pool(pool)

    def _require(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StorageError("The database is closed.")
        return self._pool

    # --- writing ------------------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresConnection]:
        task = asyncio.current_task()
        held = self._tx.get(task)
        if held is not None:  # nested: a SAVEPOINT on the task's own connection
            async with held.raw.transaction():
                yield held
            return
        async with self._require().acquire() as raw:
            conn = PostgresConnection(raw)
            self._tx[task] = conn
            try:
                async with raw.transaction():
                    yield conn
            finally:
                del self._tx[task]

    # --- reading ------------------------------------------------------------------------------

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[PostgresConnection]:
        task = asyncio.current_task()
        held = self._snap.get(task)
        if held is not None:
            yield held
            return
        async with self._require().acquire() as raw:
            conn = PostgresConnection(raw)
            self._snap[task] = conn
            try:
                async with raw.transaction(isolation="repeatable_read", readonly=True):
                    yield conn
            finally:
                del self._snap[task]

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        held = self._snap.get(asyncio.current_task())
        if held is not None:
            return await held.fetch(sql, *args)
        return list(await self._require().fetch(sql, *args))

    # --- one process at a time (storage/locks.py) -----------------------------------------------

    @asynccontextmanager
    async def advisory_lock(self, name: str) -> AsyncIterator[None]:
        """Hold the named lock for the block, on a connection of its own; LockHeld at once
        when another session (another process, or another block here) holds it.

        A session-level advisory lock: PostgreSQL releases it when the holder's connection
        ends, so a crashed process never leaves it stuck.
        """
        from .locks import LockHeld

        self._require()
        key = f"threadwise-lock:{name}"
        try:
            raw = await asyncpg.connect(self.target, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, asyncpg.PostgresError) as e:
            raise StorageError(f"Cannot connect to PostgreSQL at {self.location}: {e}") from e
        try:
            if not await raw.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", key):
                raise LockHeld(f"another process holds the lock {name!r} on {self.location}")
            yield
        finally:
            await raw.close()  # ends the session, and with it the lock

    # --- backup -------------------------------------------------------------------------------

    async def backup(self, dest: str | Path) -> int:
        """``pg_dump --format=custom`` into the new file `dest` (restore with pg_restore).

        pg_dump reads one consistent snapshot, so this is safe while the bots run. Written to
        a temporary file and renamed, as on SQLite. UserError when pg_dump is missing.
        """
        task = asyncio.current_task()
        if task in self._tx:
            raise StorageError("A backup cannot run inside a transaction.")
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            raise UserError(
                f"This database is on PostgreSQL ({self.location}); back it up with pg_dump "
                "(pg_dump --format=custom --file=PATH URL), which is not installed here."
            )
        target = await asyncio.to_thread(check_backup_target, dest)
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        url, env = _libpq_args(self.target)
        try:
            proc = await asyncio.create_subprocess_exec(
                pg_dump,
                "--format=custom",
                "--no-password",
                f"--file={tmp}",
                f"--dbname={url}",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
            try:
                _, err = await proc.communicate()
            except asyncio.CancelledError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
                raise
            if proc.returncode != 0:
                lines = err.decode(errors="replace").strip().splitlines()
                reason = lines[-1] if lines else f"exit status {proc.returncode}"
                raise StorageError(f"pg_dump of {self.location} failed: {reason}")
            return await asyncio.to_thread(publish_backup, tmp, target)
        finally:
            await asyncio.to_thread(tmp.unlink, missing_ok=True)


def _libpq_args(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and an environment carrying it as PGPASSWORD (so the
    password never shows in a process list)."""
    parts = urlsplit(url)
    env = dict(os.environ)
    if parts.password is None:
        return url, env
    env["PGPASSWORD"] = unquote(parts.password)
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{user}@{host}" if user else host
    return urlunsplit(parts._replace(netloc=netloc)), env


def _reason(e: BaseException) -> str:
    text = str(e).strip()
    return text or type(e).__name__


async def _close_pool(pool: asyncpg.Pool) -> None:
    try:
        await asyncio.wait_for(pool.close(), timeout=10)
    except (TimeoutError, asyncpg.InterfaceError):
        pool.terminate()


# --- schema version (the threadwise_schema table) ---------------------------------------------


async def migrate(
    pool: asyncpg.Pool, migrations: Sequence[Migration] = MIGRATIONS, *, location: str
) -> int:
    """Apply every pending step, each with its version bump in one transaction.

    The steps take an advisory lock, so processes starting together migrate once. Returns
    the final version.
    """
    check_sequence(migrations)
    known = latest_version(migrations)
    async with pool.acquire() as raw:
        version = await _check_compatible(raw, known, location)
        for m in migrations:
            if m.version <= version:
                continue
            try:
                async with raw.transaction():
                    await raw.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                    # Another process may have upgraded while we waited for the lock.
                    version = await _check_compatible(raw, known, location)
                    if version >= m.version:
                        continue
                    if version == 0:
                        await raw.execute(
                            f"CREATE TABLE {VERSION_TABLE} (version INTEGER NOT NULL);"
                            f" INSERT INTO {VERSION_TABLE} (version) VALUES (0);"
                        )
                    step = m.step_for("postgresql")
                    conn = PostgresConnection(raw)
                    if isinstance(step, str):
                        await conn.execute_script(step)
                    else:
                        await step(conn)
                    await raw.execute(f"UPDATE {VERSION_TABLE} SET version = $1", m.version)
            except asyncpg.PostgresError as e:
                raise StorageError(
                    f"Upgrading {location} to schema {m.version} ({m.description}) failed: {e}"
                ) from e
            version = m.version
    return version


async def _check_compatible(raw: asyncpg.Connection, known: int, location: str) -> int:
    """The schema version; refuse a newer schema or a database that is not threadwise's."""
    row = await raw.fetchrow(
        "SELECT to_regclass($1) IS NOT NULL,"
        " (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        "  WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f'))",
        VERSION_TABLE,
    )
    has_version, objects = bool(row[0]), int(row[1])
    if not has_version:
        if objects:
            raise StorageError(
                f"The PostgreSQL database {location} is not a threadwise one (it already has "
                "tables and no threadwise schema version); use an empty database."
            )
        return 0
    version = int(await raw.fetchval(f"SELECT version FROM {VERSION_TABLE}"))
    if version > known:
        raise StorageError(newer_schema_message(version, known))
    return version
