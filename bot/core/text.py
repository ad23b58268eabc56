"""Offline sentence and word splitting shared by every analysis.

nupunkt ships its Punkt model inside the wheel, so nothing is downloaded at run time
(NLTK's punkt downloader is unavailable on many servers).
"""

from __future__ import annotations

import re
from functools import lru_cache

import nupunkt

WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'"})


def split_sentences(text: str) -> list[str]:
    """Sentences of one paragraph, stripped, empty ones dropped."""
    text = text.strip()
    if not text:
        return []
    return [s.strip() for s in nupunkt.sent_tokenize(text) if s.strip()]


def split_words(text: str) -> list[str]:
    return WORD_RE.findall(text)


def normalise_word(word: str) -> str:
    return word.translate(_APOSTROPHES).casefold()


def word_spans(text: str) -> list[tuple[str, int, int]]:
    """Normalised words of `text` with their character offsets, for mapping matches back."""
    folded = text.translate(_APOSTROPHES).casefold()
    if len(folded) == len(text):  # one pass over the whole text; offsets still line up
        return [(m.group(), m.start(), m.end()) for m in WORD_RE.finditer(folded)]
    return [(normalise_word(m.group()), m.start(), m.end()) for m in WORD_RE.finditer(text)]


class OfflineTokenizer:
    """The tokenizer object sumy expects (to_sentences / to_words), with no NLTK data."""

    def __init__(self, language: str = "english") -> None:
        self.language = language

    def to_sentences(self, paragraph: str) -> tuple[str, ...]:
        return tuple(split_sentences(paragraph))

    def to_words(self, sentence: str) -> tuple[str, ...]:
        return tuple(split_words(sentence))


@lru_cache(maxsize=1)
def warm_up() -> None:
    """Load the sentence model once (the first call pays for it)."""
    split_sentences("Warm up. Done.")
