"""Key points scored for the whole thread at once pick what the per-sentence definition picks."""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict

import numpy as np
import pytest

from bot.core.keypoints import SHORT_SENTENCE_WORDS, TIE_DECIMALS, KeyPointIndex
from bot.core.summary import stemmer_for
from bot.core.text import normalise_word, split_words

STOP = frozenset({"the", "a", "of", "and", "is", "to", "it", "that"})
WORDS = (
    "the a of and is to it that tram trams bus buses depot bridge council money cheap costly "
    "rails lane road shops night shift hospital timetable plan works years"
).split()


def reference(sentences: list[tuple[int, str]], count: int) -> dict[int, list[int]]:
    """The definition, one dict per sentence: TF-IDF over all own sentences, unit vectors,
    each participant's centroid, closeness × min(1, words / 8); first of equal sentences."""
    stem = stemmer_for("english")
    analysed = []
    df: Counter[str] = Counter()
    for _, text in sentences:
        words = [normalise_word(w) for w in split_words(text)]
        terms = Counter(stem(w) for w in words if w not in STOP)
        analysed.append((words, terms))
        df.update(terms.keys())
    idf = {t: math.log((1 + len(sentences)) / (1 + n)) + 1.0 for t, n in df.items()}
    mine: dict[int, list[int]] = defaultdict(list)
    for index, (owner, _) in enumerate(sentences):
        mine[owner].append(index)
    picks = {}
    for owner, indices in mine.items():
        vectors = []
        for i in indices:
            vector = {t: tf * idf[t] for t, tf in analysed[i][1].items()}
            norm = math.sqrt(sum(v * v for v in vector.values()))
            vectors.append({t: v / norm for t, v in vector.items()} if norm else {})
        centroid: dict[str, float] = defaultdict(float)
        for vector in vectors:
            for t, v in vector.items():
                centroid[t] += v / len(vectors)
        scored, seen = [], set()
        for i, vector in zip(indices, vectors, strict=True):
            key = " ".join(analysed[i][0])
            if not vector or key in seen:
                continue
            seen.add(key)
            shortness = min(1.0, len(analysed[i][0]) / SHORT_SENTENCE_WORDS)
            scored.append((sum(v * centroid[t] for t, v in vector.items()) * shortness, i))
        scored.sort(key=lambda item: (-np.round(item[0], TIE_DECIMALS), item[1]))
        picks[owner] = sorted(i for _, i in scored[:count])
    return picks


def random_thread(seed: int, sentences: int, owners: int) -> list[tuple[int, str]]:
    rng = random.Random(seed)
    made = []
    for _ in range(sentences):
        owner = rng.randrange(owners)
        if made and rng.random() < 0.1:  # a word-for-word repeat, maybe by someone else
            made.append((owner, rng.choice(made)[1]))
            continue
        words = [rng.choice(WORDS) for _ in range(rng.randint(1, 14))]
        if rng.random() < 0.05:
            words = ["the", "of"]  # stop words only: no terms at all
        made.append((owner, " ".join(words).capitalize() + "."))
    return made


@pytest.mark.parametrize(("seed", "sentences", "owners", "count"), [
    (1, 40, 3, 3), (2, 300, 12, 3), (3, 300, 300, 1), (4, 500, 5, 10), (5, 60, 2, 0),
])  # fmt: skip
def test_whole_thread_scoring_picks_what_the_definition_picks(seed, sentences, owners, count):
    thread = random_thread(seed, sentences, owners)
    index = KeyPointIndex(STOP, stemmer_for("english"))
    for owner, text in thread:
        index.add(owner, text)
    want = reference(thread, count)
    assert {owner: index.best(owner, count) for owner in want} == want


def test_counts_words_and_skips_what_has_no_terms():
    index = KeyPointIndex(STOP, stemmer_for("english"))
    assert index.add(0, "The tram's depot is on the bridge.") == 7
    assert index.add(0, "The tram's depot is on the bridge.") == 7
    assert index.add(1, "It is the.") == 3
    assert index.add(0, "Money.") == 1
    assert index.best(0, 5) == [0, 3]  # the repeat is not picked twice
    assert index.best(1, 5) == []  # stop words only
    assert index.best(7, 5) == []  # nobody
    assert index.best(0, 0) == []
