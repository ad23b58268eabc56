"""phpBB 3 topic pages → ThreadDoc (3.0 prosilver/subsilver2 through 3.3).

Posts are `div.post#pN`; the body is `div.content`; the author and time are in `p.author`
(`<time datetime>` from 3.2 on, else the displayed date read in the zone the footer names:
"All times are UTC - 5 hours [ DST ]" or "All times are <span title="Europe/Paris">UTC+01:00
</span>"). Quotes are `<blockquote>` with a `<cite>NAME wrote:</cite>`; phpBB 3.0 gives only
the author, 3.1+ also links the quoted post (`data-post-id`). Pages are `start=` offsets.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import tzinfo
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bs4 import BeautifulSoup
from bs4.element import NavigableString, Tag

from bot.core.models import PostDoc
from bot.errors import SourceError
from bot.sources import html_text as h
from bot.sources import sniff
from bot.sources.html_text import BodyRules, Page, QuoteInfo

_POST_ID = re.compile(r"^p(\d+)$")
_WROTE = re.compile(
    r"^(?P<name>.+?)\s+(?:wrote|a écrit|schrieb|escribió|ha scritto|escreveu|schreef|napisał)\b",
    re.IGNORECASE,
)
_QUOTED_POST = re.compile(r"[?&]p=(\d+)|#p(\d+)")
_TIME_FORMATS = (
    "%a %b %d, %Y %I:%M %p",
    "%a %b %d, %Y %H:%M",
    "%b %d, %Y %I:%M %p",
    "%d %b %Y, %H:%M",
    "%a %d %b %Y %H:%M",
    "%d.%m.%Y, %H:%M",
    "%Y-%m-%d %H:%M",
)
_KEEP_PARAMS = ("f", "t")


# --- URLs ------------------------------------------------------------------------------------


def thread_url_of(url: str) -> str | None:
    """viewtopic.php?f=F&t=T with paging, session and highlight parameters dropped."""
    try:
        parts = urlsplit(url)
        params = parse_qsl(parts.query, keep_blank_values=False)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    if not parts.path.endswith("viewtopic.php"):
        return None
    kept = [(k, v) for k, v in params if k in _KEEP_PARAMS and v.isdigit()]
    if not any(k == "t" for k, _ in kept):
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), ""))


def _is_topic_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        params = dict(parse_qsl(parts.query))
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and parts.path.endswith("viewtopic.php")
        and (params.get("t", "").isdigit() or params.get("p", "").isdigit())
    )


# --- post bodies -----------------------------------------------------------------------------


def _cite_of(quote: Tag) -> Tag | None:
    for child in quote.find_all(True, recursive=False):
        if child.name == "cite":
            return child
        if child.name == "div":
            cite = child.find("cite", recursive=False)
            if isinstance(cite, Tag):
                return cite
    return None


def _quote(tag: Tag) -> QuoteInfo | None:
    if tag.name != "blockquote":
        return None
    cite = _cite_of(tag)
    author = None
    source_id = None
    if cite is not None:
        member = next(
            (a for a in cite.find_all("a", href=True) if "memberlist" in (h.attr(a, "href") or "")),
            None,
        )
        text = h.element_text(cite)
        m = _WROTE.match(text)
        author = h.element_text(member) if member is not None else (m.group("name") if m else None)
        if author is None:
            author = h.strip_said(text)
        for link in cite.find_all("a"):
            post = h.attr(link, "data-post-id")
            if post and post.isdigit():
                source_id = post
                break
            m2 = _QUOTED_POST.search(h.attr(link, "href") or "")
            if m2 and "memberlist" not in (h.attr(link, "href") or ""):
                source_id = m2.group(1) or m2.group(2)
                break
    if source_id is None:
        m3 = _QUOTED_POST.search(h.attr(tag, "cite") or "")
        source_id = (m3.group(1) or m3.group(2)) if m3 else None
    divs = [c for c in tag.contents if isinstance(c, Tag)]
    loose = any(isinstance(c, NavigableString) and c.strip() for c in tag.contents)
    content = divs[0] if len(divs) == 1 and divs[0].name == "div" and not loose else tag
    return QuoteInfo(content=content, author=author, source_id=source_id)


_CHROME = frozenset(("notice", "signature", "codebox-title"))


def _drop(tag: Tag) -> bool:
    return tag.name == "cite" or any(c in _CHROME for c in h.classes(tag))


RULES = BodyRules(quote=_quote, drop=_drop)


# --- pages -----------------------------------------------------------------------------------


def parse_page(html: str, page_url: str | None = None) -> Page:
    """One phpBB topic page; SourceError when it is not one."""
    soup = h.parse_html(html)
    body = soup.find("body")
    sections = [c for c in h.classes(body) if c.startswith("section-")] if body else []
    if sections and "section-viewtopic" not in sections:
        raise SourceError(
            f"this phpBB page is not a topic (it is the “{sections[0][8:40]}” page); give the "
            "address of a topic, such as https://forum.example/viewtopic.php?t=123"
        )
    base = h.base_url(soup, page_url) or _board_url(soup)
    tz = _zone(soup)
    current, last, links = _nav(soup, base)
    template, per_page = _template(links, current)
    offset = _offset(page_url, current, per_page)
    posts = tuple(
        dataclasses.replace(p, forum_number=None if offset is None else offset + i)
        for i, p in enumerate((_post(div, base, tz) for div in _posts(soup)), start=1)
        if p is not None
    )
    if not posts and not sections:
        raise SourceError("this phpBB page is not a topic (it has no posts)")
    title_tag = soup.find("h2", class_="topic-title")
    if not isinstance(title_tag, Tag):
        page_body = soup.find(id="page-body")
        found = page_body.find("h2") if isinstance(page_body, Tag) else soup.find("h2")
        title_tag = found if isinstance(found, Tag) else None
    thread = _thread_url(page_url, title_tag, links, base)
    if last > 1 and template is None and thread is not None:
        per_page = per_page or _per_page_var(soup)
        template = thread + "&start=" + h.START_TOKEN if per_page else None
    return Page(
        title=h.element_text(title_tag) or _fallback_title(soup) or "phpBB topic",
        posts=posts,
        page=current,
        last_page=last,
        thread_url=thread,
        page_url_template=h.same_origin(template, page_url) if page_url else template,
        per_page=per_page,
    )


def _offset(page_url: str | None, current: int, per_page: int | None) -> int | None:
    """How many posts come before this page: phpBB shows no post numbers, so a post's
    number is its place in the topic, from the page's `start=` (or page × posts per page).
    None when that cannot be known (a later page of unknown size)."""
    try:
        start = dict(parse_qsl(urlsplit(page_url).query)).get("start") if page_url else None
    except ValueError:
        start = None
    if start is not None and start.isdigit() and len(start) < 10:
        return int(start)
    if current == 1:
        return 0
    return (current - 1) * per_page if per_page else None


def _posts(soup: BeautifulSoup) -> list[Tag]:
    return [
        div
        for div in soup.find_all("div")
        if "post" in h.classes(div) and _POST_ID.match(h.attr(div, "id") or "")
    ]


def _post(div: Tag, base: str | None, tz: tzinfo | None) -> PostDoc | None:
    m = _POST_ID.match(h.attr(div, "id") or "")
    source_id = m.group(1) if m else None
    body = h.find_class(div, "content", "div")
    blocks = tuple(h.body_blocks(body, RULES)) if body is not None else ()
    if not blocks:
        return None
    byline = h.find_class(div, "author", "p") or h.find_class(div, "author")
    author = None
    time = None
    url = None
    if byline is not None:
        named = h.find_class(byline, "username") or h.find_class(byline, "username-coloured")
        strong = byline.find("strong")
        author = h.element_text(named) or h.element_text(
            strong if isinstance(strong, Tag) else None
        )
        stamp = byline.find("time")
        if isinstance(stamp, Tag):
            time = h.from_iso(h.attr(stamp, "datetime"))
        if time is None:
            text = h.element_text(byline)
            shown = text.rsplit("»", 1)[-1] if "»" in text else text
            time = h.from_local(shown, _TIME_FORMATS, tz)
        for link in byline.find_all("a", href=True):
            href = h.attr(link, "href") or ""
            if source_id and re.search(rf"[?&]p={source_id}\b|#p{source_id}\b", href):
                url = h.absolute(href, base)
                break
    if not author:
        profile = h.find_class(div, "postprofile")
        author = h.element_text(profile.find("dt")) if profile is not None else None
    return PostDoc(
        blocks=blocks,
        author=author or None,
        source_id=source_id,
        time=time,
        url=url,
        deleted="deleted" in h.classes(div),
    )


def _zone(soup: BeautifulSoup) -> tzinfo | None:
    """The zone the footer says displayed times are in."""
    for text in soup.find_all(string=re.compile(r"All times are", re.IGNORECASE)):
        holder = text.parent
        if holder is None:
            continue
        for span in holder.find_all(["span", "abbr"], title=True):
            zone = h.named_zone(h.attr(span, "title"))
            if zone is not None:
                return zone
        words = h.element_text(holder)
        return h.fixed_offset(words, dst=bool(re.search(r"\[\s*DST\s*\]", words)))
    return None


def _nav(soup: BeautifulSoup, base: str | None) -> tuple[int, int, dict[int, str]]:
    boxes = h.find_all_class(soup, "pagination")
    current, last = 1, 1
    for box in boxes:
        found = h.page_of_text(h.element_text(box))
        if found:
            current, last = found
            break
    else:
        for box in boxes:
            active = box.find("strong") or h.find_class(box, "active")
            text = h.element_text(active) if isinstance(active, Tag) else ""
            if text.isdigit() and len(text) < 7:
                current = int(text)
                break
    links = h.numbered_links(boxes, base)
    return current, h.last_page_number([last, *links], current), links


def _template(links: dict[int, str], current: int) -> tuple[str | None, int | None]:
    """A start={start} template and the posts per page, from any link past page 1."""
    for number, url in sorted(links.items()):
        if number < 2:
            continue
        m = re.search(r"([?&]start=)(\d+)", url)
        if m and int(m.group(2)) > 0 and int(m.group(2)) % (number - 1) == 0:
            per_page = int(m.group(2)) // (number - 1)
            template = url[: m.start(2)] + h.START_TOKEN + url[m.end(2) :]
            return _drop_session(template), per_page
    return None, None


def _per_page_var(soup: BeautifulSoup) -> int | None:
    for script in soup.find_all("script"):
        m = re.search(r"per_page\s*=\s*'(\d{1,4})'", script.get_text())
        if m and int(m.group(1)) > 0:
            return int(m.group(1))
    return None


def _drop_session(url: str) -> str:
    return re.sub(r"([?&])sid=[0-9a-fA-F]*&?", r"\1", url).rstrip("&?")


def _thread_url(
    page_url: str | None, title: Tag | None, links: dict[int, str], base: str | None
) -> str | None:
    candidates: list[str | None] = [page_url]
    if title is not None:
        link = title.find("a", href=True)
        if isinstance(link, Tag):
            candidates.append(h.absolute(h.attr(link, "href"), base))
    candidates.append(links.get(1))
    for candidate in candidates:
        found = thread_url_of(candidate) if candidate else None
        if found:
            return h.same_origin(found, page_url) if page_url else found
    return None


def _board_url(soup: BeautifulSoup) -> str | None:
    """A saved phpBB 3.0 page has no <base>; its feed links are absolute board URLs."""
    for link in soup.find_all("link", href=True):
        href = h.attr(link, "href") or ""
        if re.search(r"/feed(?:\.php)?(?:[?/]|$)", href) and h.is_http_url(href):
            return href
    return None


def _fallback_title(soup: BeautifulSoup) -> str:
    title = h.element_text(soup.find("title"))
    for sep in (" • ", " - "):
        if sep in title:
            return title.split(sep)[-1 if sep == " • " else 0].strip()
    return title


# --- the reader ------------------------------------------------------------------------------


class PhpBBReader(h.PagedHtmlReader):
    """phpBB 3 topics: every page of a viewtopic.php URL, or one saved page."""

    name = "phpbb"
    engine = "phpBB"

    def parse_page(self, html: str, page_url: str | None = None) -> Page:
        return parse_page(html, page_url)

    def matches_url(self, url: str) -> bool:
        return isinstance(url, str) and _is_topic_url(url)

    def sniff(self, text: str) -> bool:
        return sniff.phpbb(text)

    def start_url(self, url: str, start_page: int) -> str:
        return thread_url_of(url) or url


READER = PhpBBReader()
