"""Issue 16, item 6: vBulletin 4 and 5 threads read by URL, as a user reads them (a
`threadwise` process, a forum served on loopback).

The page count is the thread's own pagination, never the page links of other threads on
the page; and when the page cap stops a read, "run refresh to continue" is true: each
refresh reads on from the next page until the thread is complete.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.process import arun, loopback_config
from tests.sources.loopback import LoopbackServer
from tests.sources.vbulletin_site import OTHER_THREAD_PAGES, VbThread

ROTA = [
    ("Rosa", "Whoever has plot 12 keeps leaving the tap running overnight."),
    ("Tomasz", "That was me, sorry, the valve is broken and sticks open."),
    ("Rosa", "Then tell the committee, they keep spare valves in the shed."),
    ("Aileen", "The shed key went missing at the summer fair, nobody has one."),
    ("Tomasz", "I can fit a new lock on Saturday if someone brings a padlock."),
    ("Rosa", "Bring two keys, one for the committee and one for the rota."),
]


@pytest.mark.parametrize("version", [4, 5])
async def test_a_one_page_thread_is_one_page(tmp_path: Path, version: int) -> None:
    thread = VbThread(version=version, posts=ROTA[:2], per_page=10)
    async with LoopbackServer(thread.routes()) as forum:
        done = await arun(
            tmp_path / "one.db", "ingest", forum.url(thread.path), config=loopback_config(tmp_path)
        )
        asked = forum.paths()
    assert done.code == 0, done.err
    assert done.out.startswith("Stored “Allotment water rota” as allotment-water-rota: 2 posts.")
    assert "page 1 of 1" in done.err
    assert not any("page" in path.rsplit("/", 1)[-1] for path in asked), asked
    assert not any("555" in path for path in asked), asked


@pytest.mark.parametrize("version", [4, 5])
async def test_refresh_continues_a_read_the_page_cap_stopped(tmp_path: Path, version: int) -> None:
    thread = VbThread(version=version, posts=ROTA, per_page=2)
    db, config = tmp_path / "rota.db", loopback_config(tmp_path, max_pages=1)
    async with LoopbackServer(thread.routes()) as forum:
        tw = lambda *args: arun(db, *args, config=config)  # noqa: E731
        first = await tw("ingest", forum.url(thread.path), "--name", "rota")
        second = await tw("refresh", "rota")
        third = await tw("refresh", "rota")
        fourth = await tw("refresh", "rota")
        shown = (await tw("show", "rota", "--json")).json()["posts"]
        asked = forum.paths()
    for done in (first, second, third, fourth):
        assert done.code == 0, done.err
    assert "stopped at page 1 of 3; run refresh to continue" in first.err
    assert first.out.startswith("Stored “Allotment water rota” as rota: 2 posts.")
    assert "stopped at page 2 of 3; run refresh to continue" in second.err
    assert second.out.startswith("Updated rota: 2 new posts, 0 edited, 0 deleted (4 in all).")
    assert "page 3 of 3" in third.err and "run refresh" not in third.err
    assert third.out.startswith("Updated rota: 2 new posts, 0 edited, 0 deleted (6 in all).")
    assert fourth.out.startswith("rota is already up to date (6 posts)")
    assert [(p["number"], p["author"], p["text"]) for p in shown] == [
        (n, author, words) for n, (author, words) in enumerate(ROTA, start=1)
    ]
    pages = [p for p in asked if p != "/robots.txt"]
    assert pages == [
        thread.page_path(1),
        thread.page_path(2),
        thread.page_path(3),
        thread.page_path(3),  # the last page again: new posts join it
    ]
    assert OTHER_THREAD_PAGES == 5 and not any("555" in p for p in asked)
