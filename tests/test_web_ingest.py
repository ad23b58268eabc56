"""Web ingest end to end: the safe fetcher on loopback, a XenForo reader, SQLite, refresh."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import time
from pathlib import Path

import pytest

from bot.errors import SourceError
from bot.settings import load_settings
from bot.usecases.services import Services
from storage.database import open_database
from tests.sources.loopback import LoopbackServer, Page
from tests.sources.test_xenforo import (
    OWN_POSTS,
    QUOTES,
    T0,
    THREAD_PATH,
    xf2_page,
    xf2_post,
    xf2_quote,
)


def bodies(posts=OWN_POSTS, edits: dict[int, str] | None = None) -> list[str]:
    out = []
    for post_id, author, words in posts:
        words = (edits or {}).get(post_id, words)
        quote = ""
        if post_id in QUOTES:
            source, text = QUOTES[post_id]
            quote = xf2_quote(next(a for i, a, _ in OWN_POSTS if i == source), source, text)
        out.append(xf2_post(post_id, author, T0 + post_id * 60, quote + words))
    return out


def routes(post_bodies: list[str], per_page: int = 2) -> dict[str, Page]:
    pages = [post_bodies[i : i + per_page] for i in range(0, len(post_bodies), per_page)]
    last = len(pages)
    return {
        (THREAD_PATH if n == 1 else f"{THREAD_PATH}page-{n}"): Page(xf2_page(chunk, n, last))
        for n, chunk in enumerate(pages, start=1)
    }


def settings(allow_private: bool = True, **fetch_settings):
    base = load_settings(None, {})
    fetch = dataclasses.replace(
        base.fetch, allow_private_addresses=allow_private, per_host_delay=0.0, **fetch_settings
    )
    return dataclasses.replace(base, fetch=fetch)


@pytest.fixture
async def services(tmp_path):
    db = await open_database(tmp_path / "w.db")
    svc = Services(db, settings())
    yield svc
    await svc.close()
    await db.close()


def dump(path: Path) -> list:
    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return [(n, sorted(conn.execute(f"SELECT * FROM {n}").fetchall())) for n in sorted(names)]


async def test_every_page_is_read_and_explicit_quotes_become_edges(services):
    async with LoopbackServer(routes(bodies())) as forum:
        lines: list[str] = []
        url = forum.url(THREAD_PATH)
        result = await services.ingest_url("local", url, progress=lines.append)
    assert result.created and result.thread.post_count == 6
    assert result.thread.source_url == url
    assert any("page 3 of 3" in line for line in lines)
    view = await services.view("local", result.thread.name)
    assert [p.author for p in view.posts] == [a for _, a, _ in OWN_POSTS]
    assert {(e.from_post, e.to_post) for e in view.edges} == {(2, 1), (4, 2), (6, 3)}
    assert all(p.url and p.url.startswith("http://127.0.0.1") for p in view.posts)


async def test_refresh_adds_exactly_the_new_posts_and_keeps_numbers(services):
    async with LoopbackServer(routes(bodies())) as forum:
        first = await services.ingest_url("local", forum.url(THREAD_PATH), name="tram")
        assert (await services.refresh("local", "tram")).changed is False
        more = [*OWN_POSTS, (1007, "Ines", "A river road tram would flood every other winter.")]
        forum.routes.clear()
        forum.routes.update(routes(bodies(more)))
        result = await services.refresh("local", "tram")
    assert (result.added, result.updated) == (1, 0)
    assert result.thread.revision == first.thread.revision + 1
    view = await services.view("local", "tram")
    assert [p.source_id for p in view.posts] == [str(i) for i, _, _ in more]


async def test_edited_and_vanished_posts_are_updated_and_marked_deleted(services):
    async with LoopbackServer(routes(bodies())) as forum:
        await services.ingest_url("local", forum.url(THREAD_PATH), name="tram")
        remaining = [p for p in OWN_POSTS if p[0] != 1003]
        forum.routes.clear()
        forum.routes.update(routes(bodies(remaining, edits={1005: "Edited: trams win on cost."})))
        result = await services.refresh("local", "tram", full=True)
    view = await services.view("local", "tram")
    by_id = {p.source_id: p for p in view.posts}
    assert len(view.posts) == 6  # nothing renumbered, nothing lost
    assert by_id["1003"].deleted and by_id["1003"].number == 3
    assert "Edited: trams win on cost." in by_id["1005"].text
    assert by_id["1004"].number == 4
    assert (result.added, result.updated, result.deleted) == (0, 1, 1)


async def test_a_page_that_is_not_a_thread_stores_nothing(services, tmp_path):
    index = xf2_page([], 1, 1, template="forum_view")
    async with LoopbackServer({"/community/forums/general.3/": Page(index)}) as forum:
        before = dump(tmp_path / "w.db")
        with pytest.raises(SourceError, match="not a thread"):
            await services.ingest_url("local", forum.url("/community/forums/general.3/"))
    assert dump(tmp_path / "w.db") == before


async def test_private_addresses_are_refused_by_default(tmp_path):
    db = await open_database(tmp_path / "p.db")
    svc = Services(db, settings(allow_private=False))
    try:
        async with LoopbackServer(routes(bodies())) as forum:
            with pytest.raises(SourceError, match="private or local"):
                await svc.ingest_url("local", forum.url(THREAD_PATH))
            assert forum.connections == []
        assert await svc.list_threads("local") == []
    finally:
        await svc.close()
        await db.close()


def slow(pages: dict[str, Page], delay: float) -> dict[str, Page]:
    return {path: dataclasses.replace(page, delay=delay) for path, page in pages.items()}


JOB_BUDGET_ERROR = (
    r"reading the thread took longer than 1 s \(\[fetch\] job_seconds\); nothing was "
    "stored — try again later or raise the limit"
)


@pytest.fixture
async def budgeted(tmp_path):
    """Services whose whole read of a thread may take 1 s."""
    db = await open_database(tmp_path / "b.db")
    svc = Services(db, settings(job_seconds=1.0))
    yield svc
    await svc.close()
    await db.close()


async def test_a_slow_forum_runs_out_of_the_job_budget_and_nothing_is_stored(budgeted, tmp_path):
    # 3 pages of 0.8 s each: no single request is slow, the whole read is.
    async with LoopbackServer(slow(routes(bodies()), 0.8)) as forum:
        before = dump(tmp_path / "b.db")
        started = time.monotonic()
        with pytest.raises(SourceError, match=JOB_BUDGET_ERROR):
            await budgeted.ingest_url("local", forum.url(THREAD_PATH), name="tram")
        assert time.monotonic() - started < 2.0  # stopped at the budget, not after page 3
    assert dump(tmp_path / "b.db") == before
    assert await budgeted.list_threads("local") == []


async def test_a_refresh_past_the_job_budget_leaves_the_stored_thread_as_it_was(budgeted, tmp_path):
    async with LoopbackServer(routes(bodies())) as forum:
        first = await budgeted.ingest_url("local", forum.url(THREAD_PATH), name="tram")
        before = dump(tmp_path / "b.db")
        more = [*OWN_POSTS, (1007, "Ines", "A river road tram would flood every other winter.")]
        forum.routes.clear()
        forum.routes.update(slow(routes(bodies(more, edits={1005: "Edited."})), 0.6))
        with pytest.raises(SourceError, match=JOB_BUDGET_ERROR):
            await budgeted.refresh("local", "tram", full=True)
        assert dump(tmp_path / "b.db") == before
        # the same fetcher still works afterwards, and the budget is per read
        forum.routes.clear()
        forum.routes.update(routes(bodies(more)))
        result = await budgeted.refresh("local", "tram")
    assert result.added == 1 and result.thread.revision == first.thread.revision + 1


async def test_only_the_network_read_counts_against_the_job_budget(budgeted, monkeypatch):
    store = budgeted.ingest_doc

    async def slow_store(*args, **kwargs):
        await asyncio.sleep(1.2)  # longer than the whole budget
        return await store(*args, **kwargs)

    monkeypatch.setattr(budgeted, "ingest_doc", slow_store)
    async with LoopbackServer(routes(bodies())) as forum:
        result = await budgeted.ingest_url("local", forum.url(THREAD_PATH))
    assert result.created and result.thread.post_count == 6


def test_cli_ingests_a_url_with_a_config_that_allows_loopback(tmp_path):
    from tests.test_cli import tw

    config = tmp_path / "c.toml"
    config.write_text("[fetch]\nallow_private_addresses = true\nper_host_delay = 0.0\n")

    async def serve_and_ingest():
        async with LoopbackServer(routes(bodies())) as forum:
            return await asyncio.to_thread(
                tw,
                tmp_path / "cli.db",
                "--config",
                str(config),
                "ingest",
                forum.url(THREAD_PATH),
                "--json",
            )

    result = asyncio.run(serve_and_ingest())
    assert b'"posts": 6' in result.stdout


def test_unknown_forum_page_needs_best_effort(tmp_path):
    from tests.conftest import SHARED, need_shared
    from tests.test_cli import tw

    page = need_shared(
        SHARED / "fixtures" / "other" / "nodebb_community_new-design-for-nodebb-chat.html"
    )
    refused = tw(tmp_path / "n.db", "ingest", str(page), check=False)
    assert refused.returncode == 1 and b"NodeBB" in refused.stderr
    read = tw(tmp_path / "n.db", "ingest", str(page), "--best-effort", "--json")
    assert b'"source": "web"' in read.stdout


PLAIN_POSTS = [
    (2001 + i, name, f"{name} writes note {i} about the {topic} of the tram line.")
    for i, (name, topic) in enumerate(
        zip(
            ["Ada", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hal", "Ivy", "Jo", "Kit", "Lu"],
            ["depot", "bridge", "budget", "timetable", "noise", "route", "fares", "stops",
             "trees", "night service", "river crossing", "parking"],
            strict=True,
        )
    )
]  # fmt: skip


async def test_refresh_steps_back_when_deleted_posts_pulled_new_ones_onto_earlier_pages(
    services,
):
    # 8 posts on 4 pages; then 4 of them (2 pages' worth) are deleted and 4 new ones come:
    # the new posts now sit on pages 3-4, while the refresh would start at page 4.
    first_eight, new_four = PLAIN_POSTS[:8], PLAIN_POSTS[8:]
    async with LoopbackServer(routes(bodies(first_eight))) as forum:
        first = await services.ingest_url("local", forum.url(THREAD_PATH), name="tram")
        assert (first.thread.post_count, first.thread.resume_page) == (8, 4)
        now = [first_eight[0], *first_eight[5:], *new_four]
        forum.routes.clear()
        forum.routes.update(routes(bodies(now)))
        before = {path: forum.hits(path) for path in forum.routes}
        result = await services.refresh("local", "tram")
        hits = {path: forum.hits(path) - before[path] for path in forum.routes}
    view = await services.view("local", "tram")
    assert result.added == 4
    assert [p.source_id for p in view.posts[8:]] == [str(i) for i, _, _ in new_four]
    # It stepped back to page 3, which opens with #9: the post right after the last one
    # stored (#8), so nothing before it is missing. Each page once: the pages fetched on
    # the way back are read on without a refetch.
    assert hits[THREAD_PATH] == 0
    assert [hits[f"{THREAD_PATH}page-{n}"] for n in (2, 3, 4)] == [0, 1, 1]
    assert result.thread.resume_page == 4


async def test_a_failed_step_back_still_reads_on_from_the_page_in_hand(services):
    first_eight, new_four = PLAIN_POSTS[:8], PLAIN_POSTS[8:]
    async with LoopbackServer(routes(bodies(first_eight))) as forum:
        await services.ingest_url("local", forum.url(THREAD_PATH), name="tram")
        now = [first_eight[0], *first_eight[5:], *new_four]
        forum.routes.clear()
        forum.routes.update(routes(bodies(now)))
        forum.routes[f"{THREAD_PATH}page-3"] = Page("gone", status=404)
        result = await services.refresh("local", "tram")
    assert result.added == 2  # page 4's posts; page 3 could not be read this time
    view = await services.view("local", "tram")
    assert [p.source_id for p in view.posts[8:]] == [str(i) for i, _, _ in new_four[2:]]


async def test_refresh_starts_at_the_last_page_read(services):
    async with LoopbackServer(routes(bodies())) as forum:
        first = await services.ingest_url("local", forum.url(THREAD_PATH), name="tram")
        assert first.thread.resume_page == 3
        more = [*OWN_POSTS, (1007, "Ines", "A river road tram would flood every other winter.")]
        forum.routes.clear()
        forum.routes.update(routes(bodies(more)))
        before = {path: forum.hits(path) for path in forum.routes}
        result = await services.refresh("local", "tram")
        after = {path: forum.hits(path) for path in forum.routes}
    assert result.added == 1 and result.thread.post_count == 7
    assert after[THREAD_PATH] == before.get(THREAD_PATH, 0)  # page 1 was not fetched again
    assert after[f"{THREAD_PATH}page-2"] == before.get(f"{THREAD_PATH}page-2", 0)
    assert after[f"{THREAD_PATH}page-4"] == 1
    assert result.thread.resume_page == 4
