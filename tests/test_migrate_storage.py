"""`threadwise migrate-storage --to URL`: an SQLite database copied into an empty PostgreSQL
one (every table, the same answers afterwards), and refused when the target holds data."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import asyncpg

from storage.commands import CommandRepository, MatrixOutboxRepository
from storage.database import open_database
from tests.conftest import EXAMPLE_TEXT
from tests.test_postgres_processes import json_thread, pg_config, sqlite_config, tw


def sqlite_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with closing(sqlite3.connect(path)) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}


async def postgres_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    conn = await asyncpg.connect(url)
    try:
        tables = [
            r[0]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                " AND tablename <> 'threadwise_schema'"
            )
        ]
        return {
            t: sorted((tuple(r) for r in await conn.fetch(f"SELECT * FROM {t}")), key=repr)
            for t in tables
        }
    finally:
        await conn.close()


ASKED = (
    ("summary", "example"),
    ("quotes", "example"),
    ("stance", "example"),
    ("show", "example"),
    ("show", "chat", "--post", "2"),
    ("threads",),
    ("digest", "list"),
)


def test_every_table_is_copied_and_the_answers_stay_the_same(tmp_path: Path, pg_url: str) -> None:
    lite = sqlite_config(tmp_path)
    assert tw(lite, "ingest", str(EXAMPLE_TEXT), "--name", "example").code == 0
    json_thread(tmp_path / "chat.json", "Bins on the ring road", "bin", 12)
    assert tw(lite, "ingest", str(tmp_path / "chat.json"), "--name", "chat").code == 0
    added = tw(lite, "digest", "add", "example", "chat", "--at", "07:30", "--tz", "Europe/Oslo")
    assert added.code == 0, added.err
    before = {" ".join(a): tw(lite, *a, "--json").json() for a in ASKED}  # fills the cache

    moved = tw(lite, "migrate-storage", "--to", pg_url, "--json")
    assert moved.code == 0, moved.err
    report = moved.json()
    assert report["tables"]["threads"] == 2 and report["tables"]["analysis_cache"] >= 3

    rows = sqlite_rows(tmp_path / "threadwise.db")
    assert asyncio.run(postgres_rows(pg_url)) == rows
    assert sum(len(v) for v in rows.values()) == report["rows"]

    pg = pg_config(tmp_path, pg_url)
    after = {" ".join(a): tw(pg, *a, "--json").json() for a in ASKED}
    assert after == before
    # New rows get new ids after the copied ones.
    assert tw(pg, "ingest", str(tmp_path / "chat.json"), "--name", "chat2").code == 0
    again = tw(pg, "digest", "add", "chat2", "--at", "08:00", "--tz", "UTC", "--json")
    assert again.code == 0, again.err
    assert again.json()["id"] == before["digest list"][0]["id"] + 1


def test_open_commands_and_waiting_matrix_answers_move_with_the_data(
    tmp_path: Path, pg_url: str
) -> None:
    """A bot stopped with a command open and an answer still queued: after the move, the
    PostgreSQL bot finds both, and its next records get ids after the copied ones."""
    bot = "@bot:example.org"

    async def leave_work_behind() -> tuple[int, int]:
        db = await open_database(tmp_path / "threadwise.db")
        try:
            commands = CommandRepository(db, "matrix", bot)
            done = await commands.accept("$done", "matrix:!a", "answering a", {"room_id": "!a"})
            cut = await commands.accept("$cut", "matrix:!a", "ingesting b", {"room_id": "!a"})
            assert done is not None and cut is not None
            outbox = MatrixOutboxRepository(db, bot)
            (queued,) = await outbox.add("!a", [("tx-1", {"body": "answer a"})], done)
            await commands.finish(done)
            return cut, queued
        finally:
            await db.close()

    async def resume() -> None:
        db = await open_database(pg_url)
        try:
            commands = CommandRepository(db, "matrix", bot)
            (still,) = await commands.unfinished()
            assert (still.id, still.key, still.reply_to) == (cut, "$cut", {"room_id": "!a"})
            assert await commands.accept("$cut", "matrix:!a", "ingesting b") is None
            outbox = MatrixOutboxRepository(db, bot)
            waiting = await outbox.next_for("!a")
            assert waiting is not None and (waiting.id, waiting.tx_id) == (queued, "tx-1")
            assert waiting.content == {"body": "answer a"}
            new = await commands.accept("$new", "matrix:!a", "answering c")
            assert new is not None and new > cut
            (later,) = await outbox.add("!a", [("tx-2", {"body": "answer c"})], new)
            assert later > queued
        finally:
            await db.close()

    cut, queued = asyncio.run(leave_work_behind())
    moved = tw(sqlite_config(tmp_path), "migrate-storage", "--to", pg_url, "--json")
    assert moved.code == 0, moved.err
    tables = moved.json()["tables"]
    assert (tables["bot_commands"], tables["matrix_outbox"]) == (2, 1)
    assert asyncio.run(postgres_rows(pg_url)) == sqlite_rows(tmp_path / "threadwise.db")
    asyncio.run(resume())


def test_a_target_with_data_is_refused_and_left_alone(tmp_path: Path, pg_url: str) -> None:
    lite = sqlite_config(tmp_path)
    assert tw(lite, "ingest", str(EXAMPLE_TEXT), "--name", "example").code == 0
    pg = pg_config(tmp_path, pg_url)
    json_thread(tmp_path / "chat.json", "Bins on the ring road", "bin", 5)
    assert tw(pg, "ingest", str(tmp_path / "chat.json"), "--name", "chat").code == 0
    before = asyncio.run(postgres_rows(pg_url))

    refused = tw(lite, "migrate-storage", "--to", pg_url)
    assert refused.code == 1
    assert "is not empty (" in refused.err and "threads," in refused.err
    assert "nothing was copied" in refused.err
    assert asyncio.run(postgres_rows(pg_url)) == before


def test_a_missing_target_or_source_is_a_clear_error(tmp_path: Path, pg_url: str) -> None:
    lite = sqlite_config(tmp_path)
    no_target = tw(lite, "migrate-storage")
    assert no_target.code == 1 and "--to postgresql://" in no_target.err
    no_source = tw(lite, "migrate-storage", "--to", pg_url)
    assert no_source.code == 1 and "There is no SQLite database" in no_source.err
