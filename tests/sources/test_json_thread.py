"""The generic JSON reader's shortcuts read exactly what its careful path reads.

A file whose escapes cannot make a control character skips the per-post clean-up, a post
without quote markup is split by `plain_blocks`, and each author name is cleaned once:
none of that may change a single block.
"""

from __future__ import annotations

import json

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.sources import jsonthread
from bot.sources.jsonthread import read_json_thread
from bot.sources.plaintext import _blocks, plain_blocks

PIECES = st.sampled_from(
    ["word", "Other words.", " ", "\n", "\r\n", "\r", "\t", "\x01", "\x07", "\x08", "\x0c",
     "\x7f", "\u00e9", "> ", ">", "ann said:", "said:", "Click to expand...", "Reply",
     "12 likes", "Last edited", "#3", "  ", "\u200e", "\\", "\\b", "\\u0041", "C:\\r"]
)  # fmt: skip
TEXTS = st.lists(PIECES, max_size=14).map("".join)


def careful(data: dict) -> list:
    """Each post as the reader builds it with no shortcut."""
    return [
        jsonthread._post(i, raw)
        for i, raw in enumerate(data["posts"])
        if jsonthread._post(i, raw).blocks
    ]


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(TEXTS, min_size=1, max_size=5), authors=st.lists(TEXTS, max_size=5))
@example(texts=["a\rb"], authors=[])
@example(texts=["a\r\nb"], authors=[])
@example(texts=["a\x01b"], authors=[])
@example(texts=["a\x08b"], authors=[])
@example(texts=["a\x0cb"], authors=[])
@example(texts=["a\x7fb"], authors=[])
@example(texts=["a"], authors=["x\x7fy"])
def test_the_shortcuts_read_what_the_careful_path_reads(texts, authors):
    posts = [
        {"text": text, **({"author": authors[i]} if i < len(authors) else {})}
        for i, text in enumerate(texts)
    ]
    data = {"title": "A thread", "posts": posts}
    expected = careful(data)
    for raw in (json.dumps(data), json.dumps(data, ensure_ascii=False)):
        if not expected:
            continue
        assert list(read_json_thread(raw).posts) == expected


@settings(max_examples=300, deadline=None)
@given(text=TEXTS)
def test_plain_blocks_are_the_blocks_of_a_text_without_quote_markup(text):
    if ">" in text or "said:" in text:
        return
    assert plain_blocks(text) == _blocks(text.split("\n"))


def test_escaped_controls_are_removed_and_line_ends_kept():
    raw = json.dumps(
        {
            "title": "T",
            "posts": [{"author": " ann\u0001 ", "text": "a\u0001b\r\nc\rd\fe\bf\u007fg"}],
        }
    )
    assert "\\u0001" in raw
    (post,) = read_json_thread(raw).posts
    assert [b.text for b in post.blocks] == ["ab", "c", "defg"]
    assert post.author == "ann"
    assert not jsonthread._holds_no_controls(raw)
    assert jsonthread._holds_no_controls(json.dumps({"title": "T", "posts": [{"text": "a\tb"}]}))


def test_a_literal_backslash_is_not_taken_for_an_escape():
    """ "C:\\rivers\\bin" is written with escaped backslashes: no control can come of it,
    while a real escape right after an escaped backslash still counts."""
    plain = json.dumps({"title": "T", "posts": [{"text": "C:\\rivers\\bin \\u0041"}]})
    assert "\\\\r" in plain
    assert jsonthread._holds_no_controls(plain)
    control = json.dumps({"title": "T", "posts": [{"text": "C:\\\rx"}]})
    assert not jsonthread._holds_no_controls(control)
    (post,) = read_json_thread(control).posts
    assert [b.text for b in post.blocks] == ["C:\\", "x"]
