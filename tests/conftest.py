"""Shared test helpers: where ../shared lives, and skipping clearly when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

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
