"""Repositories: idempotent atomic saves, scope isolation, cache validity, cascades."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from storage_builders import T0, dump, expected_edges, integrity_error, make_post, make_thread

import storage.repositories as repositories
import storage.sqlite as sqlite_backend
from bot.core.models import QuoteEdge
from bot.errors import NotFound
from storage import (
    AnalysisCacheRepository,
    Database,
    DigestScheduleRepository,
    ThreadRepository,
)

A, B = "discord:111", "matrix:!room:example.org"


# --- save ---------------------------------------------------------------------------------


async def test_first_save_creates_everything(threads: ThreadRepository) -> None:
    thread = make_thread(6)
    result = await threads.save("local", "trams", thread)
    assert (result.created, result.added, result.updated, result.unchanged) == (True, 6, 0, 0)
    stored = result.thread
    assert (stored.scope, stored.name, stored.title, stored.revision) == (
        "local",
        "trams",
        thread.title,
        1,
    )
    assert (stored.source_kind, stored.source_url, stored.language) == ("text", thread.url, "en")
    assert (stored.post_count, stored.author_count) == (6, 3)
    assert stored.created_at == stored.updated_at and stored.created_at.tzinfo is not None
    assert await threads.get("local", "trams") == stored

    posts = await threads.posts("local", "trams")
    assert [p.number for p in posts] == [1, 2, 3, 4, 5, 6]
    for got, want in zip(posts, thread.posts, strict=True):
        assert (got.text, got.segments, got.author, got.source_id, got.time, got.url) == (
            want.text, want.segments, want.author, want.source_id, want.time, want.url,
        )  # fmt: skip
        assert got.content_hash == want.content_hash
    assert await threads.edges("local", "trams") == expected_edges(thread)


@pytest.mark.parametrize("values", [13, 40, 32766])
async def test_rows_are_the_same_however_many_go_in_one_statement(
    db: Database, threads: ThreadRepository, monkeypatch: pytest.MonkeyPatch, values: int
) -> None:
    # SQLite inserts new posts and segments several rows a statement, up to MAX_VARIABLES
    # values: one row a statement (13), a few with a short last chunk (40), all at once
    monkeypatch.setattr(sqlite_backend, "MAX_VARIABLES", values)
    thread = make_thread(9)
    await threads.save("local", "trams", thread)
    posts = await threads.posts("local", "trams")
    assert [(p.number, p.text, p.segments, p.author, p.time) for p in posts] == [
        (w.number, w.text, w.segments, w.author, w.time) for w in thread.posts
    ]
    assert sum(len(p.segments) for p in posts) > 9  # several segments a post, split too
    ids = await db.fetch("SELECT number FROM posts ORDER BY id")
    assert [r[0] for r in ids] == list(range(1, 10))  # ids in thread order, as before
    assert await threads.edges("local", "trams") == expected_edges(thread)


async def test_resaving_the_same_copy_changes_nothing(
    db: Database, threads: ThreadRepository
) -> None:
    first = await threads.save("local", "trams", make_thread(8))
    before = await dump(db)
    again = await threads.save("local", "trams", make_thread(8))
    assert (again.created, again.added, again.updated, again.unchanged) == (False, 0, 0, 8)
    assert again.thread == first.thread  # same revision, same updated_at
    assert await dump(db) == before


async def test_longer_copy_adds_exactly_the_new_posts(
    db: Database, threads: ThreadRepository
) -> None:
    first = await threads.save("local", "trams", make_thread(5))
    old_rows = await db.fetch("SELECT id, number FROM posts ORDER BY number")
    result = await threads.save("local", "trams", make_thread(9))
    assert (result.added, result.updated, result.unchanged) == (4, 0, 5)
    assert result.thread.revision == first.thread.revision + 1
    assert result.thread.post_count == 9
    assert result.thread.updated_at >= first.thread.updated_at
    assert result.thread.created_at == first.thread.created_at
    new_rows = await db.fetch("SELECT id, number FROM posts ORDER BY number")
    assert [tuple(r) for r in new_rows[:5]] == [tuple(r) for r in old_rows]  # untouched
    assert await threads.edges("local", "trams") == expected_edges(make_thread(9))


async def test_shorter_copy_loses_nothing(threads: ThreadRepository) -> None:
    await threads.save("local", "trams", make_thread(7))
    result = await threads.save("local", "trams", make_thread(4))
    assert (result.added, result.updated, result.unchanged) == (0, 0, 4)
    assert result.thread.revision == 1
    assert len(await threads.posts("local", "trams")) == 7


async def test_edited_post_is_updated_and_edges_follow(threads: ThreadRepository) -> None:
    await threads.save("local", "trams", make_thread(5))
    posts = list(make_thread(5).posts)
    posts[3] = make_post(4, text="I changed my mind entirely.", quotes=1)  # quoted 3, now 1
    result = await threads.save("local", "trams", make_thread(0, posts=tuple(posts)))
    assert (result.added, result.updated, result.unchanged) == (0, 1, 4)
    assert result.thread.revision == 2
    stored = await threads.post("local", "trams", 4)
    assert stored is not None
    assert stored.own_text == "I changed my mind entirely."
    assert stored.segments == posts[3].segments
    edges = await threads.edges("local", "trams")
    assert QuoteEdge(4, 1, 1) in edges and QuoteEdge(4, 3, 1) not in edges


@pytest.mark.parametrize(
    "change",
    [
        {"author": "someone else"},
        {"url": "https://forum.example/elsewhere"},
        {"source_id": "p999"},
        {"time": T0 + timedelta(days=1)},
    ],
)
async def test_any_post_field_change_is_an_update(threads: ThreadRepository, change: dict) -> None:
    await threads.save("local", "trams", make_thread(3))
    posts = list(make_thread(3).posts)
    posts[1] = replace(posts[1], **change)
    result = await threads.save("local", "trams", make_thread(0, posts=tuple(posts)))
    assert (result.updated, result.thread.revision) == (1, 2)


async def test_segment_only_change_is_an_update(threads: ThreadRepository) -> None:
    await threads.save("local", "trams", make_thread(3))
    posts = list(make_thread(3).posts)
    seg = posts[2].segments[0]
    posts[2] = replace(posts[2], segments=(replace(seg, explicit=False), *posts[2].segments[1:]))
    result = await threads.save("local", "trams", make_thread(0, posts=tuple(posts)))
    assert (result.updated, result.thread.revision) == (1, 2)
    stored = await threads.post("local", "trams", 3)
    assert stored is not None and stored.segments[0].explicit is False


async def test_likes_are_kept_and_a_change_of_likes_alone_is_not_an_edit(
    threads: ThreadRepository,
) -> None:
    """Likes or votes move all the time: storing new counts is a new revision (summaries
    read them) but no post is reported as edited."""
    posts = [replace(p, likes=n) for n, p in enumerate(make_thread(3).posts)]
    posts[2] = replace(posts[2], likes=None)  # a source that counts nothing
    await threads.save("local", "trams", make_thread(0, posts=tuple(posts)))
    assert [p.likes for p in await threads.posts("local", "trams")] == [0, 1, None]
    again = await threads.save("local", "trams", make_thread(0, posts=tuple(posts)))
    assert (again.updated, again.unchanged, again.thread.revision) == (0, 3, 1)
    posts[1] = replace(posts[1], likes=12)
    liked = await threads.save("local", "trams", make_thread(0, posts=tuple(posts)))
    assert (liked.added, liked.updated, liked.unchanged, liked.thread.revision) == (0, 0, 3, 2)
    assert [p.likes for p in await threads.posts("local", "trams")] == [0, 12, None]
    posts[0] = replace(posts[0], text="An edited post.", likes=-3)  # Reddit scores go below 0
    edited = await threads.save("local", "trams", make_thread(0, posts=tuple(posts)))
    assert (edited.updated, edited.thread.revision) == (1, 3)
    assert (await threads.post("local", "trams", 1)).likes == -3


@pytest.mark.parametrize(
    "change", [{"title": "New title"}, {"url": "https://x.example/t"}, {"language": "de"}]
)
async def test_thread_metadata_change_bumps_revision(
    threads: ThreadRepository, change: dict
) -> None:
    await threads.save("local", "trams", make_thread(3))
    result = await threads.save("local", "trams", make_thread(3, **change))
    assert (result.added, result.updated, result.unchanged) == (0, 0, 3)
    assert result.thread.revision == 2


async def test_edges_come_from_segments_not_from_the_caller(threads: ThreadRepository) -> None:
    lying = make_thread(4, edges=(QuoteEdge(1, 4, 7),))
    await threads.save("local", "trams", lying)
    assert await threads.edges("local", "trams") == expected_edges(lying)
    assert QuoteEdge(1, 4, 7) not in await threads.edges("local", "trams")


async def test_naive_post_times_are_stored_as_utc(threads: ThreadRepository) -> None:
    post = replace(make_post(1), time=datetime(2024, 1, 2, 3, 4, 5))
    await threads.save("local", "t", make_thread(0, posts=(post,)))
    stored = await threads.post("local", "t", 1)
    assert stored is not None and stored.time == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


async def test_duplicate_or_bad_post_numbers_are_rejected(threads: ThreadRepository) -> None:
    with pytest.raises(ValueError, match="unique"):
        await threads.save("local", "t", make_thread(0, posts=(make_post(1), make_post(1))))
    with pytest.raises(ValueError):
        await threads.save("local", "t", make_thread(0, posts=(make_post(0),)))
    assert await threads.get("local", "t") is None


# --- atomicity ----------------------------------------------------------------------------


async def _fail_in_sql(db: Database, table: str, when: str) -> None:
    """A trigger makes the database itself abort mid-save when `when` holds for a new row
    (a TEMP trigger on SQLite's write connection; a trigger function on PostgreSQL)."""
    async with db.transaction() as conn:
        if db.dialect == "sqlite":
            await conn.execute(
                f"CREATE TEMP TRIGGER tw_fail BEFORE INSERT ON {table} WHEN {when}"
                " BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
            )
        else:
            await conn.execute_script(
                "CREATE FUNCTION tw_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                f" IF {when} THEN RAISE EXCEPTION 'injected failure' USING ERRCODE = '23514';"
                " END IF; RETURN NEW; END $$;"
                f" CREATE TRIGGER tw_fail BEFORE INSERT ON {table}"
                " FOR EACH ROW EXECUTE FUNCTION tw_fail();"
            )


async def _stop_failing(db: Database, table: str) -> None:
    async with db.transaction() as conn:
        if db.dialect == "sqlite":
            await conn.execute("DROP TRIGGER temp.tw_fail")
        else:
            await conn.execute_script(f"DROP TRIGGER tw_fail ON {table}; DROP FUNCTION tw_fail();")


async def test_failure_on_the_fifth_new_post_leaves_no_trace(
    db: Database, threads: ThreadRepository
) -> None:
    await threads.save("local", "other", make_thread(3))
    before = await dump(db)
    # Posts 1-4 and the thread row are already written when post 5 fails.
    await _fail_in_sql(db, "posts", "NEW.number = 5")
    with pytest.raises(integrity_error(db), match="injected failure"):
        await threads.save("local", "trams", make_thread(10))
    assert await dump(db) == before
    await _stop_failing(db, "posts")
    result = await threads.save("local", "trams", make_thread(10))  # usable afterwards
    assert result.created and result.added == 10


async def test_failure_half_way_through_a_refresh_leaves_no_trace(
    db: Database, threads: ThreadRepository
) -> None:
    await threads.save("local", "trams", make_thread(6))
    before = await dump(db)
    # Fails while re-inserting the segments of edited post 5: by then the title, all edited
    # posts and the new posts 7-11 have been written and old segments deleted.
    await _fail_in_sql(db, "segments", "(SELECT number FROM posts WHERE id = NEW.post_id) = 5")
    posts = [make_post(i, text=f"edited {i}") for i in range(1, 7)]
    posts += [make_post(i) for i in range(7, 12)]
    with pytest.raises(integrity_error(db)):
        await threads.save("local", "trams", make_thread(0, title="Changed", posts=tuple(posts)))
    assert await dump(db) == before
    stored = await threads.get("local", "trams")
    assert stored is not None and stored.revision == 1


async def test_python_error_after_all_writes_leaves_no_trace(
    db: Database, threads: ThreadRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    await threads.save("local", "trams", make_thread(2))
    before = await dump(db)

    async def broken(conn: object, thread_id: int) -> None:
        raise RuntimeError("bug in edge code")

    monkeypatch.setattr(repositories, "_recompute_edges", broken)
    with pytest.raises(RuntimeError, match="bug in edge code"):
        await threads.save("local", "trams", make_thread(9))
    assert await dump(db) == before


async def test_cancelled_save_leaves_no_trace(
    db: Database, threads: ThreadRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    await threads.save("local", "trams", make_thread(2))
    before = await dump(db)
    real = repositories._recompute_edges
    reached = asyncio.Event()

    async def slow(conn, thread_id):  # type: ignore[no-untyped-def]
        await real(conn, thread_id)
        reached.set()
        await asyncio.sleep(3600)

    monkeypatch.setattr(repositories, "_recompute_edges", slow)
    task = asyncio.create_task(threads.save("local", "trams", make_thread(9)))
    await reached.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await dump(db) == before
    monkeypatch.undo()
    assert (await threads.save("local", "trams", make_thread(9))).added == 7


# --- reads ----------------------------------------------------------------------------------


async def test_post_ranges_and_missing_things(threads: ThreadRepository) -> None:
    await threads.save("local", "trams", make_thread(10))
    assert [p.number for p in await threads.posts("local", "trams", first=3, last=5)] == [3, 4, 5]
    assert [p.number for p in await threads.posts("local", "trams", first=9)] == [9, 10]
    assert [p.number for p in await threads.posts("local", "trams", last=2)] == [1, 2]
    assert await threads.post("local", "trams", 11) is None
    assert await threads.get("local", "nope") is None
    with pytest.raises(NotFound):
        await threads.posts("local", "nope")
    with pytest.raises(NotFound):
        await threads.post("local", "nope", 1)
    with pytest.raises(NotFound):
        await threads.edges("local", "nope")


async def test_post_urls_are_the_links_of_the_stored_posts(threads: ThreadRepository) -> None:
    thread = make_thread(6)
    posts = [replace(p, url=None) if p.number == 4 else p for p in thread.posts]
    await threads.save("local", "trams", replace(thread, posts=posts))
    stored = await threads.posts("local", "trams")
    want = {p.number: p.url for p in stored if p.url}
    assert 4 not in want and len(want) == 5
    assert await threads.post_urls("local", "trams") == want
    assert await threads.source_ids("local", "trams") == {p.source_id for p in stored}


async def test_news_after_counts_standing_posts_without_reading_them(
    threads: ThreadRepository,
) -> None:
    thread = make_thread(8)
    posts = [replace(p, deleted=True) if p.number in (6, 8) else p for p in thread.posts]
    await threads.save("local", "trams", replace(thread, posts=posts))
    assert await threads.news_after("local", "trams", 0) == (8, 6)
    assert await threads.news_after("local", "trams", 5) == (8, 1)  # 7 stands, 6 and 8 not
    assert await threads.news_after("local", "trams", 5, upto=6) == (6, 0)
    assert await threads.news_after("local", "trams", 8) == (0, 0)
    assert await threads.news_after("local", "trams", 3, upto=2) == (0, 0)
    with pytest.raises(NotFound):
        await threads.post_urls("local", "nope")
    with pytest.raises(NotFound):
        await threads.post_urls(A, "trams")


async def test_list_names_and_source_url(threads: ThreadRepository) -> None:
    for name in ("zebra", "Trams", "tram_lines", "tram%s", "buses"):
        await threads.save("local", name, make_thread(2, url=f"https://forum.example/{name}"))
    listed = [t.name for t in await threads.list("local")]
    assert listed == ["buses", "tram%s", "tram_lines", "Trams", "zebra"]
    assert all(t.post_count == 2 for t in await threads.list("local"))
    assert await threads.names("local", "tram") == ["tram%s", "tram_lines", "Trams"]
    assert await threads.names("local", "tram_") == ["tram_lines"]
    assert await threads.names("local", "tram%") == ["tram%s"]
    assert await threads.names("local", "", limit=2) == ["buses", "tram%s"]
    assert await threads.names("local", "", limit=0) == []
    found = await threads.find_by_source_url("local", "https://forum.example/zebra")
    assert found is not None and found.name == "zebra"
    assert await threads.find_by_source_url("local", "https://forum.example/none") is None


# --- scopes ---------------------------------------------------------------------------------


async def test_scopes_never_see_each_other(
    db: Database,
    threads: ThreadRepository,
    cache: AnalysisCacheRepository,
    schedules: DigestScheduleRepository,
) -> None:
    url = "https://forum.example/t/1"
    await threads.save(A, "trams", make_thread(3, title="A's thread", url=url))
    await threads.save(B, "trams", make_thread(0, title="B's thread", url=url, posts=(
        make_post(1, text="only in B"), make_post(2, text="also B", quotes=1),
    )))  # fmt: skip
    await cache.put(A, "trams", "summary", "k", '"A result"')
    sid_a = await schedules.add(A, "trams", "chan-a", "09:00", "UTC")
    sid_b = await schedules.add(B, "trams", "!room-b", "10:00", "UTC")

    a, b = await threads.get(A, "trams"), await threads.get(B, "trams")
    assert a is not None and b is not None and a.id != b.id
    assert (a.title, a.post_count, b.title, b.post_count) == ("A's thread", 3, "B's thread", 2)
    assert [t.title for t in await threads.list(A)] == ["A's thread"]
    assert await threads.names(B) == ["trams"]
    assert (await threads.find_by_source_url(B, url)).title == "B's thread"  # type: ignore[union-attr]
    assert [p.own_text for p in await threads.posts(B, "trams")] == ["only in B", "also B"]
    assert await threads.edges(B, "trams") == [QuoteEdge(2, 1, 1)]
    assert await threads.edges(A, "trams") == [QuoteEdge(2, 1, 1), QuoteEdge(3, 2, 1)]
    assert await cache.get(B, "trams", "summary", "k") is None
    assert await cache.get(A, "trams", "summary", "k") == '"A result"'
    assert [s.id for s in await schedules.list(A)] == [sid_a]
    assert [s.id for s in await schedules.list(B)] == [sid_b]
    assert await threads.list("local") == []

    # Nothing can be changed across scopes, not even with a known id.
    assert not await schedules.remove(B, sid_a)
    assert not await schedules.mark_run(B, sid_a, 3, T0)
    assert await threads.forget("local", "trams") is False
    assert await threads.forget(B, "trams") is True
    assert await threads.get(A, "trams") == a
    assert [s.id for s in await schedules.list(A)] == [sid_a]
    with pytest.raises(NotFound):
        await cache.put(B, "trams", "summary", "k", "{}")


@pytest.mark.parametrize(
    "scope",
    [
        "",
        "LOCAL",
        "discord:",
        "discord:abc",
        "matrix:room",
        "slack:1",
        None,
        "discord:1\n",  # `$` matches before a final newline: issue 16
        "local\n",
        "discord:\u0661",  # an Arabic-Indic digit is not a guild id
    ],
)
async def test_invalid_scope_is_rejected_everywhere(
    threads: ThreadRepository,
    cache: AnalysisCacheRepository,
    schedules: DigestScheduleRepository,
    scope: str,
) -> None:
    calls = [
        threads.get(scope, "t"),
        threads.list(scope),
        threads.names(scope),
        threads.find_by_source_url(scope, "u"),
        threads.posts(scope, "t"),
        threads.post(scope, "t", 1),
        threads.edges(scope, "t"),
        threads.save(scope, "t", make_thread(1)),
        threads.forget(scope, "t"),
        cache.get(scope, "t", "k", "p"),
        cache.put(scope, "t", "k", "p", "{}"),
        schedules.add(scope, "t", "c", "09:00", "UTC"),
        schedules.list(scope),
        schedules.remove(scope, 1),
        schedules.mark_run(scope, 1, 1, T0),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="scope"):
            await call


# --- analysis cache ---------------------------------------------------------------------------


async def test_cache_is_valid_for_one_revision(
    threads: ThreadRepository, cache: AnalysisCacheRepository
) -> None:
    await threads.save("local", "trams", make_thread(3))
    assert await cache.get("local", "trams", "summary", "lsa:5") is None
    assert await cache.put("local", "trams", "summary", "lsa:5", '{"v": 1}')
    assert await cache.get("local", "trams", "summary", "lsa:5") == '{"v": 1}'
    assert await cache.get("local", "trams", "summary", "lsa:6") is None
    assert await cache.put("local", "trams", "summary", "lsa:5", '{"v": 2}')  # overwrite
    assert await cache.get("local", "trams", "summary", "lsa:5") == '{"v": 2}'

    await threads.save("local", "trams", make_thread(3))  # identical: still valid
    assert await cache.get("local", "trams", "summary", "lsa:5") == '{"v": 2}'

    await threads.save("local", "trams", make_thread(4))  # revision 2
    assert await cache.get("local", "trams", "summary", "lsa:5") is None
    # A result computed from revision 1 that arrives late is not stored.
    assert not await cache.put("local", "trams", "summary", "lsa:5", '{"v": 3}', revision=1)
    assert await cache.get("local", "trams", "summary", "lsa:5") is None
    assert await cache.put("local", "trams", "summary", "lsa:5", '{"v": 4}', revision=2)
    assert await cache.get("local", "trams", "summary", "lsa:5") == '{"v": 4}'


async def test_cache_takes_a_utf8_document_as_bytes(
    threads: ThreadRepository, cache: AnalysisCacheRepository
) -> None:
    """orjson's bytes go in as they are (SQLite) or as their text (PostgreSQL), and come
    back as the same text either way."""
    await threads.save("local", "trams", make_thread(3))
    document = '{"said": "Zürich → 東京 “quoted” 🚋", "n": 1}'
    assert await cache.put("local", "trams", "stance", "k", document.encode("utf-8"))
    assert await cache.get("local", "trams", "stance", "k") == document


async def test_cache_for_missing_thread(cache: AnalysisCacheRepository) -> None:
    assert await cache.get("local", "nope", "summary", "k") is None
    with pytest.raises(NotFound):
        await cache.put("local", "nope", "summary", "k", "{}")


# --- digest schedules -------------------------------------------------------------------------


async def test_schedules_add_list_mark_remove(
    threads: ThreadRepository, schedules: DigestScheduleRepository
) -> None:
    await threads.save("local", "trams", make_thread(3))
    daily = await schedules.add("local", "trams", "term", "08:30", "Europe/Berlin", created_by="me")
    weekly = await schedules.add("local", "trams", "term", "18:00", "UTC", "weekly", 4)
    listed = await schedules.list("local")
    assert [(s.id, s.cadence, s.weekday) for s in listed] == [
        (daily, "daily", None),
        (weekly, "weekly", 4),
    ]
    first = listed[0]
    assert (first.thread_name, first.time_of_day, first.timezone) == (
        "trams",
        "08:30",
        "Europe/Berlin",
    )
    assert (first.last_post_seen, first.last_run_at, first.enabled, first.created_by) == (
        0,
        None,
        True,
        "me",
    )

    run_at = datetime(2024, 5, 1, 6, 30, tzinfo=UTC)
    assert await schedules.mark_run("local", daily, 3, run_at)
    marked = (await schedules.list("local"))[0]
    assert (marked.last_post_seen, marked.last_run_at) == (3, run_at)

    assert await schedules.remove("local", weekly)
    assert not await schedules.remove("local", weekly)
    assert [s.id for s in await schedules.list("local")] == [daily]
    assert not await schedules.mark_run("local", 12345, 1, run_at)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("c", "24:00", "UTC"), "HH:MM"),
        (("c", "9:00", "UTC"), "HH:MM"),
        (("", "09:00", "UTC"), "target"),
        (("c", "09:00", ""), "timezone"),
        (("c", "09:00", "UTC", "weekly"), "weekday"),
        (("c", "09:00", "UTC", "weekly", 7), "weekday"),
        (("c", "09:00", "UTC", "daily", 1), "weekday"),
        (("c", "09:00", "UTC", "hourly"), "cadence"),
    ],
)
async def test_schedule_arguments_are_checked(
    threads: ThreadRepository, schedules: DigestScheduleRepository, args: tuple, match: str
) -> None:
    await threads.save("local", "trams", make_thread(1))
    with pytest.raises(ValueError, match=match):
        await schedules.add("local", "trams", *args)


async def test_schedule_for_missing_thread(schedules: DigestScheduleRepository) -> None:
    with pytest.raises(NotFound):
        await schedules.add("local", "nope", "c", "09:00", "UTC")


# --- forget -----------------------------------------------------------------------------------


async def test_forget_cascades_to_everything(
    db: Database,
    threads: ThreadRepository,
    cache: AnalysisCacheRepository,
    schedules: DigestScheduleRepository,
) -> None:
    await threads.save("local", "keep", make_thread(2))
    before = await dump(db)
    await threads.save("local", "trams", make_thread(5))
    await cache.put("local", "trams", "summary", "k", "{}")
    await schedules.add("local", "trams", "c", "09:00", "UTC")
    assert await threads.forget("local", "trams") is True
    assert await threads.get("local", "trams") is None
    assert await dump(db) == before  # no orphan posts, segments, edges, cache rows, schedules
    assert await threads.forget("local", "trams") is False


async def test_thread_name_is_required(threads: ThreadRepository) -> None:
    with pytest.raises(ValueError, match="name"):
        await threads.get("local", "  ")


async def test_reply_edges_are_recomputed_in_sql_like_in_memory(tmp_path) -> None:
    from bot.core.models import Block, PostDoc, ThreadDoc
    from bot.core.quotes import infer_quotes
    from storage.database import open_database
    from storage.repositories import ThreadRepository

    long = "Every budget since the flood has pushed the library wing back another year again."
    doc = ThreadDoc(
        title="t",
        source_kind="reddit",
        posts=(
            PostDoc(blocks=(Block(long),), author="ana", author_id="u1", source_id="c1"),
            PostDoc(blocks=(Block("No."),), author="bo", source_id="c2", reply_to_source_id="c1"),
            PostDoc(blocks=(Block(long), Block("Yes.")), author="cy", reply_to_source_id="c1"),
            PostDoc(blocks=(Block("Gone."),), deleted=True),
        ),
    )
    analysed = infer_quotes(doc)
    db = await open_database(tmp_path / "r.db")
    try:
        repo = ThreadRepository(db)
        await repo.save("local", "t", analysed)
        assert await repo.edges("local", "t") == list(analysed.edges)
        posts = await repo.posts("local", "t")
        assert posts[0].author_id == "u1" and posts[1].reply_to == 1 and posts[3].deleted
    finally:
        await db.close()
