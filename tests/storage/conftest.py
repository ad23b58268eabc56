"""Fixtures for the storage tests: a real database file per test, closed afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage import AnalysisCacheRepository, Database, DigestScheduleRepository, ThreadRepository


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "threadwise.db"


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(db_path)
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
