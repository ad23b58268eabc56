"""SQLite storage: one Database (connections, transactions, migrations) and scoped repositories."""

from .database import Database
from .migrations import MIGRATIONS, Migration
from .repositories import (
    AnalysisCacheRepository,
    DigestSchedule,
    DigestScheduleRepository,
    SaveResult,
    ThreadRepository,
)

__all__ = [
    "MIGRATIONS",
    "AnalysisCacheRepository",
    "Database",
    "DigestSchedule",
    "DigestScheduleRepository",
    "Migration",
    "SaveResult",
    "ThreadRepository",
]
