"""The thread-aware ranker: the default summary algorithm.

sumy's summarisers were made for articles: one author, no replies, every sentence meant to
be read in order. A thread has more to go on, and a summary of it has other traps:
- the opening post asks the question or makes the proposal the thread is about;
- what other people quote or answer is what the thread turned on, and the credit belongs
  to the quoted author's sentence, not to the quoter;
- five replies saying the same thing make one point, not five picks;
- a line is read alone, so "It's okay.", "Cheers," or "… would be:" are useless however
  central their words (bot.core.standalone);
- where the source counts likes or votes (Discourse, Reddit), readers have voted.

Each sentence gets a rating
    standalone × (centrality + title + opening + lead-in-post + quoted + engagement)
where centrality is the cosine of its TF-IDF vector with the thread's centroid (every
sentence's unit vector summed), title is its cosine with the thread title, opening marks the
first post of the selection, lead-in-post favours a post's first sentences (people put
their point first), quoted counts the later posts that quote this very sentence, and
engagement is the post's replies and likes on a log scale. Picks are then made greedily
(maximal marginal relevance): each step takes the best rating, less its similarity to what
is already picked, less a little for every pick already made from the same post, among
the sentences that still fit the length budget; a sentence that says what a pick says
(cosine at least `DUPLICATE`) is not picked at all.

Cost: one pass over the words for the vectors (numpy), one substring search per quote in
the post it quotes, the standalone check only for sentences that can still reach the top
(`Ranked.best`), and the greedy picks over the `CANDIDATES` best-rated sentences. So it is
linear in the thread's words: a 10,000-post thread (59,000 sentences) takes about 1.8 s of
CPU here, the sentence split included (bench/perf.py).

Weights were set on the ConvoSumm e-mail dev split (bench/summary_quality.py) with a few
round values compared on its even and odd halves, not a search, so that they carry to
other threads.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bot.core.standalone import (
    MIN_WORDS,
    SentenceInfo,
    context_flags,
    folded_words,
    sentence_factor,
)
from bot.core.text import normalise_word, split_words

CANDIDATES = 300
"""The greedy picks look at this many of the best-rated sentences at least (more when their
words are fewer than four times a word budget)."""

W_CENTRAL = 1.0
W_TITLE = 0.5
W_OPENING = 0.35
W_LEAD = 0.5
W_QUOTED = 0.5
W_ENGAGED = 0.3
REDUNDANCY = 0.6
"""MMR: how much of a candidate's similarity to the closest pick is taken off its rating."""
SAME_POST = 0.5
"""Taken off a candidate's rating for every pick already made from its post."""
DUPLICATE = 0.5
"""A candidate this similar (cosine) to a pick says the same thing: it is not picked."""
PROBE_WORDS = 5
"""A quote not found whole is looked for by its first and its last this many words."""
MIN_STANDALONE = 0.2
"""A sentence standing on its own less than this is never picked (unless none stands)."""


@dataclass(frozen=True, slots=True)
class PostSignals:
    """What the thread says about one post besides its words."""

    quoted_by: frozenset[int] = frozenset()
    """Later posts that quote it or reply to it."""
    likes: int = 0


@dataclass(frozen=True, slots=True)
class RankInput:
    texts: Sequence[str]
    posts: Sequence[int]
    """The post number of each sentence (thread order)."""
    authors: Sequence[str | None]
    signals: Mapping[int, PostSignals]
    quotes: Sequence[tuple[int, int, str]]
    """(quoting post, quoted post, quoted text) for every quote of a post in the selection."""
    title: str
    stop_words: frozenset[str]
    stem: Callable[[str], str]
    english: bool = True


class Ranked:
    """The ratings of a thread's sentences, worked out lazily.

    A rating is standalone × base, where base (centrality, title, position, quotes,
    engagement) is computed for every sentence at once with numpy, and the standalone
    factor (bot.core.standalone.sentence_factor, ~10 µs of Python a sentence) only where
    it is needed: `best(k)` walks the sentences by falling base and stops once no base left
    can beat its k-th rating (the factor is at most 1), so the exact top k costs a few
    times k factors, not one per sentence of a 60,000-sentence thread."""

    def __init__(
        self,
        base: np.ndarray,
        eligible: np.ndarray,
        vectors: _Vectors,
        quoted: np.ndarray,
        factor: Callable[[int], float],
    ) -> None:
        self.base = base
        self.eligible = eligible
        self.vectors = vectors
        self.quoted = quoted
        """Per sentence, how many later posts quote words of it."""
        self._factor = factor
        self._factors = np.full(len(base), np.nan)
        self._order = np.lexsort((np.arange(len(base)), -base)).tolist()
        self._scanned = 0
        self._found: list[tuple[float, int]] = []  # (-rating, index) of usable sentences
        self._fallback: bool | None = None

    def __len__(self) -> int:
        return len(self.base)

    def factor(self, index: int) -> float:
        value = self._factors[index]
        if value != value:  # NaN: not computed yet
            value = self._factors[index] = self._factor(index) if self.eligible[index] else 0.0
        return float(value)

    def usable(self, index: int) -> bool:
        """May be picked: stands on its own (factor above MIN_STANDALONE), not old mail."""
        if self.standalone_found is False:
            return True
        return bool(self.eligible[index]) and self.factor(index) > MIN_STANDALONE

    def score(self, index: int) -> float:
        if self.standalone_found is False:
            return 1.0 / (1.0 + index)  # nothing stands alone: the earliest first
        if not self.usable(index):
            return 0.0
        return round(self.factor(index) * float(self.base[index]), 12)

    @property
    def standalone_found(self) -> bool:
        """False when no sentence stands on its own ("+1", "Thanks!"): then every sentence
        is usable and the earliest rate highest."""
        if self._fallback is None:
            self._fallback = False
            self._fallback = not self.best(1)
        return not self._fallback

    def best(self, k: int) -> list[int]:
        """The k best-rated usable sentences, best first (ties: the earlier first)."""
        if self._fallback:
            return list(range(min(k, len(self.base))))
        order, base = self._order, self.base
        found = self._found
        while self._scanned < len(order):
            if len(found) >= k and float(base[order[self._scanned]]) < -found[k - 1][0]:
                break  # no sentence left can beat the k-th: its factor is at most 1
            i = order[self._scanned]
            self._scanned += 1
            if self.usable(i):
                bisect.insort(found, (-self.score(i), i))
        return [i for _, i in found[:k]]


@dataclass(frozen=True, slots=True)
class _Vectors:
    """Unit TF-IDF rows in coordinate form: row, term and weight of every cell."""

    row: np.ndarray
    col: np.ndarray
    weight: np.ndarray
    starts: np.ndarray
    """Cells of sentence i are row-sorted at starts[i]:starts[i + 1]."""

    def of(self, index: int) -> dict[int, float]:
        a, b = int(self.starts[index]), int(self.starts[index + 1])
        return dict(zip(self.col[a:b].tolist(), self.weight[a:b].tolist(), strict=True))


def rank(data: RankInput) -> Ranked:
    """Rate every sentence; see the module docstring."""
    count = len(data.texts)
    folded = [folded_words(text) for text in data.texts]
    ids = _TermIds(data.stem)
    stop = data.stop_words
    per_sentence = [[ids[w] for w in words if w not in stop] for words in folded]
    terms = [term for sentence in per_sentence for term in sentence]
    term_counts = np.fromiter((len(t) for t in per_sentence), dtype=np.int64, count=count)
    stems = ids.stems
    vectors = _unit_tfidf(terms, term_counts, max(1, len(stems)))

    centroid = np.bincount(vectors.col, vectors.weight, minlength=len(stems))
    norm = float(np.linalg.norm(centroid)) or 1.0
    central = np.bincount(vectors.row, vectors.weight * centroid[vectors.col], minlength=count)
    central /= norm
    central /= float(central.max()) or 1.0

    title_vec = _title_vector(data, ids, stems, vectors)
    title = np.bincount(vectors.row, vectors.weight * title_vec[vectors.col], minlength=count)

    posts = np.asarray(data.posts, dtype=np.int64)
    opening = (posts == posts[0]).astype(float) if count else np.zeros(0)

    infos = [
        SentenceInfo(post, author, text)
        for post, author, text in zip(data.posts, data.authors, data.texts, strict=True)
    ]
    never, quoted_mail = context_flags(infos, folded)
    eligible = (
        ~np.asarray(never, dtype=bool)
        & ~np.asarray(quoted_mail, dtype=bool)
        & (term_counts > 0)
        & (np.fromiter((len(w) for w in folded), dtype=np.int64, count=count) >= MIN_WORDS)
    )
    lead = _lead_in_post(posts, eligible)
    quoters = _quoted_sentences(data, folded)
    quoted = np.log1p(quoters)
    quoted /= float(quoted.max()) if count and quoted.max() > 0 else 1.0
    engaged = _engagement(data, posts)

    base = (
        W_CENTRAL * central
        + W_TITLE * title
        + W_OPENING * opening
        + W_LEAD * lead
        + W_QUOTED * quoted
        + W_ENGAGED * engaged
    )
    texts, authors, english = data.texts, data.authors, data.english

    def factor(i: int) -> float:
        return sentence_factor(texts[i], authors[i], english, folded[i])

    return Ranked(np.where(eligible, base, 0.0), eligible, vectors, quoters, factor)


class _TermIds(dict[str, int]):
    """Folded word → id of its stem, stemming each distinct word once."""

    def __init__(self, stem: Callable[[str], str]) -> None:
        super().__init__()
        self._stem = stem
        self.stems: dict[str, int] = {}

    def __missing__(self, word: str) -> int:
        term = self[word] = self.stems.setdefault(self._stem(word), len(self.stems))
        return term


def _unit_tfidf(terms: list[int], term_counts: np.ndarray, vocabulary: int) -> _Vectors:
    count = len(term_counts)
    sentence_of = np.repeat(np.arange(count, dtype=np.int64), term_counts)
    pairs, tf = np.unique(
        sentence_of * vocabulary + np.asarray(terms, dtype=np.int64), return_counts=True
    )
    row, col = pairs // vocabulary, pairs % vocabulary
    df = np.bincount(col, minlength=vocabulary)
    idf = np.log((1 + count) / (1 + df)) + 1.0
    weight = tf * idf[col]
    norm = np.sqrt(np.bincount(row, weight * weight, minlength=count))
    weight = weight / np.where(norm[row] > 0, norm[row], 1.0)
    starts = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=count), out=starts[1:])
    return _Vectors(row, col, weight, starts)


def _title_vector(
    data: RankInput, ids: dict[str, int], stems: dict[str, int], vectors: _Vectors
) -> np.ndarray:
    """The title's terms (only those the thread uses), as a unit vector."""
    vec = np.zeros(max(1, len(stems)))
    for word in split_words(data.title):
        folded = normalise_word(word)
        if folded in data.stop_words:
            continue
        term = ids.get(folded)
        if term is None:
            term = stems.get(data.stem(folded))
        if term is not None:
            vec[term] += 1.0
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm else vec


def _lead_in_post(posts: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """1 for a post's first eligible sentence, 1/2 for its second, and so on."""
    lead = np.zeros(len(posts))
    position = 0
    previous = None
    for i, (post, ok) in enumerate(zip(posts.tolist(), eligible.tolist(), strict=True)):
        if post != previous:
            position, previous = 0, post
        if ok:
            position += 1
            lead[i] = 1.0 / position
    return lead


def _quoted_sentences(data: RankInput, folded: list[list[str]]) -> np.ndarray:
    """Per sentence, how many later posts quote words of it.

    Each quoted post's sentences are joined into one string of folded words, with each
    sentence's offset; a quote is found in it by substring search (its whole text, else its
    first and its last `PROBE_WORDS` words, for quotes retyped with small edits), and the
    sentences the found span overlaps are credited. One C-speed search per quote over its
    quoted post: linear in the words quoted and the posts they come from."""
    out = np.zeros(len(folded))
    if not data.quotes:
        return out
    wanted = {quoted for _, quoted, _ in data.quotes}
    texts: dict[int, list[str]] = {}
    starts: dict[int, list[int]] = {}
    first: dict[int, int] = {}
    size: dict[int, int] = {}
    for i, (post, words) in enumerate(zip(data.posts, folded, strict=True)):
        if post in wanted:
            part = " ".join(words)
            first.setdefault(post, i)
            starts.setdefault(post, []).append(size.get(post, 0))
            size[post] = size.get(post, 0) + len(part) + 1  # +1: the joining space
            texts.setdefault(post, []).append(part)
    joined = {post: " ".join(parts) for post, parts in texts.items()}
    quoters: dict[int, set[int]] = {}
    for quoting, quoted, text in data.quotes:
        haystack = joined.get(quoted)
        if not haystack:
            continue  # a post outside these sentences: fold nothing
        words = folded_words(text)
        if not words:
            continue
        probes = [" ".join(words)]
        if len(words) > PROBE_WORDS:
            probes += [" ".join(words[:PROBE_WORDS]), " ".join(words[-PROBE_WORDS:])]
        for probe in probes:
            at = haystack.find(probe)
            if at < 0:
                continue
            offsets = starts[quoted]
            low = bisect.bisect_right(offsets, at) - 1
            high = bisect.bisect_left(offsets, at + len(probe))
            for k in range(max(0, low), high):
                quoters.setdefault(first[quoted] + k, set()).add(quoting)
            if probe is probes[0]:
                break  # the whole quote was found
    for i, who in quoters.items():
        out[i] = len(who)
    return out


_TOPS: dict[int, tuple[Mapping[int, PostSignals], float]] = {}


def engagement_top(signals: Mapping[int, PostSignals]) -> float:
    """The most answers and likes of any post given, on the log scale (log1p grows with its
    argument: one log, not one a post). Remembered for the last few signal maps: each
    chapter of a big thread is ranked with the same map."""
    found = _TOPS.get(id(signals))
    if found is not None and found[0] is signals:
        return found[1]
    top = math.log1p(max((len(s.quoted_by) + max(0, s.likes) for s in signals.values()), default=0))
    if len(_TOPS) >= 4:
        _TOPS.clear()
    _TOPS[id(signals)] = (signals, top)
    return top


def _engagement(data: RankInput, posts: np.ndarray) -> np.ndarray:
    """Per sentence, its post's answers and likes on a log scale, 1 for the most engaged."""
    signals = data.signals
    top = engagement_top(signals)
    if not top:
        return np.zeros(len(posts))
    per_post = {
        number: math.log1p(len(s.quoted_by) + max(0, s.likes))
        for number in set(data.posts)
        if (s := signals.get(number)) is not None
    }
    return np.asarray([per_post.get(p, 0.0) / top for p in posts.tolist()])


def pick_order(
    ranked: Ranked,
    posts: Sequence[int],
    costs: Sequence[int],
    budget: int,
    dedupe: Callable[[int], str],
    repeated: list[int] | None = None,
) -> Iterator[tuple[int, float]]:
    """(sentence index, value) of the picks, best first: greedy MMR within the budget.

    The value is the rating less the redundancy and same-post penalties at the moment of the
    pick; penalties only grow and the budget only shrinks, so values never increase. The
    greedy steps look at the best-rated sentences only: enough of them to fill the budget
    four times over, and at least `CANDIDATES`. A text already picked is not picked again
    (the index is appended to `repeated`)."""
    want = CANDIDATES
    while True:
        pool = ranked.best(want)
        room = sum(costs[i] for i in pool)
        if room >= 4 * budget or len(pool) < want:
            break
        want *= 2
    scores = {i: ranked.score(i) for i in pool}
    vectors = {i: ranked.vectors.of(i) for i in pool}
    closest = dict.fromkeys(pool, 0.0)
    per_post: dict[int, int] = {}
    seen: set[str] = set()
    left = budget
    while pool:
        best, best_value = -1, -math.inf
        for i in [i for i in pool if closest[i] >= DUPLICATE]:
            pool.remove(i)  # says what a pick says: a repeat, not a point of its own
            if repeated is not None:
                repeated.append(i)
        for i in pool:
            if costs[i] > left:
                continue
            value = scores[i] - REDUNDANCY * closest[i] - SAME_POST * per_post.get(posts[i], 0)
            if value > best_value:
                best, best_value = i, value
        if best < 0:
            return
        pool.remove(best)
        key = dedupe(best)
        if key in seen:
            if repeated is not None:
                repeated.append(best)
            continue
        seen.add(key)
        left -= costs[best]
        per_post[posts[best]] = per_post.get(posts[best], 0) + 1
        chosen = vectors[best]
        for i in pool:
            other = vectors[i]
            small, big = (other, chosen) if len(other) < len(chosen) else (chosen, other)
            sim = sum(w * big.get(t, 0.0) for t, w in small.items())
            if sim > closest[i]:
                closest[i] = sim
        yield best, float(best_value)
