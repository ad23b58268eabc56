"""Analysis results → neutral answers (title, sections, attributed lines).

Every adapter renders the same Answer: the terminal as plain text, Discord as embeds
with jump links, Matrix as escaped HTML. Lines keep a Ref so each one can link to the
post it came from; nothing here knows any markup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.core.models import StoredPost, StoredThread

if TYPE_CHECKING:
    from bot.core.quote_report import QuoteReport
    from bot.core.stance import StanceReport
    from bot.core.summary import Summary

INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""C0/C1 controls (not tab and line breaks) and bidi marks, overrides and isolates: forum
text may carry them, and an override like U+202E makes the rest of a line display reversed.
Every renderer drops them from what it sends."""


def strip_invisible(text: str) -> str:
    return INVISIBLE.sub("", text)


@dataclass(frozen=True, slots=True)
class Ref:
    """Where a line comes from: post number, author when known, and a link when known."""

    post: int
    author: str | None = None
    url: str | None = None

    @property
    def label(self) -> str:
        return f"#{self.post} {self.author}" if self.author else f"#{self.post}"


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    ref: Ref | None = None
    detail: str | None = None  # e.g. "score 0.031, rank 2" when explaining


@dataclass(frozen=True, slots=True)
class Section:
    heading: str | None
    lines: tuple[Line, ...]


@dataclass(frozen=True, slots=True)
class Answer:
    title: str
    sections: tuple[Section, ...]
    notes: tuple[str, ...] = ()
    link: str | None = None


def _post_url(thread: StoredThread, post: int, url: str | None) -> str | None:
    if url:
        return url
    if thread.source_url:
        return thread.source_url
    return None


def thread_list(threads: Sequence[StoredThread]) -> Answer:
    lines = tuple(
        Line(
            f"{t.name} — “{t.title}”: {t.post_count} posts, "
            + (f"{t.author_count} authors" if t.author_count else "no author names")
        )
        for t in threads
    )
    notes = () if threads else ("No threads stored yet. Ingest one first.",)
    return Answer(title="Threads", sections=(Section(None, lines),), notes=notes)


def posts_answer(thread: StoredThread, posts: Sequence[StoredPost]) -> Answer:
    sections = []
    for post in posts:
        ref = Ref(post.number, post.author, _post_url(thread, post.number, post.url))
        lines = []
        for seg in post.segments:
            if seg.kind == "quote":
                src = (
                    f"#{seg.source_post}"
                    if seg.source_post
                    else (seg.source_author or "outside source")
                )
                lines.append(Line(f"> {seg.text}", detail=f"quoting {src}"))
            else:
                lines.append(Line(seg.text))
        sections.append(Section(ref.label, tuple(lines)))
    return Answer(title=thread.title, sections=tuple(sections), link=thread.source_url)


def summary_answer(thread: StoredThread, summary: Summary) -> Answer:
    lines = tuple(
        Line(
            s.text,
            Ref(s.post, s.author, _post_url(thread, s.post, s.url)),
            detail=f"score {s.score:.4g}, rank {s.rank}" if summary.explain else None,
        )
        for s in summary.sentences
    )
    notes = [
        f"{summary.algorithm} summary of {summary.considered_sentences} sentences "
        f"from {summary.considered_posts} posts ({summary.language}); quoted text left out."
    ]
    if summary.note:
        notes.append(summary.note)
    return Answer(
        title=f"Summary — {thread.title}",
        sections=(Section(None, lines),),
        notes=tuple(notes),
        link=thread.source_url,
    )


def stance_answer(
    thread: StoredThread, report: StanceReport, post_urls: Mapping[int, str] | None = None
) -> Answer:
    """`post_urls` lets reply and topic lines link to their post, not just the thread."""
    urls = post_urls or {}
    sections = []
    if report.groups:  # first: the overview, which a chat-sized answer must keep
        sections.append(
            Section(
                "Who agrees with whom",
                tuple(Line(", ".join(group)) for group in report.groups),
            )
        )
    for p in report.participants:
        lines: list[Line] = [
            Line(
                f"{len(p.posts)} post{'s' if len(p.posts) != 1 else ''}, {p.words} own words"
                + _people(" · quotes ", p.quotes)
                + _people(" · quoted by ", p.quoted_by)
            )
        ]
        for kp in p.key_points:
            lines.append(Line(kp.text, Ref(kp.post, None if report.per_post else p.author, kp.url)))
        for r in p.replies:
            if r.label == "neither":
                continue
            target = r.to_author or (f"#{r.to_post}" if r.to_post else "an outside source")
            verb = "agrees with" if r.label == "agree" else "disagrees with"
            lines.append(
                Line(
                    f"{verb} {target}: “{r.reply_excerpt}”",
                    Ref(r.from_post, None, _post_url(thread, r.from_post, urls.get(r.from_post))),
                    detail=f"cue: {r.cue}" if r.cue else None,
                )
            )
        for ts in p.topic_sentences:
            ref = Ref(ts.post, None, _post_url(thread, ts.post, urls.get(ts.post)))
            lines.append(Line(ts.text, ref, detail=f"{ts.polarity} ({ts.compound:+.2f})"))
        sections.append(Section(p.author, tuple(lines)))
    notes = (report.note,) if report.note else ()
    title = f"Stances — {thread.title}" + (f" (topic: {report.topic})" if report.topic else "")
    return Answer(title=title, sections=tuple(sections), notes=notes, link=thread.source_url)


def quotes_answer(thread: StoredThread, report: QuoteReport) -> Answer:
    sections = []
    pair_lines = tuple(
        Line(
            f"{p.from_label} quoted {p.to_label} "
            f"{p.count} time{'s' if p.count != 1 else ''}" + (" (self-quote)" if p.is_self else "")
        )
        for p in report.pairs
    )
    sections.append(Section("Who quoted whom", pair_lines or (Line("No quotes found."),)))
    if report.most_quoted_posts:
        sections.append(
            Section(
                "Most quoted posts",
                tuple(
                    Line(
                        f"quoted {q.times_quoted}× — “{q.excerpt}”",
                        Ref(q.post, q.author, _post_url(thread, q.post, q.url)),
                    )
                    for q in report.most_quoted_posts
                ),
            )
        )
    if report.authors_known and report.most_quoted_authors:
        sections.append(
            Section(
                "Most quoted people",
                tuple(Line(f"{a.author}: {a.times_quoted}×") for a in report.most_quoted_authors),
            )
        )
    if report.chain:
        sections.append(
            Section(
                f"Replies under post #{report.post}",
                tuple(
                    Line(
                        "  " * node.depth
                        + (f"#{node.post}" + (f" {node.author}" if node.author else ""))
                        + (f" quotes #{node.parent}" if node.parent else "")
                    )
                    for node in report.chain
                ),
            )
        )
    return Answer(
        title=f"Quotes — {thread.title}",
        sections=tuple(sections),
        notes=report.notes,
        link=thread.source_url,
    )


CHAT_SECTIONS = 15
CHAT_LINES = 12
CHAT_LINE_CHARS = 600
"""A line longer than this is cut ("who agrees with whom" in a thread of 10,000 unnamed
posts can be one group of thousands of names)."""


def brief(
    answer: Answer,
    max_sections: int = CHAT_SECTIONS,
    max_lines: int = CHAT_LINES,
    how_to_narrow: str = "",
    sections_are: str = "sections",
) -> Answer:
    """The answer cut to what a chat message should hold: a stance of a 10,000-post
    thread copied without names has 10,000 participants, and a channel must not get 800
    messages. The first `max_sections` sections keep their first `max_lines` lines; what
    is left out is counted, with `how_to_narrow` (the adapter's own option names)."""
    sections: list[Section] = []
    cut = False
    for section in answer.sections[:max_sections]:
        lines = tuple(_clip_line(line) for line in section.lines)
        cut = cut or lines != section.lines
        if len(lines) > max_lines:
            lines = (*lines[: max_lines - 1], Line(f"… and {len(lines) - max_lines + 1} more"))
            cut = True
        sections.append(Section(section.heading, lines))
    notes = list(answer.notes)
    hidden = len(answer.sections) - max_sections
    if hidden > 0:
        notes.append(f"{hidden:,} more {sections_are} are not shown here.")
    if (cut or hidden > 0) and how_to_narrow:
        notes.append(how_to_narrow)
    return Answer(answer.title, tuple(sections), tuple(notes), answer.link)


def _clip_line(line: Line, limit: int = CHAT_LINE_CHARS) -> Line:
    if len(line.text) <= limit:
        return line
    head = line.text[: limit - 1]
    head = head[: head.rfind(" ")] if " " in head else head
    return Line(head.rstrip(" ,;") + " …", line.ref, line.detail)


def _people(prefix: str, counts: Sequence[tuple[str, int]]) -> str:
    if not counts:
        return ""
    shown = ", ".join(f"{who} ×{n}" for who, n in counts[:5])
    more = f" and {len(counts) - 5} more" if len(counts) > 5 else ""
    return prefix + shown + more


def interrupted_text(what: str, *, stores: bool) -> str:
    """The answer to a command that a crash or restart of the bot cut short.

    `what` says what it was doing ("ingesting https://…"); `stores`: the command would have
    stored something (an ingest is written in one transaction at its very end, so an
    interrupted one stored nothing).
    """
    if stores:
        return f"threadwise restarted while {what}; nothing was stored; please run it again."
    return f"threadwise restarted while {what}; please send it again."
