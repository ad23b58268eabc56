"""Per-author stance digests: who says what, whom they quote, and who agrees with whom.

Agreement is read from replies to quotes with a transparent lexical method, so every label
can be shown with the words that decided it ("don't agree", "good point", "sentiment
+0.62") and a reader can check it. Statistical stance models need training data and hide
their reasons; on forum replies, explicit cues right after the quote are the strongest and
most checkable signal.

How a reply is classified (`classify_reply`):

1. Window: the first `WINDOW_SENTENCES` sentences of the reply. People state agreement or
   disagreement up front, right after the quote; later sentences argue the point, and a
   "wrong" or "however" there often concerns a third party or a side issue.
2. Cues: phrase patterns for agreement ("I agree", "exactly", "good point", "you're right",
   "this", "+1", ...) and disagreement ("I disagree", "wrong", "not really", "No,",
   "nonsense", "not true", "you don't need", "on the contrary", "however", ...). Overlapping
   matches keep the earliest, then longest, phrase.
3. Negation: a cue is flipped when a negator ("not", "never", "no", any "n't" word) stands
   at most `NEGATION_WINDOW` words before it in the same clause ("I don't agree", "not a
   good point"), or when a negated framing ("I don't think", "I doubt", "that's not",
   "I wouldn't say/call", "not sure") opens the clause ("I don't think that's true",
   "I wouldn't call that wrong"). Alone, a framing counts as mild disagreement.
4. Concession: agreement followed in the same sentence (or at the start of the next) by
   "but"/"however"/"though"/"yet" ("True, but ...") is read as mild disagreement.
5. Hedges ("maybe", "perhaps", "I guess", ...) multiply the score by `HEDGE_FACTOR`, which
   can leave a weak cue below `LABEL_THRESHOLD` (then "neither").
6. Only when no cue fires: if the reply repeats the quoted claim with a negation added
   ("Trams are cheap." → "Trams are not cheap."), it disagrees; else VADER's compound
   score decides when it is strong (≥ +0.5 agree, ≤ -0.5 disagree), otherwise "neither".
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from bot.core.keypoints import KeyPointIndex
from bot.core.models import PostLike, QuoteEdge, Segment
from bot.core.summary import own_sentences, stemmer_for, stop_words_for
from bot.core.text import normalise_word, split_sentences, split_words, word_spans
from bot.errors import UserError

if TYPE_CHECKING:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

Label = Literal["agree", "disagree", "neither"]
Polarity = Literal["positive", "negative", "neutral"]

WINDOW_SENTENCES = 2
NEGATION_WINDOW = 3
FRAMING_REACH = 4
"""A negated framing scopes over a cue at most this many words further on."""
HEDGE_FACTOR = 0.6
LABEL_THRESHOLD = 0.3
SENTIMENT_THRESHOLD = 0.5
TOPIC_POLARITY_THRESHOLD = 0.05
"""VADER's own recommended cut-offs for positive / negative sentences."""
EXCERPT_CHARS = 200


@dataclass(frozen=True, slots=True)
class Agreement:
    label: Label
    cue: str | None
    """The deciding words as they appear in the reply, or "sentiment +0.62"."""
    score: float
    """Signed strength in [-1, 1]: > 0 leans agree, < 0 leans disagree."""


@dataclass(frozen=True, slots=True)
class KeyPoint:
    post: int
    text: str
    url: str | None


@dataclass(frozen=True, slots=True)
class Reply:
    from_post: int
    to_post: int | None
    to_author: str | None
    """The participant label replied to (author, or "post N" when the source has no names)."""
    label: Label
    cue: str | None
    quoted_text_excerpt: str
    reply_excerpt: str


@dataclass(frozen=True, slots=True)
class TopicSentence:
    post: int
    text: str
    polarity: Polarity
    compound: float


@dataclass(frozen=True, slots=True)
class Participant:
    author: str
    """Author name, or "post N" in per-post mode / for a post without a name."""
    posts: tuple[int, ...]
    words: int
    """Own words only: quoted text is the quoted person's."""
    key_points: tuple[KeyPoint, ...]
    quotes: tuple[tuple[str, int], ...]
    """Whom they quote and how often, most quoted first."""
    quoted_by: tuple[tuple[str, int], ...]
    replies: tuple[Reply, ...]
    agrees_with: tuple[str, ...]
    disagrees_with: tuple[str, ...]
    topic_sentences: tuple[TopicSentence, ...] = ()


@dataclass(frozen=True, slots=True)
class StanceReport:
    participants: tuple[Participant, ...]
    per_post: bool
    """True when the source has no author names: each post is its own participant."""
    groups: tuple[tuple[str, ...], ...]
    """Participants linked by agreeing replies (connected components of 2 or more)."""
    note: str | None = None
    topic: str | None = None


# --- cues -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Cue:
    pattern: re.Pattern[str]
    polarity: int  # +1 agree, -1 disagree
    weight: float
    framing: bool = False  # a negated framing that can scope over the next cue


def _cue(regex: str, polarity: int, weight: float, framing: bool = False) -> _Cue:
    return _Cue(re.compile(regex, re.IGNORECASE), polarity, weight, framing)


_NT = r"(?:n't|nt| not)"  # "don't", "dont", "do not" after the auxiliary's stem
_ADV = r"(?:(?:completely|totally|fully|entirely|strongly|absolutely|really|wholeheartedly|mostly|do|have to|must|respectfully|kind of|sort of) )?"  # noqa: E501

AGREE, DISAGREE = 1, -1
_CUES: tuple[_Cue, ...] = (
    # agreement
    _cue(rf"\bi {_ADV}agree\b(?: with (?:you|this|that|all of this|everything))?", AGREE, 1.0),
    _cue(r"\bagreed?\b", AGREE, 0.9),
    _cue(r"\bi (?:could|can)(?:n't|nt| not) agree more\b", AGREE, 1.0),
    _cue(r"\b(?:can't|cannot|can not) argue with (?:that|this|you)\b", AGREE, 0.9),
    _cue(r"\b(?:exactly|precisely)\b", AGREE, 0.9),
    _cue(r"\b(?:very |really |a )?(?:good|great|fair|excellent|valid|strong) point\b", AGREE, 0.9),
    _cue(r"\bfair enough\b", AGREE, 0.7),
    _cue(r"\bwell (?:said|put)\b", AGREE, 0.9),
    _cue(r"\bspot on\b", AGREE, 0.9),
    _cue(r"\babsolutely\b", AGREE, 0.7),
    _cue(r"\bindeed\b", AGREE, 0.7),
    _cue(r"\b(?:that's |that is |it's |it is |so |very |quite |all )?true\b", AGREE, 0.7),
    _cue(
        r"\b(?:you're|you are|youre|that's|that is|thats|quite) (?:absolutely |totally |quite )?"
        r"(?:right|correct)\b",
        AGREE,
        1.0,
    ),
    _cue(r"^this\b(?=\s*(?:[.!^]|$|so much\b|exactly\b|100%|1000%|right here\b))", AGREE, 0.8),
    _cue(r"(?<![\w+])\+1(?!\d)", AGREE, 0.9),
    _cue(r"^(?:yes|yeah|yep|yup|yea)\b", AGREE, 0.6),
    _cue(r"\b(?:same here|me too|likewise)\b", AGREE, 0.6),
    _cue(r"\bmakes? (?:a lot of |perfect |total |complete )?sense\b", AGREE, 0.6),
    _cue(r"\b(?:good|great) idea\b", AGREE, 0.7),
    _cue(r"\bi second (?:this|that|it)\b|\bseconded\b", AGREE, 0.8),
    _cue(r"\bconvinced\b", AGREE, 0.6),
    _cue(r"\bi stand corrected\b", AGREE, 0.9),
    _cue(r"\byou (?:may|might|could) (?:well )?be right\b", AGREE, 0.7),
    _cue(r"\bno doubt\b", AGREE, 0.6),
    # disagreement
    _cue(r"\b(?:a )?(?:bad|terrible|awful|poor|silly) idea\b", DISAGREE, 0.7),
    _cue(rf"\bi {_ADV}disagree\b|\bdisagreed?\b", DISAGREE, 1.0),
    _cue(r"\bi beg to differ\b", DISAGREE, 1.0),
    _cue(r"\babsolutely not\b|\bno way\b|\bof course not\b|\bnot at all\b", DISAGREE, 0.8),
    _cue(
        r"\b(?:(?:you're|you are|youre|that's|that is|thats|this is|completely|totally|simply|"
        r"just|dead|plain|so) )*wrong\b",
        DISAGREE,
        0.9,
    ),
    _cue(r"\b(?:incorrect|mistaken|untrue)\b", DISAGREE, 0.9),
    _cue(r"\b(?:that's|that is|thats|it's|it is) false\b", DISAGREE, 0.9),
    _cue(r"\bnot (?:really|quite)\b", DISAGREE, 0.8),
    _cue(r"^(?:no|nope|nah)\b(?=\s*(?:[,.!;:—–-]|$))", DISAGREE, 0.8),
    _cue(r"^(?:nope|nah)\b", DISAGREE, 0.8),
    _cue(r"\b(?:nonsense|rubbish|bollocks|bullshit|absurd|ridiculous|hogwash)\b", DISAGREE, 0.8),
    _cue(r"\bnot true\b|\b(?:isn't|is not|isnt) true\b", DISAGREE, 1.0),
    _cue(
        r"\b(?:not|isn't|aren't|is not|are not|wasn't|isnt|arent) (?:really |strictly |even )?"
        r"(?:necessary|needed)\b|\bunnecessary\b|\bno need\b",
        DISAGREE,
        0.8,
    ),
    _cue(
        rf"\b(?:you|we|they|one|i) (?:do{_NT}|dont) (?:really |even )?need\b|"
        r"\b(?:nobody|no one|no-one) needs\b",
        DISAGREE,
        0.8,
    ),
    _cue(r"\b(?:skeptical|sceptical|skeptic|sceptic|unconvinced)\b", DISAGREE, 0.7),
    _cue(r"\bon the contrary\b|\bquite the opposite\b|\bthe opposite is true\b", DISAGREE, 0.9),
    _cue(r"\bhowever\b", DISAGREE, 0.5),
    _cue(r"\bmisleading\b|\bthat's a stretch\b|\bthat is a stretch\b", DISAGREE, 0.7),
    _cue(rf"\bi (?:do{_NT}|dont) buy (?:it|that|this|the)\b", DISAGREE, 0.8),
    _cue(r"\bdoes(?:n't| not|nt) follow\b", DISAGREE, 0.7),
    # negated framings: disagreement alone, a negation for the cue that follows them
    _cue(rf"\bi (?:do{_NT}|dont) (?:think|believe)\b", DISAGREE, 0.7, framing=True),
    _cue(r"\bi (?:seriously |really |highly |strongly )?doubt\b|\bdoubtful\b", DISAGREE, 0.8, True),
    _cue(r"\b(?:that's|that is|thats|this is|it's|it is|its) not\b", DISAGREE, 0.6, framing=True),
    _cue(r"\b(?:that|it|this) (?:isn't|isnt)\b", DISAGREE, 0.6, framing=True),
    _cue(r"\bi (?:wouldn't|wouldnt|would not) (?:say|call)\b", DISAGREE, 0.5, framing=True),
    _cue(r"\b(?:i'm |i am |im )?not (?:so |too |that )?sure\b", DISAGREE, 0.4, framing=True),
)


def _branches(pattern: str) -> list[str]:
    """The top-level alternatives of a regex (`a|(b|c)` → `a`, `(b|c)`)."""
    branches, depth, start, index, in_class = [], 0, 0, 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern[index + 1 : index + 2] == "]":  # "[]...]": a literal "]" first
                index += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            branches.append(pattern[start:index])
            start = index + 1
        index += 1
    return [*branches, pattern[start:]]


def _any_cue_pattern(cues: Sequence[_Cue]) -> re.Pattern[str]:
    """One pattern that matches wherever some cue matches (a sentence it misses has no cue).

    Running 51 patterns over every reply sentence was a third of a 10,000-post digest.
    Branches that start with a word boundary share it, so it is tested once per position
    instead of once per branch: about 5× cheaper than the cues it screens for.
    """
    bounded: list[str] = []
    others: list[str] = []
    for cue in cues:
        for branch in _branches(cue.pattern.pattern):
            if branch.startswith(r"\b"):
                bounded.append(branch[2:])
            else:
                others.append(branch)
    parts = [r"\b(?:" + "|".join(f"(?:{p})" for p in bounded) + ")"] if bounded else []
    parts += [f"(?:{p})" for p in others]
    return re.compile("|".join(parts), re.IGNORECASE)


_ANY_CUE_RE = _any_cue_pattern(_CUES)

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
_CONTRAST_RE = re.compile(r"\b(?:but|however|though|although|yet)\b", re.IGNORECASE)
_SAME_SENTENCE_CONTRAST_RE = re.compile(r"\b(?:but|however|though|although)\b", re.IGNORECASE)
_SENTENCE_START_CONTRAST_RE = re.compile(r"^\W*(?:but|however|though|yet)\b", re.IGNORECASE)
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


def _window(reply: str) -> list[tuple[int, int]]:
    """(start, end) spans of the first WINDOW_SENTENCES sentences in the normalised reply."""
    spans: list[tuple[int, int]] = []
    cursor = 0
    for sentence in (s for line in reply.splitlines() for s in split_sentences(line)):
        start = reply.find(sentence, cursor)
        if start < 0:
            continue
        spans.append((start, start + len(sentence)))
        cursor = start + len(sentence)
        if len(spans) == WINDOW_SENTENCES:
            break
    return spans


def _find_matches(text: str, spans: list[tuple[int, int]]) -> list[_Match]:
    found: list[_Match] = []
    for number, (start, end) in enumerate(spans):
        sentence = text[start:end]
        if _ANY_CUE_RE.search(sentence) is None:
            continue
        for cue in _CUES:
            for m in cue.pattern.finditer(sentence):
                if m.end() > m.start():
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
    if _NEGATOR_RE.search(reply_sentence) is None:  # the common case, without tokenising
        return None
    stop = _stop_words("english")
    reply_words = word_spans(reply_sentence)
    reply_content = {w for w, _, _ in reply_words if w not in stop and not _is_negator(w)}
    if not any(_is_negator(w) for w, _, _ in reply_words):
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


@lru_cache(maxsize=1)
def _analyser() -> SentimentIntensityAnalyzer:
    """VADER, built once on first use (reads its bundled lexicon, ~20 ms)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment(text: str) -> float:
    """VADER compound score in [-1, 1]."""
    return float(_analyser().polarity_scores(text)["compound"])


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFC", text).translate(_APOSTROPHES)


def classify_reply(reply: str, quoted: str | None = None) -> Agreement:
    """Does `reply` agree with what it quotes? See the module docstring for the method."""
    text = _normalise(reply or "")
    spans = _window(text)
    if not spans:
        return Agreement("neither", None, 0.0)
    matches = _find_matches(text, spans)
    _resolve(text, matches, spans)
    live = [m for m in matches if not m.consumed]
    window_text = text[spans[0][0] : spans[-1][1]]
    if live:
        total = max(-1.0, min(1.0, sum(m.polarity * m.weight for m in live)))
        if _HEDGE_RE.search(window_text):
            total *= HEDGE_FACTOR
        total = round(total, 3)
        if abs(total) < LABEL_THRESHOLD:
            return Agreement("neither", None, total)
        sign = 1 if total > 0 else -1
        deciding = max((m for m in live if m.polarity == sign), key=lambda m: (m.weight, -m.start))
        return Agreement("agree" if sign > 0 else "disagree", deciding.text, total)
    if quoted:
        first = text[spans[0][0] : spans[0][1]]
        echoed = _echo_negation(first, _normalise(quoted))
        if echoed:
            return Agreement("disagree", echoed, -0.6)
    compound = round(sentiment(window_text), 3)
    if compound >= SENTIMENT_THRESHOLD:
        return Agreement("agree", f"sentiment {compound:+.2f}", compound)
    if compound <= -SENTIMENT_THRESHOLD:
        return Agreement("disagree", f"sentiment {compound:+.2f}", compound)
    return Agreement("neither", None, compound)


# --- replies in posts -------------------------------------------------------------------------


def reply_pairs(segments: Sequence[Segment]) -> list[tuple[Segment, str, str]]:
    """(first quote segment, quoted text, reply text) for every quote a post answers.

    The own words that directly follow a quote, up to the next quote, are the reply to it.
    Back-to-back quote segments of the same source are one quote; a quote directly
    followed by another source's quote has no reply of its own. Own words before the
    first quote answer nothing in particular and are left out.
    """
    pairs: list[tuple[Segment, str, str]] = []
    quote: list[Segment] = []
    reply: list[str] = []

    def flush() -> None:
        text = "\n".join(t for t in reply if t.strip())
        if quote and text.strip():
            pairs.append((quote[0], "\n".join(s.text for s in quote), text))

    for segment in segments:
        if segment.kind == "quote":
            same_source = (
                quote
                and not reply
                and (quote[-1].source_post, quote[-1].source_author)
                == (segment.source_post, segment.source_author)
            )
            if same_source:
                quote.append(segment)
                continue
            flush()
            quote, reply = [segment], []
        elif quote:
            reply.append(segment.text)
    flush()
    return pairs


def _excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


# --- key points, topics ------------------------------------------------------------------------


def topic_pattern(topic: str) -> re.Pattern[str]:
    """Whole-word, case-insensitive match of `topic`, allowing simple plural / possessive forms.

    "tram" matches "Tram", "trams", "tram's", "trams'"; "Lenin's" matches "Lenin".
    """
    words = [normalise_word(w) for w in split_words(_normalise(topic))]
    if not words:
        raise UserError("The topic has no words in it.")
    last = words[-1]
    if last.endswith("'s"):
        last = last[:-2]
    bases = {last}
    if last.endswith("es") and len(last) > 4:
        bases.add(last[:-2])
    if last.endswith("s") and len(last) > 3:
        bases.add(last[:-1])
    stems = "|".join(re.escape(b) for b in sorted(bases, key=len, reverse=True))
    head = r"\s+".join(re.escape(w) for w in words[:-1])
    body = (head + r"\s+" if head else "") + rf"(?:{stems})(?:'s|s'|es|s|')?"
    return re.compile(rf"(?<![^\W_]){body}(?![^\W_])", re.IGNORECASE)


def _polarity(compound: float) -> Polarity:
    if compound >= TOPIC_POLARITY_THRESHOLD:
        return "positive"
    if compound <= -TOPIC_POLARITY_THRESHOLD:
        return "negative"
    return "neutral"


# --- the digest -------------------------------------------------------------------------------


def _count_pairs(counter: Counter[str], order: dict[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(
        sorted(counter.items(), key=lambda item: (-item[1], order.get(item[0], 1 << 30), item[0]))
    )


def _components(names: Sequence[str], links: Iterable[tuple[str, str]]) -> list[list[str]]:
    parent = {name: name for name in names}

    def find(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for a, b in links:
        if a in parent and b in parent:
            parent[find(a)] = find(b)
    groups: dict[str, list[str]] = defaultdict(list)
    for name in names:
        groups[find(name)].append(name)
    return [g for g in groups.values() if len(g) > 1]


def stance_digest(
    posts: Sequence[PostLike],
    edges: Iterable[QuoteEdge],
    author: str | None = None,
    topic: str | None = None,
    key_points: int = 3,
    language: str = "english",
) -> StanceReport:
    """Per-participant digest: posts, own words, key points, quotes and agreement.

    Participants are authors (matched case-insensitively, shown as first written). When
    the source has no author names at all, each post is its own participant "post N"
    (`per_post`), since inventing people would be wrong; posts without a name in an
    otherwise named thread also stand alone as "post N". `author` keeps only that
    participant (relations are still computed over the whole thread). Pure, synchronous.
    """
    if not posts:
        raise UserError("This thread has no posts.")
    if key_points < 0:
        raise UserError("key points must be 0 or more.")
    posts = sorted(posts, key=lambda p: p.number)
    per_post = not any(p.author for p in posts)
    display: dict[str, str] = {}
    for post in posts:
        if post.author:
            display.setdefault(post.author.casefold(), post.author)

    def label_of(post: PostLike) -> str:
        return display[post.author.casefold()] if post.author else f"post {post.number}"

    by_number = {p.number: p for p in posts}
    labels = {p.number: label_of(p) for p in posts}
    order: dict[str, int] = {}
    for post in posts:
        order.setdefault(labels[post.number], post.number)
    names = sorted(order, key=order.__getitem__)

    wanted: str | None = None
    if author is not None:
        key = author.strip().lstrip("@").casefold()
        lookup = {name.casefold(): name for name in names}
        if per_post and key.isdigit():
            key = f"post {key}"
        wanted = lookup.get(key)
        if wanted is None:
            known = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
            raise UserError(f"No participant called {author!r} in this thread. Known: {known}.")

    matcher = topic_pattern(topic) if topic and topic.strip() else None
    stop = _stop_words(language)
    stem = stemmer_for(language)

    # Key points: every own sentence of the thread, scored once (bot/core/keypoints.py).
    owner_of = {name: owner for owner, name in enumerate(names)}
    key_sentences = KeyPointIndex(stop, stem)
    sentences: list[tuple[int, str, str | None]] = []
    sentences_of: dict[str, list[int]] = defaultdict(list)
    own_words: Counter[str] = Counter()
    for post in posts:
        label = labels[post.number]
        for _, text in own_sentences(post):
            sentences_of[label].append(len(sentences))
            sentences.append((post.number, text, post.url))
            own_words[label] += key_sentences.add(owner_of[label], text)

    quotes: dict[str, Counter[str]] = defaultdict(Counter)
    quoted_by: dict[str, Counter[str]] = defaultdict(Counter)
    for edge in edges:
        if edge.from_post not in labels or edge.to_post not in labels:
            continue
        source, target = labels[edge.from_post], labels[edge.to_post]
        if source == target:
            continue
        quotes[source][target] += edge.count
        quoted_by[target][source] += edge.count

    replies: dict[str, list[Reply]] = defaultdict(list)
    votes: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    name_lookup = {name.casefold(): name for name in names}
    for post in posts:
        speaker = labels[post.number]
        for segment, quoted, reply_text in reply_pairs(post.segments):
            target_post = segment.source_post if segment.source_post in by_number else None
            if target_post is not None:
                target: str | None = labels[target_post]
            elif segment.source_author:
                target = name_lookup.get(segment.source_author.casefold(), segment.source_author)
            else:
                target = None
            verdict = classify_reply(reply_text, quoted)
            replies[speaker].append(
                Reply(
                    from_post=post.number,
                    to_post=segment.source_post,
                    to_author=target,
                    label=verdict.label,
                    cue=verdict.cue,
                    quoted_text_excerpt=_excerpt(quoted),
                    reply_excerpt=_excerpt(reply_text),
                )
            )
            if target is not None and target != speaker and verdict.label != "neither":
                votes[(speaker, target)][verdict.label] += 1

    agrees: dict[str, list[str]] = defaultdict(list)
    disagrees: dict[str, list[str]] = defaultdict(list)
    agree_links: list[tuple[str, str]] = []
    for (speaker, target), tally in sorted(
        votes.items(), key=lambda item: (order.get(item[0][0], 0), order.get(item[0][1], 1 << 30))
    ):
        if tally["agree"] >= tally["disagree"] and tally["agree"]:
            agrees[speaker].append(target)
            agree_links.append((speaker, target))
        if tally["disagree"] >= tally["agree"] and tally["disagree"]:
            disagrees[speaker].append(target)

    participants: list[Participant] = []
    posts_of: dict[str, list[int]] = defaultdict(list)
    for post in posts:  # once, not once per participant: 10,000 posts without names are
        posts_of[labels[post.number]].append(post.number)  # 10,000 participants
    for name in names:
        if wanted is not None and name != wanted:
            continue
        own_posts = tuple(posts_of[name])
        topic_sentences: tuple[TopicSentence, ...] = ()
        if matcher is not None:
            found = []
            for number, text, _ in (sentences[i] for i in sentences_of[name]):
                if matcher.search(_normalise(text)):
                    compound = round(sentiment(text), 3)
                    found.append(TopicSentence(number, text, _polarity(compound), compound))
            topic_sentences = tuple(found)
        participants.append(
            Participant(
                author=name,
                posts=own_posts,
                words=own_words[name],
                key_points=tuple(
                    KeyPoint(*sentences[i]) for i in key_sentences.best(owner_of[name], key_points)
                ),
                quotes=_count_pairs(quotes[name], order),
                quoted_by=_count_pairs(quoted_by[name], order),
                replies=tuple(replies[name]),
                agrees_with=tuple(agrees[name]),
                disagrees_with=tuple(disagrees[name]),
                topic_sentences=topic_sentences,
            )
        )

    groups = tuple(
        tuple(group)
        for group in sorted(_components(names, agree_links), key=lambda g: (-len(g), order[g[0]]))
    )
    notes: list[str] = []
    if per_post:
        notes.append(
            "This thread has no author names, so each post is its own participant "
            "(“post N”); agreement is between posts, not people."
        )
    else:
        unnamed = sum(1 for p in posts if not p.author)
        if unnamed:
            notes.append(
                f"{unnamed} post{'s have' if unnamed != 1 else ' has'} no author name and "
                "stand(s) alone as “post N”."
            )
    return StanceReport(
        participants=tuple(participants),
        per_post=per_post,
        groups=groups,
        note=" ".join(notes) or None,
        topic=topic.strip() if topic and topic.strip() else None,
    )
