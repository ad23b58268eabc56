"""Guess a thread's language from sumy's own stop-word lists.

The summariser needs a language for sumy's stemmer and stop words; asking users is a chore
and most threads are English. Counting stop-word hits is crude but needs no model, no
download and only the lists sumy already ships, so the answer is always one sumy supports.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from importlib import resources

from bot.core.text import normalise_word, split_words

DEFAULT_LANGUAGE = "english"
SAMPLE_WORDS = 5000
"""At most this many words are looked at: enough to be sure, cheap on huge threads."""
_WORDS_PER_TEXT = 200
"""Take at most this many words from one text so a few long posts cannot decide alone."""
_MIN_WORDS = 8
_MIN_SHARE = 0.08
"""Below this weighted share of stop words the text is not clearly in any list's language."""
_MARGIN = 1.15
"""The winner must beat the runner-up by this factor, else we say English (the default)."""

# Scripts without spaces between words: our word splitter cannot count their stop words.
_UNSPLITTABLE = frozenset({"chinese", "japanese", "thai"})


@lru_cache(maxsize=1)
def supported_languages() -> tuple[str, ...]:
    """Languages sumy ships stop words for (the ones every analysis here can use)."""
    folder = resources.files("sumy") / "data" / "stopwords"
    names = (
        entry.name.removesuffix(".txt") for entry in folder.iterdir() if entry.name.endswith(".txt")
    )
    return tuple(sorted(names))


def resolve_language(language: str) -> str | None:
    """`language` as sumy names it ("en" → "english"); None when sumy has no stop words for it."""
    if not isinstance(language, str) or not language.strip():
        return None
    from sumy.utils import normalize_language  # sumy is imported only when a language is needed

    try:
        name = normalize_language(language.strip())
    except Exception:  # pycountry raises odd errors for odd input
        name = language.strip().lower()
    return name if name in supported_languages() else None


@lru_cache(maxsize=1)
def _stop_word_index() -> dict[str, tuple[str, ...]]:
    """word → languages whose stop-word list holds it (built once, ~6k words)."""
    from sumy.utils import get_stop_words

    index: dict[str, list[str]] = {}
    for language in supported_languages():
        if language in _UNSPLITTABLE:
            continue
        for word in get_stop_words(language):
            index.setdefault(normalise_word(word), []).append(language)
    return {word: tuple(langs) for word, langs in index.items()}


def _sample(texts: Iterable[str]) -> list[str]:
    words: list[str] = []
    for text in texts:
        if not text:
            continue
        words.extend(normalise_word(w) for w in split_words(text)[:_WORDS_PER_TEXT])
        if len(words) >= SAMPLE_WORDS:
            return words[:SAMPLE_WORDS]
    return words


def language_scores(texts: Iterable[str]) -> dict[str, float]:
    """Weighted stop-word hits per language over a sample of the texts.

    A word found in k lists counts 1/k for each, so words shared by many languages
    ("a", "de", "la") say little and big lists do not win just by being big.
    """
    return _scores(_sample(texts))


def _scores(sample: list[str]) -> dict[str, float]:
    index = _stop_word_index()
    scores: dict[str, float] = {}
    for word in sample:
        langs = index.get(word)
        if not langs:
            continue
        share = 1.0 / len(langs)
        for language in langs:
            scores[language] = scores.get(language, 0.0) + share
    return scores


def detect_language(texts: Iterable[str] | str) -> str:
    """The sumy language name the texts are most likely written in; "english" when unsure.

    Unsure means: too few words, too few stop words, or no clear winner.
    """
    sample = _sample([texts] if isinstance(texts, str) else texts)
    sample_size = len(sample)
    if sample_size < _MIN_WORDS:
        return DEFAULT_LANGUAGE
    scores = _scores(sample)
    if not scores:
        return DEFAULT_LANGUAGE
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    best, best_score = ranked[0]
    if best_score < _MIN_SHARE * sample_size:
        return DEFAULT_LANGUAGE
    if len(ranked) > 1 and best_score < _MARGIN * ranked[1][1]:
        return DEFAULT_LANGUAGE
    return best
