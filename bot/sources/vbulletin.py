"""vBulletin 3, 4 and 5 thread pages → ThreadDoc.

vBulletin 3 and 4 put each body in `#post_message_N` (vB4 inside `li#post_N`, vB3 inside
`table#postN`); the displayed date ("06-15-2016, 03:03 PM") is read in the zone of the footer
("All times are GMT -5"). vBulletin 5 posts are `li.b-post[data-node-id]` with a Unix
`data-node-publishdate` and the body in `.js-post__content-text`.

Quotes: vB4/vB5 `div.bbcode_quote` with `.bbcode_postedby` ("Originally Posted by <strong>X
</strong>" and a showthread.php?p=N link) and the words in `.message`; vB3 a "Quote:" box
whose table cell starts with the same "Originally Posted by" line.
"""

from __future__ import annotations

import re
from datetime import tzinfo
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bs4 import BeautifulSoup
from bs4.element import Tag

from bot.core.models import PostDoc
from bot.errors import SourceError
from bot.sources import html_text as h
from bot.sources import sniff
from bot.sources.html_text import BodyRules, Page, QuoteInfo

_MESSAGE_ID = re.compile(r"^post_message_(\d+)$")
_QUOTED_POST = re.compile(r"[?&]p=(\d+)|#post(\d+)")
_POSTED_BY = re.compile(r"Originally Posted by\s+(.+?)\s*$", re.IGNORECASE)
_DATE = re.compile(
    r"(\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|[A-Z][a-z]{2,8}\.? \d{1,2}(?:st|nd|rd|th)?,? \d{4}|"
    r"\d{1,2}(?:st|nd|rd|th)? [A-Z][a-z]{2,8},? \d{4}),?\s+(\d{1,2}:\d{2}(?:\s*[AaPp][Mm])?)"
)
_TIME_FORMATS = (
    "%m-%d-%Y, %I:%M %p",
    "%d-%m-%Y, %I:%M %p",
    "%m-%d-%Y, %H:%M",
    "%d-%m-%Y, %H:%M",
    "%Y-%m-%d, %H:%M",
    "%Y-%m-%d, %I:%M %p",
    "%m/%d/%Y, %I:%M %p",
    "%d/%m/%Y, %H:%M",
    "%d.%m.%Y, %H:%M",
    "%b %d, %Y, %I:%M %p",
    "%B %d, %Y, %I:%M %p",
    "%d %B %Y, %H:%M",
    "%d %b %Y, %H:%M",
)
_SCRIPT = re.compile(r"THIS_SCRIPT\s*=\s*[\"'](\w+)[\"']")
_SESSION_PARAMS = frozenset(("s", "sid", "page", "p", "highlight", "viewfull", "postcount"))
_VB5_THREAD = re.compile(r"^(?P<thread>/(?:[^/]+/)+\d+-[^/]+?)(?:/page\d+)?/?$")
_VB4_PATH = re.compile(r"^(?P<thread>(?:/[^/]+)*?/(?:showthread\.php/|threads/)\d+(?:-[^/]*)?)")


# --- URLs ------------------------------------------------------------------------------------


def thread_url_of(url: str) -> str | None:
    """The first page of the vBulletin thread a URL points into."""
    try:
        parts = urlsplit(url)
        params = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    path = parts.path
    if path.endswith("showthread.php"):
        kept = [(k, v) for k, v in params if k == "t" and v.isdigit()]
        bare = [k for k, v in params if v == "" and re.match(r"^\d+(?:-|$)", k)]
        if kept:
            return urlunsplit((parts.scheme, parts.netloc, path, urlencode(kept), ""))
        if bare:  # showthread.php?123-slug (vB4 "friendly" URLs without rewrite)
            return urlunsplit((parts.scheme, parts.netloc, path, bare[0], ""))
        return None
    m = _VB4_PATH.match(path) or _VB5_THREAD.match(path)
    if m:
        return urlunsplit((parts.scheme, parts.netloc, m.group("thread"), "", ""))
    return None


# --- post bodies -----------------------------------------------------------------------------


def _posted_by(box: Tag) -> tuple[str | None, str | None]:
    strong = box.find(["strong", "b"])
    author = h.element_text(strong) if isinstance(strong, Tag) else None
    if not author:
        m = _POSTED_BY.search(h.element_text(box))
        author = m.group(1) if m else None
    source_id = None
    for link in box.find_all("a", href=True):
        m2 = _QUOTED_POST.search(h.attr(link, "href") or "")
        if m2:
            source_id = m2.group(1) or m2.group(2)
            break
    return author or None, source_id


def _quote(tag: Tag) -> QuoteInfo | None:
    if tag.name == "div" and h.has_class(tag, "bbcode_quote"):
        container = h.find_class(tag, "quote_container") or tag
        by = h.find_class(container, "bbcode_postedby")
        author, source_id = _posted_by(by) if by is not None else (None, None)
        content = h.child_with_class(container, "message") or container
        return QuoteInfo(content=content, author=author, source_id=source_id)
    return _vb3_quote(tag)


def _vb3_quote(tag: Tag) -> QuoteInfo | None:
    """<div><div class="smallfont">Quote:</div><table><tr><td class="alt2">…</td>…"""
    if tag.name != "div":
        return None
    children = tag.find_all(True, recursive=False)
    if len(children) < 2 or children[0].name != "div" or children[1].name != "table":
        return None
    if not re.fullmatch(r"Quote:?", h.element_text(children[0]), re.IGNORECASE):
        return None
    cell = children[1].find("td")
    if not isinstance(cell, Tag):
        return None
    parts = cell.find_all("div", recursive=False)
    if len(parts) >= 2 and _POSTED_BY.search(h.element_text(parts[0])):
        author, source_id = _posted_by(parts[0])
        return QuoteInfo(content=parts[1], author=author, source_id=source_id)
    return QuoteInfo(content=cell)


_CHROME = frozenset(
    (
        "bbcode_postedby",
        "bbcode_quote_container",
        "bbcode_description",
        "signature",
        "signaturecontainer",
        "post-signature",
        "lastedited",
    )
)


def _drop(tag: Tag) -> bool:
    tokens = h.classes(tag)
    if any(c in _CHROME for c in tokens):
        return True
    return "smallfont" in tokens and bool(
        re.fullmatch(r"(?:PHP |HTML )?Code:", h.element_text(tag), re.IGNORECASE)
    )


RULES = BodyRules(quote=_quote, drop=_drop)


# --- pages -----------------------------------------------------------------------------------


def parse_page(html: str, page_url: str | None = None) -> Page:
    """One vBulletin 3/4/5 thread page; SourceError when it is not one."""
    soup = h.parse_html(html)
    script = None
    for tag in soup.find_all("script"):
        m = _SCRIPT.search(tag.get_text())
        if m:
            script = m.group(1)
            break
    if script and script != "showthread":
        raise SourceError(
            f"this vBulletin page is not a thread (it is the “{script[:40]}” page); give the "
            "address of a thread, such as https://forum.example/showthread.php?t=123"
        )
    base = h.base_url(soup, page_url)
    canonical = h.canonical_url(soup, base)
    base = base or canonical
    vb5 = [
        li
        for li in soup.find_all(attrs={"data-node-id": True})
        if "b-post" in h.classes(li) and li.name in ("li", "div", "article")
    ]
    if vb5:
        posts = tuple(p for p in (_vb5_post(li, base) for li in vb5) if p is not None)
    else:
        tz = _zone(soup)
        posts = tuple(
            p for p in (_vb34_post(m, base, tz) for m in _messages(soup)) if p is not None
        )
    if not posts:
        raise SourceError("this vBulletin page is not a thread (it has no posts)")
    own = page_url or canonical
    thread = None
    for candidate in (own, canonical):
        found = thread_url_of(candidate) if candidate else None
        if found:
            thread = h.same_origin(found, own) if own else found
            break
    current, last, template = _nav(soup, base, thread)
    if template is None and thread is not None and last > 1:
        template = _guess_template(thread)
    return Page(
        title=_title(soup) or "vBulletin thread",
        posts=posts,
        page=current,
        last_page=last,
        thread_url=thread,
        page_url_template=h.same_origin(template, own) if own else template,
    )


def _messages(soup: BeautifulSoup) -> list[tuple[Tag, str]]:
    found = []
    for tag in soup.find_all(id=_MESSAGE_ID):
        m = _MESSAGE_ID.match(h.attr(tag, "id") or "")
        if m:
            found.append((tag, m.group(1)))
    return found


def _container(message: Tag, post_id: str) -> Tag:
    """The element of the whole post (vB4 li#post_N, vB3 table#postN), else the body's parent."""
    wanted = (f"post_{post_id}", f"post{post_id}")
    for parent in message.parents:
        if isinstance(parent, Tag) and h.attr(parent, "id") in wanted:
            return parent
    return message.parent if isinstance(message.parent, Tag) else message


def _vb34_post(found: tuple[Tag, str], base: str | None, tz: tzinfo | None) -> PostDoc | None:
    message, post_id = found
    blocks = tuple(h.body_blocks(message, RULES))
    if not blocks:
        return None
    box = _container(message, post_id)
    named = h.find_class(box, "bigusername") or h.find_class(box, "username")
    time = None
    stamp = h.find_class(box, "postdate") or h.find_class(box, "thead") or box
    m = _DATE.search(h.element_text(stamp))
    if m:
        time = h.from_local(f"{m.group(1)}, {m.group(2).upper()}", _TIME_FORMATS, tz)
    return PostDoc(
        blocks=blocks,
        author=h.element_text(named) or None,
        source_id=post_id,
        time=time,
        url=_permalink(box, post_id, base),
        deleted="postbitdeleted" in h.classes(box),
        forum_number=_vb34_counter(box),
    )


def _vb34_counter(box: Tag) -> int | None:
    """vB4's `a.postcounter` "#12"; vB3's "#<a id=postcountN href=…postcount=12>12</a>"."""
    counter = h.find_class(box, "postcounter", "a")
    found = h.post_counter(counter.parent if counter is not None else None)
    if found is not None:
        return found
    for link in box.find_all("a", id=re.compile(r"^postcount\d+$")):
        text = h.element_text(link)
        if text.isdigit() and 0 < len(text) < 10 and int(text) >= 1:
            return int(text)
        m = re.search(r"[?&]postcount=(\d{1,9})\b", h.attr(link, "href") or "")
        if m and int(m.group(1)) >= 1:
            return int(m.group(1))
    return None


def _vb5_post(li: Tag, base: str | None) -> PostDoc | None:
    post_id = h.attr(li, "data-node-id")
    body = h.find_class(li, "js-post__content-text")
    blocks = tuple(h.body_blocks(body, RULES)) if body is not None else ()
    if not blocks:
        return None
    info = h.find_class(li, "b-userinfo") or li
    author = h.element_text(h.find_class(info, "author"))
    time = h.from_unix(h.attr(li, "data-node-publishdate"))
    if time is None:
        stamp = li.find("time")
        time = h.from_iso(h.attr(stamp, "datetime")) if isinstance(stamp, Tag) else None
    count = h.find_class(li, "b-post__count", "a")
    url = h.absolute(h.attr(count, "href"), base) if count is not None else None
    return PostDoc(
        blocks=blocks,
        author=author or None,
        source_id=post_id if post_id and post_id.isdigit() else None,
        time=time,
        url=url or _permalink(li, post_id, base),
        deleted="b-post--deleted" in h.classes(li),
        forum_number=h.post_counter(count.parent if count is not None else None),
    )


def _permalink(box: Tag, post_id: str | None, base: str | None) -> str | None:
    if not post_id:
        return None
    for link in box.find_all("a", href=True):
        href = h.attr(link, "href") or ""
        if re.search(rf"[?&]p={post_id}(?:\D|$)|#post{post_id}(?:\D|$)", href):
            return h.absolute(href, base)
    return None


def _zone(soup: BeautifulSoup) -> tzinfo | None:
    for text in soup.find_all(string=re.compile(r"All times are", re.IGNORECASE)):
        holder = text.parent
        return h.fixed_offset(h.element_text(holder) if holder is not None else str(text))
    return None


def _nav(soup: BeautifulSoup, base: str | None, thread: str | None) -> tuple[int, int, str | None]:
    """(this page, the thread's last page, a URL template for its pages).

    The page count is the thread's own pagination ("Page 1 of 3" in vBulletin 3/4, the
    page total of vBulletin 5). Numbered links count only when they lead to pages of this
    thread: a page may also list other threads with their own page links.
    """
    current, last = 1, 1
    template = None
    # vBulletin 5: "Page <input class=js-pagenum value=N> of <span class=pagetotal>M</span>"
    total = h.find_class(soup, "pagetotal")
    number = soup.find("input", class_="js-pagenum")
    counted = False
    if total is not None and h.element_text(total).isdigit():
        last = int(h.element_text(total)[:6])
        value = h.attr(number, "value") if isinstance(number, Tag) else None
        current = int(value) if value and value.isdigit() and len(value) < 7 else 1
        counted = True
    for widget in h.find_all_class(soup, "js-pagenav"):
        start = h.absolute(h.attr(widget, "data-baseurl"), base)
        if start and _same_thread(start, thread):
            template = f"{start.rstrip('/')}/page{h.PAGE_TOKEN}"
            break
    # vBulletin 3/4: "Page 1 of 2" in the navigation box, numbered links beside it
    boxes = [
        t
        for t in soup.find_all(True)
        if any(c in ("pagination", "pagenav", "js-pagenav") for c in h.classes(t))
    ]
    if not counted:
        for box in boxes:
            found = h.page_of_text(h.element_text(box))
            if found:
                current, last = found
                counted = True
                break
    links = {
        n: link for n, link in h.numbered_links(boxes, base).items() if _same_thread(link, thread)
    }
    if not counted:
        last = h.last_page_number([last, *links], current)
    if template is None:
        for number_, url in sorted(links.items()):
            template = h.page_template(url, number_)
            if template:
                break
    return current, last, template


def _same_thread(url: str, thread: str | None) -> bool:
    """Whether `url` is a page of `thread` (hosts aside: a saved page names the real
    forum, the reader may be on another address of it)."""
    if thread is None:
        return True
    found = thread_url_of(url)
    if found is None:
        return False
    a, b = urlsplit(found), urlsplit(thread)
    return (a.path.rstrip("/"), a.query) == (b.path.rstrip("/"), b.query)


def _guess_template(thread: str) -> str:
    if "showthread.php?" in thread:
        return f"{thread}&page={h.PAGE_TOKEN}"
    return f"{thread}/page{h.PAGE_TOKEN}"


def _title(soup: BeautifulSoup) -> str:
    for finder in (
        lambda: h.find_class(soup, "main-title", "h1"),
        lambda: h.find_class(soup, "threadtitle"),
    ):
        text = h.element_text(finder())
        if text:
            return text
    heading = soup.find("h1")
    text = h.element_text(heading if isinstance(heading, Tag) else None)
    if text:
        return re.sub(r"^Thread:\s*", "", text)
    title = h.element_text(soup.find("title"))
    return title.split(" - ")[0].strip() if title else ""


# --- the reader ------------------------------------------------------------------------------


class VBulletinReader(h.PagedHtmlReader):
    """vBulletin 3, 4 and 5 threads: every page of a thread URL, or one saved page."""

    name = "vbulletin"
    engine = "vBulletin"

    def parse_page(self, html: str, page_url: str | None = None) -> Page:
        return parse_page(html, page_url)

    def matches_url(self, url: str) -> bool:
        return isinstance(url, str) and thread_url_of(url) is not None

    def sniff(self, text: str) -> bool:
        return sniff.vbulletin(text)

    def start_url(self, url: str, start_page: int) -> str:
        """Page `start_page` in vBulletin's own address forms (`/page2` after a thread path,
        `&page=2` after showthread.php?t=), so a refresh asks for the page it wants first."""
        thread = thread_url_of(url)
        if thread is None:
            return url
        if start_page <= 1:
            return thread
        return _guess_template(thread).replace(h.PAGE_TOKEN, str(start_page))


READER = VBulletinReader()
