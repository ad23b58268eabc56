"""Opening threadwise's database: an SQLite file (the default) or a PostgreSQL URL.

    db = await open_database("threadwise.db")                      # SQLite (aiosqlite)
    db = await open_database("postgresql://tw@db.example/threadwise")  # PostgreSQL (asyncpg)

Both give a `Database` (storage/dbapi.py) with the same schema and migrations, so the
repositories run unchanged on either. asyncpg is imported only for a PostgreSQL URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .dbapi import Connection, Database, Row, is_postgres_url, redact_url
from .migrations import MIGRATIONS, Migration

__all__ = ["Connection", "Database", "Row", "is_postgres_url", "open_database", "redact_url"]


async def open_database(
    target: str | Path, *, migrations: Sequence[Migration] = MIGRATIONS, **options: Any
) -> Database:
    """Open (creating or upgrading the schema if needed) the database at `target`.

    A ``postgresql://`` (or ``postgres://``) URL opens PostgreSQL; anything else is an
    SQLite file path. `options` go to the backend (``busy_timeout_ms`` for SQLite,
    ``pool_size`` for PostgreSQL). Raises StorageError when it cannot be used.
    """
    if is_postgres_url(target):
        from .postgres import PostgresDatabase

        return await PostgresDatabase.open(str(target), migrations=migrations, **options)
    from .sqlite import SQLiteDatabase

    return await SQLiteDatabase.open(target, migrations=migrations, **options)
