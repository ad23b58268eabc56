"""Sides from the signed interaction graph: the cut itself, threads that split and threads
that don't, reply structure, and what callers get back."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from bot.core import sides as sides_module
from bot.core.quotes import infer_quotes
from bot.core.sides import (
    Participants,
    ThreadWords,
    _cut,
    _Graph,
    _parts,
    interactions,
    read_sides,
    thread_sides,
)
from bot.sources.detect import read_file_bytes
from tests.conftest import SHARED, need_shared

REPO = Path(__file__).resolve().parents[2]
OWN_THREADS = REPO / "bench" / "data" / "sides"


def _thread(name: str):
    return infer_quotes(read_file_bytes((OWN_THREADS / name).read_bytes())).posts


def _graph(n: int, edges: dict[tuple[int, int], float]) -> _Graph:
    a, b = zip(*edges, strict=True)
    return _Graph(n, np.array(a), np.array(b), np.array(list(edges.values())))


def _brute_force_best(graph: _Graph) -> float:
    best = -np.inf
    for bits in itertools.product((1.0, -1.0), repeat=graph.n - 1):
        best = max(best, graph.value(np.array((1.0, *bits))))
    return best


# --- the cut ------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [5, 12, 13, 16])
def test_the_cut_finds_the_best_split_of_small_graphs(n):
    """Exact up to EXACT_MAX people; above it, the tree and spectral starts with single
    moves reach the best split of a two-camp debate with noisy evidence."""
    rng = np.random.default_rng(n)
    camp = rng.choice((1.0, -1.0), size=n)
    edges = {}
    for i, j in itertools.combinations(range(n), 2):
        if rng.random() < 0.4:
            sign = -camp[i] * camp[j] if rng.random() < 0.15 else camp[i] * camp[j]
            edges[(i, j)] = sign * rng.uniform(0.3, 2.0)
    graph = _graph(n, edges)
    (part,) = _parts(graph)
    signs = _cut(graph, part)
    assert set(np.unique(signs)) <= {1.0, -1.0}
    assert graph.value(signs) == pytest.approx(_brute_force_best(graph))


def test_the_cut_recovers_two_camps_in_a_big_sparse_graph():
    """2,000 people (past the dense eigendecomposition), each answering a few others, 85% of
    answers across the camps: the power-iteration start and single moves find the camps."""
    rng = np.random.default_rng(7)
    n = 2_000
    camp = np.where(rng.random(n) < 0.65, 1.0, -1.0)
    edges: dict[tuple[int, int], float] = {}
    for i in range(n):
        for j in rng.choice(n, size=3, replace=False).tolist():
            if i == j:
                continue
            cross = rng.random() < 0.85
            same_side = camp[i] == camp[j]
            if cross == same_side:  # draw again until the answer is of the wanted kind
                continue
            key = (min(i, j), max(i, j))
            edges[key] = edges.get(key, 0.0) + (-1.0 if cross else 1.0)
    graph = _graph(n, edges)
    part = max(_parts(graph), key=lambda p: len(p.nodes))
    assert len(part.nodes) > sides_module.DENSE_MAX
    signs = _cut(graph, part)
    agree = np.mean(signs == camp[part.nodes])
    assert max(agree, 1 - agree) > 0.97


# --- threads ------------------------------------------------------------------------------------


def test_a_debate_splits_with_its_people_on_their_sides():
    result = thread_sides(_thread("high-street.md"))
    assert result.splits and result.note is None
    side_of = {p.participant: p.side for p in result.placements}
    pro = {"Maya", "Tobias", "Priya", "Glen", "Ruth"}
    con = {"Derek", "Sandra", "Colin", "Wendy"}
    assert len({side_of[name] for name in pro}) == 1
    assert len({side_of[name] for name in con}) == 1
    assert side_of["Maya"] != side_of["Derek"]
    first, second = result.sides
    assert (first.name, second.name) == ("A", "B")
    assert len(first.members) >= len(second.members)
    assert 0.5 < result.confidence <= 1.0
    for side in result.sides:
        assert 0.0 < side.confidence <= 1.0
        assert side.key_points and len(side.key_points) <= 3
        for point in side.key_points:
            assert point.author in side.members  # attributed to a member of that side
            assert point.text
    ruth = result.side_of("Ruth")
    assert ruth is not None and ruth.evidence == "replies"  # answered the post before hers


@pytest.mark.parametrize("name", ["sourdough-help.md", "allotment-chat.json", "club-founder.md"])
def test_help_chat_and_condolences_do_not_split(name):
    result = thread_sides(_thread(name))
    assert not result.splits
    assert result.sides == () and result.confidence == 0.0
    assert result.note is not None and result.note.startswith("This thread does not split")
    assert set(result.unplaced) == {p.participant for p in result.placements}


def test_replies_from_the_reply_structure_count():
    """The tipping thread quotes nothing: every interaction is a reply (`reply_to`)."""
    posts = _thread("tipping.json")
    people = Participants.of(posts)
    found = interactions(posts, people)
    assert found and {i.kind for i in found} == {"reply"}
    result = thread_sides(posts)
    side_of = {p.participant: p.side for p in result.placements}
    assert side_of["dana_w"] == side_of["mira.k"] == side_of["Ollie"]
    assert side_of["joe_server"] == side_of["Rafael"] == side_of["bex"] != side_of["dana_w"]


def test_a_reply_that_also_quotes_its_parent_counts_once(build_post):
    post = build_post(
        2, "Bo", [("quote", "Trams are cheap.", 1), ("own", "No, they are not.", None)]
    )
    post = type(post)(**{**{f: getattr(post, f) for f in post.__dataclass_fields__}, "reply_to": 1})
    first = build_post(1, "Ann", [("own", "Trams are cheap.", None)])
    found = interactions([first, post], Participants.of([first, post]))
    assert [(i.kind, i.source, i.target) for i in found] == [("quote", "Bo", "Ann")]


def test_people_with_no_evidence_are_not_placed(build_post):
    """Two people argue; a third only ever thanks the first: the thanks carry no side."""
    posts = [
        build_post(1, "Ann", [("own", "The depot site is contaminated and will cost a fortune.",
                               None)]),
        build_post(2, "Bo", [("quote", "The depot site is contaminated", 1),
                             ("own", "That's wrong, it was cleaned up when they built the wall.",
                              None)]),
        build_post(3, "Ann", [("quote", "it was cleaned up when they built the wall", 2),
                              ("own", "No, only the top layer was. The report says so.", None)]),
        build_post(4, "Bo", [("quote", "only the top layer was", 3),
                             ("own", "I don't think that's true, read page six again.", None)]),
        build_post(5, "Cy", [("quote", "only the top layer was", 3),
                             ("own", "Thanks for digging that out, I'll have a read.", None)]),
    ]  # fmt: skip
    people = Participants.of(posts)
    result = read_sides(
        people, interactions(posts, people), ThreadWords.of(posts, people, "english")
    )
    assert result.splits
    assert result.side_of("Ann").side != result.side_of("Bo").side
    assert result.side_of("Cy").side is None and result.unplaced == ("Cy",)


def test_per_post_participants_when_there_are_no_names():
    posts = infer_quotes(
        read_file_bytes((REPO / "bot/examples/tram-thread.txt").read_bytes())
    ).posts
    result = thread_sides(posts)
    assert result.splits
    names = {p.participant for p in result.placements}
    assert names == {f"post {n}" for n in range(1, 22)}
    assert all(point.author is None for side in result.sides for point in side.key_points)
    # the clearest opponents in the copy: post 8 answers post 7 "I don't agree"
    assert result.side_of("post 8").side != result.side_of("post 7").side


def test_the_discourse_fixture_keeps_the_two_main_opponents_apart():
    """Topic 2108: anonymous45 argues against anonymous105 and Elliot throughout (the stance
    digest once grouped them together, "27 agree to 13 disagree")."""
    windows = [
        need_shared(SHARED / "fixtures" / "discourse" / name)
        for name in (
            "criticalfallibilism_t2108_posts_1-20.json",
            "criticalfallibilism_t2108_posts_pn41_40-21.json",
        )
    ]
    posts: dict[int, dict] = {}
    for path in windows:
        for raw in json.loads(path.read_text(encoding="utf-8"))["post_stream"]["posts"]:
            posts[raw["post_number"]] = raw
    view = {"id": 2108, "title": "t", "post_stream": {"posts": [posts[n] for n in sorted(posts)]}}
    thread = infer_quotes(read_file_bytes(json.dumps(view).encode()))
    result = thread_sides(thread.posts)
    assert result.splits
    side = {p.participant: p.side for p in result.placements}
    assert side["anonymous45"] != side["anonymous105"]
    assert side["anonymous105"] == side["anonymous110"]
