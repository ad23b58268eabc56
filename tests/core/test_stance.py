"""The stance digest: participants, their sides, and replies labelled consistently with them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.agreement import classify_reply
from bot.core.stance import _excerpt, stance_digest, topic_pattern
from bot.errors import UserError

# --- the digest -------------------------------------------------------------------------------


def by_name(report):
    return {p.author: p for p in report.participants}


def test_digest_participants_words_and_quotes(tram_posts, tram_edges, no_network_no_nltk_data):
    report = stance_digest(tram_posts, tram_edges)
    assert not report.per_post and report.note is None
    people = by_name(report)
    assert list(people) == ["Alice", "Bob", "Carol", "Dan", "Erin"]
    assert people["Alice"].posts == (1, 5, 11)
    own_words = sum(
        len(s.text.split()) for p in tram_posts if p.author == "Bob" for s in p.segments
        if s.kind == "own"
    )  # fmt: skip
    assert people["Bob"].words == own_words
    assert people["Alice"].quoted_by == (("Bob", 2), ("Carol", 1))
    assert people["Carol"].quotes == (("Alice", 1), ("Bob", 1), ("Erin", 1))
    assert people["Erin"].quotes == ()


def test_digest_sides_and_labels(tram_posts, tram_edges):
    report = stance_digest(tram_posts, tram_edges)
    assert report.sides.splits and report.sides.unplaced == ()
    first, second = report.sides.sides
    assert (first.name, set(first.members)) == ("A", {"Bob", "Dan", "Erin"})
    assert (second.name, set(second.members)) == ("B", {"Alice", "Carol"})
    people = by_name(report)
    assert {p.author: p.side for p in report.participants} == {
        "Alice": "B", "Bob": "A", "Carol": "B", "Dan": "A", "Erin": "A",
    }  # fmt: skip
    assert people["Carol"].agrees_with == ("Alice",)
    assert set(people["Carol"].disagrees_with) == {"Bob", "Erin"}
    assert people["Bob"].agrees_with == ("Dan",)
    assert people["Bob"].disagrees_with == ("Alice",)
    assert people["Dan"].agrees_with == ("Bob",)
    assert people["Alice"].disagrees_with == ("Dan",)
    replies = {(r.from_post, r.to_post): r for p in report.participants for r in p.replies}
    first_reply = replies[(2, 1)]
    assert (first_reply.to_author, first_reply.kind) == ("Alice", "quote")
    assert (first_reply.label, first_reply.cue) == ("disagree", "I disagree")
    assert 0.5 < first_reply.confidence <= 1.0
    assert first_reply.quoted_text_excerpt.startswith("I think it is the best transport plan")
    assert first_reply.reply_excerpt.startswith("I disagree.")
    assert replies[(9, 2)].cue == "+1"
    # words without a cue, between opposite sides: unclear, with nothing said to decide it
    assert (replies[(10, 5)].label, replies[(10, 5)].cue, replies[(10, 5)].confidence) == (
        "unclear", None, 0.0,
    )  # fmt: skip


def test_agreement_across_sides_is_unclear(build_post, build_edges):
    """'You're probably right' to the other side concedes a point; it does not join them."""
    posts = [
        build_post(1, "Ann", [("own", "The tram is worth every penny, buses are hopeless.", None)]),
        build_post(2, "Bo", [
            ("quote", "The tram is worth every penny, buses are hopeless.", 1),
            ("own", "I disagree, a bus lane would do the same for a tenth of the price.", None),
        ]),
        build_post(3, "Ann", [
            ("quote", "a bus lane would do the same for a tenth of the price", 2),
            ("own", "That's not true, a bus lane still sits at the same lights.", None),
        ]),
        build_post(4, "Cy", [
            ("quote", "a bus lane still sits at the same lights", 3),
            ("own", "Nonsense, they get priority at every junction now.", None),
        ]),
        build_post(5, "Ann", [
            ("quote", "they get priority at every junction now", 4),
            ("own", "You're probably right about the junctions. The price is still wrong.", None),
        ]),
        build_post(6, "Di", [
            ("quote", "That's not true, a bus lane still sits at the same lights.", 3),
            ("own", "Exactly. The lights on Mill Road are the whole problem.", None),
        ]),
        build_post(7, "Di", [
            ("quote", "they get priority at every junction now", 4),
            ("own", "No, they don't. I drive that route every morning.", None),
        ]),
    ]  # fmt: skip
    report = stance_digest(posts, build_edges(posts))
    sides = {p.author: p.side for p in report.participants}
    assert sides["Ann"] == sides["Di"] != sides["Bo"] == sides["Cy"]
    replies = {r.from_post: r for p in report.participants for r in p.replies}
    assert classify_reply(replies[5].reply_excerpt).label == "agree"  # what the words say
    assert (replies[5].label, replies[5].cue) == ("unclear", None)  # across the sides
    assert (replies[6].label, replies[6].cue) == ("agree", "Exactly")
    assert (replies[4].label, replies[4].cue) == ("disagree", "Nonsense")


def test_an_agreement_needs_more_than_its_own_words(build_post, build_edges):
    """Two people who only ever exchange "Exactly." are put together by that alone: the
    label stays unclear until something else puts them on one side."""
    posts = [
        build_post(1, "Ann", [("own", "The tram is worth every penny, buses are hopeless.", None)]),
        build_post(2, "Bo", [
            ("quote", "The tram is worth every penny, buses are hopeless.", 1),
            ("own", "I disagree, a bus lane would do the same for a tenth of the price.", None),
        ]),
        build_post(3, "Ann", [
            ("quote", "a bus lane would do the same for a tenth of the price", 2),
            ("own", "That's not true, a bus lane still sits at the same lights.", None),
        ]),
        build_post(4, "Cy", [
            ("quote", "That's not true, a bus lane still sits at the same lights.", 3),
            ("own", "Exactly. The lights on Mill Road are the whole problem.", None),
        ]),
    ]  # fmt: skip
    report = stance_digest(posts, build_edges(posts))
    assert report.sides.side_of("Cy").side == report.sides.side_of("Ann").side
    (reply,) = by_name(report)["Cy"].replies
    assert (reply.label, reply.cue, reply.confidence) == ("unclear", None, 0.0)


def test_key_points_are_own_sentences_in_thread_order(tram_posts, tram_edges):
    report = stance_digest(tram_posts, tram_edges, key_points=2)
    for person in report.participants:
        assert 1 <= len(person.key_points) <= 2
        assert [k.post for k in person.key_points] == sorted(k.post for k in person.key_points)
        for point in person.key_points:
            post = next(p for p in tram_posts if p.number == point.post)
            assert post.author == person.author
            own = " ".join(s.text for s in post.segments if s.kind == "own")
            assert point.text in own
            assert point.url == post.url
    assert all(p.key_points == () for p in stance_digest(tram_posts, tram_edges, key_points=0)
               .participants)  # fmt: skip


def test_per_post_mode_when_the_source_has_no_names(tram_posts_anonymous, build_edges):
    report = stance_digest(tram_posts_anonymous, build_edges(tram_posts_anonymous))
    assert report.per_post
    assert "no author names" in report.note
    assert [p.author for p in report.participants] == [f"post {n}" for n in range(1, 12)]
    people = by_name(report)
    assert people["post 3"].agrees_with == ("post 1",)
    assert people["post 3"].disagrees_with == ("post 2",)
    assert report.sides.splits
    a, b = (set(side.members) for side in report.sides.sides)
    assert {"post 1", "post 3", "post 11"} <= b and {"post 2", "post 9"} <= a


def test_author_filter(tram_posts, tram_edges):
    report = stance_digest(tram_posts, tram_edges, author="carol")
    assert [p.author for p in report.participants] == ["Carol"]
    assert report.participants[0].quoted_by == (("Alice", 1), ("Dan", 1))
    with pytest.raises(UserError, match=r"No participant called 'Zed'.*Alice, Bob, Carol"):
        stance_digest(tram_posts, tram_edges, author="Zed")


def test_author_filter_in_per_post_mode(tram_posts_anonymous, build_edges):
    edges = build_edges(tram_posts_anonymous)
    report = stance_digest(tram_posts_anonymous, edges, author="4")
    assert [p.author for p in report.participants] == ["post 4"]


def test_topic_sentences_with_polarity(build_post, build_edges):
    posts = [
        build_post(1, "Ana", [("own", "The trams in Lyon are wonderful and I love them. "
                                      "The weather was grey.", None)]),
        build_post(2, "Ben", [("own", "The tram's track work was a horrible, painful mess.",
                               None)]),
        build_post(3, "Ana", [("own", "A tram line is planned near the library for May.", None)]),
        build_post(4, "Cy", [("own", "Tramways and tramlines are other words.", None)]),
    ]  # fmt: skip
    report = stance_digest(posts, build_edges(posts), topic="Tram")
    assert report.topic == "Tram"
    people = by_name(report)
    ana = [(t.post, t.polarity) for t in people["Ana"].topic_sentences]
    assert ana == [(1, "positive"), (3, "neutral")]
    assert [(t.post, t.polarity) for t in people["Ben"].topic_sentences] == [(2, "negative")]
    assert people["Ben"].topic_sentences[0].compound < 0
    assert people["Cy"].topic_sentences == ()
    assert all(p.topic_sentences == () for p in stance_digest(posts, ()).participants)


@pytest.mark.parametrize(
    ("topic", "text", "hit"),
    [
        ("tram", "Trams again!", True),
        ("tram", "the tram's bell", True),
        ("tram", "the trams' bells", True),
        ("tram", "a tramway", False),
        ("Lenin's", "Lenin wrote it", True),
        ("Lenin", "Lenin’s view", True),
        ("trams", "one tram", True),
        ("bus lane", "new bus lanes", True),
        ("bus lane", "a bus in the lane", False),
    ],
)
def test_topic_matching(topic, text, hit):
    assert bool(topic_pattern(topic).search(text.replace("’", "'"))) is hit


def test_empty_thread_is_a_user_error():
    with pytest.raises(UserError):
        stance_digest([], ())


# --- excerpts ---------------------------------------------------------------------------------


def _excerpt_as_before(text: str, limit: int) -> str:
    """The excerpt as first written (the white space of the text's head flattened, cut at
    `limit` with an ellipsis): the faster one must give the same answer on any text."""
    head = text[: 4 * limit]
    words = head.split()
    if len(head) < len(text) and words:
        words.pop()
        flat = " ".join(words)
        if len(flat) >= limit:
            return flat[: limit - 1].rstrip() + "…"
        flat = " ".join(text.split())
    else:
        flat = " ".join(words)
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "a",
                "bb",
                "word",
                " ",
                " ",
                " ",
                "  ",
                "\n",
                "\t",
                "\x1c",
                "\xa0",
                "\u3000",
                "é",
                "x" * 90,
            ]
        ),
        max_size=300,
    ),
    st.sampled_from([5, 50, 200]),
)
def test_an_excerpt_is_the_flattened_text_cut(parts, limit):
    """The excerpt reads only the text's head where that is enough: always the same answer
    as before."""
    text = "".join(parts)
    assert _excerpt(text, limit) == _excerpt_as_before(text, limit)
