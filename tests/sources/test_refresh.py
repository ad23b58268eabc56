"""Merging a re-read into what is stored: numbers never shift, nothing is lost or doubled."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.models import Block, PostDoc, ThreadDoc
from bot.errors import UserError
from bot.settings import load_settings
from bot.usecases.services import Services
from storage.database import open_database

WORDS = {
    "m1": "The ferry should run until midnight on Fridays and Saturdays.",
    "m2": "Midnight is too late for the crew rota, eleven is the most they can do.",
    "m3": "Then hire a second crew, the fares would pay for it within a year.",
    "m4": "Fares only cover a third of the running cost, the council pays the rest.",
}


def chat(ids: list[str], kind: str = "discord", url: str = "https://chat.example/c/1") -> ThreadDoc:
    posts = tuple(
        PostDoc(blocks=(Block(WORDS[i]),), author=f"u-{i}", author_id=i, source_id=i) for i in ids
    )
    return ThreadDoc(title="ferry", posts=posts, source_kind=kind, url=url)


@pytest.fixture
async def services(tmp_path):
    db = await open_database(tmp_path / "r.db")
    svc = Services(db, load_settings(None, {}))
    yield svc
    await svc.close()
    await db.close()


async def numbered(services: Services) -> list[tuple[int, str | None, bool]]:
    view = await services.view("discord:1", "ferry")
    return [(p.number, p.source_id, p.deleted) for p in view.posts]


async def test_a_vanished_chat_message_is_marked_not_shifted(services):
    await services.ingest_doc("discord:1", chat(["m1", "m2", "m3", "m4"]))
    await services.ingest_doc("discord:1", chat(["m1", "m3", "m4"]))
    assert await numbered(services) == [
        (1, "m1", False),
        (2, "m2", True),
        (3, "m3", False),
        (4, "m4", False),
    ]


async def test_a_sliding_window_keeps_older_posts_and_appends_new_ones(services):
    await services.ingest_doc("discord:1", chat(["m1", "m2"]))
    result = await services.ingest_doc("discord:1", chat(["m2", "m3", "m4"]))
    assert result.added == 2
    assert await numbered(services) == [
        (1, "m1", False),
        (2, "m2", False),
        (3, "m3", False),
        (4, "m4", False),
    ]


async def test_posts_after_a_capped_read_are_not_called_deleted(services):
    await services.ingest_doc("discord:1", chat(["m1", "m2", "m3", "m4"]))
    await services.ingest_doc("discord:1", chat(["m1", "m2"]))  # a read that stopped early
    assert all(not deleted for _, _, deleted in await numbered(services))


async def test_posts_without_ids_are_not_doubled_on_a_re_read(services):
    doc = ThreadDoc(
        title="page",
        source_kind="web",
        url="https://site.example/a",
        posts=(PostDoc(blocks=(Block(WORDS["m1"]),)),),
    )
    from bot.sources.refresh import merge_refresh

    await services.ingest_doc("local", doc)
    stored = (await services.view("local", "page")).posts
    assert merge_refresh(stored, doc).new == 0


async def test_two_different_threads_racing_for_one_name_never_mix(services):
    first = chat(["m1", "m2"], url="https://chat.example/c/1")
    other = ThreadDoc(
        title="ferry",
        source_kind="discord",
        url="https://chat.example/c/2",
        posts=(PostDoc(blocks=(Block(WORDS["m4"]),), source_id="x9"),),
    )
    results = await asyncio.gather(
        services.ingest_doc("discord:1", first),
        services.ingest_doc("discord:1", other),
        return_exceptions=True,
    )
    assert sum(isinstance(r, UserError) for r in results) == 1
    view = await services.view("discord:1", "ferry")
    assert {p.source_id for p in view.posts} in ({"m1", "m2"}, {"x9"})


async def test_deleted_posts_leave_summaries_and_stances(services):
    from bot.core.summary import SummaryRequest

    await services.ingest_doc("discord:1", chat(["m1", "m2", "m3", "m4"]))
    await services.ingest_doc("discord:1", chat(["m1", "m3", "m4"]))
    summary = await services.summary("discord:1", "ferry", SummaryRequest(sentences=10))
    assert 2 not in {s.post for s in summary.summary.sentences}
    stance = await services.stance("discord:1", "ferry")
    assert "u-m2" not in {p.author for p in stance.report.participants}
