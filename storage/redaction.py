"""Removing a member's words: their posts, and quotes of them in other posts.

Used by an opt-out, and by a save that finds among its posts a member who opted out while
the ingest was running (the ingest read the opt-outs before fetching), so an opt-out holds
whatever the order in which processes commit.
"""

from __future__ import annotations

from bot.core.models import content_hash

from .dbapi import Connection

REDACTED = "[removed at the author's request]"


async def redact_member(conn: Connection, scope: str, user_id: str, now: str) -> tuple[int, int]:
    """Redact every stored post of `user_id` in `scope`, and quotes of their words in other
    posts; bump the touched threads' revisions. Returns (posts, threads) redacted."""
    text_hash = content_hash(REDACTED)
    rows = await conn.fetch(
        "SELECT p.id, p.thread_id, p.number, p.author FROM posts p"
        " JOIN threads t ON t.id = p.thread_id WHERE t.scope = $1 AND p.author_id = $2"
        f"{conn.for_update}",
        scope,
        user_id,
    )
    post_ids = [r[0] for r in rows]
    names = sorted({r[3] for r in rows if r[3]})
    if post_ids:
        await conn.executemany(
            "UPDATE posts SET text = $1, content_hash = $2, author = NULL,"
            " author_id = NULL, deleted = 1 WHERE id = $3",
            [(REDACTED, text_hash, pid) for pid in post_ids],
        )
        await conn.executemany(
            "DELETE FROM segments WHERE post_id = $1", [(pid,) for pid in post_ids]
        )
        await conn.executemany(
            "INSERT INTO segments (post_id, seq, paragraph, kind, text, explicit)"
            " VALUES ($1, 0, 0, 'own', $2, 0)",
            [(pid, REDACTED) for pid in post_ids],
        )
    # Quotes of the member's words in other posts are their words too: by the post
    # they quote, or by their name where the quoted post is not stored.
    quoting = await conn.fetch(
        "SELECT DISTINCT s.post_id FROM segments s JOIN posts p ON p.id = s.post_id"
        " JOIN threads t ON t.id = p.thread_id WHERE t.scope = $1 AND s.kind = 'quote'"
        " AND s.text <> $2 AND ("
        "   EXISTS (SELECT 1 FROM posts q WHERE q.thread_id = p.thread_id"
        f"           AND q.number = s.source_post AND q.id IN ({_marks(post_ids, 3)}))"
        f"   OR s.source_author IN ({_marks(names, 3 + len(post_ids))}))",
        scope,
        REDACTED,
        *post_ids,
        *names,
    )
    quoting_ids = [r[0] for r in quoting]
    for pid in quoting_ids:
        await conn.execute(
            "UPDATE segments SET text = $1, source_author = NULL WHERE post_id = $2"
            " AND kind = 'quote' AND ("
            "   source_post IN (SELECT q.number FROM posts q JOIN posts me"
            "     ON me.thread_id = q.thread_id WHERE me.id = $2 AND q.id IN"
            f"    ({_marks(post_ids, 3)}))"
            f"   OR source_author IN ({_marks(names, 3 + len(post_ids))}))",
            REDACTED,
            pid,
            *post_ids,
            *names,
        )
        await _rebuild_text(conn, pid)
    touched = await conn.fetch(
        f"SELECT DISTINCT thread_id FROM posts WHERE id IN ({_marks(post_ids + quoting_ids, 1)})",
        *post_ids,
        *quoting_ids,
    )
    thread_ids = sorted(r[0] for r in touched)
    for thread_id in thread_ids:
        await conn.execute(
            "UPDATE threads SET revision = revision + 1, updated_at = $1 WHERE id = $2",
            now,
            thread_id,
        )
        await conn.execute("DELETE FROM analysis_cache WHERE thread_id = $1", thread_id)
    return len(post_ids), len(thread_ids)


def _marks(values: list[object], first: int) -> str:
    """``$first, $first+1, …`` for an IN list of `values` (NULL for none: matches nothing)."""
    return ", ".join(f"${first + i}" for i in range(len(values))) or "NULL"


async def _rebuild_text(conn: Connection, post_id: int) -> None:
    """A post's stored text from its (redacted) segments: paragraphs by line, as stored."""
    segs = await conn.fetch(
        "SELECT paragraph, text FROM segments WHERE post_id = $1 ORDER BY seq", post_id
    )
    paragraphs: dict[int, list[str]] = {}
    for paragraph, text in segs:
        paragraphs.setdefault(paragraph, []).append(text)
    text = "\n".join(" ".join(parts) for _, parts in sorted(paragraphs.items()))
    await conn.execute(
        "UPDATE posts SET text = $1, content_hash = $2 WHERE id = $3",
        text,
        content_hash(text),
        post_id,
    )
