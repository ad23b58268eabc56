"""The digest loop on real SQLite files with an injected clock: once per slot, no matter what.

Threads are small JSON copies of an original thread (below) ingested through
Services.ingest_bytes; a longer copy stands for posts that arrived between two runs.
Publishers are in-process recorders: the Discord and Matrix ones are tested by their owners.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import bot.usecases.analysis as analysis_module
import bot.usecases.scheduler as scheduler_module
from bot.core.digest import Digest, digest_answer, thread_digest
from bot.core.models import QuoteEdge, Segment, StoredPost, StoredThread
from bot.core.render import Answer
from bot.core.schedule import Cadence, parse_cadence
from bot.core.summary import SENTENCE_CAPS
from bot.errors import NotFound
from bot.settings import Settings
from bot.usecases.scheduler import RunReport, Scheduler, TargetGone
from bot.usecases.services import Services
from storage.database import open_database
from storage.digests import DigestRepository

SCOPE = "discord:42"
ROTA = [  # an original thread, written for these tests
    ("mira", "The allotment committee wants a watering rota for the dry weeks of July. "
     "Each plot holder would take two evenings, and the hose stays locked in the shed "
     "otherwise. Please say which evenings suit you before the meeting on Friday."),
    ("tomas", "Two evenings is fine for me, but the shed lock has been broken since the "
     "spring storm. Somebody should replace it before we rely on it. I can take Mondays "
     "and Thursdays."),
    ("june", "tomas said:\n> the shed lock has been broken since the spring storm\nThat is "
     "true, and the spare key vanished as well. I will buy a combination padlock this "
     "weekend and post the code on the noticeboard. Wednesdays suit me for watering."),
    ("mira", "Thank you both. Mondays, Wednesdays and Thursdays are covered now. We still "
     "need people for Tuesday, Friday and the weekend evenings."),
    ("olek", "mira said:\n> We still need people for Tuesday, Friday and the weekend "
     "evenings.\nI will do Tuesdays and Saturdays. The rain barrels by the gate are nearly "
     "full, so we could water from them first and save the mains supply."),
    ("june", "Rain barrels first is a sensible rule. We should add a funnel so the watering "
     "cans fill without spilling half the water on the path."),
    ("tomas", "olek said:\n> The rain barrels by the gate are nearly full\nThey overflow "
     "after every storm, so a second barrel near the compost heap would help. I can bring "
     "one from my cousin's farm next week."),
    ("mira", "Friday and Sunday are still open. If nobody volunteers by the meeting, the "
     "committee will split them between the four of us."),
]  # fmt: skip
BERLIN_DAILY = Cadence("daily", "Europe/Berlin", time_of_day="09:00")
T0 = datetime(2025, 3, 28, 12, tzinfo=UTC)  # a Friday; Berlin springs forward on the 30th
SLOT1 = datetime(2025, 3, 29, 8, tzinfo=UTC)  # 09:00 CET
SLOT2 = datetime(2025, 3, 30, 7, tzinfo=UTC)  # 09:00 CEST
SLOT3 = datetime(2025, 3, 31, 7, tzinfo=UTC)


def rota_copy(
    posts: int, *, url: str | None = None, title: str = "Watering rota for July"
) -> bytes:
    """The first `posts` posts of the rota thread, in the generic JSON format."""
    doc: dict[str, Any] = {
        "title": title,
        "posts": [
            {"author": a, "text": t, "url": f"https://garden.example/rota#p{i}"}
            for i, (a, t) in enumerate(ROTA[:posts], start=1)
        ],
    }
    if url:
        doc["url"] = url
    return json.dumps(doc).encode()


class FakeTime:
    """An injected clock whose sleep moves time instead of waiting."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


class Recorder:
    """A Publisher that remembers what it posted and when (a plain, non-idempotent one)."""

    def __init__(self, clock: FakeTime | None = None, delay: float = 0.0) -> None:
        self.clock = clock
        self.delay = delay
        self.sent: list[tuple[str, Answer]] = []
        self.at: list[datetime] = []

    async def publish(self, target: str, answer: Answer) -> str | None:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.sent.append((target, answer))
        if self.clock is not None:
            self.at.append(self.clock.now)
        return f"m{len(self.sent)}"


class KeyedRecorder(Recorder):
    """Like a Matrix PUT /send with a transaction id: a repeated key posts nothing new."""

    accepts_idempotency_key = True

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[str] = []
        self.by_key: dict[str, str] = {}

    async def publish(  # type: ignore[override]
        self, target: str, answer: Answer, *, idempotency_key: str
    ) -> str | None:
        self.keys.append(idempotency_key)
        if idempotency_key not in self.by_key:
            self.by_key[idempotency_key] = await super().publish(target, answer) or ""
        return self.by_key[idempotency_key]


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs (not even except Exception)."""


class CrashAfterPublishing(DigestRepository):
    async def complete(self, claim, **kw):  # type: ignore[no-untyped-def]
        if kw.get("status") == "sent":
            raise Crash
        return await super().complete(claim, **kw)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "digests.db"


@pytest.fixture
async def services(db_path: Path) -> AsyncIterator[Services]:
    db = await open_database(db_path)
    try:
        yield Services(db, Settings())
    finally:
        await db.close()


async def add_schedule(
    services: Services,
    at: datetime,
    cadence: Cadence = BERLIN_DAILY,
    names: tuple[str, ...] = ("rota",),
    **kw: Any,
):
    return await DigestRepository(services.db, clock=lambda: at).add(
        SCOPE, list(names), "chan-1", cadence, **kw
    )


def ref_posts(answer: Answer) -> set[int]:
    return {line.ref.post for s in answer.sections for line in s.lines if line.ref}


# --- exactly once ------------------------------------------------------------------------------


async def test_appended_posts_appear_in_exactly_one_digest(services: Services) -> None:
    await services.ingest_bytes(SCOPE, rota_copy(3), name="rota")
    schedule = await add_schedule(services, T0)
    publisher = Recorder()
    covered: list[tuple[int, int]] = []

    async def run(at: datetime) -> None:
        for r in await Scheduler(services, {"discord": publisher}).run_due(at):
            covered.extend(t.covered for t in r.digest.threads if t.covered)  # type: ignore[union-attr,misc]

    await services.ingest_bytes(SCOPE, rota_copy(5), name="rota")
    await run(SLOT1)
    await run(SLOT1 + timedelta(hours=1))  # not due again: nothing
    await run(SLOT2)  # nothing new: nothing posted
    await services.ingest_bytes(SCOPE, rota_copy(8), name="rota")
    await run(SLOT3)

    assert covered == [(4, 5), (6, 8)]
    assert len(publisher.sent) == 2
    first, second = (answer for _, answer in publisher.sent)
    assert ref_posts(first) <= {4, 5} and 4 in ref_posts(first)
    assert ref_posts(second) <= {6, 7, 8} and 6 in ref_posts(second)
    assert "3 new posts" in second.title
    runs = await DigestRepository(services.db).runs(SCOPE, schedule.id)
    assert [(r.slot, r.status) for r in reversed(runs)] == [
        (SLOT1, "sent"),
        (SLOT2, "empty"),
        (SLOT3, "sent"),
    ]


async def test_restart_after_three_missed_days_sends_one_digest(db_path: Path) -> None:
    async with await open_database(db_path) as db:
        services = Services(db, Settings())
        await services.ingest_bytes(SCOPE, rota_copy(4), name="rota")
        schedule = await add_schedule(services, T0)
        await services.ingest_bytes(SCOPE, rota_copy(5), name="rota")
        first = Recorder()
        assert [r.status for r in await Scheduler(services, {"discord": first}).run_due(SLOT1)] == [
            "sent"
        ]
        await services.ingest_bytes(SCOPE, rota_copy(8), name="rota")
    # Down from 29 March until 2 April noon: the 30 March, 31 March, 1 and 2 April slots pass.
    back = datetime(2025, 4, 2, 10, tzinfo=UTC)
    async with await open_database(db_path) as db:
        services = Services(db, Settings())
        publisher = Recorder()
        scheduler = Scheduler(services, {"discord": publisher}, clock=lambda: back)
        (report,) = await scheduler.run_due(back)
        assert await scheduler.run_due(back) == []
        assert await scheduler.run_due(back + timedelta(hours=12)) == []
        assert (report.status, report.slot, report.missed) == ("sent", SLOT2, 4)
        assert report.next_run_at == datetime(2025, 4, 3, 7, tzinfo=UTC)
        (answer,) = [a for _, a in publisher.sent]
        assert "stands for 4 scheduled ones" in " ".join(answer.notes)
        assert ref_posts(answer) <= {6, 7, 8}
        stored = await DigestRepository(db).get(SCOPE, schedule.id)
        assert stored is not None and stored.threads[0].mark == 8


async def test_crash_between_publishing_and_commit_keyed_publisher_sends_once(
    db_path: Path,
) -> None:
    publisher = KeyedRecorder()  # lives on, as Discord/Matrix do across our restart
    async with await open_database(db_path) as db:
        services = Services(db, Settings())
        await services.ingest_bytes(SCOPE, rota_copy(4), name="rota")
        schedule = await add_schedule(services, T0)
        await services.ingest_bytes(SCOPE, rota_copy(6), name="rota")
        crashing = Scheduler(services, {"discord": publisher}, repository=CrashAfterPublishing(db))
        with pytest.raises(Crash):
            await crashing.run_due(SLOT1)
        assert len(publisher.sent) == 1
    restart = SLOT1 + timedelta(minutes=11)  # after the dead process's lease
    async with await open_database(db_path) as db:
        services = Services(db, Settings())
        scheduler = Scheduler(services, {"discord": publisher}, clock=lambda: restart)
        assert await scheduler.run_due(SLOT1 + timedelta(minutes=5)) == []  # still leased
        (report,) = await scheduler.run_due(restart)
        assert (report.status, report.attempt, report.message_id) == ("sent", 2, "m1")
        assert len(publisher.sent) == 1  # the platform dropped the repeat
        assert publisher.keys == [publisher.keys[0]] * 2
        assert publisher.keys[0] == f"digest-{schedule.id}-2025-03-29T08:00:00.000000+00:00"
        stored = await DigestRepository(db).get(SCOPE, schedule.id)
        assert stored is not None
        assert (stored.threads[0].mark, stored.next_run_at) == (6, SLOT2)
        assert await scheduler.run_due(restart + timedelta(hours=1)) == []


class ForgetfulKeyedRecorder(KeyedRecorder):
    """Like Discord's nonce check: a key is recognised for a few minutes only."""

    idempotency_window = timedelta(minutes=2)

    def forget(self) -> None:
        self.by_key.clear()


async def crash_after_publishing_then_retry(
    db_path: Path, publisher: ForgetfulKeyedRecorder, lease: timedelta, restart: datetime
) -> RunReport:
    """Publish SLOT1's digest, die before committing it, restart at `restart` and retry."""
    async with await open_database(db_path) as db:
        services = Services(db, Settings())
        await services.ingest_bytes(SCOPE, rota_copy(4), name="rota")
        await add_schedule(services, T0)
        await services.ingest_bytes(SCOPE, rota_copy(6), name="rota")
        crashing = Scheduler(
            services,
            {"discord": publisher},
            repository=CrashAfterPublishing(db, clock=lambda: SLOT1),
            lease=lease,
        )
        with pytest.raises(Crash):
            await crashing.run_due(SLOT1)
    if restart - SLOT1 > publisher.idempotency_window:
        publisher.forget()  # the platform no longer knows the key
    async with await open_database(db_path) as db:
        services = Services(db, Settings())
        scheduler = Scheduler(services, {"discord": publisher}, clock=lambda: restart)
        (report,) = await scheduler.run_due(restart)
    return report


async def test_a_keyed_retry_past_the_platforms_window_says_it_may_be_a_duplicate(
    db_path: Path,
) -> None:
    publisher = ForgetfulKeyedRecorder()
    restart = SLOT1 + timedelta(minutes=11)  # the lease ran out; Discord forgot the nonce
    report = await crash_after_publishing_then_retry(
        db_path, publisher, timedelta(minutes=10), restart
    )
    assert (report.status, report.attempt) == ("sent", 2)
    assert len(publisher.sent) == 2
    first, second = (answer for _, answer in publisher.sent)
    assert not any("Sent again" in n for n in first.notes)
    assert any("Sent again" in n for n in second.notes)


async def test_a_keyed_retry_within_the_window_needs_no_note(db_path: Path) -> None:
    publisher = ForgetfulKeyedRecorder()
    restart = SLOT1 + timedelta(seconds=90)  # within Discord's window: the nonce still holds
    report = await crash_after_publishing_then_retry(
        db_path, publisher, timedelta(minutes=1), restart
    )
    assert (report.status, report.attempt) == ("sent", 2) and len(publisher.sent) == 1


async def test_crash_with_a_plain_publisher_gives_at_most_one_labelled_duplicate(
    db_path: Path,
) -> None:
    publisher = Recorder()
    async with await open_database(db_path) as db:
        services = Services(db, Settings())
        await services.ingest_bytes(SCOPE, rota_copy(4), name="rota")
        await add_schedule(services, T0)
        await services.ingest_bytes(SCOPE, rota_copy(6), name="rota")
        crashing = Scheduler(services, {"discord": publisher}, repository=CrashAfterPublishing(db))
        with pytest.raises(Crash):
            await crashing.run_due(SLOT1)
    restart = SLOT1 + timedelta(minutes=11)
    async with await open_database(db_path) as db:
        scheduler = Scheduler(Services(db, Settings()), {"discord": publisher})
        (report,) = await scheduler.run_due(restart)
        assert await scheduler.run_due(restart + timedelta(hours=2)) == []
    assert report.attempt == 2
    assert len(publisher.sent) == 2  # the one documented duplicate
    first, again = (a for _, a in publisher.sent)
    assert ref_posts(first) == ref_posts(again)
    assert not any("Sent again" in n for n in first.notes)
    assert any("Sent again" in n for n in again.notes)


async def test_two_schedulers_on_one_database_send_each_digest_once(db_path: Path) -> None:
    async with await open_database(db_path) as db_a, await open_database(db_path) as db_b:
        one, two = Services(db_a, Settings()), Services(db_b, Settings())
        ids = []
        for n in range(4):
            name = f"rota-{n}"
            await one.ingest_bytes(SCOPE, rota_copy(3, title=f"Rota {n}"), name=name)
            ids.append((await add_schedule(one, T0, names=(name,), quiet_line=True)).id)
        seen: list[tuple[str, Answer]] = []
        pub_a, pub_b = Recorder(delay=0.01), Recorder(delay=0.01)
        pub_a.sent = pub_b.sent = seen
        a = Scheduler(one, {"discord": pub_a})
        b = Scheduler(two, {"discord": pub_b})
        reports = await asyncio.gather(a.run_due(SLOT1), b.run_due(SLOT1), a.run_due(SLOT1))
        assert sorted(r.schedule_id for rs in reports for r in rs) == ids
        assert len(seen) == 4
        assert await b.run_due(SLOT1 + timedelta(minutes=30)) == []


# --- failures ----------------------------------------------------------------------------------


class GoneOnce(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.admin: list[tuple[str, str]] = []
        self.tries = 0

    async def publish(self, target: str, answer: Answer) -> str | None:
        self.tries += 1
        if target == "chan-1":
            raise TargetGone(target, "403 Missing Access (50001)")
        return await super().publish(target, answer)

    async def notify_admin(self, scope: str, text: str) -> None:
        self.admin.append((scope, text))


async def test_target_gone_disables_the_schedule_and_tells_an_admin(services: Services) -> None:
    await services.ingest_bytes(SCOPE, rota_copy(4), name="rota")
    schedule = await add_schedule(services, T0, quiet_line=True)
    publisher = GoneOnce()
    scheduler = Scheduler(services, {"discord": publisher})
    (report,) = await scheduler.run_due(SLOT1)
    assert report.status == "target_gone"
    stored = await DigestRepository(services.db).get(SCOPE, schedule.id)
    assert stored is not None and not stored.enabled
    assert "403" in (stored.last_error or "")
    ((scope, text),) = publisher.admin
    assert scope == SCOPE and f"#{schedule.id}" in text and "chan-1" in text
    assert await scheduler.run_due(SLOT3) == []
    assert publisher.tries == 1  # one failure, no retries against a forbidden channel


class Flaky(Recorder):
    async def publish(self, target: str, answer: Answer) -> str | None:
        if target == "chan-broken":
            raise ConnectionResetError("peer went away")
        return await super().publish(target, answer)


async def test_one_failing_schedule_does_not_stop_the_others(services: Services) -> None:
    await services.ingest_bytes(SCOPE, rota_copy(4), name="rota")
    repo = DigestRepository(services.db, clock=lambda: T0)
    broken = await repo.add(SCOPE, ["rota"], "chan-broken", BERLIN_DAILY, quiet_line=True)
    fine = await repo.add(SCOPE, ["rota"], "chan-fine", BERLIN_DAILY, quiet_line=True)
    publisher = Flaky()
    scheduler = Scheduler(services, {"discord": publisher})
    reports = {r.schedule_id: r for r in await scheduler.run_due(SLOT1)}
    assert reports[fine.id].status == "sent"
    assert (reports[broken.id].status, reports[broken.id].error) == (
        "failed",
        "ConnectionResetError",
    )
    assert reports[broken.id].next_run_at == SLOT1 + timedelta(minutes=1)
    assert [t for t, _ in publisher.sent] == ["chan-fine"]
    stored = await repo.get(SCOPE, broken.id)
    assert stored is not None and stored.enabled and stored.failures == 1
    # Retried after the back-off, for the same slot, and it doubles while it keeps failing.
    assert await scheduler.run_due(SLOT1 + timedelta(seconds=30)) == []
    (again,) = await scheduler.run_due(SLOT1 + timedelta(minutes=1))
    assert (again.slot, again.next_run_at) == (SLOT1, SLOT1 + timedelta(minutes=3))


async def test_a_failing_source_is_reported_in_the_digest(services: Services) -> None:
    # A thread read from the web: its refresh fails (today: web refresh not available; later:
    # the fetcher refuses or cannot reach this loopback port). The digest still goes out.
    url = "http://127.0.0.1:9/threads/rota"
    await services.ingest_bytes(SCOPE, rota_copy(4, url=url), name="rota")
    await services.ingest_bytes(SCOPE, rota_copy(4, title="Compost"), name="compost")
    await add_schedule(services, T0, names=("rota", "compost"))
    await services.ingest_bytes(SCOPE, rota_copy(6, url=url), name="rota")
    await services.ingest_bytes(SCOPE, rota_copy(5, title="Compost"), name="compost")
    publisher = Recorder()
    (report,) = await Scheduler(services, {"discord": publisher}).run_due(SLOT1)
    assert report.status == "sent"
    rota, compost = report.digest.threads  # type: ignore[union-attr]
    assert any("Could not refresh" in n for n in rota.notes)
    assert not compost.notes
    assert (rota.new_posts, compost.new_posts) == (2, 1)
    (_, answer) = publisher.sent[0]
    assert any("Could not refresh" in line.text for s in answer.sections for line in s.lines)


async def test_nothing_new_posts_nothing_unless_a_quiet_line_is_wanted(
    services: Services,
) -> None:
    await services.ingest_bytes(SCOPE, rota_copy(4), name="rota")
    silent = await add_schedule(services, T0)
    chatty = await add_schedule(services, T0, quiet_line=True)
    publisher = Recorder()
    reports = {r.schedule_id: r.status for r in await Scheduler(
        services, {"discord": publisher}
    ).run_due(SLOT1)}  # fmt: skip
    assert reports == {silent.id: "empty", chatty.id: "sent"}
    ((_, answer),) = publisher.sent
    assert answer.title == "Nothing new since the last digest"


async def test_schedules_of_other_platforms_are_left_alone(services: Services) -> None:
    await services.ingest_bytes(SCOPE, rota_copy(4), name="rota")
    await add_schedule(services, T0, quiet_line=True)
    matrix_only = Scheduler(services, {"matrix": Recorder()})
    assert await matrix_only.run_due(SLOT1) == []


# --- the loop ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cadence", "start", "expected"),
    [
        (BERLIN_DAILY, T0, [SLOT1, SLOT2, SLOT3]),
        (  # Sundays 09:00 in New York, across 9 March 2025 (EST → EDT)
            Cadence("weekly", "America/New_York", time_of_day="09:00", weekday=6),
            datetime(2025, 2, 28, tzinfo=UTC),
            [datetime(2025, 3, d, h, tzinfo=UTC) for d, h in ((2, 14), (9, 13), (16, 13))],
        ),
        (  # every 6 hours from 00:00 in Berlin, across the spring-forward night
            Cadence("hours", "Europe/Berlin", time_of_day="00:00", every_hours=6),
            datetime(2025, 3, 29, 18, tzinfo=UTC),
            [datetime(2025, 3, d, h, tzinfo=UTC) for d, h in ((29, 23), (30, 4), (30, 10))],
        ),
        (  # cron: 08:30 on weekdays in New York, across 2 November 2025 (EDT → EST)
            parse_cadence("30 8 * * 1-5", None, None, "America/New_York"),
            datetime(2025, 10, 30, 15, tzinfo=UTC),
            [
                datetime(2025, 10, 31, 12, 30, tzinfo=UTC),
                datetime(2025, 11, 3, 13, 30, tzinfo=UTC),
                datetime(2025, 11, 4, 13, 30, tzinfo=UTC),
            ],
        ),
    ],
    ids=["daily-berlin", "weekly-new-york", "every-6h-berlin", "cron-new-york"],
)
async def test_the_loop_fires_at_the_right_instants_across_dst(
    services: Services, cadence: Cadence, start: datetime, expected: list[datetime]
) -> None:
    await services.ingest_bytes(SCOPE, rota_copy(4), name="rota")
    await add_schedule(services, start, cadence, quiet_line=True)
    time = FakeTime(start)
    publisher = Recorder(clock=time)
    stop = asyncio.Event()
    scheduler = Scheduler(
        services, {"discord": publisher}, clock=time, sleep=time.sleep, poll_seconds=6 * 3600
    )

    async def sleep_until_done(seconds: float) -> None:
        await time.sleep(seconds)
        if len(publisher.at) >= len(expected) or len(time.slept) > 200:
            stop.set()

    scheduler._sleep = sleep_until_done
    await scheduler.run_forever(stop)
    assert publisher.at == expected


async def test_digest_analysis_runs_off_the_event_loop(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    await services.ingest_bytes(SCOPE, rota_copy(4), name="rota")
    await add_schedule(services, T0)
    await services.ingest_bytes(SCOPE, rota_copy(6), name="rota")
    seen: dict[str, list[bool]] = {"thread_digest": [], "digest_summary": []}

    def spy(module: Any, name: str) -> None:
        real = getattr(module, name)

        def spied(*args: Any, **kw: Any):  # type: ignore[no-untyped-def]
            seen[name].append(threading.current_thread() is threading.main_thread())
            return real(*args, **kw)

        monkeypatch.setattr(module, name, spied)

    spy(scheduler_module, "thread_digest")
    spy(analysis_module, "digest_summary")  # the summary, through Analyses (a small thread)
    (report,) = await Scheduler(services, {"discord": Recorder()}).run_due(SLOT1)
    assert report.status == "sent" and report.digest is not None
    assert report.digest.threads[0].summary
    assert seen == {"thread_digest": [False], "digest_summary": [False]}


async def test_cancelled_before_publishing_gives_the_slot_back(services: Services) -> None:
    await services.ingest_bytes(SCOPE, rota_copy(4), name="rota")
    schedule = await add_schedule(services, T0, quiet_line=True)
    entered = asyncio.Event()

    class Stuck(Recorder):
        async def publish(self, target: str, answer: Answer) -> str | None:
            entered.set()
            await asyncio.Event().wait()
            return None

    task = asyncio.create_task(Scheduler(services, {"discord": Stuck()}).run_due(SLOT1))
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Published-or-not is unknown once publish started, so the claim is left to expire.
    stored = await DigestRepository(services.db).get(SCOPE, schedule.id)
    assert stored is not None and stored.claimed_until is not None

    schedule2 = await add_schedule(services, T0, quiet_line=True)
    blocked = asyncio.Event()

    async def slow_refresh(scope: str, name: str, **kw: Any):  # type: ignore[no-untyped-def]
        blocked.set()
        await asyncio.Event().wait()

    services.refresh = slow_refresh  # type: ignore[method-assign]
    await services.ingest_bytes(SCOPE, rota_copy(4, url="http://127.0.0.1:9/t"), name="web")
    schedule3 = await add_schedule(services, T0, names=("web",), quiet_line=True)
    task = asyncio.create_task(
        Scheduler(services, {"discord": Recorder()}).run_one(schedule3.id, SLOT1)
    )
    await blocked.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stored3 = await DigestRepository(services.db).get(SCOPE, schedule3.id)
    assert stored3 is not None and stored3.claimed_until is None  # before publishing: freed
    assert schedule2.id != schedule3.id


# --- "since I last read" -----------------------------------------------------------------------


async def test_summary_since_last_read_remembers_each_person(services: Services) -> None:
    await services.ingest_bytes(SCOPE, rota_copy(4), name="rota")
    first = await services.summary_since_last_read(SCOPE, "u1", "rota")
    assert (first.since, first.last_post, first.new_posts) == (None, 4, 4)
    assert first.summary is not None
    assert "First read" in first.answer().notes[0]

    again = await services.summary_since_last_read(SCOPE, "u1", "ROTA")
    assert (again.summary, again.since, again.last_post) == (None, 4, 4)
    assert again.answer().title.startswith("Nothing new")

    await services.ingest_bytes(SCOPE, rota_copy(7), name="rota")
    later = await services.summary_since_last_read(SCOPE, "u1", "rota")
    assert (later.since, later.last_post, later.new_posts) == (4, 7, 3)
    assert later.summary is not None
    assert {s.post for s in later.summary.sentences} <= {5, 6, 7}
    assert "after post #4" in later.answer().notes[0]

    other = await services.summary_since_last_read(SCOPE, "u2", "rota")
    assert (other.since, other.new_posts) == (None, 7)
    with pytest.raises(NotFound, match="no thread"):
        await services.summary_since_last_read("discord:7", "u1", "rota")


# --- the digest itself (pure) --------------------------------------------------------------------


def test_thread_digest_counts_only_new_live_posts_and_falls_back_past_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    def post(n: int, author: str, text: str, deleted: bool = False) -> StoredPost:
        return StoredPost(n, text, "h", (Segment("own", text, 0),), author=author, deleted=deleted)

    posts = [
        post(1, "ana", "The ferry timetable changes in May. Evening boats stop at nine."),
        post(2, "ben", "Nine is far too early for the choir. We rehearse until half past."),
        post(3, "ana", "Then ask the council for one late boat. Fridays would be enough."),
        post(4, "cy", "", deleted=True),
        post(5, "ben", "A late Friday boat works for us. I will draft the letter tonight."),
    ]
    thread = StoredThread(1, SCOPE, "ferry", "Ferry times", "json", None, "english", 1, 5, 3,
                          T0, T0)  # fmt: skip
    monkeypatch.setitem(SENTENCE_CAPS, "lexrank", 2)  # 4 new sentences: over the cap
    d = thread_digest(thread, posts, [QuoteEdge(2, 1), QuoteEdge(5, 3, 2)], 2)
    assert (d.new_posts, d.first_new_post, d.covered, d.last_post) == (2, 3, (3, 5), 5)
    assert d.active == (("ana", 1), ("ben", 1))
    assert [(e.from_author, e.to_author, e.count) for e in d.edges] == [("ben", "ana", 2)]
    assert any("summarised with textrank" in n for n in d.notes)
    assert {s.post for s in d.summary} <= {3, 5}
    nothing = thread_digest(thread, posts, [], 5)
    assert (nothing.new_posts, nothing.covered, nothing.summary) == (0, None, ())

    answer = digest_answer(Digest((d, nothing)))
    assert answer.title == "Digest: 2 new posts in 1 thread"
    assert [s.heading for s in answer.sections] == [
        "Ferry times — 2 new posts after post #2",
        "Nothing new",
    ]


def test_news_past_every_cap_are_summarised_from_the_newest_posts_that_fit(monkeypatch):
    def post(n: int, text: str) -> StoredPost:
        return StoredPost(n, text, "h", (Segment("own", text, 0),), author="ana")

    posts = [post(n, f"Boat {n} leaves at {n}. It stops at the pier.") for n in range(1, 9)]
    thread = StoredThread(1, SCOPE, "ferry", "Ferry times", "json", None, "english", 1, 8, 1,
                          T0, T0)  # fmt: skip
    monkeypatch.setitem(SENTENCE_CAPS, "lexrank", 2)
    monkeypatch.setitem(SENTENCE_CAPS, "textrank", 5)  # 16 new sentences, 2 per post
    d = thread_digest(thread, posts, [], 0)
    assert d.new_posts == 8
    assert any("summarised the newest 2 posts (4 sentences) with textrank" in n for n in d.notes)
    assert d.summary and {s.post for s in d.summary} <= {7, 8}
