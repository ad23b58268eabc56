"""Shared helpers for the HTML forum readers (XenForo, phpBB, vBulletin).

Two jobs live here because every engine needs both and neither knows an engine:

* Post bodies → paragraphs. A post body is walked once, iteratively (forum HTML can nest
  thousands of levels deep, deeper than Python's recursion limit): `<br>` and block-level
  elements end a paragraph, white space is collapsed, and spoilers, media and code become
  short placeholders ("[spoiler]", "[video]", "[image]", "[code]") so a summary never quotes
  hidden or unreadable content. Quote elements (recognised by an engine's `QuoteFinder`)
  become explicit quote blocks.
* Paged threads. `PagedHtmlReader.read` fetches page after page through a PageFetcher and
  joins the posts; each engine only supplies a pure `parse_page(html, page_url) -> Page`.

Quotes: each quote element becomes ONE Block(is_quote=True) holding the quote's own words,
its paragraphs joined by spaces, so a post that quotes another once yields one quote edge.
A quote nested inside a quote is not dropped: it becomes its own quote block, with its own
attribution, placed just before the quote that contains it (the words are the inner
author's, and quote inference sends a quote of a quote to the post that wrote the words).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from bs4 import BeautifulSoup
from bs4.element import NavigableString, PreformattedString, Script, Stylesheet, Tag, TemplateString

from bot.core.models import Block, PostDoc, ThreadDoc
from bot.errors import SourceError
from bot.sources.base import FetchedPage, PageFetcher, ReadOptions

MAX_QUOTE_DEPTH = 12
"""Quotes nested deeper than this are read as plain text of the quote around them."""
MAX_STEPS_BACK = 10
"""Pages a refresh steps back at most to find where the stored posts end."""
MAX_HTML_CHARS = 20_000_000
"""A page larger than this is refused before parsing (the fetcher caps bytes too)."""

_SKIP_TAGS = frozenset(
    "script style noscript template svg math head title meta link button input select "
    "textarea option form map area canvas".split()
)
_BLOCK_TAGS = frozenset(
    "address article aside blockquote center dd details dialog div dl dt fieldset figcaption "
    "figure footer h1 h2 h3 h4 h5 h6 header hgroup hr legend li main nav ol p section summary "
    "table tbody thead tfoot tr ul caption body html".split()
)
_CELL_TAGS = frozenset(("td", "th"))
_INLINE_TAGS = frozenset("span a b i u s em strong small sub sup font code bdi label".split())
_MEDIA_TAGS = frozenset(("iframe", "video", "embed", "object"))
_CODE_CLASSES = frozenset(
    c.lower()
    for c in (
        "bbCodeBlock--code",
        "bbCodeCode",
        "bbCodePHP",
        "bbCodeHtml",
        "codebox",
        "bbcode_code",
        "bbcode_container--code",
    )
)
_MEDIA_CLASSES = frozenset(
    c.lower() for c in ("bbMediaWrapper", "bbMediaJustifier", "bbOembed", "videoContainer")
)
_LINK_PREVIEW_CLASSES = frozenset(c.lower() for c in ("bbCodeBlock--unfurl",))
_SMILIE_HINTS = ("smilie", "smiley", "smilies", "emoji", "emoticon", "inlineimg")
_CHROME_LINE = re.compile(r"^(?:click to (?:expand|shrink)(?:\.{1,3}|…)?)$", re.IGNORECASE)
_INVISIBLE = re.compile("[\u200b\u2060\ufeff\u00ad\x00-\x08\x0b\x0e-\x1f\x7f]")
_SPACES = re.compile(r"\s+")

PLACEHOLDER_IMAGE = "[image]"
PLACEHOLDER_VIDEO = "[video]"
PLACEHOLDER_AUDIO = "[audio]"
PLACEHOLDER_SPOILER = "[spoiler]"
PLACEHOLDER_CODE = "[code]"
PLACEHOLDER_LINK = "[link]"


# --- parsing and small text helpers ----------------------------------------------------------


def parse_html(html: str, what: str = "page") -> BeautifulSoup:
    """BeautifulSoup over lxml; SourceError (never anything else) for input that is no page."""
    if not isinstance(html, str):
        raise SourceError(f"the {what} is not text")
    if len(html) > MAX_HTML_CHARS:
        raise SourceError(f"the {what} is too large to read ({len(html):,} characters)")
    if not html.strip():
        raise SourceError(f"the {what} is empty")
    try:
        return BeautifulSoup(html, "lxml")
    except Exception as exc:  # lxml raises its own types on some binary input
        raise SourceError(f"the {what} is not readable HTML ({type(exc).__name__})") from exc


def clean_text(text: str) -> str:
    """Collapse white space (no-break spaces included) and drop invisible characters."""
    return _SPACES.sub(" ", _INVISIBLE.sub("", text)).strip()


def element_text(tag: Tag | None) -> str:
    """All text under `tag` on one line, for names, titles and dates."""
    if tag is None:
        return ""
    return clean_text(tag.get_text(" "))


def classes(tag: Tag) -> list[str]:
    """The tag's class tokens, lower-cased (attribute values may be odd on broken HTML)."""
    value = tag.get("class")
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split()
    return [str(v).lower() for v in value]


def has_class(tag: Tag, *names: str) -> bool:
    wanted = {n.lower() for n in names}
    return any(c in wanted for c in classes(tag))


def attr(tag: Tag | None, name: str) -> str | None:
    """A single-valued attribute as a stripped string, or None."""
    if tag is None:
        return None
    value = tag.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        value = " ".join(str(v) for v in value)
    value = value.strip()
    return value or None


_COUNTER = re.compile(r"^#\s*(\d{1,9})$")


def post_counter(scope: Tag | None) -> int | None:
    """The forum's "#12" for a post: the first link in `scope` whose whole text is "#N"."""
    if scope is None:
        return None
    for link in scope.find_all("a"):
        m = _COUNTER.match(element_text(link))
        if m and int(m.group(1)) >= 1:
            return int(m.group(1))
    return None


def find_class(root: Tag, name: str, tag: str | None = None) -> Tag | None:
    """First descendant carrying class `name` (case-insensitive), without soupsieve."""
    wanted = name.lower()
    for found in root.find_all(tag if tag else True):
        if wanted in classes(found):
            return found
    return None


def find_all_class(root: Tag, name: str, tag: str | None = None) -> list[Tag]:
    wanted = name.lower()
    return [t for t in root.find_all(tag if tag else True) if wanted in classes(t)]


def child_with_class(tag: Tag, name: str) -> Tag | None:
    wanted = name.lower()
    for child in tag.find_all(True, recursive=False):
        if wanted in classes(child):
            return child
    return None


# --- URLs ------------------------------------------------------------------------------------


def base_url(soup: BeautifulSoup, page_url: str | None) -> str | None:
    """What relative links on the page are relative to: <base href>, else the page URL."""
    base = soup.find("base")
    href = attr(base, "href") if isinstance(base, Tag) else None
    if href:
        joined = absolute(href, page_url) if page_url else href
        if joined and is_http_url(joined):
            return joined
    return page_url


def canonical_url(soup: BeautifulSoup, base: str | None) -> str | None:
    for link in soup.find_all("link"):
        rel = link.get("rel")
        rels = rel if isinstance(rel, list) else str(rel or "").split()
        if "canonical" in [str(r).lower() for r in rels]:
            return absolute(attr(link, "href"), base)
    return None


def is_http_url(url: str | None) -> bool:
    if not url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def absolute(href: str | None, base: str | None) -> str | None:
    """`href` made absolute against `base`; None when that cannot give an http(s) URL."""
    if not href:
        return None
    href = href.strip()
    if href.lower().startswith(("javascript:", "mailto:", "data:", "#")):
        return None
    try:
        joined = urljoin(base, href) if base else href
    except ValueError:
        return None
    return joined if is_http_url(joined) else None


def same_origin(url: str | None, reference: str | None) -> str | None:
    """`url` moved onto the scheme and host of `reference` (the page we actually fetched).

    Page links are followed as paths on the host the user named: a page's <base href> or a
    hostile link must not send the reader to another host.
    """
    if not url or not reference:
        return url
    try:
        u, r = urlsplit(url), urlsplit(reference)
    except ValueError:
        return None
    if not r.scheme or not r.netloc:
        return url
    return urlunsplit((r.scheme, r.netloc, u.path, u.query, ""))


def without_fragment(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))


# --- times -----------------------------------------------------------------------------------


def from_unix(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        seconds = int(str(value).strip())
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def from_iso(value: str | None) -> datetime | None:
    """An ISO 8601 time with an offset; a time without one is unknown, so None."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def from_local(text: str | None, formats: Iterable[str], tz: tzinfo | None) -> datetime | None:
    """A displayed time ("Oct 30, 2014 at 10:49 PM") read in the page's zone; None if unsure."""
    if not text or tz is None:
        return None
    text = clean_text(text)
    for fmt in formats:
        try:
            naive = datetime.strptime(text, fmt)
        except ValueError:
            continue
        try:
            return naive.replace(tzinfo=tz)
        except (ValueError, OverflowError):
            return None
    return None


_OFFSET = re.compile(
    r"(?:UTC|GMT)\s*(?:(?P<sign>[+\-−])\s*(?P<hours>\d{1,2})(?:(?P<sep>[:.])(?P<frac>\d{1,2}))?)?",
    re.IGNORECASE,
)


def fixed_offset(text: str, dst: bool = False) -> tzinfo | None:
    """The zone in a footer such as "All times are UTC - 5 hours [ DST ]" or "GMT +2"."""
    m = _OFFSET.search(text)
    if not m:
        return None
    minutes = 0
    if m.group("hours"):
        minutes = int(m.group("hours")) * 60
        frac = m.group("frac")
        if frac:
            minutes += round(float("0." + frac) * 60) if m.group("sep") == "." else int(frac)
        if m.group("sign") in ("-", "−"):
            minutes = -minutes
    if dst:
        minutes += 60
    if not -14 * 60 <= minutes <= 14 * 60:
        return None
    return timezone(timedelta(minutes=minutes)) if minutes else UTC


def named_zone(name: str | None) -> tzinfo | None:
    """A zone named on the page ("America/New York"), when this machine knows it."""
    if not name:
        return None
    key = name.strip().replace(" ", "_")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+){0,2}", key):
        return None
    try:
        return ZoneInfo(key)
    except (ValueError, OSError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        return None


# --- post bodies → blocks ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuoteInfo:
    """What an engine knows about one quote element."""

    content: Tag
    """The element holding the quoted words (without the "X said:" header)."""
    author: str | None = None
    source_id: str | None = None
    elsewhere: bool = False
    """The markup says the quote is of another thread: it must not be matched to a post here."""


QuoteFinder = Callable[[Tag], QuoteInfo | None]
DropRule = Callable[[Tag], bool]


@dataclass(frozen=True, slots=True)
class BodyRules:
    """How one engine marks quotes and chrome inside a post body."""

    quote: QuoteFinder | None = None
    drop: DropRule | None = None


def placeholder(tag: Tag) -> tuple[str, bool] | None:
    """(text, is_block) for content that should not be read word by word, else None."""
    name = tag.name
    tokens = classes(tag)
    if any("spoiler" in c for c in tokens):
        return PLACEHOLDER_SPOILER, name not in _INLINE_TAGS
    if name in _MEDIA_TAGS or tag.get("data-media-site-id") is not None:
        return PLACEHOLDER_VIDEO, True
    if any(c in _MEDIA_CLASSES for c in tokens):
        return PLACEHOLDER_VIDEO, True
    if name == "audio":
        return PLACEHOLDER_AUDIO, True
    if name == "img":
        alt = attr(tag, "alt")
        if alt and len(alt) <= 32 and any(h in c for c in tokens for h in _SMILIE_HINTS):
            return alt, False
        return PLACEHOLDER_IMAGE, False
    if name == "pre" or any(c in _CODE_CLASSES for c in tokens):
        return PLACEHOLDER_CODE, True
    if any(c in _LINK_PREVIEW_CLASSES for c in tokens):
        return PLACEHOLDER_LINK, True
    return None


class _Lines:
    """Collects the blocks of one walk: own paragraphs and ready-made quote blocks."""

    __slots__ = ("blocks", "parts")

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.parts: list[str] = []

    def text(self, value: str) -> None:
        self.parts.append(value)

    def end_paragraph(self) -> None:
        if not self.parts:
            return
        line = clean_text("".join(self.parts))
        self.parts.clear()
        if line and not _CHROME_LINE.match(line):
            self.blocks.append(Block(line))

    def add(self, blocks: Iterable[Block]) -> None:
        self.end_paragraph()
        self.blocks.extend(blocks)


_END = object()
"""Stack marker: the block element pushed just before it has ended."""


def body_blocks(body: Tag | None, rules: BodyRules = BodyRules()) -> list[Block]:
    """The paragraphs of one post body, with explicit quotes as quote blocks."""
    if body is None:
        return []
    return _walk(body, rules, 0)


def _walk(root: Tag, rules: BodyRules, depth: int) -> list[Block]:
    out = _Lines()
    stack: list[object] = list(reversed(root.contents))
    while stack:
        node = stack.pop()
        if node is _END:
            out.end_paragraph()
            continue
        if isinstance(node, NavigableString):
            if not isinstance(node, PreformattedString | Script | Stylesheet | TemplateString):
                out.text(str(node))
            continue
        if not isinstance(node, Tag):
            continue
        name = node.name
        if name in _SKIP_TAGS or (rules.drop is not None and rules.drop(node)):
            continue
        info = rules.quote(node) if rules.quote is not None and depth < MAX_QUOTE_DEPTH else None
        if info is not None:
            out.add(_quote_blocks(info, rules, depth + 1))
            continue
        shown = placeholder(node)
        if shown is not None:
            text, is_block = shown
            if is_block:
                out.end_paragraph()
                out.text(text)
                out.end_paragraph()
            else:
                out.text(f" {text} ")
            continue
        if name == "br":
            out.end_paragraph()
            continue
        if name in _BLOCK_TAGS:
            out.end_paragraph()
            stack.append(_END)
        elif name in _CELL_TAGS:
            out.text(" ")
        stack.extend(reversed(node.contents))
    out.end_paragraph()
    return out.blocks


def _quote_blocks(info: QuoteInfo, rules: BodyRules, depth: int) -> list[Block]:
    inner = _walk(info.content, rules, depth)
    nested = [b for b in inner if b.is_quote]
    own = " ".join(b.text for b in inner if not b.is_quote).strip()
    if own:
        nested.append(
            Block(
                own,
                is_quote=True,
                quoted_author=info.author or None,
                quoted_source_id=info.source_id or None,
                quoted_elsewhere=info.elsewhere,
            )
        )
    return nested


def strip_said(text: str) -> str | None:
    """ "Alice said:" / "Alice wrote:" → "Alice"; None when nothing is left."""
    text = clean_text(text)
    text = re.sub(r"\s*(?:said|wrote|posted)\s*:?\s*[↑⬆]?\s*$", "", text, flags=re.IGNORECASE)
    text = text.strip(" :")
    return text or None


# --- paged threads ---------------------------------------------------------------------------

PAGE_TOKEN = "{page}"
START_TOKEN = "{start}"


@dataclass(frozen=True, slots=True)
class Page:
    """What one fetched page of a thread says (pure parse result)."""

    title: str
    posts: tuple[PostDoc, ...]
    page: int = 1
    last_page: int = 1
    thread_url: str | None = None
    """The thread's first page, used as the ThreadDoc URL (refresh re-reads from it)."""
    page_url_template: str | None = None
    """URL of any page, with "{page}" (page number) or "{start}" (offset of its first post)."""
    per_page: int | None = None

    def url_for(self, number: int) -> str | None:
        if self.page_url_template is None or number < 1:
            return None
        if number == 1 and self.thread_url:
            return self.thread_url
        url = self.page_url_template.replace(PAGE_TOKEN, str(number))
        if START_TOKEN in url:
            if not self.per_page:
                return None
            url = url.replace(START_TOKEN, str((number - 1) * self.per_page))
        return url


def last_page_number(numbers: Iterable[int], current: int) -> int:
    return max([current, *[n for n in numbers if 0 < n < 1_000_000]])


def page_template(url: str | None, number: int) -> str | None:
    """Turn the URL of page `number` into a template by marking where the number sits."""
    if not url or number < 2:
        return None
    for pattern in (
        rf"(/page-?){number}(?=$|[/?#&])",
        rf"([?&]page=){number}(?=$|[&#])",
        rf"(/page){number}(?=$|[/?#&])",
    ):
        marked, count = re.subn(pattern, lambda m: m.group(1) + PAGE_TOKEN, url, count=1)
        if count:
            return marked
    return None


def numbered_links(containers: Iterable[Tag], base: str | None) -> dict[int, str]:
    """Page number → absolute URL, from the numbered links of page navigation widgets."""
    found: dict[int, str] = {}
    for container in containers:
        for link in container.find_all("a", href=True):
            text = element_text(link)
            number = text if text.isdigit() else (attr(link, "data-page") or "")
            if not number.isdigit() or len(number) > 6 or int(number) < 1:
                continue
            url = absolute(attr(link, "href"), base)
            if url is not None:
                found.setdefault(int(number), without_fragment(url))
    return found


_PAGE_OF = re.compile(r"\bPage\s+(\d{1,6})\s+of\s+(\d{1,6})\b", re.IGNORECASE)


def page_of_text(text: str) -> tuple[int, int] | None:
    """ "Page 2 of 10" → (2, 10)."""
    m = _PAGE_OF.search(text)
    if not m:
        return None
    current, last = int(m.group(1)), int(m.group(2))
    if current < 1 or last < current:
        return None
    return current, last


def dedupe_posts(posts: Iterable[PostDoc]) -> tuple[PostDoc, ...]:
    """Posts in order, each post id once (posts shift between pages while a thread grows)."""
    seen: set[str] = set()
    kept: list[PostDoc] = []
    for post in posts:
        if post.source_id is not None:
            if post.source_id in seen:
                continue
            seen.add(post.source_id)
        kept.append(post)
    return tuple(kept)


class _CountingFetcher:
    """The fetcher of one read, counting its page requests against the page cap."""

    def __init__(self, fetcher: PageFetcher) -> None:
        self.fetcher = fetcher
        self.requests = 0

    async def get_text(self, url: str) -> FetchedPage:
        self.requests += 1
        return await self.fetcher.get_text(url)

    async def get_json(self, url: str) -> Any:
        self.requests += 1
        return await self.fetcher.get_json(url)


def must_step_back(posts: Sequence[PostDoc], options: ReadOptions) -> bool:
    """Whether a refresh starting at the page that holds `posts` could miss posts, so it
    must start a page earlier.

    The page opens with a post not stored yet: posts deleted earlier in the thread pulled
    it (and maybe new ones) forward, unless it is simply the next post after the last one
    stored (a read that stopped at the page cap goes on from here). Or it opens with a
    stored post that the forum now numbers differently: a post before it was removed, and
    the posts between have new numbers too.
    """
    opening = next((p for p in posts if p.source_id), None)
    if opening is None:
        return False
    stored_number = options.known_numbers.get(opening.source_id or "")
    if opening.source_id in options.known_ids:
        return (
            stored_number is not None
            and opening.forum_number is not None
            and opening.forum_number != stored_number
        )
    last_known = max(options.known_numbers.values(), default=None)
    return not (
        opening.forum_number is not None
        and last_known is not None
        and opening.forum_number == last_known + 1
    )


def capped_note(end: int, last: int) -> str:
    return f"stopped at page {end} of {last}; run refresh to continue"


class PagedHtmlReader:
    """read()/parse_saved() for engines whose threads are numbered HTML pages.

    Subclasses set `name` and `engine` and implement `parse_page` and `start_url`.
    """

    name: str = "html"
    engine: str = "forum"

    def parse_page(self, html: str, page_url: str | None = None) -> Page:
        raise NotImplementedError

    def start_url(self, url: str, start_page: int) -> str:
        """The URL to fetch first: page `start_page` when the URL shape allows, else `url`."""
        return url

    def matches_url(self, url: str) -> bool:
        raise NotImplementedError

    def sniff(self, text: str) -> bool:
        raise NotImplementedError

    def parse_saved(self, text: str, url: str | None = None) -> ThreadDoc:
        page = self.parse_page(text, url)
        if not page.posts:
            raise SourceError(f"no posts found on this {self.engine} page")
        notes: tuple[str, ...] = ()
        if page.last_page > 1:
            notes = (
                f"this saved file is page {page.page} of {page.last_page}; only its posts were "
                "read (give the thread's address to read every page)",
            )
        return self._doc(page, page.posts, notes)

    async def read(self, fetcher: PageFetcher, url: str, options: ReadOptions) -> ThreadDoc:
        """Pages start_page … last, posts joined in page order, with at most max_pages
        requests in all (finding the start page counts too).

        Progress lines are "page N of M" with N the page number and M the thread's last page
        (as the thread's own pagination says). A page after the first that cannot be read
        ends the read there, with a note: what was read is kept, and the next refresh starts
        at that page. So does the page cap: after "stopped at page 5 of 9" a refresh reads
        on from page 6.
        """
        start = max(1, options.start_page)
        counted = _CountingFetcher(fetcher)
        page = await self._first_page(counted, url, start)
        fetched = {page.page: page}
        budget = min(MAX_STEPS_BACK, max(1, options.max_pages) - 1)
        page = await self._back_to_known(counted, page, options, fetched, budget)
        first = page
        last = first.last_page
        _say(options, f"page {first.page} of {last}")
        posts: list[PostDoc] = list(first.posts)
        seen = {p.source_id for p in first.posts if p.source_id is not None}
        done = first.page
        stop: str | None = None
        for number in range(first.page + 1, last + 1):
            next_url = first.url_for(number)
            if next_url is None:
                stop = "links"
                break
            if number not in fetched and counted.requests >= options.max_pages:
                stop = "cap"
                break
            try:
                page = fetched.get(number) or await self._fetch(counted, next_url)
            except SourceError as exc:  # keep what was read; a refresh starts here
                stop = str(exc)
                break
            ids = {p.source_id for p in page.posts if p.source_id is not None}
            if page.page < number and ids and ids <= seen:
                stop = None
                break  # sent back to a page already read: the thread got shorter meanwhile
            seen |= ids
            posts.extend(page.posts)
            done = number
            _say(options, f"page {number} of {last}")
        notes: tuple[str, ...] = ()
        resume = done  # new posts join the last page: a refresh starts there
        if stop == "links":
            notes = (f"read page {done} of {last}; the links to later pages could not be followed",)
        elif stop == "cap":
            notes = (capped_note(done, last),)
            resume = done + 1  # page `done` is full: the next refresh reads on after it
        elif stop is not None:
            notes = (
                f"read pages {first.page} to {done} of {last}; page {done + 1} could not be "
                f"read ({stop}); run refresh to continue",
            )
            resume = done + 1
        doc = self._doc(first, dedupe_posts(posts), notes, fallback_url=url)
        doc = replace(doc, resume_page=resume)
        if not doc.posts:
            raise SourceError(f"no posts found in this {self.engine} thread")
        return doc

    async def _first_page(self, fetcher: PageFetcher, url: str, start: int) -> Page:
        """Page `start` of the thread (its own address when the URL shape allows, else by
        way of page 1). A start page that no longer exists (the thread got shorter) gives
        the thread's last page instead."""
        try:
            page = await self._fetch(fetcher, self.start_url(url, start))
        except SourceError:
            if start == 1:
                raise
            page = await self._fetch(fetcher, self.start_url(url, 1))
        wanted = min(start, page.last_page)
        if page.page != wanted:
            wanted_url = page.url_for(wanted)
            if wanted_url is not None:
                page = await self._fetch(fetcher, wanted_url)
        return page

    async def _back_to_known(
        self,
        fetcher: PageFetcher,
        page: Page,
        options: ReadOptions,
        fetched: dict[int, Page],
        budget: int,
    ) -> Page:
        """The page a refresh should start from: back from `page` while what it opens with
        says that posts before it moved (at most `budget` steps; the pages fetched are kept
        in `fetched` for the read on). See `must_step_back`."""
        steps = 0
        while options.known_ids and page.page > 1 and steps < budget:
            if not must_step_back(page.posts, options):
                break
            earlier = page.url_for(page.page - 1)
            if earlier is None:
                break
            try:
                page = await self._fetch(fetcher, earlier)
            except SourceError:
                break  # start from the page in hand: the read on keeps what it can get
            fetched.setdefault(page.page, page)
            steps += 1
        return page

    async def _fetch(self, fetcher: PageFetcher, url: str) -> Page:
        fetched = await fetcher.get_text(url)
        return await asyncio.to_thread(self.parse_page, fetched.text, fetched.url or url)

    def _doc(
        self,
        page: Page,
        posts: Iterable[PostDoc],
        notes: tuple[str, ...],
        fallback_url: str | None = None,
    ) -> ThreadDoc:
        return ThreadDoc(
            title=page.title,
            posts=tuple(posts),
            source_kind=self.name,
            url=page.thread_url or fallback_url,
            notes=notes,
        )


def _say(options: ReadOptions, message: str) -> None:
    if options.progress is not None:
        options.progress(message)
