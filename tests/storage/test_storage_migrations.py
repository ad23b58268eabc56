"""Migrations: fresh files, reopening, refusing newer or foreign files, atomic steps."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import aiosqlite
import pytest
from storage_builders import make_thread

from bot.errors import StorageError
from storage import MIGRATIONS, Database, Migration, ThreadRepository
from storage.migrations import check_sequence, latest_version, split_statements

LATEST = latest_version()


def _sql(path: Path, sql: str) -> list[tuple]:
    """A plain sqlite3 connection, as another program (or an older tool) would use."""
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute(sql).fetchall()
        conn.commit()
        return rows


def _user_version(path: Path) -> int:
    return _sql(path, "PRAGMA user_version")[0][0]


def _tables(path: Path) -> set[str]:
    return {r[0] for r in _sql(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}


def _files(path: Path) -> dict[str, bytes]:
    """The database file and any -wal/-shm companions, byte for byte."""
    return {p.name: p.read_bytes() for p in sorted(path.parent.glob(path.name + "*"))}


async def test_fresh_file_gets_every_migration(db_path: Path) -> None:
    assert not db_path.parent.exists()
    async with await Database.open(db_path) as db:
        assert db.schema_version == LATEST
    assert _user_version(db_path) == LATEST
    assert {
        "threads",
        "posts",
        "segments",
        "quote_edges",
        "analysis_cache",
        "digest_schedules",
    } <= (_tables(db_path))


async def test_empty_existing_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    async with await Database.open(path) as db:
        assert db.schema_version == LATEST


async def test_reopening_keeps_data_and_runs_nothing_again(db_path: Path) -> None:
    async with await Database.open(db_path) as db:
        await ThreadRepository(db).save("local", "trams", make_thread(3))
    async with await Database.open(db_path) as db:
        stored = await ThreadRepository(db).get("local", "trams")
        assert stored is not None and stored.post_count == 3
        assert db.schema_version == LATEST


async def test_newer_schema_is_refused_and_file_left_alone(db_path: Path) -> None:
    async with await Database.open(db_path):
        pass
    _sql(db_path, f"PRAGMA user_version = {LATEST + 3}")
    before = _files(db_path)
    with pytest.raises(StorageError) as err:
        await Database.open(db_path)
    assert str(err.value) == (
        f"This database was written by a newer threadwise (schema {LATEST + 3}, this version "
        f"knows {LATEST}); upgrade threadwise or use another --db file."
    )
    assert _files(db_path) == before


async def test_text_file_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 200)
    before = _files(path)
    with pytest.raises(StorageError, match="not a usable threadwise database"):
        await Database.open(path)
    assert _files(path) == before


async def test_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    _sql(path, "CREATE TABLE threads (x)")
    before = _files(path)
    with pytest.raises(StorageError, match="not a threadwise one"):
        await Database.open(path)
    assert _files(path) == before  # not even switched to WAL


async def test_directory_path_gives_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError):
        await Database.open(tmp_path)


async def test_failed_step_rolls_back_with_its_version(db_path: Path) -> None:
    async with await Database.open(db_path):
        pass
    broken = (
        *MIGRATIONS,
        Migration(
            LATEST + 1, "half a step", "CREATE TABLE extra (x); INSERT INTO nowhere VALUES (1);"
        ),
    )
    with pytest.raises(StorageError, match="half a step"):
        await Database.open(db_path, migrations=broken)
    assert _user_version(db_path) == LATEST
    assert "extra" not in _tables(db_path)


async def test_callable_step_and_sql_step_both_apply(db_path: Path) -> None:
    async def add_column(conn: aiosqlite.Connection) -> None:
        await conn.execute("ALTER TABLE extra ADD COLUMN y TEXT")

    steps = (
        *MIGRATIONS,
        Migration(LATEST + 1, "extra table", "CREATE TABLE extra (x INTEGER);"),
        Migration(LATEST + 2, "extra column", add_column),
    )
    async with await Database.open(db_path, migrations=steps) as db:
        assert db.schema_version == LATEST + 2
        rows = await db.fetchall("SELECT name FROM pragma_table_info('extra')")
        assert [r[0] for r in rows] == ["x", "y"]
    # The released code (which knows fewer steps) must now refuse the file.
    with pytest.raises(StorageError, match="newer threadwise"):
        await Database.open(db_path)


async def test_two_openers_of_a_new_file_migrate_once(db_path: Path) -> None:
    first, second = await asyncio.gather(Database.open(db_path), Database.open(db_path))
    try:
        assert first.schema_version == second.schema_version == LATEST
    finally:
        await first.close()
        await second.close()


def test_split_statements_keeps_triggers_strings_and_comments_whole() -> None:
    sql = """
    -- a comment; with a semicolon
    CREATE TABLE a (x TEXT DEFAULT 'x;y');
    CREATE TRIGGER t AFTER INSERT ON a BEGIN
        UPDATE a SET x = 'z'; DELETE FROM a WHERE 0;
    END;
    -- trailing comment
    """
    statements = split_statements(sql)
    assert len(statements) == 2
    assert "'x;y'" in statements[0]
    assert statements[1].rstrip().endswith("END;")
    with pytest.raises(ValueError, match="incomplete"):
        split_statements("CREATE TABLE b (x); CREATE TABLE c (x DEFAULT 'oops)")


def test_migration_versions_must_be_consecutive() -> None:
    check_sequence(MIGRATIONS)
    with pytest.raises(ValueError):
        check_sequence((Migration(1, "a", ""), Migration(3, "b", "")))


def test_schema_is_not_recreated_at_boot() -> None:
    """Migrations are the only schema source: no IF NOT EXISTS crutch."""
    for m in MIGRATIONS:
        if isinstance(m.step, str):
            assert "IF NOT EXISTS" not in m.step.upper()
