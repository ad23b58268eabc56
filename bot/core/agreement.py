"""Does a reply agree with what it answers? A transparent, checkable reading of its words.

Every verdict keeps the words that decided it ("don't agree", "good point, but"), so a
reader can check it. Statistical stance models need training data and hide their reasons;
on forum replies, explicit cues right after the quote are the strongest checkable signal.
The verdict here is the *text's* alone: whether a reply is finally shown as agreeing or
disagreeing is decided with the sides of the whole thread (bot/core/sides.py).

How a reply is read (`classify_reply`):

1. Window: the first `WINDOW_SENTENCES` sentences of the reply. People state agreement or
   disagreement up front, right after the quote; later sentences argue the point, and a
   "wrong" or "however" there often concerns a third party or a side issue.
2. Cues: phrase patterns for agreement ("I agree", "Exactly.", "good point", "you're
   (probably) right", "This.", "+1", ...) and disagreement ("I disagree", "you're wrong",
   "Not really.", "No,", "nonsense", "not true", "you don't need", "on the contrary", ...).
   Words that are cues only in one use are matched only in that use: "exactly" and
   "absolutely" as an answer ("Exactly.", "that's exactly right"), not as adverbs ("not
   exactly comparable"); "wrong" said of the other's claim ("that's wrong"), not "prove me
   wrong" or "what's wrong with"; "true" as a verdict ("True,", "that's true"). Overlapping
   matches keep the earliest, then longest, phrase ("I was wrong" is a concession, not a
   "was wrong").
3. Negation: a cue is flipped when a negator ("not", "never", "no", any "n't" word) stands
   at most `NEGATION_WINDOW` words before it in the same clause ("not a good point"), or
   when a negated framing ("I don't think", "I doubt", "that's not", "I wouldn't say/call",
   "not sure") opens the clause ("I don't think that's true"). Alone, a framing counts as
   mild disagreement.
4. Concession: agreement followed in the same sentence (or at the start of the next) by
   "but"/"however"/"though"/"yet" ("True, but ...") is read as mild disagreement.
5. Hedges ("maybe", "perhaps", "probably", ...) multiply the score by `HEDGE_FACTOR`, and a
   cue inside a question counts `QUESTION_FACTOR` as much: either can leave a weak cue
   below `LABEL_THRESHOLD` (then "unclear").
6. Only when no cue fires: a reply that repeats the quoted claim with a negation added
   ("Trams are cheap." → "Trams are not cheap.") disagrees. Otherwise the text is
   "unclear". Sentiment is no evidence of agreement: "Sorry, I meant…" is polite, not
   opposed, and "what a terrible accident" says nothing about the person answered.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from bot.core.models import Segment, cheap_to_build
from bot.core.summary import stop_words_for
from bot.core.text import (
    normalise_word,
    split_sentences,
    split_words,
    straighten,
    warm_up,
    word_spans,
)

Label = Literal["agree", "disagree", "unclear"]

WINDOW_SENTENCES = 2
NEGATION_WINDOW = 3
FRAMING_REACH = 4
"""A negated framing scopes over a cue at most this many words further on."""
HEDGE_FACTOR = 0.6
QUESTION_FACTOR = 0.5
LABEL_THRESHOLD = 0.3
STRONG = 0.6
"""A text verdict at least this strong is evidence on its own (a hedged "you're probably
right" is 0.6; a lone "I'm not sure" framing, 0.4, is not)."""


@cheap_to_build  # one per reply: 127,000 at 100,000 posts
@dataclass(frozen=True, slots=True)
class Agreement:
    """What the words of a reply say about the post they answer."""

    label: Label
    cue: str | None
    """The deciding words as they appear in the reply."""
    score: float
    """Signed strength in [-1, 1]: > 0 leans agree, < 0 leans disagree."""
    contrary: bool = False
    """Without a decisive cue, the opening words push back: a negation or a contrast ("Batteries
    cover hours, not weeks", "It doesn't close to a factor of two", "But ..."), and they
    are not friendly."""
    friendly: bool = False
    """The opening words thank, congratulate, console or laugh at the person answered
    ("thanks", "well done", "haha"); praise of a thing ("brilliant idea") is not counted."""

    @property
    def strong(self) -> bool:
        return self.label != "unclear" and abs(self.score) >= STRONG


# --- cues -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Cue:
    pattern: re.Pattern[str]
    polarity: int  # +1 agree, -1 disagree
    weight: float
    framing: bool = False  # a negated framing that can scope over the next cue
    words: tuple[str, ...] = ()
    """Lower-case text every match contains one of: a sentence without any of them is not
    searched with the pattern (plain substring tests are far cheaper than 60 patterns)."""


def _cue(
    regex: str, polarity: int, weight: float, framing: bool = False, *, words: tuple[str, ...]
) -> _Cue:
    return _Cue(re.compile(regex, re.IGNORECASE), polarity, weight, framing, words)


_NT = r"(?:n't|nt| not)"  # "don't", "dont", "do not" after the auxiliary's stem
_ADV = r"(?:(?:completely|totally|fully|entirely|strongly|absolutely|really|wholeheartedly|mostly|do|have to|must|respectfully|kind of|sort of|broadly|largely|partly) )?"  # noqa: E501
_END = r"(?=\s*(?:[.!,;:—–-]|$))"  # the cue is the whole answer: "Exactly." "Absolutely!"
_YOU_OR_THAT = r"(?:you're|you are|youre|you were|that's|that is|thats|this is|it's|it is|its)"
_ADVERB_RIGHT = (
    r"(?:(?:most |very |quite |pretty |so )?(?:absolutely|totally|quite|probably|likely|"
    r"definitely|completely|so|dead|spot|exactly|100%|entirely|perfectly|mostly|basically) )?"
)
_NOT_PLACE = (
    r"(?![-\w])(?!\s+(?:where|there|here|now|next|behind|in|at|on|by|before|after|up|down|"
    r"back|into|out|over|around|through|away|off|to|wing)\b)"
)  # "right" as a verdict, not "right where", "right-wing", "right now"

AGREE, DISAGREE = 1, -1
_CUES: tuple[_Cue, ...] = (
    # agreement
    _cue(
        rf"\bi {_ADV}agree\b(?: with (?:you|this|that|all of this|everything))?",
        AGREE,
        1.0,
        words=("agree",),
    ),
    _cue(
        rf"\b(?:i'd|i would|i'll|we all|we both|we|i can) {_ADV}agree\b",
        AGREE,
        0.8,
        words=("agree",),
    ),
    _cue(rf"^{_ADV}agreed?\b(?! to\b)", AGREE, 0.9, words=("agree",)),
    _cue(r"\bi (?:could|can)(?:n't|nt| not) agree more\b", AGREE, 1.0, words=("agree",)),
    _cue(
        r"\b(?:can't|cannot|can not) argue with (?:that|this|you)\b", AGREE, 0.9, words=("argue",)
    ),
    _cue(
        rf"^(?:yes,? )?(?:exactly|precisely)(?: (?:this|right|so|that|it))?{_END}",
        AGREE,
        0.9,
        words=("exactly", "precisely"),
    ),
    _cue(
        rf"\b{_YOU_OR_THAT} (?:exactly|precisely) (?:right|correct|it|my point|the point|"
        r"what i (?:meant|said|think|was (?:going to|gonna|trying to) say))\b",
        AGREE,
        1.0,
        words=("exactly", "precisely"),
    ),
    _cue(
        r"\b(?:very |really |a )?(?:good|great|fair|excellent|valid|strong) point\b",
        AGREE,
        0.9,
        words=("point",),
    ),
    _cue(
        r"\byou(?:'ve| have)? (?:got |make |made )?a (?:good |fair |valid )?point\b",
        AGREE,
        0.8,
        words=("point",),
    ),
    _cue(r"\bfair enough\b", AGREE, 0.7, words=("fair enough",)),
    _cue(
        r"^(?:that's|that is|thats|it's|it is) (?:a )?fair\b(?! (?:amount|bit|number|share|few))",
        AGREE,
        0.6,
        words=("fair",),
    ),
    _cue(r"\bwell (?:said|put)\b", AGREE, 0.9, words=("well said", "well put")),
    _cue(r"\bspot on\b", AGREE, 0.9, words=("spot on",)),
    _cue(
        rf"^(?:absolutely|definitely|certainly|totally|for sure|of course|100%){_END}",
        AGREE,
        0.8,
        words=("absolutely", "definitely", "certainly", "totally", "for sure", "of course", "100%"),
    ),
    _cue(rf"^indeed{_END}", AGREE, 0.7, words=("indeed",)),
    _cue(
        rf"^true{_END}|^true enough\b|\b(?:that's|that is|thats|it's|it is|so|very|quite|"
        r"all too|how|too|that's so|that is so|very very) true\b(?! (?:of|for|to|that)\b)",
        AGREE,
        0.7,
        words=("true",),
    ),
    _cue(
        rf"\b(?:you're|you are|youre|that's|that is|thats|quite) {_ADVERB_RIGHT}"
        rf"(?:right|correct){_NOT_PLACE}",
        AGREE,
        1.0,
        words=("right", "correct"),
    ),
    _cue(
        r"^this\b(?=\s*(?:[.!^]|$|so much\b|exactly\b|100%|1000%|right here\b))",
        AGREE,
        0.8,
        words=("this",),
    ),
    _cue(r"(?<![\w+])\+1(?!\d)", AGREE, 0.9, words=("+1",)),
    _cue(
        r"^(?:yes|yeah|yep|yup|yea|aye)\b(?!\?)",
        AGREE,
        0.6,
        words=("yes", "yeah", "yep", "yup", "yea", "aye"),
    ),
    _cue(
        r"\b(?:same here|me too|likewise)\b", AGREE, 0.6, words=("same here", "me too", "likewise")
    ),
    _cue(r"\bmakes? (?:a lot of |perfect |total |complete )?sense\b", AGREE, 0.5, words=("sense",)),
    _cue(
        r"^(?:(?:that's|that is|thats|what|such|sounds like|seems like) )?(?:a )?"
        r"(?:good|great|brilliant|excellent) (?:idea|call)\b|"
        r"(?<=\bnot )(?:a )?(?:good|great|brilliant|excellent) (?:idea|call)\b",
        AGREE,
        0.7,
        words=("idea", "call"),
    ),
    _cue(r"\bi second (?:this|that|it)\b|\bseconded\b", AGREE, 0.8, words=("second",)),
    _cue(r"\b(?:you've|you have|you) (?:\w+ )?convinced me\b", AGREE, 0.8, words=("convinced",)),
    _cue(
        r"\bi stand corrected\b|\bi was wrong\b|\bmy (?:mistake|bad)\b",
        AGREE,
        0.8,
        words=("corrected", "wrong", "my mistake", "my bad"),
    ),
    _cue(r"\byou (?:may|might|could) (?:well )?be right\b", AGREE, 0.7, words=("right",)),
    _cue(
        rf"^(?:yes,? )?i think so{_END}|^i (?:believe|guess) so{_END}",
        AGREE,
        0.6,
        words=("think so", "believe so", "guess so"),
    ),
    _cue(r"\b(?:changed|change|changes) my mind\b", AGREE, 0.8, words=("my mind",)),
    _cue(
        r"\b(?:that's|that is|thats|this is) exactly (?:what|how|why)\b",
        AGREE,
        0.8,
        words=("exactly",),
    ),
    _cue(
        r"\b(?:i'm|i am|im) (?:completely |totally |fully |100% |right )?with you\b|"
        r"^(?:completely |totally |fully |100% |right )?with you\b",
        AGREE,
        0.8,
        words=("with you",),
    ),
    # disagreement
    _cue(
        r"^(?:(?:that's|that is|thats|what|such|sounds like|seems like) )?(?:a )?"
        r"(?:bad|terrible|awful|poor|silly) idea\b|"
        r"(?<=\bnot )(?:a )?(?:bad|terrible|awful|poor|silly) idea\b",
        DISAGREE,
        0.7,
        words=("idea",),
    ),
    _cue(rf"\bi {_ADV}disagree\b|\bdisagreed?\b", DISAGREE, 1.0, words=("disagree",)),
    _cue(
        rf"\bi (?:do{_NT}|dont|can{_NT}|cant|cannot) {_ADV}agree\b", DISAGREE, 1.0, words=("agree",)
    ),
    _cue(r"\bi beg to differ\b", DISAGREE, 1.0, words=("differ",)),
    _cue(
        r"\babsolutely not\b|\bno way\b|\bof course not\b|\bnot at all\b",
        DISAGREE,
        0.8,
        words=("absolutely not", "no way", "of course not", "not at all"),
    ),
    _cue(
        r"\b(?:(?:you're|you are|youre|you were|that's|that is|thats|this is|it's|it is|its|"
        r"is|are|was|were|completely|totally|simply|just|dead|plain|so|quite|very|all|that|this|"
        r"flat|flat out|clearly) )+wrong\b|^wrong\b|\bwrong (?:about|on|again)\b",
        DISAGREE,
        0.9,
        words=("wrong",),
    ),
    _cue(
        r"\b(?:incorrect|mistaken|untrue)\b",
        DISAGREE,
        0.9,
        words=("incorrect", "mistaken", "untrue"),
    ),
    _cue(r"\b(?:that's|that is|thats|it's|it is) false\b", DISAGREE, 0.9, words=("false",)),
    _cue(
        r"^(?:well,? )?not (?:really|quite|exactly)\b|\bnot (?:really|quite|exactly) "
        r"(?:true|right|correct|accurate|fair|how|what)\b",
        DISAGREE,
        0.8,
        words=("not really", "not quite", "not exactly"),
    ),
    _cue(r"^(?:no|nope|nah)\b(?=\s*(?:[,.!;:—–-]|$))", DISAGREE, 0.8, words=("no", "nope", "nah")),
    _cue(r"^(?:nope|nah)\b", DISAGREE, 0.8, words=("nope", "nah")),
    _cue(
        r"^(?:\w+,? )?no,? (?:you|it|that|they|he|she) (?:don't|didn't|aren't|are not|can't|"
        r"won't|haven't|isn't|is not|doesn't|wasn't|do not|does not)\b",
        DISAGREE,
        0.8,
        words=("no",),
    ),
    _cue(
        r"^(?:nonsense|rubbish|bollocks|bullshit|absurd|ridiculous|hogwash|bs)\b|"
        r"\b(?:that's|that is|thats|this is|what|utter|complete|total|pure|such|it's|it is) "
        r"(?:\w+ )?(?:nonsense|rubbish|bollocks|bullshit|absurd|ridiculous|hogwash)\b",
        DISAGREE,
        0.8,
        words=(
            "nonsense",
            "rubbish",
            "bollocks",
            "bullshit",
            "absurd",
            "ridiculous",
            "hogwash",
            "bs",
        ),
    ),
    _cue(
        r"\b(?:(?:that's|that is|thats|it's|it is|its|this is|that|it) )?not true\b|"
        r"\b(?:isn't|is not|isnt) true\b",
        DISAGREE,
        1.0,
        words=("true",),
    ),
    _cue(
        r"\b(?:not|isn't|aren't|is not|are not|wasn't|isnt|arent) (?:really |strictly |even )?"
        r"(?:necessary|needed)\b|\bunnecessary\b|\bno need\b",
        DISAGREE,
        0.7,
        words=("necessary", "needed", "no need"),
    ),
    _cue(
        rf"\b(?:you|we|they|one|i) (?:do{_NT}|dont) (?:really |even )?need\b|"
        r"\b(?:nobody|no one|no-one) needs\b",
        DISAGREE,
        0.7,
        words=("need",),
    ),
    _cue(
        r"\b(?:skeptical|sceptical|skeptic|sceptic|unconvinced)\b|\bnot convinced\b",
        DISAGREE,
        0.7,
        words=("skeptic", "sceptic", "unconvinced", "not convinced"),
    ),
    _cue(
        r"\bon the contrary\b|\bquite the opposite\b|\bthe opposite is true\b",
        DISAGREE,
        0.9,
        words=("contrary", "opposite"),
    ),
    _cue(
        r"\bmisleading\b|\bthat's a stretch\b|\bthat is a stretch\b",
        DISAGREE,
        0.7,
        words=("misleading", "stretch"),
    ),
    _cue(
        r"\b(?:a )?false (?:choice|dichotomy|equivalence)\b|\bstraw ?man\b",
        DISAGREE,
        0.8,
        words=("false", "straw"),
    ),
    _cue(r"\b(?:missing|missed|miss) the point\b", DISAGREE, 0.8, words=("the point",)),
    _cue(
        r"\b(?:that's|that is|thats|it's|it is|that seems) (?:a bit |rather |very |so )?unfair\b",
        DISAGREE,
        0.7,
        words=("unfair",),
    ),
    _cue(rf"\bi (?:do{_NT}|dont) buy (?:it|that|this|the)\b", DISAGREE, 0.8, words=("buy",)),
    _cue(r"\bdoes(?:n't| not|nt) follow\b", DISAGREE, 0.7, words=("follow",)),
    # negated framings: disagreement alone, a negation for the cue that follows them
    _cue(
        rf"\bi (?:do{_NT}|dont) (?:think|believe)\b",
        DISAGREE,
        0.6,
        framing=True,
        words=("think", "believe"),
    ),
    _cue(
        r"\bi (?:seriously |really |highly |strongly )?doubt\b|\bdoubtful\b",
        DISAGREE,
        0.8,
        True,
        words=("doubt",),
    ),
    _cue(
        r"\b(?:that's|that is|thats|this is|it's|it is|its) not\b",
        DISAGREE,
        0.5,
        framing=True,
        words=("not",),
    ),
    _cue(
        r"\b(?:that|it|this) (?:isn't|isnt)\b", DISAGREE, 0.5, framing=True, words=("isn't", "isnt")
    ),
    _cue(
        r"\bi (?:wouldn't|wouldnt|would not) (?:say|call)\b",
        DISAGREE,
        0.5,
        framing=True,
        words=("say", "call"),
    ),
    _cue(
        r"\b(?:i'm |i am |im )?not (?:so |too |that )?sure\b",
        DISAGREE,
        0.4,
        framing=True,
        words=("sure",),
    ),
)


_NEGATORS = frozenset(
    (
        "not",
        "no",
        "never",
        "nothing",
        "nobody",
        "neither",
        "nor",
        "hardly",
        "cannot",
        "dont",
        "doesnt",
        "didnt",
        "isnt",
        "wasnt",
        "arent",
        "werent",
        "wont",
        "wouldnt",
        "cant",
        "couldnt",
        "shouldnt",
        "aint",
        "hasnt",
        "havent",
    )
)
_CONTRASTS = (
    r"but|however|though|although|yet|still|that said|even so|nevertheless|nonetheless|"
    r"on the other hand|i still|my worry|the problem|the trouble"
)
"""Contrast connectives (as in the Penn Discourse Treebank) and the openings of an
objection: after a cue of agreement they make it a concession."""
_CONTRAST_RE = re.compile(rf"\b(?:{_CONTRASTS})\b", re.IGNORECASE)
_SAME_SENTENCE_CONTRAST_RE = re.compile(
    r"\b(?:but|however|though|although|i still|that said|even so|nevertheless|nonetheless)\b",
    re.IGNORECASE,
)
_SENTENCE_START_CONTRAST_RE = re.compile(rf"\W*(?:{_CONTRASTS})\b", re.IGNORECASE)
"""Used with .match(text, start): anchored at the sentence start (a "^" would not be)."""
_CONTRARY_RE = re.compile(
    r"(?<![^\W_])(?:not|never|nobody|nothing|neither|nor|cannot|but|however|though|"
    r"although|actually|instead|\w+n't|dont|cant|wont|isnt|arent|wasnt|werent|doesnt|didnt|"
    r"havent|hasnt|hadnt|shouldnt|wouldnt|couldnt|aint|mustnt|neednt)(?![^\W_])",
    re.IGNORECASE,
)
_QUOTED_SPEECH_RE = re.compile(r'"[^"\n]{0,300}"|“[^”\n]{0,300}”')
"""Words in quotation marks are someone else's: "I didn't even have a pump" in a story."""
_FRIENDLY_RE = re.compile(
    r"\b(?:thanks?|thank you|thx|cheers|congrat\w*|welcome|well done|"
    r"ha|hah|haha\w*|lol|lmao|sorry to hear|sorry for your loss|condolences|rip|"
    r"hope (?:this|that|it) helps|good luck)\b",
    re.IGNORECASE,
)
_HEDGE_RE = re.compile(
    r"\b(?:maybe|perhaps|possibly|probably|might|i guess|i suppose|sort of|kind of|somewhat|"
    r"partly|partially|arguably)\b",
    re.IGNORECASE,
)
_CLAUSE_BREAK_RE = re.compile(r"[,;:.!?()\[\]—–]|\bbut\b", re.IGNORECASE)
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'"})


_NEGATOR_RE = re.compile(
    r"(?<![^\W_])(?:" + "|".join(sorted(_NEGATORS)) + r")(?![^\W_])|n['’‘`]t(?![^\W_])",
    re.IGNORECASE,
)
"""Finds a text's negators before it is tokenised (a superset of `_is_negator`'s words)."""


def _for_lowercase(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """The pattern (whose letters are all lowercase) without IGNORECASE, for text already
    lowercased: the same yes-or-no on any text whose letters lowercase one to one
    (IGNORECASE alternations are 2-3 times slower in `re`, and these run on every reply
    of a 100,000-post thread)."""
    return re.compile(pattern.pattern, pattern.flags & ~re.IGNORECASE)


_CONTRARY_LOW = _for_lowercase(_CONTRARY_RE)
_FRIENDLY_LOW = _for_lowercase(_FRIENDLY_RE)
_HEDGE_LOW = _for_lowercase(_HEDGE_RE)
_NEGATOR_LOW = _for_lowercase(_NEGATOR_RE)


_ALNUM_ASCII = bytes(c if chr(c).isalnum() else 32 for c in range(128)) + b" " * 128
"""ASCII letters and digits kept, everything else a space."""


def _anchors(*words: str) -> frozenset[bytes]:
    return frozenset(word.encode("ascii") for word in words)


_FRIENDLY_WORDS = _anchors(
    "thank", "thanks", "thx", "cheers", "welcome", "well", "ha", "hah", "lol", "lmao", "sorry",
    "condolences", "rip", "hope", "good",
)  # fmt: skip
"""A friendly phrase holds one of these as a whole word, or "congrat" or "haha"."""
_HEDGE_WORDS = _anchors(
    "maybe", "perhaps", "possibly", "probably", "might", "guess", "suppose", "sort", "kind",
    "somewhat", "partly", "partially", "arguably",
)  # fmt: skip
"""A hedge holds one of these as a whole word ("guess" of "i guess", "sort" of "sort of")."""
_CONTRARY_WORDS = _anchors(
    "not", "never", "nobody", "nothing", "neither", "nor", "cannot", "but", "however", "though",
    "although", "actually", "instead", "dont", "cant", "wont", "isnt", "arent", "wasnt",
    "werent", "doesnt", "didnt", "havent", "hasnt", "hadnt", "shouldnt", "wouldnt", "couldnt",
    "aint", "mustnt", "neednt",
)  # fmt: skip
"""`_CONTRARY_RE`'s words but "…n't": it finds one exactly where the text has it whole."""
_NEGATOR_WORDS = _anchors(*_NEGATORS)
_NEGATED_VERB = ("n't", "n`t")
"""The "n't" of `_CONTRARY_RE` and `_NEGATOR_RE` in ASCII text (the latter also takes curly
apostrophes, which ASCII text has none of)."""


class _Lowered:
    """A lowercased text and, for ASCII text, the set of its runs of letters and digits,
    made once: a pattern that needs a whole word the text lacks is not searched (each
    search of these alternations takes ~5 µs a reply, and a 100,000-post thread has
    127,000 replies)."""

    __slots__ = ("text", "words")

    def __init__(self, text: str) -> None:
        self.text = text
        self.words: set[bytes] | None = (
            set(text.encode("ascii").translate(_ALNUM_ASCII).split()) if text.isascii() else None
        )

    def friendly(self) -> bool:
        if (
            self.words is not None
            and self.words.isdisjoint(_FRIENDLY_WORDS)
            and "congrat" not in self.text
            and "haha" not in self.text
        ):
            return False
        return _FRIENDLY_LOW.search(self.text) is not None

    def hedged(self) -> bool:
        if self.words is not None and self.words.isdisjoint(_HEDGE_WORDS):
            return False
        return _HEDGE_LOW.search(self.text) is not None

    def contrary(self) -> bool:
        return self._exact(_CONTRARY_WORDS, ("n't",), _CONTRARY_LOW)

    def negated(self) -> bool:
        return self._exact(_NEGATOR_WORDS, _NEGATED_VERB, _NEGATOR_LOW)

    def _exact(
        self, words: frozenset[bytes], verbs: tuple[str, ...], pattern: re.Pattern[str]
    ) -> bool:
        """For patterns of whole words between non-alphanumerics, or a "n't" form: whether
        one of the words is in the text decides, unless the text has a "n't"."""
        if self.words is not None:
            if not self.words.isdisjoint(words):
                return True
            if not any(verb in self.text for verb in verbs):
                return False
        return pattern.search(self.text) is not None


def _is_negator(word: str) -> bool:
    return word in _NEGATORS or word.endswith("n't")


@dataclass(slots=True)
class _Match:
    start: int
    end: int
    cue: _Cue
    sentence: int
    polarity: int = 0
    weight: float = 0.0
    text: str = ""
    consumed: bool = False


def _window(reply: str, sentences: Iterable[str] | None = None) -> list[tuple[int, int]]:
    """(start, end) spans of the first WINDOW_SENTENCES sentences in the normalised reply.

    `sentences`, when given, are the reply's sentences as `split_sentences` gives them line
    by line (the stance digest has split every post already)."""
    spans: list[tuple[int, int]] = []
    cursor = 0
    if sentences is None:
        sentences = (s for line in reply.splitlines() for s in split_sentences(line))
    for sentence in sentences:
        start = reply.find(sentence, cursor)
        if start < 0:
            continue
        spans.append((start, start + len(sentence)))
        cursor = start + len(sentence)
        if len(spans) == WINDOW_SENTENCES:
            break
    return spans


_CUE_WORDS: tuple[tuple[str, tuple[int, ...]], ...] = tuple(
    (word, tuple(i for i, cue in enumerate(_CUES) if word in cue.words))
    for word in sorted({word for cue in _CUES for word in cue.words})
)
"""Every cue word with the cues it opens."""


@lru_cache(maxsize=1)
def _cue_automaton() -> Any:
    """An Aho-Corasick automaton of the cue words (pyahocorasick): one pass over a sentence
    finds every cue word in it, overlapping ones too ("disagree" holds "agree"), where
    testing each of the 95 words as a substring took ~20 µs a sentence."""
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for word, cues in _CUE_WORDS:
        automaton.add_word(word, cues)
    automaton.make_automaton()
    return automaton


def warm_up_agreement() -> None:
    """Build what reading a reply loads on first use: the cue automaton, the stop words
    and the sentence model (before forking a child that reads replies, say)."""
    _cue_automaton()
    _stop_words("english")
    warm_up()


def _cues_in(sentence: str) -> list[tuple[_Cue, re.Match[str]]]:
    """Every match of every cue in one sentence; a cue is searched for only when one of its
    words is in the sentence."""
    low = sentence.lower()
    opened = {i for _, cues in _cue_automaton().iter(low) for i in cues}
    if not opened:
        return []
    found = []
    for index in sorted(opened):
        cue = _CUES[index]
        found.extend((cue, m) for m in cue.pattern.finditer(sentence) if m.end() > m.start())
    return found


def _find_matches(text: str, spans: list[tuple[int, int]]) -> list[_Match]:
    found: list[_Match] = []
    for number, (start, end) in enumerate(spans):
        for cue, m in _cues_in(text[start:end]):
            found.append(_Match(start + m.start(), start + m.end(), cue, number))
    found.sort(key=lambda m: (m.start, -(m.end - m.start)))
    kept: list[_Match] = []
    for match in found:
        if not kept or match.start >= kept[-1].end:
            kept.append(match)
    return kept


def _tokens_between(words: list[tuple[str, int, int]], start: int, end: int) -> list:
    return [w for w in words if w[1] >= start and w[2] <= end]


def _resolve(text: str, matches: list[_Match], spans: list[tuple[int, int]]) -> None:
    """Set polarity, weight and shown text of every match: negation, framings, concessions."""
    if not matches:
        return
    words = word_spans(text)
    for i, match in enumerate(matches):
        match.polarity, match.weight = match.cue.polarity, match.cue.weight
        match.text = text[match.start : match.end]
        if match.cue.framing:
            continue
        previous = matches[i - 1] if i else None
        if (
            previous is not None
            and previous.cue.framing
            and not previous.consumed
            and previous.sentence == match.sentence
            and not _CLAUSE_BREAK_RE.search(text, previous.end, match.start)
            and len(_tokens_between(words, previous.end, match.start)) <= FRAMING_REACH
        ):
            previous.consumed = True
            match.polarity, match.weight = -match.polarity, match.weight * 0.9
            match.text = text[previous.start : match.end]
            continue
        floor = max(previous.end if previous else 0, spans[match.sentence][0])
        before = _tokens_between(words, floor, match.start)[-NEGATION_WINDOW:]
        for word, w_start, _ in before:
            if _is_negator(word) and not _CLAUSE_BREAK_RE.search(text, w_start, match.start):
                match.polarity, match.weight = -match.polarity, match.weight * 0.9
                match.text = text[w_start : match.end]
                break
    # concessions: "True, but ..." / "Good point. However, ..."
    for i, match in enumerate(matches):
        if match.consumed or match.polarity <= 0:
            continue
        s_end = spans[match.sentence][1]
        contrast = _SAME_SENTENCE_CONTRAST_RE.search(text, match.end, s_end)
        if contrast is None and match.sentence + 1 < len(spans):
            n_start, n_end = spans[match.sentence + 1]
            head = _SENTENCE_START_CONTRAST_RE.match(text, n_start, n_end)
            if head is not None:
                contrast = _CONTRAST_RE.search(text, n_start, head.end())
        if contrast is None:
            continue
        match.polarity, match.weight = DISAGREE, 0.5
        match.text = text[match.start : contrast.end()]
        for later in matches[i + 1 :]:
            if later.start >= contrast.start() and later.end <= contrast.end():
                later.consumed = True


def _echo_negation(reply_sentence: str, quoted: str) -> str | None:
    """The added negation ("not cheap") when the reply repeats a quoted claim negated."""
    if not _Lowered(reply_sentence.lower()).negated():  # the common case, without tokenising
        return None
    return _echoed(reply_sentence, quoted)


def _echoed(reply_sentence: str, quoted: str) -> str | None:
    """`_echo_negation` for a sentence known to hold a negator."""
    stop = _stop_words("english")
    reply_words = word_spans(reply_sentence)
    reply_content = {w for w, _, _ in reply_words if w not in stop and not _is_negator(w)}
    if not any(_is_negator(w) for w, _, _ in reply_words):
        return None
    # A quoted sentence counts only when some of its words are among the reply's, so the
    # quote, folded as its words are, holds one of those: when none does, it is not split.
    folded = straighten(quoted).casefold()
    if not any(word in folded for word in reply_content):
        return None
    for sentence in (s for line in quoted.splitlines() for s in split_sentences(line)):
        quoted_words = [normalise_word(w) for w in split_words(sentence)]
        if any(_is_negator(w) for w in quoted_words):
            continue
        content = {w for w in quoted_words if w not in stop}
        if len(content) < 2 or len(content & reply_content) / len(content) < 0.5:
            continue
        for index, (word, start, end) in enumerate(reply_words):
            if _is_negator(word):
                stop_at = reply_words[index + 1][2] if index + 1 < len(reply_words) else end
                return reply_sentence[start:stop_at]
    return None


@lru_cache(maxsize=8)
def _stop_words(language: str) -> frozenset[str]:
    try:
        return frozenset(normalise_word(w) for w in stop_words_for(language))
    except LookupError:
        return frozenset()


def _normalise(text: str) -> str:
    """NFC with straight apostrophes; ASCII text is NFC already (and comes back as itself
    when it has no backtick)."""
    if text.isascii():
        return text.translate(_APOSTROPHES) if "`" in text else text
    return unicodedata.normalize("NFC", text).translate(_APOSTROPHES)


def has_cue(sentence: str) -> bool:
    """Whether a sentence holds any agreement or disagreement phrase: a reaction to someone
    ("Fair enough, I hadn't seen that"), not a statement of one's own position."""
    return bool(_cues_in(_normalise(sentence)))


def classify_reply(
    reply: str, quoted: str | None = None, sentences: Iterable[str] | None = None
) -> Agreement:
    """What the words of `reply` say about what it answers (module docstring: the method).

    `sentences` may give the reply's sentences, split line by line as `split_sentences`
    does, to spare splitting them again (used only where normalising leaves the text as
    it is)."""
    text = _normalise(reply or "")
    spans = _window(text, sentences if sentences is not None and text == reply else None)
    if not spans:
        return Agreement("unclear", None, 0.0)
    window = _Lowered(text[spans[0][0] : spans[-1][1]].lower())
    verdict = _verdict(text, spans, window, quoted)
    friendly = window.friendly()
    contrary = verdict.label == "unclear" and not friendly and window.contrary()
    if contrary or friendly:
        return Agreement(verdict.label, verdict.cue, verdict.score, contrary, friendly)
    return verdict


def _verdict(
    text: str, spans: list[tuple[int, int]], window: _Lowered, quoted: str | None
) -> Agreement:
    matches = _find_matches(text, spans)
    _resolve(text, matches, spans)
    live = [m for m in matches if not m.consumed]
    if live:
        asked = {n for n, (start, end) in enumerate(spans) if text[start:end].rstrip()[-1:] == "?"}
        total = sum(
            m.polarity * m.weight * (QUESTION_FACTOR if m.sentence in asked else 1.0) for m in live
        )
        total = max(-1.0, min(1.0, total))
        if window.hedged():
            total *= HEDGE_FACTOR
        total = round(total, 3)
        if abs(total) < LABEL_THRESHOLD:
            return Agreement("unclear", None, total)
        sign = 1 if total > 0 else -1
        deciding = max((m for m in live if m.polarity == sign), key=lambda m: (m.weight, -m.start))
        return Agreement("agree" if sign > 0 else "disagree", deciding.text, total)
    if quoted:
        first = text[spans[0][0] : spans[0][1]]
        if len(spans) == 1:
            negated = window.negated()
        elif not text[spans[0][1]].isalnum() and not window.negated():
            negated = False  # the first sentence's words are whole words of the window
        else:
            negated = _Lowered(first.lower()).negated()
        echoed = _echoed(first, _normalise(quoted)) if negated else None
        if echoed:
            return Agreement("disagree", echoed, -0.6)
    return Agreement("unclear", None, 0.0)


# --- replies in posts -------------------------------------------------------------------------


def reply_pairs(segments: Sequence[Segment]) -> list[tuple[Segment, str, str]]:
    """(first quote segment, quoted text, reply text) for every quote a post answers.

    The own words that directly follow a quote, up to the next quote, are the reply to it.
    Back-to-back quote segments of the same source are one quote; a quote directly
    followed by another source's quote has no reply of its own. Own words before the
    first quote answer nothing in particular and are left out.
    """
    return [(segments[first], quoted, reply) for first, _, _, quoted, reply in reply_runs(segments)]


def reply_runs(segments: Sequence[Segment]) -> list[tuple[int, int, int, str, str]]:
    """`reply_pairs` with where each lies: (first quote segment, first reply segment, end of
    the reply, quoted text, reply text), the reply being segments[first reply:end]."""
    runs: list[tuple[int, int, int, str, str]] = []
    first = -1  # the current quote's first segment (-1: no quote yet)
    reply = -1  # the first segment after it

    def flush(end: int) -> None:
        if first < 0:
            return
        text = "\n".join(t for s in segments[reply:end] if (t := s.text).strip())
        if text.strip():
            quoted = "\n".join(s.text for s in segments[first:reply])
            runs.append((first, reply, end, quoted, text))

    for k, segment in enumerate(segments):
        if segment.kind != "quote":
            continue
        if first >= 0 and reply == k:  # right after a quote: the same source goes on
            before = segments[k - 1]
            if (before.source_post, before.source_author) == (
                segment.source_post,
                segment.source_author,
            ):
                reply = k + 1
                continue
        flush(k)
        first, reply = k, k + 1
    flush(len(segments))
    return runs
