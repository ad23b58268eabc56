"""The plain-text / Markdown / JSON readers: the seed's shape and every encoding trap."""

from __future__ import annotations

import json

import pytest

from bot.errors import SourceError
from bot.sources.detect import read_file_bytes
from tests.conftest import SEED_LABELS, need_shared

NBSP = "\u00a0"


def plain(*posts: str, title: str = "A thread about bridges") -> str:
    return title + "\n\n" + f"\n{NBSP}\n".join(posts) + "\n"


def test_seed_reads_as_19_posts_with_title_and_clean_paragraphs(seed_bytes):
    gold = json.loads(need_shared(SEED_LABELS).read_text())
    doc = read_file_bytes(seed_bytes)
    assert doc.title == gold["title"]
    assert len(doc.posts) == 19
    for post in doc.posts:
        assert "Last edited:" not in post.text
        assert all(b.text != "Top" for b in post.blocks)
    for want, post in zip(gold["posts"], doc.posts, strict=True):
        assert [p["text"] for p in want["paragraphs"]] == [b.text for b in post.blocks]


def test_chrome_lines_are_dropped():
    text = (
        plain(
            "First post about the bridge.\nLast edited: 3 May 2021\nReply\nReport",
            "Second post.\nLike\nClick to expand...\n12 likes",
        )
        + "Top\n"
    )
    doc = read_file_bytes(text.encode())
    assert [[b.text for b in p.blocks] for p in doc.posts] == [
        ["First post about the bridge."],
        ["Second post."],
    ]


def test_crlf_bom_and_windows_1252():
    text = plain("Caf\u00e9 owners want the bridge \u201cnow\u201d.", "Na\u00efve, maybe.")
    for data in (
        ("\ufeff" + text).encode("utf-8"),
        text.replace("\n", "\r\n").encode("utf-8"),
        text.encode("cp1252"),
        text.replace("\u201c", '"').replace("\u201d", '"').encode("latin-1"),
        text.encode("utf-16"),
    ):
        doc = read_file_bytes(data)
        assert doc.title == "A thread about bridges"
        assert doc.posts[0].blocks[0].text.startswith("Caf\u00e9 owners")
        assert doc.posts[1].blocks[0].text == "Na\u00efve, maybe."


def test_said_header_marks_an_explicit_quote_up_to_click_to_expand():
    text = plain(
        "The bridge should be pedestrian only on Sundays.",
        "maria said:\nThe bridge should be pedestrian only on Sundays.\nClick to expand...\n"
        "Only if the buses get a detour.",
    )
    post = read_file_bytes(text.encode()).posts[1]
    assert [(b.text, b.is_quote, b.quoted_author) for b in post.blocks] == [
        ("The bridge should be pedestrian only on Sundays.", True, "maria"),
        ("Only if the buses get a detour.", False, None),
    ]


def test_markdown_copy_gives_authors_and_explicit_quotes():
    text = (
        "# Should the bridge close on Sundays?\n\n## maria\n\nClose it to cars on Sundays.\n\n"
        "----------\n\n## tom\n\nmaria said:\n> Close it to cars on Sundays.\n\n"
        "What about deliveries?\n\n----------\n\n## maria\n\nDeliveries before nine.\n"
    )
    doc = read_file_bytes(text.encode())
    assert doc.source_kind == "markdown"
    assert doc.title == "Should the bridge close on Sundays?"
    assert [p.author for p in doc.posts] == ["maria", "tom", "maria"]
    quote = doc.posts[1].blocks[0]
    assert (quote.is_quote, quote.quoted_author, quote.text) == (
        True,
        "maria",
        "Close it to cars on Sundays.",
    )
    assert doc.posts[1].blocks[1].text == "What about deliveries?"


def test_generic_json_thread():
    data = {
        "title": "Bridge",
        "url": "https://forum.example/t/bridge",
        "posts": [
            {"id": "a1", "author": "maria", "time": "2024-05-01T10:00:00Z", "text": "Close it."},
            {"author": "tom", "text": "> Close it.\nNo way."},
        ],
    }
    doc = read_file_bytes(json.dumps(data).encode())
    assert doc.source_kind == "json"
    assert doc.posts[0].source_id == "a1"
    assert doc.posts[0].time is not None and doc.posts[0].time.year == 2024
    assert doc.posts[1].blocks[0].is_quote


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   \n\n  ", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary"),
        (b"Just a title\n", "no posts"),
        (b'{"title": "x", "posts": [', "not valid JSON"),
        (b'{"title": "x"}', '"posts" list'),
        (b'{"title": "x", "posts": []}', "no posts"),
        (b'{"title": "x", "posts": [{"text": 5}]}', "post 1"),
        (b'{"title": "x", "posts": [{"text": "a", "time": "yesterday"}]}', "ISO-8601"),
        (b'{"title": "x", "posts": [{"text": "a", "likes": "many"}]}', '"likes" must be'),
        (b'{"title": "x", "posts": [{"text": "a", "likes": true}]}', '"likes" must be'),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "threadwise reads XenForo"),
        (b"# Title only\n\n## alice\n\n----------\n", "no posts"),
    ],
)
def test_bad_input_gets_a_clear_error(data, message):
    with pytest.raises(SourceError, match=message):
        read_file_bytes(data)


def test_oversized_input_is_refused_before_decoding():
    with pytest.raises(SourceError, match="limit"):
        read_file_bytes(b"x" * 2048, max_bytes=1024)


def test_generic_json_likes_are_kept():
    doc = read_file_bytes(
        b'{"title": "x", "posts": [{"text": "a", "likes": 7}, {"text": "b", "likes": -2},'
        b' {"text": "c"}]}'
    )
    assert [p.likes for p in doc.posts] == [7, -2, None]
