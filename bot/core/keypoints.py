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

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from bot.core.text import WORD_RE, normalise_word, normalised_words, split_words, straighten

SHORT_SENTENCE_WORDS = 8
"""Sentences shorter than this many words score proportionally less."""
TIE_DECIMALS = 12
"""Scores (in [0, 1]) equal to this many decimals are tied, and the earlier sentence wins:
two sentences of a participant can tie exactly in exact arithmetic (with two sentences of
equal length, both are as close to their mean), and then summation order must not decide."""


SEPARATOR = -1
"""The id of the mark between two sentences in a run of word ids."""
STOP = -2
"""The id of a stop word: it counts as a word, but is no term."""


class _TermIds(dict[str | bytes, int]):
    """Word (str, or ASCII bytes) → id of its stem, stemming each distinct word once; stop
    words → STOP and the sentence mark → SEPARATOR. Stems are numbered in the order their
    first word is looked up (the TF-IDF cells' summation order depends on it)."""

    def __init__(self, stem: Callable[[str], str], stop_words: frozenset[str]) -> None:
        super().__init__({_MARK: SEPARATOR, _MARK_BYTES: SEPARATOR})
        self._stem = stem
        self._stop = stop_words
        self._stems: dict[str, int] = {}

    def __missing__(self, word: str | bytes) -> int:
        text = word.decode("ascii") if isinstance(word, bytes) else word
        if text in self._stop:
            term = STOP
        else:
            term = self._stems.setdefault(self._stem(text), len(self._stems))
        self[word] = term
        return term

    @property
    def terms(self) -> int:
        return len(self._stems)


_MARK = "\n"
_MARK_BYTES = b"\x01"
_JOIN = " \n "
"""Sentences are joined with this: no sentence holds a line break (they are split from
lines), so every "\n" is a mark between two, and the spaces keep it a token of its own."""
_WORDS_OR_MARK_RE = re.compile(WORD_RE.pattern + "|\n")
_ASCII_WORDS = bytes(
    c if chr(c) in "abcdefghijklmnopqrstuvwxyz0123456789'" else 1 if c == 10 else 32
    for c in range(256)
)
"""For folded ASCII text: word characters and apostrophes kept, "\n" made the mark \x01,
everything else (an \x01 of the text too) a space."""
_LONE_APOSTROPHE_RE = re.compile(rb"'(?:(?<![a-z0-9]')|(?![a-z0-9]))")
"""An apostrophe that is not between two word characters: WORD_RE leaves it out."""
CHUNK_CHARS = 1 << 21
"""Sentences are read in runs of about this many characters (2 M: their tokens are a few
MB, where the whole thread's would be ~400 MB of small objects)."""


def _tokens(texts: Sequence[str]) -> list[str] | list[bytes]:
    """`normalised_words` of each text, with the mark between texts, as one list.

    One pass over the joined text instead of one per sentence; ASCII text (the folded text
    of most threads) is split as bytes after one table lookup, ~3× faster than WORD_RE and
    the same words: letters and digits, with apostrophes inside a word kept."""
    joined = _JOIN.join(texts)
    folded = straighten(joined).casefold()
    if len(folded) != len(joined) or joined.count(_MARK) != len(texts) - 1:
        # folding grew a character ("ß" → "ss"), or a text holds a line break: text by text
        found: list[str] = []
        for k, text in enumerate(texts):
            if k:
                found.append(_MARK)
            found.extend(normalised_words(text))
        return found
    if not folded.isascii():
        return _WORDS_OR_MARK_RE.findall(folded)
    data = folded.encode("ascii").translate(_ASCII_WORDS)
    if b"'" in data:
        data = _LONE_APOSTROPHE_RE.sub(b" ", data)
    return data.split()


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
    _rows: list[np.ndarray] = field(default_factory=list)
    """Per run of sentences added: the sentence of each term (in thread order)."""
    _terms: list[np.ndarray] = field(default_factory=list)
    _word_counts: list[np.ndarray] = field(default_factory=list)
    _owners: list[int] = field(default_factory=list)
    _texts: list[str] = field(default_factory=list)
    _order: np.ndarray | None = None
    _scores: np.ndarray | None = None
    _starts: np.ndarray | None = None
    _vectors: SentenceVectors | None = None

    def __post_init__(self) -> None:
        self._ids = _TermIds(self.stem, self.stop_words)

    def add(self, owner: int, text: str) -> int:
        """Add one sentence of participant `owner` (0, 1, ...); its number of words."""
        return int(self.extend([owner], [text])[0])

    def extend(self, owners: Sequence[int], texts: Sequence[str]) -> np.ndarray:
        """Add sentences, `owners[k]` the participant of `texts[k]`; their numbers of words.

        The words of a run of sentences are read at once (`_tokens`) and turned into ids by
        one dict look-up each, then counted per sentence with numpy."""
        if len(owners) != len(texts):
            raise ValueError("one owner per sentence")
        counts: list[np.ndarray] = []
        # a run ends with the first sentence that brings it to CHUNK_CHARS (found on the
        # running sum of the sizes, not by a loop over 600,000 sentences)
        sizes = np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)) + 3)
        start = 0
        while start < len(texts):
            base = int(sizes[start - 1]) if start else 0
            end = min(len(texts), int(np.searchsorted(sizes, base + CHUNK_CHARS)) + 1)
            counts.append(self._read(texts[start:end], len(self._texts) + start))
            start = end
        self._owners.extend(owners)
        self._texts.extend(texts)
        self._order = None
        return np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)

    def _read(self, texts: Sequence[str], first: int) -> np.ndarray:
        tokens = _tokens(texts)  # ids in the order the words come (new stems numbered so)
        ids = np.fromiter(map(self._ids.__getitem__, tokens), np.int64, len(tokens))
        mark = ids == SEPARATOR
        sentence = np.cumsum(mark)
        words = np.bincount(sentence[~mark], minlength=len(texts))
        term = ids >= 0
        self._rows.append(sentence[term] + first)
        self._terms.append(ids[term])
        self._word_counts.append(words)
        return words

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
        counts = _joined(self._word_counts)
        shortness = np.minimum(1.0, counts / SHORT_SENTENCE_WORDS)
        empty = np.zeros(0, dtype=np.int64)
        self._vectors = SentenceVectors(empty, empty, np.zeros(0), owners, shortness, terms, counts)
        sentence_of, term_ids = _joined(self._rows), _joined(self._terms)
        if len(term_ids):
            pairs, tf = _counted(sentence_of * terms + term_ids)
            row, col = np.divmod(pairs, terms)
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
            has_terms = np.bincount(sentence_of, minlength=sentences) > 0
            scores[has_terms] = np.round(closeness * shortness, TIE_DECIMALS)[has_terms]
        # by participant, then best score first, then thread order
        self._order = np.lexsort((np.arange(sentences), -scores, owners))
        self._scores, self._starts = scores, starts


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _counted(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(keys, return_counts=True)` for keys that are mostly in order already (a
    sentence's terms after the previous sentence's): a stable sort (timsort for int64)
    takes ~0.06 s where unique's quicksort takes ~0.35 s for 5 million keys."""
    ordered = np.sort(keys, kind="stable")
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    counts = np.diff(np.append(starts, len(ordered)))
    return ordered[starts], counts
