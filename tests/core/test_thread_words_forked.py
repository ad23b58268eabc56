"""Quote inference's words read half in a forked child (bot/core/shingles.py): the same
vocabulary, ids, shingle groups and quotes as when one process reads them all."""

from __future__ import annotations

import dataclasses
import os
import sys

import numpy as np
import pytest

from bench.synthetic import make_thread
from bot.core import forked, shingles
from bot.core.models import Block, PostDoc, ThreadDoc
from bot.core.quotes import infer_quotes
from bot.core.shingles import ThreadWords
from tests.core.conftest import spy_on_forks

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="forking is used on Linux only"
)

_OWN_WORDS = [
    # each reader path: plain ASCII (read in batches), an apostrophe, a link, non-ASCII,
    # and the 0x01 byte that makes a batch read block by block
    "The ferry timetable changed again on Tuesday morning without notice",
    "I don't think the ferry's new timetable helps anyone who commutes",
    "See https://example.org/ferry for the timetable they published",
    "Le café près du quai ouvre à six heures, avant le premier bateau",
    "A control \x01 byte sits in this line about the harbour crane",
    "Zebra crossings near the harbour were repainted in bright yellow",
]


def _thread() -> ThreadDoc:
    """A synthetic thread with posts of the reader paths above in both halves, some
    quoting (explicitly and not) posts of the other half."""
    doc = make_thread(posts=300, seed=5, authors=7).doc
    posts = list(doc.posts)
    for i, text in enumerate(_OWN_WORDS):
        for at in (20 + 7 * i, 200 + 11 * i):  # one early, one late
            posts.insert(at, PostDoc(blocks=(Block(text),), author=f"writer{i}"))
    posts.append(
        PostDoc(
            blocks=(Block(_OWN_WORDS[3], is_quote=True), Block(_OWN_WORDS[0] + " indeed.")),
            author="late",
        )
    )
    return dataclasses.replace(doc, posts=tuple(posts))


@pytest.fixture
def allowed(monkeypatch):
    monkeypatch.setattr(forked, "_allowed", True)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    monkeypatch.setattr(shingles, "FORK_MIN_POSTS", 1)


def _state(words: ThreadWords) -> tuple[object, ...]:
    return (
        dict(words.vocabulary),
        words.ids.tobytes(),
        words.groups,
        [words.post_range(n) for n in range(1, 310)],
        [words.block_bounds(n) for n in range(1, 310)],
        words._shingle_positions.tobytes(),
        np.asarray(words._shingle_groups).tobytes(),
        words._shingle_index,
        words._unit_blocks,
    )


@pytest.mark.parametrize("share", [0.5, 0.1, 0.9])
def test_words_read_half_in_a_child_are_the_words_read_here(allowed, monkeypatch, share):
    posts = _thread().posts
    monkeypatch.setattr(forked, "_allowed", False)
    alone = _state(ThreadWords(posts))
    monkeypatch.setattr(forked, "_allowed", True)
    monkeypatch.setattr(shingles, "FORK_SHARE", share)
    started = spy_on_forks(monkeypatch)
    assert _state(ThreadWords(posts)) == alone
    assert started == [True]
    late = alone[0]
    assert "café" in late and "don't" in late and "zebra" in late  # every reader path ran


def test_quotes_are_the_same_with_a_child_reading_words(allowed, monkeypatch):
    doc = _thread()
    monkeypatch.setattr(forked, "_allowed", False)
    alone = infer_quotes(doc)
    monkeypatch.setattr(forked, "_allowed", True)
    started = spy_on_forks(monkeypatch)
    together = infer_quotes(doc)
    assert started == [True]
    assert together == alone
    assert len(alone.edges) > 20  # quotes were found, across the two halves too
    assert any(a > 160 and b < 150 for a, b, _ in (dataclasses.astuple(e) for e in alone.edges))


def test_a_failing_child_leaves_the_words_to_this_process(allowed, monkeypatch):
    posts = _thread().posts
    monkeypatch.setattr(forked, "_allowed", False)
    alone = _state(ThreadWords(posts))
    monkeypatch.setattr(forked, "_allowed", True)
    parent = os.getpid()
    real_read = shingles._read_words
    calls: list[int] = []

    def failing_in_child(*args):
        calls.append(os.getpid())
        if os.getpid() != parent:
            raise RuntimeError("the child fails")
        return real_read(*args)

    monkeypatch.setattr(shingles, "_read_words", failing_in_child)
    started = spy_on_forks(monkeypatch)
    assert _state(ThreadWords(posts)) == alone
    assert started == [True]
    assert calls == [parent]  # the child's call is not seen here; the parent read them


def test_a_small_thread_or_a_process_that_may_not_fork_reads_here(monkeypatch):
    started = spy_on_forks(monkeypatch)
    ThreadWords(_thread().posts)  # forking not allowed in the test process
    monkeypatch.setattr(forked, "_allowed", True)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    ThreadWords(_thread().posts)  # fewer posts than FORK_MIN_POSTS
    assert started == []
