"""Issue 16, item 13: a full disk gives one line and exit status 1, never a traceback, and
changes nothing; a summary whose cache write fails is still printed.

The real thing first: a 2 MB tmpfs filled up (needs root, as on this project's machines;
skipped with a reason elsewhere). Then the same refusals in-process with SQLite's
`max_page_count`, which makes SQLite answer SQLITE_FULL exactly as on a full disk.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import storage.sqlite as database
from tests.conftest import EXAMPLE_TEXT, SEED_TEXT, need_shared
from tests.process import run

SHM_BYTES = 32768
"""The -shm file every process opening the database creates: room for it is left, so the
database still opens and the failure comes from the write itself."""


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (not root?): {made.stderr.decode()[:200]}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Fill the disk up to `leave` free bytes."""
    import os

    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    filler = disk / "filler"
    with filler.open("wb") as out:
        out.write(b"\0" * max(0, free - leave))
    return filler


def one_line_refusal(done) -> str:
    assert done.code == 1, (done.code, done.err)
    assert "Traceback" not in done.err, done.err
    assert len(done.err.strip().splitlines()) == 1, done.err
    return done.last_error_line


def threads(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM threads ORDER BY name")]


def test_ingest_forget_and_summary_on_a_full_disk(small_disk: Path) -> None:
    seed = need_shared(SEED_TEXT)
    db = small_disk / "full.db"
    assert run(db, "-q", "ingest", str(EXAMPLE_TEXT), "--name", "tram").code == 0
    filler = fill(small_disk, SHM_BYTES + 4096)

    line = one_line_refusal(run(db, "-q", "ingest", str(seed), "--name", "seed"))
    assert line == (
        f"threadwise: The disk holding {db} is full, so nothing was written; "
        "free some space and try again."
    )

    summary = run(db, "-q", "summary", "tram", "--sentences", "4")
    assert summary.code == 0, summary.err
    assert summary.out.startswith("Summary — ") and summary.out.count("[#") == 4
    assert "Traceback" not in summary.err and "could not cache" in summary.err

    assert "is full" in one_line_refusal(run(db, "-q", "forget", "tram"))

    filler.unlink()
    assert threads(db) == ["tram"]  # nothing half-written
    assert run(db, "-q", "forget", "tram").code == 0
    assert threads(db) == []


def test_no_room_at_all_even_to_open(small_disk: Path) -> None:
    db = small_disk / "full.db"
    assert run(db, "-q", "ingest", str(EXAMPLE_TEXT), "--name", "tram").code == 0
    fill(small_disk, 0)
    line = one_line_refusal(run(db, "-q", "summary", "tram"))
    assert line.startswith("threadwise: The disk holding") and "is full" in line


@pytest.fixture
def capped_pages(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Every threadwise connection gets `PRAGMA max_page_count = cap["pages"]` (0: none)."""
    cap = {"pages": 0}
    real_connect = database._connect

    async def connect(path: Path, busy_timeout_ms: int, *, read_only: bool = False):
        conn = await real_connect(path, busy_timeout_ms, read_only=read_only)
        if cap["pages"]:
            await conn.execute(f"PRAGMA max_page_count = {cap['pages']}")
        return conn

    monkeypatch.setattr(database, "_connect", connect)
    return cap


def test_sqlite_full_in_process(
    tmp_path: Path, capped_pages: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    from tests.test_cli import tw

    seed = need_shared(SEED_TEXT)
    db = tmp_path / "capped.db"
    tw(db, "-q", "ingest", str(EXAMPLE_TEXT), "--name", "tram")
    with sqlite3.connect(db) as conn:
        capped_pages["pages"] = conn.execute("PRAGMA page_count").fetchone()[0]
    refused = tw(db, "-q", "ingest", str(seed), "--name", "seed", check=False)
    assert refused.returncode == 1
    assert refused.stderr.decode().strip() == (
        f"threadwise: The disk holding {db} is full, so nothing was written; "
        "free some space and try again."
    )
    summary = tw(db, "-q", "summary", "tram", "--explain", "--sentences", "40")
    assert summary.stdout.decode().startswith("Summary — ")
    stance = tw(db, "-q", "stance", "tram")  # a bigger document than the free room on a page
    assert stance.stdout.decode().startswith("Sides — ")
    assert "could not cache the stance of tram" in caplog.text
    assert threads(db) == ["tram"]
