"""What is new in a thread since a mark, as one platform-neutral answer.

Pure and synchronous (it runs sumy: call it off the event loop). A mark is the number of the
last post a reader has already seen; everything after it is new. Per thread a digest holds
the count of new posts, a short attributed summary of the new posts' own words only, the
quotes and replies (who answered whom) that start in a new post, the most active participants and
a link to the first unread post. `digest_answer` turns a whole digest into the same
`Answer` every renderer understands; `digest_json` is the `--json` shape.

The summary is the only costly part, so it is its own function (`digest_summary`) with a
result that can be cached and computed in another process (bot.usecases.analysis); `thread_digest`
takes it ready-made, and then only counts. Only posts after the mark and the old posts that
the shown replies point at (`old_posts_named`) are needed, never the whole thread.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.models import QuoteEdge, ReplyEdge, StoredPost, StoredThread
from bot.core.render import Answer, Line, Ref, Section, plural, summary_answer
from bot.core.summary import (
    CHAPTERED_ALGORITHMS,
    SENTENCE_CAPS,
    Summary,
    SummaryRequest,
    SummarySentence,
    own_sentences,
)
from bot.errors import UserError

DIGEST_SENTENCES = 3
TOP_PARTICIPANTS = 3
MAX_EDGES = 6
MAX_SENTENCE_CHARS = 280
FALLBACK_ALGORITHM = "textrank"
"""Used when the new posts exceed the chosen algorithm's sentence cap (long downtime): the
fastest ranking, linear in the words, with the highest cap."""


@dataclass(frozen=True, slots=True)
class DigestEdge:
    """New post `from_post` quotes or answers post `to_post` (which may be old)."""

    from_post: int
    from_author: str | None
    to_post: int
    to_author: str | None
    count: int
    url: str | None = None


@dataclass(frozen=True, slots=True)
class ThreadDigest:
    name: str
    title: str
    link: str | None
    since: int
    """The mark: posts after this number are new."""
    last_post: int
    """Highest post number seen: the next mark once this digest is delivered."""
    new_posts: int
    first_new_post: int | None
    first_new_url: str | None
    first_new_author: str | None = None
    summary: tuple[SummarySentence, ...] = ()
    edges: tuple[DigestEdge, ...] = ()
    more_edges: int = 0
    active: tuple[tuple[str, int], ...] = ()
    notes: tuple[str, ...] = ()
    shown_since: int | None = None
    shown_last: int | None = None
    """`since` and `last_post` as people number the posts (None: the same); the other post
    numbers of a digest are shown numbers already (see `shown_numbers`)."""

    @property
    def has_news(self) -> bool:
        return self.new_posts > 0

    @property
    def since_label(self) -> int:
        return self.since if self.shown_since is None else self.shown_since

    @property
    def last_label(self) -> int:
        return self.last_post if self.shown_last is None else self.shown_last

    @property
    def covered(self) -> tuple[int, int] | None:
        """(first, last) post numbers this digest covers, or None when nothing is new."""
        return (self.since + 1, self.last_post) if self.last_post > self.since else None


@dataclass(frozen=True, slots=True)
class Digest:
    threads: tuple[ThreadDigest, ...]
    notes: tuple[str, ...] = ()

    @property
    def new_posts(self) -> int:
        return sum(t.new_posts for t in self.threads)

    @property
    def has_news(self) -> bool:
        return any(t.has_news for t in self.threads)

    def with_notes(self, *notes: str) -> Digest:
        return dataclasses.replace(self, notes=(*self.notes, *notes))


@dataclass(frozen=True, slots=True)
class DigestSummary:
    """The summary part of one thread's digest: the only costly part, so it is what gets
    cached per thread revision and run in the process pool for big threads."""

    sentences: tuple[SummarySentence, ...] = ()
    notes: tuple[str, ...] = ()
    """The fallback-algorithm note, or why there is no summary."""


def live_posts_after(posts: Sequence[StoredPost], since: int) -> list[StoredPost]:
    """The live posts after the mark, in thread order: what a digest is about."""
    since = max(0, since)
    return [p for p in sorted(posts, key=lambda p: p.number) if p.number > since and not p.deleted]


def digest_summary(
    thread: StoredThread,
    posts: Sequence[StoredPost],
    since: int,
    *,
    algorithm: str = "lexrank",
    sentences: int = DIGEST_SENTENCES,
) -> DigestSummary:
    """The attributed summary of the live posts after `since` (any posts may be given; the
    rest are ignored). A selection the summariser refuses becomes a note, not an error: it
    is as much a result of this thread revision as a summary, and is cached the same way."""
    since = max(0, since)
    new = live_posts_after(posts, since)
    if not new:
        return DigestSummary()
    notes: list[str] = []
    try:
        summary = _summarise(thread, new, since, algorithm, sentences, notes)
    except UserError as exc:
        return DigestSummary((), (*notes, f"No summary: {exc}"))
    return DigestSummary(summary, tuple(notes))


def answered_edges(quotes: Sequence[QuoteEdge], replies: Sequence[ReplyEdge]) -> list[QuoteEdge]:
    """Who answered whom for a digest: the quote edges, plus 1 for each reply that quotes
    nothing of the post it answers."""
    counts = {(e.from_post, e.to_post): e.count for e in quotes}
    for r in replies:
        counts.setdefault((r.from_post, r.to_post), 1)
    return [QuoteEdge(a, b, n) for (a, b), n in sorted(counts.items())]


def shown_numbers(
    digest: ThreadDigest, show: Callable[[int], int], shown_at: Callable[[int], int]
) -> ThreadDigest:
    """The digest with every post number as people know it (`show`: place → number;
    `shown_at`: the number of the last standing post at or before a place). The marks
    (`since`, `last_post`) stay places: the next digest starts from them."""
    return dataclasses.replace(
        digest,
        first_new_post=None if digest.first_new_post is None else show(digest.first_new_post),
        summary=tuple(dataclasses.replace(s, post=show(s.post)) for s in digest.summary),
        edges=tuple(
            dataclasses.replace(e, from_post=show(e.from_post), to_post=show(e.to_post))
            for e in digest.edges
        ),
        shown_since=shown_at(digest.since),
        shown_last=shown_at(digest.last_post),
    )


def _shown_edges(edges: Sequence[QuoteEdge], since: int) -> list[QuoteEdge]:
    """Replies that start in a new post, in the order a digest lists them."""
    ordered = sorted(edges, key=lambda e: (e.from_post, e.to_post))
    return [e for e in ordered if e.from_post > since]


def old_posts_named(edges: Sequence[QuoteEdge], since: int) -> list[int]:
    """Numbers of posts up to the mark that a digest names (the old posts its shown
    replies answer): with the posts after the mark, all `thread_digest` needs to read."""
    since = max(0, since)
    return sorted({e.to_post for e in _shown_edges(edges, since)[:MAX_EDGES] if e.to_post <= since})


def thread_digest(
    thread: StoredThread,
    posts: Sequence[StoredPost],
    edges: Sequence[QuoteEdge],
    since: int,
    *,
    algorithm: str = "lexrank",
    sentences: int = DIGEST_SENTENCES,
    notes: Sequence[str] = (),
    summary: DigestSummary | None = None,
) -> ThreadDigest:
    """The news in one thread after post `since` (0: the whole thread).

    `posts` must hold every post after the mark, plus the old ones `old_posts_named` lists
    (the whole thread does too). `summary`, when given, is `digest_summary` of the same posts
    computed elsewhere (cached, or in a worker process); otherwise it is computed here.
    """
    since = max(0, since)
    last_post = max((p.number for p in posts), default=since)
    new = live_posts_after(posts, since)
    by_number = {p.number: p for p in posts}
    first = new[0] if new else None
    if summary is None:
        summary = digest_summary(thread, new, since, algorithm=algorithm, sentences=sentences)
    notes = [*notes, *summary.notes]
    authors = Counter(p.author for p in new if p.author)
    active = tuple(sorted(authors.items(), key=lambda kv: (-kv[1], kv[0].casefold())))
    new_edges = _shown_edges(edges, since)
    shown = tuple(
        DigestEdge(
            from_post=e.from_post,
            from_author=_author(by_number, e.from_post),
            to_post=e.to_post,
            to_author=_author(by_number, e.to_post),
            count=e.count,
            url=_url(thread, by_number.get(e.from_post)),
        )
        for e in new_edges[:MAX_EDGES]
    )
    return ThreadDigest(
        name=thread.name,
        title=thread.title,
        link=thread.source_url,
        since=since,
        last_post=max(last_post, since),
        new_posts=len(new),
        first_new_post=first.number if first else None,
        first_new_url=_url(thread, first),
        first_new_author=first.author if first else None,
        summary=summary.sentences,
        edges=shown,
        more_edges=max(0, len(new_edges) - MAX_EDGES),
        active=active[:TOP_PARTICIPANTS],
        notes=tuple(notes),
    )


def _summarise(
    thread: StoredThread,
    new: Sequence[StoredPost],
    since: int,
    algorithm: str,
    sentences: int,
    notes: list[str],
) -> tuple[SummarySentence, ...]:
    counts = [sum(1 for _ in own_sentences(p)) for p in new]
    count = sum(counts)
    if algorithm not in CHAPTERED_ALGORITHMS and count > SENTENCE_CAPS.get(algorithm, 0):
        algorithm = FALLBACK_ALGORITHM
        cap = SENTENCE_CAPS[algorithm]
        if count <= cap:
            notes.append(f"{count} new sentences: summarised with {algorithm}.")
        else:  # more than any ranking takes: the newest posts that fit
            kept = total = 0
            for size in reversed(counts):
                if total + size > cap:
                    break
                kept, total = kept + 1, total + size
            new = new[len(new) - kept :]
            since = new[0].number - 1 if new else since
            notes.append(
                f"{count} new sentences: summarised the newest {kept} posts "
                f"({total} sentences) with {algorithm}."
            )
    request = SummaryRequest(algorithm=algorithm, sentences=sentences, since_post=since)
    from bot.core.chapters import summarise_any  # numpy: only when a digest summarises

    summary = summarise_any(new, request, thread.language, thread.title)
    return tuple(
        dataclasses.replace(s, text=_clip(s.text), url=s.url or thread.source_url)
        for s in summary.sentences
    )


def _author(by_number: dict[int, StoredPost], number: int) -> str | None:
    post = by_number.get(number)
    return post.author if post else None


def _url(thread: StoredThread, post: StoredPost | None) -> str | None:
    if post is None:
        return None
    return post.url or thread.source_url


def _clip(text: str, limit: int = MAX_SENTENCE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --- answers ------------------------------------------------------------------------------


def _who(author: str | None, post: int) -> str:
    return f"{author} (#{post})" if author else f"#{post}"


def digest_answer(digest: Digest, *, title: str | None = None) -> Answer:
    """The digest as a neutral answer: one section per thread with news.

    Threads without news are named in one line. When nothing is new at all the answer is a
    single "nothing new" line (adapters post it only for schedules with `quiet_line`).
    """
    news = [t for t in digest.threads if t.has_news]
    quiet = [t for t in digest.threads if not t.has_news]
    if not news:
        names = ", ".join(t.title for t in digest.threads) or "no threads"
        return Answer(
            title=title or "Nothing new since the last digest",
            sections=(),
            notes=(f"No new posts in {names}.", *digest.notes, *_thread_notes(quiet)),
        )
    sections = [_thread_section(t) for t in news]
    if quiet:
        names = ", ".join(f"“{t.title}”" for t in quiet)
        sections.append(Section("Nothing new", (Line(f"No new posts in {names}."),)))
    heading = title or (
        f"Digest: {plural(digest.new_posts, 'new post')}"
        + (f" in {plural(len(news), 'thread')}" if len(digest.threads) > 1 else "")
    )
    link = news[0].link if len(digest.threads) == 1 else None
    return Answer(
        title=heading,
        sections=tuple(sections),
        notes=(*digest.notes, *_thread_notes(quiet)),
        link=link,
    )


def _thread_section(t: ThreadDigest) -> Section:
    lines: list[Line] = []
    if t.first_new_post is not None:
        ref = Ref(t.first_new_post, t.first_new_author, t.first_new_url)
        lines.append(Line("First unread post", ref))
    lines.extend(Line(s.text, Ref(s.post, s.author, s.url)) for s in t.summary)
    if t.active:
        people = ", ".join(f"{who} ({n})" for who, n in t.active)
        lines.append(Line(f"Most active: {people}"))
    for e in t.edges:
        lines.append(
            Line(
                f"{_who(e.from_author, e.from_post)} answered {_who(e.to_author, e.to_post)}",
                Ref(e.from_post, e.from_author, e.url),
                detail=f"{e.count}×" if e.count > 1 else None,
            )
        )
    if t.more_edges:
        lines.append(Line(f"… and {plural(t.more_edges, 'more reply', 'more replies')}"))
    lines.extend(Line(n) for n in t.notes)
    since = f"after post #{t.since_label}" if t.since else "in the whole thread"
    heading = f"{t.title} — {plural(t.new_posts, 'new post')} {since}"
    return Section(heading, tuple(lines))


def _thread_notes(threads: Sequence[ThreadDigest]) -> tuple[str, ...]:
    return tuple(f"{t.title}: {n}" for t in threads for n in t.notes)


# --- "since I last read" -----------------------------------------------------------------


def catch_up_answer(
    thread: StoredThread, summary: Summary | None, since: int | None, last_post: int
) -> Answer:
    """A personal catch-up: the summary of what is new since the reader's mark."""
    if summary is None:
        return Answer(
            title=f"Nothing new in “{thread.title}” since you last read it",
            sections=(),
            notes=(f"You have seen up to post #{last_post}.",),
            link=thread.source_url,
        )
    answer = summary_answer(thread, summary)
    where = (
        f"New since you last read (after post #{since}, up to #{last_post})."
        if since
        else f"First read: the whole thread, up to post #{last_post}."
    )
    return dataclasses.replace(answer, notes=(where, *answer.notes))


# --- JSON ---------------------------------------------------------------------------------


def thread_digest_json(t: ThreadDigest) -> dict[str, Any]:
    return {
        "name": t.name,
        "title": t.title,
        "since": t.since_label,
        "last_post": t.last_label,
        "new_posts": t.new_posts,
        "first_new_post": t.first_new_post,
        "first_new_url": t.first_new_url,
        "first_new_author": t.first_new_author,
        "summary": [
            {"post": s.post, "author": s.author, "url": s.url, "text": s.text} for s in t.summary
        ],
        "new_edges": [
            {
                "from_post": e.from_post,
                "from_author": e.from_author,
                "to_post": e.to_post,
                "to_author": e.to_author,
                "count": e.count,
            }
            for e in t.edges
        ],
        "more_edges": t.more_edges,
        "most_active": [{"author": a, "posts": n} for a, n in t.active],
        "notes": list(t.notes),
    }


def digest_json(digest: Digest) -> dict[str, Any]:
    return {
        "new_posts": digest.new_posts,
        "threads": [thread_digest_json(t) for t in digest.threads],
        "notes": list(digest.notes),
    }
