"""Summaries by chapters: where chapters are cut, the chapter view, and the whole summary of a
thread too big to rank in one piece (made small here by lowering the limit)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bench.synthetic import make_thread
from bot.core import chapters as chapters_module
from bot.core import summary as summary_module
from bot.core.chapters import (
    CHAPTER_SENTENCES,
    plan_chapters,
    summarise_any,
    summarise_chapters,
)
from bot.core.models import StoredPost, content_hash
from bot.core.quotes import infer_quotes
from bot.core.summary import SummaryRequest, collect_sentences, summarise
from bot.errors import UserError

TITLE = "A long thread"


def own_paragraph_sentences(post) -> list[str]:
    return [s.text for s in collect_sentences([post]).sources]


def stored(post, time: datetime | None = None) -> StoredPost:
    return StoredPost(
        number=post.number,
        text=post.text,
        content_hash=content_hash(post.text),
        segments=post.segments,
        author=post.author,
        time=time,
        reply_to=post.reply_to,
    )


@pytest.fixture(scope="module")
def long_thread() -> list[StoredPost]:
    """120 posts of synthetic text with quotes, one every ten minutes."""
    analysed = infer_quotes(make_thread(posts=120, seed=5, authors=12).doc)
    start = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    return [stored(p, start + timedelta(minutes=10 * i)) for i, p in enumerate(analysed.posts)]


# --- where chapters are cut -----------------------------------------------------------------


def test_chapters_hold_equal_runs_of_posts_without_times(long_thread):
    timeless = [stored(p) for p in long_thread]
    assert plan_chapters(timeless, 4) == [(0, 30), (30, 60), (60, 90), (90, 120)]
    assert plan_chapters(timeless, 1) == [(0, 120)]
    assert plan_chapters(timeless[:3], 10) == [(0, 1), (1, 2), (2, 3)]  # never an empty one


def test_a_cut_moves_to_the_quietest_pause_nearby(long_thread):
    posts = list(long_thread)
    # a night of silence before post 35 (index 34): the first cut (ideal at 30) moves there
    for i in range(34, len(posts)):
        posts[i] = stored(posts[i], posts[i].time + timedelta(hours=9))
    spans = plan_chapters(posts, 4)
    assert spans[0] == (0, 34)
    assert [end - start for start, end in spans[1:]] == [26, 30, 30]
    # further than a quarter of a chapter away, the pause does not move the cut
    posts = list(long_thread)
    for i in range(50, len(posts)):
        posts[i] = stored(posts[i], posts[i].time + timedelta(hours=9))
    assert plan_chapters(posts, 4)[0] == (0, 30)


def test_weights_balance_chapters_by_sentences(long_thread):
    timeless = [stored(p) for p in long_thread]
    weights = [10] * 20 + [1] * 100  # the first 20 posts hold most of the words
    spans = plan_chapters(timeless, 2, weights)
    assert spans == [(0, 15), (15, 120)]


# --- the chapter view -------------------------------------------------------------------------


def test_each_chapter_summarises_its_own_posts_with_sumys_own_picks(long_thread):
    view = summarise_chapters(
        long_thread, SummaryRequest("lexrank"), language="english", title=TITLE, chapters=3
    )
    assert [(c.first_post, c.last_post, c.posts) for c in view.chapters] == [
        (1, 40, 40),
        (41, 80, 40),
        (81, 120, 40),
    ]
    for chapter in view.chapters:
        alone = summarise(
            long_thread,
            SummaryRequest(
                "lexrank",
                sentences=CHAPTER_SENTENCES,
                first_post=chapter.first_post,
                last_post=chapter.last_post,
            ),
            language="english",
            title=TITLE,
        )
        assert chapter.summary.sentences == alone.sentences
        assert all(chapter.first_post <= s.post <= chapter.last_post for s in alone.sentences)
    assert view.considered_posts == 120
    assert view.chapters[0].start == "2024-03-01T09:00:00+00:00"


def test_the_default_view_has_up_to_ten_chapters_and_a_length_per_chapter(long_thread):
    view = summarise_chapters(long_thread, SummaryRequest(sentences=1), language="english")
    assert len(view.chapters) == 10
    assert all(len(c.summary.sentences) == 1 for c in view.chapters)
    short = summarise_chapters(long_thread[:25], SummaryRequest(), language="english")
    assert len(short.chapters) == 2
    assert all(len(c.summary.sentences) == CHAPTER_SENTENCES for c in short.chapters)


def test_a_view_too_big_for_a_sumy_algorithm_says_how_many_chapters(long_thread, monkeypatch):
    monkeypatch.setitem(summary_module.SENTENCE_CAPS, "lsa", 100)
    with pytest.raises(UserError) as caught:
        summarise_chapters(long_thread, SummaryRequest("lsa"), language="english", chapters=2)
    assert "ask for" in str(caught.value) and "chapters or more" in str(caught.value)
    # automatic: as many chapters as it takes
    view = summarise_chapters(long_thread, SummaryRequest("lsa"), language="english")
    assert all(c.summary.considered_sentences <= 100 for c in view.chapters)
    monkeypatch.setitem(summary_module.SENTENCE_CAPS, "lsa", 5)
    with pytest.raises(UserError, match="narrow it with --since, --author or a post range"):
        summarise_chapters(long_thread, SummaryRequest("lsa"), language="english")
    with pytest.raises(UserError, match="Ask for 1 to 40 chapters"):
        summarise_chapters(long_thread, SummaryRequest(), language="english", chapters=41)


# --- the whole summary of a big thread --------------------------------------------------------


def test_past_the_limit_the_default_summary_goes_by_chapters(long_thread, monkeypatch):
    whole = summarise(long_thread, SummaryRequest(sentences=4), "english", TITLE)
    assert "chapters" not in (whole.note or "")
    total = whole.considered_sentences
    monkeypatch.setitem(summary_module.SENTENCE_CAPS, "thread", total // 3)
    monkeypatch.setattr(chapters_module, "WHOLE_CHAPTER_SENTENCES", -(-total // 4))
    big = summarise_any(long_thread, SummaryRequest(sentences=4), "english", TITLE)
    assert big.algorithm == "thread"
    assert big.note.startswith("Summarised by chapters: 4 chapters of about 30 posts")
    assert len(big.sentences) == 4
    assert big.considered_sentences == total
    assert [s.post for s in big.sentences] == sorted(s.post for s in big.sentences)
    # every pick is one of its chapter's own picks (chapters balanced by sentences)
    per_post = [len(own_paragraph_sentences(p)) for p in long_thread]
    spans = plan_chapters(long_thread, 4, per_post)
    chapter_picks = set()
    for start, end in spans:
        part = summarise(
            long_thread,
            SummaryRequest(
                sentences=4,
                first_post=long_thread[start].number,
                last_post=long_thread[end - 1].number,
            ),
            "english",
            TITLE,
        )
        chapter_picks |= {(s.post, s.text) for s in part.sentences}
    assert {(s.post, s.text) for s in big.sentences} <= chapter_picks
    # sumy's algorithms still refuse past their caps, and say the default answers
    monkeypatch.setitem(summary_module.SENTENCE_CAPS, "luhn", 10)
    with pytest.raises(UserError, match=r"the default, thread, summarises any size"):
        summarise_any(long_thread, SummaryRequest("luhn"), "english", TITLE)
    # in one piece, the default refuses too: commands go through summarise_any
    with pytest.raises(UserError, match=r"Thread-aware is too slow past"):
        summarise(long_thread, SummaryRequest(sentences=4), "english", TITLE)


# --- a selection too big to split whole ----------------------------------------------------------


def test_past_the_size_limit_each_chapter_is_read_through_its_best_posts(long_thread, monkeypatch):
    every = summarise(long_thread, SummaryRequest(), "english").considered_sentences
    monkeypatch.setattr(chapters_module, "THREAD_WHOLE_CHARS", 1_000)
    monkeypatch.setattr(chapters_module, "BIG_CHAPTER_POSTS", 40)
    monkeypatch.setattr(chapters_module, "CANDIDATE_POSTS", 10)
    monkeypatch.setattr(chapters_module, "SHORTLIST", 20)
    big = summarise_any(long_thread, SummaryRequest(sentences=3), "english", TITLE)
    assert big.note.startswith("Summarised by chapters: 3 chapters of about 40 posts; in each")
    assert big.note.endswith("(summary --chapters 3 shows them).")  # the same 3 chapters
    assert len(big.sentences) == 3
    assert big.considered_posts == 120
    assert big.considered_sentences < every  # only the sentences of the posts read
    # the picks come from the posts each chapter chose to read
    stop = summary_module.stop_words_for("english")
    signals = summary_module.post_signals(long_thread)
    read = {
        p.number
        for start in (0, 40, 80)
        for p in chapters_module.candidate_posts(long_thread[start : start + 40], signals, 10, stop)
    }
    assert {s.post for s in big.sentences} <= read


def test_candidate_posts_keep_the_opening_the_answered_and_thread_order(long_thread):
    stop = summary_module.stop_words_for("english")
    signals = summary_module.post_signals(long_thread)
    chosen = chapters_module.candidate_posts(long_thread, signals, 12, stop)
    numbers = [p.number for p in chosen]
    assert len(numbers) == 12 and numbers == sorted(numbers)
    assert numbers[0] == 1  # the first post opens what the chapter is about

    def answers(n: int) -> int:
        return len(signals[n].quoted_by) if n in signals else 0

    chosen_mean = sum(answers(n) for n in numbers) / len(numbers)
    thread_mean = sum(answers(p.number) for p in long_thread) / len(long_thread)
    assert chosen_mean > 1.25 * thread_mean  # answered and quoted posts are read first
    assert chapters_module.candidate_posts(long_thread[:5], signals, 12, stop) == long_thread[:5]
