"""Pages no reader recognises: a clear refusal, or (when the user insists) their main text.

Most "threadwise can't read this" reports are pages of a forum engine we don't support, so
the refusal names what we do read and, when it can tell, which engine the page is. With
--best-effort the page's main text is read instead: repeated post containers
(schema.org Comment, NodeBB `component="post"`, `data-author`...) become one post each,
anything else becomes ONE post of the densest text block (a small readability-style score:
paragraph text per container, penalised by link text). No network, no new dependency.

Paragraphs come from the shared walker in html_text (placeholders for media and code).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from bs4 import BeautifulSoup, Tag

from bot.core.models import Block, PostDoc, ThreadDoc
from bot.errors import SourceError
from bot.sources import html_text as h
from bot.sources.base import FetchedPage, PageFetcher, ReadOptions
from bot.sources.html_text import clean_text

SUPPORTED = "XenForo, Discourse, Reddit, phpBB and vBulletin"


def page_blocks(root: Tag) -> list[Block]:
    """Paragraphs of any element; every <blockquote> is a quote, nobody named."""
    return h.body_blocks(root, h.BodyRules(quote=_any_blockquote))


def _any_blockquote(tag: Tag) -> h.QuoteInfo | None:
    if tag.name != "blockquote":
        return None
    author, post = h.attr(tag, "data-tw-author"), h.attr(tag, "data-tw-post")
    return h.QuoteInfo(content=tag, author=author, source_id=post)


# --- which engine is this? -------------------------------------------------------------

_ENGINES: tuple[tuple[str, re.Pattern[str]], ...] = (
    # markers of the engine's own markup, not mere mentions of its name in some article
    ("NodeBB", re.compile(r'component="post"|content="NodeBB|/plugins/nodebb-plugin-', re.I)),
    ("Invision Community", re.compile(r'\bipsApp\b|data-role="commentContent"', re.I)),
    ("Simple Machines (SMF)", re.compile(r"smf_scripturl|var smf_|Powered by SMF", re.I)),
    ("MyBB", re.compile(r"Powered By <a[^>]*>MyBB|\bMyBB\.(?:init|settings)", re.I)),
    ("Flarum", re.compile(r'id="flarum-|flarum\.core', re.I)),
    ("Vanilla Forums", re.compile(r"vanillaforums\.com/|gdn\.meta", re.I)),
    ("Lemmy", re.compile(r'content="Lemmy|lemmy-ui', re.I)),
    ("Hacker News", re.compile(r'class="hnname"|<a href="news">Hacker News</a>', re.I)),
)


def identify_engine(html: str) -> str | None:
    """The forum engine a page we cannot read seems to come from, for a better message."""
    head = html[:400_000]
    for name, pattern in _ENGINES:
        if pattern.search(head):
            return name
    return None


def unsupported_page_error(html: str | None = None, url: str | None = None) -> SourceError:
    """The refusal for a page no reader recognises; names what we read and how to force it."""
    engine = identify_engine(html) if html else None
    where = f"{url} " if url else "this page "
    if engine:
        looks = f"{where}looks like a {engine} forum, which threadwise does not read yet"
    else:
        looks = f"{where}looks like none of them"
    return SourceError(
        f"threadwise reads {SUPPORTED} threads; {looks} — `threadwise ingest URL "
        "--best-effort` reads its main text instead"
    )


# --- best effort -------------------------------------------------------------------------

_BOILERPLATE = re.compile(
    r"(^|[-_ ])(nav|navbar|menu|footer|header|sidebar|breadcrumbs?|share|sharing|social|"
    r"cookie|consent|banner|advert|ads?|promo|signature|related|pagination|pager|toolbar|"
    r"login|signup|modal|popup|newsletter|subscribe|skip|widget|sponsor|userinfo|user-info|"
    r"avatar|usertitle|profile|likes|reactions)([-_ ]|$)",
    re.I,
)
_CONTENTISH = re.compile(r"article|body|content|main|post|entry|story|message|thread|topic", re.I)
_DROP_TAGS = ("nav", "header", "footer", "aside", "form", "dialog", "menu")
_POST_SELECTORS = (
    '[component="post"]',
    '[itemtype*="schema.org/Comment"]',
    '[itemtype*="DiscussionForumPosting"]',
    "[data-author]",
    "[data-username]",
    "article",
    "div.post, li.postbitlegacy, li.postbit, div.postbit, div.message, li.message",
    "div.comment, li.comment",
)
_POST_BODY_SELECTORS = (
    '[component="post/content"]',
    '[itemprop="text"]',
    '[itemprop="articleBody"]',
    ".messageText, .message-body, .bbWrapper, .postbody .content, .post_message, .postcontent",
    ".js-post__content-text, .post-body, .post-content, .comment-body, .entry-content, .content",
)
_AUTHOR_SELECTORS = (
    '[itemprop="author"] [itemprop="name"]',
    ".username, .author, .poster, [class*='username']",
    "a[href*='/member'], a[href*='/user'], a[href*='/u/'], a[href*='memberlist.php']",
)
_SAID = re.compile(r"^@?(?P<name>[^\s].{0,60}?)\s+(?:said|wrote)(?:\s+in\s+.{1,200})?\s*:$", re.I)
_POST_LINK = re.compile(r"/post/(\d+)|[#?&]p(?:ost)?[-_=]?(\d+)")
_PARAGRAPH_TAGS = ("p", "pre", "li", "td", "blockquote", "h2", "h3", "h4", "dd")


@dataclass(frozen=True, slots=True)
class _Container:
    tag: Tag
    score: float


def best_effort(html: str, url: str | None = None) -> ThreadDoc:
    """The main text of any HTML page: one post per obvious post container, else one post."""
    soup = h.parse_html(html)
    title = _title(soup)
    posts = _container_posts(soup)
    note = "read best-effort: one post per post box found on the page"
    if not posts:
        posts = _main_text_post(soup)
        note = "read best-effort: the page's main text as one post (authors and quotes unknown)"
    if not posts:
        raise SourceError("no readable text was found on the page")
    return ThreadDoc(
        title=title or (url or "Untitled page"),
        posts=tuple(posts),
        source_kind="web",
        url=url,
        notes=(note,),
    )


def _title(soup: BeautifulSoup) -> str | None:
    for attrs in ({"property": "og:title"}, {"name": "title"}, {"name": "twitter:title"}):
        meta = soup.find("meta", attrs=attrs)
        if isinstance(meta, Tag):
            content = meta.get("content")
            if isinstance(content, str) and clean_text(content):
                return clean_text(content)[:300]
    for name in ("title", "h1"):
        tag = soup.find(name)
        if isinstance(tag, Tag) and clean_text(tag.get_text(" ")):
            return clean_text(tag.get_text(" "))[:300]
    return None


def _container_posts(soup: BeautifulSoup) -> list[PostDoc]:
    """Repeated post boxes (at least two, none inside another) become one post each."""
    for selector in _POST_SELECTORS:
        found = [t for t in soup.select(selector) if isinstance(t, Tag)]
        seen = {id(t) for t in found}  # identity: bs4 Tags compare equal by content
        outer = [t for t in found if not any(id(p) in seen for p in t.parents)]
        if len(outer) < 2:
            continue
        posts = [p for p in (_container_post(t) for t in outer) if p is not None]
        if len(posts) >= 2:
            return posts
    return []


def _container_post(box: Tag) -> PostDoc | None:
    author = _attr(box, "data-username") or _attr(box, "data-author") or _author_of(box)
    body = next((b for s in _POST_BODY_SELECTORS if isinstance(b := box.select_one(s), Tag)), box)
    _strip_boilerplate(body)
    _mark_attributions(body)
    blocks = page_blocks(body)
    if not blocks:
        return None
    source_id = _attr(box, "data-pid") or _attr(box, "data-post-id") or _attr(box, "id")
    return PostDoc(
        blocks=tuple(blocks),
        author=author or None,
        source_id=source_id,
        time=_timestamp(box),
    )


def _author_of(box: Tag) -> str | None:
    """A short name from the usual author markup; long text is a user card, not a name."""
    for selector in _AUTHOR_SELECTORS:
        for tag in box.select(selector, limit=5):
            name = clean_text(tag.get_text(" "))
            if 0 < len(name) <= 40 and "\n" not in name:
                return name
    return None


def _mark_attributions(root: Tag) -> None:
    """ "X said (in TOPIC):" just before a quote names its author (and post, if linked).

    The line is moved onto the blockquote as data- attributes, so quotes nested inside
    quotes keep their own attribution and the line is not read as the poster's words.
    """
    for quote in root.find_all("blockquote"):
        line = quote.find_previous_sibling()
        if not isinstance(line, Tag) or line.name not in ("p", "div", "cite", "strong", "span"):
            continue
        said = _SAID.match(clean_text(line.get_text(" ")))
        if said is None:
            continue
        quote["data-tw-author"] = said.group("name").strip()
        for link in line.find_all("a"):
            href = link.get("href") if isinstance(link, Tag) else None
            found = _POST_LINK.search(href) if isinstance(href, str) else None
            if found:
                quote["data-tw-post"] = found.group(1) or found.group(2)
                break
        line.decompose()


def _timestamp(box: Tag) -> datetime | None:
    raw = _attr(box, "data-timestamp")
    if raw and raw.isdigit() and len(raw) <= 16:
        value = int(raw)
        seconds = value / 1000 if value > 100_000_000_000 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    time_tag = box.find("time")
    stamp = time_tag.get("datetime") if isinstance(time_tag, Tag) else None
    if isinstance(stamp, str):
        try:
            parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _attr(tag: Tag, name: str) -> str | None:
    value = tag.get(name)
    if isinstance(value, list):
        value = " ".join(value)
    value = clean_text(value) if isinstance(value, str) else ""
    return value or None


def _main_text_post(soup: BeautifulSoup) -> list[PostDoc]:
    body = soup.body or soup
    for tag in body.find_all(_DROP_TAGS):
        if isinstance(tag, Tag):
            tag.decompose()
    _strip_boilerplate(body)
    _mark_attributions(body)
    best = _densest(body)
    blocks = [b for b in page_blocks(best.tag if best else body) if len(b.text) > 1]
    return [PostDoc(blocks=tuple(blocks))] if blocks else []


def _strip_boilerplate(root: Tag) -> None:
    doomed = [t for t in root.find_all(True) if isinstance(t, Tag) and _is_boilerplate(t)]
    for tag in doomed:
        if not tag.decomposed:
            tag.decompose()


def _is_boilerplate(tag: Tag) -> bool:
    if tag.name in ("body", "html", "main", "article"):
        return False
    if tag.get("role") in ("navigation", "banner", "contentinfo", "complementary"):
        return True
    if tag.get("aria-hidden") == "true" or tag.get("hidden") is not None:
        return True
    names = " ".join(h.classes(tag))
    ident = tag.get("id")
    if isinstance(ident, str):
        names = f"{names} {ident}"
    if not names or not _BOILERPLATE.search(names) or _CONTENTISH.search(names):
        return False
    # "layout-with-sidebar" may wrap the whole page: never drop a box full of paragraphs.
    return len(tag.find_all("p", limit=6)) < 6


def _densest(body: Tag) -> _Container | None:
    """The element whose paragraphs hold the most prose (readability-style scoring)."""
    scores: dict[int, _Container] = {}
    for para in _paragraphs(body):
        text = clean_text(para.get_text(" "))
        if len(text) < 25:
            continue
        points = 1 + text.count(",") + min(len(text) / 100, 3)
        for depth, parent in enumerate(_ancestors(para, body)):
            share = points if depth == 0 else points / (2 * depth)
            old = scores.get(id(parent))
            scores[id(parent)] = _Container(parent, (old.score if old else 0) + share)
            if depth == 2:
                break
    if not scores:
        return None
    ranked = [_Container(c.tag, c.score * (1 - _link_density(c.tag))) for c in scores.values()]
    return max(ranked, key=lambda c: c.score)


def _paragraphs(body: Tag) -> Iterator[Tag]:
    for tag in body.find_all(_PARAGRAPH_TAGS):
        if isinstance(tag, Tag):
            yield tag


def _ancestors(tag: Tag, stop: Tag) -> Iterator[Tag]:
    for parent in tag.parents:
        if not isinstance(parent, Tag):
            return
        yield parent
        if parent is stop:
            return


def _link_density(tag: Tag) -> float:
    total = len(clean_text(tag.get_text(" ")))
    if not total:
        return 1.0
    linked = sum(len(clean_text(a.get_text(" "))) for a in tag.find_all("a"))
    return min(linked / total, 1.0)


class BestEffortReader:
    """Any web page, read as its main text; used only when the user forces it."""

    name = "web"

    def matches_url(self, url: str) -> bool:
        return False

    def sniff(self, text: str) -> bool:
        return False

    async def read(self, fetcher: PageFetcher, url: str, options: ReadOptions) -> ThreadDoc:
        if options.progress is not None:
            options.progress("page 1 of 1")
        page: FetchedPage = await fetcher.get_text(url)
        return best_effort(page.text, page.url)

    def parse_saved(self, text: str, url: str | None = None) -> ThreadDoc:
        return best_effort(text, url)


READER = BestEffortReader()
