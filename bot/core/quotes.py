"""Quote inference: which words of each post are its own and which repeat an earlier post.

Plain-text copies of forums lose the quote markup, so a quote is simply an earlier post's
words repeated. Every post's OWN words are indexed as hashed word shingles (bot.core.shingles).
A post's paragraphs are read as one stream of words, so a quote block of several lines is
found as one run even where some of its lines are a word or two long ("Hi", "*THUD*"); each
run is then cut back into the paragraphs it covers.

Which post a run is credited to:
- the shingles find the posts whose own words it repeats; each match is followed word by word
  through that post's whole text (own words and what it quoted), and through the later posts
  that quoted it, so the post whose text holds the longest stretch of the run wins;
- a stretch that the candidate itself quoted as a whole paragraph is trimmed off its ends: a
  quote of a quote goes to the post whose own words they are;
- on equal length the post this one replies to wins, then the earliest post.

Short quotes ("Poor Homu...", "Is a dildo a penis?") have too few words to tell from a common
phrase by themselves, so a short line is a quote only when it is word for word a line (or, with
two distinctive words, a stretch) of a post this one answers: its reply parent, a post it quotes
elsewhere, or a post just before it; and when it is followed by words of the poster's own.
Cost stays linear in the number of words: one dictionary look-up per shingle, no pairwise compare.

Explicit quotes from markup (readers set Block.is_quote) are kept as given; their source
post is resolved by source id, else by matching their text against the quoted author's
posts, else left unknown.
"""

from __future__ import annotations

import gc
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from itertools import compress

from bot.core.models import (
    AnalysedPost,
    AnalysedThread,
    Block,
    PostDoc,
    QuoteEdge,
    ReplyEdge,
    Segment,
    ThreadDoc,
)
from bot.core.shingles import (
    SHINGLE,
    SHORT_LINE_POSTS,
    SHORT_LINE_WORDS,
    STOP_SHINGLE_POSTS,
    Ids,
    PostTexts,
    ShingleIndex,
    ThreadWords,
    quote_tokens,
    quote_words,
)

__all__ = [
    "SHINGLE",
    "STOP_SHINGLE_POSTS",
    "ShingleIndex",
    "edges_from_posts",
    "infer_quotes",
    "quote_tokens",
    "quote_words",
    "replies_from_posts",
]

MIN_QUOTE_WORDS = 6
"""A quote run shorter than this is never a quote (short common phrases)."""
MIN_PARTIAL_WORDS = 10
"""A run that covers only part of a paragraph must be at least this long to be cut out."""
WHOLE_SHARE = 0.6
"""A run covering this share of a paragraph's words makes the run a quote even if short."""
MAX_GAP = 5
"""Uncovered words tolerated inside a run: small edits between quote and original (one
changed word breaks the SHINGLE shingles around it; two close edits leave a wider gap)."""
MAX_ELIDED = 40
"""Words a quote may leave out where it shows an ellipsis ("the council … leaks")."""
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
FUZZY_MIN_WORDS = 8
FUZZY_MAX_WORDS = 60
FUZZY_SHARE = 0.85
"""A short paragraph whose words, in order, are this share of one earlier own paragraph's
(a retyped quote with a typo leaves too few intact shingles) is a quote of it."""
SHORT_QUOTE_MAX_WORDS = 12
"""Lines up to this long that the run floors turned down may still be short quotes."""
NEAR_POSTS = 5
"""A short quote with two distinctive words may come from this many posts back."""
_ELLIPSES = ("...", "…", "[..]")


@dataclass(slots=True)
class _Run:
    """Words [start, end) of the stream that repeat post `source`'s words [src_start, src_end)."""

    source: int
    start: int
    end: int
    src_start: int = -1
    src_end: int = -1

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(slots=True)
class _Stream:
    """Consecutive inferred (not explicitly quoted) paragraphs of one post, as one word list."""

    paragraphs: list[int]  # block indices
    texts: list[str]
    words: list[int]  # vocabulary ids
    bounds: list[tuple[int, int]]  # word range of each paragraph
    content: bytearray  # per vocabulary id: a distinctive word
    base: int  # where words[0] is in the thread's words
    starts: list[int] = field(default_factory=list)
    _tokens: dict[int, list[tuple[str, int, int]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.starts = [a for a, _ in self.bounds]

    def paragraph_at(self, position: int) -> int:
        """Index (into this stream's paragraphs) of the paragraph holding word `position`."""
        return bisect_right(self.starts, position) - 1

    def tokens(self, k: int) -> list[tuple[str, int, int]]:
        found = self._tokens.get(k)
        if found is None:
            found = self._tokens[k] = quote_tokens(self.texts[k])
        return found

    def whole_paragraph_within(self, start: int, end: int) -> bool:
        """Whether some non-empty paragraph lies entirely inside words [start, end)."""
        k = max(0, self.paragraph_at(start))
        while k < len(self.bounds) and self.bounds[k][0] < end:
            a, b = self.bounds[k]
            if a >= start and b <= end and b > a:
                return True
            k += 1
        return False

    def elided_before(self, position: int) -> bool:
        """Whether the text shows an ellipsis right before word `position` (same paragraph)."""
        k = self.paragraph_at(position)
        a, _ = self.bounds[k]
        if position <= a:
            return False
        tokens = self.tokens(k)
        between = self.texts[k][tokens[position - a - 1][2] : tokens[position - a][1]]
        return any(mark in between for mark in _ELLIPSES)


@dataclass(slots=True)
class _Context:
    """What inference knows while it reads post `number`."""

    index: ShingleIndex
    texts: PostTexts
    words: ThreadWords
    authors: dict[int, str | None]
    posts: Sequence[PostDoc] = ()
    number: int = 0
    reply_to: int | None = None


def infer_quotes(doc: ThreadDoc) -> AnalysedThread:
    """Split every post into own and quoted segments and derive the quote and reply edges."""
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
    words = ThreadWords(doc.posts)
    words.mark_content(_is_content)
    ctx = _Context(ShingleIndex(words.groups), PostTexts(words), words, {}, doc.posts)
    by_source_id: dict[str, int] = {}
    posts: list[AnalysedPost] = []
    for number, post in enumerate(doc.posts, start=1):
        reply_to = by_source_id.get(post.reply_to_source_id) if post.reply_to_source_id else None
        ctx.number, ctx.reply_to = number, reply_to
        segments = _infer_post(post, ctx, by_source_id)
        if post.source_id:
            by_source_id.setdefault(post.source_id, number)
        ctx.authors[number] = post.author
        posts.append(_analysed(number, post, segments, reply_to))
    return AnalysedThread(
        title=doc.title,
        source_kind=doc.source_kind,
        posts=tuple(posts),
        edges=edges_from_posts(posts),
        url=doc.url,
        language=doc.language,
        resume_page=doc.resume_page,
        replies=replies_from_posts(posts),
    )


def edges_from_posts(posts: Sequence[AnalysedPost]) -> tuple[QuoteEdge, ...]:
    """Quote segments per (post, source): who quoted whose own words, and how often.

    Replies are not quotes: they are `replies_from_posts`. storage/repositories.py computes
    the same in SQL from what it stores.
    """
    counts: Counter[tuple[int, int]] = Counter()
    for post in posts:
        for seg in post.segments:
            if seg.kind == "quote" and seg.source_post is not None:
                counts[(post.number, seg.source_post)] += 1
    return tuple(QuoteEdge(a, b, n) for (a, b), n in sorted(counts.items()))


def replies_from_posts(posts: Sequence[AnalysedPost]) -> tuple[ReplyEdge, ...]:
    """Who answered whom, as the source's reply structure says (Reddit parent, Discourse
    reply_to_post_number, Discord and Matrix replies), whether or not the reply quotes."""
    return tuple(
        ReplyEdge(p.number, p.reply_to)
        for p in sorted(posts, key=lambda p: p.number)
        if p.reply_to is not None and p.reply_to != p.number
    )


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
        forum_number=post.forum_number,
    )


# --- one post ------------------------------------------------------------------------------


def _infer_post(post: PostDoc, ctx: _Context, by_source_id: dict[str, int]) -> list[Segment]:
    """The post's segments in paragraph order; then the post joins the index and texts."""
    blocks = post.blocks
    para_bounds = ctx.words.block_bounds(ctx.number)
    para_segments: list[list[Segment]] = [[] for _ in blocks]
    para_marks: list[bytes | None] = [None] * len(blocks)
    own_keys: list[list[int]] = []
    pending: list[int] = []

    def flush() -> None:
        if pending:
            own_keys.extend(
                _infer_stream(pending[:], blocks, para_bounds, para_segments, para_marks, ctx)
            )
            pending.clear()

    for i, block in enumerate(blocks):
        if block.is_quote:
            flush()
            size = para_bounds[i][1] - para_bounds[i][0]
            para_segments[i] = [_explicit_quote(block, i, size, ctx, by_source_id)]
            para_marks[i] = b"\x01" * size
        else:
            pending.append(i)
    flush()

    segments = [s for segs in para_segments for s in segs]
    sources = sorted({s.source_post for s in segments if s.source_post is not None})
    for keys in own_keys:  # after the whole post: a post never quotes itself
        if keys:
            ctx.index.add(keys, ctx.number)
    ctx.texts.add(ctx.number, para_bounds, para_marks, sources)
    return segments


def _infer_stream(
    paragraphs: list[int],
    blocks: Sequence[Block],
    para_bounds: list[tuple[int, int]],
    para_segments: list[list[Segment]],
    para_marks: list[bytes | None],
    ctx: _Context,
) -> list[list[int]]:
    """Segments of consecutive inferred paragraphs; returns the shingle keys of their own
    words (only those that occur more than once in the thread: no other can be quoted)."""
    first = para_bounds[paragraphs[0]][0]
    bounds = [(a - first, b - first) for a, b in (para_bounds[i] for i in paragraphs)]
    thread = ctx.words
    positions, keys = thread.shingles(thread.unit(ctx.number, paragraphs[0]))
    coverage = ctx.index.starts(positions, keys) if keys else {}
    base = thread.post_range(ctx.number)[0] + first
    if not coverage and not _any_short_line(bounds, base, ctx):
        for i in paragraphs:
            para_segments[i] = [Segment("own", blocks[i].text, i)]
        return [keys]

    words = thread.words(base, base + bounds[-1][1])
    stream = _Stream(
        paragraphs, [blocks[i].text for i in paragraphs], words, bounds, thread.content, base
    )
    chosen = _choose(_candidates(stream, coverage, ctx), stream, ctx)
    pieces: list[list[_Run]] = [[] for _ in paragraphs]
    for run in chosen:
        for k, piece in _clip(run, stream):
            pieces[k].append(piece)
    quoted_here = {r.source for r in chosen}
    last = len(paragraphs) - 1
    for k, i in enumerate(paragraphs):
        a, b = bounds[k]
        size = b - a
        if pieces[k] or not (
            (0 < size <= SHORT_QUOTE_MAX_WORDS and k < last)
            or FUZZY_MIN_WORDS <= size <= FUZZY_MAX_WORDS
        ):
            continue
        hits = _paragraph_hits(coverage, a, b) if size > SHORT_LINE_WORDS else {}
        opens = (k == 0 and (i == 0 or blocks[i - 1].is_quote)) or (k > 0 and bool(pieces[k - 1]))
        source = _short_line_source(k, stream, hits, quoted_here, opens, ctx)
        if source is None:
            source = _fuzzy_source(words[a:b], hits, ctx)
        if source is not None:
            pieces[k].append(_Run(source, a, b))

    if not any(pieces):
        for i in paragraphs:
            para_segments[i] = [Segment("own", blocks[i].text, i)]
        return [keys]
    quoted = bytearray(len(words))
    for k, i in enumerate(paragraphs):
        a, b = bounds[k]
        if not pieces[k]:
            para_segments[i] = [Segment("own", blocks[i].text, i)]
            continue
        local = [_Run(r.source, r.start - a, r.end - a) for r in sorted(pieces[k], key=_start)]
        _absorb_edges(local, b - a)
        para_segments[i] = _cut(blocks[i].text, stream, k, local, ctx.authors)
        marked = 0
        for run in local:
            quoted[a + run.start : a + run.end] = b"\x01" * run.length
            marked += run.length
        if 2 * marked > b - a:  # mostly quoted
            para_marks[i] = bytes(quoted[a:b])
    return _own_stretches(positions, keys, quoted)


def _own_stretches(positions: list[int], keys: list[int], quoted: bytearray) -> list[list[int]]:
    """The shingle keys of each maximal run of own words (shingles wholly inside it)."""
    stretches: list[list[int]] = []
    start = 0
    size = len(quoted)
    while start < size:
        end = quoted.find(1, start)
        if end < 0:
            end = size
        if end - start >= SHINGLE:
            lo = bisect_left(positions, start)
            hi = bisect_left(positions, end - SHINGLE + 1, lo)
            stretches.append(keys[lo:hi])
        start = quoted.find(0, end)
        if start < 0:
            break
    return stretches


def _start(run: _Run) -> int:
    return run.start


def _paragraph_hits(coverage: dict[int, list[int]], a: int, b: int) -> dict[int, tuple[int, int]]:
    """Earlier post → (how many of its shingles overlap words [a, b), how many lie inside
    them), where any overlap. A copy of the whole stretch has all b - a - 3 inside."""
    hits: dict[int, tuple[int, int]] = {}
    for source, starts in coverage.items():
        lo = bisect_left(starts, a - SHINGLE + 1)
        hi = bisect_left(starts, b)
        if hi > lo:
            hits[source] = (hi - lo, bisect_left(starts, b - SHINGLE + 1) - bisect_left(starts, a))
    return hits


def _any_short_line(bounds: list[tuple[int, int]], base: int, ctx: _Context) -> bool:
    """Whether a paragraph of the stream (at word `base` of the thread) is a short line
    that an earlier post wrote."""
    table = ctx.texts.short_lines
    ids = ctx.words.ids
    return any(
        0 < b - a <= SHORT_LINE_WORDS and tuple(ids[base + a : base + b]) in table
        for a, b in bounds
    )


def _coverage(positions: list[int], keys: list[int], index: ShingleIndex) -> dict[int, set[int]]:
    """For each earlier post sharing own shingles with the words, the positions covered."""
    return {
        post: {i + d for i in starts for d in range(SHINGLE)}
        for post, starts in index.starts(positions, keys).items()
    }


# --- candidate runs ------------------------------------------------------------------------


def _candidates(stream: _Stream, coverage: dict[int, list[int]], ctx: _Context) -> list[_Run]:
    """Runs of the stream that repeat an earlier post's text, followed as far as they go."""
    texts = ctx.texts
    found: list[_Run] = []
    for source, starts in coverage.items():
        if len(starts) < 2:
            continue  # one shingle is shorter than MIN_QUOTE_WORDS
        source_words = texts.view(source)
        for seed in _seeds(starts, source, stream):
            if seed.length < MIN_QUOTE_WORDS:
                continue
            for part in _aligned(seed, stream, texts, source, source_words):
                exact = part.src_end - part.src_start == part.length
                grown = _follow(part, stream.words, source_words, texts.quoted.get(source))
                if grown is not None:
                    found.append(grown)
                if not exact:
                    continue
                first, last = stream.base + part.start, stream.base + part.end
                for later in texts.quoters.get(source, ()):
                    # a quoter whose own words are nowhere near could only win by words it
                    # quoted whole, which are trimmed off again: skip the look-up
                    if later >= ctx.number or later not in coverage:
                        continue
                    at = texts.find_words(first, last, later)
                    if at < 0:
                        continue
                    via = _Run(later, part.start, part.end, at, at + part.length)
                    grown = _follow(via, stream.words, texts.view(later), texts.quoted.get(later))
                    if grown is not None:
                        found.append(grown)
    return found


def _seeds(starts: list[int], source: int, stream: _Stream) -> list[_Run]:
    """Maximal runs of the words the shingles starting at `starts` cover, bridging gaps of
    up to MAX_GAP words that do not hold a whole paragraph ("Yes." between two quotes of
    one post stays the poster's)."""
    if starts[-1] - starts[0] == len(starts) - 1:  # the usual quote: one unbroken stretch
        return [_Run(source, starts[0], starts[-1] + SHINGLE)]
    runs: list[_Run] = []
    for start in starts:
        if runs and (
            start <= runs[-1].end
            or (
                start - runs[-1].end <= MAX_GAP
                and not stream.whole_paragraph_within(runs[-1].end, start)
            )
        ):
            runs[-1].end = start + SHINGLE
        else:
            runs.append(_Run(source, start, start + SHINGLE))
    return runs


def _aligned(
    run: _Run, stream: _Stream, texts: PostTexts, source: int, source_words: memoryview
) -> list[_Run]:
    """Parts of a run that follow the source in order, with where they lie in it.

    Bridging a gap is right for an edited quote (the source has other words in the same
    place) or where the quote shows an ellipsis, but wrong for two phrases that happen to
    sit a few words apart here and far apart in the source ("it makes it feel" … "than it
    actually is").
    """
    at = texts.find_words(stream.base + run.start, stream.base + run.end, source)
    if at >= 0:  # the usual quote: one block, no alignment
        return [_Run(run.source, run.start, run.end, at, at + run.length)]
    quoted = stream.words[run.start : run.end]
    matcher = SequenceMatcher(None, quoted, source_words.tolist(), autojunk=False)
    parts: list[_Run] = []
    last_a = last_b = -1
    for a, b, size in matcher.get_matching_blocks():
        if not size:
            continue
        quote_gap, source_gap = a - last_a, b - last_b
        start = run.start + a
        if parts and _joins(quote_gap, source_gap, stream, parts[-1].end, start):
            parts[-1].end = start + size
            parts[-1].src_end = b + size
        else:
            parts.append(_Run(run.source, start, start + size, b, b + size))
        last_a, last_b = a + size, b + size
    return parts


def _joins(quote_gap: int, source_gap: int, stream: _Stream, end: int, start: int) -> bool:
    if source_gap < 0 or quote_gap > MAX_GAP or stream.whole_paragraph_within(end, start):
        return False
    if source_gap <= quote_gap + 2:
        return True
    return quote_gap == 0 and source_gap <= MAX_ELIDED and stream.elided_before(start)


def _follow(
    run: _Run, words: Ids, source: Ids | memoryview, quoted: bytearray | None
) -> _Run | None:
    """The run grown word by word while both texts go on alike (into words the source had
    quoted, across paragraphs), then with any whole-paragraph quote of the source cut off
    its ends: those words belong to the post they were quoted from."""
    start, end, s_start, s_end = run.start, run.end, run.src_start, run.src_end
    while start > 0 and s_start > 0 and words[start - 1] == source[s_start - 1]:
        start -= 1
        s_start -= 1
    while end < len(words) and s_end < len(source) and words[end] == source[s_end]:
        end += 1
        s_end += 1
    if quoted is not None:
        while start < end and s_start < s_end and quoted[s_start]:
            start += 1
            s_start += 1
        while end > start and s_end > s_start and quoted[s_end - 1]:
            end -= 1
            s_end -= 1
    if end - start < MIN_QUOTE_WORDS:
        return None
    return _Run(run.source, start, end, s_start, s_end)


# --- choosing among candidates ----------------------------------------------------------------


def _choose(candidates: list[_Run], stream: _Stream, ctx: _Context) -> list[_Run]:
    """Longest runs first; on equal length the post replied to, then the earliest post."""
    runs = [r for c in candidates for r in _acceptable(c, stream)]
    runs.sort(key=lambda r: (-r.length, r.source != ctx.reply_to, r.source, r.start))
    taken = bytearray(len(stream.words))
    chosen: list[_Run] = []
    for run in runs:
        if taken.find(1, run.start, run.end) < 0:
            parts = [run]
        else:
            parts = [r for free in _free_parts(run, taken) for r in _acceptable(free, stream)]
        for part in parts:
            chosen.append(part)
            taken[part.start : part.end] = b"\x01" * part.length
    return chosen


def _free_parts(run: _Run, taken: bytearray) -> Iterator[_Run]:
    start = None
    for pos in range(run.start, run.end + 1):
        free = pos < run.end and not taken[pos]
        if free and start is None:
            start = pos
        elif not free and start is not None:
            yield _Run(run.source, start, pos)
            start = None


def _acceptable(run: _Run, stream: _Stream) -> list[_Run]:
    """The run without partial paragraph pieces too short to cut out, if it still passes
    the floors (length and distinctive words)."""
    start, end = run.start, run.end
    pieces = _clip(run, stream)
    if not pieces:
        return []
    first_k, first = pieces[0]
    if not _piece_ok(first, stream.bounds[first_k]):
        start = first.end
    last_k, last = pieces[-1]
    if not _piece_ok(last, stream.bounds[last_k]):
        end = last.start
    if end - start < MIN_QUOTE_WORDS:
        return []
    if _content_words(stream.words[start:end], stream.content) < MIN_CONTENT_WORDS:
        return []
    return [_Run(run.source, start, end)]


def _piece_ok(piece: _Run, bound: tuple[int, int]) -> bool:
    a, b = bound
    if piece.start == a and piece.end == b:
        return True
    return piece.length >= MIN_PARTIAL_WORDS or piece.length >= WHOLE_SHARE * (b - a)


def _clip(run: _Run, stream: _Stream) -> list[tuple[int, _Run]]:
    """The run cut at paragraph ends: (paragraph index in the stream, piece)."""
    out: list[tuple[int, _Run]] = []
    k = stream.paragraph_at(run.start)
    while k < len(stream.bounds):
        a, b = stream.bounds[k]
        if a >= run.end:
            break
        lo, hi = max(a, run.start), min(b, run.end)
        if hi > lo:
            out.append((k, _Run(run.source, lo, hi)))
        k += 1
    return out


def _is_content(word: str) -> bool:
    return len(word) >= 4 and word not in _FORMULAIC


def _content_words(words: Ids, content: bytearray) -> int:
    """How many distinct distinctive words (`_is_content`, by vocabulary id) `words` hold."""
    return len(set(compress(words, map(content.__getitem__, words))))  # in C, word by word


# --- short lines and retyped quotes ------------------------------------------------------------


def _short_line_source(
    k: int,
    stream: _Stream,
    hits: dict[int, tuple[int, int]],
    quoted_here: set[int],
    opens: bool,
    ctx: _Context,
) -> int | None:
    """The post a short line quotes, if the poster's own words follow it and either
    - it has two distinctive words and is a stretch of a post this one answers (its reply
      parent, a post it quotes elsewhere, one of the NEAR_POSTS before it); a line of up to
      SHORT_LINE_WORDS words must also be a whole line there and open this post or follow
      a quote ("Poor Homu..."), or
    - it opens the post or follows a quote, and is word for word a line of the post just
      before or of one this post answers ("Is that a challenge?").
    A line that many posts wrote, or with no distinctive word at all, is a common phrase."""
    a, b = stream.bounds[k]
    words = stream.words[a:b]
    if not 0 < len(words) <= SHORT_QUOTE_MAX_WORDS or k == len(stream.bounds) - 1:
        return None
    texts = ctx.texts
    holders: dict[int, bool] = {}  # post → the line is a whole line or sentence of it
    if len(words) <= SHORT_LINE_WORDS:
        found = texts.short_lines.get(tuple(words), [])
        if len(found) >= SHORT_LINE_POSTS:
            return None
        holders = dict.fromkeys(found, True)
    else:
        inside = len(words) - SHINGLE + 1
        for source, (_, n) in hits.items():
            if n < inside:
                continue  # its shingles do not cover the whole line
            at = texts.find_words(stream.base + a, stream.base + b, source)
            if at < 0 or texts.is_quoted(source, at):
                continue
            holders[source] = _line_or_sentence(ctx, source, at, len(words))
    if not holders or len(holders) > 2:
        return None  # nobody wrote it, or it is a common phrase
    distinctive = _content_words(words, stream.content)
    if distinctive == 0:
        return None

    def answered(source: int, near: int) -> bool:
        return source == ctx.reply_to or source in quoted_here or source >= ctx.number - near

    ranked = sorted(holders, key=lambda s: (s != ctx.reply_to, s not in quoted_here, -s))
    for source in ranked:
        whole = holders[source]
        if distinctive >= 2 and (len(words) > SHORT_LINE_WORDS or (whole and opens)):
            if answered(source, NEAR_POSTS):
                return source
        elif whole and opens and answered(source, 1):
            return source
    return None


_SENTENCE_ENDS = frozenset(".!?…")


def _line_or_sentence(ctx: _Context, source: int, at: int, size: int) -> bool:
    """Whether words [at, at + size) of the source are one of its lines, or sentences."""
    starts = ctx.texts.paragraph_starts[source]
    j = bisect_right(starts, at) - 1
    end = starts[j + 1] if j + 1 < len(starts) else ctx.texts.size(source)
    if at + size > end:
        return False
    text = ctx.posts[source - 1].blocks[j].text
    tokens = quote_tokens(text)
    if len(tokens) != end - starts[j]:
        return False
    lo, hi = at - starts[j], at - starts[j] + size
    before = text[tokens[lo - 1][2] : tokens[lo][1]] if lo else "."
    after = text[tokens[hi - 1][2] : tokens[hi][1]] if hi < len(tokens) else "."
    return not _SENTENCE_ENDS.isdisjoint(before) and not _SENTENCE_ENDS.isdisjoint(after)


def _fuzzy_source(words: list[int], hits: dict[int, tuple[int, int]], ctx: _Context) -> int | None:
    """The earlier post one of whose own paragraphs this short paragraph retypes, if any."""
    if not hits or not FUZZY_MIN_WORDS <= len(words) <= FUZZY_MAX_WORDS:
        return None
    if _content_words(words, ctx.words.content) < MIN_CONTENT_WORDS:
        return None
    ranked = sorted(((n, s) for s, (n, _) in hits.items()), key=lambda ns: (-ns[0], ns[1]))
    needed = FUZZY_SHARE * len(words)
    for _, source in ranked[:3]:
        source_words = ctx.texts.view(source)
        for start, end in ctx.texts.own_paragraphs[source]:
            # No alignment matches more words than the paragraph has, or than this one has
            # in the paragraph's vocabulary: skip the matcher where those fall short.
            if end - start < needed:
                continue
            paragraph = source_words[start:end].tolist()
            vocabulary = set(paragraph)
            if sum(map(vocabulary.__contains__, words)) < needed:
                continue
            matcher = SequenceMatcher(None, words, paragraph, autojunk=False)
            matched = sum(block.size for block in matcher.get_matching_blocks())
            if matched >= FUZZY_SHARE * len(words):
                return source
    return None


# --- explicit quotes and cutting -----------------------------------------------------------


def _explicit_quote(
    block: Block,
    paragraph: int,
    size: int,
    ctx: _Context,
    by_source_id: dict[str, int],
) -> Segment:
    source: int | None = None
    if block.quoted_source_id is not None:
        source = by_source_id.get(block.quoted_source_id)
    if source is None and not block.quoted_elsewhere:
        wanted = block.quoted_author.casefold() if block.quoted_author else None
        positions, keys = ctx.words.shingles(ctx.words.unit(ctx.number, paragraph))
        coverage = _coverage(positions, keys, ctx.index) if keys else {}
        ranked = sorted(coverage.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        for candidate, covered in ranked:
            author = ctx.authors.get(candidate)
            if wanted is not None and (author is None or author.casefold() != wanted):
                continue
            if len(covered) >= min(MIN_QUOTE_WORDS, size):
                source = candidate
            break
    source_author = ctx.authors.get(source) if source is not None else None
    return Segment(
        kind="quote",
        text=block.text,
        paragraph=paragraph,
        source_post=source,
        source_author=source_author or block.quoted_author,
        explicit=True,
    )


def _absorb_edges(chosen: list[_Run], total: int) -> None:
    """Let a quote swallow a word or two left at the paragraph's edges (typos, cut words)."""
    if chosen[0].start <= ABSORB_WORDS:
        chosen[0].start = 0
    if total - chosen[-1].end <= ABSORB_WORDS:
        chosen[-1].end = total


def _cut(
    text: str,
    stream: _Stream,
    k: int,
    chosen: list[_Run],
    authors: dict[int, str | None],
) -> list[Segment]:
    """Paragraph `k` of the stream (`text`) as own and quoted segments. Word offsets in the
    text are read only where a run starts or ends inside it (a whole-paragraph quote, the
    usual case, needs none)."""
    paragraph = stream.paragraphs[k]
    a, b = stream.bounds[k]
    size = b - a
    segments: list[Segment] = []
    cursor = 0
    for run in chosen:
        start = 0 if run.start == 0 else stream.tokens(k)[run.start][1]
        end = len(text) if run.end >= size else stream.tokens(k)[run.end][1]
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
