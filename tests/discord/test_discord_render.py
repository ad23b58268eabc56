"""The Discord renderer: escaping forum text, link labels, and splitting within every limit.

Limits are checked with fake_discord.limit_violations, written from Discord's docs
separately from the renderer, and counted in UTF-16 units as Discord counts them.
"""

from __future__ import annotations

import re

from fake_discord import limit_violations
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.render import Answer, Line, Ref, Section
from bot.discord_app.render import (
    ZWSP,
    clean,
    escape_text,
    link_label,
    render_answer,
    render_plain,
    safe_url,
    split_escaped,
    utf16_len,
)

HOSTILE = [
    "@everyone",
    "@here",
    "<@&1>",
    "<@123456789012345678>",
    "<#42>",
    "</summary:1>",
    "<t:0:R>",
    "[click](https://evil.example)",
    "[a](b) and [c](d)",
    "# Heading",
    "-# small",
    "> quoted",
    ">>> all quoted",
    "1. listed",
    "**bold** __under__ ~~strike~~ ||spoiler|| `code` ```block```",
    "\\*not escaped\\*",
    "😀🧵👩‍👩‍👧‍👦",
    "𝕳𝖊𝖑𝖑𝖔",
    "\u202egnirts desrever",
    "https://forum.example/t/a_b_(c)@x?q=*y*",
    "http://paypal.com@evil.example/login",
]
text_parts = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(min_size=0, max_size=60),
    st.text(alphabet=st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF), max_size=20),
    st.sampled_from([" ", "\n", "\n\n", ". ", "! ", "*", "_", "\\", "<", ">", "[", "]", "@"]),
)
hostile_text = st.lists(text_parts, max_size=30).map("".join)
long_hostile_text = st.lists(text_parts, min_size=20, max_size=400).map("".join)

_PAIR = re.compile(r"\\(.)", re.DOTALL)
_WRAPPED_URL = re.compile(r"<https?://[^\s<>]+>")


def unescape(text: str) -> str:
    """What Discord shows for our escaped text (outside URLs)."""
    return _PAIR.sub(r"\1", text.replace(ZWSP, ""))


def unsafe_markup(text: str) -> list[str]:
    """Markup that would act if Discord rendered `text` (URLs in <...> set aside)."""
    found = []
    outside = _WRAPPED_URL.sub("URL", text)
    for token in ("<@", "<#", "</", "<t:", "<:", "<a:", "@everyone", "@here"):
        if token in outside:
            found.append(token)
    unescaped = re.sub(r"\\.", "", outside)  # drop every escaped pair
    if re.search(r"\[[^\]]*\]\([^)]*\)", unescaped):
        found.append("masked link")
    for line in text.split("\n"):
        if re.match(r"(#{1,3} |-# |> |>>> |\d+[.)] |[-*+] )", line):
            found.append(f"block markup at line start: {line[:10]!r}")
    for ch in "*_~|`":
        if ch in unescaped:
            found.append(f"unescaped {ch}")
    return found


# --- escaping ------------------------------------------------------------------------------


@given(hostile_text)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_escaped_forum_text_has_no_live_markup_and_reads_the_same(text: str) -> None:
    escaped = escape_text(text)
    assert unsafe_markup(escaped) == []
    if "://" not in text:  # URLs are wrapped and percent-encoded; the rest reads unchanged
        assert unescape(escaped) == clean(text).replace(ZWSP, "")


def test_known_hostile_strings_are_neutralised() -> None:
    for text in HOSTILE:
        assert unsafe_markup(escape_text(text)) == [], text
    assert escape_text("@everyone look") == "@\u200beveryone look"
    assert escape_text("# Heading").startswith("\\#")
    assert escape_text("1. listed") == "1\\. listed"


def test_urls_are_wrapped_and_credentials_are_not_linked() -> None:
    assert escape_text("see https://forum.example/t/1.") == "see <https://forum.example/t/1>."
    shown = escape_text("http://paypal.com@evil.example/login")
    assert "<http" not in shown  # a URL with credentials is shown as text, not linked
    assert safe_url("http://paypal.com@evil.example/") is None
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("https://forum.example/a_(b)@c") == "https://forum.example/a_%28b%29%40c"


def test_utf16_counts_like_discord() -> None:
    assert utf16_len("abc") == 3
    assert utf16_len("😀") == 2
    assert utf16_len("👩‍👩‍👧‍👦") == 11
    assert utf16_len("é") == 1


# --- link labels ------------------------------------------------------------------------------


@given(hostile_text)
def test_link_labels_are_stripped_not_escaped(text: str) -> None:
    label = link_label(text)
    assert not set(label) & set("[]()<>*_~|`\\@")
    assert "://" not in label
    assert not re.search(r"\w\.\w", label)  # nothing shaped like a domain
    assert 0 < len(label) <= 60


def test_a_label_cannot_disguise_where_a_link_goes() -> None:
    answer = Answer(
        title="Summary",
        sections=(
            Section(
                None,
                (Line("Great deal here.", Ref(3, "https://paypal.com", "https://evil.example/p")),),
            ),
        ),
    )
    (message,) = render_answer(answer)
    (embed,) = message.embeds
    assert "[#3 paypal·com](<https://evil.example/p>)" in embed.description
    assert embed.footer.text == "Links go to evil.example"


# --- splitting ----------------------------------------------------------------------------------


@given(long_hostile_text, st.integers(min_value=40, max_value=4096))
@settings(max_examples=100, deadline=None)
def test_split_pieces_fit_and_lose_nothing(text: str, budget: int) -> None:
    pieces = split_escaped(text, budget)
    assert all(utf16_len(p) <= budget for p in pieces)
    if "://" not in text:
        joined = "".join(unescape(p) for p in pieces)
        assert joined.replace(" ", "") == clean(text).replace(" ", "").replace(ZWSP, "")
        assert all(unsafe_markup(p) == [] for p in pieces)


def test_a_long_line_is_cut_at_sentence_boundaries() -> None:
    sentences = [f"Sentence number {n} says something quite ordinary." for n in range(200)]
    pieces = split_escaped(" ".join(sentences), 500)
    assert len(pieces) > 1
    assert all(p.endswith(".") for p in pieces)


def fifty_post_answer(texts: list[str], authors: list[str]) -> Answer:
    lines = tuple(
        Line(text, Ref(n, authors[n % len(authors)], f"https://forum.example/t/x/{n}"))
        for n, text in enumerate(texts, start=1)
    )
    return Answer(
        title=texts[0] * 3,
        sections=(Section(authors[0], lines), Section("Most quoted posts", lines[:5])),
        notes=(texts[-1],),
        link="https://forum.example/t/x",
    )


@given(
    st.lists(hostile_text, min_size=50, max_size=50),
    st.lists(hostile_text, min_size=1, max_size=5),
    st.integers(min_value=1, max_value=200),
)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)
def test_fifty_hostile_posts_fit_every_discord_limit(
    texts: list[str], authors: list[str], repeat: int
) -> None:
    texts = [texts[0] * repeat, *texts[1:]]  # one post far longer than an embed
    answer = fifty_post_answer(texts, authors)
    messages = render_answer(answer, image="attachment://g.png")
    assert messages
    for message in messages:
        payload = {"content": message.content, "embeds": [e.to_dict() for e in message.embeds]}
        assert limit_violations(payload) == []
        assert 1 <= len(message.embeds) <= 10
        for embed in message.embeds:
            for line in (embed.description or "").split("\n"):
                assert unsafe_markup(_WITHOUT_OUR_LINKS.sub("", line)) == [], line
    # every attributed line that survived carries its permalink
    descriptions = "\n".join(e.description or "" for m in messages for e in m.embeds)
    for n, text in enumerate(texts, start=1):
        if clean(text):
            assert f"(<https://forum.example/t/x/{n}>)" in descriptions


_WITHOUT_OUR_LINKS = re.compile(r"(?:^| — )\[#\d+[^\]]*\]\(<https://[^>]+>\)$|^\*\*|\*\*$|^\*|\*$")


def test_a_huge_answer_is_split_into_several_messages() -> None:
    texts = ["A fairly long sentence about trams and buses and parking. " * 20] * 50
    messages = render_answer(fifty_post_answer(texts, ["Ann"]))
    assert len(messages) > 3
    assert messages[0].embeds[0].title
    assert all(m.embeds[0].title is None for m in messages[1:])
    assert messages[-1].embeds[-1].footer.text == "Links go to forum.example"


def test_plain_status_text_is_escaped_and_split() -> None:
    (short,) = render_plain(["Stored “**Title** @everyone” as t."])
    assert short.content == "Stored “\\*\\*Title\\*\\* @\u200beveryone” as t."
    many = render_plain(["word " * 3000])
    assert len(many) >= 8
    assert all(utf16_len(m.content or "") <= 2000 for m in many)
