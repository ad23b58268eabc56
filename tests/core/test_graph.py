"""The quote graph: the networkx model has one node per participant; the PNG is a real image."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from bot.core.graph import (
    build_quote_graph,
    render_quote_graph,
    short_label,
    top_participants,
    write_quote_graph,
)
from bot.core.models import AnalysedPost, QuoteEdge, Segment
from bot.core.quote_report import quote_report
from bot.errors import UserError


@pytest.fixture(scope="module")
def mpl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mplconfig")


@pytest.fixture(autouse=True)
def _mpl_config(monkeypatch: pytest.MonkeyPatch, mpl_dir: Path) -> None:
    """Keep matplotlib's font cache out of $HOME (read when matplotlib is first imported)."""
    monkeypatch.setenv("MPLCONFIGDIR", str(mpl_dir))


def post(number: int, author: str | None) -> AnalysedPost:
    text = f"post {number} says something"
    return AnalysedPost(number, text, (Segment("own", text, 0),), author=author)


AUTHORS = {1: "alice", 2: "bob", 3: "carol", 4: "alice", 5: "bob", 6: "dave", 7: "carol"}
POSTS = tuple(post(n, a) for n, a in AUTHORS.items())
EDGES = (
    QuoteEdge(2, 1),
    QuoteEdge(3, 1),
    QuoteEdge(3, 2),
    QuoteEdge(4, 2),
    QuoteEdge(5, 2),  # bob quoting bob
    QuoteEdge(6, 3, 2),
    QuoteEdge(7, 1),
)


def open_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.verify()  # raises on a truncated or corrupt file
    return Image.open(io.BytesIO(data))


# --- the graph model ------------------------------------------------------------------------


def test_one_node_per_participant_and_weights_are_counts() -> None:
    g = build_quote_graph(POSTS, EDGES)

    assert set(g.nodes) == {"alice", "bob", "carol", "dave"}
    weights = {(u, v): d["weight"] for u, v, d in g.edges(data=True)}
    assert weights == {
        ("bob", "alice"): 1,
        ("carol", "alice"): 2,
        ("carol", "bob"): 1,
        ("alice", "bob"): 1,
        ("bob", "bob"): 1,
        ("dave", "carol"): 2,
    }
    assert g.edges["bob", "bob"]["is_self"]
    assert g.nodes["alice"]["quoted"] == 3
    assert g.nodes["bob"]["quoted"] == 2  # the self-quote doesn't count
    assert g.nodes["dave"]["quoted"] == 0


def test_graph_from_a_filtered_report() -> None:
    g = build_quote_graph(quote_report(POSTS, EDGES, author="dave"))
    assert set(g.nodes) == {"dave", "carol"}
    assert g.edges["dave", "carol"]["weight"] == 2


def test_without_authors_nodes_are_posts() -> None:
    posts = tuple(post(n, None) for n in AUTHORS)
    g = build_quote_graph(posts, EDGES)
    assert set(g.nodes) == {"post 1", "post 2", "post 3", "post 4", "post 5", "post 6", "post 7"}
    assert g.edges["post 6", "post 3"]["weight"] == 2
    assert short_label("post 6") == "#6"


def test_labels_are_short_and_single_line() -> None:
    assert short_label("Chandrasekhar_the_Magnificent") == "Chandrasekhar_the_M…"
    assert len(short_label("x" * 50)) == 20
    assert short_label("two\nlines") == "two lines"


def test_big_graphs_keep_the_busiest_participants() -> None:
    posts = tuple(post(n, f"user{n:02d}") for n in range(1, 61))
    edges = tuple(QuoteEdge(n, 1 + n % 5) for n in range(6, 61))  # users 1..5 are hubs
    full = build_quote_graph(posts, edges)
    assert full.number_of_nodes() == 60

    top = top_participants(full, 10)
    assert top.number_of_nodes() == 10
    assert {f"user{n:02d}" for n in range(1, 6)} <= set(top.nodes)


def test_report_and_edges_together_is_a_mistake() -> None:
    with pytest.raises(TypeError):
        build_quote_graph(quote_report(POSTS, EDGES), EDGES)


# --- the picture ----------------------------------------------------------------------------


def test_png_is_written_and_opens(tmp_path: Path) -> None:
    path = write_quote_graph(tmp_path / "quotes.png", POSTS, EDGES, title="Cats on the Moon")

    image = open_png(path.read_bytes())
    assert image.format == "PNG"
    assert image.size == (1200, 900)


def test_rendering_is_deterministic() -> None:
    report = quote_report(POSTS, EDGES)
    assert render_quote_graph(report) == render_quote_graph(report)


def test_empty_graph_renders_a_no_quotes_picture() -> None:
    image = open_png(render_quote_graph(POSTS, ()))
    assert image.size == (1200, 900)


def test_big_per_post_graph_renders() -> None:
    posts = tuple(post(n, None) for n in range(1, 201))
    edges = tuple(QuoteEdge(n, max(1, n - 1 - n % 7), 1 + n % 3) for n in range(2, 201))
    image = open_png(render_quote_graph(posts, edges, title="A long thread"))
    assert image.size == (1200, 900)


def test_names_that_look_like_markup_are_drawn_as_text() -> None:
    # `$...$` would be TeX to matplotlib's mathtext; an unbalanced one would raise
    posts = (post(1, "$cash$money"), post(2, r"$\nosuchmacro$"), post(3, r"back\slash_{x}"))
    edges = (QuoteEdge(2, 1), QuoteEdge(3, 2))
    open_png(render_quote_graph(posts, edges, title="$ $ $"))


def test_renders_in_worker_threads() -> None:
    report = quote_report(POSTS, EDGES)
    with ThreadPoolExecutor(max_workers=2) as pool:
        pictures = list(pool.map(lambda _: render_quote_graph(report), range(4)))
    assert len(set(pictures)) == 1


def test_max_nodes_must_be_positive() -> None:
    with pytest.raises(UserError):
        render_quote_graph(POSTS, EDGES, max_nodes=0)


def test_quiet_participants_still_get_a_node() -> None:
    from bot.core.models import QuoteEdge
    from bot.core.quote_report import quote_report

    posts = [post(1, "ana"), post(2, "bo"), post(3, "cy")]
    g = build_quote_graph(quote_report(posts, [QuoteEdge(2, 1, 1)]))
    assert set(g.nodes) == {"ana", "bo", "cy"}


# --- readable at any size -------------------------------------------------------------------


def crowd(people: int, posts: int, seed: int = 3) -> list[AnalysedPost]:
    """A thread where a few people talk most (Zipf-like), quoting and answering recent posts."""
    import dataclasses
    import random

    rng = random.Random(seed)
    names = [f"member_{i:04d}" for i in range(people)]
    weights = [1 / (i + 1) for i in range(people)]
    out = []
    for n in range(1, posts + 1):
        quotes = (rng.randint(max(1, n - 20), n - 1),) if n > 1 and rng.random() < 0.6 else ()
        segments = tuple(Segment("quote", "q", i, source_post=q) for i, q in enumerate(quotes))
        segments += (Segment("own", f"own words {n}", len(quotes)),)
        reply = rng.randint(max(1, n - 5), n - 1) if n > 1 and rng.random() < 0.3 else None
        p = AnalysedPost(n, "x", segments, author=rng.choices(names, weights)[0])
        out.append(dataclasses.replace(p, reply_to=reply))
    return out


def edges_of(posts: list[AnalysedPost]) -> list[QuoteEdge]:
    from bot.core.quotes import edges_from_posts

    return list(edges_from_posts(posts))


@pytest.mark.parametrize(("people", "posts"), [(20, 150), (200, 1200), (2000, 9000)])
def test_picture_is_readable_at_20_200_and_2000_participants(people: int, posts: int) -> None:
    from bot.core.graph import MAX_NODES, boxes_overlapping, draw_quote_graph

    thread = crowd(people, posts)
    report = quote_report(thread, edges_of(thread))
    title = "Who quoted whom — " + "a thread whose title is far too long to fit " * 3
    drawing = draw_quote_graph(report, title=title)

    assert open_png(drawing.png).size == (1200, 900)
    # nothing is cut at the picture's edges, the title included
    for box in drawing.boxes:
        assert box.x0 >= 0 and box.x1 <= 1200 and box.y0 >= 0 and box.y1 <= 900, box
    assert len(drawing.title) == 2 and drawing.title[-1].endswith("…")
    # no name sits on a node, another name, a number, the title or the caption
    kinds = {"node", "label", "count", "title", "caption"}
    assert boxes_overlapping(drawing.boxes, kinds) == []
    # the busiest have their names; beyond MAX_NODES the rest are one grey node
    total = len(report.participants)
    assert drawing.named == min(total, MAX_NODES)
    assert drawing.grouped == (total - MAX_NODES if total > MAX_NODES else 0)
    named = {b.name for b in drawing.boxes if b.kind == "label"}
    g = build_quote_graph(report)
    by_quotes = sorted(g.nodes, key=lambda n: -(g.nodes[n]["quoted"] + g.nodes[n]["quoting"]))
    assert set(by_quotes[:10]) <= named
    if drawing.grouped:
        assert any(b.kind == "label" and b.name == "\x00others" for b in drawing.boxes)
        texts = [b.name for b in drawing.boxes if b.kind == "title"]
        assert any(f"the other {drawing.grouped:,} are one grey circle" in t for t in texts)


def test_counts_and_names_of_the_example_thread_do_not_overlap() -> None:
    """The example thread's chain #17 → #16 → … → #10 used to get its counts on the names."""
    from bot.core.graph import boxes_overlapping, draw_quote_graph

    posts = tuple(post(n, None) for n in range(1, 20))
    chain = [(14, 10, 6), (11, 10, 5), (13, 11, 2), (15, 13, 3), (16, 15, 2), (17, 16, 2)]
    edges = (*(QuoteEdge(a, b, c) for a, b, c in chain), QuoteEdge(18, 14), QuoteEdge(6, 5))
    drawing = draw_quote_graph(posts, edges, title="Who quoted whom — How could it happen?")
    assert boxes_overlapping(drawing.boxes, {"node", "label", "count", "title"}) == []
    counts = {b.name for b in drawing.boxes if b.kind == "count"}
    assert "post 14→post 10" in counts and "post 11→post 10" in counts
    assert {b.name for b in drawing.boxes if b.kind == "label"} == {
        f"post {n}" for n in range(1, 20)
    }


def test_replies_are_drawn_dashed_and_named_in_the_caption() -> None:
    import dataclasses

    from bot.core.graph import draw_quote_graph

    posts = [*POSTS, dataclasses.replace(post(8, "erin"), reply_to=1)]
    drawing = draw_quote_graph(quote_report(posts, EDGES))
    assert any("answered without quoting" in line for line in drawing.caption)
    g = build_quote_graph(quote_report(posts, EDGES))
    assert g.edges["erin", "alice"] == {"weight": 0, "is_self": False, "replies": 1}
