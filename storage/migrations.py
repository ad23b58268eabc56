"""Numbered, forward-only schema steps, the same on SQLite and PostgreSQL.

Each step runs in its own transaction together with its version bump, so a crash or error
mid-step leaves the database at the previous version, never half-upgraded. A database
whose version is newer than the newest step here is refused rather than guessed at. The
version lives in ``PRAGMA user_version`` on SQLite and in the one-row table
``threadwise_schema`` on PostgreSQL (the backends keep that bookkeeping: storage/sqlite.py,
storage/postgres.py).

A step is SQL text or an async callable. Where the DDL differs (SQLite's ``INTEGER PRIMARY
KEY``, ``WITHOUT ROWID``, ``GLOB`` and trigger bodies against PostgreSQL's identity
columns, regular expressions and trigger functions) a step carries PostgreSQL's own text in
`postgres`; the tables, columns, keys and constraints are the same. Times are ISO-8601 text
on both (fixed-width UTC where SQL compares them), so every query and answer is the same;
PostgreSQL compares those and thread names byte-wise (``COLLATE "C"``) as SQLite does.

To change the schema, append a step; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import NamedTuple

from .dbapi import Connection, Dialect

Step = str | Callable[[Connection], Awaitable[None]]


class Migration(NamedTuple):
    """One schema step: SQL text (several statements allowed) or an async callable.

    A callable runs inside the step's transaction and must not COMMIT or ROLLBACK; it can
    ask `conn.dialect` where the backends differ. `postgres` is PostgreSQL's own text (or
    callable) for the step; None runs `step` on both.
    """

    version: int
    description: str
    step: Step
    postgres: Step | None = None

    def step_for(self, dialect: Dialect) -> Step:
        return self.postgres if dialect == "postgresql" and self.postgres is not None else self.step


_V1_SCHEMA = """
CREATE TABLE threads (
    id          INTEGER PRIMARY KEY,
    scope       TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    title       TEXT    NOT NULL,
    source_kind TEXT    NOT NULL,
    source_url  TEXT,
    language    TEXT,
    revision    INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    UNIQUE (scope, name)
);
CREATE INDEX threads_scope_url ON threads (scope, source_url);

CREATE TABLE posts (
    id           INTEGER PRIMARY KEY,
    thread_id    INTEGER NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    number       INTEGER NOT NULL CHECK (number >= 1),
    source_id    TEXT,
    author       TEXT,
    posted_at    TEXT,
    url          TEXT,
    text         TEXT    NOT NULL,
    content_hash TEXT    NOT NULL,
    UNIQUE (thread_id, number)
);
CREATE INDEX posts_thread_author ON posts (thread_id, author);

CREATE TABLE segments (
    post_id       INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    paragraph     INTEGER NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('own', 'quote')),
    text          TEXT    NOT NULL,
    source_post   INTEGER,
    source_author TEXT,
    explicit      INTEGER NOT NULL DEFAULT 0 CHECK (explicit IN (0, 1)),
    PRIMARY KEY (post_id, seq)
) WITHOUT ROWID;

-- Derived from segments by ThreadRepository.save (never written independently).
CREATE TABLE quote_edges (
    thread_id INTEGER NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    from_post INTEGER NOT NULL,
    to_post   INTEGER NOT NULL,
    count     INTEGER NOT NULL CHECK (count >= 1),
    PRIMARY KEY (thread_id, from_post, to_post)
) WITHOUT ROWID;
CREATE INDEX quote_edges_to ON quote_edges (thread_id, to_post);

CREATE TABLE analysis_cache (
    thread_id   INTEGER NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL,
    params_key  TEXT    NOT NULL,
    revision    INTEGER NOT NULL,
    result_json TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (thread_id, kind, params_key)
);

CREATE TABLE digest_schedules (
    id             INTEGER PRIMARY KEY,
    scope          TEXT    NOT NULL,
    thread_id      INTEGER NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    target         TEXT    NOT NULL,
    time_of_day    TEXT    NOT NULL CHECK (time_of_day GLOB '[0-2][0-9]:[0-5][0-9]'),
    timezone       TEXT    NOT NULL,
    cadence        TEXT    NOT NULL DEFAULT 'daily' CHECK (cadence IN ('daily', 'weekly')),
    weekday        INTEGER CHECK (weekday BETWEEN 0 AND 6),
    last_post_seen INTEGER NOT NULL DEFAULT 0,
    last_run_at    TEXT,
    enabled        INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_by     TEXT,
    created_at     TEXT    NOT NULL
);
CREATE INDEX digest_schedules_scope ON digest_schedules (scope);
CREATE INDEX digest_schedules_thread ON digest_schedules (thread_id);
"""

_V2_CHAT_SOURCES = """
ALTER TABLE posts ADD COLUMN author_id TEXT;
ALTER TABLE posts ADD COLUMN reply_to INTEGER;
ALTER TABLE posts ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1));
CREATE INDEX posts_thread_author_id ON posts (thread_id, author_id);

-- Members who asked to be left out of chat-history ingests and digests (Discord /optout).
CREATE TABLE opt_outs (
    scope      TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (scope, user_id)
) WITHOUT ROWID;

-- A guild/room the bot left; its data is removed after a grace period, not at once.
CREATE TABLE scope_departures (
    scope   TEXT PRIMARY KEY,
    left_at TEXT NOT NULL
) WITHOUT ROWID;

-- Small adapter state that must survive restarts (e.g. the Matrix sync token).
CREATE TABLE bot_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"""

# Scheduled digests (issue 7): several threads per schedule with a mark each, cadences
# daily/weekly/every N hours/cron in an IANA zone, the next run time, a claim so two
# processes never send the same digest, a record of every delivery, and per-user read
# marks. SQLite cannot change a CHECK constraint, so digest_schedules is rebuilt: its rows
# keep their ids, and each old (thread_id, last_post_seen) becomes a thread link with that
# mark. Tables that point at the rebuilt table are created against the new table before
# the rename (RENAME updates their REFERENCES), so dropping the old table cascades nothing.
_V3_DIGESTS = """
CREATE TABLE digest_schedules_v3 (
    id            INTEGER PRIMARY KEY,
    scope         TEXT    NOT NULL,
    target        TEXT    NOT NULL,
    cadence       TEXT    NOT NULL DEFAULT 'daily'
                  CHECK (cadence IN ('daily', 'weekly', 'hours', 'cron')),
    time_of_day   TEXT    CHECK (time_of_day GLOB '[0-2][0-9]:[0-5][0-9]'),
    weekday       INTEGER CHECK (weekday BETWEEN 0 AND 6),
    every_hours   INTEGER CHECK (every_hours BETWEEN 1 AND 24),
    cron          TEXT,
    timezone      TEXT    NOT NULL,
    quiet_line    INTEGER NOT NULL DEFAULT 0 CHECK (quiet_line IN (0, 1)),
    enabled       INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    next_run_at   TEXT,
    last_run_at   TEXT,
    claimed_until TEXT,
    claim_token   TEXT,
    failures      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    created_by    TEXT,
    created_at    TEXT    NOT NULL,
    CHECK ((cadence = 'cron') = (cron IS NOT NULL)),
    CHECK ((cadence = 'cron') = (time_of_day IS NULL)),
    CHECK ((cadence = 'weekly') = (weekday IS NOT NULL)),
    CHECK ((cadence = 'hours') = (every_hours IS NOT NULL))
);
INSERT INTO digest_schedules_v3 (id, scope, target, cadence, time_of_day, weekday, timezone,
                                 enabled, last_run_at, created_by, created_at)
SELECT id, scope, target, cadence, time_of_day, weekday, timezone, enabled, last_run_at,
       created_by, created_at
FROM digest_schedules;

CREATE TABLE digest_schedule_threads (
    schedule_id INTEGER NOT NULL REFERENCES digest_schedules_v3 (id) ON DELETE CASCADE,
    thread_id   INTEGER NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    mark        INTEGER NOT NULL DEFAULT 0 CHECK (mark >= 0),
    PRIMARY KEY (schedule_id, thread_id)
) WITHOUT ROWID;
INSERT INTO digest_schedule_threads (schedule_id, thread_id, position, mark)
SELECT id, thread_id, 0, last_post_seen FROM digest_schedules;

-- One row per due slot of a schedule: (schedule_id, slot) is the idempotency key.
CREATE TABLE digest_runs (
    id          INTEGER PRIMARY KEY,
    schedule_id INTEGER NOT NULL REFERENCES digest_schedules_v3 (id) ON DELETE CASCADE,
    slot        TEXT    NOT NULL,
    status      TEXT    NOT NULL
                CHECK (status IN ('sending', 'sent', 'empty', 'failed', 'target_gone')),
    attempts    INTEGER NOT NULL DEFAULT 1,
    message_id  TEXT,
    new_posts   INTEGER NOT NULL DEFAULT 0,
    covered     TEXT    NOT NULL DEFAULT '{}',
    error       TEXT,
    started_at  TEXT    NOT NULL,
    finished_at TEXT,
    UNIQUE (schedule_id, slot)
);

DROP TABLE digest_schedules;
ALTER TABLE digest_schedules_v3 RENAME TO digest_schedules;
CREATE INDEX digest_schedules_scope ON digest_schedules (scope);
CREATE INDEX digest_schedules_due ON digest_schedules (enabled, next_run_at);
CREATE INDEX digest_schedule_threads_thread ON digest_schedule_threads (thread_id);

-- A schedule whose last thread is forgotten has nothing left to digest: remove it too.
CREATE TRIGGER digest_schedule_lost_last_thread AFTER DELETE ON digest_schedule_threads
WHEN NOT EXISTS (SELECT 1 FROM digest_schedule_threads WHERE schedule_id = OLD.schedule_id)
BEGIN
    DELETE FROM digest_schedules WHERE id = OLD.schedule_id;
END;

-- "Since I last read": the last post shown to a person, per thread.
CREATE TABLE read_marks (
    thread_id  INTEGER NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    user_id    TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    last_post  INTEGER NOT NULL CHECK (last_post >= 0),
    updated_at TEXT    NOT NULL,
    PRIMARY KEY (thread_id, user_id)
) WITHOUT ROWID;
CREATE INDEX read_marks_user ON read_marks (scope, user_id);
"""

_V5_COMMANDS = """
-- Commands a bot accepted, from acceptance until they are answered: after a crash or a
-- restart, the ones still 'running' are answered (or finished) at the next start.
CREATE TABLE bot_commands (
    id          INTEGER PRIMARY KEY,
    platform    TEXT    NOT NULL CHECK (platform IN ('matrix', 'discord')),
    account     TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    scope       TEXT    NOT NULL,
    what        TEXT    NOT NULL,
    reply_to    TEXT,
    status      TEXT    NOT NULL CHECK (status IN ('running', 'done', 'interrupted')),
    answered_at TEXT,
    accepted_at TEXT    NOT NULL,
    finished_at TEXT,
    UNIQUE (platform, account, key)
);
CREATE INDEX bot_commands_open ON bot_commands (platform, account, status);

-- Matrix messages from the moment they are composed until the homeserver has taken them,
-- so a rate limit, an outage or a restart delays an answer but never loses it.
CREATE TABLE matrix_outbox (
    id          INTEGER PRIMARY KEY,
    account     TEXT    NOT NULL,
    room_id     TEXT    NOT NULL,
    tx_id       TEXT    NOT NULL,
    content     TEXT    NOT NULL,
    command_id  INTEGER REFERENCES bot_commands (id) ON DELETE SET NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    created_at  TEXT    NOT NULL,
    UNIQUE (account, tx_id)
);
CREATE INDEX matrix_outbox_room ON matrix_outbox (account, room_id, id);
"""

# --- PostgreSQL's text of the steps whose DDL differs -----------------------------------------
# Same tables, columns, keys and checks. INTEGER PRIMARY KEY becomes an identity column
# (BIGINT, as SQLite's rowid is 64-bit), GLOB a regular expression, and the trigger a
# trigger function. Names and compared times are byte-ordered (COLLATE "C"), as in SQLite.

_V1_SCHEMA_PG = """
CREATE TABLE threads (
    id          BIGINT  GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    scope       TEXT    NOT NULL,
    name        TEXT    COLLATE "C" NOT NULL,
    title       TEXT    NOT NULL,
    source_kind TEXT    NOT NULL,
    source_url  TEXT,
    language    TEXT,
    revision    INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    UNIQUE (scope, name)
);
CREATE INDEX threads_scope_url ON threads (scope, source_url);

CREATE TABLE posts (
    id           BIGINT  GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    thread_id    BIGINT  NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    number       INTEGER NOT NULL CHECK (number >= 1),
    source_id    TEXT,
    author       TEXT,
    posted_at    TEXT,
    url          TEXT,
    text         TEXT    NOT NULL,
    content_hash TEXT    NOT NULL,
    UNIQUE (thread_id, number)
);
CREATE INDEX posts_thread_author ON posts (thread_id, author);

CREATE TABLE segments (
    post_id       BIGINT  NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    paragraph     INTEGER NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('own', 'quote')),
    text          TEXT    NOT NULL,
    source_post   INTEGER,
    source_author TEXT,
    explicit      INTEGER NOT NULL DEFAULT 0 CHECK (explicit IN (0, 1)),
    PRIMARY KEY (post_id, seq)
);

CREATE TABLE quote_edges (
    thread_id BIGINT  NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    from_post INTEGER NOT NULL,
    to_post   INTEGER NOT NULL,
    count     INTEGER NOT NULL CHECK (count >= 1),
    PRIMARY KEY (thread_id, from_post, to_post)
);
CREATE INDEX quote_edges_to ON quote_edges (thread_id, to_post);

CREATE TABLE analysis_cache (
    thread_id   BIGINT  NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL,
    params_key  TEXT    NOT NULL,
    revision    INTEGER NOT NULL,
    result_json TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (thread_id, kind, params_key)
);

CREATE TABLE digest_schedules (
    id             BIGINT  GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    scope          TEXT    NOT NULL,
    thread_id      BIGINT  NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    target         TEXT    NOT NULL,
    time_of_day    TEXT    NOT NULL CHECK (time_of_day ~ '^[0-2][0-9]:[0-5][0-9]$'),
    timezone       TEXT    NOT NULL,
    cadence        TEXT    NOT NULL DEFAULT 'daily' CHECK (cadence IN ('daily', 'weekly')),
    weekday        INTEGER CHECK (weekday BETWEEN 0 AND 6),
    last_post_seen INTEGER NOT NULL DEFAULT 0,
    last_run_at    TEXT,
    enabled        INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_by     TEXT,
    created_at     TEXT    NOT NULL
);
CREATE INDEX digest_schedules_scope ON digest_schedules (scope);
CREATE INDEX digest_schedules_thread ON digest_schedules (thread_id);
"""

_V2_CHAT_SOURCES_PG = """
ALTER TABLE posts ADD COLUMN author_id TEXT;
ALTER TABLE posts ADD COLUMN reply_to INTEGER;
ALTER TABLE posts ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1));
CREATE INDEX posts_thread_author_id ON posts (thread_id, author_id);

CREATE TABLE opt_outs (
    scope      TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (scope, user_id)
);

CREATE TABLE scope_departures (
    scope   TEXT PRIMARY KEY,
    left_at TEXT NOT NULL
);

CREATE TABLE bot_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# PostgreSQL could alter the constraints in place, but rebuilding as SQLite does keeps the
# two column orders identical (so `SELECT *` and the copy into PostgreSQL agree).
_V3_DIGESTS_PG = """
CREATE TABLE digest_schedules_v3 (
    id            BIGINT  GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    scope         TEXT    NOT NULL,
    target        TEXT    NOT NULL,
    cadence       TEXT    NOT NULL DEFAULT 'daily'
                  CHECK (cadence IN ('daily', 'weekly', 'hours', 'cron')),
    time_of_day   TEXT    CHECK (time_of_day ~ '^[0-2][0-9]:[0-5][0-9]$'),
    weekday       INTEGER CHECK (weekday BETWEEN 0 AND 6),
    every_hours   INTEGER CHECK (every_hours BETWEEN 1 AND 24),
    cron          TEXT,
    timezone      TEXT    NOT NULL,
    quiet_line    INTEGER NOT NULL DEFAULT 0 CHECK (quiet_line IN (0, 1)),
    enabled       INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    next_run_at   TEXT    COLLATE "C",
    last_run_at   TEXT,
    claimed_until TEXT    COLLATE "C",
    claim_token   TEXT,
    failures      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    created_by    TEXT,
    created_at    TEXT    NOT NULL,
    CHECK ((cadence = 'cron') = (cron IS NOT NULL)),
    CHECK ((cadence = 'cron') = (time_of_day IS NULL)),
    CHECK ((cadence = 'weekly') = (weekday IS NOT NULL)),
    CHECK ((cadence = 'hours') = (every_hours IS NOT NULL))
);
INSERT INTO digest_schedules_v3 (id, scope, target, cadence, time_of_day, weekday, timezone,
                                 enabled, last_run_at, created_by, created_at)
SELECT id, scope, target, cadence, time_of_day, weekday, timezone, enabled, last_run_at,
       created_by, created_at
FROM digest_schedules;
SELECT setval(pg_get_serial_sequence('digest_schedules_v3', 'id'),
              coalesce((SELECT max(id) FROM digest_schedules_v3), 0) + 1, false);

CREATE TABLE digest_schedule_threads (
    schedule_id BIGINT  NOT NULL REFERENCES digest_schedules_v3 (id) ON DELETE CASCADE,
    thread_id   BIGINT  NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    mark        INTEGER NOT NULL DEFAULT 0 CHECK (mark >= 0),
    PRIMARY KEY (schedule_id, thread_id)
);
INSERT INTO digest_schedule_threads (schedule_id, thread_id, position, mark)
SELECT id, thread_id, 0, last_post_seen FROM digest_schedules;

CREATE TABLE digest_runs (
    id          BIGINT  GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    schedule_id BIGINT  NOT NULL REFERENCES digest_schedules_v3 (id) ON DELETE CASCADE,
    slot        TEXT    COLLATE "C" NOT NULL,
    status      TEXT    NOT NULL
                CHECK (status IN ('sending', 'sent', 'empty', 'failed', 'target_gone')),
    attempts    INTEGER NOT NULL DEFAULT 1,
    message_id  TEXT,
    new_posts   INTEGER NOT NULL DEFAULT 0,
    covered     TEXT    NOT NULL DEFAULT '{}',
    error       TEXT,
    started_at  TEXT    NOT NULL,
    finished_at TEXT,
    UNIQUE (schedule_id, slot)
);

DROP TABLE digest_schedules;
ALTER TABLE digest_schedules_v3 RENAME TO digest_schedules;
CREATE INDEX digest_schedules_scope ON digest_schedules (scope);
CREATE INDEX digest_schedules_due ON digest_schedules (enabled, next_run_at);
CREATE INDEX digest_schedule_threads_thread ON digest_schedule_threads (thread_id);

CREATE FUNCTION digest_schedule_lost_last_thread() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM digest_schedules WHERE id = OLD.schedule_id AND NOT EXISTS
        (SELECT 1 FROM digest_schedule_threads WHERE schedule_id = OLD.schedule_id);
    RETURN NULL;
END
$$;
CREATE TRIGGER digest_schedule_lost_last_thread AFTER DELETE ON digest_schedule_threads
FOR EACH ROW EXECUTE FUNCTION digest_schedule_lost_last_thread();

CREATE TABLE read_marks (
    thread_id  BIGINT  NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    user_id    TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    last_post  INTEGER NOT NULL CHECK (last_post >= 0),
    updated_at TEXT    NOT NULL,
    PRIMARY KEY (thread_id, user_id)
);
CREATE INDEX read_marks_user ON read_marks (scope, user_id);
"""

_V5_COMMANDS_PG = """
CREATE TABLE bot_commands (
    id          BIGINT  GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    platform    TEXT    NOT NULL CHECK (platform IN ('matrix', 'discord')),
    account     TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    scope       TEXT    NOT NULL,
    what        TEXT    NOT NULL,
    reply_to    TEXT,
    status      TEXT    NOT NULL CHECK (status IN ('running', 'done', 'interrupted')),
    answered_at TEXT,
    accepted_at TEXT    NOT NULL,
    finished_at TEXT    COLLATE "C",
    UNIQUE (platform, account, key)
);
CREATE INDEX bot_commands_open ON bot_commands (platform, account, status);

CREATE TABLE matrix_outbox (
    id          BIGINT  GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    account     TEXT    NOT NULL,
    room_id     TEXT    COLLATE "C" NOT NULL,
    tx_id       TEXT    NOT NULL,
    content     TEXT    NOT NULL,
    command_id  BIGINT  REFERENCES bot_commands (id) ON DELETE SET NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    created_at  TEXT    NOT NULL,
    UNIQUE (account, tx_id)
);
CREATE INDEX matrix_outbox_room ON matrix_outbox (account, room_id, id);
"""

_V7_QUOTES_WITHOUT_REPLIES = """
-- Until now a reply (posts.reply_to) that quoted nothing of its parent counted as one quote
-- edge. Replies are read from posts.reply_to now; the edges keep quote segments only.
-- Plain SQL: the same text runs on SQLite and PostgreSQL.
DELETE FROM quote_edges;
INSERT INTO quote_edges (thread_id, from_post, to_post, count)
SELECT p.thread_id, p.number, s.source_post, count(*)
FROM segments s JOIN posts p ON p.id = s.post_id
WHERE s.kind = 'quote' AND s.source_post IS NOT NULL
GROUP BY p.thread_id, p.number, s.source_post;
-- Cached reports counted those replies as quotes.
DELETE FROM analysis_cache;
"""

# Forum post numbers (issue 16): the number the forum shows for each post, and per thread
# whether they are what people see (every post that stands has one, in thread order).
# Post `number` stays the post's place in the thread: marks, quote edges and keys use it.
_V8_FORUM_NUMBERS = """
ALTER TABLE posts ADD COLUMN forum_number INTEGER CHECK (forum_number >= 1);
ALTER TABLE threads ADD COLUMN forum_numbers INTEGER NOT NULL DEFAULT 0
    CHECK (forum_numbers IN (0, 1));
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "threads, posts, segments, quote edges, analysis cache, digest schedules",
              _V1_SCHEMA, _V1_SCHEMA_PG),
    Migration(2, "chat sources: author ids, replies, deletions, opt-outs, bot state",
              _V2_CHAT_SOURCES, _V2_CHAT_SOURCES_PG),
    Migration(3, "scheduled digests: several threads, cadences, claims, deliveries, read marks",
              _V3_DIGESTS, _V3_DIGESTS_PG),
    Migration(4, "threads remember the last page read, so a refresh starts there",
              "ALTER TABLE threads ADD COLUMN resume_page INTEGER CHECK (resume_page >= 1);"),
    Migration(5, "commands the bots accepted, and Matrix answers until they are sent",
              _V5_COMMANDS, _V5_COMMANDS_PG),
    Migration(6, "posts keep their likes or vote score (Discourse, Reddit) for the summaries",
              "ALTER TABLE posts ADD COLUMN likes INTEGER;"),
    Migration(7, "replies are not quotes: quote edges count quote segments only",
              _V7_QUOTES_WITHOUT_REPLIES),
    Migration(8, "posts keep the forum's own post numbers, shown where the forum numbers posts",
              _V8_FORUM_NUMBERS),
)  # fmt: skip


def latest_version(migrations: Sequence[Migration] = MIGRATIONS) -> int:
    return migrations[-1].version if migrations else 0


def check_sequence(migrations: Sequence[Migration]) -> None:
    """Versions must be 1, 2, 3, ... so a gap or duplicate is caught before it ships."""
    for expected, m in enumerate(migrations, start=1):
        if m.version != expected:
            raise ValueError(f"migration #{expected} has version {m.version}; expected {expected}")


check_sequence(MIGRATIONS)


def split_statements(sql: str) -> list[str]:
    """Split SQL text into complete statements (executescript would COMMIT our transaction)."""
    statements: list[str] = []
    current = ""
    for piece in sql.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if not _only_comments(current.strip().removesuffix(";")):
                statements.append(current.strip())
            current = ""
    rest = current[:-1].strip()  # drop the ";" added after the last piece
    if rest and not _only_comments(rest):
        raise ValueError(f"incomplete SQL statement in migration: {rest[:80]!r}")
    return statements


def _only_comments(sql: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in sql.splitlines())


def newer_schema_message(found: int, known: int) -> str:
    return (
        f"This database was written by a newer threadwise (schema {found}, this version knows "
        f"{known}); upgrade threadwise or use another --db file."
    )
