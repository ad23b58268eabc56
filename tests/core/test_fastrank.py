"""bot.core.fastrank against sumy 0.13 itself: the same ratings from the same tokens.

sumy is the reference, run as it is (its own Stemmer, stop words and summariser methods).
Ratings must agree to 1e-12 and the picks must be sumy's: the same top-k sentences wherever
sumy's k-th and (k+1)-th ratings are not tied (where they are, sumy's order is rounding
noise and ours keeps thread order).

Threads of 200 and 550 sentences (and hypothesis-made ones) by default. sumy needs ~25 s
for one 1,400-sentence thread, so two such cases run only with THREADWISE_SLOW=1.
"""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence
from sumy.nlp.stemmers import Stemmer
from sumy.summarizers.lex_rank import LexRankSummarizer
from sumy.summarizers.text_rank import TextRankSummarizer
from sumy.utils import get_stop_words

from bench.synthetic import make_thread
from bot.core.fastrank import (
    SentenceTerms,
    best_first,
    lexrank_edges,
    lexrank_scores,
    lexrank_triples,
    textrank_scores,
)
from bot.core.text import OfflineTokenizer, split_sentences, split_words

STEMMER = Stemmer("english")
STOP = get_stop_words("english")
SLOW = os.environ.get("THREADWISE_SLOW") == "1"


def synthetic_sentences(posts: int, seed: int) -> list[str]:
    thread = make_thread(posts=posts, seed=seed, authors=12)
    return [s for p in thread.doc.posts for b in p.blocks for s in split_sentences(b.text)]


def sumy_document(sentences: list[str]) -> ObjectDocumentModel:
    tokenizer = OfflineTokenizer("english")
    return ObjectDocumentModel([Paragraph([Sentence(s, tokenizer) for s in sentences])])


def sumy_lexrank(sentences: list[str]) -> np.ndarray:
    """LexRankSummarizer.__call__ up to its ratings, with sumy's own methods."""
    summarizer = LexRankSummarizer(STEMMER)
    summarizer.stop_words = STOP
    words = [summarizer._to_words_set(s) for s in sumy_document(sentences).sentences]
    tf = summarizer._compute_tf(words)
    idf = summarizer._compute_idf(words)
    matrix = summarizer._create_matrix(words, summarizer.threshold, tf, idf)
    with np.errstate(invalid="ignore", divide="ignore"):
        return summarizer.power_method(matrix, summarizer.epsilon)


def sumy_textrank(sentences: list[str]) -> np.ndarray:
    summarizer = TextRankSummarizer(STEMMER)
    summarizer.stop_words = STOP
    document = sumy_document(sentences)
    ratings = summarizer.rate_sentences(document)
    return np.array([ratings[s] for s in document.sentences])


def terms_of(sentences: list[str]) -> SentenceTerms:
    return SentenceTerms.from_words((split_words(s) for s in sentences), STOP, STEMMER)


def sumy_order(scores: np.ndarray) -> list[int]:
    """sumy's `_get_best_sentences` order: stable sort by rating, descending."""
    values = [float(s) for s in scores]
    return sorted(range(len(values)), key=values.__getitem__, reverse=True)


def assert_same_picks(got: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    ours = best_first(got)
    theirs = sumy_order(expected)
    finite = expected[np.isfinite(expected)]
    scale = float(np.max(np.abs(finite))) if finite.size else 1.0
    for k in (1, 3, 5, 10, 20):
        if k >= len(expected):
            break
        if abs(expected[theirs[k - 1]] - expected[theirs[k]]) > 1e-11 * scale:
            assert set(ours[:k]) == set(theirs[:k]), f"top-{k} differs from sumy's"
    assert ours == best_first(expected)


CASES = [(25, 11), (55, 12)] + ([(170, 13), (190, 17)] if SLOW else [])
ALGORITHMS = [(lexrank_scores, sumy_lexrank), (textrank_scores, sumy_textrank)]


@pytest.mark.parametrize(("posts", "seed"), CASES)
@pytest.mark.parametrize(("ours", "reference"), ALGORITHMS)
def test_ratings_and_picks_are_sumys(posts, seed, ours, reference):
    sentences = synthetic_sentences(posts, seed)
    assert len(sentences) >= (1_400 if posts >= 170 else 200)
    assert_same_picks(ours(terms_of(sentences)), reference(sentences))


WORDS = ["tram", "trams", "bus", "buses", "depot", "fare", "the", "and", "of", "is", "Tram"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(WORDS), min_size=0, max_size=7), min_size=1, max_size=14))
def test_small_threads_with_ties_and_empty_sentences(word_lists):
    """Few words, so ties, repeats, stop-word-only and one-word sentences are common."""
    sentences = [" ".join(words) + "." if words else "..." for words in word_lists]
    terms = terms_of(sentences)
    assert_same_picks(lexrank_scores(terms), sumy_lexrank(sentences))
    assert_same_picks(textrank_scores(terms), sumy_textrank(sentences))


def test_textrank_length_classes_equal_the_full_matrix():
    """The per-length-class product against sumy's n×n matrix built with numpy, on a thread
    too long for sumy in a test (its Python loop would take a minute)."""
    sentences = synthetic_sentences(260, 14)
    assert len(sentences) > 1_200
    terms = terms_of(sentences)
    n = terms.sentences
    counts = np.zeros((n, terms.terms))
    counts[terms.rows, terms.cols] = terms.counts
    shared = counts @ counts.T
    logs = np.log(np.maximum(terms.lengths, 1))
    norms = logs[:, None] + logs[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.where(norms == 0, shared, shared / norms)
    weights[shared == 0] = 0
    weights /= weights.sum(axis=1)[:, None] + 1e-7
    matrix = np.full((n, n), 0.15 / n) + 0.85 * weights
    p = np.full(n, 1.0 / n)
    step = 1.0
    while step > 1e-4:
        nxt = matrix.T @ p
        step = np.linalg.norm(nxt - p)
        p = nxt
    np.testing.assert_allclose(textrank_scores(terms), p, rtol=1e-12)


def test_lexrank_edges_are_the_pairs_over_the_threshold():
    """The tiled sparse sums against a dense cosine matrix, on a thread spanning several
    tiles' worth of postings."""
    sentences = synthetic_sentences(15, 15)
    terms = terms_of(sentences)
    i, j, self_loop = lexrank_edges(terms)
    n = terms.sentences
    df = np.bincount(terms.cols, minlength=terms.terms)
    idf = np.log(n / (1 + df))
    vectors = np.zeros((n, terms.terms))
    for k in range(n):
        row = terms.rows == k
        if row.any():
            counts = terms.counts[row]
            vectors[k, terms.cols[row]] = counts / counts.max() * idf[terms.cols[row]]
    norms = np.linalg.norm(vectors, axis=1)
    safe = np.where(norms > 0, norms, 1)
    cosine = (vectors @ vectors.T) / np.outer(safe, safe)
    want = {(a, b) for a in range(n) for b in range(a + 1, n) if cosine[a, b] > 0.1}
    assert want
    assert set(zip(i.tolist(), j.tolist(), strict=True)) == want
    assert self_loop.tolist() == (norms > 0).tolist()


def test_tiles_do_not_change_the_edges(monkeypatch):
    """Small tiles (many row blocks and column tiles) find exactly the same edges."""
    from bot.core import fastrank

    terms = terms_of(synthetic_sentences(40, 18))
    i, j, _ = lexrank_edges(terms)
    monkeypatch.setattr(fastrank, "TILE_CELLS", 4096)
    ti, tj, _ = lexrank_edges(terms)
    assert set(zip(ti.tolist(), tj.tolist(), strict=True)) == set(
        zip(i.tolist(), j.tolist(), strict=True)
    )


def test_terms_are_sumys_tokens():
    terms = SentenceTerms.from_words(
        [["The", "Trams", "trams", "RUN"], ["and", "the"], []], STOP, STEMMER
    )
    assert terms.sentences == 3
    assert terms.lengths.tolist() == [3, 0, 0]  # repeats count; stop words do not
    assert terms.terms == 2  # "tram" and "run", stemmed from the lower-cased words
    assert terms.rows.tolist() == [0, 0]
    assert sorted(terms.counts.tolist()) == [1.0, 2.0]


def test_triples_count_pairs_sharing_a_term():
    terms = SentenceTerms.from_tokens([["a", "b"], ["a"], ["a", "c"], ["c"]])
    # a: df 3 → 6 triples (3 pairs + 3 self); b: 1; c: df 2 → 3
    assert lexrank_triples(terms) == 6 + 1 + 3


def test_degenerate_inputs_rate_like_sumy():
    assert lexrank_scores(SentenceTerms.from_tokens([])).size == 0
    assert textrank_scores(SentenceTerms.from_tokens([])).size == 0
    nothing = ["...", "!!"]
    assert np.isnan(sumy_lexrank(nothing)).all()  # sumy divides 0 by 0 ...
    assert np.isnan(lexrank_scores(terms_of(nothing))).all()  # ... and so do we
    assert best_first(lexrank_scores(terms_of(nothing))) == [0, 1]
    assert_same_picks(textrank_scores(terms_of(nothing)), sumy_textrank(nothing))
    one = ["Trams are quiet."]
    assert_same_picks(lexrank_scores(terms_of(one)), sumy_lexrank(one))


def test_ties_keep_thread_order():
    assert best_first([0.5, 0.9, 0.5 + 1e-17, 0.9 * (1 + 1e-15)]) == [1, 3, 0, 2]
    assert best_first([0.2, float("nan"), 0.4]) == [2, 0, 1]


def test_shuffled_sentences_shuffle_the_ratings():
    """Ratings belong to sentences, not positions (guards against an off-by-one in tiles)."""
    sentences = synthetic_sentences(20, 16)
    order = list(range(len(sentences)))
    random.Random(3).shuffle(order)
    shuffled = [sentences[k] for k in order]
    for rate in (lexrank_scores, textrank_scores):
        base = rate(terms_of(sentences))
        moved = rate(terms_of(shuffled))
        np.testing.assert_allclose(moved, base[order], rtol=1e-12)
