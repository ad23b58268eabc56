"""The thread brief: what a thread is about and where it went, in one chat message.

A summary is a handful of sentences; a brief answers a newcomer's questions in order:
- **About**: the opening post's point (its best sentence by the thread-aware ranker);
- **Main points**: the points made across the whole thread, each with how many
  participants made it. A point is a well-rated sentence; the people who made it are the
  participants with a sentence close to it (TF-IDF cosine at least `SAME_POINT`). Points
  that many people made are preferred, and a point close to one already shown is skipped;
- **Sides**: when the thread splits into two sides (bot.core.sides), each side with how
  many people are on it, its first members and its strongest point; when it does not
  split, a line that says so;
- **Most quoted**: the posts the most people quoted or answered (the quote edges, replies
  included), each with the sentence of it that was quoted most;
- **Latest**: the last two posts by different people, and whom they answered.

Every line is one sentence of a post, attributed and linked. The cut to one message is the
renderers' job (`bot.core.render.fit_answer`), since only they know what a link costs.

Cost: one ranking (bot.core.threadrank, linear), then for each of `CANDIDATES` candidate
points one pass over the thread's TF-IDF cells (numpy), so linear in the thread's words.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.core.language import choose_language
from bot.core.models import PostLike, QuoteEdge
from bot.core.summary import (
    _dedupe_key,
    collect_sentences,
    post_signals,
    quotes_within,
    stemmer_for,
    stop_words_for,
)
from bot.core.threadrank import SAME_POST, Ranked, RankInput, rank

POINTS = 4
MOST_QUOTED = 3
LATEST = 2
CANDIDATES = 40
"""Sentences considered as main points (the best rated)."""
SAME_POINT = 0.3
"""Cosine of two sentences' TF-IDF vectors from which they make the same point."""
SUPPORT_WEIGHT = 0.5
"""How much a point made by more people is preferred: rating × (1 + w·ln(people))."""
REDUNDANCY = 0.8
OPENING_LEAD = 0.3
"""Bonus of the opening post's first usable sentence when choosing what it is about."""
SIDE_MEMBERS = 3
MIN_QUOTED_BY = 2
"""A post is listed as most quoted only when at least this many people quoted or answered it."""


@dataclass(frozen=True, slots=True)
class BriefLine:
    post: int
    author: str | None
    url: str | None
    text: str


@dataclass(frozen=True, slots=True)
class BriefPoint:
    line: BriefLine
    people: int
    """Participants (posts, in a thread without names) with a sentence making this point."""


@dataclass(frozen=True, slots=True)
class QuotedPost:
    line: BriefLine
    people: int
    """Participants who quoted or answered the post (its author not counted)."""


@dataclass(frozen=True, slots=True)
class LatestPost:
    line: BriefLine
    answering: int | None
    """The post it quotes or answers, when it does."""
    answering_author: str | None


@dataclass(frozen=True, slots=True)
class BriefSide:
    name: str
    """"A" (the bigger side) or "B"."""
    people: int
    members: tuple[str, ...]
    """The most confidently placed first, at most `SIDE_MEMBERS`."""
    point: BriefLine | None
    """The side's strongest point."""


@dataclass(frozen=True, slots=True)
class ThreadBrief:
    about: tuple[BriefLine, ...]
    """The opening post's point, and its question when it asks one."""
    points: tuple[BriefPoint, ...]
    most_quoted: tuple[QuotedPost, ...]
    latest: tuple[LatestPost, ...]
    posts: int
    participants: int
    named: bool
    """Whether posts carry author names (else counts are of posts, not people)."""
    language: str
    note: str | None = None
    sides: tuple[BriefSide, ...] = ()
    sides_note: str | None = None
    """Why there are no sides (the thread does not split), when it has none."""
    sides_confidence: float = 0.0


@dataclass(frozen=True, slots=True)
class _Thread:
    """The ranked sentences and what the brief reads from them."""

    posts: Sequence[PostLike]
    ranked: Ranked
    sentence_post: np.ndarray
    owners: np.ndarray
    texts: Sequence[str]


def thread_brief(
    posts: Sequence[PostLike],
    edges: Sequence[QuoteEdge],
    title: str = "",
    language: str | None = None,
) -> ThreadBrief:
    """The brief of a thread's live posts (pure; CPU work: run it off the event loop)."""
    posts = sorted(posts, key=lambda p: p.number)
    collected = collect_sentences(posts)
    sources = collected.sources
    texts = [s.text for s in sources]
    note = None
    if language is None or language not in _analysable_cache():
        choice = choose_language(texts)
        language, note = choice.language, choice.note
    owner_names = [_owner(s.author, s.post) for s in sources]
    codes: dict[str, int] = {}
    owners = np.asarray([codes.setdefault(o, len(codes)) for o in owner_names], dtype=np.int64)
    named = any(p.author for p in posts)
    participants = len({_owner(p.author, p.number) for p in posts})
    if not sources:
        return ThreadBrief((), (), (), (), len(posts), participants, named, language, note)
    ranked = rank(
        RankInput(
            texts=texts,
            posts=[s.post for s in sources],
            authors=[s.author for s in sources],
            signals=post_signals(posts),
            quotes=quotes_within(posts),
            title=title,
            stop_words=stop_words_for(language),
            stem=stemmer_for(language),
            english=language == "english",
        )
    )
    thread = _Thread(
        posts, ranked, np.asarray([s.post for s in sources], dtype=np.int64), owners, texts
    )
    by_number = {p.number: p for p in posts}
    about_index, question = _opening(thread, posts[0].number)
    about = tuple(_line(thread, by_number, i) for i in (about_index, question) if i is not None)
    # each part avoids the sentences an earlier one shows; points come last, so that
    # they add what the other parts do not say already
    shown = [i for i in (about_index, question) if i is not None]
    latest = _latest(thread, by_number, edges, set(shown))
    shown += [i for i, _ in latest]
    most_quoted = _most_quoted(thread, by_number, edges, set(shown))
    shown += [i for i, _ in most_quoted]
    points = _points(thread, shown)
    sides, sides_note, sides_confidence = _sides(posts, language)
    return ThreadBrief(
        about=about,
        points=tuple(BriefPoint(_line(thread, by_number, i), people) for i, people in points),
        most_quoted=tuple(q for _, q in most_quoted),
        latest=tuple(p for _, p in latest),
        posts=len(posts),
        participants=participants,
        named=named,
        language=language,
        note=note,
        sides=sides,
        sides_note=sides_note,
        sides_confidence=sides_confidence,
    )


def _sides(
    posts: Sequence[PostLike], language: str
) -> tuple[tuple[BriefSide, ...], str | None, float]:
    """The sides part: each side's size, first members and strongest point (one pass of
    bot.core.sides, linear in the thread's interactions)."""
    from bot.core.sides import thread_sides

    found = thread_sides(posts, language, key_points=1)
    if not found.splits:
        return (), found.note, 0.0
    sides = tuple(
        BriefSide(
            name=side.name,
            people=len(side.members),
            members=side.members[:SIDE_MEMBERS],
            point=next((BriefLine(k.post, k.author, k.url, k.text) for k in side.key_points), None),
        )
        for side in found.sides
    )
    return sides, None, found.confidence


def _analysable_cache() -> frozenset[str]:
    from bot.core.language import analysable, supported_languages

    return frozenset(lang for lang in supported_languages() if analysable(lang))


def _owner(author: str | None, post: int) -> str:
    return author.casefold() if author else f"#{post}"


def _line(thread: _Thread, by_number: dict[int, PostLike], index: int) -> BriefLine:
    post = by_number[int(thread.sentence_post[index])]
    return BriefLine(post.number, post.author, post.url, thread.texts[index])


def _opening(thread: _Thread, number: int) -> tuple[int | None, int | None]:
    """The opening post's point and its question: the best sentence, with a bonus for
    coming early (an opening post says what it is about first), and the first question
    that stands on its own, when it is another sentence."""
    where = [int(i) for i in np.flatnonzero(thread.sentence_post == number)]
    usable = [i for i in where if thread.ranked.usable(i)]
    if not usable:
        return (where[0] if where else None), None
    best = max(
        usable,
        key=lambda i: (thread.ranked.score(i) + OPENING_LEAD / (1 + usable.index(i)), -i),
    )
    question = next((i for i in usable if thread.texts[i].rstrip().endswith("?")), None)
    return best, question if question != best else None


def _best_of_post(thread: _Thread, number: int, avoid: set[int] | None = None) -> int | None:
    """The post's best-rated usable sentence; else its first sentence; None if it has none."""
    where = np.flatnonzero(thread.sentence_post == number)
    if not where.size:
        return None
    candidates = [int(i) for i in where if not avoid or int(i) not in avoid]
    if not candidates:
        return None
    usable = [i for i in candidates if thread.ranked.usable(i)]
    if usable:
        return max(usable, key=lambda i: (thread.ranked.score(i), -i))
    return candidates[0]


def _similarities(thread: _Thread, index: int) -> np.ndarray:
    """Cosine of sentence `index` with every sentence (its vectors are unit length)."""
    vectors = thread.ranked.vectors
    mine = vectors.of(index)
    dense = np.zeros(int(vectors.col.max()) + 1 if vectors.col.size else 1)
    for term, weight in mine.items():
        dense[term] = weight
    return np.bincount(
        vectors.row, vectors.weight * dense[vectors.col], minlength=len(thread.texts)
    )


def _points(thread: _Thread, shown: list[int]) -> list[tuple[int, int]]:
    """(sentence index, people) of the main points, in thread order: well rated, made by
    many, and not what a `shown` sentence says already."""
    ranked = thread.ranked
    taken = set(shown)
    candidates = [i for i in ranked.best(CANDIDATES + len(taken)) if i not in taken]
    candidates = candidates[:CANDIDATES]
    sims = {i: _similarities(thread, i) for i in candidates}
    people = {i: int(np.unique(thread.owners[sims[i] >= SAME_POINT]).size) for i in candidates}
    closest = dict.fromkeys(candidates, 0.0)
    for i in shown:
        shown_sims = _similarities(thread, i)
        for c in candidates:
            closest[c] = max(closest[c], float(shown_sims[c]))
    picked: list[int] = []
    per_post: dict[int, int] = {}
    seen = {_dedupe_key(thread.texts[i]) for i in shown}
    while candidates and len(picked) < POINTS:
        best = max(
            candidates,
            key=lambda i: (
                ranked.score(i) * (1 + SUPPORT_WEIGHT * math.log(max(1, people[i])))
                - REDUNDANCY * closest[i]
                - SAME_POST * per_post.get(int(thread.sentence_post[i]), 0),
                -i,
            ),
        )
        candidates.remove(best)
        key = _dedupe_key(thread.texts[best])
        if key in seen or closest[best] >= SAME_POINT:
            continue
        seen.add(key)
        picked.append(best)
        post = int(thread.sentence_post[best])
        per_post[post] = per_post.get(post, 0) + 1
        for i in candidates:
            closest[i] = max(closest[i], float(sims[best][i]))
    return [(i, people[i]) for i in sorted(picked)]


def _most_quoted(
    thread: _Thread,
    by_number: dict[int, PostLike],
    edges: Sequence[QuoteEdge],
    avoid: set[int],
) -> list[tuple[int, QuotedPost]]:
    """The posts most people quoted or answered, each with its most quoted sentence (one
    not shown elsewhere when it has one)."""
    quoters: dict[int, set[str]] = {}
    for edge in edges:
        source, target = by_number.get(edge.from_post), by_number.get(edge.to_post)
        if source is None or target is None or edge.from_post == edge.to_post:
            continue
        who = _owner(source.author, source.number)
        if who != _owner(target.author, target.number):
            quoters.setdefault(target.number, set()).add(who)
    ranked_posts = sorted(quoters.items(), key=lambda item: (-len(item[1]), item[0]))
    out: list[tuple[int, QuotedPost]] = []
    quoted_most = _quoted_counts(thread)
    for number, who in ranked_posts:
        if len(who) < MIN_QUOTED_BY or len(out) == MOST_QUOTED:
            break
        index = _most_quoted_sentence(thread, number, quoted_most, avoid)
        if index is None:
            continue
        out.append((index, QuotedPost(_line(thread, by_number, index), len(who))))
    return out


def _quoted_counts(thread: _Thread) -> dict[int, float]:
    return {int(i): float(v) for i, v in enumerate(thread.ranked.quoted) if v > 0}


def _most_quoted_sentence(
    thread: _Thread, number: int, quoted: dict[int, float], avoid: set[int]
) -> int | None:
    where = [int(i) for i in np.flatnonzero(thread.sentence_post == number)]
    hit = [i for i in where if i in quoted]
    fresh = [i for i in hit if i not in avoid]
    if fresh or hit:
        return max(fresh or hit, key=lambda i: (quoted[i], thread.ranked.score(i), -i))
    fresh_best = _best_of_post(thread, number, avoid=avoid)
    return fresh_best if fresh_best is not None else _best_of_post(thread, number)


def _latest(
    thread: _Thread,
    by_number: dict[int, PostLike],
    edges: Sequence[QuoteEdge],
    avoid: set[int],
) -> list[tuple[int, LatestPost]]:
    """The last posts by different people (never the opening post), newest last."""
    answers: dict[int, int] = {}
    for edge in edges:
        if edge.from_post != edge.to_post:
            answers[edge.from_post] = max(answers.get(edge.from_post, 0), edge.to_post)
    picked: list[tuple[int, LatestPost]] = []
    people: set[str] = set()
    first = thread.posts[0].number
    for post in reversed(thread.posts):
        if len(picked) == LATEST or post.number == first:
            break
        who = _owner(post.author, post.number)
        if who in people:
            continue
        index = _best_of_post(thread, post.number, avoid=avoid)
        if index is None:
            continue
        people.add(who)
        target = answers.get(post.number) or getattr(post, "reply_to", None)
        target_post = by_number.get(target) if target else None
        latest = LatestPost(
            _line(thread, by_number, index),
            target_post.number if target_post else None,
            target_post.author if target_post else None,
        )
        picked.append((index, latest))
    return picked[::-1]
