"""Database: atomic transactions and snapshot isolation on both backends; SQLite's PRAGMAs,
WAL and VACUUM INTO backup; PostgreSQL's pg_dump backup."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest
from storage_builders import integrity_error

from bot.errors import StorageError, UserError
from storage import Database
from storage.database import open_database

INSERT_THREAD = (
    "INSERT INTO threads (scope, name, title, source_kind, created_at, updated_at)"
    " VALUES ('local', $1, 'T', 'text', '2024-01-01T00:00:00+00:00', '2024-01-01T00:00:00+00:00')"
)


async def _names(db: Database) -> list[str]:
    return [r[0] for r in await db.fetch("SELECT name FROM threads ORDER BY name")]


async def test_pragmas_on_write_and_read_connections(sqlite_db: Database) -> None:
    db = sqlite_db
    async with db.transaction() as conn:
        fk = await conn.fetch("PRAGMA foreign_keys")
        mode = await conn.fetch("PRAGMA journal_mode")
        busy = await conn.fetch("PRAGMA busy_timeout")
    assert (fk[0][0], mode[0][0], busy[0][0]) == (1, "wal", 5000)

    assert (await db.fetchrow("PRAGMA foreign_keys"))[0] == 1
    assert (await db.fetchrow("PRAGMA journal_mode"))[0] == "wal"
    assert (await db.fetchrow("PRAGMA busy_timeout"))[0] == 5000
    assert (await db.fetchrow("PRAGMA query_only"))[0] == 1
    async with db.snapshot() as conn:
        assert (await conn.fetch("PRAGMA foreign_keys"))[0][0] == 1


async def test_wal_persists_in_file(sqlite_db: Database, db_path: Path) -> None:
    def mode() -> str:
        with sqlite3.connect(db_path) as conn:
            return conn.execute("PRAGMA journal_mode").fetchone()[0]

    assert await asyncio.to_thread(mode) == "wal"


async def test_a_new_file_gets_big_pages_and_an_old_file_keeps_its_own(tmp_path: Path) -> None:
    from storage.sqlite import PAGE_SIZE

    def page_size(path: Path) -> int:
        with sqlite3.connect(path) as conn:
            return conn.execute("PRAGMA page_size").fetchone()[0]

    new = tmp_path / "new.db"
    db = await open_database(new)
    async with db.transaction() as conn:
        await conn.execute(INSERT_THREAD, "fresh")
    await db.close()
    assert PAGE_SIZE == 16384 and await asyncio.to_thread(page_size, new) == PAGE_SIZE

    old = tmp_path / "old.db"
    with sqlite3.connect(old) as conn:  # a file some earlier threadwise made with 4 KiB pages
        conn.execute("PRAGMA page_size = 4096")
        conn.execute("VACUUM")
    assert old.stat().st_size == 4096  # one page: not a new, empty file
    db = await open_database(old)
    async with db.transaction() as conn:
        await conn.execute(INSERT_THREAD, "older")
    assert await _names(db) == ["older"]
    await db.close()
    assert await asyncio.to_thread(page_size, old) == 4096


async def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(integrity_error(db)):
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO posts (thread_id, number, text, content_hash)"
                " VALUES (999, 1, 'x', 'h')"
            )


async def test_read_connection_cannot_write(sqlite_db: Database) -> None:
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        await sqlite_db.fetch(INSERT_THREAD, "sneaky")


async def test_reader_never_sees_an_open_transaction(db: Database) -> None:
    inside = asyncio.Event()
    release = asyncio.Event()

    async def writer() -> None:
        async with db.transaction() as conn:
            await conn.execute(INSERT_THREAD, "a")
            inside.set()
            await release.wait()
            await conn.execute(INSERT_THREAD, "b")

    task = asyncio.create_task(writer())
    await inside.wait()
    assert await _names(db) == []
    release.set()
    await task
    assert await _names(db) == ["a", "b"]


async def test_exception_rolls_back(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await conn.execute(INSERT_THREAD, "a")
            raise RuntimeError("boom")
    assert await _names(db) == []
    async with db.transaction() as conn:  # the lock and connection are usable again
        await conn.execute(INSERT_THREAD, "b")
    assert await _names(db) == ["b"]


async def test_cancellation_rolls_back(db: Database) -> None:
    inside = asyncio.Event()

    async def writer() -> None:
        async with db.transaction() as conn:
            await conn.execute(INSERT_THREAD, "a")
            inside.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(writer())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _names(db) == []
    async with db.transaction() as conn:
        await conn.execute(INSERT_THREAD, "b")
    assert await _names(db) == ["b"]


async def test_nested_transaction_is_a_savepoint(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute(INSERT_THREAD, "outer")
        with pytest.raises(RuntimeError):
            async with db.transaction() as inner:
                assert inner is conn
                await inner.execute(INSERT_THREAD, "inner")
                raise RuntimeError("inner fails")
        async with db.transaction() as inner:
            await inner.execute(INSERT_THREAD, "kept")
    assert await _names(db) == ["kept", "outer"]


async def test_concurrent_writers_take_turns(db: Database) -> None:
    async def write(name: str) -> None:
        async with db.transaction() as conn:
            await conn.execute(INSERT_THREAD, name)
            await asyncio.sleep(0)

    await asyncio.gather(*(write(f"t{i:02}") for i in range(20)))
    assert await _names(db) == [f"t{i:02}" for i in range(20)]


async def test_second_process_style_connection_waits_instead_of_failing(
    db_target: str | Path,
) -> None:
    async with await open_database(db_target) as one, await open_database(db_target) as two:

        async def slow() -> None:
            async with one.transaction() as conn:
                await conn.execute(INSERT_THREAD, "one")
                await asyncio.sleep(0.2)

        async def fast() -> None:
            await asyncio.sleep(0.05)
            async with two.transaction() as conn:
                await conn.execute(INSERT_THREAD, "two")

        await asyncio.gather(slow(), fast())
        assert await _names(two) == ["one", "two"]


async def test_snapshot_reads_agree(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute(INSERT_THREAD, "a")
    async with db.snapshot() as conn:
        first = await conn.fetch("SELECT count(*) FROM threads")
        async with db.transaction() as w:
            await w.execute(INSERT_THREAD, "b")
        second = await conn.fetch("SELECT count(*) FROM threads")
    assert first[0][0] == second[0][0] == 1
    assert await _names(db) == ["a", "b"]


async def test_close_is_idempotent_and_final(db_target: str | Path) -> None:
    db = await open_database(db_target)
    await db.close()
    await db.close()
    assert db.closed
    with pytest.raises(StorageError, match="closed"):
        await db.fetch("SELECT 1")
    with pytest.raises(StorageError, match="closed"):
        async with db.transaction():
            pass


async def test_in_memory_is_refused() -> None:
    with pytest.raises(StorageError, match="file"):
        await open_database(":memory:")


# --- backup -----------------------------------------------------------------------------------


def _check_copy(path: Path) -> tuple[str, int, int]:
    """integrity_check, user_version and thread count of a backup, read with plain sqlite3."""
    with sqlite3.connect(path) as conn:
        ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        count = conn.execute("SELECT count(*) FROM threads").fetchone()[0]
    conn.close()
    return ok, version, count


async def _count(db: Database) -> int:
    return (await db.fetchrow("SELECT count(*) FROM threads"))[0]


async def test_backup_while_another_task_writes_is_one_committed_state(
    sqlite_db: Database, tmp_path: Path
) -> None:
    db = sqlite_db
    stop = asyncio.Event()
    started = asyncio.Event()

    async def keep_inserting() -> None:
        i = 0
        while not stop.is_set():
            async with db.transaction() as conn:  # two rows per transaction: never split
                await conn.execute(INSERT_THREAD, f"a{i:05}")
                await asyncio.sleep(0)
                await conn.execute(INSERT_THREAD, f"b{i:05}")
            i += 1
            if i == 20:
                started.set()
            await asyncio.sleep(0)

    writer = asyncio.create_task(keep_inserting())
    await started.wait()
    before = await _count(db)
    dest = tmp_path / "backup.db"
    size = await db.backup(dest)
    after = await _count(db)
    for _ in range(5):  # the writer goes on after the backup
        await asyncio.sleep(0.01)
    stop.set()
    await writer

    assert size == dest.stat().st_size > 0
    ok, version, count = await asyncio.to_thread(_check_copy, dest)
    assert ok == "ok"
    assert version == db.schema_version
    assert before <= count <= after and count % 2 == 0
    assert await _count(db) > count
    assert sorted(await asyncio.to_thread(os.listdir, tmp_path)) == ["backup.db", "data"]

    async with await open_database(dest) as copy:
        assert copy.schema_version == db.schema_version
        assert await _count(copy) == count


async def test_backup_refuses_an_existing_file_and_leaves_it_untouched(
    db: Database, tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir(exist_ok=True)
    dest = tmp_path / "keep.db"
    dest.write_bytes(b"precious")
    with pytest.raises(UserError, match="already exists"):
        await db.backup(dest)
    assert dest.read_bytes() == b"precious"
    assert sorted(await asyncio.to_thread(os.listdir, tmp_path)) == ["data", "keep.db"]


async def test_backup_refuses_a_missing_folder(db: Database, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir(exist_ok=True)
    with pytest.raises(UserError, match="does not exist"):
        await db.backup(tmp_path / "nowhere" / "backup.db")
    assert not (tmp_path / "nowhere").exists()


async def test_backup_inside_a_transaction_is_refused(db: Database, tmp_path: Path) -> None:
    async with db.transaction():
        with pytest.raises(StorageError, match="inside a transaction"):
            await db.backup(tmp_path / "backup.db")
    assert not (tmp_path / "backup.db").exists()


async def test_postgresql_backup_is_a_pg_dump_that_pg_restore_reads(
    pg_url: str, pg_server, tmp_path: Path
) -> None:
    import shutil
    import subprocess

    if shutil.which("pg_restore") is None:
        pytest.skip("pg_restore is not installed")
    async with await open_database(pg_url) as db:
        async with db.transaction() as conn:
            await conn.execute(INSERT_THREAD, "kept")
        dest = tmp_path / "dump.pgc"
        size = await db.backup(dest)
        with pytest.raises(UserError, match="already exists"):
            await db.backup(dest)
    assert size == dest.stat().st_size > 0
    listing = await asyncio.to_thread(
        lambda: (
            subprocess.run(
                ["pg_restore", "--list", str(dest)], capture_output=True, text=True, check=True
            ).stdout
        )
    )
    assert "TABLE DATA public threads" in listing
    assert "TABLE DATA public threadwise_schema" in listing
    left = await asyncio.to_thread(lambda: [p.name for p in tmp_path.iterdir()])
    assert left == ["dump.pgc"]  # no temporary file left
