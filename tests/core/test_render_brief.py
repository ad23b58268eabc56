"""Chat-sized answers: long stances and quote lists are cut, and say how to narrow them."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.models import AnalysedPost, Segment, StoredThread
from bot.core.quotes import edges_from_posts
from bot.core.render import (
    STANCE_CHARS,
    Answer,
    Line,
    Section,
    answer_chars,
    brief,
    stance_answer,
)
from bot.core.stance import stance_digest

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def _answer(sections: int, lines: int) -> Answer:
    return Answer(
        "t",
        tuple(
            Section(f"s{i}", tuple(Line(f"line {i}.{j}") for j in range(lines)))
            for i in range(sections)
        ),
        notes=("a note",),
    )


def test_a_small_answer_is_left_as_it_is():
    answer = _answer(3, 4)
    assert brief(answer, how_to_narrow="narrow it") == answer


def test_long_sections_and_many_sections_are_cut_and_counted():
    cut = brief(_answer(40, 30), max_sections=5, max_lines=6, how_to_narrow="Use user:.",
                sections_are="participants")  # fmt: skip
    assert [s.heading for s in cut.sections] == ["s0", "s1", "s2", "s3", "s4"]
    assert all(len(s.lines) == 6 for s in cut.sections)
    assert cut.sections[0].lines[-1].text == "… and 25 more"
    assert cut.sections[0].lines[:5] == tuple(Line(f"line 0.{j}") for j in range(5))
    assert cut.notes == ("a note", "35 more participants are not shown here.", "Use user:.")


def test_a_stance_of_a_big_thread_without_names_is_one_chat_message():
    # 600 posts copied without names: 600 participants, each answering the post before
    posts = []
    for n in range(1, 601):
        own = Segment("own", f"Post {n} says the depot needs {n} new tram sheds soon.", 0)
        segments: tuple[Segment, ...] = (own,)
        if n > 1:
            quote = Segment("quote", f"Post {n - 1} says the depot.", 0, source_post=n - 1)
            segments = (quote, Segment("own", "No, that's wrong, it needs none at all.", 0))
        posts.append(AnalysedPost(number=n, text="", segments=segments, author=None))
    report = stance_digest(posts, edges_from_posts(posts))
    thread = StoredThread(
        id=1, scope="local", name="t", title="Sheds", source_kind="text", source_url=None,
        language="english", revision=1, post_count=600, author_count=0,
        created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    answer = stance_answer(thread, report, ask_about_one="Ask about one post.")
    assert answer_chars(answer) <= STANCE_CHARS
    overview = answer.sections[0].lines[0].text
    assert overview.startswith("Side A (300 posts): post ")
    assert "and 288 more · Side B (300): post " in overview
    assert answer.notes[-1] == "Ask about one post."


def test_a_line_of_thousands_of_names_is_cut():
    group = ", ".join(f"post {n}" for n in range(1, 6001))
    answer = Answer("t", (Section("Who agrees with whom", (Line(group),)),))
    cut = brief(answer, how_to_narrow="Ask about one.")
    (line,) = cut.sections[0].lines
    assert len(line.text) <= 600 and line.text.startswith("post 1, post 2,")
    assert line.text.endswith(" …") and "Ask about one." in cut.notes
