"""Guess a thread's language from sumy's own stop-word lists.

The summariser needs a language for sumy's stemmer and stop words; asking users is a chore
and most threads are English. Counting stop-word hits is crude but needs no model, no
download and only the lists sumy already ships, so the answer is always one sumy supports.

A guess must also be usable: sumy's Polish and Greek stemmers need extra packages
(pystempel, greek_stemmer) that threadwise does not install, and a summary in a language
whose stemmer cannot be built used to end in a traceback. So only *analysable* languages
(stop words and a stemmer that works here) are ever chosen; when the text looks like one
that is not, the choice falls back and says so (`LanguageChoice.note`). Links and e-mail
addresses are left out of the sample ("www" is a Polish stop word in sumy's list), and a
winner needs a few different stop words, not one word repeated by a signature.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
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

_MIN_DISTINCT = 4
"""The winner must have at least this many different stop words in the sample."""
_LINK_RE = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+", re.IGNORECASE)

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


_OPTIONAL_STEMMERS = frozenset({"greek", "polish", "ukrainian"})
"""sumy's stemmers that import a package of their own (sumy.nlp.stemmers.SPECIAL_STEMMERS)."""


@lru_cache(maxsize=64)
def stemmer_problem(language: str) -> str | None:
    """Why sumy cannot stem `language` here ("needs pystempel"), or None when it can.

    sumy builds some stemmers from optional packages and raises ValueError naming the
    package; a language it has no stemmer for at all (LookupError) is stemmed by the
    null stemmer, which works. Only sumy's Greek, Polish and Ukrainian stemmers use optional
    packages (the rest are NLTK's Snowball, which sumy requires, or sumy's own): any other
    language is answered without importing NLTK (~1 s that an ingest need not pay)."""
    if language.strip().lower() not in _OPTIONAL_STEMMERS:
        return None
    from sumy.nlp.stemmers import Stemmer

    try:
        Stemmer(language)("tests")
    except LookupError:
        return None
    except Exception as exc:
        needs = re.search(r"requires ([\w-]+)", str(exc))
        return f"its stemmer needs {needs.group(1)}" if needs else "its stemmer is unavailable"
    return None


def analysable(language: str) -> bool:
    """sumy has stop words and a working stemmer for the language here."""
    return language in supported_languages() and stemmer_problem(language) is None


@dataclass(frozen=True, slots=True)
class LanguageChoice:
    language: str
    note: str | None = None
    """Set when the language is not what the text looked like, and why."""


def _sample(texts: Iterable[str]) -> list[str]:
    words: list[str] = []
    for text in texts:
        if not text:
            continue
        text = _LINK_RE.sub(" ", text)
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
    """The analysable sumy language the texts are most likely written in; "english" when
    unsure (see `choose_language`)."""
    return choose_language(texts).language


def choose_language(texts: Iterable[str] | str) -> LanguageChoice:
    """The language to analyse the texts in, with a note when it is a fall-back.

    Unsure (too few words, too few different stop words, or no clear winner) means English.
    A winner that is not analysable here gives way to the best analysable language that
    would win on its own, else English, and the note names both."""
    sample = _sample([texts] if isinstance(texts, str) else texts)
    if len(sample) < _MIN_WORDS:
        return LanguageChoice(DEFAULT_LANGUAGE)
    scores, distinct = _scores_and_distinct(sample)
    best = _winner(scores, distinct, len(sample))
    if best is None or analysable(best):
        return LanguageChoice(best or DEFAULT_LANGUAGE)
    usable = {lang: score for lang, score in scores.items() if analysable(lang)}
    fallback = _winner(usable, distinct, len(sample)) or DEFAULT_LANGUAGE
    return LanguageChoice(
        fallback,
        f"The text looks {best.title()}, but {stemmer_problem(best)}, which is not installed; "
        f"it was read as {fallback.title()}.",
    )


def unusable_language_note(language: str, used: str) -> str:
    """What to say when a stored or requested language could not be used."""
    return (
        f"{language.title()} could not be used ({stemmer_problem(language) or 'no stop words'}, "
        f"not installed); the summary reads the text as {used.title()}."
    )


def _scores_and_distinct(sample: list[str]) -> tuple[dict[str, float], dict[str, int]]:
    index = _stop_word_index()
    distinct: dict[str, int] = {}
    for word in set(sample):
        for language in index.get(word, ()):
            distinct[language] = distinct.get(language, 0) + 1
    return _scores(sample), distinct


def _winner(scores: dict[str, float], distinct: dict[str, int], size: int) -> str | None:
    if not scores:
        return None
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    best, best_score = ranked[0]
    if best_score < _MIN_SHARE * size or distinct.get(best, 0) < _MIN_DISTINCT:
        return None
    if len(ranked) > 1 and best_score < _MARGIN * ranked[1][1]:
        return None
    return best
