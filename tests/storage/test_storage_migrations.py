"""Migrations: fresh databases, reopening, refusing newer or foreign ones, atomic steps
(SQLite files and PostgreSQL databases alike)."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from storage_builders import make_thread

from bot.core.models import AnalysedThread
from bot.errors import StorageError
from storage import MIGRATIONS, Migration, ThreadRepository
from storage.database import open_database
from storage.dbapi import Connection
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
    async with await open_database(db_path) as db:
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
    async with await open_database(path) as db:
        assert db.schema_version == LATEST


async def test_reopening_keeps_data_and_runs_nothing_again(db_target: str | Path) -> None:
    async with await open_database(db_target) as db:
        await ThreadRepository(db).save("local", "trams", make_thread(3))
    async with await open_database(db_target) as db:
        stored = await ThreadRepository(db).get("local", "trams")
        assert stored is not None and stored.post_count == 3
        assert db.schema_version == LATEST


async def test_newer_schema_is_refused_and_file_left_alone(db_path: Path) -> None:
    async with await open_database(db_path):
        pass
    _sql(db_path, f"PRAGMA user_version = {LATEST + 3}")
    before = _files(db_path)
    with pytest.raises(StorageError) as err:
        await open_database(db_path)
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
        await open_database(path)
    assert _files(path) == before


async def test_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    _sql(path, "CREATE TABLE threads (x)")
    before = _files(path)
    with pytest.raises(StorageError, match="not a threadwise one"):
        await open_database(path)
    assert _files(path) == before  # not even switched to WAL


async def test_directory_path_gives_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError):
        await open_database(tmp_path)


async def _tables_of(db_target: str | Path) -> set[str]:
    """The tables, read as another program would (no threadwise checks on the way)."""
    if isinstance(db_target, Path):
        return _tables(db_target)
    import asyncpg

    conn = await asyncpg.connect(db_target)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {r[0] for r in rows}


async def test_failed_step_rolls_back_with_its_version(db_target: str | Path) -> None:
    async with await open_database(db_target):
        pass
    broken = (
        *MIGRATIONS,
        Migration(
            LATEST + 1,
            "half a step",
            "CREATE TABLE extra (x INTEGER); INSERT INTO nowhere VALUES (1);",
        ),
    )
    with pytest.raises(StorageError, match="half a step"):
        await open_database(db_target, migrations=broken)
    async with await open_database(db_target) as db:
        assert db.schema_version == LATEST
    assert "extra" not in await _tables_of(db_target)


async def test_callable_step_and_sql_step_both_apply(db_target: str | Path) -> None:
    async def add_column(conn: Connection) -> None:
        await conn.execute("ALTER TABLE extra ADD COLUMN y TEXT")

    steps = (
        *MIGRATIONS,
        Migration(LATEST + 1, "extra table", "CREATE TABLE extra (x INTEGER);"),
        Migration(LATEST + 2, "extra column", add_column),
    )
    async with await open_database(db_target, migrations=steps) as db:
        assert db.schema_version == LATEST + 2
        await db.fetch("SELECT x, y FROM extra")  # both columns are there
    # The released code (which knows fewer steps) must now refuse the database.
    with pytest.raises(StorageError, match="newer threadwise"):
        await open_database(db_target)


async def test_a_step_may_carry_postgresql_text_of_its_own(db_target: str | Path) -> None:
    steps = (
        *MIGRATIONS,
        Migration(
            LATEST + 1,
            "dialect table",
            "CREATE TABLE dialect (name TEXT); INSERT INTO dialect VALUES ('sqlite');",
            "CREATE TABLE dialect (name TEXT); INSERT INTO dialect VALUES ('postgresql');",
        ),
    )
    async with await open_database(db_target, migrations=steps) as db:
        assert await db.fetchval("SELECT name FROM dialect") == db.dialect


async def test_foreign_postgresql_database_is_refused(pg_url: str) -> None:
    async with await open_database(pg_url, migrations=()) as db, db.transaction() as conn:
        await conn.execute("CREATE TABLE threads (x INTEGER)")
    with pytest.raises(StorageError, match="not a threadwise one"):
        await open_database(pg_url)
    assert await _tables_of(pg_url) == {"threads"}


async def test_newer_postgresql_schema_is_refused(pg_url: str) -> None:
    async with await open_database(pg_url) as db, db.transaction() as conn:
        await conn.execute(f"UPDATE threadwise_schema SET version = {LATEST + 3}")
    with pytest.raises(StorageError, match=f"newer threadwise \\(schema {LATEST + 3}"):
        await open_database(pg_url)


async def test_an_unreachable_postgresql_server_is_a_clear_error(tmp_path: Path) -> None:
    url = f"postgresql://nobody:secret-pw@/threadwise?host={tmp_path}&port=5999"
    with pytest.raises(StorageError) as err:
        await open_database(url)
    assert "Cannot connect to PostgreSQL" in str(err.value)
    assert "secret-pw" not in str(err.value)


async def test_two_openers_of_a_new_database_migrate_once(db_target: str | Path) -> None:
    first, second = await asyncio.gather(open_database(db_target), open_database(db_target))
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
        for step in (m.step, m.postgres):
            if isinstance(step, str):
                assert "IF NOT EXISTS" not in step.upper()


async def _store_as_schema_7_did(conn: Connection, thread: AnalysedThread) -> None:
    """Write `thread` as ThreadRepository.save wrote it up to schema 7 (no forum numbers
    yet), so older steps can be tested after the repository moved on."""
    thread_id = await conn.fetchval(
        "INSERT INTO threads (scope, name, title, source_kind, source_url, language,"
        " created_at, updated_at) VALUES ('local', 't', $1, $2, $3, $4, $5, $5) RETURNING id",
        thread.title,
        thread.source_kind,
        thread.url,
        thread.language,
        "2024-03-01T12:00:00+00:00",
    )
    for post in thread.posts:
        post_id = await conn.fetchval(
            "INSERT INTO posts (thread_id, number, source_id, author, text, content_hash,"
            " reply_to) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            thread_id,
            post.number,
            post.source_id,
            post.author,
            post.text,
            post.content_hash,
            post.reply_to,
        )
        await conn.executemany(
            "INSERT INTO segments (post_id, seq, paragraph, kind, text, source_post,"
            " source_author, explicit) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            [
                (post_id, seq, g.paragraph, g.kind, g.text, g.source_post, g.source_author,
                 int(g.explicit))
                for seq, g in enumerate(post.segments)
            ],
        )  # fmt: skip
    await conn.executemany(
        "INSERT INTO quote_edges (thread_id, from_post, to_post, count) VALUES ($1, $2, $3, $4)",
        [(thread_id, e.from_post, e.to_post, e.count) for e in thread.edges],
    )


async def test_step_7_drops_reply_counts_from_quote_edges_and_the_cache(
    db_target: str | Path,
) -> None:
    """Up to schema 6 a reply that quoted nothing counted as a quote edge; step 7 keeps
    quote segments only (replies are read from posts.reply_to) and empties the cache."""
    from bot.core.models import Block, PostDoc, ThreadDoc
    from bot.core.quotes import infer_quotes

    long = "Every budget since the flood has pushed the library wing back another year again."
    doc = ThreadDoc(
        title="t",
        source_kind="reddit",
        posts=(
            PostDoc(blocks=(Block(long),), author="ana", source_id="c1"),
            PostDoc(blocks=(Block("No."),), author="bo", source_id="c2", reply_to_source_id="c1"),
            PostDoc(blocks=(Block(long), Block("Yes.")), author="cy", reply_to_source_id="c1"),
        ),
    )
    async with (
        await open_database(db_target, migrations=MIGRATIONS[:6]) as db,
        db.transaction() as conn,
    ):
        await _store_as_schema_7_did(conn, infer_quotes(doc))
        # what schema 6 stored besides: reply 2 → 1 as an edge, a cached report
        await conn.execute("INSERT INTO quote_edges SELECT id, 2, 1, 1 FROM threads")
        await conn.execute(
            "INSERT INTO analysis_cache"
            " SELECT id, 'quotes', 'k', revision, '{}', 'now' FROM threads"
        )
    async with await open_database(db_target) as db:
        repo = ThreadRepository(db)
        assert [(e.from_post, e.to_post, e.count) for e in await repo.edges("local", "t")] == [
            (3, 1, 1)
        ]
        assert [(r.from_post, r.to_post) for r in await repo.replies("local", "t")] == [
            (2, 1),
            (3, 1),
        ]
        assert await db.fetchval("SELECT count(*) FROM analysis_cache") == 0


async def test_step_8_keeps_schema_7_threads_numbered_by_place(db_target: str | Path) -> None:
    """Step 8 adds the forum's own post numbers: a thread stored before it has none, is
    still shown by places, and gets them when it is saved again from a forum."""
    old = make_thread(3)
    async with (
        await open_database(db_target, migrations=MIGRATIONS[:7]) as db,
        db.transaction() as conn,
    ):
        await _store_as_schema_7_did(conn, old)
    async with await open_database(db_target) as db:
        repo = ThreadRepository(db)
        thread = await repo.get("local", "t")
        assert thread is not None and thread.forum_numbers is False
        posts = await repo.posts("local", "t")
        assert [(p.number, p.forum_number) for p in posts] == [(1, None), (2, None), (3, None)]
        numbered = dataclasses.replace(
            old,
            posts=tuple(dataclasses.replace(p, forum_number=10 * p.number) for p in old.posts),
        )
        saved = await repo.save("local", "t", numbered)
        assert saved.updated == 3 and saved.thread.forum_numbers is True
        assert [p.forum_number for p in await repo.posts("local", "t")] == [10, 20, 30]
