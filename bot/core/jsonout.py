"""The documented JSON shapes of `--json` output (see docs/json.md); one place, so CLI,
tests and any bridge produce the same documents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot.core.models import StoredPost, StoredThread
from bot.core.quote_report import to_json as quote_report_json

if TYPE_CHECKING:
    from bot.core.brief import BriefLine, ThreadBrief
    from bot.core.chapters import ChapterSummary
    from bot.core.quote_report import QuoteReport
    from bot.core.stance import StanceReport
    from bot.core.summary import Summary


def thread_json(thread: StoredThread) -> dict[str, Any]:
    return {
        "name": thread.name,
        "title": thread.title,
        "posts": thread.post_count,
        "authors": thread.author_count,
        "source": thread.source_kind,
        "url": thread.source_url,
        "language": thread.language,
        "revision": thread.revision,
    }


def post_json(post: StoredPost) -> dict[str, Any]:
    return {
        "number": post.number,
        "author": post.author,
        "time": post.time.isoformat() if post.time else None,
        "url": post.url,
        "likes": post.likes,
        "text": post.text,
        "deleted": post.deleted,
    }


def segments_json(post: StoredPost) -> dict[str, Any]:
    return {
        "number": post.number,
        "author": post.author,
        "segments": [
            {
                "kind": s.kind,
                "text": s.text,
                "source_post": s.source_post,
                "source_author": s.source_author,
                "explicit": s.explicit,
            }
            for s in post.segments
        ],
    }


def summary_json(thread: StoredThread, summary: Summary) -> dict[str, Any]:
    return {
        "thread": thread.name,
        **_summary_body(summary),
    }


def chapters_json(thread: StoredThread, chapters: ChapterSummary) -> dict[str, Any]:
    """`summary --chapters`: one summary per run of posts."""
    return {
        "thread": thread.name,
        "algorithm": chapters.algorithm,
        "language": chapters.language,
        "considered_sentences": chapters.considered_sentences,
        "considered_posts": chapters.considered_posts,
        "note": chapters.note,
        "chapters": [
            {
                "first_post": c.first_post,
                "last_post": c.last_post,
                "posts": c.posts,
                "start": c.start,
                "end": c.end,
                **_summary_body(c.summary),
            }
            for c in chapters.chapters
        ],
    }


def _summary_body(summary: Summary) -> dict[str, Any]:
    return {
        "algorithm": summary.algorithm,
        "language": summary.language,
        "considered_sentences": summary.considered_sentences,
        "considered_posts": summary.considered_posts,
        "note": summary.note,
        "sentences": [
            {
                "post": s.post,
                "author": s.author,
                "url": s.url,
                "text": s.text,
                "score": s.score,
                "rank": s.rank,
            }
            for s in summary.sentences
        ],
    }


def _brief_line(line: BriefLine) -> dict[str, Any]:
    return {"post": line.post, "author": line.author, "url": line.url, "text": line.text}


def brief_json(thread: StoredThread, brief: ThreadBrief) -> dict[str, Any]:
    """The whole brief, before any cut to a chat message."""
    return {
        "thread": thread.name,
        "title": thread.title,
        "posts": brief.posts,
        "participants": brief.participants,
        "named": brief.named,
        "language": brief.language,
        "note": brief.note,
        "about": [_brief_line(b) for b in brief.about],
        "points": [{**_brief_line(p.line), "people": p.people} for p in brief.points],
        "most_quoted": [{**_brief_line(q.line), "people": q.people} for q in brief.most_quoted],
        "latest": [
            {
                **_brief_line(p.line),
                "answering": p.answering,
                "answering_author": p.answering_author,
            }
            for p in brief.latest
        ],
        "sides": [
            {
                "side": side.name,
                "people": side.people,
                "members": list(side.members),
                "point": None if side.point is None else _brief_line(side.point),
            }
            for side in brief.sides
        ],
        "sides_note": brief.sides_note,
        "sides_confidence": brief.sides_confidence,
    }


def quotes_json(
    thread: StoredThread, posts: Sequence[StoredPost], report: QuoteReport
) -> dict[str, Any]:
    doc = quote_report_json(report)
    return {"thread": thread.name, "posts": [segments_json(p) for p in posts], **doc}


def stance_json(thread: StoredThread, report: StanceReport) -> dict[str, Any]:
    sides = report.sides
    return {
        "thread": thread.name,
        "per_post": report.per_post,
        "note": report.note,
        "topic": report.topic,
        "topic_matches": report.topic_matches,
        "splits": sides.splits,
        "sides_note": sides.note,
        "confidence": sides.confidence,
        "sides": [
            {
                "name": side.name,
                "members": list(side.members),
                "key_points": [
                    {"post": k.post, "author": k.author, "text": k.text, "url": k.url}
                    for k in side.key_points
                ],
                "confidence": side.confidence,
            }
            for side in sides.sides
        ],
        "unplaced": list(sides.unplaced),
        "participants": [
            {
                "author": p.author,
                "side": p.side,
                "side_confidence": p.side_confidence,
                "posts": list(p.posts),
                "words": p.words,
                "key_points": [
                    {"post": k.post, "text": k.text, "url": k.url} for k in p.key_points
                ],
                "quotes": [{"who": who, "count": n} for who, n in p.quotes],
                "quoted_by": [{"who": who, "count": n} for who, n in p.quoted_by],
                "agrees_with": list(p.agrees_with),
                "disagrees_with": list(p.disagrees_with),
                "replies": [
                    {
                        "from_post": r.from_post,
                        "to_post": r.to_post,
                        "to_author": r.to_author,
                        "kind": r.kind,
                        "label": r.label,
                        "cue": r.cue,
                        "confidence": r.confidence,
                        "reply": r.reply_excerpt,
                        "quoted": r.quoted_text_excerpt,
                    }
                    for r in p.replies
                ],
                "topic_sentences": [
                    {"post": t.post, "text": t.text, "polarity": t.polarity, "compound": t.compound}
                    for t in p.topic_sentences
                ],
            }
            for p in report.participants
        ],
    }
