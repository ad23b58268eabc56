"""XenForo 1 and 2 readers: real saved pages, real XF2 post bodies, and a real loopback server.

Expected numbers are taken from the raw files with regular expressions, never from the
reader. The multi-page tests serve pages from an aiohttp server on 127.0.0.1 through a small
test-only PageFetcher that refuses any other host.
"""

from __future__ import annotations

import html as htmllib
import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.core.models import PostDoc, ThreadDoc
from bot.core.quotes import infer_quotes
from bot.errors import SourceError
from bot.sources.base import FetchedPage, ReadOptions
from bot.sources.xenforo import READER, parse_page, parse_post_body, thread_url_of
from tests.conftest import SHARED, need_shared

FIXTURES = SHARED / "fixtures"
XF1 = FIXTURES / "xenforo" / "xf1_sufficientvelocity_renascence-homura-quest_p54.html"
XF2 = FIXTURES / "xenforo" / "xf2_xenforo-community_a-dark-theme-option_p1.html"
XF2_JSON = FIXTURES / "other" / "forumscraper-json_xenforo2_overtake_prosimu_177663.json"
XF2_JSON_SMALL = FIXTURES / "other" / "forumscraper-json_xenforo2_rune-server_125681.json"
CHROME = ("Click to expand", "Click to shrink", " said:", "Last edited", "Reactions:", "Report")


# --- a loopback forum and a test-only fetcher (shared with the phpBB/vBulletin tests) --------


def page_key(path: str, query: str) -> tuple[str, frozenset[tuple[str, str]]]:
    """Where a page is served: the path and the query as a set (parameter order is free)."""
    return path, frozenset(parse_qsl(query, keep_blank_values=True))


@dataclass
class LoopbackForum:
    """Pages served by a real aiohttp server on 127.0.0.1; every request is recorded."""

    server: TestServer
    pages: dict[tuple[str, frozenset[tuple[str, str]]], str] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def url(self, path_qs: str) -> str:
        return str(self.server.make_url(path_qs))

    def serve(self, path_qs: str, html: str) -> str:
        parts = urlsplit(path_qs)
        self.pages[page_key(parts.path, parts.query)] = html
        return self.url(path_qs)


class LoopbackFetcher:
    """A PageFetcher over aiohttp that only ever talks to loopback addresses."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.refused: list[str] = []

    async def get_text(self, url: str) -> FetchedPage:
        host = urlsplit(url).hostname
        if host not in ("127.0.0.1", "::1"):
            self.refused.append(url)
            raise SourceError(f"test fetcher refuses {url}: only loopback is allowed")
        async with self.session.get(url, allow_redirects=False) as resp:
            text = await resp.text()
            if resp.status != 200:
                raise SourceError(f"HTTP {resp.status} for {url}")
            return FetchedPage(str(resp.url), resp.status, resp.content_type, text)

    async def get_json(self, url: str) -> Any:
        page = await self.get_text(url)
        return json.loads(page.text)


@pytest.fixture
async def forum() -> AsyncIterator[LoopbackForum]:
    state: dict[str, LoopbackForum] = {}

    async def handle(request: web.Request) -> web.Response:
        site = state["forum"]
        site.requests.append(request.path_qs)
        body = site.pages.get(page_key(request.path, request.query_string))
        if body is None:
            return web.Response(status=404, text="no such page")
        return web.Response(text=body, content_type="text/html")

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state["forum"] = LoopbackForum(server)
    try:
        yield state["forum"]
    finally:
        await server.close()


@pytest.fixture
async def fetcher() -> AsyncIterator[LoopbackFetcher]:
    async with aiohttp.ClientSession() as session:
        yield LoopbackFetcher(session)


def progress_log() -> tuple[list[str], ReadOptions]:
    lines: list[str] = []
    return lines, ReadOptions(progress=lines.append)


# --- independent counts from raw XF1 markup -------------------------------------------------


def xf1_raw_posts(raw: str) -> list[tuple[str, str, str]]:
    """(post id, author, the post's raw HTML) in page order, by regular expressions."""
    starts = list(
        re.finditer(r'<li id="post-(\d+)" class="message[^"]*"\s*data-author="([^"]*)"', raw)
    )
    chunks = []
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(raw)
        chunks.append((m.group(1), htmllib.unescape(m.group(2)), raw[m.start() : end]))
    return chunks


def xf1_raw_quotes(chunk: str) -> list[tuple[str, str]]:
    authors = re.findall(r'class="bbCodeBlock bbCodeQuote" data-author="([^"]*)"', chunk)
    ids = re.findall(r'href="goto/post\?id=(\d+)#post-\d+" class="AttributionLink"', chunk)
    assert len(authors) == len(ids)
    return [(htmllib.unescape(a), i) for a, i in zip(authors, ids, strict=True)]


def quote_pairs(doc: ThreadDoc) -> list[list[tuple[str | None, str | None]]]:
    return [
        [(b.quoted_author, b.quoted_source_id) for b in p.blocks if b.is_quote] for p in doc.posts
    ]


# --- XenForo 1: the real Sufficient Velocity page ---------------------------------------------


@pytest.fixture(scope="module")
def xf1_raw() -> str:
    return need_shared(XF1).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def xf1_doc(xf1_raw) -> ThreadDoc:
    return READER.parse_saved(xf1_raw)


def test_xf1_page_posts_authors_ids_and_quotes_match_the_file(xf1_raw, xf1_doc):
    want = xf1_raw_posts(xf1_raw)
    assert len(want) == 25  # SOURCES.md
    doc = xf1_doc
    assert doc.title == "Renascence: A Homura Quest"
    assert doc.source_kind == "xenforo"
    assert [p.source_id for p in doc.posts] == [i for i, _, _ in want]
    assert [p.author for p in doc.posts] == [a for _, a, _ in want]
    want_quotes = [xf1_raw_quotes(chunk) for _, _, chunk in want]
    assert sum(len(q) for q in want_quotes) == 20  # SOURCES.md: 20 attributed quotes
    assert [sorted(q) for q in quote_pairs(doc)] == [sorted(q) for q in want_quotes]
    assert doc.notes and "page 54 of 347" in doc.notes[0]
    assert (
        doc.url == "https://forums.sufficientvelocity.com/threads/renascence-a-homura-quest.10402/"
    )


def test_xf1_chrome_is_gone_and_text_is_clean(xf1_raw, xf1_doc):
    doc = xf1_doc
    for post in doc.posts:
        for block in post.blocks:
            assert block.text == block.text.strip() and block.text
            assert "\n" not in block.text
            assert not any(c in block.text for c in CHROME), block.text
    everything = "\n".join(p.text for p in doc.posts)
    assert "Verdant Dreams" not in everything  # a signature
    assert "Hugs x" not in everything and "Undo Rating" not in everything  # ratings bar
    crow = next(p for p in doc.posts if p.source_id == "2146297")
    assert [b.text for b in crow.blocks if not b.is_quote][:2] == [
        "OOC behavior? which part?",
        "I think thats wrong dok.",
    ]
    assert crow.blocks[0].text.startswith("Okay, I need rolls for OOC behavior.")


def test_xf1_times_permalinks_and_zone_from_the_page(xf1_raw, xf1_doc):
    doc = xf1_doc
    crow = next(p for p in doc.posts if p.source_id == "2146297")
    # span.DateTime title="Oct 30, 2014 at 10:49 PM"; serverTimeInfo.today says UTC-5.
    assert crow.time == datetime(2014, 10, 30, 22, 49, tzinfo=timezone(timedelta(hours=-5)))
    assert crow.time.astimezone(UTC) == datetime(2014, 10, 31, 3, 49, tzinfo=UTC)
    assert crow.url == "https://forums.sufficientvelocity.com/posts/2146297/"
    assert all(p.time is not None and p.url for p in doc.posts)


def test_xf1_explicit_quotes_resolve_to_post_numbers(xf1_raw, xf1_doc):
    doc = xf1_doc
    analysed = infer_quotes(doc)
    number = {p.source_id: p.number for p in analysed.posts}
    want = [xf1_raw_quotes(chunk) for _, _, chunk in xf1_raw_posts(xf1_raw)]
    checked = 0
    for post, quotes in zip(analysed.posts, want, strict=True):
        got = [s.source_post for s in post.segments if s.kind == "quote" and s.explicit]
        expected = sorted(number[i] for _, i in quotes if i in number)
        assert len(got) == len(quotes)
        assert sorted(g for g in got if g is not None) == expected
        checked += len(expected)
    assert checked >= 15
    # Higure (post 7, 2146367) answers TheBleachDoctor's post 5 (2146356).
    edges = {(e.from_post, e.to_post) for e in analysed.edges}
    assert (number["2146367"], number["2146356"]) in edges


# --- XenForo 2: the real (quote-less) page and real post bodies -------------------------------


def test_xf2_page_posts_authors_times_match_the_file():
    raw = need_shared(XF2).read_text(encoding="utf-8")
    ids = re.findall(r'data-content="post-(\d+)"\s*id="js-post-\d+"', raw)
    authors = [
        htmllib.unescape(a)
        for a in re.findall(
            r'<article class="message message--post[^"]*"\s*data-author="([^"]*)"', raw
        )
    ]
    stamps = re.findall(
        r'class="message-attribution-main">\s*<a[^>]*>\s*<time[^>]*data-time="(\d+)"', raw
    )
    assert len(ids) == len(authors) == len(stamps) == 8
    doc = READER.parse_saved(raw)
    assert doc.title == "a dark theme option"
    assert [p.source_id for p in doc.posts] == ids
    assert [p.author for p in doc.posts] == authors
    assert [p.time for p in doc.posts] == [datetime.fromtimestamp(int(s), UTC) for s in stamps]
    assert doc.posts[0].url == (
        "https://xenforo.com/community/threads/a-dark-theme-option.8276/post-114210"
    )
    assert doc.notes == ()
    assert not any(b.is_quote for p in doc.posts for b in p.blocks)
    everything = "\n".join(p.text for p in doc.posts)
    assert "and 12 others" not in everything and "Niro" not in everything  # reactions bar
    assert doc.posts[0].blocks[0].text == (
        "it would be great if by default a dark theme shipped with xenforo."
    )


def forumscraper_posts(path) -> list[dict[str, Any]]:
    return json.loads(need_shared(path).read_text(encoding="utf-8"))["posts"]


@pytest.mark.parametrize("path", [XF2_JSON, XF2_JSON_SMALL], ids=["overtake", "rune-server"])
def test_real_xf2_post_bodies_give_every_attributed_quote(path):
    posts = forumscraper_posts(path)
    total = 0
    for post in posts:
        raw = post["text"]
        want = list(
            zip(
                [htmllib.unescape(a) for a in re.findall(r'data-quote="([^"]*)"', raw)],
                re.findall(r'data-source="post: (\d+)"', raw),
                strict=True,
            )
        )
        assert len(want) == raw.count("bbCodeBlock--quote")
        blocks = parse_post_body(raw)
        got = [(b.quoted_author, b.quoted_source_id) for b in blocks if b.is_quote]
        assert got == want
        total += len(want)
        for block in blocks:
            assert block.text and not any(c in block.text for c in CHROME), block.text
    assert total == (35 if path == XF2_JSON else 2)  # SOURCES.md


def test_real_xf2_bodies_feed_quote_inference_to_the_right_posts():
    posts = forumscraper_posts(XF2_JSON)
    number = {str(p["id"]): n for n, p in enumerate(posts, start=1)}
    doc = ThreadDoc(
        title="ProSimu",
        source_kind="xenforo",
        posts=tuple(
            PostDoc(parse_post_body(p["text"]), author=p["user"], source_id=str(p["id"]))
            for p in posts
        ),
    )
    analysed = infer_quotes(doc)
    want: Counter[tuple[int, int]] = Counter()
    for n, p in enumerate(posts, start=1):
        for source in re.findall(r'data-source="post: (\d+)"', p["text"]):
            want[(n, number[source])] += 1
    assert sum(want.values()) == 35
    explicit = Counter(
        (post.number, seg.source_post)
        for post in analysed.posts
        for seg in post.segments
        if seg.kind == "quote" and seg.explicit
    )
    assert explicit == want
    edges = {(e.from_post, e.to_post): e.count for e in analysed.edges}
    assert all(edges[pair] >= n for pair, n in want.items())
    # e.g. ProSimu's 3145787 answers 5teveC457's 3142207, and 3565402 quotes 3565160 ten times.
    assert want[(number["3145787"], number["3142207"])] == 1
    assert want[(number["3565402"], number["3565160"])] == 10


def test_xf2_body_placeholders_and_nested_quotes():
    body = (
        '<blockquote data-quote="Ines" data-source="post: 7" class="bbCodeBlock '
        'bbCodeBlock--expandable bbCodeBlock--quote">'
        '<div class="bbCodeBlock-title">Ines said:</div>'
        '<div class="bbCodeBlock-content"><div class="bbCodeBlock-expandContent">'
        '<blockquote data-quote="Olaf" data-source="post: 3" '
        'class="bbCodeBlock bbCodeBlock--quote">'
        '<div class="bbCodeBlock-title">Olaf said:</div><div class="bbCodeBlock-content">'
        '<div class="bbCodeBlock-expandContent">Bridges rust faster near the sea.</div></div>'
        "</blockquote>Only the old iron ones do.<br />Paint helps.</div>"
        '<div class="bbCodeBlock-expandLink"><a role="button">Click to expand...</a></div>'
        "</div></blockquote>"
        'Fair point <img src="x.gif" class="smilie smilie--sprite" alt=":)" /> but look:<br />'
        '<img src="https://pics.example/rust.jpg" class="bbImage" alt="rust.jpg" /><br />'
        '<div class="bbCodeSpoiler"><button class="bbCodeSpoiler-button"><span>Spoiler: end'
        '</span></button><div class="bbCodeSpoiler-content">The bridge falls.</div></div>'
        '<div class="bbCodeBlock bbCodeBlock--code"><div class="bbCodeBlock-title">Code:</div>'
        '<div class="bbCodeBlock-content"><pre class="bbCodeCode"><code>x = 1</code></pre>'
        "</div></div>"
        '<div class="bbMediaWrapper" data-media-site-id="youtube"><iframe src="https://y.example/e">'
        "</iframe></div>"
        "<ul><li>first&nbsp;point</li><li>second   point</li></ul>"
    )
    blocks = parse_post_body(body)
    assert [(b.text, b.is_quote, b.quoted_author, b.quoted_source_id) for b in blocks] == [
        ("Bridges rust faster near the sea.", True, "Olaf", "3"),
        ("Only the old iron ones do. Paint helps.", True, "Ines", "7"),
        ("Fair point :) but look:", False, None, None),
        ("[image]", False, None, None),
        ("[spoiler]", False, None, None),
        ("[code]", False, None, None),
        ("[video]", False, None, None),
        ("first point", False, None, None),
        ("second point", False, None, None),
    ]


# --- a XenForo 2 thread of our own words, with quotes and pages -------------------------------

THREAD_PATH = "/community/threads/tram-extension-vote.42/"


def xf2_post(post_id: int, author: str, when: int, body: str, counter: int | None = None) -> str:
    """One post. Its "#N" (the forum's post number) is `counter`, by default the post id
    less 1000: these test threads number their posts 1001, 1002, … (2001, … for others)."""
    iso = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
    number = counter if counter is not None else post_id % 1000
    return f"""
    <article class="message message--post js-post js-inlineModContainer" data-author="{author}"
        data-content="post-{post_id}" id="js-post-{post_id}">
      <span class="u-anchorTarget" id="post-{post_id}"></span>
      <div class="message-inner"><div class="message-cell message-cell--user">
        <h4 class="message-name"><a href="/members/x.1/" class="username">{author}</a></h4>
      </div><div class="message-cell message-cell--main"><div class="message-main">
        <header class="message-attribution message-attribution--split">
          <div class="message-attribution-main">
            <a href="{THREAD_PATH}post-{post_id}" class="u-concealed" rel="nofollow">
            <time class="u-dt" datetime="{iso}" data-time="{when}">a while ago</time></a>
          </div>
          <ul class="message-attribution-opposite"><li><a href="{THREAD_PATH}post-{post_id}"
            data-xf-init="share-tooltip">Share</a></li><li><a href="/community/posts/{post_id}/">
            #{number}</a></li></ul>
        </header>
        <div class="message-content js-messageContent"><div class="message-userContent">
          <article class="message-body js-selectToQuote">
            <div class="bbWrapper">{body}</div>
            <div class="js-selectToQuoteEnd">&nbsp;</div>
          </article>
          <div class="message-lastEdit">Last edited: Mar 3, 2024</div>
        </div>
        <aside class="message-signature"><div class="bbWrapper">Ride the number 4.</div></aside>
        </div>
        <footer class="message-footer"><div class="reactionsBar js-reactionsList is-active">
          <span class="u-srOnly">Reactions:</span><a class="reactionsBar-link" href="#">
          <bdi>Somebody</bdi> and 3 others</a></div></footer>
      </div></div></div>
    </article>"""


def xf2_quote(author: str, post_id: int, text: str) -> str:
    return (
        f'<blockquote data-attributes="member: 9" data-quote="{author}" '
        f'data-source="post: {post_id}" class="bbCodeBlock bbCodeBlock--expandable '
        'bbCodeBlock--quote js-expandWatch">'
        f'<div class="bbCodeBlock-title"><a href="/community/goto/post?id={post_id}" '
        f'class="bbCodeBlock-sourceJump" data-xf-click="attribution">{author} said:</a></div>'
        '<div class="bbCodeBlock-content"><div class="bbCodeBlock-expandContent js-expandContent">'
        f"{text}</div>"
        '<div class="bbCodeBlock-expandLink js-expandLink"><a role="button">Click to expand...</a>'
        "</div></div></blockquote>"
    )


def xf2_nav(page: int, last: int) -> str:
    if last == 1:
        return ""
    items = "".join(
        f'<li class="pageNav-page{" pageNav-page--current" if n == page else ""}">'
        f'<a href="{THREAD_PATH}{"" if n == 1 else f"page-{n}"}">{n}</a></li>'
        for n in range(1, last + 1)
    )
    return f'<div class="pageNav"><ul class="pageNav-main">{items}</ul></div>'


def page_suffix(page: int) -> str:
    return "" if page == 1 else f"page-{page}"


def xf2_page(posts: list[str], page: int, last: int, template: str = "thread_view") -> str:
    return f"""<!DOCTYPE html>
<html id="XF" lang="en-US" dir="LTR" data-app="public" data-template="{template}"
    data-content-key="thread-42" class="has-no-js template-{template}">
<head><meta charset="utf-8" /><title>Tram extension vote | Page {page} | Riverside Forum</title>
<link rel="canonical" href="https://riverside.example{THREAD_PATH}{page_suffix(page)}" />
</head><body>
<div class="p-title"><h1 class="p-title-value"><span class="label label--blue">Poll</span>
<span class="label-append">&nbsp;</span>Tram extension vote</h1></div>
{xf2_nav(page, last)}
<div class="block-body js-replyNewMessageContainer">{"".join(posts)}</div>
{xf2_nav(page, last)}
</body></html>"""


T0 = 1_700_000_000
OWN_POSTS = [
    (
        1001,
        "Mara",
        "The council wants the tram to reach the hospital by next spring at the latest.",
    ),
    (
        1002,
        "Jonas",
        "Reaching the hospital means digging up the whole of Mill Street for two summers.",
    ),
    (1003, "Ines", "Mill Street shops would lose their passing trade while the tracks go in."),
    (1004, "Olaf", "Buses already reach the hospital every ten minutes, so why a tram at all?"),
    (1005, "Mara", "A tram carries three buses worth of riders and never gets stuck in traffic."),
    (1006, "Jonas", "Then run it along the river road instead, where nobody has a shop window."),
]
QUOTES = {  # post id → (quoted post id, the quoted words)
    1002: (1001, OWN_POSTS[0][2]),
    1004: (1002, OWN_POSTS[1][2]),
    1006: (1003, OWN_POSTS[2][2]),
}


def own_thread_pages(last: int = 3) -> list[str]:
    bodies = []
    for post_id, author, words in OWN_POSTS:
        quote = ""
        if post_id in QUOTES:
            source, text = QUOTES[post_id]
            source_author = next(a for i, a, _ in OWN_POSTS if i == source)
            quote = xf2_quote(source_author, source, text)
        bodies.append(xf2_post(post_id, author, T0 + post_id * 60, quote + words))
    per_page = -(-len(bodies) // last)
    return [xf2_page(bodies[i * per_page : (i + 1) * per_page], i + 1, last) for i in range(last)]


def serve_own_thread(forum: LoopbackForum, last: int = 3) -> list[str]:
    return [
        forum.serve(THREAD_PATH if n == 1 else f"{THREAD_PATH}page-{n}", html)
        for n, html in enumerate(own_thread_pages(last), start=1)
    ]


def test_own_xf2_page_parses_quotes_times_and_drops_chrome():
    page = parse_page(own_thread_pages(last=1)[0], "https://riverside.example" + THREAD_PATH)
    assert page.title == "Tram extension vote"  # the "Poll" prefix label is not the title
    assert (page.page, page.last_page) == (1, 1)
    assert [p.source_id for p in page.posts] == [str(i) for i, _, _ in OWN_POSTS]
    assert [p.author for p in page.posts] == [a for _, a, _ in OWN_POSTS]
    jonas = page.posts[1]
    assert jonas.time == datetime.fromtimestamp(T0 + 1002 * 60, UTC)
    assert jonas.url == f"https://riverside.example{THREAD_PATH}post-1002"
    assert jonas.blocks[0].is_quote
    assert (jonas.blocks[0].quoted_author, jonas.blocks[0].quoted_source_id) == ("Mara", "1001")
    assert jonas.blocks[0].text == OWN_POSTS[0][2]
    assert jonas.blocks[1].text == OWN_POSTS[1][2]
    assert jonas.reply_to_source_id is None
    everything = "\n".join(p.text for p in page.posts)
    assert not any(c in everything for c in CHROME)
    assert "Ride the number 4" not in everything and "3 others" not in everything


def test_a_post_without_a_body_is_skipped_and_its_signature_not_read():
    gone = (
        xf2_post(1099, "Nils", T0, "")
        .replace('<article class="message-body js-selectToQuote">', "<article>")
        .replace('<div class="bbWrapper"></div>', "")
    )
    html = own_thread_pages(last=1)[0].replace("</div>\n\n</body>", gone + "</div>\n\n</body>")
    assert "Nils" in html
    page = parse_page(html, "https://riverside.example" + THREAD_PATH)
    assert [p.source_id for p in page.posts] == [str(i) for i, _, _ in OWN_POSTS]


async def test_every_page_is_read_in_order_with_progress(forum, fetcher):
    urls = serve_own_thread(forum, last=3)
    lines, options = progress_log()
    doc = await READER.read(fetcher, urls[1] + "#post-1003", options)  # a page-2 link
    assert forum.requests == [THREAD_PATH, f"{THREAD_PATH}page-2", f"{THREAD_PATH}page-3"]
    assert lines == ["page 1 of 3", "page 2 of 3", "page 3 of 3"]
    assert [p.source_id for p in doc.posts] == [str(i) for i, _, _ in OWN_POSTS]
    assert doc.url == urls[0] and doc.title == "Tram extension vote" and doc.notes == ()
    assert fetcher.refused == []
    analysed = infer_quotes(doc)
    number = {p.source_id: p.number for p in analysed.posts}
    want = {(number[str(a)], number[str(b)]) for a, (b, _) in QUOTES.items()}
    assert {(e.from_post, e.to_post) for e in analysed.edges} == want


async def test_page_cap_stops_and_says_so(forum, fetcher):
    serve_own_thread(forum, last=3)
    lines: list[str] = []
    doc = await READER.read(
        fetcher, forum.url(THREAD_PATH), ReadOptions(max_pages=2, progress=lines.append)
    )
    assert forum.requests == [THREAD_PATH, f"{THREAD_PATH}page-2"]
    assert doc.notes == ("stopped at page 2 of 3; run refresh to continue",)
    assert [p.source_id for p in doc.posts] == ["1001", "1002", "1003", "1004"]
    assert lines == ["page 1 of 3", "page 2 of 3"]


async def test_refresh_starts_at_the_given_page(forum, fetcher):
    serve_own_thread(forum, last=3)
    doc = await READER.read(fetcher, forum.url(THREAD_PATH), ReadOptions(start_page=2))
    assert forum.requests == [f"{THREAD_PATH}page-2", f"{THREAD_PATH}page-3"]
    assert [p.source_id for p in doc.posts] == ["1003", "1004", "1005", "1006"]


async def test_a_post_that_moved_to_the_next_page_is_kept_once(forum, fetcher):
    pages = own_thread_pages(last=3)
    # A post was deleted while reading: page 3 now starts with the last post of page 2.
    moved = xf2_post(1004, "Olaf", T0, "Buses already reach the hospital every ten minutes.")
    pages[2] = pages[2].replace(
        '<div class="block-body js-replyNewMessageContainer">',
        '<div class="block-body js-replyNewMessageContainer">' + moved,
    )
    for n, html in enumerate(pages, start=1):
        forum.serve(THREAD_PATH if n == 1 else f"{THREAD_PATH}page-{n}", html)
    doc = await READER.read(fetcher, forum.url(THREAD_PATH), ReadOptions())
    assert [p.source_id for p in doc.posts] == [str(i) for i, _, _ in OWN_POSTS]


async def test_a_forum_index_is_not_a_thread(forum, fetcher):
    url = forum.serve("/community/forums/transport.5/", xf2_page([], 1, 1, template="forum_view"))
    with pytest.raises(
        SourceError, match=r"this XenForo page is not a thread \(it is a “forum_view” page\)"
    ):
        await READER.read(fetcher, url, ReadOptions())
    with pytest.raises(SourceError, match="not a thread"):
        READER.parse_saved(xf2_page([], 1, 1, template="forum_list"))


async def test_a_missing_later_page_keeps_what_was_read_and_refresh_starts_there(forum, fetcher):
    urls = serve_own_thread(forum, last=3)
    del forum.pages[page_key(f"{THREAD_PATH}page-3", "")]
    doc = await READER.read(fetcher, urls[0], ReadOptions())
    assert len(doc.posts) == 4  # pages 1 and 2 (issue 16: one bad page no longer loses all)
    (note,) = doc.notes
    assert "page 3 could not be read" in note and "404" in note and "refresh" in note
    assert doc.resume_page == 3


async def test_a_missing_first_page_fails_the_read(forum, fetcher):
    urls = serve_own_thread(forum, last=3)
    del forum.pages[page_key(THREAD_PATH, "")]
    with pytest.raises(SourceError, match="404"):
        await READER.read(fetcher, urls[0], ReadOptions())


# --- XenForo 1: the real page split into a served three-page thread ---------------------------

XF1_PATH = "/threads/renascence-a-homura-quest.10402/"


def split_xf1(raw: str, sizes: tuple[int, ...]) -> list[str]:
    """The saved page cut into consecutive pages with their own PageNav (base href kept)."""
    starts = [m.start() for m in re.finditer(r'<li id="post-\d+" class="message', raw)]
    end = raw.index("</ol>", starts[-1])
    chunks = [raw[a:b] for a, b in zip(starts, [*starts[1:], end], strict=True)]
    head, tail = raw[: starts[0]], raw[end:]
    pages, start = [], 0
    for n, size in enumerate(sizes, start=1):
        body = "".join(chunks[start : start + size])
        start += size
        html = head + body + tail
        html = re.sub(r'data-page="\d+"', f'data-page="{n}"', html)
        html = re.sub(r'data-last="\d+"', f'data-last="{len(sizes)}"', html)
        pages.append(html)
    return pages


async def test_xf1_thread_over_three_served_pages(forum, fetcher, xf1_raw):
    sizes = (9, 8, 8)
    for n, html in enumerate(split_xf1(xf1_raw, sizes), start=1):
        forum.serve(XF1_PATH if n == 1 else f"{XF1_PATH}page-{n}", html)
    lines, options = progress_log()
    doc = await READER.read(fetcher, forum.url(XF1_PATH + "page-3"), options)
    # The page's <base href> names the real forum; page links stay on the host we were given.
    assert fetcher.refused == []
    assert forum.requests == [XF1_PATH, f"{XF1_PATH}page-2", f"{XF1_PATH}page-3"]
    assert lines == ["page 1 of 3", "page 2 of 3", "page 3 of 3"]
    want = xf1_raw_posts(xf1_raw)
    assert [p.source_id for p in doc.posts] == [i for i, _, _ in want]
    assert sum(len(q) for q in quote_pairs(doc)) == 20
    assert doc.url == forum.url(XF1_PATH)


# --- URLs and sniffing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "thread"),
    [
        ("https://f.example/threads/a-b.12/", "https://f.example/threads/a-b.12/"),
        ("https://f.example/threads/a-b.12/page-7", "https://f.example/threads/a-b.12/"),
        (
            "https://f.example/community/threads/v1.2-out.9/post-5#post-5",
            "https://f.example/community/threads/v1.2-out.9/",
        ),
        ("https://f.example/threads/12/", "https://f.example/threads/12/"),
        (
            "https://f.example/index.php?threads/a-b.12/page-3",
            "https://f.example/index.php?threads/a-b.12/",
        ),
        ("https://f.example/threads/12-a-vbulletin-thread", None),
        ("https://f.example/forums/news.3/", None),
        ("ftp://f.example/threads/a.1/", None),
        ("not a url", None),
    ],
)
def test_thread_urls(url, thread):
    assert thread_url_of(url) == thread
    assert READER.matches_url(url) is (thread is not None)


def test_start_url_goes_to_the_wanted_page():
    assert (
        READER.start_url("https://f.example/threads/a.1/page-9", 1)
        == "https://f.example/threads/a.1/"
    )
    assert (
        READER.start_url("https://f.example/threads/a.1/", 4)
        == "https://f.example/threads/a.1/page-4"
    )


def test_sniff_knows_both_versions_and_nothing_else():
    assert READER.sniff('<!DOCTYPE html>\n<html id="XF" lang="en">')
    assert READER.sniff('\ufeff<!DOCTYPE html>\n<html id="XenForo" class="Public">')
    assert not READER.sniff(
        '<html id="vbulletin_html"><meta name="generator" content="vBulletin 4">'
    )
    assert not READER.sniff('<html><body id="phpbb">')
    assert not READER.sniff("plain text that mentions XenForo")


def test_post_counters_are_the_forums_post_numbers(xf1_raw):
    from bot.sources.xenforo import READER as XF

    want = [
        int(n) for n in re.findall(r'class="item muted postNumber[^"]*"[^>]*>#(\d+)</a>', xf1_raw)
    ]
    assert len(want) == 25 and want[0] == 1326  # page 54 of 25-post pages
    assert [p.forum_number for p in XF.parse_saved(xf1_raw).posts] == want
    raw2 = need_shared(XF2).read_text(encoding="utf-8")
    want2 = [int(n) for n in re.findall(r'rel="nofollow">\s*#(\d+)\s*</a>', raw2)]
    assert want2 == list(range(1, 9))
    assert [p.forum_number for p in XF.parse_saved(raw2).posts] == want2
