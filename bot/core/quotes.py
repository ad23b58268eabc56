"""Quote inference: which words of each post are its own and which repeat an earlier post.

Plain-text copies of forums lose the quote markup, so a quote is simply an earlier post's
words repeated. We index every post's OWN words as hashed word shingles (runs of
SHINGLE words); each paragraph of a later post looks its shingles up, and runs of words
covered by one earlier post become a quote segment of that post. Because only own words
are indexed, a quote of a quote resolves to the post whose own words they are. Cost is
linear in the number of words: one dictionary look-up per shingle, no pairwise compare.

Explicit quotes from markup (readers set Block.is_quote) are kept as given; their source
post is resolved by source id, else by matching their text against the quoted author's
posts, else left unknown.
"""

from __future__ import annotations

import gc
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from difflib import SequenceMatcher

from bot.core.models import (
    AnalysedPost,
    AnalysedThread,
    Block,
    PostDoc,
    QuoteEdge,
    Segment,
    ThreadDoc,
)
from bot.core.text import WORD_RE, word_spans

SHINGLE = 4
"""Words per shingle: long enough that "I think so too" style phrases rarely collide."""
MIN_QUOTE_WORDS = 6
"""A quote run shorter than this is never a quote (short common phrases)."""
MIN_PARTIAL_WORDS = 10
"""A run that covers only part of a paragraph must be at least this long to be cut out."""
WHOLE_SHARE = 0.6
"""A run covering this share of a paragraph's words makes the run a quote even if short."""
MAX_GAP = 5
"""Uncovered words tolerated inside a run: small edits between quote and original (one
changed word breaks the SHINGLE shingles around it; two close edits leave a wider gap)."""
MIN_CONTENT_WORDS = 3
"""Distinct content words a run needs: "fair enough, I think you are right about" is not a quote."""
_FORMULAIC = frozenset(
    """about above after again against agree agreed all also although always another any
    anyway anything around because been before being below best better between both but
    cannot could course definitely did does doing done each either else enough even ever
    every exactly fair fine first from further good great have having here honestly
    however indeed into just know like little long make many maybe mean might more most
    much must never nothing once only other otherwise ought over perhaps point pretty
    probably quite rather really right said same says seem seems should since some
    something still such sure than thank thanks that their them then there these they
    thing things think this those though through thus true under until very want well
    were what when where whether which while whole will with within without would wrong
    yeah your yours""".split()
)
ABSORB_WORDS = 2
"""Leftover words at a paragraph's edge this short join the quote instead of standing alone."""
STOP_SHINGLE_POSTS = 64
"""Shingles already seen in this many posts are too common to point at a source."""
FUZZY_MIN_WORDS = 8
FUZZY_MAX_WORDS = 60
FUZZY_SHARE = 0.85
"""A short paragraph whose words, in order, are this share of one earlier own paragraph's
(a retyped quote with a typo leaves too few intact shingles) is a quote of it."""


@dataclass(slots=True)
class _Run:
    source: int
    start: int  # word index, inclusive
    end: int  # word index, exclusive

    @property
    def length(self) -> int:
        return self.end - self.start


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
        self.paragraphs: dict[int, list[tuple[str, ...]]] = defaultdict(list)
        self.words: dict[int, list[str]] = defaultdict(list)

    def add(self, words: Sequence[str], post: int, keys: list[int] | None = None) -> None:
        """Index `words` as post `post`'s own; `keys` are their shingle keys if known."""
        self.paragraphs[post].append(tuple(words))
        self.words[post].extend(words)
        keys = _shingle_keys(words) if keys is None else keys
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


def _shingle_keys(words: Sequence[str]) -> list[int]:
    # zip of shifted views: no slice per position (this is the hottest loop of an ingest)
    shifted = [words[i:] for i in range(SHINGLE)]
    return [hash(t) for t in zip(*shifted, strict=False)]


def infer_quotes(doc: ThreadDoc) -> AnalysedThread:
    """Split every post into own and quoted segments and derive the quote edges."""
    with _no_gc_pauses():
        return _infer(doc)


@contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """The index makes millions of small containers: cyclic GC passes over them would
    nearly double the run time on big threads, and nothing here makes cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _infer(doc: ThreadDoc) -> AnalysedThread:
    index = ShingleIndex()
    by_source_id: dict[str, int] = {}
    authors: dict[int, str | None] = {}
    posts: list[AnalysedPost] = []
    own: list[tuple[list[str], list[int] | None]] = []
    for number, post in enumerate(doc.posts, start=1):
        segments: list[Segment] = []
        for paragraph, block in enumerate(post.blocks):
            if block.is_quote:
                segments.append(_explicit_quote(block, paragraph, index, by_source_id, authors))
            else:
                found, words, keys = _infer_paragraph(block.text, paragraph, index, authors)
                segments.extend(found)
                if len(found) == 1 and found[0].kind == "own":  # all own: words known
                    own.append((words, keys))
                else:
                    own.extend((quote_words(s.text), None) for s in found if s.kind == "own")
        for words, keys in own:  # after the whole post: a post never quotes itself
            index.add(words, number, keys)
        own.clear()
        if post.source_id:
            by_source_id.setdefault(post.source_id, number)
        authors[number] = post.author
        reply_to = by_source_id.get(post.reply_to_source_id) if post.reply_to_source_id else None
        posts.append(_analysed(number, post, segments, reply_to))
    return AnalysedThread(
        title=doc.title,
        source_kind=doc.source_kind,
        posts=tuple(posts),
        edges=edges_from_posts(posts),
        url=doc.url,
        language=doc.language,
        resume_page=doc.resume_page,
    )


def edges_from_posts(posts: Sequence[AnalysedPost]) -> tuple[QuoteEdge, ...]:
    """Quote segments per (post, source); a reply that quotes nothing of its parent counts 1.

    storage/repositories.py computes the same in SQL from what it stores.
    """
    counts: Counter[tuple[int, int]] = Counter()
    for post in posts:
        for seg in post.segments:
            if seg.kind == "quote" and seg.source_post is not None:
                counts[(post.number, seg.source_post)] += 1
        if post.reply_to is not None and (post.number, post.reply_to) not in counts:
            counts[(post.number, post.reply_to)] += 1
    return tuple(QuoteEdge(a, b, n) for (a, b), n in sorted(counts.items()))


def _analysed(
    number: int, post: PostDoc, segments: list[Segment], reply_to: int | None
) -> AnalysedPost:
    return AnalysedPost(
        number=number,
        text=post.text,
        segments=tuple(segments),
        author=post.author,
        source_id=post.source_id,
        time=post.time,
        url=post.url,
        author_id=post.author_id,
        reply_to=reply_to if reply_to != number else None,
        deleted=post.deleted,
    )


def _explicit_quote(
    block: Block,
    paragraph: int,
    index: ShingleIndex,
    by_source_id: dict[str, int],
    authors: dict[int, str | None],
) -> Segment:
    source: int | None = None
    if block.quoted_source_id is not None:
        source = by_source_id.get(block.quoted_source_id)
    if source is None and not block.quoted_elsewhere:
        words = quote_words(block.text)
        wanted = block.quoted_author.casefold() if block.quoted_author else None
        coverage = _coverage(words, index)
        ranked = sorted(coverage.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        for candidate, covered in ranked:
            author = authors.get(candidate)
            if wanted is not None and (author is None or author.casefold() != wanted):
                continue
            if len(covered) >= min(MIN_QUOTE_WORDS, len(words)):
                source = candidate
            break
    source_author = authors.get(source) if source is not None else None
    return Segment(
        kind="quote",
        text=block.text,
        paragraph=paragraph,
        source_post=source,
        source_author=source_author or block.quoted_author,
        explicit=True,
    )


def _coverage(
    words: Sequence[str], index: ShingleIndex, keys: list[int] | None = None
) -> dict[int, set[int]]:
    """For each earlier post sharing shingles with `words`, the word positions covered."""
    keys = _shingle_keys(words) if keys is None else keys
    covered: dict[int, set[int]] = defaultdict(set)
    known = index.known(keys)
    if not known:  # most paragraphs: nothing here was written before
        return covered
    for i, key in enumerate(keys):
        if key in known:
            for post in index.lookup(key):
                covered[post].update(range(i, i + SHINGLE))
    return covered


def _runs(positions: set[int], source: int) -> list[_Run]:
    """Maximal runs of covered positions, bridging gaps of up to MAX_GAP words."""
    runs: list[_Run] = []
    for pos in sorted(positions):
        if runs and pos - runs[-1].end <= MAX_GAP:
            runs[-1].end = pos + 1
        else:
            runs.append(_Run(source, pos, pos + 1))
    return runs


def _infer_paragraph(
    text: str, paragraph: int, index: ShingleIndex, authors: dict[int, str | None]
) -> tuple[list[Segment], list[str], list[int] | None]:
    """The paragraph's segments, with its words and shingle keys (the index reuses them
    when the whole paragraph is own words, as most are)."""
    words = quote_words(text)
    total = len(words)
    if total < MIN_QUOTE_WORDS:
        return [Segment("own", text, paragraph)], words, None
    keys = _shingle_keys(words)
    coverage = _coverage(words, index, keys)
    if not coverage:
        return [Segment("own", text, paragraph)], words, keys
    taken = [False] * total
    chosen: list[_Run] = []
    candidates = [
        aligned
        for source, positions in coverage.items()
        for run in _runs(positions, source)
        if run.length >= MIN_QUOTE_WORDS
        for aligned in _aligned(run, words, index.words[source])
        if aligned.length >= MIN_QUOTE_WORDS
    ]
    # Longest runs first; on equal length the earliest post, who said it first, wins.
    for run in sorted(candidates, key=lambda r: (-r.length, r.source, r.start)):
        if any(taken[run.start : run.end]):
            continue
        if run.length < MIN_PARTIAL_WORDS and run.length < WHOLE_SHARE * total:
            continue
        if _content_words(words[run.start : run.end]) < MIN_CONTENT_WORDS:
            continue
        chosen.append(run)
        for i in range(run.start, run.end):
            taken[i] = True
    if not chosen:
        source = _fuzzy_source(words, coverage, index)
        if source is None:
            return [Segment("own", text, paragraph)], words, keys
        chosen = [_Run(source, 0, total)]
    chosen.sort(key=lambda r: r.start)
    _absorb_edges(chosen, total)
    return _cut(text, quote_tokens(text), chosen, paragraph, authors), words, keys


def _aligned(run: _Run, words: Sequence[str], source_words: Sequence[str]) -> list[_Run]:
    """Parts of a run that are contiguous in the source too.

    Bridging a gap is right for an edited quote (the source has other words in the same
    place) but wrong for two phrases that happen to sit a few words apart here and far
    apart in the source ("it makes it feel" … "than it actually is").
    """
    quoted = words[run.start : run.end]
    if _contiguous_in(quoted, source_words):  # the usual quote: one block, no alignment
        return [run]
    matcher = SequenceMatcher(None, quoted, source_words, autojunk=False)
    parts: list[_Run] = []
    last_a = last_b = -1
    for a, b, size in matcher.get_matching_blocks():
        if not size:
            continue
        quote_gap, source_gap = a - last_a, b - last_b
        if parts and quote_gap <= MAX_GAP and 0 <= source_gap <= quote_gap + 2:
            parts[-1].end = run.start + a + size
        else:
            parts.append(_Run(run.source, run.start + a, run.start + a + size))
        last_a, last_b = a + size, b + size
    return parts


def _contiguous_in(part: Sequence[str], whole: Sequence[str]) -> bool:
    """Whether `part` occurs in `whole` word for word (tokens never hold a space)."""
    return f" {' '.join(part)} " in f" {' '.join(whole)} "


def _content_words(words: Sequence[str]) -> int:
    return len({w for w in words if len(w) >= 4 and w not in _FORMULAIC})


def _fuzzy_source(
    words: list[str], coverage: dict[int, set[int]], index: ShingleIndex
) -> int | None:
    """The earlier post one of whose own paragraphs this short paragraph retypes, if any."""
    if not FUZZY_MIN_WORDS <= len(words) <= FUZZY_MAX_WORDS:
        return None
    if _content_words(words) < MIN_CONTENT_WORDS:
        return None
    ranked = sorted(coverage.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:3]
    for source, _ in ranked:
        for own in index.paragraphs[source]:
            matcher = SequenceMatcher(None, words, own, autojunk=False)
            matched = sum(block.size for block in matcher.get_matching_blocks())
            if matched >= FUZZY_SHARE * len(words):
                return source
    return None


def _absorb_edges(chosen: list[_Run], total: int) -> None:
    """Let a quote swallow a word or two left at the paragraph's edges (typos, cut words)."""
    if chosen[0].start <= ABSORB_WORDS:
        chosen[0].start = 0
    if total - chosen[-1].end <= ABSORB_WORDS:
        chosen[-1].end = total


def _cut(
    text: str,
    spans: list[tuple[str, int, int]],
    chosen: list[_Run],
    paragraph: int,
    authors: dict[int, str | None],
) -> list[Segment]:
    segments: list[Segment] = []
    cursor = 0
    for run in chosen:
        start = 0 if run.start == 0 else spans[run.start][1]
        end = len(text) if run.end >= len(spans) else spans[run.end][1]
        own = text[cursor:start].strip()
        if own:
            segments.append(Segment("own", own, paragraph))
        quoted = text[start:end].strip()
        segments.append(
            Segment(
                "quote",
                quoted,
                paragraph,
                source_post=run.source,
                source_author=authors.get(run.source),
            )
        )
        cursor = end
    rest = text[cursor:].strip()
    if rest:
        segments.append(Segment("own", rest, paragraph))
    return segments
