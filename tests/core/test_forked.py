"""Work in a forked child (bot/core/forked.py) and the stance digest that uses it: the same
answer whether the replies are read in a child or here."""

from __future__ import annotations

import os
import sys
import time

import pytest

from bench.synthetic import make_thread
from bot.core import forked, stance
from bot.core.quotes import infer_quotes
from bot.core.sides import (
    Participants,
    ThreadAnswers,
    ThreadWords,
    answer_texts,
    answers,
    verdicts,
)
from bot.core.stance import stance_digest
from bot.sources.detect import read_file_bytes
from tests.conftest import EXAMPLE_TEXT
from tests.core.conftest import spy_on_forks

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="forking is used on Linux only"
)


@pytest.fixture
def allowed(monkeypatch):
    """Forking allowed (as in a one-shot command), on a machine seen as having two cores."""
    monkeypatch.setattr(forked, "_allowed", True)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)


def _pid_and(value: int) -> tuple[int, int]:
    return os.getpid(), value * 2


def _fails() -> int:
    raise RuntimeError("only in the child")


@linux_only
def test_a_child_computes_the_answer(allowed):
    with forked.start(_pid_and, 21) as pending:
        assert pending.forked
        pid, value = pending.result()
    assert value == 42 and pid != os.getpid()  # computed in another process


def test_without_permission_it_runs_here():
    assert not forked.available()  # nothing allowed it in the test process
    pending = forked.start(_pid_and, 4)
    assert not pending.forked
    assert pending.result() == (os.getpid(), 8)


@linux_only
def test_a_failing_child_leaves_the_answer_to_this_process(allowed, monkeypatch):
    calls = []

    def flaky() -> int:
        calls.append(os.getpid())
        if len(calls) == 1 and os.getpid() != parent:
            raise RuntimeError("the child fails")
        return os.getpid()

    parent = os.getpid()
    with forked.start(flaky) as pending:
        assert pending.forked
        assert pending.result() == parent  # the child's failure: computed here instead


@linux_only
def test_an_unwanted_child_is_stopped_and_reaped(allowed):
    pending = forked.start(_pid_and, 1)
    pid = pending._pid
    assert pid
    pending.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # gone, and reaped: no zombie left


@pytest.fixture(scope="module", params=["synthetic", "example"])
def synthetic(request):
    """A synthetic thread (400 posts, no cues) and the bundled example thread (an argument
    with agreeing and disagreeing replies)."""
    if request.param == "synthetic":
        analysed = infer_quotes(make_thread(posts=400, seed=11, authors=9).doc)
    else:
        analysed = infer_quotes(read_file_bytes(EXAMPLE_TEXT.read_bytes()))
    return list(analysed.posts), list(analysed.edges)


def test_replies_read_from_their_segments_as_from_the_thread_words(synthetic):
    """`answer_texts` splits each reply's sentences from its own segments (a child has no
    ThreadWords): the verdicts are the ones made from the thread's sentences."""
    posts, _ = synthetic
    people = Participants.of(posts)
    words = ThreadWords.of(posts, people, "english")
    found = answers(posts, people)
    assert len(found) > 10
    expected = verdicts(found, words)
    got = answer_texts(posts, found)
    assert got == [(e.label, e.cue, e.score, e.contrary, e.friendly) for e in expected]
    if len(posts) < 400:  # the example thread
        assert {e.label for e in expected} == {"agree", "disagree", "unclear"}


@linux_only
@pytest.mark.parametrize("who", [0, 2])
def test_the_digest_is_the_same_with_a_child_reading_the_replies(
    synthetic, allowed, monkeypatch, who
):
    posts, edges = synthetic
    author = None if not who else Participants.of(posts).names[who]
    monkeypatch.setattr(forked, "_allowed", False)
    alone = stance_digest(posts, edges, author)
    monkeypatch.setattr(forked, "_allowed", True)
    monkeypatch.setattr(stance, "FORK_MIN_POSTS", 1)
    started = spy_on_forks(monkeypatch)
    assert stance_digest(posts, edges, author) == alone
    assert alone.participants and (author is None or alone.person == author)
    assert started == [True]


def _draw_all(batches: forked.Batches) -> list[int]:
    taken = []
    while (number := batches.take()) is not None:
        taken.append(number)
    return taken


@linux_only
def test_a_child_and_this_process_share_the_batches(allowed):
    """Each batch number is taken exactly once, by one process or the other, in order."""
    batches = forked.Batches(3000)
    with forked.start(_draw_all, batches) as pending:
        assert pending.forked
        here = _draw_all(batches)
        there = pending.result()
    batches.close()
    assert sorted(here + there) == list(range(3000))
    assert here == sorted(here) and there == sorted(there)
    assert batches.take() is None  # closed: nothing more to take


def test_batches_refuse_more_than_a_pipe_holds():
    with pytest.raises(ValueError):
        forked.Batches(forked.Batches.MAX + 1)
    empty = forked.Batches(0)
    assert empty.take() is None
    empty.close()


@linux_only
def test_a_failing_child_leaves_its_batches_to_this_process(
    synthetic, allowed, monkeypatch, tmp_path
):
    """The child takes three batches and dies: they are read here, the same answer."""
    posts, edges = synthetic
    monkeypatch.setattr(forked, "_allowed", False)
    alone = stance_digest(posts, edges)
    monkeypatch.setattr(forked, "_allowed", True)
    monkeypatch.setattr(stance, "FORK_MIN_POSTS", 1)
    monkeypatch.setattr(stance, "FORK_BATCH", 2)
    parent, taken = os.getpid(), tmp_path / "taken"
    real_read, real_words = stance._read_batches, stance.ThreadWords.of

    def dies_in_the_child(found, batches, size):
        if os.getpid() != parent:
            numbers = [batches.take() for _ in range(3)]
            taken.write_text(repr(numbers))
            os._exit(3)
        return real_read(found, batches, size)

    def words_once_the_child_took(*args):
        for _ in range(500):  # the child has taken its batches (at most 5 s)
            if taken.exists():
                break
            time.sleep(0.01)
        return real_words(*args)

    monkeypatch.setattr(stance, "_read_batches", dies_in_the_child)
    monkeypatch.setattr(stance.ThreadWords, "of", words_once_the_child_took)
    assert stance_digest(posts, edges) == alone
    assert taken.read_text() == "[0, 1, 2]"  # the child did take batches, then failed


@pytest.mark.parametrize("size", [1, 7, 64])
def test_the_answers_of_post_ranges_are_the_whole_threads(synthetic, size):
    """A batch of posts finds the answers those posts make in the whole thread (a post
    answering the one before it across a batch's start included), without the others."""
    posts, _ = synthetic
    people = Participants.of(posts)
    whole = answers(posts, people)
    ranges = ThreadAnswers(posts, people)
    pieces = [ranges.between(first, first + size) for first in range(0, len(posts), size)]
    assert [a for piece in pieces for a in piece] == whole
    assert any(a.kind == "next" for a in whole) or any(a.kind == "reply" for a in whole)
    assert ranges.between(len(posts), len(posts) + size) == []  # past the end: nothing
