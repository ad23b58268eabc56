"""The cheap screens in front of stance's cue and negation work never hide a real hit.

`classify_reply` skips a sentence's 51 cue patterns when one combined pattern finds nothing,
and skips tokenising a reply for echoed negations when no negator is in it. Either screen
missing a hit would silently change labels, so both are checked against the slow path on
the hand-written cue cases and on generated text made of cue words, negators and fillers.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import agreement as stance
from bot.core.text import word_spans
from tests.core.test_agreement import CUE_CASES

_VOCABULARY = sorted(
    {word for reply, _, _ in CUE_CASES for word in reply.replace(",", " , ").split()}
    | {"+1", "1000%", "n't", "don’t", "DON'T", "_not_", "not's", "yes", "nah", "—", "-", "so"}
    | {"much", "right", "here", "with", "you", "this", "that", "need", "necessary", "can"}
)
_SEPARATORS = st.sampled_from([" ", " ", " ", ", ", ". ", "! ", "\n", "", "_", "'"])
_texts = st.lists(st.tuples(st.sampled_from(_VOCABULARY), _SEPARATORS), max_size=12).map(
    lambda parts: "".join(word + sep for word, sep in parts)
)


def _some_cue_matches(sentence: str) -> bool:
    return any(m.end() > m.start() for c in stance._CUES for m in c.pattern.finditer(sentence))


def test_the_cue_screen_splits_every_pattern_at_its_top_level_bars():
    for cue in stance._CUES:
        branches = stance._branches(cue.pattern.pattern)
        assert "|".join(branches) == cue.pattern.pattern
    assert stance._branches(r"a|(b|c)|[|]|\||d") == ["a", "(b|c)", "[|]", r"\|", "d"]


def test_the_cue_screen_passes_every_hand_written_case():
    for reply, _, cue in CUE_CASES:
        sentence_hits = _some_cue_matches(reply)
        assert (stance._ANY_CUE_RE.search(reply) is not None) == sentence_hits, reply
        if cue is not None:
            assert sentence_hits, reply


@settings(max_examples=400, deadline=None)
@given(_texts)
def test_the_cue_screen_finds_a_sentence_exactly_when_some_cue_does(text):
    assert (stance._ANY_CUE_RE.search(text) is not None) == _some_cue_matches(text)


@settings(max_examples=400, deadline=None)
@given(_texts)
def test_the_negator_screen_sees_every_negator_the_tokeniser_sees(text):
    if any(stance._is_negator(word) for word, _, _ in word_spans(text)):
        assert stance._NEGATOR_RE.search(text) is not None


def test_the_screens_leave_labels_as_they_were():
    # the slow path, forced: no screen may change a label or its deciding words
    screened = [stance.classify_reply(reply) for reply, _, _ in CUE_CASES]
    original_cue, original_negator = stance._ANY_CUE_RE, stance._NEGATOR_RE
    try:
        stance._ANY_CUE_RE = stance.re.compile("")  # matches everywhere
        stance._NEGATOR_RE = stance.re.compile("")
        slow = [stance.classify_reply(reply) for reply, _, _ in CUE_CASES]
    finally:
        stance._ANY_CUE_RE, stance._NEGATOR_RE = original_cue, original_negator
    assert screened == slow
