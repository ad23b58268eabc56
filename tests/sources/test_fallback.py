"""Pages no reader knows: the refusal names what we read; best-effort reads the main text."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from bs4 import BeautifulSoup

from bot.core.quotes import infer_quotes
from bot.errors import SourceError
from bot.sources.base import FetchedPage, ReadOptions
from bot.sources.fallback import (
    BestEffortReader,
    best_effort,
    identify_engine,
    unsupported_page_error,
)
from tests.conftest import SHARED, need_shared

NODEBB = SHARED / "fixtures" / "other" / "nodebb_community_new-design-for-nodebb-chat.html"

ARTICLE = """<!doctype html>
<html><head><title>Pond notes | Village Wildlife Group</title>
<meta property="og:title" content="Pond notes: the newts are back"></head>
<body>
<header class="site-header"><a href="/">Home</a> <a href="/join">Join us</a></header>
<nav class="main-menu"><ul><li><a href="/a">Meetings</a></li>
  <li><a href="/b">Walks</a></li></ul></nav>
<div class="layout">
  <aside class="sidebar"><h3>Popular</h3>
    <p><a href="/x">Ten facts about hedgehogs nobody told you</a></p></aside>
  <main><article class="entry">
    <h1>Pond notes: the newts are back</h1>
    <p>On Saturday morning we counted fourteen smooth newts in the lower pond, the most since
    the liner was replaced, and two of them were carrying eggs.</p>
    <p>The water was clear, the marsh marigolds had opened, and the frogspawn from March has
    become a cloud of tadpoles near the shallow end, where the sun warms the water first.</p>
    <blockquote><p>Leave the pond edges uncut until June, please.</p></blockquote>
    <p>Next survey: the first Saturday of May, nine o'clock, bring boots and a torch.</p>
  </article></main>
</div>
<div class="cookie-banner"><p>We use cookies to remember your login and your preferences.</p></div>
<footer class="site-footer">
  <p>Village Wildlife Group, registered charity, all rights reserved.</p></footer>
</body></html>"""


def test_refusal_names_every_supported_forum_and_the_way_out():
    message = str(unsupported_page_error(ARTICLE, "https://wildlife.example/pond"))
    for forum in ("XenForo", "Discourse", "Reddit", "phpBB", "vBulletin"):
        assert forum in message
    assert "https://wildlife.example/pond" in message
    assert "looks like none of them" in message
    assert "--best-effort" in message and "force=True" not in message  # no such CLI option
    assert isinstance(unsupported_page_error(), SourceError)


def test_nodebb_is_named_in_the_refusal():
    html = need_shared(NODEBB).read_text(encoding="utf-8")
    assert identify_engine(html) == "NodeBB"
    assert "NodeBB forum, which threadwise does not read yet" in str(unsupported_page_error(html))
    assert identify_engine(ARTICLE) is None


def test_best_effort_keeps_the_article_and_drops_the_chrome():
    doc = best_effort(ARTICLE, "https://wildlife.example/pond")
    assert doc.source_kind == "web"
    assert doc.title == "Pond notes: the newts are back"
    assert doc.url == "https://wildlife.example/pond"
    assert len(doc.posts) == 1
    texts = [b.text for b in doc.posts[0].blocks]
    assert any(t.startswith("On Saturday morning we counted fourteen smooth newts") for t in texts)
    assert any(t.startswith("Next survey: the first Saturday of May") for t in texts)
    quotes = [b for b in doc.posts[0].blocks if b.is_quote]
    assert [q.text for q in quotes] == ["Leave the pond edges uncut until June, please."]
    everything = " ".join(texts)
    for chrome in ("Join us", "Meetings", "hedgehogs", "cookies", "registered charity"):
        assert chrome not in everything
    assert doc.notes and "best-effort" in doc.notes[0]


def test_best_effort_on_nodebb_splits_posts_with_authors_and_quotes():
    html = need_shared(NODEBB).read_text(encoding="utf-8")
    soup = BeautifulSoup(html, "lxml")
    boxes = soup.select('li[component="post"]')
    doc = best_effort(html, "https://community.nodebb.org/topic/13803")
    assert [p.author for p in doc.posts] == [b["data-username"] for b in boxes]
    assert [p.source_id for p in doc.posts] == [b["data-pid"] for b in boxes]
    assert [int(p.time.timestamp() * 1000) for p in doc.posts] == [
        int(b["data-timestamp"]) for b in boxes
    ]
    # NodeBB attribution: "@NAME said in TOPIC:" with a /post/N link, just before the quote
    expected = []
    for box in boxes:
        content = box.select_one('[component="post/content"]')
        for para in content.find_all("p"):
            text = para.get_text(" ", strip=True)
            link = para.find("a", href=re.compile(r"^/post/\d+$"))
            if " said in " in text and link is not None:
                expected.append((box["data-pid"], text.split()[0].lstrip("@"), link["href"][6:]))
    got = [
        (p.source_id, b.quoted_author, b.quoted_source_id)
        for p in doc.posts
        for b in p.blocks
        if b.is_quote and b.quoted_source_id
    ]
    assert sorted(got) == sorted(expected) and len(got) >= 4
    analysed = infer_quotes(doc)
    number = {p.source_id: p.number for p in analysed.posts}
    edges = {(e.from_post, e.to_post) for e in analysed.edges}
    for pid, _, quoted in expected:
        if quoted in number:
            assert (number[pid], number[quoted]) in edges


@pytest.mark.parametrize("html", ["", "   ", "<html><body><script>x()</script></body></html>"])
def test_pages_without_text_are_source_errors(html):
    with pytest.raises(SourceError):
        best_effort(html)


def test_markup_nested_past_the_recursion_limit_is_read():
    deep = "<div>" * 1500 + "deep words here" + "</div>" * 1500  # past the recursion limit
    assert best_effort(deep).posts[0].text == "deep words here"


def test_a_page_wide_sidebar_class_does_not_hide_the_text():
    html = (
        '<html><body><div class="layout-with-sidebar">'
        + "".join(
            f"<p>Paragraph {i} talks about the orchard, the pears and the wasps.</p>"
            for i in range(8)
        )
        + "</div></body></html>"
    )
    doc = best_effort(html)
    assert len(doc.posts[0].blocks) == 8


class LoopbackFetcher:
    """Test-only PageFetcher: plain aiohttp GETs that refuse any host but loopback."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def get_text(self, url: str) -> FetchedPage:
        assert urlsplit(url).hostname in ("127.0.0.1", "::1"), url
        async with self.session.get(url) as resp:
            text = await resp.text()
            if resp.status != 200:
                raise SourceError(f"HTTP {resp.status} for {url}")
            return FetchedPage(str(resp.url), resp.status, resp.content_type, text)

    async def get_json(self, url: str) -> Any:
        return json.loads((await self.get_text(url)).text)


async def test_best_effort_reader_fetches_one_page():
    app = web.Application()

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=ARTICLE, content_type="text/html")

    app.router.add_get("/pond", page)
    lines: list[str] = []
    reader = BestEffortReader()
    async with (
        TestServer(app, host="127.0.0.1") as ts,
        aiohttp.ClientSession(trust_env=False) as session,
    ):
        url = str(ts.make_url("/pond"))
        doc = await reader.read(LoopbackFetcher(session), url, ReadOptions(progress=lines.append))
    assert doc.url == url and doc.source_kind == "web" and lines == ["page 1 of 1"]
    assert "fourteen smooth newts" in doc.posts[0].text
    assert not reader.matches_url(url) and not reader.sniff(ARTICLE)
    assert reader.parse_saved(ARTICLE).posts == doc.posts
