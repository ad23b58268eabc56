"""Digest schedules (schema 3) on real SQLite files and PostgreSQL databases: upgrade,
scopes, claims, one-commit runs."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from storage_builders import integrity_error, make_thread

from bot.core.schedule import Cadence
from bot.errors import NotFound
from storage import MIGRATIONS, Database, DigestScheduleRepository, ThreadRepository
from storage.database import open_database
from storage.digests import ClaimLost, DigestRepository, ReadMarkRepository, db_instant

A, B = "discord:1", "matrix:!room:example.org"
DAILY = Cadence("daily", "Europe/Berlin", time_of_day="09:00")
T0 = datetime(2025, 3, 28, 12, 0, tzinfo=UTC)
FIRST_SLOT = datetime(2025, 3, 29, 8, 0, tzinfo=UTC)  # 09:00 CET


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def digests(db: Database, clock: Clock) -> DigestRepository:
    return DigestRepository(db, clock=clock)


# --- upgrading ------------------------------------------------------------------------------


async def test_schema_2_schedules_survive_the_upgrade(db_target: str | Path) -> None:
    # Raw SQL: today's repositories expect today's schema.
    old = await open_database(db_target, migrations=MIGRATIONS[:2])
    async with old, old.transaction() as conn:
        await conn.execute(
            "INSERT INTO threads (id, scope, name, title, source_kind, created_at, updated_at)"
            " VALUES (1, 'local', 'trams', 'Trams', 'text', $1, $1), (2, $2, 'buses', 'Buses',"
            " 'text', $1, $1)",
            "2025-01-01T00:00:00+00:00",
            A,
        )
        await conn.execute(
            "INSERT INTO digest_schedules (scope, thread_id, target, time_of_day, timezone,"
            " cadence, weekday, last_post_seen, last_run_at, enabled, created_by, created_at)"
            " VALUES ('local', 1, 'term', '08:30', 'Europe/Berlin', 'weekly', 4, 3,"
            " '2025-03-01T07:30:00+00:00', 1, 'me', '2025-01-01T00:00:00+00:00'),"
            " ($1, 2, 'chan', '09:00', 'UTC', 'daily', NULL, 0, NULL, 0, NULL,"
            " '2025-01-02T00:00:00+00:00')",
            A,
        )
        if old.dialect == "postgresql":  # explicit ids leave the identity sequence behind
            await conn.fetch("SELECT setval(pg_get_serial_sequence('threads', 'id'), 2)")
    async with await open_database(db_target) as db:
        assert db.schema_version == len(MIGRATIONS) >= 3
        legacy = await DigestScheduleRepository(db).list("local")
        assert [(s.id, s.thread_name, s.cadence, s.weekday, s.last_post_seen) for s in legacy] == [
            (1, "trams", "weekly", 4, 3)
        ]
        assert legacy[0].created_by == "me"
        assert legacy[0].last_run_at == datetime(2025, 3, 1, 7, 30, tzinfo=UTC)
        (other,) = await DigestRepository(db).list(A)
        assert (other.id, other.enabled, other.threads[0].name) == (2, False, "buses")
        # Old rows have no next run yet: the scheduler plans one from now, not from the past.
        (local,) = await DigestRepository(db).list("local")
        assert local.next_run_at is None
        assert await DigestRepository(db).plan_missing(T0) == 1  # the disabled one waits
        (local,) = await DigestRepository(db).list("local")
        assert local.next_run_at == datetime(2025, 4, 4, 6, 30, tzinfo=UTC)  # Friday 08:30 CEST
        # A new schedule gets a new id (the copied ids did not stall the id sequence).
        await ThreadRepository(db).save("local", "ferries", make_thread(1))
        fresh = await DigestRepository(db).add("local", ["ferries"], "term", DAILY)
        assert fresh.id == 3
    if not isinstance(db_target, Path):
        return
    with closing(sqlite3.connect(db_target)) as raw:
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
        fks = raw.execute("PRAGMA foreign_key_list(digest_schedule_threads)").fetchall()
        assert {r[2] for r in fks} == {"digest_schedules", "threads"}


# --- managing ---------------------------------------------------------------------------------


async def test_add_list_get_remove_with_several_threads(
    threads: ThreadRepository, digests: DigestRepository
) -> None:
    await threads.save("local", "trams", make_thread(4))
    await threads.save("local", "buses", make_thread(2, title="Buses"))
    s = await digests.add("local", ["trams", "buses", "trams"], "local", DAILY, created_by="me")
    assert [(t.name, t.mark, t.position) for t in s.threads] == [("trams", 4, 0), ("buses", 2, 1)]
    assert (s.next_run_at, s.enabled, s.quiet_line, s.created_by) == (FIRST_SLOT, True, False, "me")
    whole = await digests.add("local", ["buses"], "local", DAILY, start_from_latest=False)
    assert whole.threads[0].mark == 0
    assert [x.id for x in await digests.list("local")] == [s.id, whole.id]
    assert await digests.get("local", s.id) == s
    assert await digests.remove("local", s.id)
    assert await digests.get("local", s.id) is None
    assert not await digests.remove("local", s.id)
    with pytest.raises(NotFound):
        await digests.add("local", ["trams", "nope"], "local", DAILY)
    with pytest.raises(ValueError, match="target"):
        await digests.add("local", ["trams"], " ", DAILY)
    with pytest.raises(ValueError, match="at least one"):
        await digests.add("local", [], "local", DAILY)


async def test_scopes_never_see_or_touch_each_others_schedules(
    threads: ThreadRepository, digests: DigestRepository, clock: Clock
) -> None:
    await threads.save(A, "trams", make_thread(3))
    await threads.save(B, "trams", make_thread(3))
    mine = await digests.add(A, ["trams"], "123", DAILY)
    with pytest.raises(NotFound):
        await digests.add("local", ["trams"], "local", DAILY)  # A's thread is not local's
    assert await digests.list(B) == []
    assert await digests.get(B, mine.id) is None
    assert not await digests.remove(B, mine.id)
    assert not await digests.set_enabled(B, mine.id, False)
    assert not await digests.set_mark(B, mine.id, None, 1)
    assert await digests.runs(B, mine.id) == []
    assert (await digests.get(A, mine.id)) == mine
    # The scheduler's own query crosses scopes, but only for the platforms asked for.
    clock.now = FIRST_SLOT
    assert [s.id for s in await digests.due(FIRST_SLOT)] == [mine.id]
    assert await digests.due(FIRST_SLOT, ["matrix", "local"]) == []
    assert [s.id for s in await digests.due(FIRST_SLOT, ["discord"])] == [mine.id]
    assert await digests.next_due_at(["discord"]) == FIRST_SLOT
    assert await digests.next_due_at(["local"]) is None


async def test_forgetting_threads_shrinks_then_removes_the_schedule(
    db: Database, threads: ThreadRepository, digests: DigestRepository
) -> None:
    await threads.save("local", "trams", make_thread(3))
    await threads.save("local", "buses", make_thread(3, title="Buses"))
    s = await digests.add("local", ["trams", "buses"], "local", DAILY)
    await threads.forget("local", "trams")
    left = await digests.get("local", s.id)
    assert left is not None and [t.name for t in left.threads] == ["buses"]
    await threads.forget("local", "buses")
    assert await digests.get("local", s.id) is None
    assert await db.fetch("SELECT * FROM digest_schedule_threads") == []


async def test_pause_and_resume(
    threads: ThreadRepository, digests: DigestRepository, clock
) -> None:
    await threads.save("local", "trams", make_thread(3))
    s = await digests.add("local", ["trams"], "local", DAILY)
    assert await digests.set_enabled("local", s.id, False)
    clock.now = datetime(2025, 4, 2, 12, tzinfo=UTC)
    assert await digests.due(clock.now) == []
    assert await digests.set_enabled("local", s.id, True)
    resumed = await digests.get("local", s.id)
    assert resumed is not None and resumed.enabled
    assert resumed.next_run_at == datetime(2025, 4, 3, 7, tzinfo=UTC)  # from now, not March


# --- claims and deliveries --------------------------------------------------------------------


async def test_only_one_claim_wins_until_the_lease_ends(
    threads: ThreadRepository, digests: DigestRepository
) -> None:
    await threads.save("local", "trams", make_thread(3))
    s = await digests.add("local", ["trams"], "local", DAILY)
    assert await digests.claim(s.id, FIRST_SLOT - timedelta(seconds=1)) is None  # not due yet
    claims = await asyncio.gather(*(digests.claim(s.id, FIRST_SLOT) for _ in range(5)))
    won = [c for c in claims if c is not None]
    assert len(won) == 1 and won[0].slot == FIRST_SLOT
    assert await digests.due(FIRST_SLOT + timedelta(minutes=9)) == []
    later = FIRST_SLOT + timedelta(minutes=10)  # the default lease is over
    again = await digests.claim(s.id, later)
    assert again is not None and again.token != won[0].token
    # The first worker's lease is gone: it can neither start nor finish a delivery.
    with pytest.raises(ClaimLost):
        await digests.begin_delivery(won[0], 1, {})
    assert not await digests.complete(
        won[0], marks={}, next_run_at=later + timedelta(days=1), status="sent"
    )
    assert not await digests.fail(won[0], "x", later)
    assert not await digests.disable(won[0], "x")


async def test_begin_delivery_commits_before_publishing(
    threads: ThreadRepository, digests: DigestRepository, clock: Clock
) -> None:
    await threads.save("local", "trams", make_thread(3))
    s = await digests.add("local", ["trams"], "local", DAILY)
    await threads.save("local", "trams", make_thread(6))
    clock.now = FIRST_SLOT
    claim = await digests.claim(s.id, FIRST_SLOT)
    assert claim is not None
    delivery = await digests.begin_delivery(claim, 3, {"trams": (4, 6)})
    assert delivery.attempt == 1
    (run,) = await digests.runs("local", s.id)
    assert (run.status, run.covered, run.message_id, run.slot) == (
        "sending",
        {"trams": (4, 6)},
        None,
        FIRST_SLOT,
    )
    assert claim.key == f"digest-{s.id}-2025-03-29T08:00:00.000000+00:00"


async def test_a_failing_complete_changes_nothing(
    db: Database, threads: ThreadRepository, digests: DigestRepository, clock: Clock
) -> None:
    t = await threads.save("local", "trams", make_thread(3))
    s = await digests.add("local", ["trams"], "local", DAILY)
    clock.now = FIRST_SLOT
    claim = await digests.claim(s.id, FIRST_SLOT)
    assert claim is not None
    before = await db.fetch("SELECT * FROM digest_schedules")
    with pytest.raises(integrity_error(db)):
        await digests.complete(
            claim,
            marks={t.thread.id: 3},
            next_run_at=FIRST_SLOT + timedelta(days=1),
            status="bogus",  # type: ignore[arg-type]  # rejected by the runs CHECK, last
        )
    assert [tuple(r) for r in await db.fetch("SELECT * FROM digest_schedules")] == [
        tuple(r) for r in before
    ]
    assert (await digests.get("local", s.id)).threads[0].mark == 3  # type: ignore[union-attr]


async def test_sent_run_moves_marks_and_frees_the_schedule(
    threads: ThreadRepository, digests: DigestRepository, clock: Clock
) -> None:
    t = await threads.save("local", "trams", make_thread(3))
    s = await digests.add("local", ["trams"], "local", DAILY)
    clock.now = FIRST_SLOT
    claim = await digests.claim(s.id, FIRST_SLOT)
    assert claim is not None
    await digests.begin_delivery(claim, 2, {"trams": (4, 5)})
    nxt = FIRST_SLOT + timedelta(hours=23)
    assert await digests.complete(
        claim,
        marks={t.thread.id: 5},
        next_run_at=nxt,
        status="sent",
        message_id="m1",
        new_posts=2,
        covered={"trams": (4, 5)},
    )
    done = await digests.get("local", s.id)
    assert done is not None
    assert (done.threads[0].mark, done.next_run_at, done.last_run_at) == (5, nxt, FIRST_SLOT)
    assert (done.claimed_until, done.failures, done.last_error) == (None, 0, None)
    (run,) = await digests.runs("local", s.id)
    assert (run.status, run.message_id, run.new_posts, run.attempts) == ("sent", "m1", 2, 1)
    # A mark never moves back, even if a late writer says so.
    claim2 = await digests.claim(s.id, nxt)
    assert claim2 is not None
    await digests.complete(
        claim2, marks={t.thread.id: 1}, next_run_at=nxt + timedelta(days=1), status="empty"
    )
    assert (await digests.get("local", s.id)).threads[0].mark == 5  # type: ignore[union-attr]


async def test_retrying_a_slot_counts_attempts(
    threads: ThreadRepository, digests: DigestRepository, clock: Clock
) -> None:
    await threads.save("local", "trams", make_thread(3))
    s = await digests.add("local", ["trams"], "local", DAILY)
    first = await digests.claim(s.id, FIRST_SLOT)
    assert first is not None
    assert (await digests.begin_delivery(first, 1, {})).attempt == 1
    # The worker dies here. After the lease, the same slot is claimed and tried again.
    later = FIRST_SLOT + timedelta(minutes=11)
    second = await digests.claim(s.id, later)
    assert second is not None and second.slot == first.slot and second.key == first.key
    assert (await digests.begin_delivery(second, 1, {})).attempt == 2


async def test_fail_backs_off_and_disable_stops(
    threads: ThreadRepository, digests: DigestRepository
) -> None:
    await threads.save("local", "trams", make_thread(3))
    s = await digests.add("local", ["trams"], "local", DAILY)
    claim = await digests.claim(s.id, FIRST_SLOT)
    assert claim is not None
    retry = FIRST_SLOT + timedelta(minutes=5)
    assert await digests.fail(claim, "boom", retry)
    failed = await digests.get("local", s.id)
    assert failed is not None
    assert (failed.failures, failed.last_error, failed.next_run_at) == (1, "boom", FIRST_SLOT)
    assert await digests.due(retry - timedelta(seconds=1)) == []
    assert [x.id for x in await digests.due(retry)] == [s.id]
    claim = await digests.claim(s.id, retry)
    assert claim is not None
    assert await digests.disable(claim, "target gone (403)")
    off = await digests.get("local", s.id)
    assert off is not None and not off.enabled and off.last_error == "target gone (403)"
    assert await digests.due(retry + timedelta(days=30)) == []
    assert [r.status for r in await digests.runs("local", s.id)] == ["target_gone"]


async def test_instants_sort_as_text() -> None:
    early = datetime(2025, 3, 30, 1, 0, 0, tzinfo=UTC)
    assert db_instant(early) < db_instant(early + timedelta(microseconds=1))
    assert db_instant(early.astimezone(UTC)) == "2025-03-30T01:00:00.000000+00:00"


# --- read marks -------------------------------------------------------------------------------


async def test_read_marks_per_user_thread_and_scope(db: Database, threads: ThreadRepository):
    marks = ReadMarkRepository(db)
    await threads.save(A, "trams", make_thread(5))
    await threads.save(B, "trams", make_thread(5))
    assert await marks.get(A, "u1", "trams") is None
    assert await marks.advance(A, "u1", "trams", 3) == 3
    assert await marks.advance(A, "u1", "trams", 2) == 3  # never back
    assert await marks.advance(A, "u2", "trams", 5) == 5
    assert await marks.get(A, "u1", "trams") == 3
    assert await marks.get(B, "u1", "trams") is None
    with pytest.raises(NotFound):
        await marks.advance("local", "u1", "trams", 1)
    assert await marks.forget_user(A, "u2") == 1
    assert await marks.get(A, "u2", "trams") is None
    await threads.forget(A, "trams")
    assert await db.fetch("SELECT * FROM read_marks WHERE scope = $1", A) == []
