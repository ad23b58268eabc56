"""What web forum readers and the safe fetcher agree on.

A reader never opens sockets: it asks a PageFetcher (sources/fetch.py in production, a
recording fake or the real fetcher on loopback in tests) for pages, and turns them into a
ThreadDoc with pure parsing functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import SplitResult, urlsplit

from bot.core.models import ThreadDoc

ProgressFn = Callable[[str], None]
"""Receives short human lines such as "page 3 of 12"; may be called from any thread."""


@dataclass(frozen=True, slots=True)
class FetchedPage:
    url: str
    """The final URL after redirects (canonical form)."""
    status: int
    content_type: str
    text: str


class PageFetcher(Protocol):
    async def get_text(self, url: str) -> FetchedPage:
        """An HTML page; raises bot.errors.SourceError with a clear message on any failure."""
        ...

    async def get_json(self, url: str) -> Any:
        """A JSON document, parsed; SourceError on failure or on a body that is not JSON."""
        ...


@dataclass(frozen=True, slots=True)
class ReadOptions:
    max_pages: int = 50
    """Pages fetched per command at most; the reader adds a "stopped at page N of M" note."""
    start_page: int = 1
    """Refresh starts from the last known page rather than from the first."""
    known_ids: frozenset[str] = frozenset()
    """Source ids already stored. A refresh that starts at a later page steps back while
    that page opens with a post it does not know: posts deleted before it move later posts
    (new ones too) onto earlier pages."""
    known_numbers: Mapping[str, int] = field(default_factory=dict)
    """The forum number stored for each source id (posts that stand): a page that opens
    with the post right after the last one stored needs no step back, and one whose known
    post now has another number does (the forum renumbered after a removal)."""
    progress: ProgressFn | None = None


class ForumReader(Protocol):
    """One forum engine. `matches_url` is a cheap URL-shape test; `sniff` looks at content."""

    name: str

    def matches_url(self, url: str) -> bool: ...

    def sniff(self, text: str) -> bool: ...

    async def read(self, fetcher: PageFetcher, url: str, options: ReadOptions) -> ThreadDoc:
        """Every page of the thread at `url` (within options.max_pages)."""
        ...

    def parse_saved(self, text: str, url: str | None = None) -> ThreadDoc:
        """A saved page or API answer given as a file (no fetching)."""
        ...


def match_web_path(url: str, path: re.Pattern[str]) -> tuple[SplitResult, re.Match[str]] | None:
    """An http(s) URL with a host whose path matches `path` (from its start), else None."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    match = path.match(parts.path)
    return None if match is None else (parts, match)
