"""Fixtures for the storage tests: each test runs on a real SQLite file AND on a real
PostgreSQL database (a fresh one per test, on the session's server), closed afterwards.

Tests of one backend's own machinery (WAL, VACUUM INTO, user_version) take `sqlite_db`
or `db_path`; everything else takes `db` and runs twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage import AnalysisCacheRepository, Database, DigestScheduleRepository, ThreadRepository
from storage.database import open_database

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "threadwise.db"


@pytest.fixture(params=BACKENDS)
def db_target(request: pytest.FixtureRequest, db_path: Path) -> str | Path:
    """Where a test's database lives: an SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return db_path
    return request.getfixturevalue("pg_url")


@pytest.fixture
async def db(db_target: str | Path) -> AsyncIterator[Database]:
    database = await open_database(db_target)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def sqlite_db(db_path: Path) -> AsyncIterator[Database]:
    database = await open_database(db_path)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def threads(db: Database) -> ThreadRepository:
    return ThreadRepository(db)


@pytest.fixture
def cache(db: Database) -> AnalysisCacheRepository:
    return AnalysisCacheRepository(db)


@pytest.fixture
def schedules(db: Database) -> DigestScheduleRepository:
    return DigestScheduleRepository(db)
