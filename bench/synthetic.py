"""Realistic long synthetic threads with planted quotes and known answers.

Own words come from a seeded word model (invented syllable words with a Zipf-like
frequency, plus a few hundred real function words), so shingles collide about as often
as in real prose. Quotes are planted as whole paragraphs, fragments, edited copies,
multi-quote posts and quotes of quotes; `expected_edges` is the answer the inference
must give. Used by the tests (2,000 posts) and by bench/ (up to 10,000+).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bot.core.models import Block, PostDoc, ThreadDoc

_FUNCTION_WORDS = [
    "the",
    "a",
    "an",
    "of",
    "to",
    "in",
    "and",
    "or",
    "but",
    "if",
    "then",
    "so",
    "that",
    "this",
    "it",
    "is",
    "was",
    "be",
    "are",
    "were",
    "not",
    "no",
    "i",
    "you",
    "he",
    "she",
    "we",
    "they",
    "my",
    "your",
    "his",
    "her",
    "our",
    "their",
    "think",
    "know",
    "see",
    "say",
    "would",
    "could",
    "should",
    "will",
    "can",
    "may",
    "might",
    "must",
    "do",
    "does",
    "did",
    "have",
    "has",
    "had",
    "with",
    "for",
    "on",
    "at",
    "by",
    "from",
    "as",
    "about",
    "into",
    "over",
    "after",
    "before",
    "because",
    "while",
    "though",
    "also",
    "just",
    "only",
    "very",
    "much",
]
_SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "re",
    "sa",
    "tu",
    "ven",
    "dor",
    "pel",
    "qui",
    "zan",
    "bro",
    "gal",
    "fen",
    "tis",
    "mur",
    "ost",
    "lin",
    "vek",
]


@dataclass(frozen=True)
class SyntheticThread:
    doc: ThreadDoc
    expected_edges: frozenset[tuple[int, int]]
    """(quoting post, post whose own words are quoted), 1-based."""


class _WordModel:
    def __init__(self, rng: random.Random, vocabulary: int = 6000) -> None:
        words: set[str] = set()
        while len(words) < vocabulary:
            words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))))
        self.content = sorted(words)
        total = 0.0
        self.cum_weights: list[float] = []
        for rank in range(len(self.content)):
            total += 1.0 / (rank + 10)
            self.cum_weights.append(total)
        self.rng = rng

    def sentence(self) -> str:
        n = self.rng.randint(7, 22)
        content = self.rng.choices(self.content, cum_weights=self.cum_weights, k=n)
        out = [
            self.rng.choice(_FUNCTION_WORDS) if self.rng.random() < 0.4 else content[i]
            for i in range(n)
        ]
        out[0] = out[0].capitalize()
        return " ".join(out) + self.rng.choice(".....?!")

    def paragraph(self) -> str:
        return " ".join(self.sentence() for _ in range(self.rng.randint(1, 4)))


def _quotable(paragraphs: list[str], rng: random.Random) -> str | None:
    """People quote what has substance: paragraphs of 14+ words (a shorter one is mostly
    function words here, which the inference rightly treats as a common phrase)."""
    long_enough = [p for p in paragraphs if len(p.split()) >= 14]
    return rng.choice(long_enough) if long_enough else None


def _edit(text: str, rng: random.Random) -> str:
    """Misspell one word in the middle, as people do when retyping a quote."""
    words = text.split(" ")
    if len(words) < 8:
        return text
    i = rng.randrange(3, len(words) - 3)
    w = words[i]
    words[i] = (w[:-1] + "x") if len(w) > 2 else w + "x"
    return " ".join(words)


def _fragment(text: str, rng: random.Random) -> str | None:
    words = text.split(" ")
    if len(words) < 24:
        return None
    start = rng.randrange(1, len(words) // 3)
    end = rng.randrange(start + 14, len(words))
    return " ".join(words[start:end])


def make_thread(posts: int = 200, seed: int = 7, authors: int = 40) -> SyntheticThread:
    rng = random.Random(seed)
    model = _WordModel(rng)
    names = [f"user{i:03d}" for i in range(authors)]
    own_paragraphs: list[list[str]] = []  # per post (0-based), its own paragraphs
    quoted_blocks: list[list[tuple[str, int]]] = []  # per post: (quoted text, true source)
    docs: list[PostDoc] = []
    expected: set[tuple[int, int]] = set()
    for idx in range(posts):
        number = idx + 1
        blocks: list[str] = []
        own: list[str] = []
        quotes_here: list[tuple[str, int]] = []
        kind = rng.random() if idx >= 3 else 1.0
        if kind < 0.45:
            # Quote one earlier post, whole, fragment or edited; then reply.
            src = rng.randrange(max(0, idx - 60), idx)
            text = _quotable(own_paragraphs[src], rng)
            if text is not None:
                style = rng.random()
                if style < 0.3:
                    text = _fragment(text, rng) or text
                elif style < 0.5:
                    text = _edit(text, rng)
                blocks.append(text)
                quotes_here.append((text, src + 1))
                expected.add((number, src + 1))
        elif kind < 0.6:
            # Multi-quote: alternate quote and reply over 2-4 paragraphs of earlier posts.
            for _ in range(rng.randint(2, 4)):
                src = rng.randrange(max(0, idx - 30), idx)
                text = _quotable(own_paragraphs[src], rng)
                if text is None:
                    continue
                blocks.append(text)
                quotes_here.append((text, src + 1))
                expected.add((number, src + 1))
                own.append(model.paragraph())
                blocks.append(own[-1])
        elif kind < 0.7:
            # Quote of a quote: repeat text an earlier post quoted; the edge goes to its author.
            holders = [i for i in range(max(0, idx - 40), idx) if quoted_blocks[i]]
            if holders:
                holder = rng.choice(holders)
                text, true_src = rng.choice(quoted_blocks[holder])
                blocks.append(text)
                quotes_here.append((text, true_src))
                expected.add((number, true_src))
        for _ in range(rng.randint(1, 3)):
            own.append(model.paragraph())
            blocks.append(own[-1])
        own_paragraphs.append(own)
        quoted_blocks.append(quotes_here)
        docs.append(
            PostDoc(
                blocks=tuple(Block(b) for b in blocks),
                author=rng.choice(names),
                source_id=str(1000 + number),
            )
        )
    doc = ThreadDoc(title="Synthetic thread", posts=tuple(docs), source_kind="json")
    return SyntheticThread(doc=doc, expected_edges=frozenset(expected))
