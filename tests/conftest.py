"""Shared test helpers: where ../shared lives, and skipping clearly when it is absent."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.pgserver import PgServer, find_bindir

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SEED_TEXT = SHARED / "seed" / "trotsky-thread.txt"
SEED_LABELS = SHARED / "seed" / "trotsky-thread.labels.json"
EXAMPLE_TEXT = REPO / "bot" / "examples" / "tram-thread.txt"
EXAMPLE_LABELS = REPO / "bot" / "examples" / "tram-thread.labels.json"


def need_shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared seed/fixtures folder is not next to the repo")
    return path


@pytest.fixture
def seed_bytes() -> bytes:
    return need_shared(SEED_TEXT).read_bytes()


# --- a real PostgreSQL server (bench/pgserver.py) --------------------------------------------

REQUIRE_POSTGRES = "THREADWISE_REQUIRE_POSTGRES"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One throwaway PostgreSQL server for the whole session, stopped at the end.

    Skips where the server binaries are absent, except under THREADWISE_REQUIRE_POSTGRES=1
    (make test and CI set it), where their absence fails the tests instead.
    """
    if find_bindir() is None:
        reason = (
            "PostgreSQL server binaries are absent (bash scripts/postgres-server.sh installs them)"
        )
        if os.environ.get(REQUIRE_POSTGRES) == "1":
            pytest.fail(f"{reason}, and {REQUIRE_POSTGRES}=1 forbids skipping")
        pytest.skip(reason)
    server = PgServer.start()
    try:
        yield server
    finally:
        server.stop()


_databases = itertools.count(1)


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """The URL of a new, empty database on the session's server (dropped afterwards)."""
    name = f"tw_{os.getpid()}_{next(_databases)}"
    url = pg_server.create_database(name)
    try:
        yield url
    finally:
        pg_server.drop_database(name)
