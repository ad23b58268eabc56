"""Reddit reader: real PRAW-recorded answers from ../shared, "load more" over a loopback server.

Expected values come from walking the raw JSON with plain loops, never from the reader.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.core.quotes import infer_quotes
from bot.errors import SourceError
from bot.sources.base import FetchedPage, ReadOptions
from bot.sources.reddit import (
    MORE_PER_REQUEST,
    RedditReader,
    body_blocks,
    parse_reddit_url,
)
from tests.conftest import SHARED, need_shared

FIXTURES = SHARED / "fixtures" / "reddit"
FUNNY = "r_funny_3hahrw_ba-dum-tsss_comments.json"
MORE = "r_funny_3hahrw_morechildren_cu5pg2h.json"
DEV = "r_redditdev_2gmzqe_comments.json"
FUNNY_PATH = "/r/funny/comments/3hahrw/ba_dum_tsss"


def load(name: str) -> Any:
    return json.loads(need_shared(FIXTURES / name).read_text(encoding="utf-8"))


def comments_in_order(children: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every t1 comment's data, depth-first, the way the page shows them."""
    for child in children:
        if child["kind"] != "t1":
            continue
        yield child["data"]
        replies = child["data"]["replies"]
        if replies:
            yield from comments_in_order(replies["data"]["children"])


def quotes_with_words(body_html: str) -> list[str]:
    """Reddit's own rendering of the quotes, read with a regex; empty ones ("> ") left out."""
    found = re.findall(r"<blockquote>(.*?)</blockquote>", body_html, re.S)
    return [q for q in found if re.sub(r"<[^>]+>|\s", "", q)]


# --- URL shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "link", "sub", "slug"),
    [
        (
            "https://www.reddit.com/r/funny/comments/3hahrw/ba_dum_tsss/",
            "3hahrw",
            "funny",
            "ba_dum_tsss",
        ),
        (
            "https://old.reddit.com/r/funny/comments/3hahrw/ba_dum_tsss/cu5pg2h/",
            "3hahrw",
            "funny",
            "ba_dum_tsss",
        ),
        ("https://reddit.com/r/funny/comments/3hahrw", "3hahrw", "funny", None),
        ("https://www.reddit.com/comments/3hahrw/", "3hahrw", None, None),
        ("https://np.reddit.com/r/funny/comments/3hahrw/x.json", "3hahrw", "funny", "x"),
    ],
)
def test_reddit_urls_are_understood(url, link, sub, slug):
    where = parse_reddit_url(url)
    assert where is not None
    assert (where.link_id, where.subreddit, where.slug) == (link, sub, slug)
    assert where.origin == "https://www.reddit.com"
    assert RedditReader().matches_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://www.reddit.com/r/funny/",
        "https://www.reddit.com/user/someone",
        "https://forum.example/t/slug/12",
        "https://evilreddit.com.example/r/x/comments/abc/",  # not a Reddit host
    ],
)
def test_other_urls_are_not_reddit_threads(url):
    assert not RedditReader().matches_url(url)


# --- real answers ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [FUNNY, DEV])
def test_fixture_posts_order_parents_authors_and_deletions_match_the_file(name):
    data = load(name)
    submission = data[0]["data"]["children"][0]["data"]
    comments = list(comments_in_order(data[1]["data"]["children"]))
    doc = RedditReader().parse_saved(json.dumps(data))

    assert doc.title == submission["title"]
    assert doc.url == "https://www.reddit.com" + submission["permalink"]
    assert len(doc.posts) == 1 + len(comments)
    first, rest = doc.posts[0], doc.posts[1:]
    assert first.source_id == "t3_" + submission["id"] and first.author == submission["author"]
    assert first.blocks[0].text == submission["title"]
    assert [p.source_id for p in rest] == ["t1_" + c["id"] for c in comments]
    assert [p.reply_to_source_id for p in rest] == [c["parent_id"] for c in comments]
    assert [p.author for p in rest] == [
        None if c["author"] == "[deleted]" else c["author"] for c in comments
    ]
    assert [p.deleted for p in rest] == [c["body"] in ("[deleted]", "[removed]") for c in comments]
    assert [int(p.time.timestamp()) for p in rest] == [int(c["created_utc"]) for c in comments]
    assert all(p.url == f"{doc.url}{c['id']}/" for p, c in zip(rest, comments, strict=True))


def test_the_long_fixture_is_what_sources_md_says():
    data = load(FUNNY)
    comments = list(comments_in_order(data[1]["data"]["children"]))
    assert len(comments) == 476
    assert sum(c["body_html"].count("<blockquote>") for c in comments) == 13


def test_quoted_lines_are_quotes_of_the_parent():
    data = load(FUNNY)
    comments = list(comments_in_order(data[1]["data"]["children"]))
    doc = RedditReader().parse_saved(json.dumps(data))
    authors = {"t1_" + c["id"]: c["author"] for c in comments}
    authors["t3_3hahrw"] = data[0]["data"]["children"][0]["data"]["author"]
    quoting = {"t1_" + c["id"] for c in comments if quotes_with_words(c["body_html"])}
    got = {p.source_id for p in doc.posts if any(b.is_quote for b in p.blocks)}
    assert got == quoting
    for post in doc.posts:
        for block in post.blocks:
            if block.is_quote:
                assert block.quoted_source_id == post.reply_to_source_id
                parent_author = authors[post.reply_to_source_id]
                expected = None if parent_author == "[deleted]" else parent_author
                assert block.quoted_author == expected
                assert not block.text.startswith(">")


def test_every_reply_becomes_a_reply_edge_to_its_parent_and_no_quote():
    data = load(FUNNY)
    doc = RedditReader().parse_saved(json.dumps(data))
    analysed = infer_quotes(doc)
    number = {p.source_id: p.number for p in analysed.posts}
    replies = {(r.from_post, r.to_post) for r in analysed.replies}
    for post in doc.posts[1:]:
        me, parent = number[post.source_id], number[post.reply_to_source_id]
        assert parent < me
        assert (me, parent) in replies
        assert analysed.posts[me - 1].reply_to == parent
    assert len(replies) == len(doc.posts) - 1
    # a quote edge is a quote: only posts with quoted words have one (13 comments quote)
    quoting = {p.number for p in analysed.posts if any(s.kind == "quote" for s in p.segments)}
    assert {e.from_post for e in analysed.edges} <= quoting
    assert len(analysed.edges) < len(replies) // 10
    quoted = [s for p in analysed.posts for s in p.segments if s.explicit]
    assert len(quoted) == sum(1 for p in doc.posts for b in p.blocks if b.is_quote)
    for post in analysed.posts:
        for seg in post.segments:
            if seg.explicit:
                assert seg.source_post == post.reply_to


def test_bad_answers_are_source_errors():
    reader = RedditReader()
    with pytest.raises(SourceError, match="JSON"):
        reader.parse_saved('[{"kind": "Listing", ')
    with pytest.raises(SourceError, match="Reddit"):
        reader.parse_saved('{"message": "Forbidden", "error": 403}')
    with pytest.raises(SourceError):
        reader.parse_saved('[{"kind": "Listing", "data": {"children": []}}, {}]')


def test_sniff():
    reader = RedditReader()
    assert reader.sniff(need_shared(FIXTURES / DEV).read_text()[:3000])
    assert not reader.sniff('{"post_stream": {}}')


# --- our own words: markdown details ----------------------------------------------------------


def test_markdown_bodies_quotes_code_links_and_escaping():
    body = (
        "> The bus was late again\n"
        "> three times this week\n"
        "\n"
        "It was **four** for me, see [the timetable](https://bus.example/t?a=(1)).\n"
        "\n"
        "    print('not prose')\n"
        "\n"
        "```\n"
        "also code\n"
        "```\n"
        "***\n"
        ">>nested marker\n"
        "5*3 is ^(small) 15\n"
    )
    blocks = body_blocks(body, "rowan", "t1_abc")
    assert [(b.text, b.is_quote) for b in blocks] == [
        ("The bus was late again three times this week", True),
        ("It was four for me, see the timetable.", False),
        ("[code]", False),
        ("[code]", False),
        ("nested marker", True),
        ("5*3 is (small) 15", False),
    ]
    assert {(b.quoted_author, b.quoted_source_id) for b in blocks if b.is_quote} == {
        ("rowan", "t1_abc")
    }
    escaped = body_blocks("&gt; fish &amp; chips\n\nyes &lt;3", None, "t3_x", escaped=True)
    assert [(b.text, b.is_quote) for b in escaped] == [("fish & chips", True), ("yes <3", False)]


# --- "load more" over a real loopback server ---------------------------------------------------


class LoopbackFetcher:
    """Test-only PageFetcher: plain aiohttp GETs that refuse any host but loopback."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.urls: list[str] = []

    async def get_text(self, url: str) -> FetchedPage:
        assert urlsplit(url).hostname in ("127.0.0.1", "::1"), url
        self.urls.append(url)
        async with self.session.get(url) as resp:
            text = await resp.text()
            if resp.status != 200:
                raise SourceError(f"HTTP {resp.status} for {url}")
            return FetchedPage(str(resp.url), resp.status, resp.content_type, text)

    async def get_json(self, url: str) -> Any:
        page = await self.get_text(url)
        try:
            return json.loads(page.text)
        except json.JSONDecodeError as exc:
            raise SourceError("not JSON") from exc


def flat(children: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """What /api/morechildren sends: every thing depth-first, with `replies` emptied."""
    for child in children:
        thing = copy.deepcopy(child)
        replies = child["data"].get("replies") if child["kind"] == "t1" else None
        if child["kind"] == "t1":
            thing["data"]["replies"] = ""
        yield thing
        if replies:
            yield from flat(replies["data"]["children"])


class FakeReddit:
    """Reddit's three endpoints over loopback, answering from a comment tree we hold.

    `hidden` maps a comment id to its full subtree (cut out of the page behind a stub);
    `canned` maps a children= value to a recorded morechildren answer. A stub nobody knows
    gets an empty answer, and a "continue this thread" page shows the comment without
    replies, the shapes Reddit uses when the comments are gone.
    """

    def __init__(self, page: Any, hidden: dict[str, dict[str, Any]] | None = None) -> None:
        self.page = page
        self.hidden = hidden or {}
        self.canned: dict[str, Any] = {}
        self.more_calls: list[list[str]] = []
        self.continue_calls: list[str] = []
        self.app = web.Application()
        self.app.router.add_get("/{tail:.*}", self.route)

    async def route(self, request: web.Request) -> web.Response:
        path = request.path
        if path == FUNNY_PATH + ".json":
            assert request.query.get("raw_json") == "1"
            return web.json_response(self.page)
        if path == "/api/morechildren.json":
            assert request.query["link_id"] == "t3_3hahrw"
            assert request.query["api_type"] == "json"
            wanted = request.query["children"]
            ids = wanted.split(",")
            assert len(ids) <= MORE_PER_REQUEST
            self.more_calls.append(ids)
            if wanted in self.canned:
                return web.json_response(self.canned[wanted])
            things = [t for i in ids if i in self.hidden for t in flat([self.hidden[i]])]
            return web.json_response({"json": {"errors": [], "data": {"things": things}}})
        if path.startswith(FUNNY_PATH + "/") and path.endswith(".json"):
            cid = path.removeprefix(FUNNY_PATH + "/").removesuffix(".json")
            self.continue_calls.append(cid)
            everywhere = [*self.page[1]["data"]["children"], *self.hidden.values()]
            comment = next(c for c in comments_in_order(everywhere) if c["id"] == cid)
            alone = {**comment, "replies": ""}
            listing = {"kind": "Listing", "data": {"children": [{"kind": "t1", "data": alone}]}}
            return web.json_response([self.page[0], listing])
        return web.json_response({"message": "Not Found", "error": 404}, status=404)


async def read_fake(server: FakeReddit, options: ReadOptions):
    async with (
        TestServer(server.app, host="127.0.0.1") as ts,
        aiohttp.ClientSession(trust_env=False) as session,
    ):
        fetcher = LoopbackFetcher(session)
        url = str(ts.make_url(FUNNY_PATH + "/"))
        return await RedditReader().read(fetcher, url, options), fetcher


async def test_recorded_morechildren_answer_is_reattached_under_its_parent():
    page, answer = load(FUNNY), load(MORE)
    server = FakeReddit(page)
    server.canned["cu5pg2h"] = answer
    lines: list[str] = []
    doc, fetcher = await read_fake(server, ReadOptions(max_pages=100, progress=lines.append))

    stubs = [c for c in _all_things(page[1]["data"]["children"]) if c["kind"] == "more"]
    with_children = [s for s in stubs if s["data"]["children"]]
    assert len(server.more_calls) == len(with_children)
    assert len(server.continue_calls) == len(stubs) - len(with_children)
    assert len(fetcher.urls) == 1 + len(stubs) and lines[-1] == f"page {1 + len(stubs)}"
    assert doc.notes == ()

    things = [t["data"] for t in answer["json"]["data"]["things"]]
    assert len(things) == 11
    ids = [p.source_id for p in doc.posts]
    assert len(doc.posts) == 1 + 476 + 11
    assert set(ids) >= {"t1_" + t["id"] for t in things}
    by_id = {p.source_id: p for p in doc.posts}
    for thing in things:
        assert by_id["t1_" + thing["id"]].reply_to_source_id == thing["parent_id"]
        assert ids.index(thing["parent_id"]) < ids.index("t1_" + thing["id"])
    # the stub sat among cu5p1hh's replies: the new branch follows cu5p1hh's loaded replies
    start = ids.index("t1_cu5pg2h")
    assert ids[start : start + 7] == ["t1_" + t["id"] for t in things[:7]]  # depth-first run


async def test_cut_branches_come_back_in_the_same_order_over_several_requests():
    """Cut 127 top-level comments and a nested branch out behind stubs; reading restores them."""
    page = load(FUNNY)
    expected = RedditReader().parse_saved(json.dumps(page))
    cut = copy.deepcopy(page)
    top = cut[1]["data"]["children"]
    hidden: dict[str, dict[str, Any]] = {}
    nested_holder = top[0]["data"]["replies"]["data"]["children"]
    nested_cut = [c for c in nested_holder[1:] if c["kind"] == "t1"]
    for c in nested_cut:
        hidden[c["data"]["id"]] = c
    nested_holder[1:] = [_stub(top[0]["data"]["name"], [c["data"]["id"] for c in nested_cut])]
    moved = [c for c in top[10:] if c["kind"] == "t1"]
    for c in moved:
        hidden[c["data"]["id"]] = c
    tail = [c for c in top[10:] if c["kind"] == "more"]
    top[10:] = [_stub("t3_3hahrw", [c["data"]["id"] for c in moved]), *tail]
    assert len(moved) > MORE_PER_REQUEST

    server = FakeReddit(cut, hidden)
    doc, _ = await read_fake(server, ReadOptions(max_pages=200))
    assert [p.source_id for p in doc.posts] == [p.source_id for p in expected.posts]
    assert [p.reply_to_source_id for p in doc.posts] == [
        p.reply_to_source_id for p in expected.posts
    ]
    assert [p.blocks for p in doc.posts] == [p.blocks for p in expected.posts]
    sizes = [len(c) for c in server.more_calls if c[0] in hidden]
    assert sizes == [len(nested_cut), MORE_PER_REQUEST, len(moved) - MORE_PER_REQUEST]


async def test_page_cap_leaves_stubs_and_says_so():
    page = load(FUNNY)
    server = FakeReddit(page)
    doc, fetcher = await read_fake(server, ReadOptions(max_pages=3))
    assert len(fetcher.urls) == 3
    assert len(doc.posts) == 1 + 476
    assert len(doc.notes) == 1 and doc.notes[0].startswith("stopped at page 3 (the page cap)")
    assert "more comments" in doc.notes[0]


async def test_a_failing_expansion_keeps_what_was_read():
    page = load(FUNNY)
    server = FakeReddit(page)

    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"message": "Forbidden", "error": 403}, status=403)

    server.app = web.Application()
    server.app.router.add_get("/api/morechildren.json", refuse)
    server.app.router.add_get("/{tail:.*}", server.route)
    doc, _ = await read_fake(server, ReadOptions(max_pages=50))
    assert len(doc.posts) == 1 + 476
    assert any("could not be loaded" in n and "403" in n for n in doc.notes)


def _stub(parent: str, children: list[str]) -> dict[str, Any]:
    return {
        "kind": "more",
        "data": {
            "count": len(children),
            "parent_id": parent,
            "children": children,
            "name": "t1_" + children[0],
            "id": children[0],
        },
    }


def _all_things(children: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for child in children:
        yield child
        replies = child["data"].get("replies") if child["kind"] == "t1" else None
        if replies:
            yield from _all_things(replies["data"]["children"])


def test_vote_scores_are_kept_as_likes():
    """Reddit's score (which may be negative, or hidden on young comments) is the post's
    engagement; read here from the raw listing in page order."""
    data = load(DEV)
    doc = RedditReader().parse_saved(json.dumps(data))
    submission = data[0]["data"]["children"][0]["data"]
    comments = list(comments_in_order(data[1]["data"]["children"]))
    expected = [submission["score"]] + [
        None if c.get("score_hidden") else c["score"] for c in comments
    ]
    assert [p.likes for p in doc.posts] == expected
    assert expected[0] > 0
