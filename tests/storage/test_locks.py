"""Named advisory locks: one process at a time, released when the holder dies (a file lock
beside an SQLite file; a PostgreSQL advisory lock)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from storage import Database
from storage.locks import LockHeld, exclusive

REPO = Path(__file__).resolve().parents[2]

HOLDER = """
import asyncio, sys
from storage.database import open_database
from storage.locks import exclusive

async def main():
    db = await open_database(sys.argv[1])
    async with exclusive(db, "matrix"):
        print("held", flush=True)
        await asyncio.sleep(600)

asyncio.run(main())
"""


def hold_in_another_process(db_target: str | Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db_target)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


async def test_a_second_holder_is_refused_until_the_first_lets_go(db: Database) -> None:
    async with exclusive(db, "matrix"):
        with pytest.raises(LockHeld):
            async with exclusive(db, "matrix"):
                pass
        async with exclusive(db, "other-job"):  # another name is another lock
            pass
    async with exclusive(db, "matrix"):
        pass


async def test_the_lock_of_a_killed_process_is_free_again(
    db: Database, db_target: str | Path
) -> None:
    holder = hold_in_another_process(db_target)
    try:
        with pytest.raises(LockHeld):
            async with exclusive(db, "matrix"):
                pass
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    async with exclusive(db, "matrix"):  # the kernel released it with the process
        pass


def test_a_second_process_never_starts_the_matrix_bot(tmp_path: Path) -> None:
    """`threadwise run` with Matrix configured, while another process runs it: a clear
    refusal, before any connection to the homeserver is tried."""
    db_path = tmp_path / "threadwise.db"
    config = tmp_path / "threadwise.toml"
    config.write_text(
        '[matrix]\nhomeserver = "http://127.0.0.1:9"\nuser_id = "@tw:localhost"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "MATRIX_ACCESS_TOKEN": "not-used", "DISCORD_TOKEN": ""}
    subprocess.run(  # create the database before the holder opens it
        [sys.executable, "-m", "bot", "--db", str(db_path), "threads"], cwd=REPO, check=True
    )
    holder = hold_in_another_process(db_path)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bot", "--config", str(config), "--db", str(db_path), "run"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    assert done.returncode == 1
    assert "another threadwise process already runs the Matrix bot" in done.stderr


async def test_lock_names_are_checked(db: Database) -> None:
    with pytest.raises(ValueError):
        async with exclusive(db, "../escape"):
            pass
