"""The thread-aware ranker (the default summary): what it picks and what it never picks.

Every thread here is written for these tests.
"""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from bot.core.standalone import SentenceInfo, sentence_factor, standalone_factors
from bot.core.summary import SummaryRequest, collect_sentences, own_paragraphs, summarise
from bot.core.text import unwrap_lines, wrap_width

# --- sentences that do not stand on their own -----------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "It's okay.",
        "Agreed.",
        "The three options we looked at would be:",
        "Cheers,",
        "Hi all,",
        "Kind regards",
        "Thanks!",
        "______________________________",
        "{ ( :p :q ) rdfs:subPropertyOf :r .",
        "The information in this email is confidential and intended for the addressee only.",
    ],
)
def test_lines_that_are_never_a_point(text):
    assert sentence_factor(text, "Ana") == 0.0


def test_lines_that_lean_on_context_count_less_than_the_same_words_alone():
    alone = sentence_factor("The depot roof needs replacing before the winter storms.")
    for leaning in (
        "But the depot roof needs replacing before the winter storms.",
        "It needs replacing before the winter storms, like the depot roof.",
        "the depot roof needs replacing before the winter storms.",  # a cut-off fragment
        "2. The depot roof needs replacing before the winter storms.",  # one item of a list
        "The depot roof needs replacing before the winter storms and that",
    ):
        assert 0 < sentence_factor(leaning) < alone, leaning


def test_signatures_quoted_mail_and_headers_are_never_points():
    sentences = [
        SentenceInfo(1, "Ana", "The depot roof leaks every time it rains heavily."),
        SentenceInfo(1, "Ana", "Ana Lopez, Millbrook Tram Users Group"),
        SentenceInfo(2, "Ben", "A new roof would cost less than one new tram."),
        SentenceInfo(2, "Ben", "On Monday, Ana Lopez wrote:"),
        SentenceInfo(2, "Ben", "We should fix it before the autumn timetable starts."),
        SentenceInfo(2, "Ben", "-----Original Message-----"),
        SentenceInfo(2, "Ben", "The depot roof leaks every time it rains, which is old news."),
        SentenceInfo(3, "Ana", "The council has the money for the roof in this year's budget."),
        SentenceInfo(3, "Ana", "Ana Lopez, Millbrook Tram Users Group"),
        SentenceInfo(4, "Cy", "Subject: depot roof"),
        SentenceInfo(4, "Cy", "Somebody should ask the council when the roofers can start."),
    ]
    factors, quoted = standalone_factors(sentences)
    kept = [s.text for s, f in zip(sentences, factors, strict=True) if f > 0]
    assert kept == [
        "The depot roof leaks every time it rains heavily.",
        "A new roof would cost less than one new tram.",
        "We should fix it before the autumn timetable starts.",
        "The council has the money for the roof in this year's budget.",
        "Somebody should ask the council when the roofers can start.",
    ]
    assert quoted == [False] * 5 + [True, True] + [False] * 4


def test_the_default_summary_never_picks_what_does_not_stand_alone(build_post):
    posts = [
        build_post(1, "Ana", [("own", "Hi all,", None),
                              ("own", "The depot roof leaks every time it rains heavily.", None),
                              ("own", "The options we have would be:", None),
                              ("own", "Cheers,", None)]),
        build_post(2, "Ben", [("own", "It's okay.", None)]),
        build_post(3, "Cy", [("own", "A new depot roof would cost less than one new tram.", None)]),
    ]  # fmt: skip
    result = summarise(posts, SummaryRequest(sentences=10), language="english")
    assert result.algorithm == "thread"
    assert [s.text for s in result.sentences] == [
        "The depot roof leaks every time it rains heavily.",
        "A new depot roof would cost less than one new tram.",
    ]
    assert "Only 2 sentences stand on their own (asked for 10)" in result.note


def test_a_thread_where_nothing_stands_alone_still_gets_a_summary(build_post):
    posts = [build_post(n, a, [("own", t, None)]) for n, a, t in
             [(1, "Ana", "+1"), (2, "Ben", "Agreed."), (3, "Cy", "Thanks!")]]  # fmt: skip
    result = summarise(posts, SummaryRequest(sentences=2), language="english")
    assert [s.text for s in result.sentences] == ["+1", "Agreed."]
    assert "No sentence stands on its own here" in result.note


# --- what the thread says about a sentence --------------------------------------------------


def _debate(build_post, quoted_twice: str, likes: dict[int, int] | None = None):
    first = "The tram line should run past the hospital, not the stadium."
    second = "A stop at the hospital would serve night-shift nurses and visitors."
    posts = [
        build_post(1, "Ana", [("own", first, None), ("own", second, None)]),
        build_post(2, "Ben", [("quote", quoted_twice, 1),
                              ("own", "Buses already serve the stadium on match days.", None)]),
        build_post(3, "Cy", [("quote", quoted_twice, 1),
                             ("own", "The council meets about the route in March.", None)]),
    ]  # fmt: skip
    if likes:
        posts = [dataclasses.replace(p, likes=likes.get(p.number)) for p in posts]
    return posts, first, second


def test_a_quoted_sentence_is_credited_to_the_quoted_author(build_post):
    _, first, second = _debate(build_post, "")
    for text in (first, second):
        posts, _, _ = _debate(build_post, text)
        result = summarise(posts, SummaryRequest(sentences=1), language="english")
        (picked,) = result.sentences
        assert (picked.text, picked.post, picked.author) == (text, 1, "Ana")


def test_likes_count_as_engagement(build_post):
    posts = [
        build_post(1, "Ana", [("own", "Which route should the new tram line take?", None)]),
        build_post(2, "Ben", [("own", "The route past the stadium is cheapest to build.", None)]),
        build_post(3, "Cy", [("own", "The route past the hospital serves most riders.", None)]),
    ]  # fmt: skip
    for liked in (2, 3):
        rated = [dataclasses.replace(p, likes=40 if p.number == liked else 0) for p in posts]
        result = summarise(rated, SummaryRequest(sentences=3), language="english")
        rank = {s.post: s.rank for s in result.sentences}
        assert rank[liked] < rank[5 - liked]


def test_five_people_saying_the_same_thing_make_one_pick(build_post):
    same = [
        "Ticket prices on the tram are far too high for students.",
        "Ticket prices for students on the tram are far too high.",
        "For students the tram ticket prices are far too high.",
        "The tram ticket prices are far too high for students, really.",
        "Students find the tram ticket prices far too high.",
    ]
    posts = [build_post(1, "Ana", [("own", "What should the tram company change first?", None)])]
    posts += [build_post(n + 2, f"P{n}", [("own", t, None)]) for n, t in enumerate(same)]
    posts += [
        build_post(7, "Gil", [("own", "Night services end before the last trains arrive.", None)]),
        build_post(8, "Hal", [("own", "The stops have no shelters against the rain.", None)]),
    ]
    result = summarise(posts, SummaryRequest(sentences=4), language="english")
    texts = [s.text for s in result.sentences]
    assert sum(t in same for t in texts) == 1
    assert "Night services end before the last trains arrive." in texts
    assert "The stops have no shelters against the rain." in texts


def test_picks_fill_a_word_budget_and_report_falling_values(tram_posts):
    result = summarise(tram_posts, SummaryRequest(words=60, explain=True), language="english")
    assert 40 <= sum(len(s.text.split()) for s in result.sentences) <= 60
    by_rank = sorted(result.sentences, key=lambda s: s.rank)
    assert [s.rank for s in by_rank] == list(range(1, len(by_rank) + 1))
    assert all(a.score >= b.score for a, b in itertools.pairwise(by_rank))


# --- hard-wrapped mail --------------------------------------------------------------------------

WRAPPED = [
    "Hello all,",
    "I have been reading the consultation on the tram line and I am not quite",
    "convinced that the depot needs to sit next to the river, where the ground",
    "floods every other winter.",
    "Could the depot go on the old gasworks site instead? It is higher up and",
    "the council already owns it.",
    "Thanks,",
    "Ana",
]


def test_wrapped_lines_are_joined_into_their_paragraphs(build_post):
    assert wrap_width(WRAPPED) is not None
    assert unwrap_lines(WRAPPED, wrap_width(WRAPPED)) == [(0, 1), (1, 4), (4, 6), (6, 7), (7, 8)]
    post = build_post(1, "Ana", [("own", line, None) for line in WRAPPED])
    assert [text for _, text in own_paragraphs(post)][1] == (
        "I have been reading the consultation on the tram line and I am not quite convinced "
        "that the depot needs to sit next to the river, where the ground floods every other "
        "winter."
    )
    sentences = [s.text for s in collect_sentences([post]).sources]
    assert "Could the depot go on the old gasworks site instead?" in sentences
    assert "It is higher up and the council already owns it." in sentences


def test_lines_of_a_forum_post_are_paragraphs_already(tram_posts):
    """One paragraph a line (forum copies): long lines, no wrap width, nothing joined."""
    lines = [seg.text for p in tram_posts for seg in p.segments]
    assert wrap_width(lines) is None
    assert unwrap_lines(["Short line.", "Another."], None) == [(0, 1), (1, 2)]
