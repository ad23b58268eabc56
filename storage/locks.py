"""One process at a time: named advisory locks beside the database a deployment shares.

Some work must run in exactly one process, however many processes share the database:
one Matrix account must never sync from two (each would answer every command). The lock
belongs to the operating system (SQLite: `flock` on a file beside the database file) or to
PostgreSQL (an advisory lock on a connection held as long as the lock), so it is released
when the holding process dies: a crash never leaves it stuck.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bot.errors import StorageError

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}$")


class LockHeld(StorageError):
    """Another process holds the lock."""


@contextlib.asynccontextmanager
async def exclusive(db: Any, name: str) -> AsyncIterator[None]:
    """Hold the lock `name` for the whole block; LockHeld at once if another process has it.

    A backend that has advisory locks of its own (PostgreSQL) provides `advisory_lock(name)`;
    an SQLite database is locked through a file beside it, `<db file>.<name>.lock`.
    """
    if not _NAME.match(name):
        raise ValueError(f"not a lock name: {name!r}")
    backend_lock = getattr(db, "advisory_lock", None)
    if backend_lock is not None:
        async with backend_lock(name):
            yield
        return
    path = Path(db.path)
    fd = await asyncio.to_thread(_lock_file, path.with_name(f"{path.name}.{name}.lock"))
    try:
        yield
    finally:
        await asyncio.to_thread(_unlock_file, fd)


def _lock_file(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LockHeld(f"another process holds {path.name}") from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _unlock_file(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
