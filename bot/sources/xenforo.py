"""XenForo 2 and XenForo 1 thread pages → ThreadDoc.

XenForo 2 (`<html id="XF" data-template="thread_view">`): posts are
`article.message--post[data-author][data-content="post-N"]`, the body is `.bbWrapper`, times
are `<time data-time=unix datetime=ISO>`, quotes are
`blockquote.bbCodeBlock--quote[data-quote=NAME][data-source="post: N"]`.

XenForo 1 (`<html id="XenForo">`): posts are `li.message#post-N[data-author]`, the body is
`blockquote.messageText`, quotes are `div.bbCodeQuote[data-author]` with an
`a.AttributionLink` to goto/post?id=N. Times are `abbr.DateTime[data-time]` (recent posts) or
a displayed `span.DateTime[title]` in the visitor's zone, which the page gives away in
`serverTimeInfo.today` (local midnight as a Unix time); that offset is the one at the time
the page was saved, so a post from the other side of a DST change may be an hour off.

Quoted post ids are the same numbers as post ids, so quote inference links them directly.
"""

from __future__ import annotations

import re
from datetime import timedelta, timezone, tzinfo
from urllib.parse import urlsplit, urlunsplit

from bs4 import BeautifulSoup
from bs4.element import Tag

from bot.core.models import Block, PostDoc
from bot.errors import SourceError
from bot.sources import html_text as h
from bot.sources import sniff
from bot.sources.html_text import BodyRules, Page, QuoteInfo

_THREAD_ROUTE = re.compile(r"^(?P<route>.*?/?threads/(?:[^/?#]*\.)?\d+)(?=/|$)(?P<rest>.*)$")
_PAGE_IN_ROUTE = re.compile(r"/page-(\d+)(?=/|$|#|\?)")
_POST_ID = re.compile(r"post-(\d+)$")
_SOURCE = re.compile(r"^\s*post\s*:\s*(\d+)\s*$", re.IGNORECASE)
_GOTO = re.compile(r"(?:[?&]id=|/posts/|/post-)(\d+)")
_SERVER_TODAY = re.compile(r"serverTimeInfo\s*:\s*\{[^}]*?\btoday\s*:\s*(\d{6,12})")
_XF1_TIME_FORMATS = (
    "%b %d, %Y at %I:%M %p",
    "%b %d, %Y at %H:%M",
    "%d %b %Y at %H:%M",
    "%d %b %Y at %I:%M %p",
    "%B %d, %Y at %I:%M %p",
)


# --- URLs ------------------------------------------------------------------------------------


def thread_url_of(url: str) -> str | None:
    """The first page of the thread a XenForo URL points into (page-N, post-N dropped)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    m = _THREAD_ROUTE.match(parts.path)
    if m:
        return urlunsplit((parts.scheme, parts.netloc, m.group("route") + "/", "", ""))
    route = parts.query.split("&", 1)[0]
    m = _THREAD_ROUTE.match(route)
    if m:
        return urlunsplit((parts.scheme, parts.netloc, parts.path, m.group("route") + "/", ""))
    return None


def page_of(url: str | None) -> int | None:
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    m = _PAGE_IN_ROUTE.search(parts.path) or _PAGE_IN_ROUTE.search("/" + parts.query)
    return int(m.group(1)) if m and len(m.group(1)) < 7 else None


# --- post bodies -----------------------------------------------------------------------------


def _xf2_quote(tag: Tag) -> QuoteInfo | None:
    if tag.name != "blockquote" or not h.has_class(tag, "bbCodeBlock--quote"):
        return None
    author = h.attr(tag, "data-quote")
    title = h.child_with_class(tag, "bbCodeBlock-title")
    if author is None and title is not None:
        author = h.strip_said(h.element_text(title))
    source = _SOURCE.match(h.attr(tag, "data-source") or "")
    wrapper = h.child_with_class(tag, "bbCodeBlock-content") or tag
    content = h.child_with_class(wrapper, "bbCodeBlock-expandContent") or wrapper
    return QuoteInfo(content=content, author=author, source_id=source.group(1) if source else None)


_XF2_CHROME = frozenset(
    c.lower()
    for c in (
        "bbCodeBlock-title",
        "bbCodeBlock-expandLink",
        "bbCodeBlock-shrinkLink",
        "js-selectToQuoteEnd",
        "bbCodeBlock-sourceJump",
        "message-lastEdit",
        "message-signature",
    )
)


def _xf2_drop(tag: Tag) -> bool:
    return any(c in _XF2_CHROME for c in h.classes(tag))


XF2_RULES = BodyRules(quote=_xf2_quote, drop=_xf2_drop)


def _xf1_quote(tag: Tag) -> QuoteInfo | None:
    if not h.has_class(tag, "bbCodeQuote"):
        return None
    author = h.attr(tag, "data-author")
    attribution = h.find_class(tag, "attribution")
    if author is None and attribution is not None:
        author = h.strip_said(h.element_text(attribution))
    source_id = None
    link = h.find_class(tag, "AttributionLink", "a")
    if link is not None:
        m = _GOTO.search(h.attr(link, "href") or "")
        source_id = m.group(1) if m else None
    container = h.find_class(tag, "quoteContainer") or tag
    content = h.child_with_class(container, "quote") or container
    return QuoteInfo(content=content, author=author, source_id=source_id)


_XF1_CHROME = frozenset(
    c.lower()
    for c in ("quoteExpand", "attribution", "messageTextEndMarker", "editDate", "signature")
)


def _xf1_drop(tag: Tag) -> bool:
    return any(c in _XF1_CHROME for c in h.classes(tag))


XF1_RULES = BodyRules(quote=_xf1_quote, drop=_xf1_drop)


def parse_post_body(html: str, version: int = 2) -> tuple[Block, ...]:
    """The blocks of one XenForo post body given as HTML (XF2 `.bbWrapper` inner HTML)."""
    if not isinstance(html, str) or not html.strip():
        return ()
    soup = h.parse_html(html, "post body")
    root = soup.body or soup
    return tuple(h.body_blocks(root, XF2_RULES if version == 2 else XF1_RULES))


# --- pages -----------------------------------------------------------------------------------


def parse_page(html: str, page_url: str | None = None) -> Page:
    """One XenForo 1 or 2 thread page; SourceError when it is not one."""
    soup = h.parse_html(html)
    root = soup.find("html")
    root_id = (h.attr(root, "id") or "") if isinstance(root, Tag) else ""
    if root_id == "XF" or (root_id != "XenForo" and _xf2_posts(soup)):
        return _parse_xf2(soup, root if isinstance(root, Tag) else None, page_url)
    if root_id == "XenForo" or _xf1_posts(soup):
        return _parse_xf1(soup, page_url)
    raise SourceError("this page is not a XenForo thread (no XenForo markup found)")


def _reference(soup: BeautifulSoup, page_url: str | None) -> tuple[str | None, str | None]:
    """(base for relative links, the page's own URL) — a saved file falls back to canonical."""
    base = h.base_url(soup, page_url)
    canonical = h.canonical_url(soup, base)
    return base or canonical, page_url or canonical


def _thread_url(own: str | None, soup: BeautifulSoup, base: str | None) -> str | None:
    for candidate in (own, h.canonical_url(soup, base)):
        if candidate:
            found = thread_url_of(candidate)
            if found:
                return h.same_origin(found, own) if own else found
    return h.without_fragment(own) if own else None


def _title(tag: Tag | None, skip: frozenset[str]) -> str:
    """Text of a title element without its prefix labels ("Solved", "Question")."""
    if tag is None:
        return ""
    parts: list[str] = []
    for text in tag.find_all(string=True):
        parent = text.parent
        hidden = False
        while parent is not None and parent is not tag:
            if any(c in skip for c in h.classes(parent)):
                hidden = True
                break
            parent = parent.parent
        if not hidden:
            parts.append(str(text))
    return h.clean_text(" ".join(parts))


def _fallback_title(soup: BeautifulSoup) -> str:
    for meta in soup.find_all("meta"):
        if h.attr(meta, "property") == "og:title" and h.attr(meta, "content"):
            return h.clean_text(h.attr(meta, "content") or "")
    title = h.element_text(soup.find("title"))
    return title.split(" | ")[0].strip() if title else ""


# XenForo 2


def _xf2_posts(soup: BeautifulSoup) -> list[Tag]:
    posts = []
    for article in soup.find_all("article"):
        tokens = h.classes(article)
        if "message--post" in tokens or (
            "message" in tokens and (h.attr(article, "data-content") or "").startswith("post-")
        ):
            posts.append(article)
    return posts


def _parse_xf2(soup: BeautifulSoup, root: Tag | None, page_url: str | None) -> Page:
    template = h.attr(root, "data-template") if root is not None else None
    if template and not template.startswith("thread_view"):
        raise SourceError(
            f"this XenForo page is not a thread (it is a “{template[:40]}” page); give the "
            "address of a thread, such as https://forum.example/threads/some-title.123/"
        )
    base, own = _reference(soup, page_url)
    title = _title(soup.find("h1", class_="p-title-value"), frozenset({"label", "label-append"}))
    posts = tuple(p for p in (_xf2_post(a, base) for a in _xf2_posts(soup)) if p is not None)
    if not posts and not template:
        raise SourceError("this XenForo page is not a thread (it has no posts)")
    page, last, template_url = _xf2_nav(soup, base, own)
    thread = _thread_url(own, soup, base)
    if template_url is None and thread is not None and last > 1:
        template_url = thread + "page-" + h.PAGE_TOKEN
    return Page(
        title=title or _fallback_title(soup) or "XenForo thread",
        posts=posts,
        page=page,
        last_page=last,
        thread_url=thread,
        page_url_template=h.same_origin(template_url, own) if own else template_url,
    )


def _xf2_post(article: Tag, base: str | None) -> PostDoc | None:
    source_id = None
    for value in (h.attr(article, "data-content"), h.attr(article, "id")):
        m = _POST_ID.search(value or "")
        if m:
            source_id = m.group(1)
            break
    body = _xf2_body(article)
    blocks = tuple(h.body_blocks(body, XF2_RULES)) if body is not None else ()
    if not blocks:
        return None
    author = h.attr(article, "data-author") or h.element_text(h.find_class(article, "message-name"))
    header = h.find_class(article, "message-attribution") or article
    stamp = header.find("time")
    time = None
    if isinstance(stamp, Tag):
        time = h.from_unix(h.attr(stamp, "data-time")) or h.from_iso(h.attr(stamp, "datetime"))
    return PostDoc(
        blocks=blocks,
        author=author or None,
        source_id=source_id,
        time=time,
        url=_permalink(header, source_id, base),
        deleted="message--deleted" in h.classes(article),
        forum_number=h.post_counter(header),
    )


def _xf2_body(article: Tag) -> Tag | None:
    """The post's own .bbWrapper: inside .message-body, never the signature's."""
    scope = h.find_class(article, "message-body") or article
    for wrapper in h.find_all_class(scope, "bbWrapper"):
        parent = wrapper.parent
        while parent is not None and parent is not article:
            if "message-signature" in h.classes(parent):
                break
            parent = parent.parent
        else:
            return wrapper
    return None


def _permalink(scope: Tag, source_id: str | None, base: str | None) -> str | None:
    if source_id is None:
        return None
    for link in scope.find_all("a", href=True):
        href = h.attr(link, "href") or ""
        if re.search(rf"(?:/posts/|post-|[?&]id=|#post-){source_id}(?:\D|$)", href):
            return h.absolute(href, base)
    return None


def _xf2_nav(soup: BeautifulSoup, base: str | None, own: str | None) -> tuple[int, int, str | None]:
    nav = h.find_class(soup, "pageNav")
    current = page_of(own) or 1
    numbers: list[int] = []
    template_url = None
    if nav is not None:
        for item in h.find_all_class(nav, "pageNav-page"):
            text = h.element_text(item)
            if text.isdigit() and len(text) < 7:
                numbers.append(int(text))
                if "pagenav-page--current" in h.classes(item):
                    current = int(text)
    jump = soup.find(attrs={"data-page-url": True})
    if isinstance(jump, Tag):
        raw = h.attr(jump, "data-page-url") or ""
        if "%page%" in raw:
            template_url = h.absolute(raw.replace("%page%", h.PAGE_TOKEN), base)
    return current, h.last_page_number(numbers, current), template_url


# XenForo 1


def _xf1_posts(soup: BeautifulSoup) -> list[Tag]:
    return [
        li
        for li in soup.find_all("li")
        if "message" in h.classes(li) and _POST_ID.search(h.attr(li, "id") or "")
    ]


def _parse_xf1(soup: BeautifulSoup, page_url: str | None) -> Page:
    content = soup.find(id="content")
    kind = " ".join(h.classes(content)) if isinstance(content, Tag) else ""
    if kind and "thread_view" not in kind:
        raise SourceError(
            f"this XenForo page is not a thread (it is a “{kind[:40]}” page); give the "
            "address of a thread, such as https://forum.example/threads/some-title.123/"
        )
    base, own = _reference(soup, page_url)
    tz = _xf1_zone(soup)
    posts = tuple(p for p in (_xf1_post(li, base, tz) for li in _xf1_posts(soup)) if p is not None)
    if not posts and not kind:
        raise SourceError("this XenForo page is not a thread (it has no posts)")
    title_bar = h.find_class(soup, "titleBar")
    heading = title_bar.find("h1") if title_bar is not None else None
    title = _title(heading if isinstance(heading, Tag) else None, frozenset({"prefix"}))
    page, last, template_url = _xf1_nav(soup, base, own)
    thread = _thread_url(own, soup, base)
    if template_url is None and thread is not None and last > 1:
        template_url = thread + "page-" + h.PAGE_TOKEN
    return Page(
        title=title or _fallback_title(soup) or "XenForo thread",
        posts=posts,
        page=page,
        last_page=last,
        thread_url=thread,
        page_url_template=h.same_origin(template_url, own) if own else template_url,
    )


def _xf1_zone(soup: BeautifulSoup) -> tzinfo | None:
    for script in soup.find_all("script"):
        m = _SERVER_TODAY.search(script.get_text())
        if m:
            offset = -(int(m.group(1)) % 86400)
            if offset <= -12 * 3600:
                offset += 86400
            return timezone(timedelta(seconds=offset))
    return None


def _xf1_post(li: Tag, base: str | None, tz: tzinfo | None) -> PostDoc | None:
    m = _POST_ID.search(h.attr(li, "id") or "")
    source_id = m.group(1) if m else None
    body = None
    for candidate in h.find_all_class(li, "messageText"):
        if "signature" not in h.classes(candidate):
            body = candidate
            break
    blocks = tuple(h.body_blocks(body, XF1_RULES)) if body is not None else ()
    if not blocks:
        return None
    author = h.attr(li, "data-author")
    meta = h.find_class(li, "messageMeta") or li
    stamp = h.find_class(meta, "DateTime")
    time = None
    if stamp is not None:
        time = h.from_unix(h.attr(stamp, "data-time")) or h.from_local(
            h.attr(stamp, "title"), _XF1_TIME_FORMATS, tz
        )
    link = h.find_class(meta, "datePermalink", "a")
    url = h.absolute(h.attr(link, "href"), base) if link is not None else None
    return PostDoc(
        blocks=blocks,
        author=author or h.element_text(h.find_class(li, "username")) or None,
        source_id=source_id,
        time=time,
        url=url or _permalink(meta, source_id, base),
        deleted="deleted" in h.classes(li),
        forum_number=h.post_counter(meta),
    )


def _xf1_nav(soup: BeautifulSoup, base: str | None, own: str | None) -> tuple[int, int, str | None]:
    nav = h.find_class(soup, "PageNav")
    current = page_of(own) or 1
    if nav is None:
        return current, current, None
    current = _int(h.attr(nav, "data-page")) or current
    last = _int(h.attr(nav, "data-last")) or current
    template_url = None
    raw = h.attr(nav, "data-baseurl")
    sentinel = h.attr(nav, "data-sentinel") or "{{sentinel}}"
    if raw and sentinel in raw:
        template_url = h.absolute(raw.replace(sentinel, h.PAGE_TOKEN), base)
    return current, h.last_page_number([last], current), template_url


def _int(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit() or len(value.strip()) > 6:
        return None
    return int(value.strip())


# --- the reader ------------------------------------------------------------------------------


class XenForoReader(h.PagedHtmlReader):
    """XenForo 1 and 2 threads: every page of a thread URL, or one saved page."""

    name = "xenforo"
    engine = "XenForo"

    def parse_page(self, html: str, page_url: str | None = None) -> Page:
        return parse_page(html, page_url)

    def matches_url(self, url: str) -> bool:
        return thread_url_of(url) is not None

    def sniff(self, text: str) -> bool:
        return sniff.xenforo(text)

    def start_url(self, url: str, start_page: int) -> str:
        thread = thread_url_of(url)
        if thread is None:
            return url
        return thread if start_page <= 1 else f"{thread}page-{start_page}"


READER = XenForoReader()
