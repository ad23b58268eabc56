"""robots.txt for the safe fetcher: RFC 9309 status rules and a per-origin cache.

The fetcher downloads robots.txt through its own guarded client (urllib's `read()` would
open an unguarded socket and treat only 401/403 as "disallow") and hands the answer here.
This module never opens a connection.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.robotparser import RobotFileParser

ROBOTS_TTL = 24 * 3600.0
"""RFC 9309 §2.4: a cached robots.txt should not be used for more than 24 hours."""
ERROR_TTL = 300.0
"""An unreachable robots.txt blocks the whole site, but only for a few minutes, so a short
outage does not lock a forum out for a day."""
MAX_ROBOTS_BYTES = 512 * 1024
"""RFC 9309 §2.5: parse at least 500 KiB; anything after the limit is ignored."""


@dataclass(frozen=True, slots=True)
class RobotsPolicy:
    """What one origin's robots.txt allows. `reason` explains a blanket "disallow"."""

    parser: RobotFileParser | None = None
    allow_all: bool = False
    reason: str = ""

    def allows(self, url: str, user_agent: str) -> bool:
        if self.allow_all:
            return True
        if self.parser is None:
            return False
        return self.parser.can_fetch(user_agent, url)

    @classmethod
    def everything(cls) -> RobotsPolicy:
        return cls(allow_all=True)

    @classmethod
    def nothing(cls, reason: str) -> RobotsPolicy:
        return cls(reason=reason)

    @classmethod
    def from_text(cls, text: str) -> RobotsPolicy:
        parser = RobotFileParser()
        parser.parse(text.splitlines())  # parse() also stamps last_checked; never read()
        return cls(parser=parser)


def policy_for_answer(status: int, text: str) -> RobotsPolicy:
    """RFC 9309 §2.3.1: 2xx → the rules; 4xx → allow all; 5xx (and 429) → disallow all."""
    if 200 <= status < 300:
        return RobotsPolicy.from_text(text)
    if 400 <= status < 500 and status != 429:
        return RobotsPolicy.everything()
    return RobotsPolicy.nothing(f"its robots.txt answered {status}")


class RobotsCache:
    """Remembers each origin's policy (≤ 24 h, errors briefly) and fetches it once even
    when many requests to a new origin arrive together."""

    def __init__(
        self,
        fetch: Callable[[str], Awaitable[RobotsPolicy]],
        *,
        clock: Callable[[], float] = time.monotonic,
        ttl: float = ROBOTS_TTL,
        error_ttl: float = ERROR_TTL,
        max_origins: int = 1024,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._ttl = min(ttl, ROBOTS_TTL)
        self._error_ttl = min(error_ttl, self._ttl)
        self._max = max_origins
        self._entries: OrderedDict[str, tuple[float, RobotsPolicy]] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def policy(self, origin: str) -> RobotsPolicy:
        cached = self._fresh(origin)
        if cached is not None:
            return cached
        lock = self._locks.setdefault(origin, asyncio.Lock())
        try:
            async with lock:
                cached = self._fresh(origin)  # another request may have fetched it meanwhile
                if cached is not None:
                    return cached
                policy = await self._fetch(origin)
                ttl = self._ttl if policy.allow_all or policy.parser else self._error_ttl
                self._store(origin, policy, ttl)
                return policy
        finally:
            if not lock.locked():
                self._locks.pop(origin, None)

    def _fresh(self, origin: str) -> RobotsPolicy | None:
        entry = self._entries.get(origin)
        if entry is None:
            return None
        expires, policy = entry
        if self._clock() >= expires:
            del self._entries[origin]
            return None
        self._entries.move_to_end(origin)
        return policy

    def _store(self, origin: str, policy: RobotsPolicy, ttl: float) -> None:
        self._entries[origin] = (self._clock() + ttl, policy)
        self._entries.move_to_end(origin)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
