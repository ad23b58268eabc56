"""Issue 16, item 1: two processes ingest two different threads under one name at the same
moment. One thread is stored under the name; the other process gets the same refusal as
when the two run one after the other, and exit status 1.

The race is made certain rather than hoped for: the test holds SQLite's write lock while
both processes read the name (free), analyse their thread and reach "Saving…"; then it
lets go, and both write. The name check that counts is the one inside the write
transaction.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from storage.database import open_database
from tests.conftest import REPO
from tests.process import command, environment, run

TOPICS = ["bins", "hedges", "the pond", "bonfires", "parking", "the allotment gate"]


def thread_file(path: Path, title: str, posts: int, voice: str) -> Path:
    """A JSON thread whose posts have ids "1", "2", … like the other one's."""
    doc = {
        "title": title,
        "posts": [
            {
                "id": str(i),
                "author": f"{voice}{i % 7}",
                "text": f"{voice} note {i}: {TOPICS[i % len(TOPICS)]} need a rota of their own, "
                f"says neighbour {i} of {title.lower()}.",
            }
            for i in range(1, posts + 1)
        ],
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


async def start(db: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *command(db, args, None),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment(),
        cwd=REPO,
    )


async def until_saving(proc: asyncio.subprocess.Process, seen: list[str]) -> None:
    assert proc.stderr is not None
    while True:
        line = (await proc.stderr.readline()).decode()
        if not line:
            raise AssertionError(f"the process ended before saving: {''.join(seen)}")
        seen.append(line)
        if line.startswith("Saving"):
            return


async def race(db: Path, alpha: Path, beta: Path) -> list[tuple[int, str, str]]:
    lock = sqlite3.connect(db, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # every writer waits (busy_timeout) until we let go
    procs = [
        await start(db, "ingest", str(alpha), "--name", "shared"),
        await start(db, "ingest", str(beta), "--name", "shared"),
    ]
    seen: list[list[str]] = [[], []]
    try:
        await asyncio.wait_for(
            asyncio.gather(*(until_saving(p, s) for p, s in zip(procs, seen, strict=True))), 120
        )
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    results = []
    for proc, lines in zip(procs, seen, strict=True):
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode is not None
        results.append((proc.returncode, out.decode(), "".join(lines) + err.decode()))
    return results


def test_two_processes_racing_for_one_name_never_mix_their_threads(tmp_path):
    alpha = thread_file(tmp_path / "alpha.json", "Street party planning", 300, "Ana")
    beta = thread_file(tmp_path / "beta.json", "Library opening hours", 200, "Ben")
    titles = {"Street party planning": 300, "Library opening hours": 200}

    # One after the other, the second gets a clear refusal.
    sequential = tmp_path / "sequential.db"
    assert run(sequential, "ingest", str(alpha), "--name", "shared").code == 0
    second = run(sequential, "ingest", str(beta), "--name", "shared")
    assert second.code == 1
    refusal = second.last_error_line
    assert "a different thread is already stored as “shared”" in refusal

    for round_ in range(2):
        db = tmp_path / f"race{round_}.db"
        asyncio.run(_create(db))
        results = asyncio.run(race(db, alpha, beta))
        codes = sorted(code for code, _, _ in results)
        assert codes == [0, 1], results
        (_, _, loser_err) = next(r for r in results if r[0] == 1)
        (_, winner_out, _) = next(r for r in results if r[0] == 0)
        with sqlite3.connect(db) as conn:
            (title,) = conn.execute("SELECT title FROM threads WHERE name = 'shared'").fetchone()
            count = conn.execute("SELECT count(*) FROM posts").fetchone()[0]
            authors = {r[0][:3] for r in conn.execute("SELECT DISTINCT author FROM posts")}
        assert count == titles[title] and len(authors) == 1  # one thread's posts, all of them
        assert f"Stored “{title}” as shared" in winner_out
        loser_line = loser_err.strip().splitlines()[-1]
        assert loser_line == refusal.replace("Street party planning", title), loser_err
        assert "Traceback" not in loser_err


async def _create(db: Path) -> None:
    """Create the database (schema and WAL) before the test holds its write lock."""
    opened = await open_database(db)
    await opened.close()
