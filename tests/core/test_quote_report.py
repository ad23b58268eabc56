"""Who-quoted-whom queries over a small hand-built thread.

The thread (authors: alice, bob, carol, dave):
  1 alice  own words only
  2 bob    quotes 1
  3 carol  quotes 1 and 2           (a post quoting two posts)
  4 alice  quotes 2
  5 bob    quotes 2                 (bob quoting bob: a self-quote)
  6 dave   quotes 3 twice           (one edge, count 2)
  7 carol  quotes 1                 (post 1 is quoted by 2, 3 and 7)
"""

from __future__ import annotations

import json

import pytest

from bot.core.models import AnalysedPost, QuoteEdge, Segment, StoredPost, content_hash
from bot.core.quote_report import (
    EXCERPT_CHARS,
    ChainNode,
    PairCount,
    excerpt,
    quote_chain,
    quote_report,
    to_json,
)
from bot.errors import NotFound, UserError


def post(number: int, author: str | None, own: str, quotes: tuple[int, ...] = ()) -> AnalysedPost:
    segments = tuple(
        Segment("quote", f"words of post {q}", i, source_post=q, explicit=True)
        for i, q in enumerate(quotes)
    )
    segments += (Segment("own", own, len(quotes)),)
    text = "\n".join(s.text for s in segments)
    return AnalysedPost(
        number=number,
        text=text,
        segments=segments,
        author=author,
        url=f"https://forum.example/t/1/{number}",
    )


POSTS = (
    post(1, "alice", "Cats belong on the Moon. Low gravity is ideal for naps."),
    post(2, "bob", "Who would feed them up there?", quotes=(1,)),
    post(3, "carol", "Both of you skip the oxygen problem.", quotes=(1, 2)),
    post(4, "alice", "Automatic feeders, obviously.", quotes=(2,)),
    post(5, "bob", "Following up on my own point.", quotes=(2,)),
    post(6, "dave", "Oxygen, yes. And litter.", quotes=(3, 3)),
    post(7, "carol", "Still a no from me.", quotes=(1,)),
)
EDGES = (
    QuoteEdge(2, 1),
    QuoteEdge(3, 1),
    QuoteEdge(3, 2),
    QuoteEdge(4, 2),
    QuoteEdge(5, 2),
    QuoteEdge(6, 3, 2),
    QuoteEdge(7, 1),
)


def nameless(posts: tuple[AnalysedPost, ...]) -> tuple[AnalysedPost, ...]:
    return tuple(
        AnalysedPost(number=p.number, text=p.text, segments=p.segments, url=p.url) for p in posts
    )


# --- aggregation --------------------------------------------------------------------------


def test_pairs_are_summed_per_author_pair_and_sorted() -> None:
    report = quote_report(POSTS, EDGES)

    assert report.authors_known
    assert [(p.from_label, p.to_label, p.count) for p in report.pairs] == [
        ("carol", "alice", 2),
        ("dave", "carol", 2),
        ("alice", "bob", 1),
        ("bob", "alice", 1),
        ("bob", "bob", 1),
        ("carol", "bob", 1),
    ]
    carol_alice = report.pairs[0]
    assert carol_alice.post_pairs == ((3, 1), (7, 1))
    assert sum(p.count for p in report.pairs) == sum(e.count for e in EDGES)


def test_self_quote_is_kept_but_flagged_and_left_out_of_rankings() -> None:
    report = quote_report(POSTS, EDGES)

    selfs = [p for p in report.pairs if p.is_self]
    assert selfs == [PairCount("bob", "bob", 1, ((5, 2),), is_self=True)]
    # post 2 is quoted by 3, 4 (others) and 5 (bob himself): only the others count
    by_post = {q.post: q for q in report.most_quoted_posts}
    assert by_post[2].times_quoted == 2
    assert {a.author: a.times_quoted for a in report.most_quoted_authors}["bob"] == 2


def test_rankings() -> None:
    report = quote_report(POSTS, EDGES)

    assert [
        (q.post, q.author, q.times_quoted, q.quoted_by_posts) for q in report.most_quoted_posts
    ] == [
        (1, "alice", 3, 3),
        (2, "bob", 2, 2),
        (3, "carol", 2, 1),
    ]
    top = report.most_quoted_posts[0]
    assert top.excerpt == "Cats belong on the Moon. Low gravity is ideal for naps."
    assert top.url == "https://forum.example/t/1/1"
    assert [(a.author, a.times_quoted) for a in report.most_quoted_authors] == [
        ("alice", 3),
        ("bob", 2),
        ("carol", 2),
    ]
    assert [(q.label, q.times_quoting) for q in report.most_quoting] == [
        ("carol", 3),
        ("dave", 2),
        ("alice", 1),
        ("bob", 1),
    ]


def test_top_limits_every_ranking() -> None:
    report = quote_report(POSTS, EDGES, top=1)
    assert len(report.most_quoted_posts) == 1
    assert len(report.most_quoted_authors) == 1
    assert len(report.most_quoting) == 1
    assert len(report.pairs) == 6  # pairs are never cut
    with pytest.raises(UserError):
        quote_report(POSTS, EDGES, top=-1)


def test_edges_carry_authors_and_are_sorted_and_merged() -> None:
    shuffled = (*reversed(EDGES), QuoteEdge(2, 1, 2), QuoteEdge(4, 1, 0))
    report = quote_report(POSTS, shuffled)

    assert [(e.from_post, e.to_post) for e in report.edges] == sorted(
        (e.from_post, e.to_post) for e in EDGES
    )
    first = report.edges[0]
    assert (first.from_author, first.to_author, first.count) == ("bob", "alice", 3)


def test_stored_posts_fit_the_protocol() -> None:
    stored = tuple(
        StoredPost(
            number=p.number,
            text=p.text,
            content_hash=content_hash(p.text),
            segments=p.segments,
            author=p.author,
            url=p.url,
        )
        for p in POSTS
    )
    assert quote_report(stored, EDGES) == quote_report(POSTS, EDGES)


def test_excerpt_is_short_and_cut_at_a_word() -> None:
    long = "word " * 100
    cut = excerpt(long)
    assert len(cut) <= EXCERPT_CHARS
    assert cut.endswith("word…")
    assert excerpt("  two\n\nlines ") == "two lines"

    posts = (post(1, "alice", long), post(2, "bob", "hm", quotes=(1,)))
    report = quote_report(posts, (QuoteEdge(2, 1),))
    assert len(report.most_quoted_posts[0].excerpt) <= EXCERPT_CHARS


# --- no author names ------------------------------------------------------------------------


def test_without_authors_pairs_are_per_post_and_a_note_says_so() -> None:
    report = quote_report(nameless(POSTS), EDGES)

    assert not report.authors_known
    assert [(p.from_label, p.to_label, p.count) for p in report.pairs][:2] == [
        ("post 6", "post 3", 2),
        ("post 2", "post 1", 1),
    ]
    assert len(report.pairs) == len(EDGES)
    assert not any(p.is_self for p in report.pairs)  # bob's self-quote is invisible here
    assert all(e.from_author is None and e.to_author is None for e in report.edges)
    assert report.most_quoted_authors == ()
    assert report.most_quoting[0].label == "post 3"
    assert any("no author names" in n for n in report.notes)


def test_posts_without_an_author_are_not_lumped_together() -> None:
    posts = (*POSTS[:5], *nameless(POSTS[5:]))  # posts 6 and 7 lose their names
    report = quote_report(posts, EDGES)

    labels = {p.from_label for p in report.pairs}
    assert {"post 6", "post 7"} <= labels
    assert "None" not in labels
    assert any("2 posts have no author name" in n for n in report.notes)


# --- filters ------------------------------------------------------------------------------


def test_author_filter_is_case_insensitive_and_keeps_edges_touching_the_author() -> None:
    report = quote_report(POSTS, EDGES, author="ALICE")

    assert report.author == "alice"
    assert [(e.from_post, e.to_post) for e in report.edges] == [(2, 1), (3, 1), (4, 2), (7, 1)]
    assert all("alice" in (e.from_author, e.to_author) for e in report.edges)
    assert report.chain == ()


def test_post_filter_keeps_edges_touching_the_post_and_fills_the_chain() -> None:
    report = quote_report(POSTS, EDGES, post=2)

    assert report.post == 2
    assert [(e.from_post, e.to_post) for e in report.edges] == [(2, 1), (3, 2), (4, 2), (5, 2)]
    # what post 2 quotes, post 2 itself, then the posts under it, each before its own replies
    assert [(c.post, c.depth, c.parent) for c in report.chain] == [
        (1, 0, None),
        (2, 1, 1),
        (3, 2, 2),
        (6, 3, 3),
        (4, 2, 2),
        (5, 2, 2),
    ]
    assert [c.post for c in report.chain if c.focus] == [2]


def test_post_nobody_quoted_says_so_and_shows_what_it_quotes() -> None:
    report = quote_report(POSTS, EDGES, post=7)
    assert report.chain == (
        ChainNode(1, "alice", 0, None),
        ChainNode(7, "carol", 1, 1, 1, "quotes", focus=True),
    )
    assert "Nobody quoted or answered post 7." in report.notes


def test_filter_matching_no_quotes_gives_an_empty_report_with_a_note() -> None:
    posts = (*POSTS, post(8, "erin", "Lurking."))
    report = quote_report(posts, EDGES, author="erin")
    assert report.pairs == () and report.edges == ()
    assert "No quotes match this filter." in report.notes


def test_unknown_author_suggests_the_nearest_names() -> None:
    with pytest.raises(NotFound, match="Did you mean: alice"):
        quote_report(POSTS, EDGES, author="alise")
    with pytest.raises(NotFound, match=r"4 authors, e\.g\. alice, bob, carol, dave"):
        quote_report(POSTS, EDGES, author="zed")


def test_author_filter_without_author_names_explains() -> None:
    with pytest.raises(NotFound, match="no author names"):
        quote_report(nameless(POSTS), EDGES, author="alice")


@pytest.mark.parametrize("number", [0, 8, 99, -1])
def test_unknown_post_names_the_valid_range(number: int) -> None:
    with pytest.raises(NotFound, match="posts run from 1 to 7"):
        quote_report(POSTS, EDGES, post=number)


# --- chain --------------------------------------------------------------------------------


def test_chain_is_in_reading_order_each_post_at_its_shallowest_depth() -> None:
    chain = quote_chain(POSTS, EDGES, 1)

    # post 3 quotes 1 and 2: it sits under 1 (depth 1), not again under 2
    assert [(c.post, c.author, c.depth, c.parent) for c in chain] == [
        (1, "alice", 0, None),
        (2, "bob", 1, 1),
        (4, "alice", 2, 2),
        (5, "bob", 2, 2),
        (3, "carol", 1, 1),
        (6, "dave", 2, 3),
        (7, "carol", 1, 1),
    ]
    assert chain[5].count == 2  # dave quotes carol's post twice
    assert {c.relation for c in chain[1:]} == {"quotes"}


def test_chain_is_cycle_safe() -> None:
    # post 1 edited later to quote post 6: 1 → 6 → 3 → 1 is a cycle
    edges = (*EDGES, QuoteEdge(1, 6))
    chain = quote_chain(POSTS, edges, 6)

    numbers = [c.post for c in chain]
    assert len(numbers) == len(set(numbers))
    assert numbers == [1, 2, 3, 6]  # up: 6 quotes 3, which quotes 2 (and 1), which quotes 1
    around_1 = [c.post for c in quote_chain(POSTS, edges, 1)]
    assert len(around_1) == len(set(around_1)) and 7 in around_1


def test_chain_stops_at_the_depth_limit_and_says_so() -> None:
    posts = tuple(post(i, f"user{i}", "reply") for i in range(1, 16))
    edges = tuple(QuoteEdge(i + 1, i) for i in range(1, 15))

    report = quote_report(posts, edges, post=1)

    assert [c.depth for c in report.chain] == list(range(11))
    assert report.chain_truncated
    assert any("depth 10" in n for n in report.notes)
    assert len(quote_chain(posts, edges, 1, max_depth=3)) == 4


# --- output -------------------------------------------------------------------------------


def test_to_json_shape() -> None:
    data = to_json(quote_report(POSTS, EDGES, post=1))
    assert json.loads(json.dumps(data)) == data

    assert set(data) >= {"edges", "pairs", "most_quoted_posts", "most_quoted_authors", "chain"}
    for edge in data["edges"]:
        assert set(edge) == {"from_post", "to_post", "from_author", "to_author", "count"}
    assert data["edges"][0] == {
        "from_post": 2,
        "to_post": 1,
        "from_author": "bob",
        "to_author": "alice",
        "count": 1,
    }
    assert data["pairs"][0]["from"] == "carol"
    assert data["pairs"][0]["post_pairs"][0] == {"from_post": 3, "to_post": 1}
    assert data["most_quoted_posts"][0]["post"] == 1
    assert data["most_quoted_authors"][0] == {"author": "alice", "times_quoted": 3}
    assert data["chain"][0] == {
        "post": 1,
        "author": "alice",
        "depth": 0,
        "parent": None,
        "relation": None,
        "count": 0,
        "focus": True,
        "also": [],
    }
    assert data["chain"][1]["relation"] == "quotes"
    assert data["replies"] == [] and data["answered"] == []
    assert data["filters"] == {"author": None, "post": 1}


def test_to_json_uses_null_for_unknown_authors() -> None:
    data = to_json(quote_report(nameless(POSTS), EDGES))
    assert data["authors_known"] is False
    assert data["edges"][0]["from_author"] is None
    assert data["edges"][0]["to_author"] is None


def test_no_quotes_at_all() -> None:
    report = quote_report(POSTS, ())
    assert report.pairs == () and report.most_quoted_posts == ()
    assert "No quotes were found in this thread." in report.notes
    assert set(report.participants) == {p.author for p in POSTS}  # quiet posters count too


# --- replies ------------------------------------------------------------------------------


def replying(number: int, author: str, own: str, reply_to: int, quotes: tuple[int, ...] = ()):
    import dataclasses

    return dataclasses.replace(post(number, author, own, quotes), reply_to=reply_to)


def test_replies_are_answered_never_counted_as_quotes() -> None:
    posts = (
        *POSTS,
        replying(8, "erin", "Moon cats, really?", 1),
        replying(9, "alice", "Yes, really.", 8),
        replying(10, "bob", "Quoting and answering at once.", 3, quotes=(3,)),
    )
    edges = (*EDGES, QuoteEdge(10, 3))
    report = quote_report(posts, edges)

    assert [(e.from_post, e.to_post) for e in report.replies] == [(8, 1), (9, 8), (10, 3)]
    assert [(p.from_label, p.to_label, p.count) for p in report.answered] == [
        ("alice", "erin", 1),
        ("bob", "carol", 1),
        ("erin", "alice", 1),
    ]
    assert ("erin", "alice") not in {(p.from_label, p.to_label) for p in report.pairs}
    assert report.most_quoted_authors[0] == quote_report(POSTS, EDGES).most_quoted_authors[0]
    assert "erin" in report.participants
    assert any("replies are counted apart" in n for n in report.notes)

    chain = quote_report(posts, edges, post=8).chain
    assert [(c.post, c.depth, c.relation, c.focus) for c in chain] == [
        (1, 0, "", False),
        (8, 1, "answers", True),
        (9, 2, "answers", False),
    ]
    around_10 = quote_report(posts, edges, post=10).chain
    assert [(c.post, c.relation) for c in around_10][-2:] == [
        (3, "quotes"),
        (10, "quotes and answers"),
    ]

    data = to_json(quote_report(posts, edges, author="erin"))
    assert data["replies"] == [
        {"from_post": 8, "to_post": 1, "from_author": "erin", "to_author": "alice"},
        {"from_post": 9, "to_post": 8, "from_author": "alice", "to_author": "erin"},
    ]
    assert {a["from"] for a in data["answered"]} == {"erin", "alice"}
