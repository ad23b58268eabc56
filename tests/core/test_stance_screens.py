"""The cheap screens in front of the reply classifier's cue and negation work never hide a
real hit.

A cue's pattern is searched for only in sentences that hold one of its `words`, and a reply
is tokenised for echoed negations only when a negator is in it. Either screen missing a hit
would silently change labels, so both are checked against the slow path on the hand-written
cue cases and on generated text made of cue words, negators and fillers.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import agreement
from bot.core.text import word_spans
from tests.core.test_agreement import CUE_CASES

_VOCABULARY = sorted(
    {word for reply, _, _ in CUE_CASES for word in reply.replace(",", " , ").split()}
    | {"+1", "1000%", "n't", "don’t", "DON'T", "_not_", "not's", "yes", "nah", "—", "-", "so"}
    | {"much", "right", "here", "with", "you", "this", "that", "need", "necessary", "can"}
    | {"WRONG", "Exactly", "PRECISELY", "Agreed", "İ", "ﬁ", "ǅ"}
)
_SEPARATORS = st.sampled_from([" ", " ", " ", ", ", ". ", "! ", "\n", "", "_", "'"])
_texts = st.lists(st.tuples(st.sampled_from(_VOCABULARY), _SEPARATORS), max_size=12).map(
    lambda parts: "".join(word + sep for word, sep in parts)
)


def _unscreened_hits(sentence: str) -> list[str]:
    """Cues whose pattern matches although none of their words is in the sentence."""
    low = sentence.lower()
    return [
        cue.pattern.pattern
        for cue in agreement._CUES
        if any(m.end() > m.start() for m in cue.pattern.finditer(sentence))
        and not any(word in low for word in cue.words)
    ]


def test_every_cue_has_words_in_lower_case():
    for cue in agreement._CUES:
        assert cue.words and all(word == word.lower() for word in cue.words), cue


def test_the_cue_screen_passes_every_hand_written_case():
    for reply, _, cue in CUE_CASES:
        assert _unscreened_hits(reply) == [], reply
        if cue is not None:
            assert agreement.has_cue(reply), reply


@settings(max_examples=600, deadline=None)
@given(_texts)
def test_the_cue_screen_never_hides_a_match(text):
    assert _unscreened_hits(text) == []


@settings(max_examples=400, deadline=None)
@given(_texts)
def test_the_negator_screen_sees_every_negator_the_tokeniser_sees(text):
    if any(agreement._is_negator(word) for word, _, _ in word_spans(text)):
        assert agreement._NEGATOR_RE.search(text) is not None
