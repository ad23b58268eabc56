"""What the words of a reply say: agreement cues on sentences of our own writing."""

from __future__ import annotations

import pytest

from bot.core.agreement import (
    HEDGE_FACTOR,
    QUESTION_FACTOR,
    Agreement,
    classify_reply,
    reply_pairs,
)

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
    ("That's a bad idea, the square is a protected site.", "disagree", "That's a bad idea"),
    ("Good point, but a bus lane would do that in months.", "disagree", "Good point, but"),
    # negated cues flip
    ("I don't agree with any of that.", "disagree", "I don't agree"),
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
    # answers that are cues only as answers
    ("Absolutely.", "agree", "Absolutely"),
    ("Definitely ...", "agree", "Definitely"),
    ("Exactly this. The depot was the problem all along.", "agree", "Exactly this"),
    ("That's exactly what happened in Leeds.", "agree", "That's exactly what"),
    ("I think so.", "agree", "I think so"),
    ("That's the argument that changed my mind.", "agree", "changed my mind"),
    ("I'm with you on the depot.", "agree", "I'm with you"),
    ("Not exactly. The survey only covered weekdays.", "disagree", "Not exactly"),
    ("Ohhh no you don't.", "disagree", "Ohhh no you don't"),
    ("That's a false choice, we can have both.", "disagree", "a false choice"),
    ("I was wrong about the depot, the site was cleaned up.", "agree", "I was wrong"),
    # no cue: unclear, whatever the sentiment
    ("The tram would be wonderful, a great gift for everyone!", "unclear", None),
    ("What a terrible, awful waste of money.", "unclear", None),
    ("The bus leaves at nine from platform two.", "unclear", None),
    ("This is why we need a referendum on it.", "unclear", None),
    ("However, nobody has asked the shop owners yet.", "unclear", None),
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


def test_hedges_weaken():
    plain = classify_reply("You're right.")
    hedged = classify_reply("Maybe you're right.")
    assert plain.label == hedged.label == "agree"
    assert hedged.score == pytest.approx(plain.score * HEDGE_FACTOR)
    # a weak cue under a hedge is no longer decisive
    assert classify_reply("Perhaps I'm not sure.").label == "unclear"


def test_cues_are_read_near_the_start():
    late = "The bridge is narrow. The tunnel is old. Anyway, I disagree."
    assert classify_reply(late).label == "unclear"
    assert classify_reply("Hmm. I disagree.").label == "disagree"


def test_repeating_the_quote_with_a_negation_disagrees():
    verdict = classify_reply("Trams are not cheap to run.", quoted="Trams are cheap to run.")
    assert verdict == Agreement("disagree", "not cheap", -0.6)
    assert classify_reply("Trams are not cheap to run.").label == "unclear"


def test_mixed_cues_cancel_to_unclear():
    verdict = classify_reply("Exactly wrong.")
    assert verdict.label == "unclear" and verdict.cue is None


def test_empty_reply():
    assert classify_reply("   ") == Agreement("unclear", None, 0.0)


# --- the misreadings of issue 13 and their kind ----------------------------------------------
# Each was a real reply read the wrong way; these sentences are our own, of the same kind.


@pytest.mark.parametrize(
    "reply",
    [
        "You're probably right. I never looked for the figures that would prove me wrong.",
        "You are most likely right, and I was too quick to call the survey wrong.",
        "You're probably right about the timetable, I haven't checked what went wrong in 2019.",
    ],
)
def test_a_hedged_you_are_right_agrees_and_prove_me_wrong_is_no_disagreement(reply):
    verdict = classify_reply(reply)
    assert verdict.label == "agree", verdict
    assert verdict.cue is not None and "right" in verdict.cue


@pytest.mark.parametrize(
    "reply",
    [
        "That's not exactly what I said about the depot.",
        "I see. That wasn't exactly my intention, although I did think so at first.",
        "I don't know exactly how much the depot would cost.",
        "The survey asked exactly the same question twice, which is odd.",
        "Precisely how many trams would they need at peak times?",
    ],
)
def test_exactly_as_an_adverb_is_no_agreement(reply):
    assert classify_reply(reply).label != "agree"


@pytest.mark.parametrize(
    "reply",
    [
        "Sorry, I meant the number seven bus, not the nine.",
        "Sorry, I meant to say earlier, the air quality point is one I take seriously.",
        "What a terrible accident on the ring road last night. The trams would not have helped.",
        "Oh that's lovely, what a wonderful picture of the old trams!",
    ],
)
def test_sentiment_is_no_agreement_either_way(reply):
    verdict = classify_reply(reply)
    assert verdict.label == "unclear", verdict
    assert verdict.cue is None


@pytest.mark.parametrize(
    ("reply", "label"),
    [
        ("What's wrong with the number seven bus?", "unclear"),
        ("Nothing wrong with a bit of ambition.", "unclear"),
        ("Something went wrong with the consultation website.", "unclear"),
        ("The prices are ridiculous, I agree with you.", "agree"),
        ("Indeed, the old tracks are still there.", "agree"),
        ("The old tracks are indeed still under the road.", "unclear"),
        ("Is it true that the depot is contaminated?", "unclear"),
        ("Do you agree with the council?", "unclear"),
        ("We can agree to meet at the library.", "unclear"),
        ("Absolutely necessary works, they say.", "unclear"),
        ("That's right where the depot would go.", "unclear"),
        ("It makes sense only if the buses are cut.", "agree"),
    ],
)
def test_words_that_are_cues_only_in_one_use(reply, label):
    assert classify_reply(reply).label == label, classify_reply(reply)


def test_cues_inside_a_question_count_half():
    stated = classify_reply("That is mistaken.")
    asked = classify_reply("Is that mistaken?")
    assert asked.score == pytest.approx(stated.score * QUESTION_FACTOR)
    assert not asked.strong and stated.strong


def test_the_tone_of_words_without_a_cue():
    pushing = classify_reply("Batteries cover hours, not the two weeks of still weather.")
    assert pushing.label == "unclear" and pushing.contrary and not pushing.friendly
    thanks = classify_reply("I had no idea that mattered, thank you!")
    assert thanks.friendly and not thanks.contrary
    plain = classify_reply("The bus leaves at nine from platform two.")
    assert not plain.contrary and not plain.friendly
    assert not classify_reply("I disagree, it's not cheap.").contrary  # a cue decided it


def test_a_concession_in_the_next_sentence_disagrees():
    verdict = classify_reply(
        "True, Flamanville was a mess. But that is a reason to build a series."
    )
    assert verdict.label == "disagree"
    assert verdict.cue is not None and verdict.cue.startswith("True")
    assert verdict.cue.endswith("But")


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
