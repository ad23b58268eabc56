"""Moving up: copy a whole SQLite database into an empty PostgreSQL one.

Both are first brought to the same schema version by their own migrations, so every table
has the same columns on both sides. The copy reads one SQLite snapshot (a bot writing
meanwhile cannot tear it) and writes everything in ONE PostgreSQL transaction with COPY:
a failure leaves the target as empty as it was. Identity sequences are moved past the
copied ids, and every table's row count is compared before the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.errors import StorageError, UserError

from .postgres import VERSION_TABLE, PostgresConnection, PostgresDatabase
from .sqlite import SQLiteConnection, SQLiteDatabase

BATCH = 5000


@dataclass(frozen=True, slots=True)
class Copied:
    tables: dict[str, int]
    """table → rows copied, in the order they were copied."""
    schema_version: int


async def copy_sqlite_to_postgres(
    source: SQLiteDatabase,
    target: PostgresDatabase,
    progress: Callable[[str], None] | None = None,
) -> Copied:
    """Copy every table of `source` into `target`, which must hold no data at all.

    UserError (and nothing written) when the target has data or another schema version.
    """
    if source.schema_version != target.schema_version:
        raise UserError(
            f"{source.location} is at schema {source.schema_version} and {target.location} "
            f"at {target.schema_version}; run the same threadwise version on both"
        )
    counts: dict[str, int] = {}
    async with source.snapshot() as reader, target.transaction() as writer:
        assert isinstance(reader, SQLiteConnection) and isinstance(writer, PostgresConnection)
        tables = await _tables_in_copy_order(reader)
        await _check_target(writer, tables, target.location)
        for table in tables:
            columns = [r[1] for r in await reader.fetch(f"PRAGMA table_info({table})")]
            order = await _primary_key(reader, table) or columns
            count = 0
            while True:
                rows = await reader.fetch(
                    f"SELECT {', '.join(columns)} FROM {table} ORDER BY {', '.join(order)}"
                    " LIMIT $1 OFFSET $2",
                    BATCH,
                    count,
                )
                if not rows:
                    break
                await writer.raw.copy_records_to_table(
                    table, records=[tuple(r) for r in rows], columns=columns
                )
                count += len(rows)
            counts[table] = count
            if progress is not None:
                progress(f"{table}: {count:,} rows")
        await _advance_identities(writer, tables)
        for table, count in counts.items():
            copied = await writer.fetchval(f"SELECT count(*) FROM {table}")
            if copied != count:  # never expected; refuse to commit half a move
                raise StorageError(f"{table}: {count} rows read but {copied} written")
    return Copied(tables=counts, schema_version=source.schema_version)


async def _tables_in_copy_order(reader: SQLiteConnection) -> list[str]:
    """Every table, each after the tables its foreign keys point at."""
    names = [
        r[0]
        for r in await reader.fetch(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name"
        )
    ]
    needs = {
        name: {r[2] for r in await reader.fetch(f"PRAGMA foreign_key_list({name})")} - {name}
        for name in names
    }
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and needs[n] <= set(ordered)]
        if not ready:
            raise StorageError(f"circular foreign keys among {sorted(set(names) - set(ordered))}")
        ordered += ready
    return ordered


async def _primary_key(reader: SQLiteConnection, table: str) -> list[str]:
    info = await reader.fetch(f"PRAGMA table_info({table})")
    return [r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5])]


async def _check_target(writer: PostgresConnection, tables: list[str], where: str) -> None:
    """The target must have exactly these tables, every one of them empty."""
    present = {
        r[0]
        for r in await writer.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )
    } - {VERSION_TABLE}
    if present != set(tables):
        raise UserError(
            f"{where} does not have the same tables as the SQLite database "
            f"(missing: {sorted(set(tables) - present)}, extra: {sorted(present - set(tables))})"
        )
    filled = [t for t in tables if await writer.fetchval(f"SELECT EXISTS (SELECT 1 FROM {t})")]
    if filled:
        raise UserError(
            f"{where} is not empty ({', '.join(filled)} already hold data); "
            "migrate-storage only copies into an empty database, so nothing was copied"
        )


async def _advance_identities(writer: PostgresConnection, tables: list[str]) -> None:
    """The next id of every identity column comes after the copied ones."""
    rows = await writer.fetch(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_identity = 'YES'"
    )
    for table, column in rows:
        if table in tables:
            await writer.fetch(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                f" coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)"
            )
