"""Which reader reads a forum URL or a saved page, and reading it through the fetcher."""

from __future__ import annotations

import asyncio

from bot.core.models import ThreadDoc
from bot.errors import SourceError
from bot.sources import discourse, fallback, phpbb, reddit, vbulletin, xenforo
from bot.sources.base import ForumReader, PageFetcher, ReadOptions
from bot.sources.fetch import canonical_url

# Discourse goes last among the URL tests: its URL shape (/t/slug/123) fits any host.
URL_READERS: tuple[ForumReader, ...] = (
    reddit.READER,
    xenforo.READER,
    phpbb.READER,
    vbulletin.READER,
    discourse.READER,
)


def reader_for_url(url: str) -> ForumReader | None:
    return next((r for r in URL_READERS if r.matches_url(url)), None)


def reader_for_page(text: str, url: str | None = None, best_effort: bool = False) -> ForumReader:
    found = next((r for r in URL_READERS if r.sniff(text)), None)
    if found is not None:
        return found
    if best_effort:
        return fallback.READER
    raise fallback.unsupported_page_error(text, url)


async def read_url(
    fetcher: PageFetcher, url: str, options: ReadOptions, *, best_effort: bool = False
) -> ThreadDoc:
    """Every page of the thread at `url`: by URL shape first, else by what page 1 holds."""
    url = canonical_url(url)
    reader = reader_for_url(url)
    if reader is None:
        page = await fetcher.get_text(url)
        reader = reader_for_page(page.text, page.url, best_effort)
        if reader is fallback.READER:
            return await asyncio.to_thread(fallback.READER.parse_saved, page.text, page.url)
    doc = await reader.read(fetcher, url, options)
    if not doc.posts:
        raise SourceError(f"{url} holds no posts")
    return doc


def read_saved_page(text: str, url: str | None = None, best_effort: bool = False) -> ThreadDoc:
    """A saved HTML page or API answer of a known forum, given as a file."""
    return reader_for_page(text, url, best_effort).parse_saved(text, url)
