"""M_LIMIT_EXCEEDED / 429 handling with a cap, instead of nio's retry-forever loop.

nio is configured with `max_limit_exceeded=0`, so a rate-limited request comes straight back
as an ErrorResponse carrying its HTTP response. `RetryPolicy.call` waits what the server
asks (the `Retry-After` header first, as the spec now prefers; else the deprecated
`retry_after_ms`; else a default) and tries again, until the retries or the total wait run
out. Then it raises RateLimited, so one room can be reported failed while others go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from nio import ErrorResponse

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class RateLimited(Exception):
    """The homeserver kept refusing with 429 past the policy's cap."""


def retry_after(resp: object, default: float = 5.0) -> float | None:
    """Seconds to wait before retrying `resp`, or None when it is not a rate-limit refusal."""
    if not isinstance(resp, ErrorResponse):
        return None
    transport = getattr(resp, "transport_response", None)
    status = getattr(transport, "status", None)
    if status != 429 and resp.status_code != "M_LIMIT_EXCEEDED":
        return None
    headers = getattr(transport, "headers", None) or {}
    header = headers.get("Retry-After")
    if header is not None:
        seconds = _parse_retry_after(str(header))
        if seconds is not None:
            return seconds
    if resp.retry_after_ms is not None and resp.retry_after_ms >= 0:
        return resp.retry_after_ms / 1000
    return default


def _parse_retry_after(value: str) -> float | None:
    """RFC 9110: delay-seconds or an HTTP-date."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass(slots=True)
class RetryPolicy:
    max_retries: int = 5
    max_total_wait: float = 120.0
    """Seconds of waiting one call may accumulate before it is given up."""
    default_wait: float = 5.0
    sleep: Sleep = field(default=asyncio.sleep)

    async def call(self, request: Callable[[], Awaitable[T]]) -> T:
        """Run `request` until it is not rate limited; RateLimited once the cap is reached."""
        waited = 0.0
        attempt = 0
        while True:
            resp = await request()
            delay = retry_after(resp, self.default_wait)
            if delay is None:
                return resp
            attempt += 1
            if attempt > self.max_retries or waited + delay > self.max_total_wait:
                raise RateLimited(
                    f"still rate limited after {attempt - 1} retries and {waited:.0f} s "
                    f"(next wait asked: {delay:.0f} s)"
                )
            log.warning("rate limited; retrying in %.1f s", delay)
            await self.sleep(delay)
            waited += delay


Retrying = Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]
