"""Hand-built AnalysedThread values and table dumps for the storage tests.

Built by hand on purpose: the storage tests must not depend on quotes.infer & co.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.models import AnalysedPost, AnalysedThread, QuoteEdge, Segment
from storage import Database

TABLES = ("threads", "posts", "segments", "quote_edges", "analysis_cache", "digest_schedules")
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def make_post(
    number: int, *, text: str | None = None, author: str | None = None, quotes: int | None = None
) -> AnalysedPost:
    """Post `number`; from post 2 on it quotes post `quotes` (default: the previous one)."""
    own = text if text is not None else f"Post {number} says something of its own."
    author = author if author is not None else f"user{number % 3}"
    segments: list[Segment] = []
    lines: list[str] = []
    target = quotes if quotes is not None else (number - 1 if number > 1 else None)
    if target:
        quoted = f"Quoted words of post {target}."
        segments.append(
            Segment(
                "quote",
                quoted,
                0,
                source_post=target,
                source_author=f"user{target % 3}",
                explicit=True,
            )
        )
        lines.append(quoted)
    segments.append(Segment("own", own, len(lines)))
    lines.append(own)
    return AnalysedPost(
        number=number,
        text="\n".join(lines),
        segments=tuple(segments),
        author=author,
        source_id=f"p{number}",
        time=T0 + timedelta(minutes=number),
        url=f"https://forum.example/t/1/post-{number}",
    )


def make_thread(
    n: int,
    *,
    title: str = "Trams or buses?",
    posts: tuple[AnalysedPost, ...] | None = None,
    **kw: Any,
) -> AnalysedThread:
    """A thread of posts 1..n (or the posts given); edges deliberately left empty."""
    return AnalysedThread(
        title=title,
        source_kind=kw.pop("source_kind", "text"),
        posts=posts if posts is not None else tuple(make_post(i) for i in range(1, n + 1)),
        edges=kw.pop("edges", ()),
        url=kw.pop("url", "https://forum.example/t/1"),
        language=kw.pop("language", "en"),
    )


def expected_edges(thread: AnalysedThread) -> list[QuoteEdge]:
    counts: dict[tuple[int, int], int] = {}
    for p in thread.posts:
        for s in p.segments:
            if s.kind == "quote" and s.source_post is not None:
                key = (p.number, s.source_post)
                counts[key] = counts.get(key, 0) + 1
    return [QuoteEdge(a, b, c) for (a, b), c in sorted(counts.items())]


async def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order, for before/after comparisons."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in TABLES:
        rows = await db.fetch(f"SELECT * FROM {table}")
        out[table] = sorted((tuple(r) for r in rows), key=repr)
    return out


def integrity_error(db: Database) -> type[Exception]:
    """The driver's exception for a broken constraint, for pytest.raises."""
    if db.dialect == "sqlite":
        import sqlite3

        return sqlite3.IntegrityError
    import asyncpg

    return asyncpg.IntegrityConstraintViolationError
