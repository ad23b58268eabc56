"""Words and hashed word shingles for quote inference, and what is known of earlier posts.

`ShingleIndex` maps each shingle (SHINGLE consecutive words) of the posts' OWN words to the
posts that wrote it. `PostTexts` keeps every earlier post's whole word stream (own and
quoted words, in order), which paragraphs of it are quotes, and who quoted it: what the
inference needs to follow a quote past the own words that found it.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import compress

from bot.core.text import WORD_RE, word_spans

SHINGLE = 4
"""Words per shingle: long enough that "I think so too" style phrases rarely collide."""
STOP_SHINGLE_POSTS = 64
"""Shingles already seen in this many posts are too common to point at a source."""
SHORT_LINE_WORDS = 3
"""Own lines this short are kept whole in a phrase table (they have too few shingles)."""
SHORT_LINE_POSTS = 4
"""A short line written by this many posts is a common phrase, not something to quote."""
MAX_QUOTERS = 16
"""Later posts remembered per post as having quoted it (the nearest are kept)."""


class ShingleIndex:
    """Hashed word shingles of own words → the posts that wrote them (in thread order).

    Most shingles of a thread are written once, so the first post is kept in a plain
    dict and only the later ones in lists: a 33,000-post thread has ~4 million shingles,
    and a list per shingle was most of the index's memory and time. Set operations in C
    find which keys are new (or known) without a Python-level step per shingle.
    """

    def __init__(self) -> None:
        self._first: dict[int, int] = {}
        self._more: dict[int, list[int]] = {}

    def add(self, words: Sequence[str], post: int, keys: list[int] | None = None) -> None:
        """Index `words` as post `post`'s own; `keys` are their shingle keys if known."""
        keys = shingle_keys(words) if keys is None else keys
        first, more = self._first, self._more
        known = first.keys() & keys
        if not known:
            first.update(dict.fromkeys(keys, post))
        else:
            first.update({key: post for key in keys if key not in known})
        for key in known:
            later = more.get(key)
            last = later[-1] if later else first[key]
            if last == post:
                continue
            if later is None:
                more[key] = [post]
            elif len(later) < STOP_SHINGLE_POSTS:
                later.append(post)

    def known(self, keys: Sequence[int]) -> set[int]:
        """The keys some earlier post wrote (whether common or not)."""
        return self._first.keys() & keys

    def starts(self, keys: Sequence[int]) -> dict[int, list[int]]:
        """For each earlier post sharing shingles with `keys`, where those shingles start
        (ascending): the words [i, i + SHINGLE) at each start repeat that post's own words."""
        first, more = self._first, self._more
        known = first.keys() & keys
        if not known:  # most paragraphs: nothing here was written before
            return {}
        shared = known & more.keys()  # written by more than one post: the rare case
        found: dict[int, list[int]] = {}
        for i in compress(range(len(keys)), map(known.__contains__, keys)):
            key = keys[i]
            if key in shared:
                later = more[key]
                if len(later) >= STOP_SHINGLE_POSTS:
                    continue
                posts: Sequence[int] = (first[key], *later)
            else:
                posts = (first[key],)
            for post in posts:
                at = found.get(post)
                if at is None:
                    found[post] = [i]
                else:
                    at.append(i)
        return found

    def lookup(self, key: int) -> list[int]:
        """The posts that wrote `key`, or none when too many did to point at a source."""
        first = self._first.get(key)
        if first is None:
            return []
        later = self._more.get(key)
        if later is None:
            return [first]
        if len(later) >= STOP_SHINGLE_POSTS:
            return []
        return [first, *later]


WORDS_CACHE = 2_048
"""Posts whose word lists are kept ready (the rest are split again from their text)."""


class WordStreams:
    """post → its word stream, kept as ONE string of space-separated words and split again
    when asked for (the most recently used `WORDS_CACHE` lists are kept).

    Quote inference must be able to look back at any earlier post, but a list of word
    strings costs ~60 bytes a word: 700 MB for the 12 million words of a 100,000-post
    thread, against 80 MB as text. Words never hold white space (they are runs of letters
    and digits, or URLs), so splitting gives back exactly the words stored."""

    __slots__ = ("_lists", "_texts")

    def __init__(self) -> None:
        self._texts: dict[int, str] = {}
        self._lists: OrderedDict[int, list[str]] = OrderedDict()

    def __setitem__(self, post: int, words: list[str]) -> None:
        self._texts[post] = " ".join(words)
        self._remember(post, words)

    def __getitem__(self, post: int) -> list[str]:
        words = self._lists.get(post)
        if words is not None:
            self._lists.move_to_end(post)
            return words
        words = self._texts[post].split()
        self._remember(post, words)
        return words

    def __contains__(self, post: object) -> bool:
        return post in self._texts

    def get(self, post: int, default: Sequence[str] = ()) -> Sequence[str]:
        return self[post] if post in self._texts else default

    def text(self, post: int) -> str:
        """The post's words joined by single spaces ("" for an unknown post)."""
        return self._texts.get(post, "")

    def _remember(self, post: int, words: list[str]) -> None:
        lists = self._lists
        if len(lists) >= WORDS_CACHE:
            lists.popitem(last=False)  # O(1), where deleting a dict's first key is not
        lists[post] = words


@dataclass(slots=True)
class PostTexts:
    """Every analysed post's words as one stream (paragraphs in order, quotes included).

    `quoted[post]` marks the quoted words of the paragraphs that are mostly quotes (absent
    when the post has none): a later quote of those words belongs to the post they were
    quoted from, not to this one. A quote inside a paragraph of the poster's own words is
    not marked: copying that whole paragraph quotes this post. `own_paragraphs[post]` are
    the (start, end) word ranges of the paragraphs that are not wholly quotes.
    """

    words: WordStreams = field(default_factory=WordStreams)
    quoted: dict[int, bytearray] = field(default_factory=dict)
    own_paragraphs: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    paragraph_starts: dict[int, list[int]] = field(default_factory=dict)
    quoters: dict[int, list[int]] = field(default_factory=dict)
    short_lines: dict[tuple[str, ...], list[int]] = field(default_factory=dict)

    def add(
        self,
        post: int,
        paragraphs: Sequence[Sequence[str]],
        quoted: Sequence[bytes | None],
        sources: Sequence[int],
    ) -> None:
        """Keep post `post`: its paragraphs' words, which of their words are quoted (None:
        none), and the earlier posts it quotes (it becomes one of their quoters)."""
        words: list[str] = []
        bounds: list[tuple[int, int]] = []
        starts: list[int] = []
        mask: bytearray | None = None
        for para, marks in zip(paragraphs, quoted, strict=True):
            start = len(words)
            starts.append(start)
            words.extend(para)
            if marks is not None:
                if mask is None:
                    mask = bytearray(start)
                mask.extend(marks)
            elif mask is not None:
                mask.extend(bytes(len(para)))
            if marks is None or not all(marks):
                bounds.append((start, len(words)))
            if marks is None and 0 < len(para) <= SHORT_LINE_WORDS:
                holders = self.short_lines.setdefault(tuple(para), [])
                if len(holders) < SHORT_LINE_POSTS and (not holders or holders[-1] != post):
                    holders.append(post)
        self.words[post] = words
        self.own_paragraphs[post] = bounds
        self.paragraph_starts[post] = starts
        if mask is not None:
            self.quoted[post] = mask
        for source in sources:
            later = self.quoters.setdefault(source, [])
            if not later or later[-1] != post:
                later.append(post)
                if len(later) > MAX_QUOTERS:
                    del later[0]

    def joined(self, post: int) -> str:
        """The post's words as " w1 w2 … ": a word run is found with str.find."""
        return f" {self.words.text(post)} "

    def find(self, part: Sequence[str], post: int) -> int:
        """Where `part` starts in the post's word stream, word for word; -1 if nowhere."""
        if not part:
            return -1
        text = self.joined(post)
        at = text.find(f" {' '.join(part)} ")
        if at < 0:
            return -1
        return text.count(" ", 0, at)

    def is_quoted(self, post: int, index: int) -> bool:
        mask = self.quoted.get(post)
        return mask is not None and bool(mask[index])


_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)


def _may_hold_url(text: str) -> bool:
    return "://" in text or "www." in text or "WWW." in text


def quote_tokens(text: str) -> list[tuple[str, int, int]]:
    """Words with offsets, but a URL is ONE token: two links to different videos on one
    site share many URL "words" and must not look like a quote of each other."""
    if not _may_hold_url(text):
        return word_spans(text)
    tokens: list[tuple[str, int, int]] = []
    cursor = 0
    for m in _URL_RE.finditer(text):
        before = word_spans(text[cursor : m.start()])
        tokens.extend((w, a + cursor, b + cursor) for w, a, b in before)
        tokens.append((_url_token(m.group()), m.start(), m.end()))
        cursor = m.end()
    tokens.extend((w, a + cursor, b + cursor) for w, a, b in word_spans(text[cursor:]))
    return tokens


def quote_words(text: str) -> list[str]:
    """The words of quote_tokens without offsets: the hot path (most text has no quote)."""
    if not _may_hold_url(text):
        return normalised_words(text)
    words: list[str] = []
    cursor = 0
    for m in _URL_RE.finditer(text):
        words.extend(normalised_words(text[cursor : m.start()]))
        words.append(_url_token(m.group()))
        cursor = m.end()
    words.extend(normalised_words(text[cursor:]))
    return words


_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'"})


def normalised_words(text: str) -> list[str]:
    """Exactly the words of text.word_spans, without building offset tuples."""
    if "’" in text or "‘" in text or "`" in text:  # translate is slow: only when needed
        text = text.translate(_APOSTROPHES)
    folded = text.casefold()
    if len(folded) == len(text):
        return WORD_RE.findall(folded)
    return [w for w, _, _ in word_spans(text)]


def _url_token(url: str) -> str:
    return url.casefold().rstrip(".,;:!?)]}'\"")


def shingle_keys(words: Sequence[str]) -> list[int]:
    # zip of shifted views: no slice per position (this is the hottest loop of an ingest)
    shifted = [words[i:] for i in range(SHINGLE)]
    return [hash(t) for t in zip(*shifted, strict=False)]
