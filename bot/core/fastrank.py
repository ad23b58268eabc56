"""LexRank and TextRank rated as sumy 0.13 rates them, with numpy instead of Python loops.

sumy fills its n×n similarity matrix with a Python double loop (LexRank: 27 s at 934
sentences, quadratic). Here the same maths runs on arrays, and nothing n×n is ever formed.
The ratings differ from sumy's only in the order of floating-point additions (≤ 1e-12
relative; tests/core/test_fastrank.py), so the ranking is sumy's wherever ratings differ.
Where they are equal, sumy's order is rounding noise: its dense BLAS product can even give
two tied sentences ratings one unit in the last place apart, depending on how the arrays
happen to be aligned in memory. `best_first` therefore treats ratings equal to TIE_DIGITS
significant digits as tied and keeps them in thread order, as sumy's stable sort does for
exactly equal ratings.

Tokens are what sumy's summarisers see: `sentence.words`, lower-cased, stop words dropped,
stemmed (`SentenceTerms.from_words`).

LexRank (sumy/summarizers/lex_rank.py): tf = count / the sentence's highest count;
idf = log(n / (1 + sentences holding the term)); similarity = cosine of the tf·idf vectors
(0 when either is zero); an edge where similarity > 0.1 (a sentence is its own neighbour);
rows divided by their degree (0 counts as 1); power method from the uniform vector,
normalised each step, until a step moves less than 0.1. Only sentences that share a term
can pass the threshold, so cosines are summed from the term postings, one tile
(rows × later columns, upper triangle only) at a time, and only the edges are kept. The work
is one multiply-add per (sentence, sentence, shared term) triple: `lexrank_triples`
predicts it, and it grows with the square of the thread's length.

TextRank (sumy/summarizers/text_rank.py): weight(i, j) = Σ_t count_i(t)·count_j(t) /
(log len_i + log len_j), len counting repeated tokens, the bare count when both sentences
have one token; rows divided by (row sum + 1e-7); damping 0.85 with a (1 - d)/n teleport;
power method until a step moves at most 1e-4. The denominator depends on a pair only through
the two lengths, so W·q = Σ over length classes L of C·(C_Lᵀ·q_L) / (log len_j + log L),
with C the sentence×term count matrix: linear in the number of tokens, no n×n matrix.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

LEXRANK_THRESHOLD = 0.1
LEXRANK_EPSILON = 0.1
TEXTRANK_DAMPING = 0.85
TEXTRANK_EPSILON = 1e-4
_ZERO_DIVISION_PREVENTION = 1e-7
TIE_DIGITS = 12
"""Ratings equal to this many significant digits (relative to the best) count as tied."""
TILE_CELLS = 1 << 20
"""Cells of one LexRank similarity tile (8 MiB of float64): big enough to keep numpy busy,
small enough to stay in cache and to bound memory."""


@dataclass(frozen=True, slots=True)
class SentenceTerms:
    """Sentence × term counts as coordinate arrays, sorted by sentence then term id."""

    sentences: int
    terms: int
    rows: np.ndarray
    """Sentence of each entry (int64, ascending)."""
    cols: np.ndarray
    """Term id of each entry (int64)."""
    counts: np.ndarray
    """How often the term occurs in the sentence (float64)."""
    lengths: np.ndarray
    """Tokens per sentence, repeats included (int64)."""

    @classmethod
    def from_words(
        cls,
        sentence_words: Iterable[Sequence[str]],
        stop_words: Iterable[str] = (),
        stem: Callable[[str], str] | None = None,
    ) -> SentenceTerms:
        """The tokens sumy's LexRank/TextRank rate (`_to_words_set`): each word lower-cased
        (`normalize_word`), stop words (lower-cased) dropped, the rest stemmed (`stem_word`
        stems the lower-cased word). Each distinct word is stemmed once: NLTK's Snowball
        stemmer costs ~50 µs a word and a thread repeats its vocabulary endlessly."""
        stop = frozenset(word.lower() for word in stop_words)
        vocabulary: dict[str, int] = {}

        class Memo(dict[str, int]):
            def __missing__(self, word: str) -> int:
                lowered = word.lower()
                if lowered in stop:
                    term = -1
                else:
                    token = stem(lowered) if stem is not None else lowered
                    term = vocabulary.setdefault(token, len(vocabulary))
                self[word] = term
                return term

        lookup = Memo().__getitem__
        ids: list[int] = []
        words_per_sentence: list[int] = []
        for words in sentence_words:
            ids.extend(map(lookup, words))
            words_per_sentence.append(len(words))
        flat = np.asarray(ids, dtype=np.int64)
        row_of = np.repeat(np.arange(len(words_per_sentence)), words_per_sentence)
        kept = flat >= 0
        lengths = np.bincount(row_of[kept], minlength=len(words_per_sentence))
        return cls._from_ids(flat[kept], lengths, len(vocabulary))

    @classmethod
    def from_tokens(cls, sentences: Sequence[Sequence[str]]) -> SentenceTerms:
        """Tokens taken as they are (already normalised, filtered and stemmed)."""
        vocabulary: dict[str, int] = {}
        ids = [vocabulary.setdefault(t, len(vocabulary)) for tokens in sentences for t in tokens]
        return cls._from_ids(ids, [len(tokens) for tokens in sentences], len(vocabulary))

    @classmethod
    def _from_ids(
        cls, ids: Sequence[int] | np.ndarray, lengths: Sequence[int] | np.ndarray, terms: int
    ) -> SentenceTerms:
        n = len(lengths)
        size = np.asarray(lengths, dtype=np.int64)
        row_of = np.repeat(np.arange(n, dtype=np.int64), size)
        keys, counts = np.unique(row_of * max(terms, 1) + np.asarray(ids, dtype=np.int64),
                                 return_counts=True)  # fmt: skip
        return cls(
            sentences=n,
            terms=terms,
            rows=keys // max(terms, 1),
            cols=keys % max(terms, 1),
            counts=counts.astype(np.float64),
            lengths=size,
        )


# --- LexRank ---------------------------------------------------------------------------------


def _lexrank_weights(terms: SentenceTerms) -> tuple[np.ndarray, np.ndarray]:
    """Each entry's tf and idf, as sumy computes them."""
    n = terms.sentences
    max_tf = np.zeros(n)
    np.maximum.at(max_tf, terms.rows, terms.counts)
    tf = terms.counts / max_tf[terms.rows]
    df = np.bincount(terms.cols, minlength=terms.terms)
    idf = np.log(n / (1.0 + df))
    return tf, idf[terms.cols]


def lexrank_triples(terms: SentenceTerms) -> int:
    """(sentence, sentence, shared term) triples the sparse LexRank adds up: Σ df·(df+1)/2.

    Its run time is proportional (≈ 50 ns a triple on a 2-core machine shared with other
    jobs); a 10,000-post synthetic thread (59,000 sentences) has 3.2e8."""
    df = np.bincount(terms.cols, minlength=terms.terms).astype(np.int64)
    return int((df * (df + 1) // 2).sum())


def lexrank_edges(
    terms: SentenceTerms, threshold: float = LEXRANK_THRESHOLD
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, self_loop): the pairs i < j whose tf·idf cosine exceeds `threshold`, and which
    sentences are their own neighbour (a non-zero vector, cosine 1)."""
    n = terms.sentences
    tf, idf = _lexrank_weights(terms)
    weights = tf * idf
    norms = np.sqrt(np.bincount(terms.rows, weights=weights * weights, minlength=n))
    keep = weights != 0.0
    rows, cols = terms.rows[keep], terms.cols[keep]
    weights = weights[keep] / norms[rows]
    self_loop = norms > 0
    if n < 2 or rows.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, self_loop

    order = np.lexsort((rows, cols))  # postings: by term, then sentence
    post_rows = rows[order]
    post_weights = weights[order]
    post_keys = cols[order] * n + post_rows
    width = min(n, TILE_CELLS // 256)
    height = max(64, TILE_CELLS // width)
    tiles = -(-n // width)
    # starts[t, k]: the first posting of term t in column tile k (k == tiles: the term's end)
    bounds = np.minimum(np.arange(tiles + 1, dtype=np.int64) * width, n)
    term_ids = np.arange(terms.terms, dtype=np.int64)
    starts = np.searchsorted(post_keys, (term_ids[:, None] * n + bounds).ravel())
    starts = starts.reshape(terms.terms, tiles + 1)
    row_start = np.searchsorted(rows, np.arange(n + 1, dtype=np.int64))

    found_i: list[np.ndarray] = []
    found_j: list[np.ndarray] = []
    for top in range(0, n, height):
        bottom = min(n, top + height)
        first, last = row_start[top], row_start[bottom]
        entry_rows = rows[first:last] - top
        entry_terms = cols[first:last]
        entry_weights = weights[first:last]
        for tile in range(top // width, tiles):
            left = tile * width
            span = min(n, left + width) - left
            lo = starts[entry_terms, tile]
            sizes = starts[entry_terms, tile + 1] - lo
            total = int(sizes.sum())
            if total == 0:
                continue
            offsets = np.repeat(lo - (np.cumsum(sizes) - sizes), sizes) + np.arange(total)
            cells = np.repeat(entry_rows * span - left, sizes) + post_rows[offsets]
            products = np.repeat(entry_weights, sizes) * post_weights[offsets]
            cosines = np.bincount(cells, weights=products, minlength=(bottom - top) * span)
            hits = np.flatnonzero(cosines > threshold)
            i = hits // span + top
            j = hits % span + left
            upper = j > i
            found_i.append(i[upper])
            found_j.append(j[upper])
    return np.concatenate(found_i), np.concatenate(found_j), self_loop


def lexrank_scores(
    terms: SentenceTerms,
    threshold: float = LEXRANK_THRESHOLD,
    epsilon: float = LEXRANK_EPSILON,
) -> np.ndarray:
    """sumy's LexRank rating of every sentence (NaN everywhere when no sentence has a rated
    term, as in sumy)."""
    n = terms.sentences
    if n == 0:
        return np.zeros(0)
    i, j, self_loop = lexrank_edges(terms, threshold)
    degree = self_loop.astype(np.float64)
    degree += np.bincount(i, minlength=n) + np.bincount(j, minlength=n)
    degree[degree == 0] = 1.0
    p = np.full(n, 1.0 / n)
    step = 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        while step > epsilon:
            q = p / degree
            nxt = np.where(self_loop, q, 0.0)
            nxt += np.bincount(i, weights=q[j], minlength=n)
            nxt += np.bincount(j, weights=q[i], minlength=n)
            nxt /= np.linalg.norm(nxt)
            step = float(np.linalg.norm(nxt - p))
            p = nxt
    return p


# --- TextRank ------------------------------------------------------------------------------


def textrank_scores(
    terms: SentenceTerms,
    damping: float = TEXTRANK_DAMPING,
    epsilon: float = TEXTRANK_EPSILON,
) -> np.ndarray:
    """sumy's TextRank rating of every sentence."""
    n = terms.sentences
    if n == 0:
        return np.zeros(0)
    classes, cls = np.unique(terms.lengths, return_inverse=True)
    logs = np.array([math.log(length) if length else 0.0 for length in classes.tolist()])
    with np.errstate(divide="ignore"):
        factor = 1.0 / (logs[:, None] + logs[None, :])
    single = classes == 1
    factor[np.outer(single, single)] = 1.0  # both one token: the bare count
    factor[~np.isfinite(factor)] = 0.0  # an empty sentence shares nothing anyway
    rows, cols, counts = terms.rows, terms.cols, terms.counts
    k = len(classes)
    slot = cols * k + cls[rows]  # (term, length class of the entry's sentence)

    def weigh(q: np.ndarray) -> np.ndarray:
        """W·q without forming W. With Y[t, L] = Σ_{i of length L} count_i(t)·q_i, row j is
        Σ_t count_j(t) · Σ_L Y[t, L] / (log len_j + log L) = Σ_t count_j(t) · Z[t, class_j]."""
        per_class = np.bincount(slot, weights=counts * q[rows], minlength=terms.terms * k)
        z = per_class.reshape(terms.terms, k) @ factor.T
        return np.bincount(rows, weights=counts * z.ravel()[slot], minlength=n)

    row_sums = weigh(np.ones(n)) + _ZERO_DIVISION_PREVENTION
    teleport = (1.0 - damping) / n
    p = np.full(n, 1.0 / n)
    step = 1.0
    while step > epsilon:
        nxt = teleport * p.sum() + damping * weigh(p / row_sums)
        step = float(np.linalg.norm(nxt - p))
        p = nxt
    return p


def best_first(scores: Sequence[float] | np.ndarray) -> list[int]:
    """Indices best-first: by rating, descending; ratings equal to TIE_DIGITS significant
    digits keep thread order (NaN ratings, sumy's "no rating at all", come last)."""
    values = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return list(range(len(values)))
    scale = float(np.max(np.abs(values[finite]))) or 1.0
    keys = np.where(finite, np.round(values / scale, TIE_DIGITS), -np.inf)
    return np.lexsort((np.arange(len(values)), -keys)).tolist()
