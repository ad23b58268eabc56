"""SQLite storage: one Database (connections, transactions, migrations) and scoped repositories."""

from .database import Database
from .legacy_schedules import DigestSchedule, DigestScheduleRepository
from .migrations import MIGRATIONS, Migration
from .repositories import AnalysisCacheRepository, SaveResult, ThreadRepository

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
