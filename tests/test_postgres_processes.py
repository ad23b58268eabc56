"""Whole `threadwise` processes on one real PostgreSQL server, configured with [storage] url.

* the analyses of the example thread give the same JSON on PostgreSQL as on SQLite;
* 40 digests due at once, `digest run-due` started in three processes together: each
  digest is handled by exactly one of them, once;
* two processes ingest different threads under one name at the same moment, four rounds:
  one thread every time, never a mix of the two.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.pgserver import PASSWORD_ROLE, PgServer
from bot.core.models import Block, PostDoc, ThreadDoc
from bot.core.quotes import infer_quotes
from bot.core.schedule import Cadence
from storage.database import open_database
from storage.digests import DigestRepository
from storage.repositories import ThreadRepository
from tests.conftest import EXAMPLE_TEXT, REPO, SEED_TEXT

TIMEOUT = 300


@dataclass(frozen=True)
class Done:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def write_config(tmp_path: Path, name: str, storage: str) -> Path:
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(f"[storage]\n{storage}\n", encoding="utf-8")
    return cfg


def sqlite_config(tmp_path: Path) -> Path:
    return write_config(tmp_path, "sqlite", f'path = "{tmp_path / "threadwise.db"}"')


def pg_config(tmp_path: Path, url: str) -> Path:
    return write_config(tmp_path, "postgresql", f'url = "{url}"')


def argv(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "bot", "--config", str(config), *args]


def env(extra: dict[str, str] | None = None) -> dict[str, str]:
    base = {
        k: v for k, v in os.environ.items() if k not in ("THREADWISE_DATABASE_URL", "PGPASSWORD")
    }
    return {**base, "THREADWISE_CONFIG": "", "PYTHONPATH": str(REPO), **(extra or {})}


def tw(config: Path, *args: str, extra_env: dict[str, str] | None = None) -> Done:
    proc = subprocess.run(
        argv(config, *args),
        capture_output=True,
        text=True,
        env=env(extra_env),
        timeout=TIMEOUT,
        cwd=REPO,
    )
    return Done(proc.returncode, proc.stdout, proc.stderr)


def together(*commands: list[str]) -> list[Done]:
    """Start every command at the same moment; wait for all of them."""
    procs = [
        subprocess.Popen(
            c,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
            cwd=REPO,
        )
        for c in commands
    ]
    done = []
    for p in procs:
        out, err = p.communicate(timeout=TIMEOUT)
        done.append(Done(p.returncode, out, err))
    return done


# --- the same answers ---------------------------------------------------------------------------


def answers(config: Path, source: Path) -> dict[str, Any]:
    """Every analysis of `source` as JSON, from a fresh ingest."""
    got: dict[str, Any] = {}
    done = tw(config, "ingest", str(source), "--name", "example", "--json")
    assert done.code == 0, done.err
    got["ingest"] = done.json()
    for args in (
        ("summary", "example"),
        ("summary", "example", "--algorithm", "textrank", "--words", "120"),
        ("quotes", "example"),
        ("stance", "example"),
        ("show", "example"),
        ("show", "example", "--post", "3"),
        ("threads",),
    ):
        done = tw(config, *args, "--json")
        assert done.code == 0, (args, done.err)
        got[" ".join(args)] = done.json()
    return got


@pytest.mark.parametrize("source", [EXAMPLE_TEXT, SEED_TEXT], ids=["tram-example", "shared-seed"])
def test_analyses_give_the_same_json_on_postgresql_as_on_sqlite(
    tmp_path: Path, pg_url: str, source: Path
) -> None:
    if not source.exists():
        pytest.skip(f"{source} is absent: the shared seed folder is not next to the repo")
    on_sqlite = answers(sqlite_config(tmp_path), source)
    on_postgres = answers(pg_config(tmp_path, pg_url), source)
    assert on_sqlite["ingest"]["posts"] > 10
    for key, value in on_sqlite.items():
        assert on_postgres[key] == value, key
    # A second process reads the first one's cached summary: same answer again.
    again = tw(pg_config(tmp_path, pg_url), "summary", "example", "--json")
    assert again.code == 0 and again.json() == on_sqlite["summary example"]


# --- digests claimed once -----------------------------------------------------------------------

DIGESTS = 40
WORDS = (
    "The ferry timetable changes every spring and nobody reads the notice on the pier.",
    "A second boat would halve the queue at the harbour on market days, I think.",
    "Buses already run to the island bridge, so the ferry is mostly for tourists now.",
    "Fishermen use the early crossing every morning and would lose the most from a cut.",
)


def small_thread() -> ThreadDoc:
    return ThreadDoc(
        title="Ferry timetable",
        source_kind="text",
        posts=tuple(
            PostDoc(blocks=(Block(text),), author=f"person{i % 3}", source_id=str(i + 1))
            for i, text in enumerate(WORDS * 3)
        ),
    )


async def _forty_due_digests(url: str) -> list[int]:
    past = datetime.now(UTC) - timedelta(days=2)
    async with await open_database(url) as db:
        await ThreadRepository(db).save("local", "ferry", infer_quotes(small_thread()))
        digests = DigestRepository(db, clock=lambda: past)
        cadence = Cadence("daily", "UTC", time_of_day="09:00")
        ids = []
        for _ in range(DIGESTS):
            s = await digests.add("local", ["ferry"], "local", cadence, start_from_latest=False)
            assert s.next_run_at is not None and s.next_run_at < datetime.now(UTC)
            ids.append(s.id)
        return ids


async def _runs(url: str) -> list[tuple[int, str, int]]:
    async with await open_database(url) as db:
        rows = await db.fetch("SELECT schedule_id, status, attempts FROM digest_runs")
        return sorted((r[0], r[1], r[2]) for r in rows)


def test_forty_due_digests_in_three_processes_are_each_handled_once(
    tmp_path: Path, pg_url: str
) -> None:
    ids = asyncio.run(_forty_due_digests(pg_url))
    config = pg_config(tmp_path, pg_url)
    runs = together(*(argv(config, "digest", "run-due", "--json") for _ in range(3)))
    handled: list[int] = []
    for done in runs:
        assert done.code == 0, done.err
        reports = done.json()
        assert all(r["status"] == "sent" for r in reports), reports
        handled += [r["schedule"] for r in reports]
    assert sorted(handled) == sorted(ids)  # every one, and none twice
    assert asyncio.run(_runs(pg_url)) == sorted((i, "sent", 1) for i in ids)
    again = tw(config, "digest", "run-due", "--json")
    assert again.code == 0 and again.json() == []  # nothing is due any more


# --- the same-name ingest race ------------------------------------------------------------------


def json_thread(path: Path, title: str, topic: str, posts: int) -> list[str]:
    """A generic-JSON thread with post ids "1", "2", …; returns its post texts."""
    texts = [
        f"Post {i} about {topic}: the {topic} plan needs a vote before the {i}th meeting."
        for i in range(1, posts + 1)
    ]
    doc = {
        "title": title,
        "posts": [
            {"id": str(i), "author": f"{topic}-writer-{i % 4}", "text": text}
            for i, text in enumerate(texts, start=1)
        ],
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return texts


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_two_ingests_under_one_name_never_mix(tmp_path: Path, backend: str, request) -> None:
    if backend == "postgresql":
        config = pg_config(tmp_path, request.getfixturevalue("pg_url"))
    else:
        config = sqlite_config(tmp_path)
    a = json_thread(tmp_path / "a.json", "Trams on the high street", "tram", 30)
    b = json_thread(tmp_path / "b.json", "Bins on the ring road", "bin", 24)
    for round_no in range(4):
        first, second = (("a", "b"), ("b", "a"))[round_no % 2]
        results = together(
            argv(config, "ingest", str(tmp_path / f"{first}.json"), "--name", "shared"),
            argv(config, "ingest", str(tmp_path / f"{second}.json"), "--name", "shared"),
        )
        codes = sorted(r.code for r in results)
        assert codes == [0, 1], [r.err for r in results]
        loser = next(r for r in results if r.code == 1)
        assert "shared" in loser.err and "Traceback" not in loser.err, loser.err
        shown = tw(config, "show", "shared", "--json")
        assert shown.code == 0, shown.err
        texts = [p["text"] for p in shown.json()["posts"]]
        assert texts in (a, b), f"round {round_no}: a mix of both threads"
        threads = tw(config, "threads", "--json").json()
        assert [t["name"] for t in threads] == ["shared"]
        assert tw(config, "forget", "shared").code == 0


# --- the password -------------------------------------------------------------------------------


def test_the_password_comes_from_the_environment_never_from_the_file(
    tmp_path: Path, pg_server: PgServer
) -> None:
    name, secret = f"tw_pw_{os.getpid()}", "pw-secret-7431"
    pg_server.psql(f"DROP DATABASE IF EXISTS {name}")
    pg_server.psql(f"DROP ROLE IF EXISTS {PASSWORD_ROLE}")
    pg_server.psql(f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{secret}'")
    pg_server.psql(f"CREATE DATABASE {name} OWNER {PASSWORD_ROLE}")
    url = pg_server.url(name, user=PASSWORD_ROLE)
    config = pg_config(tmp_path, url)

    refused = tw(config, "threads")
    assert refused.code == 1 and "Cannot connect to PostgreSQL" in refused.err
    assert "password" in refused.err
    assert tw(config, "threads", extra_env={"PGPASSWORD": secret}).code == 0

    with_password = url.replace(f"{PASSWORD_ROLE}@", f"{PASSWORD_ROLE}:{secret}@")
    whole = {"THREADWISE_DATABASE_URL": with_password}
    assert tw(config, "ingest", str(EXAMPLE_TEXT), "--name", "ex", extra_env=whole).code == 0
    backup = tw(config, "backup", str(tmp_path / "dump.pgc"), extra_env=whole)
    assert backup.code == 0, backup.err  # pg_dump got the password, never on its command line
    assert (tmp_path / "dump.pgc").stat().st_size > 0
    assert secret not in backup.out + backup.err

    in_file = write_config(tmp_path, "leaky", f'url = "{with_password}"')
    leaky = tw(in_file, "threads", extra_env={"PGPASSWORD": secret})
    assert leaky.code == 1 and "[storage] url must not hold a password" in leaky.err
    assert secret not in leaky.err
    pg_server.drop_database(name)
