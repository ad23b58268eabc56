"""Hypothesis: the Discourse, Reddit and best-effort readers fail only with SourceError.

Whatever a server answers (any JSON value, JSON of roughly the right shape with wrong
types, broken JSON text, hostile HTML in post bodies), the reader either returns a ThreadDoc
or raises SourceError, the error adapters know how to show. Anything else would surface as
an internal error in a chat channel.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.models import ThreadDoc
from bot.errors import SourceError
from bot.sources.base import FetchedPage, ReadOptions
from bot.sources.discourse import DiscourseReader, cooked_blocks, parse_posts, parse_topic_view
from bot.sources.fallback import best_effort
from bot.sources.reddit import (
    More,
    RedditReader,
    attach_flat,
    body_blocks,
    parse_listing,
    parse_more_children,
    thread_doc,
)

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

KEYS = (
    "post_stream posts stream post_number cooked id topic_id title slug fancy_title username "
    "created_at reply_to_post_number user_deleted hidden deleted_at post_type errors "
    "latest_posts topic_slug topic_title kind data children replies body body_html author "
    "parent_id created_utc permalink selftext selftext_html url is_self count name json "
    "things message error"
).split()
WORDS = ("t1", "t3", "more", "Listing", "t1_abc", "t3_xyz", "[deleted]", "[removed]", "_", "")

HTML_PIECES = (
    "<p>",
    "</p>",
    '<aside class="quote" data-username="ann" data-post="1" data-topic="5">',
    '<aside class="quote no-group" data-post="x" data-topic="">',
    "</aside>",
    '<div class="title">ann:</div>',
    "<blockquote>",
    "</blockquote>",
    "<br>",
    '<img class="emoji" alt=":x:">',
    "<img>",
    '<div class="lightbox-wrapper"><a href="/i.png"><img src="/i.png"></a>',
    '<div class="meta">i</div>',
    '<aside class="onebox" data-onebox-src="https://x.example">',
    '<div class="poll">',
    '<div class="spoiler">',
    "</div>",
    "<pre><code>",
    "</code></pre>",
    "<table><tr><td>",
    "</td></tr></table>",
    "<script>alert(1)</script>",
    "<!-- c -->",
    "<![CDATA[ x ]]>",
    "&amp;",
    "&#0;",
    "\x00",
    " words and more words ",
    "<div>" * 40,
    "</div>" * 40,
    "\u200b",
)
html_text = st.lists(st.sampled_from(HTML_PIECES) | st.text(max_size=12), max_size=30).map("".join)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**62), max_value=2**62)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(WORDS)
    | html_text
)
jsonish = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=6)
    ),
    max_leaves=20,
)


def settles(call: Any, *args: Any) -> Any:
    """Run a parser; SourceError is an acceptable answer, any other exception is a bug."""
    try:
        return call(*args)
    except SourceError as exc:
        assert str(exc)  # a message a user can read
        return None


# --- Discourse ---------------------------------------------------------------------------------

discourse_post = st.fixed_dictionaries(
    {"post_number": st.integers(min_value=-5, max_value=10**9)},
    optional={
        "id": st.integers(min_value=0, max_value=10**9),
        "cooked": html_text | scalars,
        "username": scalars,
        "created_at": scalars | st.just("2024-01-02T03:04:05.678Z"),
        "reply_to_post_number": scalars | st.integers(min_value=-3, max_value=30),
        "user_deleted": scalars,
        "hidden": scalars,
        "deleted_at": scalars,
        "post_type": scalars | st.sampled_from([1, 2, 3, 4]),
        "topic_id": scalars,
        "topic_slug": scalars,
    },
)
discourse_topic = st.fixed_dictionaries(
    {"post_stream": st.fixed_dictionaries({"posts": st.lists(discourse_post, max_size=6)})},
    optional={
        "id": st.integers(min_value=0, max_value=10**6) | scalars,
        "title": scalars,
        "fancy_title": scalars,
        "slug": scalars,
    },
)


@FUZZ
@given(jsonish)
def test_discourse_parsers_on_any_json_value(value):
    view = settles(parse_topic_view, value)
    if view is not None:
        doc = settles(parse_posts, list(view.posts), view.topic_id, "https://f.example")
        assert doc is None or isinstance(doc, list)
    result = settles(DiscourseReader().parse_saved, json.dumps(value))
    assert result is None or isinstance(result, ThreadDoc)


@FUZZ
@given(discourse_topic)
def test_discourse_parsers_on_topic_shaped_json(value):
    result = settles(DiscourseReader().parse_saved, json.dumps(value), "https://f.example/t/a/1")
    if result is not None:
        assert result.posts and all(p.blocks for p in result.posts)
        assert all("\n" not in b.text for p in result.posts for b in p.blocks)


@FUZZ
@given(html_text, st.integers(min_value=0, max_value=10))
def test_cooked_html_never_breaks(cooked, topic):
    blocks = settles(cooked_blocks, cooked, topic)
    assert blocks is None or all(b.text and b.text == " ".join(b.text.split()) for b in blocks)


# --- Reddit ------------------------------------------------------------------------------------

reddit_data = st.dictionaries(st.sampled_from(KEYS), scalars, max_size=8)
comment_data = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=6)},
    optional={
        key: scalars
        for key in ("body", "author", "parent_id", "created_utc", "permalink", "body_html")
    },
)
reddit_comment = st.recursive(
    st.fixed_dictionaries(
        {"kind": st.just("t1"), "data": comment_data.map(lambda d: {**d, "replies": ""})}
    )
    | st.fixed_dictionaries({"kind": st.sampled_from(["more", "t3", "x"]), "data": reddit_data}),
    lambda inner: st.fixed_dictionaries(
        {
            "kind": st.just("t1"),
            "data": st.tuples(comment_data, st.lists(inner, max_size=3)).map(
                lambda pair: {**pair[0], "replies": {"data": {"children": pair[1]}}}
            ),
        }
    ),
    max_leaves=8,
)
reddit_page = st.tuples(
    st.fixed_dictionaries(
        {
            "kind": st.just("t3"),
            "data": st.fixed_dictionaries(
                {"id": st.text(min_size=1, max_size=6) | scalars},
                optional={
                    "title": scalars,
                    "created_utc": scalars,
                    "selftext": scalars,
                    "permalink": scalars,
                    "url": scalars,
                    "is_self": scalars,
                    "author": scalars,
                },
            ),
        }
    ),
    st.lists(reddit_comment, max_size=5),
).map(
    lambda pair: [
        {"kind": "Listing", "data": {"children": [pair[0]]}},
        {"kind": "Listing", "data": {"children": pair[1]}},
    ]
)


@FUZZ
@given(jsonish)
def test_reddit_parsers_on_any_json_value(value):
    listing = settles(parse_listing, value)
    if listing is not None:
        assert isinstance(settles(thread_doc, listing), ThreadDoc | None)
    things = settles(parse_more_children, value)
    if things is not None:
        attach_flat(More("t1_a", ["b"]), things, set())
    result = settles(RedditReader().parse_saved, json.dumps(value))
    assert result is None or isinstance(result, ThreadDoc)


@FUZZ
@given(reddit_page)
def test_reddit_parsers_on_listing_shaped_json(value):
    result = settles(RedditReader().parse_saved, json.dumps(value))
    if result is not None:
        assert result.posts[0].source_id and result.posts[0].source_id.startswith("t3_")
        assert all(p.blocks for p in result.posts)


@FUZZ
@given(st.text(max_size=300), st.booleans())
def test_reddit_markdown_never_breaks(body, escaped):
    for block in body_blocks(body, "a", "t1_b", escaped):
        assert block.text and block.text == " ".join(block.text.split())


# --- the readers' own fetching, fed anything -------------------------------------------------


class AnswersFetcher:
    """An in-memory PageFetcher replaying answers: what a hostile server could send."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers

    async def get_text(self, url: str) -> FetchedPage:
        raise SourceError("no pages here")

    async def get_json(self, url: str) -> Any:
        if not self.answers:
            raise SourceError("no more answers")
        return self.answers.pop(0)


SMALL_TOPIC = {
    "id": 9,
    "title": "Shed keys",
    "post_stream": {
        "stream": [1, 2, 3],
        "posts": [{"id": 1, "post_number": 1, "username": "ann", "cooked": "<p>Who has it?</p>"}],
    },
}
SMALL_REDDIT = [
    {"kind": "Listing", "data": {"children": [{"kind": "t3", "data": {"id": "abc"}}]}},
    {
        "kind": "Listing",
        "data": {
            "children": [
                {"kind": "more", "data": {"parent_id": "t3_abc", "children": ["d1"], "count": 1}},
                {"kind": "more", "data": {"parent_id": "t1_zz", "children": [], "count": 0}},
            ]
        },
    },
]


@FUZZ
@given(st.lists(jsonish, max_size=3))
def test_discourse_read_survives_any_answers(later):
    fetcher = AnswersFetcher([SMALL_TOPIC, *later])
    read = DiscourseReader().read(fetcher, "https://f.example/t/shed-keys/9", ReadOptions())
    assert isinstance(settles(asyncio.run, read), ThreadDoc | None)


@FUZZ
@given(st.lists(jsonish | reddit_page, max_size=3))
def test_reddit_read_survives_any_answers(later):
    fetcher = AnswersFetcher([SMALL_REDDIT, *later])
    url = "https://www.reddit.com/r/x/comments/abc/shed/"
    read = RedditReader().read(fetcher, url, ReadOptions(max_pages=5))
    assert isinstance(settles(asyncio.run, read), ThreadDoc | None)


# --- broken JSON text and arbitrary pages ------------------------------------------------------

VALID_TEXTS = (json.dumps(SMALL_TOPIC), json.dumps(SMALL_REDDIT))


@FUZZ
@given(st.sampled_from(VALID_TEXTS), st.integers(min_value=0), st.text(max_size=3))
def test_broken_json_text_is_a_source_error(text, cut, junk):
    at = cut % (len(text) + 1)
    broken = text[:at] + junk + text[at + 1 :]
    for reader in (DiscourseReader(), RedditReader()):
        result = settles(reader.parse_saved, broken)
        assert result is None or isinstance(result, ThreadDoc)


@FUZZ
@given(html_text | st.text(max_size=200))
def test_best_effort_on_any_page(page):
    result = settles(best_effort, page, None)
    if result is not None:
        assert result.source_kind == "web" and result.posts
