"""Hypothesis: on any text, broken HTML or damaged real pages, the HTML readers either read a
thread or raise SourceError — never anything else — and what they return is clean."""

from __future__ import annotations

import inspect
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.models import ThreadDoc
from bot.errors import SourceError
from bot.sources import html_text, phpbb, vbulletin, xenforo
from tests.conftest import SHARED

READERS = [xenforo.READER, phpbb.READER, vbulletin.READER]
FIXTURES = {
    "xenforo": [
        SHARED / "fixtures/xenforo/xf1_sufficientvelocity_renascence-homura-quest_p54.html",
        SHARED / "fixtures/xenforo/xf2_xenforo-community_a-dark-theme-option_p1.html",
    ],
    "phpbb": [SHARED / "fixtures/phpbb/phpbb3_ilovephilosophy_biological-will.html"],
    "vbulletin": [
        SHARED / "fixtures/other/vbulletin4_bob-dorr-dies-at-76.html",
        SHARED / "fixtures/other/vbulletin5_fandompost_isekai-quartet.html",
    ],
}
FAST = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)

# Pieces of the markup every engine uses, so random documents reach the interesting code.
TAGS = ["div", "span", "blockquote", "li", "article", "p", "a", "cite", "time", "table", "td"]
ATTRS = [
    'class="message message--post"',
    'class="bbWrapper"',
    'class="bbCodeBlock bbCodeBlock--quote"',
    'class="bbCodeBlock-expandContent"',
    'class="bbCodeQuote"',
    'class="quoteContainer"',
    'class="quote"',
    'class="post"',
    'class="content"',
    'class="author"',
    'class="bbcode_quote"',
    'class="bbcode_postedby"',
    'class="message"',
    'class="b-post js-post"',
    'class="js-post__content-text"',
    'class="pagination"',
    'class="pageNav-page pageNav-page--current"',
    'class="PageNav" data-page="2" data-last="x" data-baseurl="{{sentinel}}"',
    'class="spoiler"',
    'id="post-12"',
    'id="p12"',
    'id="post_message_12"',
    'data-node-id="12"',
    'data-author="Ann"',
    'data-quote=""',
    'data-source="post: 99999999999999999999"',
    'data-time="-99999999999999"',
    'datetime="9999-99-99T99:99"',
    'data-node-publishdate="1e99"',
    'href="javascript:alert(1)"',
    'href="http://[::1"',
    'href="goto/post?id=12"',
    'title="All times are UTC - 99 hours"',
]
PROLOGUES = [
    '<html id="XF" data-template="thread_view">',
    '<html id="XF" data-template="forum_view">',
    '<html id="XenForo"><div id="content" class="thread_view">',
    '<html><body id="phpbb" class="section-viewtopic">',
    '<html><meta name="generator" content="vBulletin 4"><script>var THIS_SCRIPT = "x";</script>',
    "",
]


@st.composite
def forum_html(draw: st.DrawFn) -> str:
    parts: list[str] = [draw(st.sampled_from(PROLOGUES))]
    open_tags: list[str] = []
    for _ in range(draw(st.integers(0, 40))):
        choice = draw(st.integers(0, 3))
        if choice == 0:
            tag = draw(st.sampled_from(TAGS))
            attrs = " ".join(draw(st.lists(st.sampled_from(ATTRS), max_size=3)))
            parts.append(f"<{tag} {attrs}>")
            open_tags.append(tag)
        elif choice == 1 and open_tags:
            parts.append(f"</{open_tags.pop()}>")
        elif choice == 2:
            parts.append(
                draw(
                    st.sampled_from(
                        [
                            "<br>",
                            "<img alt=':)' class='smilie'>",
                            "<hr>",
                            "&nbsp;",
                            "Page 2 of 1",
                            "Originally Posted by <strong>X</strong>",
                            "<cite>Bo wrote:</cite>",
                            "</blockquote>",
                            "<iframe>",
                        ]
                    )
                )
            )
        else:
            parts.append(draw(st.text(max_size=30)))
    return "".join(parts)


def check_doc(doc: ThreadDoc) -> None:
    assert doc.title and doc.posts
    for post in doc.posts:
        assert post.blocks
        for block in post.blocks:
            assert block.text and block.text == block.text.strip()
            assert "\n" not in block.text
        assert post.time is None or post.time.tzinfo is not None
        assert post.url is None or post.url.startswith(("http://", "https://"))


def read_or_refuse(reader, text: str, url: str | None = None) -> None:
    try:
        doc = reader.parse_saved(text, url)
    except SourceError as exc:
        assert str(exc)
        return
    check_doc(doc)


@pytest.mark.parametrize("reader", READERS, ids=lambda r: r.name)
@FAST
@given(text=st.text(max_size=400))
def test_any_text_is_read_or_refused(reader, text):
    read_or_refuse(reader, text)
    assert reader.sniff(text) in (True, False)
    assert reader.matches_url(text) in (True, False)


@pytest.mark.parametrize("reader", READERS, ids=lambda r: r.name)
@FAST
@given(html=forum_html(), url=st.sampled_from([None, "https://f.example/threads/a.1/", "x:/\\"]))
def test_broken_forum_markup_is_read_or_refused(reader, html, url):
    read_or_refuse(reader, html, url)


@cache
def fixture_text(path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None


@pytest.mark.parametrize("reader", READERS, ids=lambda r: r.name)
@settings(max_examples=8, deadline=None, database=None)
@given(data=st.data())
def test_damaged_real_pages_are_read_or_refused(reader, data):
    texts = [t for t in map(fixture_text, FIXTURES[reader.name]) if t is not None]
    if not texts:
        pytest.skip("the shared fixtures folder is not next to the repo")
    text = data.draw(st.sampled_from(texts))
    cut = data.draw(st.integers(0, len(text)))
    width = data.draw(st.integers(0, 5000))
    damaged = data.draw(
        st.sampled_from(
            [
                text[:cut],  # a truncated download
                text[:cut] + text[cut + width :],  # a hole
                text[:cut] + "<div><blockquote>" + text[cut:],  # unbalanced tags
            ]
        )
    )
    read_or_refuse(reader, damaged)


def test_very_deep_nesting_does_not_hit_the_recursion_limit():
    quote = '<blockquote class="bbCodeBlock bbCodeBlock--quote" data-quote="A">'
    deep = "<div>" * 20_000 + "deep words" + "</div>" * 20_000
    nested = quote * 300 + "inner words" + "</blockquote>" * 300
    blocks = xenforo.parse_post_body(deep + nested + "own words")
    assert [b.text for b in blocks if not b.is_quote] == ["deep words", "own words"]
    quoted = [b for b in blocks if b.is_quote]
    assert quoted and len(quoted) <= html_text.MAX_QUOTE_DEPTH
    assert "inner words" in quoted[-1].text or "inner words" in quoted[0].text


@pytest.mark.parametrize("reader", READERS, ids=lambda r: r.name)
def test_readers_have_the_forum_reader_shape(reader):
    sig = inspect.signature(reader.read)
    assert list(sig.parameters) == ["fetcher", "url", "options"]
    assert inspect.iscoroutinefunction(reader.read)
    assert list(inspect.signature(reader.parse_saved).parameters) == ["text", "url"]
    assert isinstance(reader.name, str) and callable(reader.sniff) and callable(reader.matches_url)


@FAST
@given(st.text(max_size=200))
def test_clean_text_is_idempotent_and_single_line(text):
    once = html_text.clean_text(text)
    assert html_text.clean_text(once) == once
    assert "\n" not in once and once == once.strip()
