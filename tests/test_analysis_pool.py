"""bot.usecases.analysis.Analyses: big threads in a process pool, every answer cached per revision.

Real SQLite files under tmp_path and a real spawn-context process pool. Threads are saved
straight through ThreadRepository.save (own words only, invented here), so a 10,000-post
thread costs a third of a second to set up instead of a full ingest.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
from collections.abc import AsyncIterator

import pytest

from bot.core.digest import DigestSummary, digest_summary
from bot.core.models import AnalysedPost, AnalysedThread, QuoteEdge, Segment, StoredThread
from bot.core.quote_report import QuoteReport, quote_report
from bot.core.stance import StanceReport, stance_digest
from bot.core.summary import SENTENCE_CAPS, Summary, SummaryRequest, summarise
from bot.errors import UserError
from bot.settings import Settings
from bot.usecases.analysis import (
    POOL_THRESHOLD_POSTS,
    Analyses,
    CodecError,
    decode,
    encode,
    params_key,
    to_jsonable,
)
from bot.usecases.services import Services
from storage.database import Database, open_database
from storage.repositories import ThreadRepository

SCOPE = "local"
_WORDS = (
    "ferry harbour timetable crossing deck captain ticket queue island bridge tide winter "
    "summer engine delay council fare cabin gull pier mooring rope storm lighthouse cargo "
    "passenger schedule evening morning weekend sailing route coast slipway ramp"
).split()
_GLUE = ("the", "a", "is", "was", "and", "but", "on", "at", "we", "they", "too", "very")
_OPENERS = ("I agree.", "No, that is wrong.", "Good point.", "Maybe.", "Not really.")


def sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS if rng.random() < 0.6 else _GLUE) for _ in range(rng.randint(6, 11))]
    return " ".join(words).capitalize() + rng.choice(".!?.")


def thread_posts(count: int, seed: int = 5, quotes: bool = True) -> tuple[AnalysedPost, ...]:
    """Posts of invented ferry talk; every fifth post quotes an earlier one and replies."""
    rng = random.Random(seed)
    posts: list[AnalysedPost] = []
    for number in range(1, count + 1):
        segments: list[Segment] = []
        if quotes and number > 3 and number % 5 == 0:
            source = posts[rng.randrange(len(posts))]
            quoted = next(s.text for s in source.segments if s.kind == "own")
            segments.append(
                Segment("quote", quoted, 0, source.number, source.author, explicit=True)
            )
            segments.append(Segment("own", rng.choice(_OPENERS) + " " + sentence(rng), 1))
        else:
            text = " ".join(sentence(rng) for _ in range(rng.randint(1, 2)))
            segments.append(Segment("own", text, 0))
        posts.append(
            AnalysedPost(
                number=number,
                text="\n".join(s.text for s in segments),
                segments=tuple(segments),
                author=f"sailor{number % 23}",
                url=f"https://forum.example/t/ferry/{number}",
            )
        )
    return tuple(posts)


async def save(db: Database, name: str, posts: tuple[AnalysedPost, ...]) -> StoredThread:
    threads = ThreadRepository(db)
    thread = AnalysedThread("Ferry timetable", "json", posts, (), language="english")
    return (await threads.save(SCOPE, name, thread)).thread


class Loader:
    """A PostsLoader that counts its calls: a cache hit must not read any post."""

    def __init__(self, db: Database, name: str) -> None:
        self.threads = ThreadRepository(db)
        self.name = name
        self.calls = 0

    async def __call__(self) -> tuple[list, list[QuoteEdge]]:
        self.calls += 1
        posts = await self.threads.posts(SCOPE, self.name)
        return posts, await self.threads.edges(SCOPE, self.name)


@pytest.fixture
async def db(tmp_path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "threads.db")
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def analyses(db: Database) -> AsyncIterator[Analyses]:
    instance = Analyses(db)
    try:
        yield instance
    finally:
        await instance.close()


# --- the pool ------------------------------------------------------------------------------


async def test_a_second_command_is_answered_while_a_big_summary_runs_in_the_pool(
    db: Database, analyses: Analyses
):
    big = await save(db, "mega", thread_posts(10_000))
    small = await save(db, "short", thread_posts(30, seed=8))
    assert big.post_count == 10_000 >= POOL_THRESHOLD_POSTS > small.post_count
    assert analyses.where(big) == "process" and analyses.where(small) == "thread"
    worker = await analyses.warm_up()
    assert worker is not None and worker != os.getpid()

    running = asyncio.create_task(analyses.summary(big, SummaryRequest(), Loader(db, "mega")))
    for _ in range(1_000):  # until it is handed to the worker
        if analyses.stats.in_process:
            break
        await asyncio.sleep(0.01)
    assert analyses.stats.in_process == 1
    listed = await Services(db, Settings()).list_threads(SCOPE)
    quick = await analyses.summary(small, SummaryRequest(sentences=2), Loader(db, "short"))
    assert not running.done(), "the loop was free while the worker summarised"
    assert {t.name for t in listed} == {"mega", "short"}
    assert len(quick.sentences) == 2

    result = await running
    assert result.considered_posts == 10_000
    assert len(result.sentences) == 5
    assert analyses.stats.in_process == 1

    # errors raised in the worker come back as the same domain errors, and are not cached
    with pytest.raises(UserError, match="No author called 'nobody'"):
        await analyses.summary(big, SummaryRequest(author="nobody"), Loader(db, "mega"))
    assert analyses.stats.stored == 2


async def test_close_stops_the_worker(db: Database):
    analyses = Analyses(db)
    worker = await analyses.warm_up()
    assert worker is not None
    os.kill(worker, 0)  # alive
    await analyses.close()
    with pytest.raises(ProcessLookupError):
        os.kill(worker, 0)
    with pytest.raises(RuntimeError, match="closed"):
        await analyses.warm_up()


async def test_without_processes_everything_runs_in_threads(db: Database):
    big = await save(db, "mega", thread_posts(POOL_THRESHOLD_POSTS, quotes=False))
    analyses = Analyses(db, processes=False)
    assert analyses.where(big) == "thread"
    assert await analyses.warm_up() is None
    summary = await analyses.summary(big, SummaryRequest(sentences=1), Loader(db, "mega"))
    assert len(summary.sentences) == 1 and analyses.stats.in_process == 0
    await analyses.close()


# --- the cache -------------------------------------------------------------------------------


async def test_a_repeated_summary_is_a_database_read(db: Database, analyses: Analyses):
    thread = await save(db, "ferry", thread_posts(60))
    loader = Loader(db, "ferry")
    first = await analyses.summary(thread, SummaryRequest(sentences=3), loader)
    again = await analyses.summary(thread, SummaryRequest(sentences=3), loader)
    assert again == first and isinstance(again, Summary)
    assert loader.calls == 1
    assert (analyses.stats.misses, analyses.stats.hits, analyses.stats.stored) == (1, 1, 1)
    # other parameters are another entry
    other = await analyses.summary(thread, SummaryRequest(sentences=4), loader)
    assert len(other.sentences) == 4 and loader.calls == 2


async def test_a_new_revision_retires_cached_results(db: Database, analyses: Analyses):
    posts = thread_posts(40)
    thread = await save(db, "ferry", posts)
    request = SummaryRequest(sentences=50)
    before = await analyses.summary(thread, request, Loader(db, "ferry"))
    longer = await save(db, "ferry", thread_posts(45))  # same first 40, five new posts
    assert longer.revision == thread.revision + 1
    loader = Loader(db, "ferry")
    after = await analyses.summary(longer, request, loader)
    assert loader.calls == 1, "recomputed for the new revision"
    assert after.considered_posts == before.considered_posts + 5
    # unchanged copy: same revision, so the next request is a hit again
    same = await save(db, "ferry", thread_posts(45))
    assert same.revision == longer.revision
    assert await analyses.summary(same, request, loader) == after and loader.calls == 1


async def test_a_result_for_a_superseded_revision_is_not_kept(db: Database, analyses: Analyses):
    old = await save(db, "ferry", thread_posts(40))
    new = await save(db, "ferry", thread_posts(41))  # saved while `old` was being analysed
    await analyses.summary(old, SummaryRequest(), Loader(db, "ferry"))
    assert analyses.stats.stored == 0
    loader = Loader(db, "ferry")
    await analyses.summary(new, SummaryRequest(), loader)
    assert loader.calls == 1 and analyses.stats.stored == 1


async def test_identical_requests_in_flight_share_one_computation(db: Database, analyses: Analyses):
    thread = await save(db, "ferry", thread_posts(80))
    loader = Loader(db, "ferry")
    one, two = await asyncio.gather(
        analyses.summary(thread, SummaryRequest(), loader),
        analyses.summary(thread, SummaryRequest(), loader),
    )
    assert one == two and loader.calls == 1 and analyses.stats.misses == 1


async def test_a_cached_document_of_another_shape_is_recomputed(db: Database, analyses: Analyses):
    thread = await save(db, "ferry", thread_posts(30))
    request = SummaryRequest(sentences=2)
    key = params_key(
        "summary",
        {"request": to_jsonable(request), "language": thread.language, "title": thread.title},
    )
    await analyses.cache.put(SCOPE, "ferry", "summary", key, '{"sentences": []}')
    loader = Loader(db, "ferry")
    summary = await analyses.summary(thread, request, loader)
    assert len(summary.sentences) == 2 and loader.calls == 1
    assert decode(Summary, await analyses.cache.get(SCOPE, "ferry", "summary", key)) == summary


async def test_stance_quotes_and_graph_are_cached(db: Database, analyses: Analyses, monkeypatch,
                                                  tmp_path):  # fmt: skip
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    thread = await save(db, "ferry", thread_posts(120))
    loader = Loader(db, "ferry")
    stance = await analyses.stance(thread, loader, topic="ferry")
    quotes = await analyses.quotes(thread, loader)
    png = await analyses.quote_graph(thread, quotes, "Who quoted whom")
    assert png.startswith(b"\x89PNG")
    assert quotes.edges and any(p.replies for p in stance.participants)
    calls = loader.calls
    assert await analyses.stance(thread, loader, topic="ferry") == stance
    assert await analyses.quotes(thread, loader) == quotes
    assert await analyses.quote_graph(thread, quotes, "Who quoted whom") == png
    assert loader.calls == calls and analyses.stats.hits == 3
    assert isinstance(stance, StanceReport) and isinstance(quotes, QuoteReport)


# --- the codecs --------------------------------------------------------------------------


def test_answers_survive_a_round_trip_through_json():
    posts = thread_posts(150)
    edges = [
        QuoteEdge(p.number, s.source_post)
        for p in posts
        for s in p.segments
        if s.kind == "quote" and s.source_post
    ]
    answers = [
        (Summary, summarise(posts, SummaryRequest(sentences=6, explain=True), "english")),
        (StanceReport, stance_digest(posts, edges, topic="harbour")),
        (StanceReport, stance_digest(posts, edges, author="sailor3")),
        (QuoteReport, quote_report(posts, edges)),
        (QuoteReport, quote_report(posts, edges, post=posts[4].number)),
    ]
    for kind, answer in answers:
        assert decode(kind, encode(answer)) == answer


async def test_a_digest_summary_survives_a_round_trip_through_json(db: Database, monkeypatch):
    thread = await save(db, "ferry", thread_posts(40))
    stored = await ThreadRepository(db).posts(SCOPE, "ferry")
    monkeypatch.setitem(SENTENCE_CAPS, "lexrank", 5)  # the new posts have more: Luhn instead
    fallback = digest_summary(thread, stored, 10, algorithm="lexrank")
    refused = digest_summary(thread, stored, 10, algorithm="lexrank", sentences=0)
    assert fallback.sentences and "summarised with textrank" in fallback.notes[0]
    assert not refused.sentences and refused.notes[-1].startswith("No summary:")
    for answer in (fallback, refused, DigestSummary()):
        assert decode(DigestSummary, encode(answer)) == answer


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        "[]",
        '{"sentences": []}',
        '{"sentences": [], "algorithm": "lexrank", "language": "english", '
        '"considered_sentences": "3", "considered_posts": 1, "note": null, "explain": false}',
    ],
)
def test_documents_of_another_shape_are_refused(document):
    with pytest.raises(CodecError):
        decode(Summary, document)


async def test_services_answer_while_their_summary_runs_in_the_pool(db: Database):
    """The same through Services, once bot/usecases/services.py hands its analyses to Analyses."""
    services = Services(db, Settings())
    if not isinstance(getattr(services, "analyses", None), Analyses):
        pytest.skip("bot/usecases/services.py does not use bot.usecases.analysis.Analyses yet")
    try:
        await save(db, "mega", thread_posts(10_000))
        await save(db, "short", thread_posts(30, seed=8))
        await services.analyses.warm_up()
        running = asyncio.create_task(services.summary(SCOPE, "mega", SummaryRequest()))
        for _ in range(1_000):
            if services.analyses.stats.in_process:
                break
            await asyncio.sleep(0.01)
        listed = await services.list_threads(SCOPE)
        quick = await services.summary(SCOPE, "short", SummaryRequest(sentences=1))
        assert not running.done()
        assert len(listed) == 2 and len(quick.summary.sentences) == 1
        first = (await running).summary
        again = (await services.summary(SCOPE, "mega", SummaryRequest())).summary
        assert again == first and services.analyses.stats.hits == 1
    finally:
        await services.close()


@pytest.mark.parametrize("processes", [False, True])
async def test_deleted_posts_leave_summaries_and_stances(db: Database, processes: bool):
    posts = list(thread_posts(12, quotes=False))
    gone = "Zeppelins will replace every ferry on this crossing by next summer."
    posts[5] = dataclasses.replace(
        posts[5], text=gone, segments=(Segment("own", gone, 0),), deleted=True
    )
    thread = await save(db, "ferry", tuple(posts))
    analyses = Analyses(db, processes=processes, pool_threshold=1)
    try:
        summary = await analyses.summary(thread, SummaryRequest(sentences=50), Loader(db, "ferry"))
        stance = await analyses.stance(thread, Loader(db, "ferry"), topic="zeppelins")
        quotes = await analyses.quotes(thread, Loader(db, "ferry"))
    finally:
        await analyses.close()
    assert analyses.stats.in_process == (2 if processes else 0)
    assert summary.considered_posts == 11
    assert all(s.post != 6 for s in summary.sentences)
    assert not any(p.topic_sentences for p in stance.participants)
    assert "sailor6" not in quotes.members  # every analysis leaves deleted posts out (issue 16)


async def test_cached_stance_and_quotes_read_no_posts(db: Database, monkeypatch):
    services = Services(db, Settings(), processes=False)
    try:
        await save(db, "t", thread_posts(40, seed=3))
        reads: list[str] = []
        original = services.threads.posts

        async def counted(*args, **kwargs):
            reads.append(args[1])
            return await original(*args, **kwargs)

        monkeypatch.setattr(services.threads, "posts", counted)
        first_stance = await services.stance(SCOPE, "t")
        first_quotes = await services.quotes(SCOPE, "t")
        assert len(reads) == 2  # one read each, to compute
        assert await services.stance(SCOPE, "t") == first_stance
        assert await services.quotes(SCOPE, "t") == first_quotes
        assert len(reads) == 2 and services.analyses.stats.hits == 2  # cache: no post read
        assert first_stance.post_urls == {p.number: p.url for p in await original(SCOPE, "t")}
        full = await services.quotes(SCOPE, "t", with_posts=True)
        assert full.report == first_quotes.report and len(full.posts) == 40
        assert first_quotes.posts == ()
    finally:
        await services.close()


async def test_a_big_ingest_infers_its_quotes_in_the_pool_and_other_commands_are_answered(
    db: Database, tmp_path
):
    """Quote inference of a thread of POOL_THRESHOLD_POSTS posts or more runs in the pool's
    worker: meanwhile the bot lists threads and summarises another one, and the ingest's
    progress lines are the same as in a thread."""
    from bench.synthetic import make_thread

    doc = make_thread(posts=5_000, seed=11, authors=30).doc
    assert len(doc.posts) >= POOL_THRESHOLD_POSTS
    services = Services(db, Settings())
    lines: list[str] = []
    try:
        await save(db, "short", thread_posts(30, seed=8))
        await services.analyses.warm_up()
        running = asyncio.create_task(
            services.ingest_doc(SCOPE, doc, name="mega", progress=lines.append)
        )
        for _ in range(2_000):  # until the inference is handed to the worker
            if services.analyses.stats.in_process:
                break
            await asyncio.sleep(0.01)
        assert services.analyses.stats.in_process == 1
        listed = await services.list_threads(SCOPE)
        quick = await services.summary(SCOPE, "short", SummaryRequest(sentences=1))
        assert not running.done(), "the loop was free while the worker found the quotes"
        assert [t.name for t in listed] == ["short"] and len(quick.summary.sentences) == 1
        stored = await running
    finally:
        await services.close()
    assert stored.created and stored.thread.post_count == 5_000
    assert lines[0].startswith("Found 5,000 posts in")  # counts read with separators
    assert lines[1].startswith("Found ") and " quotes between " in lines[1]
    assert lines[-1] == "Saving…"

    # the same thread analysed in a thread of this process: the same posts and edges
    other = await open_database(tmp_path / "threads-in-process.db")
    try:
        alone = Services(other, Settings(), processes=False)
        await alone.ingest_doc(SCOPE, doc, name="mega")
        same = ThreadRepository(other)
        assert await same.edges(SCOPE, "mega") == await ThreadRepository(db).edges(SCOPE, "mega")
        assert [p.segments for p in await same.posts(SCOPE, "mega")] == [
            p.segments for p in await ThreadRepository(db).posts(SCOPE, "mega")
        ]
    finally:
        await other.close()
