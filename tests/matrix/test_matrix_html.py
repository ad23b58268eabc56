"""Answers → m.notice contents: hostile forum text stays inert, and big answers split small."""

from __future__ import annotations

import json
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.render import Answer, Line, Ref, Section
from bot.matrix_app.html import (
    MAX_CONTENT_BYTES,
    OWN_TAGS,
    answer_contents,
    image_content,
    notice,
    safe_url,
)

HOSTILE = (
    '<img src=x onerror=alert(1)><a href="javascript:alert(2)">click</a> @room '
    "<script>alert(3)</script> &amp; <b onclick=x>bold</b> <mx-reply>fake</mx-reply>"
)


class TagCollector(HTMLParser):
    """Every start tag with its attributes, as a browser-like parser sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(markup: str) -> TagCollector:
    collector = TagCollector()
    collector.feed(markup)
    collector.close()
    return collector


def assert_inert(content: dict) -> None:
    collector = parse(content["formatted_body"])
    for tag, attrs in collector.tags:
        assert tag in OWN_TAGS, tag
        if tag == "a":
            assert [name for name, _ in attrs] == ["href"]
            assert (attrs[0][1] or "").startswith(("http://", "https://"))
        else:
            assert attrs == [], (tag, attrs)
    assert content["m.mentions"] == {}
    assert content["msgtype"] == "m.notice"
    assert content["format"] == "org.matrix.custom.html"


def answer_with(text: str, url: str | None = None, lines: int = 1) -> Answer:
    line = Line(text, Ref(3, "mallory <b>", url), detail="score <1>")
    return Answer(
        title=f"Summary — {text[:50]}",
        sections=(Section(f"heading {text[:20]}", (line,) * lines),),
        notes=(f"note {text[:30]}",),
        link=url,
    )


def test_hostile_forum_text_renders_as_text_only() -> None:
    (content,) = answer_contents(answer_with(HOSTILE, "javascript:alert(1)"))
    assert_inert(content)
    markup = content["formatted_body"]
    assert "<img" not in markup and "<script" not in markup and "<mx-reply" not in markup
    assert 'href="javascript' not in markup
    assert "&lt;img src=x onerror=alert(1)&gt;" in markup
    text = "".join(parse(markup).text)
    assert "<img src=x onerror=alert(1)>" in text  # shown to the reader as typed, not run
    assert HOSTILE in content["body"]  # the plain body keeps the words, escaped nowhere


def test_only_http_links_are_linked() -> None:
    (content,) = answer_contents(answer_with("fine", "https://forum.example/t/1?a=1&b=2"))
    assert_inert(content)
    assert '<a href="https://forum.example/t/1?a=1&amp;b=2">' in content["formatted_body"]
    for bad in (
        "javascript:alert(1)",
        "data:text/html,<script>",
        "mxc://x/y",
        "https://user:pw@forum.example/",
        'https://forum.example/" onclick="x',
        "//forum.example/t",
        "https:///nohost",
    ):
        (content,) = answer_contents(answer_with("x", bad))
        assert "<a " not in content["formatted_body"], bad
        assert safe_url(bad) is None


def test_a_notice_echoing_huge_text_is_shortened_to_fit() -> None:
    content = notice("no thread named “" + '"<>&' * 50_000 + "”")
    assert_inert(content)
    assert len(json.dumps(content, ensure_ascii=False).encode()) <= MAX_CONTENT_BYTES
    assert content["body"].endswith("…")


def test_at_room_cannot_ping() -> None:
    content = notice("@room please read this, @alice:example.org too")
    assert content["m.mentions"] == {}
    assert "@room" in content["body"]


def test_a_huge_answer_is_split_below_the_event_limit() -> None:
    answer = answer_with(
        "a long sentence with <tags> & “quotes” 🎉 " * 20, "https://f.example/", 400
    )
    contents = answer_contents(answer)
    assert len(contents) > 1
    for i, content in enumerate(contents, 1):
        assert_inert(content)
        assert len(json.dumps(content, ensure_ascii=False).encode()) <= MAX_CONTENT_BYTES
        assert f"(part {i} of {len(contents)})" in content["body"]
    joined = "".join(c["body"] for c in contents)
    assert joined.count("— #3 mallory <b> (score <1>)") == 400  # no line lost between parts


def test_one_giant_line_is_cut_into_pieces_that_fit() -> None:
    giant = '"<>&\x01' * 40_000  # every character as costly as escaping can make it
    contents = answer_contents(Answer(title="t", sections=(Section(None, (Line(giant),)),)))
    assert len(contents) > 2
    for content in contents:
        assert_inert(content)
        assert len(json.dumps(content, ensure_ascii=False).encode()) <= MAX_CONTENT_BYTES
    joined = "".join(c["body"] for c in contents)
    assert joined.count("&") == 40_000  # nothing lost
    assert "\x01" not in joined  # control characters are dropped, as on Discord


def test_control_and_bidi_characters_are_dropped_as_on_discord() -> None:
    """Forum text with NUL and U+202E (RIGHT-TO-LEFT OVERRIDE, which displays the rest of the
    line reversed): neither reaches the room, in the plain body or the HTML."""
    hostile = "safe\x00 words \u202egnp.exe\u2066x\u2069 \x1b[31mred\x7f"
    contents = [*answer_contents(answer_with(hostile, "https://ok.example/p")), notice(hostile)]
    contents.append(image_content("mxc://x/y", b"", "graph\u202egnp.png"))
    for content in contents:
        for key in ("body", "formatted_body", "filename"):
            text = content.get(key, "")
            for bad in ("\x00", "\u202e", "\u2066", "\u2069", "\x1b", "\x7f"):
                assert bad not in text, (key, bad, text)
    assert "safe words gnp.exex [31mred" in contents[0]["body"]


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(min_size=0, max_size=3000),
    url=st.one_of(st.none(), st.text(max_size=60), st.just("https://ok.example/p")),
    lines=st.integers(min_value=1, max_value=30),
)
def test_any_text_renders_inert_and_within_the_limit(
    text: str, url: str | None, lines: int
) -> None:
    for content in answer_contents(answer_with(text, url, lines), max_bytes=8000):
        assert_inert(content)
        assert len(json.dumps(content, ensure_ascii=False).encode()) <= 8000


def test_image_content_reads_png_size() -> None:
    png = (
        b"\x89PNG\r\n\x1a\n"
        + b"\x00\x00\x00\rIHDR"
        + (640).to_bytes(4, "big")
        + (480).to_bytes(4, "big")
    )
    content = image_content("mxc://localhost/abc", png)
    assert content["msgtype"] == "m.image" and content["m.mentions"] == {}
    assert content["info"] == {"mimetype": "image/png", "size": len(png), "w": 640, "h": 480}


def test_a_stance_answer_is_one_matrix_message_of_at_most_2000_characters() -> None:
    from datetime import UTC, datetime
    from pathlib import Path

    from bot.core.models import StoredThread
    from bot.core.quotes import infer_quotes
    from bot.core.render import stance_answer
    from bot.core.stance import stance_digest
    from bot.sources.detect import read_file_bytes

    debate = Path(__file__).parents[2] / "bench" / "data" / "sides" / "nuclear.md"
    analysed = infer_quotes(read_file_bytes(debate.read_bytes()))
    now = datetime(2026, 11, 25, tzinfo=UTC)
    thread = StoredThread(
        id=1, scope="local", name="nuclear", title=analysed.title, source_kind="markdown",
        source_url="https://forum.example/t/nuclear/7", language="english", revision=1,
        post_count=len(analysed.posts), author_count=8, created_at=now, updated_at=now,
    )  # fmt: skip
    bodies = {}
    for author in (None, "Ada"):
        report = stance_digest(analysed.posts, analysed.edges, author=author)
        (content,) = answer_contents(stance_answer(thread, report, ask_about_one="!tw stance"))
        assert len(content["body"]) <= 2000, content["body"]
        bodies[author] = content["body"]
    assert "Side A (4 people): " in bodies[None] and " · Side B (4): " in bodies[None]
    assert bodies["Ada"].startswith("Ada — ") and "Side B (confidence" in bodies["Ada"]
