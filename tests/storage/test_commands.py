"""Commands the bots accepted and the Matrix outbox (storage/commands.py), on both backends:
a command is accepted once, stays open until it is finished, counts as answered as soon as
its answer is queued, and the outbox keeps messages in order, once per transaction id."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage import Database
from storage.commands import CommandRepository, MatrixOutboxRepository
from storage.database import open_database

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
BOT = "@bot:example.org"


def matrix(db: Database, account: str = BOT) -> CommandRepository:
    return CommandRepository(db, "matrix", account, clock=lambda: NOW)


async def test_a_command_is_accepted_once_per_platform_and_account(db: Database) -> None:
    commands = matrix(db)
    first = await commands.accept("$event1", "matrix:!room", "ingesting a", {"room_id": "!room"})
    assert first is not None
    assert await commands.accept("$event1", "matrix:!room", "ingesting a") is None  # replayed
    # The same id under another account or platform is another command.
    assert await matrix(db, "@other:example.org").accept("$event1", "matrix:!room", "x")
    assert await CommandRepository(db, "discord", "42").accept("$event1", "discord:1", "x")
    # One transaction for a batch: the seen one is skipped, the new ones get ids in order.
    ids = await commands.accept_all(
        [
            ("$event2", "matrix:!room", "answering b", None),
            ("$event1", "matrix:!room", "ingesting a", None),
            ("$event3", "matrix:!room", "answering c", None),
        ]
    )
    assert ids[1] is None and ids[0] is not None and ids[2] is not None
    assert first < ids[0] < ids[2]
    assert await commands.accept_all([]) == []

    unfinished = await commands.unfinished()  # only this bot's, oldest first
    assert [(c.key, c.what) for c in unfinished] == [
        ("$event1", "ingesting a"),
        ("$event2", "answering b"),
        ("$event3", "answering c"),
    ]
    assert unfinished[0].reply_to == {"room_id": "!room"} and unfinished[1].reply_to == {}
    assert unfinished[0].accepted_at == NOW and not unfinished[0].answered


async def test_a_finished_command_is_closed_and_forgets_where_its_answer_went(
    db: Database,
) -> None:
    commands = CommandRepository(db, "discord", "42", clock=lambda: NOW)
    token = {"application_id": "42", "token": "secret-interaction-token"}
    done = await commands.accept("1001", "discord:7", "answering /threads", token)
    cut = await commands.accept("1002", "discord:7", "ingesting x", token)
    assert done is not None and cut is not None
    await commands.answered(done)
    await commands.finish(done)
    await commands.finish(cut, "interrupted")
    assert await commands.unfinished() == []
    rows = await db.fetch("SELECT key, status, reply_to FROM bot_commands ORDER BY id")
    assert [tuple(r) for r in rows] == [("1001", "done", None), ("1002", "interrupted", None)]


async def test_queueing_an_answer_marks_its_command_answered_in_the_same_transaction(
    db: Database,
) -> None:
    commands = matrix(db)
    outbox = MatrixOutboxRepository(db, BOT, clock=lambda: NOW)
    command = await commands.accept("$e", "matrix:!a", "answering x", {"room_id": "!a"})
    assert command is not None
    (queued,) = await outbox.add("!a", [("tx-1", {"body": "answer"})], command_id=command)
    (still,) = await commands.unfinished()  # not finished yet, but answered: a restart
    assert still.answered  # must not answer it a second time
    message = await outbox.next_for("!a")
    assert message is not None and message.id == queued and message.command_id == command


async def test_a_refused_batch_queues_nothing_and_leaves_the_command_unanswered(
    db: Database,
) -> None:
    commands = matrix(db)
    outbox = MatrixOutboxRepository(db, BOT, clock=lambda: NOW)
    command = await commands.accept("$e", "matrix:!a", "answering x", {"room_id": "!a"})
    assert command is not None
    unserialisable = {"body": object()}
    with pytest.raises(TypeError):
        await outbox.add("!a", [("tx-1", {"body": "ok"}), ("tx-2", unserialisable)], command)
    assert await outbox.waiting() == 0
    (still,) = await commands.unfinished()
    assert not still.answered


async def test_the_outbox_keeps_order_per_room_and_one_row_per_transaction_id(
    db: Database,
) -> None:
    outbox = MatrixOutboxRepository(db, BOT, clock=lambda: NOW)
    other = MatrixOutboxRepository(db, "@other:example.org", clock=lambda: NOW)
    first = await outbox.add("!b", [("tx-1", {"body": "one"}), ("tx-2", {"body": "two é"})])
    again = await outbox.add("!b", [("tx-1", {"body": "one, retried"})])  # a retried slot
    assert again == first[:1]
    await outbox.add("!a", [("tx-3", {"body": "three"})])
    await other.add("!c", [("tx-1", {"body": "someone else's"})])  # its own ids
    assert await outbox.waiting() == 3 and await other.waiting() == 1
    assert await outbox.rooms_waiting() == ["!a", "!b"]

    message = await outbox.next_for("!b")
    assert message is not None
    assert (message.tx_id, message.content, message.attempts) == ("tx-1", {"body": "one"}, 0)
    await outbox.attempt_failed(message.id, "429 " + "x" * 600)
    await outbox.attempt_failed(message.id, "502")
    retried = await outbox.next_for("!b")
    assert retried is not None and retried.id == message.id and retried.attempts == 2
    error = await db.fetchval("SELECT last_error FROM matrix_outbox WHERE id = $1", message.id)
    assert error == "502"
    await outbox.attempt_failed(message.id, "y" * 600)
    error = await db.fetchval("SELECT last_error FROM matrix_outbox WHERE id = $1", message.id)
    assert error == "y" * 500

    await outbox.remove(message.id)
    following = await outbox.next_for("!b")
    assert following is not None and following.content == {"body": "two é"}
    await outbox.remove(following.id)
    assert await outbox.next_for("!b") is None
    assert await outbox.rooms_waiting() == ["!a"] and await other.waiting() == 1


async def test_prune_forgets_only_closed_commands_finished_before_the_cut(db: Database) -> None:
    clock = [NOW]
    commands = CommandRepository(db, "matrix", BOT, clock=lambda: clock[0])
    outbox = MatrixOutboxRepository(db, BOT, clock=lambda: clock[0])
    old = await commands.accept("$old", "matrix:!a", "answering old", {"room_id": "!a"})
    assert old is not None
    await outbox.add("!a", [("tx-old", {"body": "still waiting"})], command_id=old)
    await commands.finish(old)
    open_one = await commands.accept("$open", "matrix:!a", "ingesting y")
    clock[0] = NOW + timedelta(days=8)
    recent = await commands.accept("$recent", "matrix:!a", "answering recent")
    assert open_one is not None and recent is not None
    await commands.finish(recent)

    assert await commands.prune(NOW + timedelta(days=1)) == 1
    keys = [r[0] for r in await db.fetch("SELECT key FROM bot_commands ORDER BY id")]
    assert keys == ["$open", "$recent"]
    # The queued answer outlives its command's record (ON DELETE SET NULL).
    message = await outbox.next_for("!a")
    assert message is not None and message.command_id is None
    # A forgotten command's id may be accepted again (a replay older than the record).
    assert await commands.accept("$old", "matrix:!a", "answering old") is not None


async def test_two_processes_accepting_the_same_command_get_one_record(
    db_target: str | Path,
) -> None:
    """Two Database objects (two pools on PostgreSQL) race to accept the same events, in
    timeline order as a sync delivers them."""
    one = await open_database(db_target)
    other = await open_database(db_target)
    try:
        keys = [f"$event{i}" for i in range(20)]
        batch = [(key, "matrix:!a", "answering", None) for key in keys]
        mine, theirs = await asyncio.gather(
            matrix(one).accept_all(batch), matrix(other).accept_all(batch)
        )
        for key, a, b in zip(keys, mine, theirs, strict=True):
            assert (a is None) != (b is None), key  # exactly one of them accepted it
        assert len(await matrix(one).unfinished()) == 20
    finally:
        await one.close()
        await other.close()
