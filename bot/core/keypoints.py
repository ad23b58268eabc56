"""Key points: each participant's sentences closest to the centroid of their own TF-IDF vectors.

Linear in the thread's words (LexRank would be quadratic per participant), and "closest to
what this person keeps saying" is what a key point is. IDF runs over every own sentence of
the thread, so a participant's key points stand out against everyone's words. Very short
sentences are discounted so "Agreed." does not stand for someone's position.

The whole thread is scored at once with numpy (a 10,000-post thread has ~60,000 sentences
and ~600,000 terms; per-sentence dicts took ~1 s there), then each participant's best
sentences are read off one sort.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from bot.core.text import normalise_word, normalised_words, split_words

SHORT_SENTENCE_WORDS = 8
"""Sentences shorter than this many words score proportionally less."""
TIE_DECIMALS = 12
"""Scores (in [0, 1]) equal to this many decimals are tied, and the earlier sentence wins:
two sentences of a participant can tie exactly in exact arithmetic (with two sentences of
equal length, both are as close to their mean), and then summation order must not decide."""


class _TermIds(dict[str, int]):
    """Word → id of its stem, stemming each distinct word once."""

    def __init__(self, stem: Callable[[str], str]) -> None:
        super().__init__()
        self._stem = stem
        self._stems: dict[str, int] = {}

    def __missing__(self, word: str) -> int:
        stem = self._stem(word)
        term = self[word] = self._stems.setdefault(stem, len(self._stems))
        return term

    @property
    def terms(self) -> int:
        return len(self._stems)


@dataclass(frozen=True, slots=True)
class SentenceVectors:
    """Sparse unit TF-IDF vectors of the sentences, as parallel arrays of non-zero cells."""

    row: np.ndarray
    """The sentence of each cell."""
    col: np.ndarray
    """The term (stem id) of each cell."""
    unit: np.ndarray
    """The cell's weight; each sentence's weights have unit length."""
    owners: np.ndarray
    """The participant of each sentence."""
    shortness: np.ndarray
    """Per sentence, in (0, 1]: sentences under SHORT_SENTENCE_WORDS words count less."""
    terms: int
    word_counts: np.ndarray


DENSE_CELLS = 20_000_000
"""Participants × terms up to which each person's centroid is one dense array (160 MB at
most) summed by bincount, instead of sorting the occupied cells (1.2 s at 100,000 posts)."""


@dataclass
class KeyPointIndex:
    """Sentences added in thread order, each with the participant who wrote it."""

    stop_words: frozenset[str]
    stem: Callable[[str], str]
    _ids: _TermIds = field(init=False)
    _terms: list[int] = field(default_factory=list)
    _term_counts: list[int] = field(default_factory=list)
    _word_counts: list[int] = field(default_factory=list)
    _owners: list[int] = field(default_factory=list)
    _texts: list[str] = field(default_factory=list)
    _order: np.ndarray | None = None
    _scores: np.ndarray | None = None
    _starts: np.ndarray | None = None
    _vectors: SentenceVectors | None = None

    def __post_init__(self) -> None:
        self._ids = _TermIds(self.stem)

    def add(self, owner: int, text: str) -> int:
        """Add one sentence of participant `owner` (0, 1, ...); its number of words."""
        words = normalised_words(text)
        stop = self.stop_words
        ids = [self._ids[w] for w in words if w not in stop]
        self._terms.extend(ids)
        self._term_counts.append(len(ids))
        self._word_counts.append(len(words))
        self._owners.append(owner)
        self._texts.append(text)
        self._order = None
        return len(words)

    def best(self, owner: int, count: int) -> list[int]:
        """Indices (in the order added) of `owner`'s `count` key sentences, in thread order.

        Ties go to the earlier sentence, and a sentence that repeats an earlier one of the
        same participant word for word is not picked twice.
        """
        if count <= 0:
            return []
        if self._order is None:
            self._score()
        assert self._order is not None and self._scores is not None and self._starts is not None
        if owner + 1 >= len(self._starts):
            return []
        picked: list[int] = []
        seen: set[str] = set()
        for index in self._order[self._starts[owner] : self._starts[owner + 1]].tolist():
            if self._scores[index] < 0:  # no terms: nothing to compare
                break
            key = " ".join(normalise_word(w) for w in split_words(self._texts[index]))
            if key in seen:
                continue
            seen.add(key)
            picked.append(index)
            if len(picked) == count:
                break
        return sorted(picked)

    def vectors(self) -> SentenceVectors:
        """Every sentence's unit TF-IDF vector (the sides analysis compares people's words)."""
        if self._order is None:
            self._score()
        assert self._vectors is not None
        return self._vectors

    def text(self, index: int) -> str:
        return self._texts[index]

    def _score(self) -> None:
        sentences = len(self._owners)
        owners = np.asarray(self._owners, dtype=np.int64)
        starts = np.zeros(int(owners.max(initial=-1)) + 2, dtype=np.int64)
        np.cumsum(np.bincount(owners, minlength=len(starts) - 1), out=starts[1:])
        scores = np.full(sentences, -1.0)
        terms = max(1, self._ids.terms)
        shortness = np.minimum(1.0, np.asarray(self._word_counts) / SHORT_SENTENCE_WORDS)
        empty = np.zeros(0, dtype=np.int64)
        counts = np.asarray(self._word_counts, dtype=np.int64)
        self._vectors = SentenceVectors(empty, empty, np.zeros(0), owners, shortness, terms, counts)
        if self._terms:
            sentence_of = np.repeat(np.arange(sentences, dtype=np.int64), self._term_counts)
            pairs, tf = np.unique(
                sentence_of * terms + np.asarray(self._terms, dtype=np.int64), return_counts=True
            )
            row, col = pairs // terms, pairs % terms
            df = np.bincount(col, minlength=terms)
            idf = np.log((1 + sentences) / (1 + df)) + 1.0
            weight = tf * idf[col]
            norm = np.sqrt(np.bincount(row, weight * weight, minlength=sentences))
            unit = weight / norm[row]
            self._vectors = SentenceVectors(row, col, unit, owners, shortness, terms, counts)
            # centroid of each participant's unit vectors (sentences without terms count too)
            per_owner = np.bincount(owners, minlength=len(starts) - 1)
            owner_of = owners[row]
            key = owner_of * terms + col
            if len(per_owner) * terms <= DENSE_CELLS:  # one slot per (owner, term): no sort
                centroid = np.bincount(key, unit / per_owner[owner_of])
                closeness = np.bincount(row, unit * centroid[key], minlength=sentences)
            else:  # 100,000 one-post participants: only the cells that occur
                cells, cell_of = np.unique(key, return_inverse=True)
                centroid = np.bincount(cell_of, unit / per_owner[owner_of], minlength=len(cells))
                closeness = np.bincount(row, unit * centroid[cell_of], minlength=sentences)
            has_terms = np.asarray(self._term_counts) > 0
            scores[has_terms] = np.round(closeness * shortness, TIE_DECIMALS)[has_terms]
        # by participant, then best score first, then thread order
        self._order = np.lexsort((np.arange(sentences), -scores, owners))
        self._scores, self._starts = scores, starts
