"""Digests and "since last read" catch-ups go through bot.usecases.analysis.Analyses.

Their summary is the costly part: for a big thread it must run in the process pool (not in a
thread of the bot, where it would hold the GIL), and asking again for the same thread
revision, mark and algorithm must be a cache hit. The pool threshold is lowered per test so
"big" threads stay small. Threads are invented ferry talk saved straight through
ThreadRepository (see tests/test_analysis_pool.py); every fifth post quotes an earlier one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.digest import MAX_EDGES, Digest, ThreadDigest, digest_answer, thread_digest
from bot.core.models import StoredThread
from bot.core.summary import SummaryRequest, summarise
from bot.settings import Settings, SummarySettings
from bot.usecases.scheduler import build_digest
from bot.usecases.services import Services
from storage.database import Database, open_database
from storage.digests import ScheduledThread
from tests.test_analysis_pool import SCOPE, save, thread_posts

POOL_AT = 40
"""The lowered pool threshold: threads with at least this many posts go to the pool."""


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "digest-analyses.db"


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[Database]:
    database = await open_database(db_path)
    try:
        yield database
    finally:
        await database.close()


def make_services(db: Database, *, processes: bool = True, algorithm: str = "lexrank") -> Services:
    services = Services(db, Settings(summary=SummarySettings(algorithm=algorithm)))
    services.analyses.processes = processes
    services.analyses.pool_threshold = POOL_AT
    return services


def item(thread: StoredThread, mark: int) -> ScheduledThread:
    return ScheduledThread(thread.id, thread.name, thread.title, thread.source_url, mark, 0)


async def whole_thread_digest(
    services: Services, thread: StoredThread, mark: int, algorithm: str
) -> ThreadDigest:
    """The digest as the scheduler made it before Analyses: every post read, the summary
    computed right here."""
    view = await services.view(SCOPE, thread.name)
    return thread_digest(view.thread, view.posts, view.edges, mark, algorithm=algorithm)


@pytest.mark.parametrize(
    ("posts", "mark", "algorithm", "fallback"),
    [
        (60, 30, "lexrank", False),
        # KL-Sum is capped at 1,000 sentences; the whole 700-post thread has more, so the
        # digest falls back to Luhn and says so, in the worker as in the thread.
        (700, 0, "kl", True),
    ],
    ids=["lexrank-after-a-mark", "kl-over-its-cap"],
)
async def test_a_big_threads_digest_is_summarised_in_the_pool_and_matches_the_thread_path(
    db: Database, posts: int, mark: int, algorithm: str, fallback: bool
) -> None:
    thread = await save(db, "ferry", thread_posts(posts))
    assert thread.post_count >= POOL_AT
    pooled = make_services(db, algorithm=algorithm)
    local = make_services(db, processes=False, algorithm=algorithm)
    try:
        in_pool, marks = await build_digest(pooled, SCOPE, [item(thread, mark)])
        in_thread, _ = await build_digest(local, SCOPE, [item(thread, mark)])
        before = await whole_thread_digest(local, thread, mark, algorithm)
    finally:
        await pooled.close()
        await local.close()
    assert pooled.analyses.stats.in_process == 1
    assert local.analyses.stats.in_process == 0
    assert in_pool == in_thread
    assert in_pool == Digest((before,))
    assert digest_answer(in_pool) == digest_answer(in_thread)

    (part,) = in_pool.threads
    assert marks == {thread.id: posts}
    assert part.new_posts == posts - mark and part.summary
    assert {s.post for s in part.summary} <= set(range(mark + 1, posts + 1))
    fallback_notes = [n for n in part.notes if "summarised with textrank" in n]
    assert bool(fallback_notes) is fallback
    if mark:  # a reply to a post before the mark still names its author
        old = [e for e in part.edges if e.to_post <= mark]
        assert old and all(e.to_author for e in old)


async def test_the_same_digest_again_is_a_cache_hit(db: Database) -> None:
    thread = await save(db, "ferry", thread_posts(60))
    services = make_services(db)
    try:
        first, _ = await build_digest(services, SCOPE, [item(thread, 20)])
        stats = services.analyses.stats
        assert (stats.misses, stats.hits, stats.stored, stats.in_process) == (1, 0, 1, 1)
        again, _ = await build_digest(services, SCOPE, [item(thread, 20)])
        assert again == first
        assert (stats.misses, stats.hits, stats.in_process) == (1, 1, 1)
        # another mark is another digest: computed, not served from the first one
        other, _ = await build_digest(services, SCOPE, [item(thread, 40)])
        assert (stats.misses, stats.hits) == (2, 1)
        assert other.threads[0].new_posts == 20 != first.threads[0].new_posts
    finally:
        await services.close()


async def test_a_new_revision_makes_the_digest_be_computed_again(db: Database) -> None:
    thread = await save(db, "ferry", thread_posts(50))
    services = make_services(db)
    try:
        before, _ = await build_digest(services, SCOPE, [item(thread, 30)])
        newer = await save(db, "ferry", thread_posts(55))  # five posts more
        assert newer.revision == thread.revision + 1
        after, marks = await build_digest(services, SCOPE, [item(thread, 30)])
        stats = services.analyses.stats
        assert (stats.misses, stats.hits, stats.in_process) == (2, 0, 2)
        assert (before.threads[0].new_posts, after.threads[0].new_posts) == (20, 25)
        assert marks == {thread.id: 55}
        # saving the same copy again changes nothing, so the digest is a hit again
        assert (await save(db, "ferry", thread_posts(55))).revision == newer.revision
        assert (await build_digest(services, SCOPE, [item(thread, 30)]))[0] == after
        assert (stats.misses, stats.hits) == (2, 1)
    finally:
        await services.close()


async def test_a_digest_reads_only_the_posts_after_the_mark(db: Database) -> None:
    thread = await save(db, "ferry", thread_posts(200))
    services = make_services(db, processes=False)
    expected = await whole_thread_digest(services, thread, 190, "lexrank")
    reads: list[tuple[Any, ...]] = []
    real = services.threads.posts

    async def counted(scope: str, name: str, *args: Any, **kw: Any):  # type: ignore[no-untyped-def]
        found = await real(scope, name, *args, **kw)
        reads.append((*args, len(found)))
        return found

    services.threads.posts = counted  # type: ignore[method-assign]
    try:
        digest, _ = await build_digest(services, SCOPE, [item(thread, 190)])
    finally:
        await services.close()
    assert digest.threads[0].new_posts == 10 and digest.threads[0].summary
    read = sum(r[-1] for r in reads)
    assert 10 <= read <= 10 + MAX_EDGES, reads  # the new posts and the old ones they answer
    assert digest.threads[0] == expected


async def test_nothing_new_asks_for_no_analysis(db: Database) -> None:
    thread = await save(db, "ferry", thread_posts(45))
    services = make_services(db)
    try:
        digest, marks = await build_digest(services, SCOPE, [item(thread, 45)])
    finally:
        await services.close()
    assert not digest.has_news and marks == {thread.id: 45}
    stats = services.analyses.stats
    assert (stats.misses, stats.hits, stats.in_process) == (0, 0, 0)


# --- "since I last read" -------------------------------------------------------------------


async def test_catch_ups_run_in_the_pool_and_repeat_from_the_cache(db: Database) -> None:
    await save(db, "ferry", thread_posts(60))
    services = make_services(db)
    try:
        first = await services.summary_since_last_read(SCOPE, "u1", "ferry")
        stats = services.analyses.stats
        assert (stats.misses, stats.hits, stats.in_process) == (1, 0, 1)
        # someone else at the same point: the same summary, from the cache
        other = await services.summary_since_last_read(SCOPE, "u2", "ferry")
        assert other.summary == first.summary and (stats.misses, stats.hits) == (1, 1)
        assert (first.since, first.last_post, first.new_posts) == (None, 60, 60)

        await save(db, "ferry", thread_posts(70))
        later = await services.summary_since_last_read(SCOPE, "u1", "ferry")
        same_mark = await services.summary_since_last_read(SCOPE, "u2", "ferry")
        assert (later.since, later.last_post, later.new_posts) == (60, 70, 10)
        assert later.summary is not None
        assert {s.post for s in later.summary.sentences} <= set(range(61, 71))
        assert same_mark.summary == later.summary
        assert (stats.misses, stats.hits, stats.in_process) == (2, 2, 2)
    finally:
        await services.close()


async def test_a_catch_up_in_the_pool_matches_one_made_in_a_thread(db: Database) -> None:
    for name in ("here", "there"):  # the same thread twice: separate cache entries
        await save(db, name, thread_posts(50))
    local = make_services(db, processes=False)
    pooled = make_services(db)
    try:
        for name in ("here", "there"):
            await local.summary_since_last_read(SCOPE, "u1", name)
            await save(db, name, thread_posts(58))
        in_thread = await local.summary_since_last_read(SCOPE, "u1", "here")
        in_pool = await pooled.summary_since_last_read(SCOPE, "u1", "there")
    finally:
        await local.close()
        await pooled.close()
    assert (pooled.analyses.stats.in_process, local.analyses.stats.in_process) == (1, 0)
    assert (in_pool.since, in_pool.last_post, in_pool.new_posts) == (50, 58, 8)
    assert in_pool.summary is not None and in_pool.summary == in_thread.summary
    view = await local.view(SCOPE, "here")
    request = SummaryRequest(algorithm="lexrank", sentences=5, since_post=50)
    assert in_pool.summary == summarise(view.posts, request, "english", view.thread.title)
