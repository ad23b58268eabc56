"""Summaries by chapters: a thread cut into runs of posts, each summarised on its own.

Two uses:
- the chapter view (`summary --chapters`, `/summary chapters:`, `!tw summary --chapters`):
  "posts 1–2,500: …, 2,501–5,000: …", a few sentences for each run of posts, so a reader
  can see how a long thread went;
- the whole summary of a thread too big to rank in one piece (the default algorithm past
  `THREAD_WHOLE_SENTENCES`): each chapter is ranked alone, and the whole is ranked from the
  chapters' picks (a summary of the summaries). Memory then grows with one chapter, not with
  the thread: a 100,000-post thread took 1.9 GB as one piece.

Where to cut. Chapters hold about the same number of posts (the view) or of sentences (the
whole summary, so that each fits one ranking). Where posts carry times, each cut moves to the
quietest moment near it: the longest pause between two posts within a quarter of a chapter
either side, so a chapter ends where the conversation paused (a night, a week of silence).

The thread-aware ranker's signals (who quotes or answers whom, likes) are worked out once for
the whole selection, so a post quoted from a later chapter still counts as quoted.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from bot.core.models import PostLike
from bot.core.summary import (
    CHAPTERED_ALGORITHMS,
    SENTENCE_CAPS,
    THREAD_WHOLE_SENTENCES,
    CollectedSentences,
    Picks,
    SentenceSource,
    Summary,
    SummaryJob,
    SummaryRequest,
    _cap_message,
    collect_sentences,
    own_chars,
    pick_sentences,
    prepare,
    stop_words_for,
)
from bot.core.text import normalised_words
from bot.core.threadrank import W_ENGAGED, PostSignals
from bot.errors import UserError

CHAPTER_SENTENCES = 2
"""Sentences per chapter in the chapter view when the request gives no length."""
MAX_CHAPTERS = 40
"""Most chapters a view may have: each is a few lines of a chat answer."""
AUTO_CHAPTERS = 10
"""Chapters of the view when none are asked for (fewer for a short thread)."""
MIN_CHAPTER_POSTS = 10
"""A chapter of the view holds at least this many posts when the number is automatic."""
THREAD_WHOLE_CHARS = 12_000_000
"""Past this much own text (about 100,000 sentences) the thread-aware summary does not even
split every sentence: each chapter first picks the posts worth reading sentence by sentence
(`summarise_big`)."""
BIG_CHAPTER_POSTS = 10_000
"""Posts per chapter when a selection is too big to split whole (THREAD_WHOLE_CHARS)."""
CANDIDATE_POSTS = 250
"""Posts of such a chapter (or of a big chapter of the view) ranked sentence by sentence."""
SHORTLIST = 1_500
"""Posts of such a chapter read word by word to choose those `CANDIDATE_POSTS`."""
LENGTH_WEIGHT = 0.5
"""How much a post's length (log of its own characters) counts on the shortlist."""
CLOSE_READ_CHARS = 1_500_000
"""A chapter of the view with more own text than this (some 10,000 sentences) is read
through its `CANDIDATE_POSTS` best posts, like a chapter of a big whole summary."""
WHOLE_CHAPTER_SENTENCES = THREAD_WHOLE_SENTENCES // 2
"""Sentences per chapter when a whole summary goes by chapters: half the one-piece limit,
so a chapter of uneven density still fits."""


@dataclass(frozen=True, slots=True)
class Chapter:
    first_post: int
    last_post: int
    posts: int
    """Posts of the selection in it."""
    start: str | None
    """ISO time of its first post with a time, when the source gives times."""
    end: str | None
    summary: Summary


@dataclass(frozen=True, slots=True)
class ChapterSummary:
    chapters: tuple[Chapter, ...]
    algorithm: str
    language: str
    considered_sentences: int
    considered_posts: int
    note: str | None = None
    explain: bool = False


# --- where to cut --------------------------------------------------------------------------


def plan_chapters(
    posts: Sequence[PostLike], count: int, weights: Sequence[int] | None = None
) -> list[tuple[int, int]]:
    """`count` runs of `posts` as (start, end) index pairs, end exclusive: equal in posts,
    or in `weights` (e.g. sentences per post) when given, each cut moved to the longest
    pause between posts within a quarter of a chapter either side where posts have times.
    Never an empty run; fewer runs than `count` only when there are fewer posts."""
    n = len(posts)
    count = max(1, min(count, n))
    if count == 1:
        return [(0, n)]
    sizes = [max(0, w) for w in weights] if weights is not None else [1] * n
    total = sum(sizes) or n
    running: list[int] = []
    acc = 0
    for size in sizes:
        acc += size
        running.append(acc)
    times = [_time_of(p) for p in posts]
    cuts: list[int] = []
    for k in range(1, count):
        ideal = bisect.bisect_left(running, total * k / count) + 1  # first post of chapter k+1
        ideal = min(max(ideal, 1), n - 1)
        cuts.append(_quiet_cut(times, ideal, max(1, n // count // 4)))
    bounds = [0]
    for cut in sorted(set(cuts)):
        if bounds[-1] < cut < n:
            bounds.append(cut)
    bounds.append(n)
    return list(itertools.pairwise(bounds))


def _time_of(post: PostLike) -> datetime | None:
    value = getattr(post, "time", None)
    return value if isinstance(value, datetime) else None


def _quiet_cut(times: Sequence[datetime | None], ideal: int, reach: int) -> int:
    """The cut (index of a chapter's first post) with the longest pause before it, within
    `reach` posts of `ideal`; `ideal` itself when times are missing there."""
    best, best_gap = ideal, -1.0
    for cut in range(max(1, ideal - reach), min(len(times) - 1, ideal + reach) + 1):
        before, after = times[cut - 1], times[cut]
        if before is None or after is None:
            continue
        try:
            gap = (after - before).total_seconds()
        except TypeError:  # one aware, one naive: not comparable
            continue
        if gap > best_gap or (gap == best_gap and abs(cut - ideal) < abs(best - ideal)):
            best, best_gap = cut, gap
    return best


def chapter_sentences(
    collected: CollectedSentences, first_post: int, last_post: int
) -> CollectedSentences:
    """The sentences of posts first_post..last_post (sources are in thread order)."""
    numbers = [s.post for s in collected.sources]
    a = bisect.bisect_left(numbers, first_post)
    b = bisect.bisect_right(numbers, last_post)
    sources = collected.sources[a:b]
    return CollectedSentences(sources, collected.groups[a:b], len({s.post for s in sources}))


def _sentence_weights(posts: Sequence[PostLike], collected: CollectedSentences) -> list[int]:
    per_post: dict[int, int] = {}
    for source in collected.sources:
        per_post[source.post] = per_post.get(source.post, 0) + 1
    return [per_post.get(p.number, 0) for p in posts]


# --- the whole summary of a big selection ------------------------------------------------------


def summarise_by_chapters(
    job: SummaryJob,
    collected: CollectedSentences,
    *,
    signals: Mapping[int, PostSignals] | None = None,
    quotes: Sequence[tuple[int, int, str]] | None = None,
) -> Picks:
    """Picks for the whole of `collected` made from its chapters' picks: each chapter (about
    `WHOLE_CHAPTER_SENTENCES` sentences) is ranked alone with the job's budget, and the
    chapters' picks are ranked together with the same budget."""
    signals = job.signals if signals is None else signals
    quotes = job.quotes if quotes is None else quotes
    numbers = {s.post for s in collected.sources}
    posts = [p for p in job.posts if p.number in numbers]
    count = math.ceil(len(collected.sources) / WHOLE_CHAPTER_SENTENCES)
    spans = plan_chapters(posts, count, _sentence_weights(posts, collected))
    candidates = []
    groups = []
    for start, end in spans:
        part = chapter_sentences(collected, posts[start].number, posts[end - 1].number)
        if not part.sources:
            continue
        if len(part.sources) > SENTENCE_CAPS[job.algorithm]:  # very uneven: cut it again
            picks = summarise_by_chapters(job, part, signals=signals, quotes=quotes)
        else:
            picks = pick_sentences(job, part, signals=signals, quotes=quotes)
        for index, _score, _rank in sorted(picks.picked):
            candidates.append(picks.sources[index])
            groups.append(len(groups))
    merged = CollectedSentences(tuple(candidates), tuple(groups), len({c.post for c in candidates}))
    if not candidates:
        return Picks(merged.sources, [], ["Nothing to pick."], job.algorithm)
    final = pick_sentences(job, merged, signals=signals, quotes=quotes)
    note = (
        f"Summarised by chapters: {len(spans)} chapters of about "
        f"{len(posts) // len(spans):,} posts, each ranked alone, then the whole ranked from "
        f"their {len(candidates):,} picks (summary --chapters shows them)."
    )
    return Picks(final.sources, final.picked, [note, *final.notes], final.used)


# --- a summary of any size -----------------------------------------------------------------------


def summarise_any(
    posts: Sequence[PostLike],
    request: SummaryRequest | None = None,
    language: str | None = None,
    title: str = "",
) -> Summary:
    """bot.core.summary.summarise at any size, which every command uses: with the default
    algorithm, a selection past THREAD_WHOLE_CHARS of own text is summarised through each
    chapter's best posts (`summarise_big`), and one past its cap in sentences by whole
    chapters (`summarise_by_chapters`); sumy's algorithms answer in one piece or say what
    to narrow."""
    request = request or SummaryRequest()
    job = prepare(posts, request, language, title, collect=False)
    if job.algorithm in CHAPTERED_ALGORITHMS and own_chars(job.posts) > THREAD_WHOLE_CHARS:
        return summarise_big(job, request.explain)
    job = job.with_sentences()
    count, cap = len(job.collected.sources), SENTENCE_CAPS[job.algorithm]
    if count <= cap:
        picks = pick_sentences(job, job.collected)
    elif job.algorithm in CHAPTERED_ALGORITHMS:
        picks = summarise_by_chapters(job, job.collected)
    else:
        raise UserError(_cap_message(job.algorithm, count, cap))
    return picks.summary(job, job.collected, request.explain)


# --- a selection too big to split whole --------------------------------------------------------


def candidate_posts(
    posts: Sequence[PostLike],
    signals: Mapping[int, PostSignals],
    keep: int,
    stop_words: frozenset[str],
) -> list[PostLike]:
    """The `keep` posts of a chapter most worth reading sentence by sentence, in thread
    order: its first post, and those most answered, quoted or liked, longest and most
    typical of the chapter.

    Two steps, so that a 10,000-post chapter costs a few hundredths of a second: every post
    is first rated by what costs nothing to read (its answers, quotes and likes on a log
    scale as in bot.core.threadrank, and its length), and the best `SHORTLIST` of those are
    then read word by word for how typical they are of each other: the summed frequency of
    their content words over the square root of their number (a long post in the
    conversation's own vocabulary rates high, a word salad of rare words low)."""
    if len(posts) <= keep:
        return list(posts)
    engaged = np.asarray(
        [
            math.log1p(len(s.quoted_by) + max(0, s.likes)) if (s := signals.get(p.number)) else 0.0
            for p in posts
        ]
    )
    engaged /= float(engaged.max()) or 1.0
    length = np.log1p([sum(len(s.text) for s in p.segments if s.kind == "own") for p in posts])
    length /= float(length.max()) or 1.0
    cheap = W_ENGAGED * engaged + LENGTH_WEIGHT * length
    cheap[0] = math.inf  # always read: the chapter's first post opens what it is about
    shortlist = np.lexsort((np.arange(len(posts)), -cheap))[: max(keep, SHORTLIST)]
    shortlist.sort()
    words = [
        normalised_words(" ".join(s.text for s in posts[i].segments if s.kind == "own"))
        for i in shortlist.tolist()
    ]
    frequency: Counter[str] = Counter()
    for post_words in words:
        frequency.update(post_words)  # counted in C
    for stop in stop_words & frequency.keys():
        frequency[stop] = 0
    count = frequency.__getitem__
    typical = np.asarray([sum(map(count, w)) / math.sqrt(len(w) or 1) for w in words])
    typical /= float(typical.max()) or 1.0
    score = typical + cheap[shortlist]  # the first post stays first (infinite)
    best = shortlist[np.lexsort((shortlist, -score))[:keep]]
    return [posts[i] for i in sorted(best.tolist())]


def summarise_big(job: SummaryJob, explain: bool) -> Summary:
    """The whole summary of a selection with more own text than THREAD_WHOLE_CHARS: chapters
    of about `BIG_CHAPTER_POSTS` posts, in each the `CANDIDATE_POSTS` posts most worth reading
    (`candidate_posts`) ranked sentence by sentence, and the whole from the chapters' picks.
    Memory and time grow with the posts read closely, not with the thread."""
    signals, quotes = job.signals, job.quotes
    count = max(2, math.ceil(len(job.posts) / BIG_CHAPTER_POSTS))
    spans = plan_chapters(job.posts, count)
    stop = stop_words_for(job.language)
    candidates: list[SentenceSource] = []
    ranked = 0
    for start, end in spans:
        read = candidate_posts(job.posts[start:end], signals, CANDIDATE_POSTS, stop)
        part = collect_sentences(read)
        ranked += len(part.sources)
        if not part.sources:
            continue
        numbers = {p.number for p in read}
        inside = [q for q in quotes if q[1] in numbers]  # quotes of the posts read here
        picks = pick_sentences(job, part, signals=signals, quotes=inside)
        candidates.extend(picks.sources[i] for i, _, _ in sorted(picks.picked))
    merged = CollectedSentences(
        tuple(candidates), tuple(range(len(candidates))), len({c.post for c in candidates})
    )
    if not candidates:
        raise UserError("The selected posts have no sentences of their own to summarise.")
    final = pick_sentences(job, merged, signals=signals, quotes=quotes)
    note = (
        f"Summarised by chapters: {len(spans)} chapters of about "
        f"{len(job.posts) // len(spans):,} posts; in each, the {CANDIDATE_POSTS:,} posts "
        "most answered, quoted or liked, longest and most typical of it were ranked sentence "
        f"by sentence, then the whole from their {len(candidates):,} picks "
        f"(summary --chapters {len(spans)} shows them)."
    )
    picks = Picks(final.sources, final.picked, [note, *final.notes], final.used)
    whole = CollectedSentences((), (), len(job.posts))
    summary = picks.summary(job, whole, explain)
    return dataclasses.replace(summary, considered_sentences=ranked)


# --- the chapter view ------------------------------------------------------------------------


def auto_chapter_count(posts: int) -> int:
    """Chapters of a view when none are asked for: `AUTO_CHAPTERS`, fewer for a short
    thread (at least `MIN_CHAPTER_POSTS` posts each), and two whenever there are two posts
    (a view of one chapter would be the summary)."""
    return max(min(2, posts), min(AUTO_CHAPTERS, posts // MIN_CHAPTER_POSTS))


def summarise_chapters(
    posts: Sequence[PostLike],
    request: SummaryRequest | None = None,
    language: str | None = None,
    title: str = "",
    chapters: int | None = None,
) -> ChapterSummary:
    """The selection cut into `chapters` runs of posts (automatic when None), each with its
    own summary of the request's length per chapter (`CHAPTER_SENTENCES` when none is
    given). UserError when a chapter would be too big for a sumy algorithm: the message
    says how many chapters, or what to narrow."""
    request = request or SummaryRequest()
    if chapters is not None and not 1 <= chapters <= MAX_CHAPTERS:
        raise UserError(f"Ask for 1 to {MAX_CHAPTERS} chapters (asked for {chapters}).")
    lazy = (request.algorithm or "thread").strip().lower() in CHAPTERED_ALGORITHMS
    job = prepare(
        posts, request, language, title, default_sentences=CHAPTER_SENTENCES, collect=not lazy
    )
    collected = job.collected  # the default splits each chapter's sentences by itself
    total = len(collected.sources)
    cap = SENTENCE_CAPS[job.algorithm]
    wanted = chapters or auto_chapter_count(len(job.posts))
    if job.algorithm not in CHAPTERED_ALGORITHMS:
        needed = math.ceil(total / cap)
        if wanted < needed:
            if chapters is None and needed <= MAX_CHAPTERS:
                wanted = needed
            else:
                raise UserError(_too_big(job.algorithm, total, cap, needed))
    spans = plan_chapters(job.posts, wanted)
    signals, quotes = (job.signals, job.quotes) if job.algorithm == "thread" else ({}, [])
    stop = stop_words_for(job.language)
    out: list[Chapter] = []
    for start, end in spans:
        members = job.posts[start:end]
        if not lazy:
            part = chapter_sentences(collected, members[0].number, members[-1].number)
        elif own_chars(members) > CLOSE_READ_CHARS:
            part = collect_sentences(candidate_posts(members, signals, CANDIDATE_POSTS, stop))
        else:
            part = collect_sentences(members)
        if not part.sources:
            picks = Picks((), [], ["No words of their own here (only quotes)."], job.algorithm)
        elif len(part.sources) > cap:  # only the default gets here
            picks = summarise_by_chapters(job, part, signals=signals, quotes=quotes)
        else:
            picks = pick_sentences(job, part, signals=signals, quotes=quotes)
        times = [t for t in (_time_of(p) for p in members) if t is not None]
        out.append(
            Chapter(
                first_post=members[0].number,
                last_post=members[-1].number,
                posts=len(members),
                start=times[0].isoformat() if times else None,
                end=times[-1].isoformat() if times else None,
                summary=_chapter_summary(job, picks, part, request.explain),
            )
        )
    used = {c.summary.algorithm for c in out}
    return ChapterSummary(
        chapters=tuple(out),
        algorithm=used.pop() if len(used) == 1 else job.algorithm,
        language=job.language,
        considered_sentences=sum(c.summary.considered_sentences for c in out),
        considered_posts=len(job.posts),
        note=" ".join(job.notes) or None,
        explain=request.explain,
    )


def _chapter_summary(
    job: SummaryJob, picks: Picks, part: CollectedSentences, explain: bool
) -> Summary:
    """A chapter's summary; its note leaves out what the whole answer's note says."""
    summary = picks.summary(job, part, explain)
    note = " ".join(picks.notes) or None
    return Summary(
        summary.sentences,
        summary.algorithm,
        summary.language,
        summary.considered_sentences,
        summary.considered_posts,
        note,
        explain,
    )


def _too_big(algorithm: str, total: int, cap: int, needed: int) -> str:
    from bot.core.summary import ALGORITHM_NAMES

    name = ALGORITHM_NAMES[algorithm]
    if needed <= MAX_CHAPTERS:
        return (
            f"{name} is too slow past {cap:,} sentences a chapter (this selection has "
            f"{total:,}): ask for {needed} chapters or more, or narrow it with --since, "
            "--author or a post range."
        )
    return (
        f"{name} is too slow past {cap:,} sentences a chapter, and this selection has "
        f"{total:,} ({needed} chapters would be needed; at most {MAX_CHAPTERS}): narrow it "
        "with --since, --author or a post range, or use the default algorithm (thread), "
        "which summarises any size."
    )
