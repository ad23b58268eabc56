"""The thread brief: its parts, its counts, and that it always fits one chat message.

The threads are written for these tests (the tram debate of tests/core/conftest.py, and
the one below).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bench.synthetic import make_thread
from bot.core import render
from bot.core.brief import thread_brief
from bot.core.models import StoredThread
from bot.core.quotes import infer_quotes
from tests.conftest import EXAMPLE_TEXT

FARES = [
    (1, "Ana", [("own", "Should the tram company cut fares for students this autumn?", None),
                ("own", "The student union says half its members cannot afford a monthly pass.",
                 None)]),
    (2, "Ben", [("own", "Student fares on the tram are far too high for anyone on a grant.",
                 None)]),
    (3, "Cy", [("quote", "The student union says half its members cannot afford a monthly pass.",
                1),
               ("own", "Tram fares for students are far too high compared with the buses.", None)]),
    (4, "Dee", [("own", "For students the tram fares are simply far too high.", None)]),
    (5, "Eve", [("quote", "The student union says half its members cannot afford a monthly pass.",
                 1),
                ("own", "The depot needs a new roof before anything else gets money.", None)]),
    (6, "Fay", [("quote", "The depot needs a new roof before anything else gets money.", 5),
                ("own", "The roof can wait a year; the fares cannot.", None)]),
    (7, "Ben", [("quote", "The roof can wait a year; the fares cannot.", 6),
                ("own", "Then the council should pay for the roof out of the parking fund.",
                 None)]),
]  # fmt: skip


def stored_thread(title: str, posts: int, url: str | None = None) -> StoredThread:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return StoredThread(1, "local", "t", title, "json", url, "english", 1, posts, 0, now, now)


@pytest.fixture
def fares(build_post, build_edges):
    authors = {n: a for n, a, _ in FARES}
    posts = [build_post(n, a, parts, authors) for n, a, parts in FARES]
    return posts, build_edges(posts)


def test_the_parts_of_a_brief(fares):
    posts, edges = fares
    brief = thread_brief(posts, edges, "Student fares", "english")
    assert [b.text for b in brief.about] == [
        "Should the tram company cut fares for students this autumn?"
    ]
    assert (brief.posts, brief.participants, brief.named) == (7, 6, True)
    # the fares point was made by Ben, Cy and Dee (and echoed by Ana's question)
    fares_point = [p for p in brief.points if "far too high" in p.line.text]
    assert len(fares_point) == 1, "one point, however many people made it"
    assert fares_point[0].people == 3  # Ben, Cy and Dee
    # post 1 was quoted by Cy and Eve: the most quoted, with the sentence they quoted
    top = brief.most_quoted[0]
    assert (top.line.post, top.people) == (1, 2)
    assert top.line.text.startswith("The student union says")
    # the latest turn: the last two people, newest last, with whom they answered
    assert [(p.line.post, p.answering, p.answering_author) for p in brief.latest] == [
        (6, 5, "Eve"),
        (7, 6, "Fay"),
    ]


def test_brief_answer_lines_are_attributed_and_linked(fares):
    posts, edges = fares
    thread = stored_thread("Student fares", len(posts), "https://forum.example/t/fares")
    answer = render.brief_answer(thread, thread_brief(posts, edges, thread.title))
    headings = [s.heading for s in answer.sections]
    assert headings == ["What it is about", "Main points", "Sides", "Most quoted", "Latest"]
    for section in answer.sections:
        for line in section.lines:
            assert line.ref is not None and line.ref.author and line.ref.url
            assert line.ref.url == f"https://forum.example/t/tram/{line.ref.post}"
    points = answer.sections[1].lines
    assert all(line.detail and line.detail.startswith("made by ") for line in points)
    assert any(line.detail == "made by 1 person" or "people" in line.detail for line in points)


def test_the_sides_of_the_thread_follow_the_main_points(fares):
    """Eve and Ben argue against Fay's "the roof can wait": the brief shows each side with
    its people and its strongest point, attributed and linked like every other line."""
    posts, edges = fares
    thread = stored_thread("Student fares", len(posts), "https://forum.example/t/fares")
    brief = thread_brief(posts, edges, thread.title)
    assert len(brief.sides) == 2 and brief.sides_note is None
    assert sum(side.people for side in brief.sides) <= brief.participants
    assert {"Fay"} <= {m for side in brief.sides for m in side.members}
    answer = render.brief_answer(thread, brief)
    assert [s.heading for s in answer.sections][1:3] == ["Main points", "Sides"]
    sides = answer.sections[2].lines
    assert [line.detail.split(":")[0] for line in sides] == ["side A", "side B"]
    assert all(line.ref is not None and line.ref.author and line.ref.url for line in sides)
    fay = next(side for side in brief.sides if "Fay" in side.members)
    eve = next(side for side in brief.sides if "Eve" in side.members)
    assert fay is not eve  # Fay answered Eve's roof point with "the roof can wait"


def test_a_thread_that_does_not_split_says_so_in_a_note(build_post, build_edges):
    chat = [
        (1, "Ana", [("own", "Does anyone know when the depot open day starts this year?", None)]),
        (2, "Ben", [("own", "It starts at ten on Saturday, the poster is by the ticket hall.",
                     None)]),
        (3, "Ana", [("own", "Thanks, that is exactly what I needed to know.", None)]),
    ]  # fmt: skip
    authors = {n: a for n, a, _ in chat}
    posts = [build_post(n, a, parts, authors) for n, a, parts in chat]
    brief = thread_brief(posts, build_edges(posts), "Open day")
    assert brief.sides == () and "does not split" in (brief.sides_note or "")
    answer = render.brief_answer(stored_thread("Open day", 3), brief)
    assert "Sides" not in [s.heading for s in answer.sections]
    assert any("does not split" in note for note in answer.notes)


def test_a_thread_without_names_counts_posts(tram_posts_anonymous, build_edges):
    brief = thread_brief(tram_posts_anonymous, build_edges(tram_posts_anonymous))
    assert not brief.named
    answer = render.brief_answer(stored_thread("Tram", 11), brief)
    details = [line.detail for s in answer.sections for line in s.lines if line.detail]
    assert details and all("people" not in d and "person" not in d for d in details)


def test_one_post_and_only_quotes_still_give_an_answer(build_post):
    alone = thread_brief(
        [build_post(1, "Ana", [("own", "The tram depot needs a roof.", None)])], []
    )
    assert [b.text for b in alone.about] == ["The tram depot needs a roof."]
    assert alone.latest == () and alone.most_quoted == ()
    empty = thread_brief([build_post(1, "Ana", [("quote", "Somebody else's words.", None)])], [])
    answer = render.brief_answer(stored_thread("Quotes only", 1), empty)
    assert answer.sections == ()
    assert "No post has words of its own to brief." in answer.notes


@pytest.mark.parametrize("size", [40, 2_000])
def test_a_brief_of_a_big_thread_fits_one_message(size):
    doc = make_thread(size, seed=size).doc
    analysed = infer_quotes(doc)
    brief = thread_brief(analysed.posts, analysed.edges, analysed.title)
    assert brief.about and brief.points and brief.latest
    answer = render.brief_answer(stored_thread(analysed.title, size), brief)
    fitted = render.fit_answer(answer)
    assert render.visible_length(fitted) <= render.BRIEF_CHARS
    assert [s.heading for s in fitted.sections][:2] == ["What it is about", "Main points"]
    assert all(line.ref is not None for s in fitted.sections for line in s.lines)


def test_fitting_shortens_lines_first_then_drops_them():
    long = "word " * 200
    answer = render.Answer(
        "Brief — x",
        (
            render.Section("A", tuple(render.Line(long, render.Ref(i)) for i in range(1, 4))),
            render.Section("B", tuple(render.Line(long, render.Ref(i)) for i in range(4, 10))),
        ),
        notes=("12 posts.",),
    )
    clipped = render.fit_answer(answer, limit=1500)
    assert [len(s.lines) for s in clipped.sections] == [3, 6]
    assert all(line.text.endswith("…") for s in clipped.sections for line in s.lines)
    dropped = render.fit_answer(answer, limit=700)
    assert render.visible_length(dropped) <= 700
    assert 1 <= len(dropped.sections[0].lines) <= 3
    assert dropped.notes == ("12 posts.",)


def test_the_example_thread_brief(tmp_path):
    from bot.sources.detect import read_file_bytes

    analysed = infer_quotes(read_file_bytes(EXAMPLE_TEXT.read_bytes()))
    brief = thread_brief(analysed.posts, analysed.edges, analysed.title)
    texts = [b.text for b in brief.about] + [p.line.text for p in brief.points]
    assert len(texts) == len(set(texts))
    assert all(not t.endswith((":", ",")) for t in texts)
