"""Discourse reader: real API answers from ../shared, batching over a real loopback server.

Expected counts are taken from the raw JSON with plain regexes and dict walking, never from
the reader's own parsing, so a parser bug cannot agree with itself.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.core.quotes import infer_quotes
from bot.errors import SourceError
from bot.sources.base import FetchedPage, ReadOptions
from bot.sources.discourse import (
    BATCH,
    DiscourseReader,
    cooked_blocks,
    parse_topic_url,
)
from tests.conftest import SHARED, need_shared

FIXTURES = SHARED / "fixtures" / "discourse"
TOPIC_FILES = [
    "criticalfallibilism_t2108_posts_1-20.json",
    "criticalfallibilism_t2108_posts_pn41_40-21.json",
    "criticalfallibilism_t2108_posts_pn81_80-60.json",
    "criticalfallibilism_t2108_view-post452.json",
    "discourse-api-gem_try-discourse_topic57_2013.json",
]
ASIDE = re.compile(r'<aside class="quote[^"]*"(?P<attrs>[^>]*)>')
ATTR = re.compile(r'(data-[a-z]+)="([^"]*)"')
FORUM = "https://forum.example/t/some-topic/2108"


def load(name: str) -> dict[str, Any]:
    return json.loads(need_shared(FIXTURES / name).read_text(encoding="utf-8"))


def raw_posts(data: dict[str, Any]) -> list[dict[str, Any]]:
    return data["post_stream"]["posts"]


def asides(cooked: str) -> list[dict[str, str]]:
    """Every quote aside's data- attributes, read with a regex from the raw cooked string."""
    return [dict(ATTR.findall(m.group("attrs"))) for m in ASIDE.finditer(cooked)]


# --- URL shapes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "base", "topic", "slug"),
    [
        ("https://meta.example/t/some-slug/123", "https://meta.example", 123, "some-slug"),
        ("https://meta.example/t/some-slug/123/45", "https://meta.example", 123, "some-slug"),
        ("https://meta.example/t/some-slug/123?page=3", "https://meta.example", 123, "some-slug"),
        ("https://meta.example/t/123", "https://meta.example", 123, None),
        ("https://meta.example/t/123/7", "https://meta.example", 123, None),
        ("https://meta.example/t/123.json", "https://meta.example", 123, None),
        ("https://x.example/forum/t/a-b/9/", "https://x.example/forum", 9, "a-b"),
        ("http://127.0.0.1:8080/t/slug/5", "http://127.0.0.1:8080", 5, "slug"),
    ],
)
def test_topic_urls_are_understood(url, base, topic, slug):
    where = parse_topic_url(url)
    assert where is not None
    assert (where.base, where.topic_id, where.slug) == (base, topic, slug)
    assert DiscourseReader().matches_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://meta.example/c/category/5",
        "https://meta.example/t/",
        "https://meta.example/t/slug",
        "ftp://meta.example/t/slug/1",
        "https://www.reddit.com/r/x/comments/abc/slug/",
        "not a url",
    ],
)
def test_other_urls_are_not_topics(url):
    assert parse_topic_url(url) is None
    assert not DiscourseReader().matches_url(url)


# --- real API answers -------------------------------------------------------------------------


@pytest.mark.parametrize("name", TOPIC_FILES)
def test_fixture_posts_authors_ids_and_quotes_match_the_file(name):
    data = load(name)
    posts = [p for p in raw_posts(data) if p.get("post_type") != 3]
    topic = str(data["id"])
    doc = DiscourseReader().parse_saved(json.dumps(data), FORUM)

    by_number = sorted(posts, key=lambda p: p["post_number"])
    assert [p.source_id for p in doc.posts] == [str(p["post_number"]) for p in by_number]
    assert [p.author for p in doc.posts] == [p["username"] for p in by_number]
    assert [p.reply_to_source_id for p in doc.posts] == [
        str(p["reply_to_post_number"]) if p["reply_to_post_number"] else None for p in by_number
    ]
    assert all(p.url and p.url.endswith(f"/{topic}/{p.source_id}") for p in doc.posts)

    expected_same, expected_other = Counter(), Counter()
    for post in posts:
        for attrs in asides(post["cooked"]):
            if attrs.get("data-topic", topic) == topic and "data-post" in attrs:
                expected_same[(attrs.get("data-username"), attrs["data-post"])] += 1
            elif attrs.get("data-topic", topic) != topic and "data-username" in attrs:
                expected_other[attrs["data-username"]] += 1
    got_same = Counter(
        (b.quoted_author, b.quoted_source_id)
        for p in doc.posts
        for b in p.blocks
        if b.is_quote and b.quoted_source_id is not None
    )
    assert got_same == expected_same
    got_other = Counter(
        b.quoted_author
        for p in doc.posts
        for b in p.blocks
        if b.is_quote and b.quoted_author and not b.quoted_source_id
    )
    assert got_other == expected_other


@pytest.mark.parametrize("name", TOPIC_FILES)
def test_likes_are_read_from_the_like_action(name):
    """Likes as the API's actions_summary counts them (action 2), read here by walking the
    raw answer; a post whose summary lists no like has 0."""
    data = load(name)
    by_number = sorted(
        (p for p in raw_posts(data) if p.get("post_type") != 3), key=lambda p: p["post_number"]
    )
    doc = DiscourseReader().parse_saved(json.dumps(data), FORUM)
    expected = []
    for post in by_number:
        if "like_count" in post:
            expected.append(post["like_count"])
        elif "actions_summary" not in post:
            expected.append(None)
        else:
            counts = [a.get("count") for a in post["actions_summary"] if a.get("id") == 2]
            expected.append(counts[0] if counts else 0)
    assert [p.likes for p in doc.posts] == expected
    assert any(likes for likes in expected) or name.startswith("discourse-api-gem")


def test_fixture_counts_agree_with_sources_md():
    """The independent counts above are the ones SOURCES.md states for these files."""
    data = load("criticalfallibilism_t2108_view-post452.json")
    cooked = [p["cooked"] for p in raw_posts(data)]
    all_asides = [a for c in cooked for a in asides(c)]
    assert (len(all_asides), sum("data-username" in a for a in all_asides)) == (27, 26)
    assert len(data["post_stream"]["stream"]) == 446
    first = load("criticalfallibilism_t2108_posts_1-20.json")
    topics = [a.get("data-topic") for p in raw_posts(first) for a in asides(p["cooked"])]
    assert (len(topics), topics.count("2081")) == (34, 1)


def test_other_topic_quote_is_kept_as_quoted_text_of_no_post_here():
    """Post 20 quotes post 1 of topic 2081: quoted words, but not post 1 of this topic."""
    doc = DiscourseReader().parse_saved(
        json.dumps(load("criticalfallibilism_t2108_posts_1-20.json")), FORUM
    )
    post = next(p for p in doc.posts if p.source_id == "20")
    other = [b for b in post.blocks if b.text.startswith("This is a companion discussion topic")]
    assert len(other) == 1
    assert other[0].is_quote and other[0].quoted_source_id is None
    assert "Prices, Decision Factors" not in post.text  # the aside's title line is dropped


def test_explicit_quotes_resolve_to_the_quoted_post_numbers():
    data = load("criticalfallibilism_t2108_posts_1-20.json")
    doc = DiscourseReader().parse_saved(json.dumps(data), FORUM)
    analysed = infer_quotes(doc)
    number_of = {p.source_id: p.number for p in analysed.posts}
    checked = 0
    for post, source in zip(analysed.posts, doc.posts, strict=True):
        explicit = [s for s in post.segments if s.explicit]
        ids = [b.quoted_source_id for b in source.blocks if b.is_quote]
        assert len(explicit) == len(ids)
        for seg, quoted in zip(explicit, ids, strict=True):
            if quoted is not None and quoted in number_of and number_of[quoted] < post.number:
                assert seg.source_post == number_of[quoted]
                checked += 1
    assert checked >= 25
    replies = {(r.from_post, r.to_post) for r in analysed.replies}
    for raw in raw_posts(data):
        if raw["reply_to_post_number"]:
            assert (raw["post_number"], raw["reply_to_post_number"]) in replies


def test_latest_posts_of_many_topics_is_refused_clearly():
    text = need_shared(FIXTURES / "criticalfallibilism_latest-posts.json").read_text()
    with pytest.raises(SourceError, match="11 topics"):
        DiscourseReader().parse_saved(text)


def test_latest_posts_parse_per_topic_with_their_own_quotes():
    """The site-wide list, grouped by topic_id: each group's quotes counted against its topic."""
    from bot.sources.discourse import parse_posts

    data = load("criticalfallibilism_latest-posts.json")
    groups: dict[int, list[dict[str, Any]]] = {}
    for post in data["latest_posts"]:
        groups.setdefault(post["topic_id"], []).append(post)
    for topic, posts in groups.items():
        docs = parse_posts(posts, topic, "https://forum.example")
        expected = sum(
            1
            for p in posts
            for a in asides(p["cooked"])
            if a.get("data-topic") == str(topic) and "data-post" in a
        )
        got = sum(1 for d in docs for b in d.blocks if b.quoted_source_id is not None)
        assert got == expected, topic


# --- our own small topic: every special case ------------------------------------------------

OWN_TOPIC: dict[str, Any] = {
    "id": 77,
    "title": "Allotment rota & water butts",
    "slug": "allotment-rota-water-butts",
    "post_stream": {
        "stream": [1001, 1002, 1003, 1004, 1005, 1006, 1007],
        "posts": [
            {
                "id": 1001,
                "post_number": 1,
                "username": "marigold",
                "created_at": "2024-04-02T08:15:00.000Z",
                "reply_to_post_number": None,
                "cooked": (
                    '<p>Who can take the Tuesday watering slot? <img class="emoji" '
                    'alt=":seedling:" src="/e.png"></p>'
                    '<div class="lightbox-wrapper"><a class="lightbox" href="/u/rota.png">'
                    '<img src="/u/rota.png" alt="rota"></a></div>'
                    '<aside class="onebox allowlistedgeneric" data-onebox-src="https://seeds.example/x">'
                    "<article><h3>Seed catalogue</h3><p>Lots of seeds</p></article></aside>"
                ),
            },
            {
                "id": 1002,
                "post_number": 2,
                "username": "bramble",
                "created_at": "2024-04-02T09:00:00.000Z",
                "reply_to_post_number": 1,
                "cooked": (
                    '<aside class="quote no-group" data-username="marigold" data-post="1" '
                    'data-topic="77"><div class="title"><img class="avatar" src="/a.png"> '
                    "marigold:</div><blockquote><p>Who can take the Tuesday watering slot?</p>"
                    "</blockquote></aside><p>I can do Tuesdays until June.<br>Not in July.</p>"
                    '<div class="spoiler"><p>the butt by the shed leaks</p></div>'
                ),
            },
            {
                "id": 1003,
                "post_number": 3,
                "username": "quince",
                "created_at": "2024-04-02T10:00:00.000Z",
                "reply_to_post_number": None,
                "user_deleted": True,
                "cooked": "<p>(post deleted by author)</p>",
            },
            {
                "id": 1004,
                "post_number": 4,
                "username": "system",
                "post_type": 3,
                "action_code": "closed.enabled",
                "cooked": "",
            },
            {
                "id": 1005,
                "post_number": 5,
                "username": "sorrel",
                "created_at": "2024-04-03T07:00:00.000Z",
                "reply_to_post_number": 2,
                "cooked": (
                    '<aside class="quote" data-username="fennel" data-post="4" data-topic="12">'
                    '<div class="title">fennel:</div><blockquote><p>Compost bins go by the '
                    "gate from May.</p></blockquote></aside>"
                    '<aside class="quote no-group" data-username="bramble" data-post="2" '
                    'data-topic="77"><div class="title">bramble:</div><blockquote>'
                    '<aside class="quote no-group" data-username="marigold" data-post="1" '
                    'data-topic="77"><div class="title">marigold:</div><blockquote>'
                    "<p>Who can take the Tuesday watering slot?</p></blockquote></aside>"
                    "<p>I can do Tuesdays until June.</p></blockquote></aside>"
                    "<p>Then I will cover July. <code>rota[7] = sorrel</code></p>"
                    "<pre><code>print('x')</code></pre>"
                ),
            },
            {
                "id": 1006,
                "post_number": 6,
                "username": "teasel",
                "created_at": "2024-04-03T08:00:00.000Z",
                "hidden": True,
                "cooked": "<p>Buy my miracle fertiliser!!!</p>",
            },
            {
                "id": 1007,
                "post_number": 7,
                "username": "yarrow",
                "created_at": "2024-04-03T09:00:00.000Z",
                "deleted_at": "2024-04-03T09:05:00.000Z",
                "cooked": "",
            },
        ],
    },
}


def test_own_topic_blocks_placeholders_deletions_and_nested_quotes():
    doc = DiscourseReader().parse_saved(
        json.dumps(OWN_TOPIC), "https://garden.example/t/allotment-rota-water-butts/77"
    )
    assert doc.title == "Allotment rota & water butts"
    assert doc.url == "https://garden.example/t/allotment-rota-water-butts/77"
    assert [p.source_id for p in doc.posts] == ["1", "2", "3", "5", "6", "7"]  # small action out
    first, second, deleted, fifth, hidden, gone = doc.posts
    assert [b.text for b in first.blocks] == [
        "Who can take the Tuesday watering slot? :seedling:",
        "[image]",
        "[link: https://seeds.example/x]",
    ]
    assert first.time is not None and first.time.isoformat() == "2024-04-02T08:15:00+00:00"
    assert first.url == "https://garden.example/t/allotment-rota-water-butts/77/1"
    quote, *rest = second.blocks
    assert (quote.is_quote, quote.quoted_author, quote.quoted_source_id) == (True, "marigold", "1")
    assert quote.text == "Who can take the Tuesday watering slot?"  # title div removed
    assert [b.text for b in rest] == ["I can do Tuesdays until June.", "Not in July.", "[spoiler]"]
    assert second.reply_to_source_id == "1"
    assert deleted.deleted and deleted.blocks[0].text.startswith("[post deleted")
    assert hidden.deleted and "fertiliser" not in hidden.text
    assert gone.deleted
    other, nested, outer, *own = fifth.blocks  # a quote inside a quote comes just before it
    assert (other.quoted_author, other.quoted_source_id) == ("fennel", None)
    assert (nested.quoted_author, nested.quoted_source_id) == ("marigold", "1")
    assert nested.text == "Who can take the Tuesday watering slot?"
    assert (outer.quoted_author, outer.quoted_source_id) == ("bramble", "2")
    assert outer.text == "I can do Tuesdays until June."
    assert [b.text for b in own] == ["Then I will cover July. rota[7] = sorrel", "[code]"]


def test_own_topic_quote_edges_after_inference():
    doc = DiscourseReader().parse_saved(json.dumps(OWN_TOPIC), "https://garden.example/t/x/77")
    analysed = infer_quotes(doc)
    edges = {(e.from_post, e.to_post): e.count for e in analysed.edges}
    # post 2 quotes post 1 (also its reply target: counted once as the quote)
    assert edges[(2, 1)] == 1
    # post 5 (4th kept post) quotes 2 and, nested, 1; it also replies to 2
    assert edges[(4, 2)] == 1 and edges[(4, 1)] == 1


def test_cooked_without_markup_and_odd_html():
    assert [b.text for b in cooked_blocks("plain words only", 1)] == ["plain words only"]
    assert cooked_blocks("", 1) == []
    blocks = cooked_blocks("<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr>", 1)
    assert [b.text for b in blocks] == ["a b", "1 2"]
    bare = cooked_blocks("<blockquote><p>someone, somewhere</p></blockquote><p>mine</p>", 1)
    assert [(b.text, b.is_quote, b.quoted_author) for b in bare] == [
        ("someone, somewhere", True, None),
        ("mine", False, None),
    ]


def test_error_answers_and_wrong_shapes_are_source_errors():
    reader = DiscourseReader()
    with pytest.raises(SourceError, match="could not be found"):
        reader.parse_saved('{"errors": ["The requested URL or resource could not be found."]}')
    with pytest.raises(SourceError, match="post_stream"):
        reader.parse_saved('{"title": "x"}')
    with pytest.raises(SourceError, match="JSON"):
        reader.parse_saved('{"post_stream": ')
    with pytest.raises(SourceError, match="no posts"):
        reader.parse_saved('{"id": 3, "post_stream": {"posts": [], "stream": []}}')


def test_sniff_knows_discourse_json_and_pages():
    reader = DiscourseReader()
    assert reader.sniff(json.dumps(OWN_TOPIC))
    assert reader.sniff('<html><head><meta name="generator" content="Discourse 3.2"></head>')
    assert not reader.sniff('[{"kind": "Listing"}]')
    assert not reader.sniff("<html><body>hello</body></html>")


# --- batching over a real loopback server ------------------------------------------------------


class LoopbackFetcher:
    """Test-only PageFetcher: plain aiohttp GETs that refuse any host but loopback."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.urls: list[str] = []

    def _check(self, url: str) -> None:
        assert urlsplit(url).hostname in ("127.0.0.1", "::1"), url
        self.urls.append(url)

    async def get_text(self, url: str) -> FetchedPage:
        self._check(url)
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


def topic_2108(full_stream: bool) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    """A topic view assembled from the 2108 fixtures, and every post they hold by id."""
    view = load("criticalfallibilism_t2108_view-post452.json")
    pool: dict[int, dict[str, Any]] = {}
    for name in TOPIC_FILES[:4]:
        for post in raw_posts(load(name)):
            pool[post["id"]] = post
    stream = view["post_stream"]["stream"]
    if not full_stream:
        stream = [pid for pid in stream if pid in pool]
    first = [pool[pid] for pid in stream[:BATCH]]
    topic = {
        "id": view["id"],
        "title": view["title"],
        "slug": view["slug"],
        "posts_count": len(stream),
        "post_stream": {"posts": first, "stream": stream},
    }
    return topic, pool


class DiscourseServer:
    def __init__(self, topic: dict[str, Any], pool: dict[int, dict[str, Any]]) -> None:
        self.topic, self.pool = topic, pool
        self.batches: list[list[int]] = []
        self.app = web.Application()
        self.app.router.add_get("/t/2108.json", self.view)
        self.app.router.add_get("/t/2108/posts.json", self.posts)

    async def view(self, request: web.Request) -> web.Response:
        return web.json_response(self.topic)

    async def posts(self, request: web.Request) -> web.Response:
        ids = [int(i) for i in request.query.getall("post_ids[]")]
        self.batches.append(ids)
        found = [self.pool[i] for i in ids if i in self.pool]  # like Discourse: missing skipped
        return web.json_response({"post_stream": {"posts": found}, "id": 2108})


async def read_from_server(server: DiscourseServer, options: ReadOptions):
    async with (
        TestServer(server.app, host="127.0.0.1") as ts,
        aiohttp.ClientSession(trust_env=False) as session,
    ):
        fetcher = LoopbackFetcher(session)
        url = str(ts.make_url("/t/comments-on-the-boyfriends-introduction/2108/17"))
        doc = await DiscourseReader().read(fetcher, url, options)
        return doc, fetcher


async def test_every_post_is_read_in_batches():
    topic, pool = topic_2108(full_stream=False)
    stream = topic["post_stream"]["stream"]
    server = DiscourseServer(topic, pool)
    lines: list[str] = []
    doc, fetcher = await read_from_server(server, ReadOptions(max_pages=50, progress=lines.append))
    assert [int(p.source_id) for p in doc.posts] == sorted(pool[i]["post_number"] for i in stream)
    assert len(doc.posts) == len(stream) == 80
    assert [len(b) for b in server.batches] == [20, 20, 20]
    assert sorted(i for b in server.batches for i in b) == sorted(stream[BATCH:])
    assert len(fetcher.urls) == 4 and lines[-1] == "page 4 of 4"
    assert doc.notes == ()
    assert doc.title == "Comments on The Boyfriend's Introduction to Feminism"
    assert doc.url is not None and doc.url.endswith(
        "/t/comments-on-the-boyfriends-introduction-to-feminism/2108"
    )
    analysed = infer_quotes(doc)
    number_of = {p.source_id: p.number for p in analysed.posts}
    resolved = [
        (post.number, seg.source_post, b.quoted_source_id)
        for post, src in zip(analysed.posts, doc.posts, strict=True)
        for seg, b in zip(
            [s for s in post.segments if s.explicit],
            [b for b in src.blocks if b.is_quote],
            strict=True,
        )
        if b.quoted_source_id in number_of
    ]
    assert len(resolved) > 100
    assert all(source == number_of[quoted] for _, source, quoted in resolved)


async def test_page_cap_stops_with_a_note():
    topic, pool = topic_2108(full_stream=True)
    server = DiscourseServer(topic, pool)
    doc, fetcher = await read_from_server(server, ReadOptions(max_pages=3))
    assert len(fetcher.urls) == 3 and len(server.batches) == 2
    stream = topic["post_stream"]["stream"]
    assert server.batches == [stream[20:40], stream[40:60]]
    # posts 41-59 are in no fixture, so the server skipped them as Discourse skips deleted ids
    expected = sorted(pool[i]["post_number"] for i in stream[:60] if i in pool)
    assert [int(p.source_id) for p in doc.posts] == expected
    assert doc.notes == (
        "stopped at post 60 of 446: the page cap is 3 requests; raise it to read the rest",
    )


async def test_refresh_from_a_later_page_asks_only_for_later_posts():
    topic, pool = topic_2108(full_stream=False)
    server = DiscourseServer(topic, pool)
    doc, _ = await read_from_server(server, ReadOptions(max_pages=50, start_page=3))
    stream = topic["post_stream"]["stream"]
    assert sorted(i for b in server.batches for i in b) == stream[40:]
    assert [int(p.source_id) for p in doc.posts] == sorted(
        pool[i]["post_number"] for i in stream[40:]
    )


async def test_refresh_steps_back_to_the_batch_that_opens_with_a_stored_post():
    # Stored: the posts of stream[:30]. The refresh was told to start at batch 4 (posts
    # 60-79), but posts were deleted meanwhile, so the stream's batches 3 and 4 open with
    # posts that are not stored: it steps back to batch 2 (stream[20]), a stored post.
    topic, pool = topic_2108(full_stream=False)
    stream = topic["post_stream"]["stream"]
    known = frozenset(str(pool[i]["post_number"]) for i in stream[:30])
    server = DiscourseServer(topic, pool)
    options = ReadOptions(max_pages=50, start_page=4, known_ids=known)
    doc, _ = await read_from_server(server, options)
    assert server.batches[:2] == [stream[60:80], stream[40:60]]  # the steps back
    assert sorted(i for b in server.batches for i in b) == stream[20:]
    assert [int(p.source_id) for p in doc.posts] == sorted(
        pool[i]["post_number"] for i in stream[20:]
    )
    assert doc.resume_page == 4  # 80 posts: the next refresh starts at the 4th batch


async def test_stepping_back_counts_against_the_page_cap():
    topic, pool = topic_2108(full_stream=False)
    stream = topic["post_stream"]["stream"]
    known = frozenset(str(pool[i]["post_number"]) for i in stream[:30])
    server = DiscourseServer(topic, pool)
    doc, fetcher = await read_from_server(
        server, ReadOptions(max_pages=2, start_page=4, known_ids=known)
    )
    assert len(fetcher.urls) == 2  # the topic view and one batch, whatever the steps
    assert server.batches == [stream[60:80]]
    assert doc.notes and doc.notes[0].startswith("stopped at post")


async def test_a_failing_step_back_keeps_reading_from_where_it_is():
    topic, pool = topic_2108(full_stream=False)
    stream = topic["post_stream"]["stream"]
    server = DiscourseServer(topic, pool)
    answer_posts = server.posts

    async def first_batch_fails(request: web.Request) -> web.Response:
        if not server.batches:
            server.batches.append([])
            return web.json_response({"errors": ["busy"]}, status=503)
        return await answer_posts(request)

    server.app = web.Application()
    server.app.router.add_get("/t/2108.json", server.view)
    server.app.router.add_get("/t/2108/posts.json", first_batch_fails)
    options = ReadOptions(max_pages=50, start_page=4, known_ids=frozenset({"1"}))
    doc, _ = await read_from_server(server, options)
    assert [int(p.source_id) for p in doc.posts] == sorted(
        pool[i]["post_number"] for i in stream[60:]
    )


async def test_a_batch_opening_with_a_small_action_is_judged_by_its_first_post():
    topic, pool = topic_2108(full_stream=False)
    stream = topic["post_stream"]["stream"]
    pool = {**pool, stream[60]: {**pool[stream[60]], "post_type": 3}}  # "closed the topic"
    stored = [*stream[:60], *stream[61:62]]  # a small action is never stored
    known = frozenset(str(pool[i]["post_number"]) for i in stored)
    server = DiscourseServer(topic, pool)
    await read_from_server(server, ReadOptions(start_page=4, known_ids=known))
    assert server.batches == [stream[60:80]]  # no step back: post 61 of the batch is stored


async def test_a_capped_read_resumes_after_the_last_post_read():
    topic, pool = topic_2108(full_stream=True)
    server = DiscourseServer(topic, pool)
    capped, _ = await read_from_server(server, ReadOptions(max_pages=3))
    assert capped.resume_page == 4  # stopped at post 60 of 446: batch 4 is posts 61-80
    stored = frozenset(p.source_id for p in capped.posts if p.source_id)
    numbers = {p.source_id: p.forum_number for p in capped.posts if p.source_id}
    assert all(numbers[p.source_id] == int(p.source_id) for p in capped.posts if p.source_id)
    again = DiscourseServer(topic, pool)
    doc, _ = await read_from_server(
        again, ReadOptions(start_page=4, known_ids=stored, known_numbers=numbers)
    )
    stream = topic["post_stream"]["stream"]
    assert again.batches[0] == stream[60:80]  # post 61 follows post 60: no step back
    assert stream[40] not in {i for batch in again.batches for i in batch}  # nothing re-read
    assert doc.resume_page == (446 - 1) // BATCH + 1


async def test_a_finished_read_resumes_at_the_batch_of_its_last_post():
    topic, pool = topic_2108(full_stream=False)
    server = DiscourseServer(topic, pool)
    whole, _ = await read_from_server(server, ReadOptions())
    assert whole.notes == ()
    assert whole.resume_page == (len(topic["post_stream"]["stream"]) - 1) // BATCH + 1


async def test_a_dead_topic_is_a_source_error():
    app = web.Application()

    async def gone(request: web.Request) -> web.Response:
        return web.json_response({"errors": ["not found"], "error_type": "not_found"}, status=404)

    app.router.add_get("/t/5.json", gone)
    async with (
        TestServer(app, host="127.0.0.1") as ts,
        aiohttp.ClientSession(trust_env=False) as session,
    ):
        with pytest.raises(SourceError, match="404"):
            await DiscourseReader().read(
                LoopbackFetcher(session), str(ts.make_url("/t/x/5")), ReadOptions()
            )


async def test_a_failing_batch_keeps_the_posts_read_so_far():
    topic, pool = topic_2108(full_stream=False)
    server = DiscourseServer(topic, pool)
    answer_posts = server.posts

    async def second_batch_fails(request: web.Request) -> web.Response:
        if server.batches:
            server.batches.append([])
            return web.json_response({"errors": ["busy"]}, status=503)
        return await answer_posts(request)

    server.app = web.Application()
    server.app.router.add_get("/t/2108.json", server.view)
    server.app.router.add_get("/t/2108/posts.json", second_batch_fails)
    doc, _ = await read_from_server(server, ReadOptions(max_pages=50))
    stream = topic["post_stream"]["stream"]
    assert [int(p.source_id) for p in doc.posts] == sorted(
        pool[i]["post_number"] for i in stream[:40]
    )
    assert len(doc.notes) == 1
    assert doc.notes[0].startswith("stopped at post 40 of 80: the rest could not be read")
    assert "503" in doc.notes[0]


def test_a_quote_of_another_topic_is_never_matched_to_a_post_here():
    from bot.core.quotes import infer_quotes
    from bot.sources.discourse import cooked_blocks

    words = "This is a companion discussion topic for the original entry at the blog."
    first = cooked_blocks(f"<p>{words}</p>", 7)
    other = cooked_blocks(
        f'<aside class="quote" data-username="ann" data-post="1" data-topic="99">'
        f"<blockquote><p>{words}</p></blockquote></aside><p>Same boilerplate.</p>",
        7,
    )
    assert other[0].quoted_elsewhere and other[0].quoted_source_id is None
    from bot.core.models import PostDoc, ThreadDoc

    doc = ThreadDoc(
        title="t",
        source_kind="discourse",
        posts=(PostDoc(blocks=tuple(first), source_id="1"), PostDoc(blocks=tuple(other))),
    )
    assert infer_quotes(doc).edges == ()
