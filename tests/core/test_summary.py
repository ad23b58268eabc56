"""Summaries: own words only, attribution, lengths, scopes, ranks, and sumy's own picks."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from itertools import pairwise

import nupunkt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence
from sumy.nlp.stemmers import Stemmer
from sumy.summarizers.kl import KLSummarizer
from sumy.summarizers.lex_rank import LexRankSummarizer
from sumy.summarizers.lsa import LsaSummarizer
from sumy.summarizers.luhn import LuhnSummarizer
from sumy.summarizers.sum_basic import SumBasicSummarizer
from sumy.summarizers.text_rank import TextRankSummarizer
from sumy.utils import get_stop_words

from bench.synthetic import make_thread
from bot.core import summary as summary_module
from bot.core.models import StoredPost, content_hash
from bot.core.summary import (
    ALGORITHMS,
    SUMY_ALGORITHMS,
    Summary,
    SummaryRequest,
    make_summarizer,
    summarise,
)
from bot.core.text import OfflineTokenizer, first_sentences, split_sentences, split_words
from bot.errors import UserError
from tests.conftest import EXAMPLE_TEXT, REPO, SEED_TEXT, need_shared

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
    result = run(tram_posts, algorithm="lexrank", sentences=50)
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


def stock_pick(posts, algorithm: str, count: int, ratings: bool = False):
    """What sumy's own summariser picks from a plainly built document of the own words
    (with `ratings`: also its rating of every sentence, by text)."""
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
    picks = [str(s) for s in summarizer(document, count)]
    if not ratings:
        return picks
    rated = summary_module.rate_sentences(summarizer, document)
    return picks, {str(s): r for s, r in zip(document.sentences, rated, strict=True)}


@pytest.mark.parametrize("algorithm", SUMY_ALGORITHMS)
@pytest.mark.parametrize("count", [1, 3, 5, 9])
def test_picks_equal_sumys_own(algorithm, count, tram_posts):
    """The same picks as sumy, except among sentences sumy rates equal to 12 significant
    digits: there sumy's order is the SVD's rounding noise (LSA rates four sentences of this
    thread 4.96386945839634 give or take 7e-15), and ours is thread order."""
    all_own = [t for p in tram_posts for t in own_sentence_texts(p)]
    assert len(all_own) == len(set(all_own)), "the check needs a thread without repeated sentences"
    result = summarise(tram_posts, SummaryRequest(algorithm, sentences=count), language="english")
    ours = [s.text for s in result.sentences]
    stock, rating = stock_pick(tram_posts, algorithm, count, ratings=True)
    assert len(ours) == len(stock)
    kth = sorted(rating.values(), reverse=True)[count - 1]
    tolerance = 1e-12 * max(abs(r) for r in rating.values())
    for text in set(ours) ^ set(stock):
        assert abs(rating[text] - kth) <= tolerance, text


def test_ratings_equal_to_twelve_digits_keep_thread_order():
    # a tie that rounding noise split: thread order decides, not the noise
    assert summary_module._order_by_rating([1.0, 2.0, 2.0 + 4e-15, 0.5]) == [1, 2, 0, 3]
    assert summary_module._order_by_rating([1.0, 2.0 + 4e-15, 2.0, 3.0]) == [3, 1, 2, 0]
    assert summary_module._order_by_rating([1.0, 2.0, 2.001]) == [2, 1, 0]


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


def test_every_algorithm_has_a_cap_and_only_the_slow_ones_are_modest():
    assert set(summary_module.SENTENCE_CAPS) == set(ALGORITHMS)
    for name in ("lsa", "kl"):  # sumy's own code: minutes past these
        assert summary_module.SENTENCE_CAPS[name] <= 1_500
    for name in ("lexrank", "textrank"):  # bot.core.fastrank: a 10,000-post thread fits
        assert summary_module.SENTENCE_CAPS[name] >= 60_000


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
    result = summarise(posts, SummaryRequest("lexrank", sentences=1), language="english")
    assert [s.text for s in result.sentences] == ["Trams hum quietly."]
    assert result.sentences[0].score == 0.0  # sumy's NaN shown as 0
    assert "rated every sentence the same" in result.note


# --- big threads: fast LexRank/TextRank, the LexRank fallback, lazy sumy ----------------------


def test_lexrank_too_costly_falls_back_to_textrank(tram_posts, monkeypatch):
    monkeypatch.setattr(summary_module, "LEXRANK_MAX_TRIPLES", 10)
    result = run(tram_posts, algorithm="lexrank", sentences=3)
    assert result.algorithm == "textrank"
    assert "LexRank would take too long on 30 sentences, so TextRank ranked them." in (
        result.note or ""
    )
    assert [s.text for s in result.sentences] == [
        s.text for s in run(tram_posts, algorithm="textrank", sentences=3).sentences
    ]


def test_cap_message_names_algorithms_that_fit(tram_posts, monkeypatch):
    monkeypatch.setitem(summary_module.SENTENCE_CAPS, "luhn", 12)
    with pytest.raises(UserError) as caught:
        run(tram_posts, algorithm="luhn")
    assert "use textrank or sumbasic, or narrow it" in str(caught.value)


def test_importing_summary_does_not_load_the_summarisers():
    """sumy's summarisers drag in NLTK (~0.6 s): commands that never summarise (ingest,
    threads, quotes) should not pay for it at start-up."""
    code = (
        "import sys, bot.core.summary; "
        "print('nltk' in sys.modules, 'sumy.summarizers' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.split() == ["False", "False"]


# --- sentence splitting (bot.core.text, which every summary starts with) ---------------------


def nupunkt_sentences(paragraph: str) -> list[str]:
    paragraph = paragraph.strip()
    return [s.strip() for s in nupunkt.sent_tokenize(paragraph) if s.strip()] if paragraph else []


def test_splitter_equals_nupunkt_on_the_seed_thread():
    paragraphs = need_shared(SEED_TEXT).read_text(encoding="utf-8").splitlines()
    assert sum(1 for p in paragraphs if p.strip()) > 50
    for paragraph in paragraphs:
        assert split_sentences(paragraph) == nupunkt_sentences(paragraph), paragraph


def test_splitter_equals_nupunkt_on_the_example_and_a_synthetic_thread():
    paragraphs = EXAMPLE_TEXT.read_text(encoding="utf-8").splitlines()
    synthetic = make_thread(posts=150, seed=21, authors=9)
    paragraphs += [b.text for p in synthetic.doc.posts for b in p.blocks]
    for paragraph in paragraphs:
        assert split_sentences(paragraph) == nupunkt_sentences(paragraph), paragraph


@pytest.mark.parametrize(
    ("paragraph", "sentences"),
    [
        ("Dr. Smith came. He left.", ["Dr. Smith came.", "He left."]),
        ("We use e.g. trams here. Fine.", ["We use e.g. trams here.", "Fine."]),
        ("The U.S. Army came. It left.", ["The U.S. Army came.", "It left."]),
        ("We went to St. Louis. It rained.", ["We went to St. Louis.", "It rained."]),
        ("Is it? yes it is.", ["Is it?", "yes it is."]),
        ("It costs 3.5 euros. Cheap!", ["It costs 3.5 euros.", "Cheap!"]),
        ("Really?! Sure.", ["Really?!", "Sure."]),
        ('He said "go." Then left.', ['He said "go."', "Then left."]),
        ("I like it... Then no.", ["I like it...", "Then no."]),
        ("A. Smith came.", ["A. Smith came."]),
        ("No full stop at the end", ["No full stop at the end"]),
    ],
)
def test_abbreviations_and_odd_marks(paragraph, sentences):
    assert split_sentences(paragraph) == sentences == nupunkt_sentences(paragraph)


_PIECES = [
    "tram", "Trams", "bus", "depot", "the", "city", "Dr.", "e.g.", "U.S.", "St.", "no.", "No.",
    "etc.", "Mr.", "A.", "3.5", "12.", "end.", "end!", "why?", "so!!", "wait...", "(yes.)",
    '"quoted."', "it's", "don’t", "—", "-", "x.y", "ok.", "Ok.", "I", "Élan", "élan.", "…",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=14), st.sampled_from([" ", "  "]))
def test_splitter_equals_nupunkt_on_awkward_paragraphs(pieces, gap):
    paragraph = gap.join(pieces)
    assert split_sentences(paragraph) == nupunkt_sentences(paragraph)


def test_answers_name_the_algorithm_as_the_summary_module_does(tram_posts):
    from bot.core import render

    assert render._ALGORITHM_NAMES == summary_module.ALGORITHM_NAMES
    thread = _stored_thread()
    answer = render.summary_answer(thread, run(tram_posts, sentences=2))
    assert answer.notes[0].startswith(
        "Thread-aware summary of 30 sentences from 11 posts (english)"
    )


def _stored_thread():
    from bot.core.models import StoredThread

    now = datetime(2026, 1, 1, tzinfo=UTC)
    return StoredThread(1, "local", "tram", TITLE, "json", None, "english", 1, 11, 5, now, now)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(_PIECES), min_size=1, max_size=14),
    st.sampled_from([" ", "  "]),
    st.integers(min_value=0, max_value=4),
)
def test_the_first_sentences_are_those_of_the_whole_split(pieces, gap, count):
    """A reply's first sentences, split no further than needed: the same as splitting the
    whole paragraph, whatever odd marks follow them."""
    paragraph = gap.join(pieces)
    assert first_sentences(paragraph, count) == split_sentences(paragraph)[:count]


def test_the_first_sentences_of_real_paragraphs():
    paragraphs = EXAMPLE_TEXT.read_text(encoding="utf-8").splitlines()
    synthetic = make_thread(posts=150, seed=21, authors=9)
    paragraphs += [b.text for p in synthetic.doc.posts for b in p.blocks]
    for paragraph in paragraphs:
        for count in (1, 2, 3):
            assert first_sentences(paragraph, count) == split_sentences(paragraph)[:count]
