"""Summaries: own words only, attribution, lengths, scopes, ranks, and sumy's own picks."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

import pytest
from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence
from sumy.nlp.stemmers import Stemmer
from sumy.summarizers.kl import KLSummarizer
from sumy.summarizers.lex_rank import LexRankSummarizer
from sumy.summarizers.lsa import LsaSummarizer
from sumy.summarizers.luhn import LuhnSummarizer
from sumy.summarizers.sum_basic import SumBasicSummarizer
from sumy.summarizers.text_rank import TextRankSummarizer
from sumy.utils import get_stop_words

from bot.core import summary as summary_module
from bot.core.models import StoredPost, content_hash
from bot.core.summary import (
    ALGORITHMS,
    Summary,
    SummaryRequest,
    make_summarizer,
    summarise,
)
from bot.core.text import OfflineTokenizer, split_sentences, split_words
from bot.errors import UserError

TITLE = "Should the city build a tram line?"


def own_sentence_texts(post) -> list[str]:
    return [s for seg in post.segments if seg.kind == "own" for s in split_sentences(seg.text)]


def quote_sentence_texts(post) -> list[str]:
    return [s for seg in post.segments if seg.kind == "quote" for s in split_sentences(seg.text)]


def run(posts, **kwargs) -> Summary:
    return summarise(posts, SummaryRequest(**kwargs), language="english", title=TITLE)


# --- attribution and own words -------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_algorithm_runs_offline_and_attributes_own_words(
    algorithm, tram_posts, no_network_no_nltk_data
):
    result = summarise(tram_posts, SummaryRequest(algorithm), title=TITLE)  # language detected
    assert result.algorithm == algorithm
    assert result.language == "english"
    assert len(result.sentences) == 5
    by_number = {p.number: p for p in tram_posts}
    for sentence in result.sentences:
        post = by_number[sentence.post]
        assert sentence.text in own_sentence_texts(post)
        assert sentence.text not in quote_sentence_texts(post)
        assert sentence.author == post.author
        assert sentence.url == post.url


def test_quoted_text_is_never_counted(tram_posts):
    result = run(tram_posts, sentences=50)
    own_total = sum(len(own_sentence_texts(p)) for p in tram_posts)
    assert result.considered_sentences == own_total
    assert result.considered_posts == len(tram_posts)
    # every sentence appears once, under the post that wrote it, even the much-quoted ones
    texts = [s.text for s in result.sentences]
    assert len(texts) == len(set(texts)) == own_total
    written_by = {t: p.number for p in tram_posts for t in own_sentence_texts(p)}
    assert all(written_by[s.text] == s.post for s in result.sentences)


def test_stored_posts_fit_too(tram_posts):
    stored = [
        StoredPost(
            number=p.number,
            text=p.text,
            content_hash=content_hash(p.text),
            segments=p.segments,
            author=p.author,
            time=datetime(2026, 1, 1, tzinfo=UTC),
            url=p.url,
        )
        for p in tram_posts
    ]
    assert run(stored).sentences == run(tram_posts).sentences


# --- order, ranks, scores ----------------------------------------------------------------


def test_thread_order_and_explain_ranks(tram_posts):
    result = run(tram_posts, sentences=8, explain=True)
    assert result.explain
    position = {(p.number, t): i for p in tram_posts for i, t in enumerate(own_sentence_texts(p))}
    keys = [(s.post, position[(s.post, s.text)]) for s in result.sentences]
    assert keys == sorted(keys)
    by_rank = sorted(result.sentences, key=lambda s: s.rank)
    assert by_rank[0].rank == 1
    assert by_rank[0].score == max(s.score for s in result.sentences)
    assert all(a.score >= b.score for a, b in pairwise(by_rank))
    assert len({s.rank for s in result.sentences}) == len(result.sentences)


@pytest.mark.parametrize("algorithm", ["kl", "sumbasic"])
def test_greedy_algorithms_report_pick_order_as_score(algorithm, tram_posts):
    result = run(tram_posts, algorithm=algorithm, sentences=4)
    assert sorted(s.rank for s in result.sentences) == [1, 2, 3, 4]
    assert all(s.score == -(s.rank - 1) for s in result.sentences)


# --- the same picks as sumy ------------------------------------------------------------------


def stock_pick(posts, algorithm: str, count: int) -> list[str]:
    """What sumy's own summariser picks from a plainly built document of the own words."""
    tokenizer = OfflineTokenizer("english")
    paragraphs = [
        Paragraph([Sentence(t, tokenizer) for t in split_sentences(seg.text)])
        for post in posts
        for seg in post.segments
        if seg.kind == "own" and split_sentences(seg.text)
    ]
    document = ObjectDocumentModel(paragraphs)
    cls = {
        "lexrank": LexRankSummarizer,
        "textrank": TextRankSummarizer,
        "lsa": LsaSummarizer,
        "luhn": LuhnSummarizer,
        "kl": KLSummarizer,
        "sumbasic": SumBasicSummarizer,
    }.get(algorithm)
    if cls is None:  # edmundson: same word lists as ours
        summarizer = make_summarizer(algorithm, "english")
    else:
        summarizer = cls(Stemmer("english"))
        summarizer.stop_words = get_stop_words("english")
    return [str(s) for s in summarizer(document, count)]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("count", [1, 3, 5, 9])
def test_picks_equal_sumys_own(algorithm, count, tram_posts):
    all_own = [t for p in tram_posts for t in own_sentence_texts(p)]
    assert len(all_own) == len(set(all_own)), "the check needs a thread without repeated sentences"
    result = summarise(tram_posts, SummaryRequest(algorithm, sentences=count), language="english")
    assert [s.text for s in result.sentences] == stock_pick(tram_posts, algorithm, count)


def test_repeated_sentences_are_picked_once(build_post):
    posts = [
        build_post(1, "Ana", [("own", "The tram depot needs a new roof before winter.", None)]),
        build_post(2, "Ben", [("own", "The tram depot needs a new roof before winter.", None)]),
        build_post(3, "Cy", [("own", "A new roof for the depot costs less than a bus.", None)]),
        build_post(4, "Di", [("own", "Winter repairs at the depot are always late.", None)]),
    ]
    result = summarise(posts, SummaryRequest(sentences=4), language="english")
    texts = [s.text for s in result.sentences]
    assert len(texts) == len(set(texts)) == 3
    assert "repeated" in (result.note or "")


# --- lengths -------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_sentence_word_and_char_budgets(algorithm, tram_posts):
    assert len(run(tram_posts, algorithm=algorithm, sentences=3).sentences) == 3
    by_words = run(tram_posts, algorithm=algorithm, words=60)
    assert by_words.sentences
    assert sum(len(split_words(s.text)) for s in by_words.sentences) <= 60
    by_chars = run(tram_posts, algorithm=algorithm, chars=280)
    assert by_chars.sentences
    assert sum(len(s.text) for s in by_chars.sentences) <= 280


def test_budget_skips_long_sentences_and_continues_with_shorter(tram_posts):
    longest = max(len(s) for p in tram_posts for s in own_sentence_texts(p))
    shortest = min(len(s) for p in tram_posts for s in own_sentence_texts(p))
    result = run(tram_posts, chars=longest - 1)
    assert result.sentences
    assert sum(len(s.text) for s in result.sentences) <= longest - 1
    assert shortest <= longest - 1


def test_nothing_fits_says_so(tram_posts):
    result = run(tram_posts, chars=2)  # the shortest sentence is "+1."
    assert result.sentences == ()
    assert "No sentence fits in 2 chars; the shortest has 3 chars." in result.note


def test_default_length_is_five_sentences(tram_posts):
    assert len(summarise(tram_posts).sentences) == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sentences": 2, "words": 10}, "only one"),
        ({"sentences": 0}, "1 or more"),
        ({"words": -3}, "1 or more"),
        ({"sentences": 500}, "at most"),
        ({"algorithm": "bogus"}, "lexrank, textrank, lsa, luhn, kl, sumbasic, edmundson"),
        ({"first_post": 9, "last_post": 3}, "empty"),
    ],
)
def test_bad_requests_are_user_errors(kwargs, message, tram_posts):
    with pytest.raises(UserError, match=message):
        run(tram_posts, **kwargs)


def test_algorithm_names_are_forgiving(tram_posts):
    assert run(tram_posts, algorithm="LexRank").algorithm == "lexrank"
    assert run(tram_posts, algorithm="KL-Sum").algorithm == "kl"


# --- scopes ----------------------------------------------------------------------------------


def test_since_post_keeps_only_later_posts(tram_posts):
    result = run(tram_posts, since_post=6, sentences=20)
    assert result.sentences
    assert all(s.post > 6 for s in result.sentences)
    assert result.considered_posts == 5


def test_post_range_is_inclusive(tram_posts):
    result = run(tram_posts, first_post=3, last_post=5, sentences=20)
    assert {s.post for s in result.sentences} == {3, 4, 5}


def test_author_scope_is_case_insensitive(tram_posts):
    result = run(tram_posts, author="bOB", sentences=20)
    assert {s.post for s in result.sentences} == {2, 6, 10}
    assert {s.author for s in result.sentences} == {"Bob"}


def test_scopes_combine(tram_posts):
    result = run(tram_posts, author="alice", since_post=1, last_post=10, sentences=10)
    assert {s.post for s in result.sentences} == {5}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"author": "Zed"}, r"No author called 'Zed'.*Alice, Bob, Carol, Dan, Erin"),
        ({"first_post": 40}, "No posts 40–11 in this thread"),
        ({"since_post": 11}, r"No posts after 11 in this thread \(it has posts 1–11\)"),
        ({"author": "Erin", "first_post": 8}, "Erin wrote nothing in the selected posts"),
    ],
)
def test_empty_selections_are_explained(kwargs, message, tram_posts):
    with pytest.raises(UserError, match=message):
        run(tram_posts, **kwargs)


def test_posts_with_only_quotes_have_nothing_to_summarise(build_post):
    posts = [
        build_post(1, "Ana", [("own", "Trams are quiet.", None)]),
        build_post(2, "Ben", [("quote", "Trams are quiet.", 1)]),
    ]
    with pytest.raises(UserError, match="no words of their own"):
        summarise(posts, SummaryRequest(first_post=2), language="english")
    with pytest.raises(UserError, match="no posts"):
        summarise([], SummaryRequest())


# --- caps and languages --------------------------------------------------------------------


def test_kl_refuses_selections_past_its_cap(tram_posts, monkeypatch):
    monkeypatch.setitem(summary_module.SENTENCE_CAPS, "kl", 12)
    with pytest.raises(UserError) as caught:
        run(tram_posts, algorithm="kl")
    message = str(caught.value)
    assert message.startswith("KL-Sum is too slow past 12 sentences (this selection has 30)")
    assert "--since" in message and "--author" in message and "post range" in message
    # a narrower selection passes
    assert run(tram_posts, algorithm="kl", since_post=8).sentences


def test_every_algorithm_has_a_cap_and_the_dense_ones_are_modest():
    assert set(summary_module.SENTENCE_CAPS) == set(ALGORITHMS)
    for name in ("lexrank", "textrank", "lsa", "kl"):
        assert summary_module.SENTENCE_CAPS[name] <= 1_500


def test_kl_word_budget_is_bounded(tram_posts, monkeypatch):
    monkeypatch.setattr(summary_module, "KL_MAX_STEPS", 3)
    result = run(tram_posts, algorithm="kl", words=1_000)
    assert len(result.sentences) == 3
    assert "KL-Sum ranks only its best 3 sentences" in result.note


def test_language_is_detected_and_can_be_given(build_post):
    posts = [
        build_post(1, "Jana", [("own", "Die Stadt sollte die Straßenbahn bauen, weil die Busse "
                                        "immer zu spät sind.", None)]),
        build_post(2, "Uwe", [("own", "Ich glaube nicht, dass wir dafür genug Geld haben. "
                                       "Die Brücke ist auch viel zu schmal für die Schienen.",
                               None)]),
    ]  # fmt: skip
    assert summarise(posts, SummaryRequest(sentences=1)).language == "german"
    assert summarise(posts, SummaryRequest(sentences=1), language="de").language == "german"
    with pytest.raises(UserError, match="No stop words for language 'klingon'"):
        summarise(posts, SummaryRequest(), language="klingon")


def test_flat_ratings_are_explained(build_post):
    posts = [
        build_post(1, "Ana", [("own", "Trams hum quietly.", None)]),
        build_post(2, "Ben", [("own", "Buses rattle loudly.", None)]),
    ]
    result = summarise(posts, SummaryRequest(sentences=1), language="english")
    assert [s.text for s in result.sentences] == ["Trams hum quietly."]
    assert result.sentences[0].score == 0.0  # sumy's NaN shown as 0
    assert "rated every sentence the same" in result.note
