"""Analysis results → neutral answers (title, sections, attributed lines).

Every adapter renders the same Answer: the terminal as plain text, Discord as embeds
with jump links, Matrix as escaped HTML. Lines keep a Ref so each one can link to the
post it came from; nothing here knows any markup.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.core.models import StoredPost, StoredThread

if TYPE_CHECKING:
    from bot.core.brief import BriefLine, ThreadBrief
    from bot.core.chapters import Chapter, ChapterSummary
    from bot.core.quote_report import ChainNode, QuoteReport
    from bot.core.sides import Sides
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


def plural(n: int, word: str, many: str | None = None) -> str:
    """ "1 author", "12,000 posts" (`many` for irregular plurals: "1 reply", "3 replies")."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"


def _post_url(thread: StoredThread, post: int, url: str | None) -> str | None:
    if url:
        return url
    if thread.source_url:
        return thread.source_url
    return None


def thread_list(threads: Sequence[StoredThread]) -> Answer:
    lines = tuple(
        Line(
            f"{t.name} — “{t.title}”: {plural(t.post_count, 'post')}, "
            + (plural(t.author_count, "author") if t.author_count else "no author names")
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
        heading = f"{ref.label} (deleted)" if post.deleted else ref.label
        sections.append(Section(heading, tuple(lines)))
    return Answer(title=thread.title, sections=tuple(sections), link=thread.source_url)


def _sentence_lines(thread: StoredThread, summary: Summary, explain: bool) -> tuple[Line, ...]:
    """A summary's sentences, each attributed and linked (with score and rank on request)."""
    return tuple(
        Line(
            s.text,
            Ref(s.post, s.author, _post_url(thread, s.post, s.url)),
            detail=f"score {s.score:.4g}, rank {s.rank}" if explain else None,
        )
        for s in summary.sentences
    )


def summary_answer(thread: StoredThread, summary: Summary) -> Answer:
    lines = _sentence_lines(thread, summary, summary.explain)
    notes = [
        f"{_ALGORITHM_NAMES.get(summary.algorithm, summary.algorithm)} summary of "
        f"{plural(summary.considered_sentences, 'sentence')} "
        f"from {plural(summary.considered_posts, 'post')} ({summary.language}); "
        "quoted text left out."
    ]
    if summary.note:
        notes.append(summary.note)
    return Answer(
        title=f"Summary — {thread.title}",
        sections=(Section(None, lines),),
        notes=tuple(notes),
        link=thread.source_url,
    )


def chapters_answer(thread: StoredThread, chapters: ChapterSummary) -> Answer:
    """The chapter view: one section per run of posts ("Posts 1–2,500 · 3 Mar–9 Apr 2021"),
    each with its own attributed sentences."""
    sections = []
    for chapter in chapters.chapters:
        lines = _sentence_lines(thread, chapter.summary, chapters.explain)
        if chapter.summary.note and not lines:
            lines = (Line(chapter.summary.note),)
        sections.append(Section(chapter_heading(chapter), lines))
    name = _ALGORITHM_NAMES.get(chapters.algorithm, chapters.algorithm)
    notes = [
        f"{name} summaries of {plural(len(chapters.chapters), 'chapter')}: "
        f"{plural(chapters.considered_sentences, 'sentence')} from "
        f"{plural(chapters.considered_posts, 'post')} "
        f"({chapters.language}); quoted text left out."
    ]
    if chapters.note:
        notes.append(chapters.note)
    return Answer(
        title=f"Chapters — {thread.title}",
        sections=tuple(sections),
        notes=tuple(notes),
        link=thread.source_url,
    )


def chapter_heading(chapter: Chapter) -> str:
    """ "Posts 1–2,500 · 3 Mar 2021 – 9 Apr 2021" (the days where posts have times)."""
    first, last = chapter.first_post, chapter.last_post
    span = f"Post {first:,}" if first == last else f"Posts {first:,}–{last:,}"
    start, end = chapter.start, chapter.end
    if start and end:
        a, b = _day(start), _day(end)
        span += f" · {a}" if a == b else f" · {a} – {b}"
    return span


def _day(iso: str) -> str:
    from datetime import datetime

    try:
        return datetime.fromisoformat(iso).strftime("%-d %b %Y")
    except ValueError:
        return iso[:10]


STANCE_CHARS = 1_800
"""What a stance answer may hold, links included: one chat message (Discord counts 2,000),
with room for each platform's own framing."""
NAMES_SHOWN = 12
KEY_POINT_CHARS = 200
REPLIES_SHOWN = 8
TOPIC_LINES = 3

_ALGORITHM_NAMES = {
    "thread": "Thread-aware",
    "lexrank": "LexRank",
    "textrank": "TextRank",
    "lsa": "LSA",
    "luhn": "Luhn",
    "kl": "KL-Sum",
    "sumbasic": "SumBasic",
    "edmundson": "Edmundson",
}
"""bot.core.summary.ALGORITHM_NAMES, repeated so that rendering does not import the
summary module (start-up stays light); tests/core/test_summary.py checks the two agree."""

BRIEF_CHARS = 2000
"""A brief fits one chat message: Discord's 2,000 characters (Matrix allows far more)."""


def brief_answer(thread: StoredThread, brief: ThreadBrief) -> Answer:
    """The brief as sections: about, main points, sides, most quoted, latest.

    The answer is not cut here: `fit_answer` does that with the adapter's own measure.
    """

    def line(b: BriefLine, detail: str | None = None) -> Line:
        return Line(b.text, Ref(b.post, b.author, _post_url(thread, b.post, b.url)), detail)

    people = "people" if brief.named else "posts"
    by = "by" if brief.named else "in"
    sections: list[Section] = []
    if brief.about:
        sections.append(Section("What it is about", tuple(line(b) for b in brief.about)))
    if brief.points:
        made = "made by" if brief.named else "made in"
        sections.append(
            Section(
                "Main points",
                tuple(
                    line(p.line, f"{made} {_count_plural(p.people, people)}") for p in brief.points
                ),
            )
        )
    if brief.sides:
        sections.append(
            Section(
                "Sides",
                tuple(
                    Line(
                        side.point.text if side.point else "(no point of its own)",
                        Ref(side.point.post, side.point.author, _post_url(
                            thread, side.point.post, side.point.url))
                        if side.point else None,
                        f"side {side.name}: {_count_plural(side.people, people)}"
                        + (f" ({', '.join(side.members)}"
                           + ("…" if side.people > len(side.members) else "") + ")"
                           if brief.named else ""),
                    )
                    for side in brief.sides
                ),
            )
        )  # fmt: skip
    if brief.most_quoted:
        sections.append(
            Section(
                "Most quoted",
                tuple(
                    line(q.line, f"quoted or answered {by} {_count_plural(q.people, people)}")
                    for q in brief.most_quoted
                ),
            )
        )
    if brief.latest:
        sections.append(
            Section(
                "Latest",
                tuple(
                    line(
                        p.line,
                        (
                            f"answering #{p.answering}"
                            + (f" {p.answering_author}" if p.answering_author else "")
                        )
                        if p.answering
                        else None,
                    )
                    for p in brief.latest
                ),
            )
        )
    notes = [
        f"{brief.posts:,} posts"
        + (f" by {_count_plural(brief.participants, 'people')}" if brief.named else "")
        + f" ({brief.language}); quoted text is credited to the people who wrote it."
    ]
    if brief.note:
        notes.append(brief.note)
    if brief.sides_note:
        notes.append(brief.sides_note)
    if not sections:
        notes.append("No post has words of its own to brief.")
    return Answer(
        title=f"Brief — {thread.title}",
        sections=tuple(sections),
        notes=tuple(notes),
        link=thread.source_url,
    )


def _count_plural(n: int, noun: str) -> str:
    """ "1 person", "3 people": `noun` given in the plural (the brief's counts)."""
    singular = {"people": "person", "posts": "post"}.get(noun, noun)
    return f"{n:,} {singular if n == 1 else noun}"


def visible_length(answer: Answer) -> int:
    """Characters a reader sees in the answer as plain text: title, headings, lines with
    their attribution and detail, notes (links not counted: chat clients hide them)."""
    size = len(answer.title)
    for section in answer.sections:
        size += len(section.heading or "") + 2
        for line in section.lines:
            size += len(line.text) + 3
            if line.ref is not None:
                size += len(line.ref.label) + 3
            if line.detail:
                size += len(line.detail) + 3
    return size + sum(len(note) + 2 for note in answer.notes)


FIT_CLIPS = (None, 300, 240, 200, 170, 140, 120, 100, 80)
"""Line lengths `fit_answer` tries, longest first, before it drops lines."""


def fit_answer(
    answer: Answer,
    limit: int = BRIEF_CHARS,
    measure: Callable[[Answer], int] = visible_length,
) -> Answer:
    """The answer cut until `measure` says it fits `limit`: first every line is shortened
    (at a word, with "…"), then lines are dropped, one at a time from the section that has
    most, later sections first among equals, keeping each section's first line as long as
    possible. The notes stay: they say what the answer is."""
    for clip in FIT_CLIPS:
        cut = _clipped(answer, clip)
        if measure(cut) <= limit:
            return cut
    sections = [list(section.lines) for section in cut.sections]
    while measure(_with_lines(cut, sections)) > limit and any(sections):
        longest = max(range(len(sections)), key=lambda k: (len(sections[k]), k))
        sections[longest].pop()
    return _with_lines(cut, sections)


def _clipped(answer: Answer, clip: int | None) -> Answer:
    if clip is None:
        return answer
    sections = tuple(
        Section(s.heading, tuple(_clip_line(line, clip) for line in s.lines))
        for s in answer.sections
    )
    return Answer(answer.title, sections, answer.notes, answer.link)


def _with_lines(answer: Answer, lines: list[list[Line]]) -> Answer:
    sections = tuple(
        Section(s.heading, tuple(kept))
        for s, kept in zip(answer.sections, lines, strict=True)
        if kept
    )
    return Answer(answer.title, sections, answer.notes, answer.link)


def stance_answer(
    thread: StoredThread,
    report: StanceReport,
    post_urls: Mapping[int, str] | None = None,
    ask_about_one: str = "Ask about one person with --author NAME.",
) -> Answer:
    """The sides first, in one chat message; one person's detail when the report is about
    one person. `post_urls` lets reply and topic lines link to their post; `ask_about_one`
    is the adapter's own wording of how to ask about one person."""
    urls = post_urls or {}
    if report.person is not None and report.participants:
        return _person_answer(thread, report, urls)
    sides = report.sides
    sections: list[Section] = [Section(None, (Line(sides_line(sides, report.per_post)),))]
    if report.topic is not None:  # what was asked about, before the sides' key points
        sections.append(_topic_section(thread, report, urls))
    if sides.splits:
        for side in sides.sides:
            points = tuple(
                Line(
                    _clip(point.text, KEY_POINT_CHARS),
                    Ref(point.post, point.author, _post_url(thread, point.post, point.url)),
                )
                for point in side.key_points
            )
            heading = f"Side {side.name}: what it argues (confidence {side.confidence:.2f})"
            sections.append(Section(heading, points or (Line("(no sentence of its own)"),)))
    notes = [n for n in (report.note,) if n]
    if sides.splits:
        notes.append(_split_note(sides.confidence))
    notes.append(ask_about_one)
    title = f"Sides — {thread.title}" + (f" (topic: {report.topic})" if report.topic else "")
    answer = Answer(
        title=title, sections=tuple(sections), notes=tuple(notes), link=thread.source_url
    )
    return _within(answer, STANCE_CHARS)


def _split_note(confidence: float) -> str:
    if confidence >= 0.6:
        how = "a clear split"
    elif confidence >= 0.35:
        how = "a split with some people on the fence"
    else:
        how = "a weak split: much of the thread does not argue, or argues across the sides"
    return f"Split confidence {confidence:.2f}, {how} (1 = every reply fits the sides)."


def sides_line(sides: Sides, per_post: bool = False) -> str:
    """ "Side A (5 people): … · Side B (3): … · not placed: 4", or why there are no sides
    (a thread brief can lead with it too)."""
    if not sides.splits:
        return sides.note or "This thread does not split into sides."
    who = "posts" if per_post else "people"
    parts = []
    for number, side in enumerate(sides.sides):
        count = len(side.members)
        label = f"{count} {who}" if number == 0 else str(count)
        parts.append(f"Side {side.name} ({label}): {_names(side.members)}")
    if sides.unplaced:
        parts.append(f"not placed: {len(sides.unplaced)}")
    return " · ".join(parts)


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    return shown + (f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else "")


def _topic_section(thread: StoredThread, report: StanceReport, urls: Mapping[int, str]) -> Section:
    heading = f"About “{report.topic}”"
    if not report.topic_matches:
        return Section(heading, (Line(f"Nobody in this thread wrote about “{report.topic}”."),))
    side_of = {p.participant: p.side for p in report.sides.placements}
    lines: list[Line] = []
    for side in (*("A", "B"), None):
        found = [
            (p, ts) for p in report.participants if side_of.get(p.author) == side
            for ts in p.topic_sentences
        ]  # fmt: skip
        for person, sentence in found[:TOPIC_LINES]:
            who = "" if report.per_post else person.author
            tag = f"Side {side}" if side else "not placed"
            ref = Ref(
                sentence.post,
                who or None,
                _post_url(thread, sentence.post, urls.get(sentence.post)),
            )
            lines.append(Line(f"[{tag}] {_clip(sentence.text, 160)}", ref, sentence.polarity))
    return Section(heading, tuple(lines))


def _person_answer(thread: StoredThread, report: StanceReport, urls: Mapping[int, str]) -> Answer:
    p = report.participants[0]
    if p.side is not None:
        where = f"Side {p.side} (confidence {p.side_confidence:.2f})"
    elif report.sides.splits:
        where = "not placed on a side"
    else:
        where = "no sides in this thread"
    lines: list[Line] = [
        Line(
            f"{where} · {len(p.posts)} post{'s' if len(p.posts) != 1 else ''}, {p.words} own words"
            + _people(" · quotes ", p.quotes)
            + _people(" · quoted by ", p.quoted_by)
        )
    ]
    for kp in p.key_points:
        ref = Ref(kp.post, None if report.per_post else p.author, kp.url)
        lines.append(Line(_clip(kp.text, KEY_POINT_CHARS), ref))
    labelled = [r for r in p.replies if r.label != "unclear"]
    for r in labelled[:REPLIES_SHOWN]:
        target = r.to_author or (f"#{r.to_post}" if r.to_post else "an outside source")
        verb = "agrees with" if r.label == "agree" else "disagrees with"
        lines.append(
            Line(
                f"{verb} {target}: “{_clip(r.reply_excerpt, 140)}”",
                Ref(r.from_post, None, _post_url(thread, r.from_post, urls.get(r.from_post))),
                detail=f"cue: {r.cue}, confidence {r.confidence:.2f}" if r.cue else None,
            )
        )
    unclear = len(p.replies) - len(labelled)
    hidden = max(0, len(labelled) - REPLIES_SHOWN)
    if unclear or hidden:
        counted = [
            f"{unclear} unclear" if unclear else "",
            f"{hidden} more labelled" if hidden else "",
        ]
        lines.append(Line(f"Replies not shown: {', '.join(c for c in counted if c)}."))
    for ts in p.topic_sentences[:TOPIC_LINES]:
        ref = Ref(ts.post, None, _post_url(thread, ts.post, urls.get(ts.post)))
        lines.append(Line(_clip(ts.text, 160), ref, detail=f"{ts.polarity} ({ts.compound:+.2f})"))
    sections = [Section(p.author, tuple(lines))]
    if report.topic is not None and not report.topic_matches:
        sections.append(
            Section(
                f"About “{report.topic}”",
                (Line(f"Nobody in this thread wrote about “{report.topic}”."),),
            )
        )
    notes = tuple(n for n in (report.note,) if n)
    answer = Answer(
        title=f"{p.author} — {thread.title}", sections=tuple(sections), notes=notes,
        link=thread.source_url,
    )  # fmt: skip
    return _within(answer, STANCE_CHARS)


def _clip(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    head = flat[: limit - 1]
    head = head[: head.rfind(" ")] if " " in head else head
    return head.rstrip(" ,;:") + "…"


def answer_chars(answer: Answer) -> int:
    """About what an answer shows, links included (a platform adds a little framing)."""
    total = len(answer.title) + len(answer.link or "") + sum(len(n) + 1 for n in answer.notes)
    for section in answer.sections:
        total += len(section.heading or "") + 2
        for line in section.lines:
            total += len(line.text) + len(line.detail or "") + 4
            if line.ref is not None:
                total += len(line.ref.label) + len(line.ref.url or "") + 6
    return total


def _within(answer: Answer, limit: int) -> Answer:
    """Drop the last lines of the longest sections until the answer fits in `limit`."""
    while answer_chars(answer) > limit:
        sections = list(answer.sections)
        longest = max(range(len(sections)), key=lambda i: len(sections[i].lines))
        section = sections[longest]
        if len(section.lines) > 1:
            sections[longest] = Section(section.heading, section.lines[:-1])
        else:  # one line a section: shorten the longest line
            index = max(
                (i for i in range(len(sections)) if sections[i].lines),
                key=lambda i: len(sections[i].lines[0].text),
            )
            line = sections[index].lines[0]
            text = _clip(line.text, max(60, len(line.text) - (answer_chars(answer) - limit)))
            if text == line.text:
                break
            sections[index] = Section(sections[index].heading, (Line(text, line.ref, line.detail),))
        answer = Answer(answer.title, tuple(sections), answer.notes, answer.link)
    return answer


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
    if report.answered:
        sections.append(
            Section(
                "Who answered whom",
                tuple(
                    Line(
                        f"{p.from_label} answered {p.to_label} "
                        f"{p.count} time{'s' if p.count != 1 else ''}"
                        + (" (own post)" if p.is_self else "")
                    )
                    for p in report.answered
                ),
            )
        )
    if report.chain:
        sections.append(
            Section(
                f"Quotes and replies around post #{report.post}",
                tuple(_chain_line(node) for node in report.chain),
            )
        )
    return Answer(
        title=f"Quotes — {thread.title}",
        sections=tuple(sections),
        notes=report.notes,
        link=thread.source_url,
    )


def _chain_line(node: ChainNode) -> Line:
    """ "#13 alice quotes #11", indented under its parent; the post asked about is marked."""
    text = "  " * node.depth + f"#{node.post}" + (f" {node.author}" if node.author else "")
    if node.parent is not None:
        text += f" {node.relation} #{node.parent}"
    if node.also:
        text += (
            (" and" if node.parent is not None else " quotes or answers") + " " + _hashes(node.also)
        )
    if node.focus:
        text += "  ← this post"
    return Line(text)


def _hashes(numbers: Sequence[int]) -> str:
    shown = [f"#{n}" for n in numbers]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


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
