"""Helpers for the summary / stance / language tests: a hand-written tram debate and a
network (and NLTK data) blocker.

The thread is invented for these tests: five people argue about a tram line, with quotes
whose text would rank highly if it were (wrongly) counted as the quoter's own words.
"""

from __future__ import annotations

import socket

import pytest

from bot.core import forked
from bot.core.models import AnalysedPost, QuoteEdge, Segment

URL = "https://forum.example/t/tram/{}"

# (number, author, [(kind, text, source_post)])
_TRAM_DEBATE: list[tuple[int, str, list[tuple[str, str, int | None]]]] = [
    (1, "Alice", [
        ("own", "The council wants to build a tram line from the station to the hospital.", None),
        ("own", "I think it is the best transport plan this city has seen in decades. "
                "Buses get stuck in the same traffic as cars, while a tram runs on its own lane.",
         None),
        ("own", "The line would also connect the university campus with the old town.", None),
    ]),
    (2, "Bob", [
        ("quote", "I think it is the best transport plan this city has seen in decades.", 1),
        ("own", "I disagree. The construction would close Market Street for two years, and the "
                "shops there would lose most of their customers.", None),
        ("own", "Electric buses could do the same job for a fraction of the cost.", None),
    ]),
    (3, "Carol", [
        ("quote", "Electric buses could do the same job for a fraction of the cost.", 2),
        ("own", "That's not true. An electric bus carries about eighty people, while a tram "
                "carries two hundred and fifty.", None),
        ("own", "At rush hour the number seven bus is already so full that drivers skip stops.",
         None),
        ("quote", "The line would also connect the university campus with the old town.", 1),
        ("own", "Exactly. Students would finally have a reliable way to reach the lecture halls.",
         None),
    ]),
    (4, "Dan", [
        ("quote", "At rush hour the number seven bus is already so full that drivers skip stops.",
         3),
        ("own", "Good point, but a second bus route would fix that in months rather than years.",
         None),
        ("own", "I am sceptical of the projected ridership figures. The consultants who wrote "
                "them also planned the airport shuttle that nobody uses.", None),
    ]),
    (5, "Alice", [
        ("quote", "I am sceptical of the projected ridership figures.", 4),
        ("own", "You don't need to trust the consultants. Look at Grenoble or Freiburg, where "
                "tram ridership doubled within five years of opening.", None),
    ]),
    (6, "Bob", [
        ("quote", "The consultants who wrote them also planned the airport shuttle that nobody "
                  "uses.", 4),
        ("own", "You're right about the consultants. The shuttle estimate was off by a factor "
                "of three.", None),
    ]),
    (7, "Erin", [
        ("own", "Has anyone asked the operator in the next town what their maintenance costs "
                "look like? Rails and overhead wires need regular care, and winter storms "
                "bring the wires down.", None),
    ]),
    (8, "Carol", [
        ("quote", "Rails and overhead wires need regular care, and winter storms bring the "
                  "wires down.", 7),
        ("own", "I wouldn't call that a serious problem. Modern overhead lines are heated and "
                "rarely fail.", None),
    ]),
    (9, "Dan", [
        ("quote", "The construction would close Market Street for two years, and the shops "
                  "there would lose most of their customers.", 2),
        ("own", "+1. The bakery on Market Street barely survived the sewer works last spring.",
         None),
    ]),
    (10, "Bob", [
        ("quote", "Look at Grenoble or Freiburg, where tram ridership doubled within five years "
                  "of opening.", 5),
        ("own", "Those cities are far denser than ours. Our suburbs are spread out and most "
                "people drive to the ring road.", None),
    ]),
    (11, "Alice", [
        ("quote", "Students would finally have a reliable way to reach the lecture halls.", 3),
        ("own", "Well said. The student union has already asked for a tram stop at the library, "
                "and I love that idea.", None),
        ("own", "The tram's noise worries nobody who has ridden one; they are quieter than "
                "diesel buses.", None),
    ]),
]  # fmt: skip


def make_post(
    number: int,
    author: str | None,
    parts: list[tuple[str, str, int | None]],
    authors: dict[int, str | None] | None = None,
) -> AnalysedPost:
    """An AnalysedPost with one segment per part, each its own paragraph."""
    authors = authors or {}
    segments = tuple(
        Segment(
            kind=kind,  # type: ignore[arg-type]
            text=text,
            paragraph=i,
            source_post=source,
            source_author=authors.get(source) if source else None,
            explicit=kind == "quote",
        )
        for i, (kind, text, source) in enumerate(parts)
    )
    return AnalysedPost(
        number=number,
        text="\n".join(text for _, text, _ in parts),
        segments=segments,
        author=author,
        url=URL.format(number),
    )


def edges_of(posts: list[AnalysedPost]) -> tuple[QuoteEdge, ...]:
    counts: dict[tuple[int, int], int] = {}
    for post in posts:
        for segment in post.segments:
            if segment.kind == "quote" and segment.source_post:
                key = (post.number, segment.source_post)
                counts[key] = counts.get(key, 0) + 1
    return tuple(QuoteEdge(a, b, n) for (a, b), n in sorted(counts.items()))


@pytest.fixture
def tram_posts() -> list[AnalysedPost]:
    authors = {number: author for number, author, _ in _TRAM_DEBATE}
    return [make_post(n, a, parts, authors) for n, a, parts in _TRAM_DEBATE]


@pytest.fixture
def tram_posts_anonymous() -> list[AnalysedPost]:
    """The same debate from a source without author names."""
    return [make_post(n, None, parts) for n, _, parts in _TRAM_DEBATE]


@pytest.fixture
def tram_edges(tram_posts: list[AnalysedPost]) -> tuple[QuoteEdge, ...]:
    return edges_of(tram_posts)


@pytest.fixture
def no_network_no_nltk_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if anything opens a connection or looks for downloaded NLTK data."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    try:
        import nltk.data
    except ImportError:  # pragma: no cover - nltk comes with sumy
        return

    def no_data(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"NLTK data requested: {args!r}")

    monkeypatch.setattr(nltk.data, "find", no_data)
    monkeypatch.setattr(nltk.data, "load", no_data)


@pytest.fixture
def build_post():
    """Factory fixture: build_post(number, author, [(kind, text, source_post), ...])."""
    return make_post


@pytest.fixture
def build_edges():
    """Factory fixture: quote edges counted from the posts' quote segments."""
    return edges_of


def spy_on_forks(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each `forked.start` call really forked, in call order."""
    started: list[bool] = []
    real_start = forked.start

    def spy(fn, *args):
        pending = real_start(fn, *args)
        started.append(pending.forked)
        return pending

    monkeypatch.setattr(forked, "start", spy)
    return started
