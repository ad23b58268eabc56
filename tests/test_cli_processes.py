"""Issue 16: bad input and small things, run as a user runs them (a real `threadwise` process,
real files): every refusal is one line on stderr with exit status 1, nothing is stored, and
`digest run-due` handles everything that is due."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.core.models import LOCAL_SCOPE
from bot.core.schedule import Cadence
from bot.settings import Settings
from bot.usecases.services import Services
from storage.database import open_database
from storage.digests import DigestRepository
from tests.conftest import EXAMPLE_TEXT
from tests.process import Done, run


def refused(done: Done, *needles: str) -> None:
    """Exit 1 with one line of reason on stderr (no traceback), naming `needles`."""
    assert done.code == 1, (done.code, done.err)
    assert "Traceback" not in done.err, done.err
    line = done.last_error_line
    assert line.startswith("threadwise: "), done.err
    for needle in needles:
        assert needle in line, (needle, line)


def tables(db: Path) -> list:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM threads").fetchall()


# --- 12: devices and pipes are refused, the read is capped -------------------------------------


def test_dev_zero_is_refused_at_once(tmp_path):
    db = tmp_path / "z.db"
    done = run(db, "ingest", "/dev/zero", timeout=60)
    refused(done, "/dev/zero", "not a regular file")
    assert tables(db) in ([], [(0,)])


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "thread.fifo"
    os.mkfifo(fifo)
    done = run(tmp_path / "f.db", "ingest", str(fifo), timeout=60)
    refused(done, "thread.fifo", "not a regular file")


def test_a_file_that_grows_past_its_size_is_cut_at_the_limit(tmp_path):
    # /proc files say size 0 however much they hold: the cap must be on the read itself.
    config = tmp_path / "small.toml"
    config.write_text("[storage]\nmax_upload_bytes = 1024\n", encoding="utf-8")
    done = run(tmp_path / "p.db", "ingest", "/proc/self/maps", config=config)
    refused(done, "larger than the limit", "max_upload_bytes")


# --- 14: a JSON number of 5,000 digits --------------------------------------------------------


def test_a_5000_digit_id_is_refused_in_one_line(tmp_path):
    thread = tmp_path / "huge-id.json"
    thread.write_text(
        '{"title": "Pond", "posts": [{"id": ' + "7" * 5000 + ', "text": "The pond is full."}]}',
        encoding="utf-8",
    )
    db = tmp_path / "j.db"
    refused(run(db, "ingest", str(thread)), "number too long")
    assert tables(db) == [(0,)]


# --- small things ------------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["ftp://127.0.0.1/x", "file:///etc/passwd"])
def test_other_schemes_are_not_web_addresses(tmp_path, address):
    refused(run(tmp_path / "s.db", "ingest", address), address, "not a web address")


def test_a_private_address_refusal_names_the_setting(tmp_path):
    done = run(tmp_path / "s.db", "ingest", "http://127.0.0.1:9/t/x/1")
    refused(done, "allow_private_addresses")


def test_a_huge_command_is_not_echoed_back_whole(tmp_path):
    name = "x" * 5000
    done = run(tmp_path / "e.db", "summary", name)
    refused(done, "no thread named")
    assert len(done.err) < 300
    usage = run(tmp_path / "e.db", "summary", "tram", "--algorithm", name)
    assert usage.code == 2 and len(usage.err) < 1000 and "x" * 61 not in usage.err


def test_ingest_help_says_urls_work(tmp_path):
    done = run(tmp_path / "h.db", "ingest", "--help")
    assert done.code == 0 and "URL" in done.out and "http" in done.out


def test_one_author_is_not_authors(tmp_path):
    thread = tmp_path / "one.json"
    thread.write_text(
        json.dumps(
            {
                "title": "Hedge",
                "posts": [
                    {"author": "Nell", "text": "The hedge needs cutting before the birds nest."},
                    {"author": "Nell", "text": "Too late, a blackbird moved in this morning."},
                ],
            }
        ),
        encoding="utf-8",
    )
    db = tmp_path / "a.db"
    assert run(db, "ingest", str(thread)).code == 0
    listed = run(db, "threads").out
    assert "2 posts, 1 author\n" in listed + "\n" and "1 authors" not in listed


def test_json_controls_and_script_urls_are_not_stored(tmp_path):
    db = tmp_path / "c.db"
    thread = tmp_path / "nul.json"
    thread.write_text(
        json.dumps(
            {
                "title": "Bins\u0000 day\u202e",
                "posts": [{"author": "Ro\u0000sa", "text": "Bins go out on\u0000 Tuesday now."}],
            }
        ),
        encoding="utf-8",
    )
    shown = run(db, "ingest", str(thread), "--json")
    assert shown.code == 0, shown.err
    posts = run(db, "show", shown.json()["name"], "--json").json()
    assert posts["title"] == "Bins day"
    assert posts["posts"][0]["author"] == "Ro sa"
    assert "\x00" not in json.dumps(posts, ensure_ascii=False)
    for where in ("thread", "post"):
        doc = {"title": "Bins", "posts": [{"text": "Tuesday."}]}
        if where == "thread":
            doc["url"] = "javascript:alert(1)"
        else:
            doc["posts"][0]["url"] = "javascript:alert(1)"
        bad = tmp_path / f"script-{where}.json"
        bad.write_text(json.dumps(doc), encoding="utf-8")
        refused(run(db, "ingest", str(bad), "--name", f"s-{where}"), "http")
    with sqlite3.connect(db) as conn:
        urls = conn.execute("SELECT url FROM posts UNION SELECT source_url FROM threads").fetchall()
    assert all(u is None or not u.startswith("javascript") for (u,) in urls)


# --- 7: run-due handles everything due -----------------------------------------------------------


async def schedule_many(db_path: Path, count: int) -> None:
    async with await open_database(db_path) as db:
        services = Services(db, Settings())
        await services.ingest_file(LOCAL_SCOPE, EXAMPLE_TEXT, name="tram")
        repo = DigestRepository(db, clock=lambda: datetime(2026, 3, 2, 6, tzinfo=UTC))
        cadence = Cadence("daily", "UTC", time_of_day="09:00")
        for _ in range(count):
            await repo.add(LOCAL_SCOPE, ["tram"], "local", cadence, start_from_latest=False)
        await services.close()


def test_run_due_handles_every_due_digest_not_only_a_hundred(tmp_path):
    db = tmp_path / "due.db"
    asyncio.run(schedule_many(db, 250))
    done = run(db, "-q", "digest", "run-due", "--now", "2026-03-02T09:30:00+00:00", "--json")
    assert done.code == 0, done.err
    reports = done.json()
    assert len(reports) == 250
    assert {r["status"] for r in reports} == {"sent"}
    assert len({r["schedule"] for r in reports}) == 250
    again = run(db, "-q", "digest", "run-due", "--now", "2026-03-02T09:31:00+00:00", "--json")
    assert again.json() == []
