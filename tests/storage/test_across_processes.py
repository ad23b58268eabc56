"""Two processes on one database, played by two Database objects with their own
connections (on PostgreSQL: two pools, really concurrent): the cache is shared, claims
never overlap, and two saves under one name never mix."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from storage_builders import make_post, make_thread

from bot.core.schedule import Cadence
from storage import Database
from storage.database import open_database
from storage.digests import DigestRepository, db_instant
from storage.repositories import AnalysisCacheRepository, NameTaken, ThreadRepository

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
async def two(db_target: str | Path) -> AsyncIterator[tuple[Database, Database]]:
    one = await open_database(db_target)
    other = await open_database(db_target)
    try:
        yield one, other
    finally:
        await one.close()
        await other.close()


async def test_a_result_cached_by_one_process_is_read_by_another(
    two: tuple[Database, Database],
) -> None:
    one, other = two
    saved = await ThreadRepository(one).save("local", "trams", make_thread(4))
    stored = await AnalysisCacheRepository(one).put(
        "local", "trams", "summary", "k", '{"s": 1}', revision=saved.thread.revision
    )
    assert stored
    assert await AnalysisCacheRepository(other).get("local", "trams", "summary", "k") == '{"s": 1}'
    await ThreadRepository(other).save("local", "trams", make_thread(5))  # a new revision
    assert await AnalysisCacheRepository(one).get("local", "trams", "summary", "k") is None


async def test_claims_made_at_once_by_two_processes_never_overlap(
    two: tuple[Database, Database],
) -> None:
    one, other = two
    await ThreadRepository(one).save("local", "trams", make_thread(3))
    first = DigestRepository(one, clock=lambda: NOW - timedelta(days=2))
    cadence = Cadence("daily", "UTC", time_of_day="09:00")
    ids = [(await first.add("local", ["trams"], "local", cadence)).id for _ in range(30)]
    async with one.transaction() as conn:
        await conn.execute("UPDATE digest_schedules SET next_run_at = $1", db_instant(NOW))

    async def drain(db: Database) -> list[int]:
        repo, got = DigestRepository(db), []
        while claim := await repo.claim_next(NOW, ["local"]):
            got.append(claim.schedule.id)
            await asyncio.sleep(0)
        return got

    a, b = await asyncio.gather(drain(one), drain(other))
    assert sorted(a + b) == sorted(ids)
    assert not set(a) & set(b)
    # A claim by id races the same way: one winner.
    await DigestRepository(one).set_enabled("local", ids[0], True)
    async with one.transaction() as conn:
        await conn.execute(
            "UPDATE digest_schedules SET next_run_at = $1, claimed_until = NULL WHERE id = $2",
            db_instant(NOW),
            ids[0],
        )
    won = await asyncio.gather(
        *(DigestRepository(db).claim(ids[0], NOW) for db in (one, other, one, other))
    )
    assert sum(c is not None for c in won) == 1


async def test_two_saves_under_one_name_at_once_never_mix(
    two: tuple[Database, Database],
) -> None:
    one, other = two
    trams = make_thread(
        0, title="Trams", posts=tuple(make_post(i, text=f"tram {i}") for i in range(1, 41))
    )
    bins = make_thread(
        0, title="Bins", posts=tuple(make_post(i, text=f"bin {i}") for i in range(1, 31))
    )
    for _ in range(4):
        results = await asyncio.gather(
            ThreadRepository(one).save("local", "shared", trams, expect=0),
            ThreadRepository(other).save("local", "shared", bins, expect=0),
            return_exceptions=True,
        )
        assert sum(isinstance(r, NameTaken) for r in results) == 1, results
        posts = await ThreadRepository(one).posts("local", "shared")
        words = {p.segments[-1].text.split()[0] for p in posts}
        assert words in ({"tram"}, {"bin"})
        assert len(posts) == (40 if words == {"tram"} else 30)
        assert await ThreadRepository(other).forget("local", "shared")
