"""Storage on SQLite or PostgreSQL: one Database interface (connections, transactions,
migrations) and scoped repositories.

The names below are loaded on first use (PEP 562), so `import storage.database` does not
pull in the digest repositories and their schedule parsing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .database import Database, open_database
    from .legacy_schedules import DigestSchedule, DigestScheduleRepository
    from .migrations import MIGRATIONS, Migration
    from .repositories import AnalysisCacheRepository, SaveResult, ThreadRepository

_HOMES = {
    "AnalysisCacheRepository": ".repositories",
    "Database": ".database",
    "DigestSchedule": ".legacy_schedules",
    "DigestScheduleRepository": ".legacy_schedules",
    "MIGRATIONS": ".migrations",
    "Migration": ".migrations",
    "SaveResult": ".repositories",
    "open_database": ".database",
    "ThreadRepository": ".repositories",
}

__all__ = [
    "MIGRATIONS",
    "AnalysisCacheRepository",
    "Database",
    "DigestSchedule",
    "DigestScheduleRepository",
    "Migration",
    "SaveResult",
    "ThreadRepository",
    "open_database",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home, __name__), name)
