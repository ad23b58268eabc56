"""Named queries that turn rows into the dataclasses of bot.core.models.

Rule: every call that reads or writes threads (or anything hanging off a thread) takes
a `scope` and matches it in SQL. There is no lookup by thread id alone, so one guild,
room or the local CLI can never see or touch another's threads.

Reads see the last committed data (one snapshot where several must agree); writes run in
one Database.transaction() each, so a save is all or nothing. The SQL is one text for
SQLite and PostgreSQL (storage/dbapi.py).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.core.models import (
    AnalysedPost,
    AnalysedThread,
    QuoteEdge,
    ReplyEdge,
    Segment,
    StoredPost,
    StoredThread,
    validate_scope,
)
from bot.errors import NotFound, UserError

from .dbapi import Connection, Database, Row, is_unique_violation, scope_lock
from .redaction import redact_member

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- result shapes that are storage's own ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class SaveResult:
    """What a save did: `added`/`updated`/`unchanged` count posts of the copy given."""

    thread: StoredThread
    created: bool
    added: int
    updated: int
    unchanged: int


# --- conversions -----------------------------------------------------------------------------


def to_db_time(value: datetime | None) -> str | None:
    """ISO-8601 UTC text. A naive datetime is taken to be UTC already."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def from_db_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _required_time(value: str) -> datetime:
    parsed = from_db_time(value)
    assert parsed is not None
    return parsed


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"invalid thread name {name!r}")
    return name


def _not_found(name: str) -> NotFound:
    return NotFound(f"No thread named {name!r} here.")


class NameTaken(UserError):
    """Another ingest stored a thread under this name first; nothing of this one was kept."""


def _taken(name: str) -> NameTaken:
    return NameTaken(
        f"another ingest stored a thread as “{name}” at the same moment; nothing of this one "
        "was stored. Run it again to see what is stored now, or pick another name with --name."
    )


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


_THREAD_COLUMNS = """
    t.id, t.scope, t.name, t.title, t.source_kind, t.source_url, t.language, t.revision,
    t.created_at, t.updated_at, t.resume_page, t.forum_numbers,
    (SELECT count(*) FROM posts p WHERE p.thread_id = t.id) AS post_count,
    (SELECT count(DISTINCT p.author) FROM posts p WHERE p.thread_id = t.id) AS author_count
"""


def _thread_from_row(row: Row) -> StoredThread:
    return StoredThread(
        id=row["id"],
        scope=row["scope"],
        name=row["name"],
        title=row["title"],
        source_kind=row["source_kind"],
        source_url=row["source_url"],
        language=row["language"],
        revision=row["revision"],
        post_count=row["post_count"],
        author_count=row["author_count"],
        created_at=_required_time(row["created_at"]),
        updated_at=_required_time(row["updated_at"]),
        resume_page=row["resume_page"],
        forum_numbers=bool(row["forum_numbers"]),
    )


SegmentRow = tuple[int, str, str, int | None, str | None, int]  # paragraph..explicit
PostFields = tuple[
    str | None, str | None, str | None, str | None, str, str, str | None, int | None, int,
    int | None,
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class _PostRow:
    """A post as the database holds it, for comparing and writing."""

    number: int
    fields: PostFields
    # source_id, author, posted_at, url, text, content_hash, author_id, reply_to, deleted,
    # forum_number
    segments: tuple[SegmentRow, ...]
    likes: int | None = field(default=None, compare=False)
    """Likes or votes: they change without the post changing (see ThreadRepository.save)."""


BIG_SAVE_POSTS = 2_000
"""From this many posts, a save builds its rows in a worker thread: 100,000 posts take
about a second of Python that the event loop should spend answering other commands."""


async def _off_loop(count: int, func: Callable[..., Any], /, *args: Any) -> Any:
    if count >= BIG_SAVE_POSTS:
        return await asyncio.to_thread(func, *args)
    return func(*args)


def _post_rows(posts: Sequence[AnalysedPost]) -> list[_PostRow]:
    return [_post_row(p) for p in posts]


def _post_fields(post: AnalysedPost) -> PostFields:
    """The stored columns of a post between its number and its likes (_POST_COLUMNS)."""
    return (
        post.source_id,
        post.author,
        to_db_time(post.time),
        post.url,
        post.text,
        post.content_hash,
        post.author_id,
        post.reply_to,
        int(bool(post.deleted)),
        post.forum_number,
    )


def _post_row(post: AnalysedPost) -> _PostRow:
    return _PostRow(
        number=post.number,
        fields=_post_fields(post),
        segments=tuple(  # a list first: a generator costs a frame switch a segment
            [  # _SEGMENT_COLUMNS after post_id and seq, as _segment_params writes them
                (s.paragraph, s.kind, s.text, s.source_post, s.source_author, int(s.explicit))
                for s in post.segments
            ]
        ),
        likes=post.likes,
    )


def _segment_from_row(row: Sequence[Any]) -> Segment:
    paragraph, kind, text, source_post, source_author, explicit = row
    return Segment(
        kind=kind,
        text=text,
        paragraph=paragraph,
        source_post=source_post,
        source_author=source_author,
        explicit=bool(explicit),
    )


_POST_COLUMNS = (
    "thread_id", "number", "source_id", "author", "posted_at", "url", "text", "content_hash",
    "author_id", "reply_to", "deleted", "forum_number", "likes",
)  # fmt: skip
_SEGMENT_COLUMNS = (
    "post_id",
    "seq",
    "paragraph",
    "kind",
    "text",
    "source_post",
    "source_author",
    "explicit",
)


def _post_params(thread_id: int, new: Sequence[AnalysedPost]) -> list[tuple[Any, ...]]:
    """The INSERT rows of new posts, made straight from the posts (no _PostRow between:
    at 100,000 posts that halves the Python time of a first save)."""
    return [(thread_id, p.number, *_post_fields(p), p.likes) for p in new]


def _segment_params(
    changed: list[tuple[int, _PostRow]], new: list[tuple[int, AnalysedPost]]
) -> list[tuple[Any, ...]]:
    """The INSERT rows of the segments of changed posts (from their rows) and of new posts
    (straight from the posts), each as (post id, seq, paragraph ... explicit)."""
    params = [
        (post_id, seq, *seg) for post_id, row in changed for seq, seg in enumerate(row.segments)
    ]
    params += [  # as _post_row makes them, without the tuple in between
        (
            post_id,
            seq,
            s.paragraph,
            s.kind,
            s.text,
            s.source_post,
            s.source_author,
            int(s.explicit),
        )
        for post_id, post in new
        for seq, s in enumerate(post.segments)
    ]
    return params


async def _write_posts(
    conn: Connection,
    thread_id: int,
    new: Sequence[AnalysedPost],
    changed: list[tuple[int, _PostRow]],
) -> None:
    """Insert new posts and overwrite changed ones (by post id), replacing their segments.

    Batched with executemany: a few round trips to the worker thread instead of several per
    post (5000 new posts: ~0.2 s instead of ~1.2 s).
    """
    if changed:
        await conn.executemany(
            "UPDATE posts SET source_id = $1, author = $2, posted_at = $3, url = $4, text = $5,"
            " content_hash = $6, author_id = $7, reply_to = $8, deleted = $9,"
            " forum_number = $10, likes = $11 WHERE id = $12",
            [(*row.fields, row.likes, post_id) for post_id, row in changed],
        )
        await conn.executemany(
            "DELETE FROM segments WHERE post_id = $1", [(post_id,) for post_id, _ in changed]
        )
    written: list[tuple[int, AnalysedPost]] = []
    if new:
        await conn.insert_rows(
            "posts", _POST_COLUMNS, await _off_loop(len(new), _post_params, thread_id, new)
        )
        ids = await conn.fetch_tuples(
            "SELECT number, id FROM posts WHERE thread_id = $1", thread_id
        )
        post_ids: dict[int, int] = {number: post_id for number, post_id in ids}
        written = [(post_ids[post.number], post) for post in new]
    segments = await _off_loop(len(changed) + len(new), _segment_params, changed, written)
    if segments:
        await conn.insert_rows("segments", _SEGMENT_COLUMNS, segments)


# --- threads -----------------------------------------------------------------------------------


class ThreadRepository:
    """Threads, their posts, segments and quote edges; always within one scope."""

    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    async def get(self, scope: str, name: str) -> StoredThread | None:
        validate_scope(scope)
        _check_name(name)
        row = await self._db.fetchrow(
            f"SELECT {_THREAD_COLUMNS} FROM threads t WHERE t.scope = $1 AND t.name = $2",
            scope,
            name,
        )
        return None if row is None else _thread_from_row(row)

    async def list(self, scope: str) -> list[StoredThread]:
        """Every thread of the scope, ordered by name (case-insensitively, as people read)."""
        validate_scope(scope)
        rows = await self._db.fetch(
            f"SELECT {_THREAD_COLUMNS} FROM threads t WHERE t.scope = $1"
            " ORDER BY lower(t.name), t.name",
            scope,
        )
        return [_thread_from_row(r) for r in rows]

    async def names(self, scope: str, prefix: str = "", limit: int = 25) -> list[str]:
        """Thread names starting with `prefix` (ASCII case-insensitive), for autocomplete."""
        validate_scope(scope)
        if limit <= 0:
            return []
        # lower() folds ASCII only on both backends (SQLite; "C" collation on PostgreSQL).
        pattern = re.sub(r"([\\%_])", r"\\\1", prefix.translate(_ASCII_LOWER)) + "%"
        rows = await self._db.fetch(
            "SELECT name FROM threads WHERE scope = $1 AND lower(name) LIKE $2 ESCAPE '\\'"
            " ORDER BY lower(name), name LIMIT $3",
            scope,
            pattern,
            limit,
        )
        return [r[0] for r in rows]

    async def find_by_source_url(self, scope: str, url: str) -> StoredThread | None:
        """The oldest thread of the scope ingested from `url`, to spot re-ingests."""
        validate_scope(scope)
        row = await self._db.fetchrow(
            f"SELECT {_THREAD_COLUMNS} FROM threads t WHERE t.scope = $1 AND t.source_url = $2"
            " ORDER BY t.id LIMIT 1",
            scope,
            url,
        )
        return None if row is None else _thread_from_row(row)

    async def posts(
        self,
        scope: str,
        name: str,
        first: int | None = None,
        last: int | None = None,
        *,
        text: bool = True,
    ) -> list[StoredPost]:
        """Posts numbered first..last (inclusive, open ends allowed) with their segments.

        `text=False` leaves each post's whole text and its hash empty: the analyses read
        the segments only, and a 100,000-post thread's text is 100 MB read for nothing.
        Raises NotFound when the scope has no such thread.
        """
        validate_scope(scope)
        _check_name(name)
        lo = 1 if first is None else first
        hi = -1 if last is None else last  # -1: no upper bound
        where = "p.thread_id = $1 AND p.number >= $2 AND ($3 < 0 OR p.number <= $3)"
        async with self._db.snapshot() as conn:
            thread_id = await _thread_id(conn, scope, name)
            whole = "p.text, p.content_hash" if text else "'', ''"
            post_rows = await conn.fetch_tuples(
                f"SELECT p.id, p.number, {whole}, p.author, p.source_id,"
                " p.posted_at, p.url, p.author_id, p.reply_to, p.deleted, p.forum_number,"
                " p.likes"
                f" FROM posts p WHERE {where} ORDER BY p.number",
                thread_id,
                lo,
                hi,
            )
            # IN (…) rather than a join: SQLite then walks the segments' primary key in
            # order (0.5 s instead of 0.9 s for 340,000 segments).
            seg_rows = await conn.fetch_tuples(
                "SELECT s.post_id, s.paragraph, s.kind, s.text, s.source_post, s.source_author,"
                f" s.explicit FROM segments s WHERE s.post_id IN (SELECT p.id FROM posts p"
                f" WHERE {where}) ORDER BY s.post_id, s.seq",
                thread_id,
                lo,
                hi,
            )
        segments: dict[int, list[Segment]] = {}
        for post_id, paragraph, kind, text, source_post, source_author, explicit in seg_rows:
            found = segments.get(post_id)
            if found is None:
                found = segments[post_id] = []
            found.append(Segment(kind, text, paragraph, source_post, source_author, bool(explicit)))
        del seg_rows
        empty: tuple[Segment, ...] = ()
        return [
            StoredPost(
                r[1],
                r[2],
                r[3],
                tuple(segments.get(r[0], empty)),
                r[4],
                r[5],
                None if r[6] is None else datetime.fromisoformat(r[6]),
                r[7],
                r[8],
                r[9],
                bool(r[10]),
                r[12],  # likes
                r[11],  # forum_number
            )
            for r in post_rows
        ]

    async def post(self, scope: str, name: str, number: int) -> StoredPost | None:
        """One post, or None if the thread has no such number (NotFound if no thread)."""
        found = await self.posts(scope, name, number, number)
        return found[0] if found else None

    async def post_urls(self, scope: str, name: str) -> dict[int, str]:
        """Each post's link, for answers that cite posts without needing their text (reading
        10,000 posts with their segments takes ~0.4 s; this takes a few ms)."""
        rows = await self._thread_rows(
            scope,
            name,
            "SELECT number, url FROM posts WHERE thread_id = $1 AND url IS NOT NULL"
            " AND url != '' ORDER BY number",
        )
        return {r[0]: r[1] for r in rows}

    async def numbering(self, scope: str, name: str) -> list[tuple[int, int | None, bool]]:
        """(place, forum number, deleted) of every post in thread order: how a thread's
        posts are numbered, without reading them (a few ms for 10,000 posts)."""
        rows = await self._thread_rows(
            scope,
            name,
            "SELECT number, forum_number, deleted FROM posts WHERE thread_id = $1 ORDER BY number",
        )
        return [(r[0], r[1], bool(r[2])) for r in rows]

    async def news_after(
        self, scope: str, name: str, after: int, upto: int | None = None
    ) -> tuple[int, int]:
        """(last post number after `after` (at most `upto`), or 0; how many posts after
        `after` up to that one still stand). A catch-up checks this before reading posts."""
        cap = -1 if upto is None else upto
        rows = await self._thread_rows(
            scope,
            name,
            "SELECT COALESCE(MAX(number), 0) FROM posts WHERE thread_id = $1 AND number > $2"
            " AND ($3 < 0 OR number <= $3)",
            after,
            cap,
        )
        last = int(rows[0][0])
        if last <= after:
            return 0, 0
        rows = await self._thread_rows(
            scope,
            name,
            "SELECT COUNT(*) FROM posts WHERE thread_id = $1 AND number > $2 AND number <= $3"
            " AND deleted = 0",
            after,
            last,
        )
        return last, int(rows[0][0])

    async def source_ids(self, scope: str, name: str) -> set[str]:
        """The forum/chat ids of the stored posts (what a refresh already has)."""
        rows = await self._thread_rows(
            scope,
            name,
            "SELECT source_id FROM posts WHERE thread_id = $1 AND source_id IS NOT NULL",
        )
        return {r[0] for r in rows}

    async def source_numbers(self, scope: str, name: str) -> dict[str, int]:
        """Source id → the forum's number, of the stored posts that stand and have both."""
        rows = await self._thread_rows(
            scope,
            name,
            "SELECT source_id, forum_number FROM posts WHERE thread_id = $1 AND deleted = 0"
            " AND source_id IS NOT NULL AND forum_number IS NOT NULL",
        )
        return {r[0]: int(r[1]) for r in rows}

    async def edges(self, scope: str, name: str) -> list[QuoteEdge]:
        """Who quoted whom, ordered by (from_post, to_post). NotFound if no thread."""
        rows = await self._thread_rows(
            scope,
            name,
            "SELECT from_post, to_post, count FROM quote_edges WHERE thread_id = $1"
            " ORDER BY from_post, to_post",
        )
        return [QuoteEdge(from_post=r[0], to_post=r[1], count=r[2]) for r in rows]

    async def replies(self, scope: str, name: str) -> list[ReplyEdge]:
        """Who answered whom, as the source's reply structure says (posts.reply_to),
        ordered by the answering post. NotFound if no thread."""
        rows = await self._thread_rows(
            scope,
            name,
            "SELECT number, reply_to FROM posts WHERE thread_id = $1 AND reply_to IS NOT NULL"
            " AND reply_to <> number ORDER BY number",
        )
        return [ReplyEdge(from_post=r[0], to_post=r[1]) for r in rows]

    async def _thread_rows(self, scope: str, name: str, sql: str, *params: Any) -> list[Any]:
        """Rows of `sql`, whose first parameter ($1) is the thread's id; NotFound if no thread."""
        validate_scope(scope)
        _check_name(name)
        async with self._db.snapshot() as conn:
            thread_id = await _thread_id(conn, scope, name)
            return await conn.fetch(sql, thread_id, *params)

    async def save(
        self, scope: str, name: str, thread: AnalysedThread, *, expect: int | None = None
    ) -> SaveResult:
        """Store `thread` under `name` in one transaction: all of it, or nothing.

        Posts are matched by number: new ones are added, changed ones overwritten,
        identical ones left alone, and stored posts missing from a shorter copy are kept.
        The revision goes up only when something changed, so saving the same copy twice
        is a no-op. Quote edges are recomputed from the stored segments (thread.edges is
        not trusted) so the two can never disagree.

        `expect` is what the caller read before analysing: 0 for "the name was free", a
        revision for "the thread was at this revision". When another ingest (in this or
        another process) got there first, NameTaken is raised and nothing is written, so
        two ingests under one name never mix.
        """
        validate_scope(scope)
        _check_name(name)
        numbers = [p.number for p in thread.posts]
        if len(set(numbers)) != len(numbers):
            raise ValueError("post numbers must be unique within a thread")
        if any(n < 1 for n in numbers):
            raise ValueError("post numbers start at 1")
        meta = (thread.title, thread.source_kind, thread.url, thread.language)
        # A thread new under its name (expect=0) is compared with nothing stored: its posts
        # are written straight from the analysis, and only a re-ingest builds the rows.
        rows = None if expect == 0 else await _off_loop(len(numbers), _post_rows, thread.posts)
        try:
            return await self._save(scope, name, thread, rows, meta, expect)
        except Exception as e:
            if is_unique_violation(e, "threads", ("scope", "name")):
                # PostgreSQL: another process inserted the name while this save ran.
                raise _taken(name) from e
            raise

    async def _save(
        self,
        scope: str,
        name: str,
        thread: AnalysedThread,
        rows: list[_PostRow] | None,
        meta: tuple[Any, ...],
        expect: int | None,
    ) -> SaveResult:
        async with self._db.transaction() as conn:
            # Shared: ingests run side by side; an opt-out or purge of the scope waits.
            await conn.lock(scope_lock(scope), shared=True)
            now = to_db_time(self._clock())
            existing_thread = await conn.fetchrow(
                "SELECT id, title, source_kind, source_url, language, revision FROM threads"
                f" WHERE scope = $1 AND name = $2{conn.for_update}",
                scope,
                name,
            )
            found_revision = 0 if existing_thread is None else existing_thread["revision"]
            if expect is not None and expect != found_revision:
                raise _taken(name)
            created = existing_thread is None
            if existing_thread is None:
                thread_id = await conn.fetchval(
                    "INSERT INTO threads (scope, name, title, source_kind, source_url, language,"
                    " revision, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)"
                    " RETURNING id",
                    scope,
                    name,
                    *meta,
                    now,
                )
                meta_changed = False
                new: Sequence[AnalysedPost] = thread.posts
                changed: list[tuple[int, _PostRow]] = []
                rescored: list[tuple[int | None, int]] = []
            else:
                thread_id = existing_thread["id"]
                meta_changed = tuple(existing_thread)[1:5] != meta
                stored = await _stored_posts(conn, thread_id)
                if rows is None:
                    rows = await _off_loop(len(thread.posts), _post_rows, thread.posts)
                new = [
                    p for p, row in zip(thread.posts, rows, strict=True) if row.number not in stored
                ]
                changed = [
                    (stored[row.number][0], row)
                    for row in rows
                    if row.number in stored and stored[row.number][1] != row
                ]
                # likes or votes moved, the post did not: stored, and the analyses are
                # redone (a new revision), but the post is not counted as edited
                rescored = [
                    (row.likes, stored[row.number][0])
                    for row in rows
                    if row.number in stored
                    and stored[row.number][1] == row
                    and stored[row.number][1].likes != row.likes
                ]
            added, updated = len(new), len(changed)
            if rescored:
                await conn.executemany("UPDATE posts SET likes = $1 WHERE id = $2", rescored)
            if added or updated:
                await _write_posts(conn, thread_id, new, changed)
                await _recompute_edges(conn, thread_id)
                await _decide_numbering(conn, thread_id)
                # A member who opted out after this ingest read the opt-outs: their words go.
                authors = {r.fields[6] for _, r in changed} | {p.author_id for p in new}
                await _redact_opted_out(conn, scope, authors, now)
            if not created and (meta_changed or added or updated or rescored):
                await conn.execute(
                    "UPDATE threads SET title = $1, source_kind = $2, source_url = $3,"
                    " language = $4, revision = revision + 1, updated_at = $5 WHERE id = $6",
                    *meta,
                    now,
                    thread_id,
                )
                # Results for older revisions can never be served again; don't keep them.
                await conn.execute("DELETE FROM analysis_cache WHERE thread_id = $1", thread_id)
            if thread.resume_page is not None:
                # Where to read from next time: bookkeeping, not content (no new revision).
                await conn.execute(
                    "UPDATE threads SET resume_page = $1 WHERE id = $2"
                    " AND (resume_page IS NULL OR resume_page <> $1)",
                    thread.resume_page,
                    thread_id,
                )
            result_row = await conn.fetchrow(
                f"SELECT {_THREAD_COLUMNS} FROM threads t WHERE t.id = $1 AND t.scope = $2",
                thread_id,
                scope,
            )
        return SaveResult(
            thread=_thread_from_row(result_row),
            created=created,
            added=added,
            updated=updated,
            unchanged=len(thread.posts) - added - updated,
        )

    async def forget(self, scope: str, name: str) -> bool:
        """Delete a thread with its posts, segments, edges, cache and schedules."""
        validate_scope(scope)
        _check_name(name)
        async with self._db.transaction() as conn:
            deleted = await conn.execute(
                "DELETE FROM threads WHERE scope = $1 AND name = $2", scope, name
            )
        return deleted > 0


async def _redact_opted_out(
    conn: Connection, scope: str, author_ids: set[str | None], now: str
) -> None:
    authors = {a for a in author_ids if a}
    if not authors:
        return
    found = await conn.fetch("SELECT user_id FROM opt_outs WHERE scope = $1", scope)
    for user_id in sorted(authors & {r[0] for r in found}):
        await redact_member(conn, scope, user_id, now)


async def _thread_id(conn: Connection, scope: str, name: str) -> int:
    """Resolve a name within its scope; the only way repository code gets a thread id."""
    found = await conn.fetchval(
        "SELECT id FROM threads WHERE scope = $1 AND name = $2", scope, name
    )
    if found is None:
        raise _not_found(name)
    return int(found)


async def _stored_posts(conn: Connection, thread_id: int) -> dict[int, tuple[int, _PostRow]]:
    """number → (post id, row) for comparison with a new copy."""
    post_rows = await conn.fetch(
        "SELECT id, number, source_id, author, posted_at, url, text, content_hash, author_id,"
        " reply_to, deleted, forum_number, likes FROM posts WHERE thread_id = $1",
        thread_id,
    )
    seg_rows = await conn.fetch(
        "SELECT s.post_id, s.paragraph, s.kind, s.text, s.source_post, s.source_author,"
        " s.explicit FROM segments s JOIN posts p ON p.id = s.post_id WHERE p.thread_id = $1"
        " ORDER BY s.post_id, s.seq",
        thread_id,
    )
    segments: dict[int, list[SegmentRow]] = {}
    for r in seg_rows:
        t = tuple(r)
        segments.setdefault(t[0], []).append(t[1:])  # type: ignore[arg-type]
    result: dict[int, tuple[int, _PostRow]] = {}
    for r in post_rows:
        t = tuple(r)
        row = _PostRow(
            number=t[1],
            fields=t[2:-1],  # type: ignore[arg-type]
            segments=tuple(segments.get(t[0], ())),  # type: ignore[arg-type]
            likes=t[-1],
        )
        result[row.number] = (t[0], row)
    return result


async def _decide_numbering(conn: Connection, thread_id: int) -> None:
    """Show the forum's post numbers when every post that stands has one and they rise
    with the thread; otherwise (a copy, a chat, numbers the forum has since shifted on
    pages not read again) the posts' places in the thread are shown."""
    rows = await conn.fetch_tuples(
        "SELECT forum_number FROM posts WHERE thread_id = $1 AND deleted = 0 ORDER BY number",
        thread_id,
    )
    numbers = [r[0] for r in rows]
    usable = bool(numbers) and all(
        n is not None and (i == 0 or n > numbers[i - 1]) for i, n in enumerate(numbers)
    )
    await conn.execute(
        "UPDATE threads SET forum_numbers = $1 WHERE id = $2", int(usable), thread_id
    )


async def _recompute_edges(conn: Connection, thread_id: int) -> None:
    """Quote edges are a pure function of what is stored: quote segments per (post, source).
    Replies are not quotes: they are read from posts.reply_to (`replies`)."""
    await conn.execute("DELETE FROM quote_edges WHERE thread_id = $1", thread_id)
    await conn.execute(
        "INSERT INTO quote_edges (thread_id, from_post, to_post, count)"
        " SELECT CAST($1 AS BIGINT), p.number, s.source_post, count(*)"
        " FROM segments s JOIN posts p ON p.id = s.post_id"
        " WHERE p.thread_id = $1 AND s.kind = 'quote' AND s.source_post IS NOT NULL"
        " GROUP BY p.number, s.source_post",
        thread_id,
    )


# --- analysis cache -------------------------------------------------------------------------


class AnalysisCacheRepository:
    """Cached analysis results (JSON text), valid only for the revision they were made from."""

    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    async def get(self, scope: str, name: str, kind: str, params_key: str) -> str | None:
        validate_scope(scope)
        _check_name(name)
        return await self._db.fetchval(
            "SELECT c.result_json FROM analysis_cache c JOIN threads t ON t.id = c.thread_id"
            " WHERE t.scope = $1 AND t.name = $2 AND c.kind = $3 AND c.params_key = $4"
            " AND c.revision = t.revision",
            scope,
            name,
            kind,
            params_key,
        )

    async def put(
        self,
        scope: str,
        name: str,
        kind: str,
        params_key: str,
        result_json: str | bytes,
        *,
        revision: int | None = None,
    ) -> bool:
        """Store a result for the thread's current revision.

        Pass `revision` (the StoredThread.revision the result was computed from) to avoid
        caching a result that a concurrent save has already made stale; then nothing is
        stored and False is returned. NotFound if the scope has no such thread.
        The result may be UTF-8 bytes (orjson's): SQLite stores them as the text they are
        (a 100,000-post stance document is 52 MB: turning it into a str and back took
        ~0.12 s); PostgreSQL is given the str.
        """
        validate_scope(scope)
        _check_name(name)
        document = "$5"
        if isinstance(result_json, bytes):
            if self._db.dialect == "sqlite":
                document = "CAST($5 AS TEXT)"  # the bytes as they are, stored as TEXT
            else:
                result_json = result_json.decode("utf-8")
        async with self._db.transaction() as conn:
            # Locked (PostgreSQL): a save of the thread cannot bump the revision meanwhile.
            row = await conn.fetchrow(
                f"SELECT id, revision FROM threads WHERE scope = $1 AND name = $2{conn.for_update}",
                scope,
                name,
            )
            if row is None:
                raise _not_found(name)
            thread_id, current = row[0], row[1]
            if revision is not None and revision != current:
                return False
            await conn.execute(
                "INSERT INTO analysis_cache (thread_id, kind, params_key, revision, result_json,"
                f" created_at) VALUES ($1, $2, $3, $4, {document}, $6)"
                " ON CONFLICT (thread_id, kind, params_key) DO UPDATE SET"
                " revision = excluded.revision, result_json = excluded.result_json,"
                " created_at = excluded.created_at",
                thread_id,
                kind,
                params_key,
                current,
                result_json,
                to_db_time(self._clock()),
            )
        return True
