"""How well a sentence stands on its own, for a reader who skipped the thread.

A summary line is read without its neighbours, so "It's okay.", a list opener that ends in
"would be:", "Cheers,", a signature block or a line that needs the sentence before it to
make sense are poor picks however central their words are. Each sentence gets a factor in
[0, 1] that multiplies its rating: 0 for what is never a point (greetings, sign-offs, rules,
signatures, mail headers, fragments of a word or two), less than 1 for what leans on its
context (opens with "It", "But", "Also", ends with a colon, has no full stop).

Some things are worked out per post or per thread rather than per sentence, in one pass:
- signatures: a sentence its author wrote word for word in two or more posts; whatever
  follows a signature delimiter ("-- ", a rule of underscores); a post's closing run of
  short lines without a full stop (name, title, company, link);
- the author's own name as a line ("Geoff", "- Jim"), which is a sign-off;
- quoted mail: after "-----Original Message-----" or a block of mail headers ("From:"
  followed by "Sent:", "To:" …), the rest of the post is someone else's words that lost
  their quote marks, never the poster's point; a single header line or "On …, X wrote:"
  is left out on its own.

The word lists are English; other languages get the structural rules only (length, marks,
repetition, headers), which need no list.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

from bot.core.text import WORD_RE, normalise_word, split_words, straighten

MIN_WORDS = 4
"""Fewer words than this is never a point of its own ("Yes, agreed.", "It's okay.")."""
SHORT_WORDS = 8
"""Below this many words a sentence is discounted in proportion."""
SIGNATURE_WORDS = 10
"""A post's closing lines shorter than this, without a full stop, are its signature."""
LONG_WORDS = 45
"""Past this many words a sentence is discounted: it eats a short summary's budget."""

_GREETING = frozenset(
    "hi hello hey dear greetings morning afternoon evening all folks everyone".split()
)
_SIGN_OFF = (
    "cheers", "regards", "kind regards", "best regards", "best wishes", "best", "thanks",
    "thank you", "many thanks", "thanks again", "thx", "sincerely", "yours", "ciao", "later",
    "hope this helps", "hth", "just my", "my 2 cents", "my two cents", "rgds", "warm regards",
)  # fmt: skip
_SIGN_OFF_RE = re.compile("|".join(re.escape(phrase) + " " for phrase in _SIGN_OFF))
_THANKS = ("thanks", "thank you", "many thanks", "thx", "ty ")
_LEANS_ON_CONTEXT = frozenset(
    """it its it's this that these those they them their he she his her him
    but and or so also then however although though yet still anyway besides furthermore
    moreover otherwise therefore thus hence instead indeed yes no yeah yep nope ok okay
    agreed right sure exactly same which what's here there such""".split()
)
"""First words that point back at something the reader has not seen."""
_POINTS_BACK_AT_END = frozenset("that this it them those these".split())
"""Last words that do the same ("You don't need a tram to fix that.")."""
_LIST_MARKER_RE = re.compile(r"^(?:\d{1,3}[.)]|[-*•+])\s")
_MAIL_HEADER_RE = re.compile(
    r"^\s*(?:>?\s*)(?:from|sent|to|cc|bcc|subject|date|reply-to|in-reply-to|"
    r"references|message-id|importance)\s*:",
    re.IGNORECASE,
)
_MAIL_FROM_RE = re.compile(r"^\s*>?\s*(?:from|sent|date)\s*:", re.IGNORECASE)
_SIGNATURE_DELIMITER_RE = re.compile(r"^\s*(?:--\s*|-{2,3}|_{10,}|={10,})\s*$")
_BOILERPLATE = (
    "confidential", "intended recipient", "addressee", "disclaimer", "views expressed",
    "virus", "unsubscribe", "mailing list", "e-mail program", "email program",
    "html formatting", "attachment", "sent from my", "get email", "yahoo!", "hotmail",
    "click here", "privileged", "this message", "this e-mail", "this email",
)  # fmt: skip
"""Phrases of mail footers and list notices: never a participant's point."""
_BOILERPLATE_RE = re.compile("|".join(re.escape(p) for p in _BOILERPLATE), re.IGNORECASE)
_BOILERPLATE_WORDS = frozenset(
    [word for phrase in _BOILERPLATE for word in WORD_RE.findall(phrase.split()[0])]
    + ["attachments", "confidentiality", "viruses", "disclaimers", "addressees"]
)
"""A sentence holding none of these words holds none of the phrases (a cheap test first)."""
_QUOTED_MAIL_RE = re.compile(
    r"(?:-{3,}\s*(?:original|forwarded)\s+message\s*-{3,}|_{3,}\s*original message\s*_{3,}|"
    r"^\s*-{2,}\s*begin forwarded)",
    re.IGNORECASE,
)
"""A top-posted reply's old mail starts here: the rest of the post is not the poster's."""
_ATTRIBUTION_RE = re.compile(r"\bwrote:\s*$|^\s*quoting\b.{0,80}:\s*$", re.IGNORECASE)
"""'On Monday, X wrote:' introduces a quote; the line itself is nobody's point."""
NO_END_MARK = 0.4
CAPITALS_SHARE = 0.4
LEANS = 0.55
LOWER_START = 0.4
_CODE_CHARS = "{}[]()<>=;:$\\|_*#@/"
_DROP_CODE_CHARS = str.maketrans("", "", _CODE_CHARS)
_DROP_DIGITS = str.maketrans("", "", "0123456789")
_DROP_CAPITALS = str.maketrans(
    "",
    "",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞ"
    "ĀĂĄĆČĎĐĒĘĚĞİŁŃŇŌŐŒŘŚŞŠŢŤŮŰŸŹŻŽΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩАБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЫЭЮЯ",
)
"""Capital letters of the Latin, Greek and Cyrillic alphabets (translate is C-speed)."""
_CUT_OFF = (":", ",", ";", "-", "–", "—", "(")
CODE_SHARE = 0.06
"""More of these characters than this share of a sentence is code or markup, not prose."""
_LINKISH_RE = re.compile(r"https?://|www\.|mailto:", re.IGNORECASE)
_EMAIL_RE = re.compile(r"[^\s@]+@[^\s@]+\.\w")
_CLOSERS = "\"'”’)]"


def _has_link(text: str) -> bool:
    """A URL or an e-mail address (the regexes run only where they can match)."""
    if ("http" in text or "www." in text or "WWW." in text or "mailto:" in text) and (
        _LINKISH_RE.search(text)
    ):
        return True
    return "@" in text and _EMAIL_RE.search(text) is not None


def _has_end_mark(text: str) -> bool:
    """Ends with . ! ? or …, perhaps followed by closing quotes or brackets."""
    return text.rstrip(_CLOSERS)[-1:] in (".", "!", "?", "…")


class SentenceInfo(NamedTuple):
    """What the standalone check needs of one sentence (a tuple: made 60,000 times for a
    10,000-post thread)."""

    post: int
    author: str | None
    text: str


def standalone_factors(
    sentences: Sequence[SentenceInfo],
    english: bool = True,
    words: Sequence[list[str]] | None = None,
) -> tuple[list[float], list[bool]]:
    """Per sentence: the factor in [0, 1], and whether it lies in quoted mail (the rest of a
    post after an "Original Message" line or a block of mail headers), which is nobody's
    point here. `words`: each sentence's `folded_words`, when the caller has them already.
    (The ranker calls `context_flags` for all and `sentence_factor` only where it must.)"""
    if words is None:
        words = [folded_words(s.text) for s in sentences]
    never, quoted = context_flags(sentences, words)
    factors = [
        0.0 if zero else sentence_factor(s.text, s.author, english, folded)
        for s, folded, zero in zip(sentences, words, never, strict=True)
    ]
    return factors, quoted


def context_flags(
    sentences: Sequence[SentenceInfo], words: Sequence[list[str]]
) -> tuple[list[bool], list[bool]]:
    """What a sentence's context says, per sentence: (never a point, in quoted mail).

    Never a point: old mail, whatever follows a signature delimiter, a post's closing
    signature lines, "X wrote:", a mail header, a line its author wrote in several posts."""
    # a sentence its author wrote in more than one post: a signature or a stock line
    owners: dict[str | None, str] = {}
    first_post: dict[tuple[str, str], int] = {}
    repeated: set[tuple[str, str]] = set()
    for s, folded in zip(sentences, words, strict=True):
        if s.author and len(folded) < 25:
            owner = owners.get(s.author) or owners.setdefault(s.author, s.author.casefold())
            key = (owner, " ".join(folded))
            if first_post.setdefault(key, s.post) != s.post:
                repeated.add(key)
    signature = _signature_tail(sentences)
    never: list[bool] = []
    quoted: list[bool] = []
    post, tail = None, ""  # tail: "" (own words), "quoted" (old mail) or "signature"
    for index, s in enumerate(sentences):
        text = s.text
        if s.post != post:
            post, tail = s.post, ""
        if not tail:
            tail = _tail_starts(sentences, index)
        quoted.append(tail == "quoted")
        never.append(
            bool(tail)
            or index in signature
            or (("wrote" in text or "uoting" in text) and _ATTRIBUTION_RE.search(text) is not None)
            or _is_header(text)
            or bool(
                repeated and s.author and (owners[s.author], " ".join(words[index])) in repeated
            )
        )
    return never, quoted


def _is_header(text: str) -> bool:
    return ":" in text[:24] and _MAIL_HEADER_RE.match(text) is not None


def _tail_starts(sentences: Sequence[SentenceInfo], index: int) -> str:
    """ "quoted" when old mail starts at this sentence, "signature" when a signature
    delimiter does, else ""."""
    text = sentences[index].text
    if ("--" in text or "__" in text) and _QUOTED_MAIL_RE.search(text):
        return "quoted"
    if _is_header(text) and _MAIL_FROM_RE.match(text):
        following = sentences[index + 1 : index + 4]
        if any(f.post == sentences[index].post and _is_header(f.text) for f in following):
            return "quoted"
    if text.lstrip()[:1] in ("-", "_", "=") and _SIGNATURE_DELIMITER_RE.match(text):
        return "signature"
    return ""


def folded_words(text: str) -> list[str]:
    """The sentence's words, case-folded with straight apostrophes (one regex pass)."""
    return WORD_RE.findall(straighten(text).casefold())


def _signature_tail(sentences: Sequence[SentenceInfo]) -> set[int]:
    """Indices of each post's closing run of short lines without a closing mark (a name, a
    title, a company, an address, a link): a signature block, even the first time."""
    tail: set[int] = set()
    index = len(sentences) - 1
    while index >= 0:
        post = sentences[index].post
        in_tail = True
        while index >= 0 and sentences[index].post == post:
            if in_tail and _looks_like_signature_line(sentences[index].text.strip()):
                tail.add(index)
            else:
                in_tail = False
            index -= 1
    return tail


def _looks_like_signature_line(text: str) -> bool:
    words = len(split_words(text))
    if _has_link(text) and words < SIGNATURE_WORDS:
        return True
    return words < SIGNATURE_WORDS and not _has_end_mark(text)


def sentence_factor(
    text: str, author: str | None = None, english: bool = True, folded: list[str] | None = None
) -> float:
    """How well one sentence stands on its own: 0 (never a point) to 1. `folded` is its
    `folded_words`, when the caller has them already."""
    folded = folded_words(text) if folded is None else folded
    count = len(folded)
    if count < MIN_WORDS:
        return 0.0
    stripped = text.strip()
    if stripped.endswith(_CUT_OFF):
        return 0.0  # a list opener or a line cut off: "… would be:"
    size = len(stripped)
    letters = len("".join(folded).translate(_DROP_DIGITS).replace("'", ""))
    if letters < 0.6 * (size - stripped.count(" ")):
        return 0.0  # rules, ASCII art, code, numbers, link lists
    symbols = size - len(stripped.translate(_DROP_CODE_CHARS))
    if symbols > 2 * CODE_SHARE * size:
        return 0.0  # code, markup, formulas
    if author and _is_name_line(folded, author):
        return 0.0
    factor = min(1.0, count / SHORT_WORDS)
    if count > LONG_WORDS:
        factor *= LONG_WORDS / count
    if _has_link(stripped):
        factor *= 0.5
    if symbols > CODE_SHARE * size:
        factor *= 0.3  # some code or markup in prose
    capitals = size - len(stripped.translate(_DROP_CAPITALS))
    if capitals > CAPITALS_SHARE * letters:
        factor *= 0.3  # SHOUTING, protocol lines, constant names
    if _LIST_MARKER_RE.match(stripped):
        factor *= LEANS  # one item of a list: it leans on the list's opening line
    if stripped[0].islower():
        factor *= LOWER_START  # a fragment: the sentence began on a line before
    if not _has_end_mark(stripped):
        factor *= NO_END_MARK  # no closing mark: a heading, a signature line, a fragment
    if english:
        factor *= _english_factor(folded, stripped)
    return factor


def _english_factor(folded: list[str], stripped: str) -> float:
    if not _BOILERPLATE_WORDS.isdisjoint(folded) and _BOILERPLATE_RE.search(stripped):
        return 0.0
    if folded[0] in _GREETING and len(folded) <= 6:
        return 0.0
    lowered = " ".join(folded)
    if lowered in _SIGN_OFF or (len(folded) <= 6 and _SIGN_OFF_RE.match(lowered)):
        return 0.0
    factor = 1.0
    if lowered.startswith(_THANKS):
        factor *= 0.3
    if folded[0] in _LEANS_ON_CONTEXT or folded[-1] in _POINTS_BACK_AT_END:
        factor *= LEANS
    return factor


def _is_name_line(folded: list[str], author: str) -> bool:
    """The line is (part of) the author's name: a sign-off such as "- Jim" or "Blake"."""
    if len(folded) > 4:
        return False
    name = _name_words(author)
    return bool(name) and all(w in name for w in folded)


@lru_cache(maxsize=4096)
def _name_words(author: str) -> frozenset[str]:
    return frozenset(normalise_word(w) for w in split_words(author))
