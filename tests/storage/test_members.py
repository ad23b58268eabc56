"""Opt-outs redact a member's stored words; departures purge after a grace period
(SQLite files and PostgreSQL databases alike)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.models import Block, PostDoc, ThreadDoc
from bot.core.quotes import infer_quotes
from storage.database import Database, open_database
from storage.members import REDACTED, BotStateRepository, OptOutRepository, ScopeRepository
from storage.repositories import ThreadRepository

WORDS = "The tram depot should go on the old gasworks site beside the ring road junction."


def chat(*posts: tuple[str, str]) -> ThreadDoc:
    return ThreadDoc(
        title="chat",
        source_kind="discord",
        posts=tuple(
            PostDoc(blocks=(Block(text),), author=f"name-{uid}", author_id=uid, source_id=str(i))
            for i, (uid, text) in enumerate(posts)
        ),
    )


async def test_opt_out_redacts_own_posts_and_quotes_of_them_in_that_scope_only(db_target):
    db = await open_database(db_target)
    try:
        threads = ThreadRepository(db)
        doc = chat(("u1", WORDS), ("u2", WORDS + "\nNo, the depot belongs north of the river."))
        for scope in ("discord:1", "discord:2"):
            await threads.save(scope, "c", infer_quotes(doc))
        before = (await threads.get("discord:1", "c")).revision
        result = await OptOutRepository(db).opt_out("discord:1", "u1")
        assert (result.posts, result.threads) == (1, 1)
        posts = await threads.posts("discord:1", "c")
        assert posts[0].text == REDACTED and posts[0].author is None and posts[0].deleted
        assert WORDS not in " ".join(s.text for p in posts for s in p.segments)
        assert (await threads.get("discord:1", "c")).revision == before + 1
        other = await threads.posts("discord:2", "c")
        assert other[0].text == WORDS  # another guild is untouched
        assert await OptOutRepository(db).is_opted_out("discord:1", "u1")
        assert not await OptOutRepository(db).is_opted_out("discord:2", "u1")
        assert await OptOutRepository(db).opt_in("discord:1", "u1")
        assert not await OptOutRepository(db).is_opted_out("discord:1", "u1")
    finally:
        await db.close()


async def test_departed_scope_is_purged_only_after_grace(db_target):
    db = await open_database(db_target)
    try:
        threads = ThreadRepository(db)
        scopes = ScopeRepository(db)
        await threads.save("discord:7", "c", infer_quotes(chat(("u1", WORDS))))
        left = datetime(2026, 1, 1, tzinfo=UTC)
        await scopes.mark_left("discord:7", left)
        assert await scopes.purge_departed(timedelta(days=7), now=left + timedelta(days=1)) == []
        assert await threads.get("discord:7", "c") is not None
        assert await scopes.purge_departed(timedelta(days=7), now=left + timedelta(days=8)) == [
            "discord:7"
        ]
        assert await threads.get("discord:7", "c") is None
        await scopes.mark_left("discord:8", left)
        assert await scopes.mark_back("discord:8")
        assert await scopes.purge_departed(timedelta(0), now=left + timedelta(days=99)) == []
    finally:
        await db.close()


async def test_a_purged_scope_takes_its_recorded_commands_and_queued_answers(db_target):
    """The bots record commands (their words, a Discord token) and queue Matrix answers:
    those of a guild or room purged after its grace period go with it."""
    from storage.commands import CommandRepository, MatrixOutboxRepository

    db = await open_database(db_target)
    try:
        room, other = "matrix:!gone:example.org", "matrix:!here:example.org"
        commands = CommandRepository(db, "matrix", "@tw:example.org")
        outbox = MatrixOutboxRepository(db, "@tw:example.org")
        for scope in (room, other):
            command = await commands.accept(f"$event-{scope}", scope, "ingest https://x.example/t")
            await outbox.add(scope.removeprefix("matrix:"), [(f"tx-{scope}", {"body": "hi"})])
            assert command is not None
        scopes = ScopeRepository(db)
        left = datetime(2026, 1, 1, tzinfo=UTC)
        await scopes.mark_left(room, left)
        assert await scopes.purge_departed(timedelta(days=7), now=left + timedelta(days=8)) == [
            room
        ]
        remaining = await db.fetch("SELECT scope FROM bot_commands ORDER BY scope")
        assert [r[0] for r in remaining] == [other]
        assert await outbox.rooms_waiting() == ["!here:example.org"]
    finally:
        await db.close()


async def departures(db: Database) -> dict[str, str]:
    return dict(await db.fetch("SELECT scope, left_at FROM scope_departures"))


async def test_reconcile_departs_absent_scopes_with_data_and_clears_present_ones(db_target):
    db = await open_database(db_target)
    try:
        threads = ThreadRepository(db)
        scopes = ScopeRepository(db)
        thread = infer_quotes(chat(("u1", WORDS)))
        for scope in ("discord:1", "discord:2", "matrix:!gone:example.org", "local"):
            await threads.save(scope, "c", thread)
        await OptOutRepository(db).opt_out("discord:3", "u1")  # an opt-out is stored data
        async with db.transaction() as conn:  # a schedule alone (its threads are elsewhere)
            await conn.execute(
                "INSERT INTO digest_schedules (scope, target, time_of_day, timezone, created_at)"
                " VALUES ('discord:4', 'c', '09:00', 'UTC', '2026-01-01T00:00:00+00:00')"
            )
        old = datetime(2025, 12, 1, tzinfo=UTC)
        for scope in ("discord:5", "discord:6", "matrix:!other:example.org"):
            await scopes.mark_left(scope, old)
        now = datetime(2026, 1, 10, tzinfo=UTC)

        result = await scopes.reconcile("discord", {"discord:1", "discord:5"}, when=now)

        assert result.left == ("discord:2", "discord:3", "discord:4")
        assert result.back == ("discord:5",)
        after = await departures(db)
        assert after == {
            "discord:2": now.isoformat(),
            "discord:3": now.isoformat(),
            "discord:4": now.isoformat(),
            "discord:6": old.isoformat(),  # already pending: its grace period is not restarted
            "matrix:!other:example.org": old.isoformat(),  # other platforms: not touched
        }
        again = await scopes.reconcile(
            "discord", ["discord:1", "discord:5"], when=now + timedelta(hours=3)
        )
        assert (again.left, again.back) == ((), ())
        assert await departures(db) == after
        purged = await scopes.purge_departed(timedelta(days=7), now=now)
        assert sorted(purged) == ["discord:6", "matrix:!other:example.org"]
        assert await threads.get("discord:2", "c") is not None  # inside its grace period
    finally:
        await db.close()


async def test_reconcile_refuses_local_and_other_platforms_scopes(db_target):
    db = await open_database(db_target)
    try:
        scopes = ScopeRepository(db)
        with pytest.raises(ValueError):
            await scopes.reconcile("local", [])
        with pytest.raises(ValueError, match="not discord scopes"):
            await scopes.reconcile("discord", ["discord:1", "matrix:!r:example.org"])
        with pytest.raises(ValueError):
            await scopes.reconcile("discord", ["discord:abc"])
        assert await departures(db) == {}
    finally:
        await db.close()


async def test_bot_state_survives_reopen(db_target):
    db = await open_database(db_target)
    await BotStateRepository(db).set("matrix:next_batch", "s1")
    await BotStateRepository(db).set("matrix:next_batch", "s2")
    await db.close()
    db = await open_database(db_target)
    try:
        assert await BotStateRepository(db).get("matrix:next_batch") == "s2"
        assert await BotStateRepository(db).get("nope") is None
    finally:
        await db.close()


async def test_opt_out_also_clears_quoted_words_from_other_posts_text(db_target):
    db = await open_database(db_target)
    try:
        threads = ThreadRepository(db)
        doc = ThreadDoc(
            title="chat",
            source_kind="discord",
            posts=(
                PostDoc(blocks=(Block(WORDS),), author="alice", author_id="u1", source_id="1"),
                PostDoc(
                    blocks=(Block(WORDS), Block("Nonsense, the depot belongs north.")),
                    author="bob",
                    author_id="u2",
                    source_id="2",
                ),
                PostDoc(
                    blocks=(
                        Block("her PIN is 4242 she said", is_quote=True, quoted_author="alice"),
                        Block("Please do not post that."),
                    ),
                    author="carol",
                    author_id="u3",
                    source_id="3",
                ),
            ),
        )
        await threads.save("discord:1", "c", infer_quotes(doc))
        await OptOutRepository(db).opt_out("discord:1", "u1")
        posts = await threads.posts("discord:1", "c")
        everything = " ".join(p.text for p in posts) + " ".join(
            s.text for p in posts for s in p.segments
        )
        assert "gasworks" not in everything and "4242" not in everything
        assert "Nonsense, the depot belongs north." in posts[1].text
        assert "Please do not post that." in posts[2].text
    finally:
        await db.close()


async def test_purge_keeps_to_the_platform_it_is_given(db: Database) -> None:
    scopes = ScopeRepository(db)
    left = datetime(2026, 1, 1, tzinfo=UTC)
    for scope in ("discord:1", "matrix:!a:example.org"):
        await scopes.mark_left(scope, left)
    later = left + timedelta(days=30)
    assert await scopes.purge_departed(timedelta(days=7), later, platform="matrix") == [
        "matrix:!a:example.org"
    ]
    assert await scopes.purge_departed(timedelta(days=7), later, platform="discord") == [
        "discord:1"
    ]
    with pytest.raises(ValueError):
        await scopes.purge_departed(timedelta(days=7), later, platform="local")


async def test_reconcile_by_an_account_in_none_of_the_stored_places_changes_nothing(
    db: Database,
) -> None:
    scopes, threads = ScopeRepository(db), ThreadRepository(db)
    doc = ThreadDoc(
        title="t",
        posts=(PostDoc(blocks=(Block("Some words of a post here."),)),),
        source_kind="text",
    )
    for scope in ("matrix:!a:example.org", "matrix:!b:example.org"):
        await threads.save(scope, "t", infer_quotes(doc))
    when = datetime(2026, 3, 1, tzinfo=UTC)
    first = await scopes.reconcile("matrix", ["matrix:!a:example.org"], when, account="@bot:x")
    assert first.skipped is None and first.left == ("matrix:!b:example.org",)
    assert await scopes.mark_back("matrix:!b:example.org")
    for _ in range(3):  # a staging bot, again and again: never adopted, nothing marked
        other = await scopes.reconcile("matrix", ["matrix:!z:x"], when, account="@staging:x")
        assert other.skipped and "@bot:x" in other.skipped and other.left == ()
    assert await scopes.purge_departed(timedelta(0), when + timedelta(days=1)) == []
    # a new token for the same bot: it is in one of the stored rooms, so it is adopted
    moved = await scopes.reconcile("matrix", ["matrix:!b:example.org"], when, account="@new:x")
    assert moved.skipped is None and moved.left == ("matrix:!a:example.org",)
    again = await scopes.reconcile("matrix", ["matrix:!z:x"], when, account="@bot:x")
    assert again.skipped and "@new:x" in again.skipped


async def test_purge_clears_departures_of_present_scopes(db: Database) -> None:
    scopes = ScopeRepository(db)
    left = datetime(2026, 1, 1, tzinfo=UTC)
    await scopes.mark_left("matrix:!here:example.org", left)
    await scopes.mark_left("matrix:!gone:example.org", left)
    purged = await scopes.purge_departed(
        timedelta(days=7), left + timedelta(days=30), "matrix", present=["matrix:!here:example.org"]
    )
    assert purged == ["matrix:!gone:example.org"]
    assert not await scopes.mark_back("matrix:!here:example.org")  # cleared already


async def test_an_ingest_that_read_the_opt_outs_before_an_opt_out_stores_none_of_their_words(
    db_target,
):
    """The ingest filtered opted-out members when it started; the member opted out while
    it ran (another process). Its save still redacts them, whichever commits first."""
    db = await open_database(db_target)
    other = await open_database(db_target)  # the second process
    try:
        threads = ThreadRepository(db)
        await threads.save("discord:1", "c", infer_quotes(chat(("u2", "Hello there."))))
        late = infer_quotes(chat(("u2", "Hello there."), ("u1", WORDS), ("u3", "Agreed.")))
        opt_out = OptOutRepository(other).opt_out("discord:1", "u1")
        await asyncio.gather(opt_out, threads.save("discord:1", "c", late))
        posts = await threads.posts("discord:1", "c")
        assert [p.text for p in posts] == ["Hello there.", REDACTED, "Agreed."]
        assert posts[1].author_id is None and posts[1].deleted
    finally:
        await db.close()
        await other.close()
