"""Offline sentence and word splitting shared by every analysis.

nupunkt ships its Punkt model inside the wheel, so nothing is downloaded at run time
(NLTK's punkt downloader is unavailable on many servers). It is also the slow part of every
analysis: ~1.7 µs a word, 2.1 s of CPU for the 1.2 million words of a 10,000-post thread.

So `split_sentences` decides the plain cases itself and leaves the rest to nupunkt. A mark
inside a paragraph is plain when it is a single "." or a run of "!"/"?" right after a word of
letters, followed by spaces and a letter; or "."/"!"/"?" glued to a following letter or
digit ("3.5", "example.com", never a boundary for Punkt). Punkt always breaks after such a
mark unless the word is one of its listed abbreviations or a single letter; for those
("Dr.", "no.", "just." ...) it decides from the word and the next token alone, so
`_breaks_after` asks nupunkt about exactly that three-part text and remembers the answer.
Any other mark (an ellipsis, quotes or brackets after the mark, a number or "U.S." before
it, a digit after it) sends the whole paragraph to nupunkt.

The output is therefore nupunkt's: tests/core/test_summary.py compares the two on the seed
thread, the example thread, a synthetic thread and hypothesis-made paragraphs full of
abbreviations and odd marks. Measured (CPU): 0.54 s instead of 2.1 s on the synthetic
10,000-post thread (every paragraph plain); on the seed thread 85 % of paragraphs are plain,
on the forum fixtures 93 %.
"""

from __future__ import annotations

import re
from functools import lru_cache

import nupunkt

WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'"})

_MARKS_RE = re.compile(r"[.!?…]+")
_WORD_OF_LETTERS_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
"""A word of letters with inner apostrophes: never a number, an initial with a dot inside,
or a dotted abbreviation."""


@lru_cache(maxsize=1)
def _abbreviations() -> frozenset[str]:
    """nupunkt's abbreviation types (lowercase, without the final period)."""
    return frozenset(nupunkt.load("default").abbreviations)


@lru_cache(maxsize=65_536)
def _breaks_after(word: str, spaces: str, next_token: str) -> bool:
    """nupunkt's own decision for "word. Next" when `word` is a listed abbreviation or a
    single letter. Punkt decides from this context alone (the marked word and the next
    token), so the three-part text gets the answer it would get inside any paragraph."""
    return len(nupunkt.sent_tokenize(f"{word}.{spaces}{next_token}")) > 1


def _is_letters(word: str) -> bool:
    return word.isalpha() or _WORD_OF_LETTERS_RE.fullmatch(word) is not None


_NO_BREAK = -1


def _break_at(text: str, mark: int, end: int) -> int | None:
    """Where the next sentence starts if the marks text[mark:end] (followed by spaces) end
    one; _NO_BREAK when nupunkt keeps the sentence going; None when this is no plain case."""
    size = len(text)
    nxt = end
    while nxt < size and text[nxt] == " ":
        nxt += 1
    if nxt == end or nxt >= size or not text[nxt].isalpha():
        return None
    word = text[text.rfind(" ", 0, mark) + 1 : mark]
    if not _is_letters(word):
        return None
    run = text[mark:end]
    if run == ".":
        if len(word) < 2 or word.lower() in _abbreviations():
            stop = text.find(" ", nxt)
            token = text[nxt : stop if stop >= 0 else size]
            if not _breaks_after(word, text[end:nxt], token):
                return _NO_BREAK
    elif run.strip("!?"):
        return None  # "...", "…", "?." and other mixed runs
    return nxt


def _plain_breaks(text: str) -> list[int] | None:
    """Offsets where the sentences of a stripped paragraph start (after the first), or None
    when some sentence-ending mark is not a plain case and nupunkt must read it all."""
    if text.isascii():
        return _ascii_breaks(text)
    marks = text.count(".") + text.count("!") + text.count("?")
    if not marks and "…" not in text:
        return []
    spaced = text
    if "! " in text or "? " in text:
        spaced = text.replace("! ", ". ").replace("? ", ". ")
    if "…" in text or spaced.count(". ") + (text[-1] in ".!?") != marks:
        return _careful_breaks(text)  # runs ("!!", "..."), or marks inside tokens ("3.5")
    breaks: list[int] = []
    mark = spaced.find(". ")
    while mark >= 0:
        at = _break_at(text, mark, mark + 1)
        if at is None:
            return None
        if at != _NO_BREAK:
            breaks.append(at)
        mark = spaced.find(". ", mark + 2)
    return breaks


def _ascii_breaks(text: str) -> list[int] | None:
    """`_plain_breaks` for ASCII text, with `_break_at`'s steps inline (one Python call per
    paragraph instead of one per mark: ~2.5 times faster on 600,000 sentences)."""
    marks = text.count(".") + text.count("!") + text.count("?")
    if not marks:
        return []
    spaced = text
    if "! " in text or "? " in text:
        spaced = text.replace("! ", ". ").replace("? ", ". ")
    if spaced.count(". ") + (text[-1] in ".!?") != marks:
        return _careful_breaks(text)  # runs ("!!", "..."), or marks inside tokens ("3.5")
    breaks: list[int] = []
    abbreviations = _abbreviations()
    mark = spaced.find(". ")
    while mark >= 0:
        nxt = mark + 2  # the text is stripped: something follows the spaces
        while text[nxt] == " ":
            nxt += 1
        if not text[nxt].isalpha():
            return None
        start = text.rfind(" ", 0, mark) + 1
        word = text[start:mark]
        if not word.isalpha() and _WORD_OF_LETTERS_RE.fullmatch(word) is None:
            return None
        if text[mark] == "." and (mark - start < 2 or word.lower() in abbreviations):
            stop = text.find(" ", nxt)
            token = text[nxt : stop if stop >= 0 else len(text)]
            if not _breaks_after(word, text[mark + 1 : nxt], token):
                mark = spaced.find(". ", mark + 2)
                continue
        breaks.append(nxt)
        mark = spaced.find(". ", mark + 2)
    return breaks


def _careful_breaks(text: str) -> list[int] | None:
    """`_plain_breaks` for paragraphs with runs of marks or marks inside tokens."""
    breaks: list[int] = []
    size = len(text)
    for match in _MARKS_RE.finditer(text):
        end = match.end()
        if end == size or text[end].isalnum():
            continue  # the paragraph's last mark, or inside a token: "3.5", "example.com"
        if text[end] != " ":
            return None  # quotes, brackets or other punctuation after the mark
        at = _break_at(text, match.start(), end)
        if at is None:
            return None
        if at != _NO_BREAK:
            breaks.append(at)
    return breaks


def split_sentences(text: str) -> list[str]:
    """Sentences of one paragraph, stripped, empty ones dropped (nupunkt's segmentation)."""
    text = text.strip()
    if not text:
        return []
    breaks = _plain_breaks(text)
    if breaks is None:
        return [s.strip() for s in nupunkt.sent_tokenize(text) if s.strip()]
    if not breaks:
        return [text]
    starts = [0, *breaks]
    ends = [*breaks, len(text)]
    return [text[a:b].strip() for a, b in zip(starts, ends, strict=True)]


def first_sentences(text: str, count: int) -> list[str]:
    """`split_sentences(text)[:count]`, reading no further than the `count`-th break where
    every mark up to it is plain (a reply's agreement is read from its first two sentences:
    a paragraph of six is split a third as far).

    Each plain mark's break is decided from the word before it and the token after it
    alone (module docstring), whatever marks follow: so the breaks found before any mark
    that is not plain are the paragraph's first breaks. ASCII text only; any other mark
    first, or other text, is split whole."""
    text = text.strip()
    if not text or not text.isascii() or count <= 0:
        return split_sentences(text)[:count]
    breaks: list[int] = []
    abbreviations = _abbreviations()
    size = len(text)
    for found in _MARK_RE.finditer(text):
        mark = found.start()
        if mark == size - 1:
            break  # the paragraph's last character: the last sentence ends here
        if text[mark + 1] != " ":
            return split_sentences(text)[:count]  # a run ("!!", "..."), or inside a token
        nxt = mark + 2
        while text[nxt] == " ":  # the text is stripped: something follows the spaces
            nxt += 1
        start = text.rfind(" ", 0, mark) + 1
        word = text[start:mark]
        if not text[nxt].isalpha() or (
            not word.isalpha() and _WORD_OF_LETTERS_RE.fullmatch(word) is None
        ):
            return split_sentences(text)[:count]  # nupunkt reads this mark
        if text[mark] == "." and (mark - start < 2 or word.lower() in abbreviations):
            stop = text.find(" ", nxt)
            token = text[nxt : stop if stop >= 0 else size]
            if not _breaks_after(word, text[mark + 1 : nxt], token):
                continue
        breaks.append(nxt)
        if len(breaks) == count:
            break
    starts = [0, *breaks][:count]
    ends = [*breaks, size][:count]
    return [text[a:b].strip() for a, b in zip(starts, ends, strict=True)]


_MARK_RE = re.compile(r"[.!?]")


def split_words(text: str) -> list[str]:
    return WORD_RE.findall(text)


def straighten(text: str) -> str:
    """Curly apostrophes and backticks as "'" (translate is slow: skip it when none occur)."""
    if "’" in text or "‘" in text or "`" in text:
        return text.translate(_APOSTROPHES)
    return text


def normalise_word(word: str) -> str:
    if "’" in word or "‘" in word or "`" in word:  # inlined _straighten: called per word
        word = word.translate(_APOSTROPHES)
    return word.casefold()


def normalised_words(text: str) -> list[str]:
    """`normalise_word` of each of `split_words(text)`, in one regex pass over the folded
    text where folding keeps every character in place (almost always: "İ" and a few others
    grow, and then each word is folded alone, as before)."""
    folded = straighten(text).casefold()
    if len(folded) == len(text):
        return WORD_RE.findall(folded)
    return [normalise_word(w) for w in WORD_RE.findall(text)]


def word_spans(text: str) -> list[tuple[str, int, int]]:
    """Normalised words of `text` with their character offsets, for mapping matches back."""
    folded = straighten(text).casefold()
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
    """Load the sentence model and its abbreviations once (the first call pays for it)."""
    _abbreviations()
    nupunkt.sent_tokenize("Warm up. Done.")


WRAP_MAX_WIDTH = 100
"""Text whose lines are mostly longer than this was not hard-wrapped (forum posts keep one
paragraph a line); e-mail and mailing-list copies wrap at 72–80 characters."""
WRAP_MIN_WIDTH = 40
_WRAP_FILL = 0.6
"""A line at least this share of the text's wrap width was probably broken by the wrap."""
_HEADER_LINE_RE = re.compile(r"^\s*[A-Za-z][\w-]{1,20}:(?!//)")
"""'Subject: …', 'cc: …', 'Note: …': a line that starts something new."""
_LIST_ITEM_RE = re.compile(r"^\s*(?:[-*•>|+]|\d{1,3}[.)]\s|[a-zA-Z][.)]\s)")


def wrap_width(lines: list[str]) -> int | None:
    """The width a text's lines were hard-wrapped at, or None when they were not wrapped.

    The width is the 80th percentile of the non-empty lines' lengths: a hard-wrapped text
    has most lines close to it, with the short last line of each paragraph below."""
    lengths = sorted(len(line.strip()) for line in lines if line.strip())
    if len(lengths) < 3:
        return None
    width = lengths[min(len(lengths) - 1, (len(lengths) * 4) // 5)]
    if not WRAP_MIN_WIDTH <= width <= WRAP_MAX_WIDTH:
        return None
    return width


def unwrap_lines(lines: list[str], width: int | None) -> list[tuple[int, int]]:
    """Runs [start, end) of lines that form one hard-wrapped paragraph.

    A line continues into the next when it fills most of the wrap width (the wrap broke it)
    and the next line is not a list item. Joining two lines that were separate sentences
    anyway costs nothing: the sentence splitter still breaks after the full stop. Without a
    width (not a wrapped text) every line is its own paragraph."""
    runs: list[tuple[int, int]] = []
    start = 0
    for index in range(len(lines)):
        last = index == len(lines) - 1
        if last or width is None or not _continues(lines[index], lines[index + 1], width):
            runs.append((start, index + 1))
            start = index + 1
    return runs


def _continues(line: str, following: str, width: int) -> bool:
    text = line.strip()
    if len(text) < _WRAP_FILL * width or not following.strip() or text.endswith(":"):
        return False  # a colon ends a line that opens a list, a quote or an example
    return _LIST_ITEM_RE.match(following) is None and _HEADER_LINE_RE.match(following) is None
