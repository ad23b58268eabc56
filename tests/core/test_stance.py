"""Stance: agreement cues on hand-written replies, reply extraction, and the digest."""

from __future__ import annotations

import pytest

from bot.core.stance import (
    HEDGE_FACTOR,
    Agreement,
    classify_reply,
    reply_pairs,
    stance_digest,
    topic_pattern,
)
from bot.errors import UserError

# (reply, expected label, expected cue exactly as written in the reply; None = no cue)
CUE_CASES: list[tuple[str, str, str | None]] = [
    # agreement
    ("I agree, the number seven bus is a disgrace.", "agree", "I agree"),
    ("Agreed. Let's get the depot sorted first.", "agree", "Agreed"),
    ("Exactly, and the hospital staff would use it every day.", "agree", "Exactly"),
    ("Good point. I hadn't thought about the night shifts.", "agree", "Good point"),
    ("True, the bridge is far too narrow for two lanes.", "agree", "True"),
    ("Indeed, the old tracks are still under the asphalt.", "agree", "Indeed"),
    ("You're right about the consultants.", "agree", "You're right"),
    ("This.", "agree", "This"),
    ("+1 from me, the trams in Basel are lovely.", "agree", "+1"),
    ("I couldn't agree more.", "agree", "I couldn't agree more"),
    ("Well said, that is the whole argument in one line.", "agree", "Well said"),
    ("Fair enough, the timetable would need a rework.", "agree", "Fair enough"),
    ("That's right, the line was planned back in 1990.", "agree", "That's right"),
    ("Spot on about the parking.", "agree", "Spot on"),
    ("Yes, and we should ask the hospital to chip in.", "agree", "Yes"),
    # disagreement
    ("I disagree, the shops would survive two years of works.", "disagree", "I disagree"),
    ("You're wrong about the cost, it was halved in the new plan.", "disagree", "You're wrong"),
    ("Not really. The study covered all three districts.", "disagree", "Not really"),
    ("No, the trams would share the road with the cars.", "disagree", "No"),
    ("Nonsense, nobody is going to close Market Street for two years.", "disagree", "Nonsense"),
    ("That's not true, the estimate was a third lower.", "disagree", "That's not true"),
    ("I doubt it, the council has never finished anything on time.", "disagree", "I doubt"),
    ("I don't think so. The buses are fine outside rush hour.", "disagree", "I don't think"),
    ("You don't need rails to get a reserved lane.", "disagree", "You don't need"),
    ("A second depot is not necessary at all.", "disagree", "is not necessary"),
    ("I'm sceptical about those ridership numbers.", "disagree", "sceptical"),
    ("On the contrary, the works would bring customers to the cafés.", "disagree",
     "On the contrary"),
    ("However, nobody has asked the shop owners yet.", "disagree", "However"),
    ("That's a bad idea, the square is a protected site.", "disagree", "a bad idea"),
    ("Good point, but a bus lane would do that in months.", "disagree", "Good point, but"),
    # negated cues flip
    ("I don't agree with any of that.", "disagree", "don't agree"),
    ("Not a good point, the hospital already has its own shuttle.", "disagree",
     "Not a good point"),
    ("I wouldn't call that wrong, just expensive.", "agree", "I wouldn't call that wrong"),
    ("I wouldn't say that's wrong.", "agree", "I wouldn't say that's wrong"),
    ("I don't think that's true.", "disagree", "I don't think that's true"),
    ("I can't disagree with that.", "agree", "can't disagree"),
    ("I'm not convinced by the noise argument.", "disagree", "not convinced"),
    ("That's not a bad idea at all.", "agree", "That's not a bad idea"),
    ("I'm not sure you're right about the bridge.", "disagree",
     "I'm not sure you're right"),
    ("It doesn't make sense to run trams at night.", "disagree", "doesn't make sense"),
    # no cue: neither, or sentiment when it is strong
    ("The tram would be wonderful, a great gift for everyone!", "agree", None),
    ("What a terrible, awful waste of money.", "disagree", None),
    ("The bus leaves at nine from platform two.", "neither", None),
    ("This is why we need a referendum on it.", "neither", None),
]  # fmt: skip


@pytest.mark.parametrize(("reply", "label", "cue"), CUE_CASES)
def test_agreement_cues(reply, label, cue):
    verdict = classify_reply(reply)
    assert verdict.label == label, verdict
    if cue is not None:
        assert verdict.cue == cue
        assert verdict.cue in reply  # the deciding words as they appear
    if label == "agree":
        assert verdict.score > 0
    elif label == "disagree":
        assert verdict.score < 0


def test_there_are_at_least_thirty_cue_cases():
    assert len(CUE_CASES) >= 30
    assert sum(1 for r, _, _ in CUE_CASES if "n't" in r or "not " in r.lower()) >= 8


def test_sentiment_only_decides_without_cues():
    verdict = classify_reply("The tram would be wonderful, a great gift for everyone!")
    assert verdict.cue is not None and verdict.cue.startswith("sentiment +")
    assert verdict.score >= 0.5
    # a cue wins over strongly positive words
    assert classify_reply("I disagree, though the drawings are wonderful and lovely!").label == (
        "disagree"
    )


def test_hedges_weaken():
    plain = classify_reply("You're right.")
    hedged = classify_reply("Maybe you're right.")
    assert plain.label == hedged.label == "agree"
    assert hedged.score == pytest.approx(plain.score * HEDGE_FACTOR)
    # a weak cue under a hedge is no longer decisive
    assert classify_reply("Perhaps I'm not sure.").label == "neither"


def test_cues_are_read_near_the_start():
    late = "The bridge is narrow. The tunnel is old. Anyway, I disagree."
    assert classify_reply(late).label == "neither"
    assert classify_reply("Hmm. I disagree.").label == "disagree"


def test_repeating_the_quote_with_a_negation_disagrees():
    verdict = classify_reply("Trams are not cheap to run.", quoted="Trams are cheap to run.")
    assert verdict == Agreement("disagree", "not cheap", -0.6)
    assert classify_reply("Trams are not cheap to run.").label == "neither"


def test_mixed_cues_cancel_to_neither():
    verdict = classify_reply("Exactly wrong.")
    assert verdict.label == "neither" and verdict.cue is None


def test_empty_reply():
    assert classify_reply("   ") == Agreement("neither", None, 0.0)


# --- replies inside posts -------------------------------------------------------------------


def test_multi_quote_posts_alternate_quote_and_reply(build_post):
    post = build_post(
        5,
        "Fay",
        [
            ("own", "Two things.", None),
            ("quote", "The depot is too small.", 2),
            ("quote", "It would need a second hall.", 2),
            ("own", "Not true. It has room for twelve cars.", None),
            ("own", "I measured it myself.", None),
            ("quote", "Nobody rides trams at night.", 3),
            ("quote", "The ring road is always jammed.", 4),
            ("own", "Exactly.", None),
        ],
    )
    pairs = reply_pairs(post.segments)
    assert [(q.source_post, quoted, reply) for q, quoted, reply in pairs] == [
        (
            2,
            "The depot is too small.\nIt would need a second hall.",
            "Not true. It has room for twelve cars.\nI measured it myself.",
        ),
        (4, "The ring road is always jammed.", "Exactly."),
    ]


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


def test_digest_agreement_and_groups(tram_posts, tram_edges):
    report = stance_digest(tram_posts, tram_edges)
    people = by_name(report)
    assert people["Carol"].agrees_with == ("Alice",)
    assert set(people["Carol"].disagrees_with) == {"Bob", "Erin"}
    assert people["Bob"].agrees_with == ("Dan",)
    assert people["Bob"].disagrees_with == ("Alice",)
    assert people["Dan"].agrees_with == ("Bob",)
    assert people["Alice"].disagrees_with == ("Dan",)
    assert report.groups == (("Alice", "Carol"), ("Bob", "Dan"))
    replies = {(r.from_post, r.to_post): r for p in report.participants for r in p.replies}
    first = replies[(2, 1)]
    assert (first.to_author, first.label, first.cue) == ("Alice", "disagree", "I disagree")
    assert first.quoted_text_excerpt.startswith("I think it is the best transport plan")
    assert first.reply_excerpt.startswith("I disagree.")
    assert replies[(9, 2)].cue == "+1"


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
    assert report.groups == (
        ("post 1", "post 3", "post 11"),
        ("post 2", "post 9"),
        ("post 4", "post 6"),
    )


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
