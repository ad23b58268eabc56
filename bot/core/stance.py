"""Per-person stance digests: the thread's sides, and what each participant says, whom they
quote and whom they agree or disagree with.

The sides come from the whole reply graph (bot/core/sides.py), and every reply's label is
made consistent with them: a reply is shown as agreeing or disagreeing only where its words
and the sides say the same, with the words that decided it and a confidence; otherwise it
is "unclear". What the words alone say is read in bot/core/agreement.py.

Topics: `topic` keeps each participant's own sentences that mention a word, with VADER's
polarity (its sentiment lexicon is used for nothing else).
"""

from __future__ import annotations

import pickle
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from bot.core import forked
from bot.core.agreement import Agreement, Label, classify_reply, reply_pairs, warm_up_agreement
from bot.core.models import PostLike, QuoteEdge, cheap_to_build
from bot.core.sides import (
    Answer,
    Interaction,
    Participants,
    Sides,
    ThreadAnswers,
    ThreadEvidence,
    ThreadWords,
    answer_links,
    answer_texts,
    labelled,
    read_links,
    read_sides,
    verdicts,
)
from bot.core.sides import Label as SideLabel
from bot.core.text import normalise_word, split_words
from bot.errors import UserError

if TYPE_CHECKING:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

__all__ = [
    "Agreement",
    "KeyPoint",
    "Participant",
    "Reply",
    "StanceReport",
    "TopicSentence",
    "classify_reply",
    "reply_pairs",
    "stance_digest",
    "topic_pattern",
]

Polarity = Literal["positive", "negative", "neutral"]

TOPIC_POLARITY_THRESHOLD = 0.05
"""VADER's own recommended cut-offs for positive / negative sentences."""
EXCERPT_CHARS = 200
FORK_BATCH = 200
"""Replies read in batches of the answers of this many posts (more where there would be
over forked.Batches.MAX batches): a forked child finds and reads batch after batch while
this process splits and indexes every sentence, then both take the batches left
(whichever core is freer reads more of them)."""
FORK_MIN_POSTS = 8_000
"""From this many posts on (~10,000 replies), their replies are found and read in a forked
child (bot/core/forked.py) while this process splits and indexes every sentence, where the
process may fork."""


@dataclass(frozen=True, slots=True)
class KeyPoint:
    post: int
    text: str
    url: str | None


@cheap_to_build  # 96,000 at 100,000 posts, made after the fork (on one core)
@dataclass(frozen=True, slots=True)
class Reply:
    from_post: int
    to_post: int | None
    to_author: str | None
    """The participant label replied to (author, or "post N" when the source has no names)."""
    kind: Literal["quote", "reply"]
    """A quote and the words after it, or a reply (the source's reply structure)."""
    label: Label
    cue: str | None
    """The words of the reply that decided the label (None when it is unclear)."""
    confidence: float
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
    side: str | None
    """"A", "B", or None (not placed, or the thread does not split)."""
    side_confidence: float
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
    sides: Sides
    note: str | None = None
    topic: str | None = None
    topic_matches: int = 0
    """Sentences of the whole thread that mention the topic."""
    people: int = 0
    """Participants in the whole thread."""
    person: str | None = None
    """The participant asked about: `participants` holds only them."""


# --- topics -------------------------------------------------------------------------------------


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


_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'"})


def _excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The text with its white space flattened, cut to `limit` characters with an ellipsis.

    Most replies are long (192,000 excerpts in a 100,000-post thread): when the first
    `limit` + 1 characters are flat already, they are the cut; otherwise the first
    2 × `limit` characters usually hold enough words. Either way the same answer as
    flattening the whole text, since what is kept is its first words. (Splitting and
    joining the head tells whether it is flat ~2.5× faster than a regular expression for
    a run of white space: 0.3 s of 254,000 excerpts.)"""
    if len(text) > limit:
        head = text[: limit + 1]
        if " ".join(head.split()) == head:
            return head[: limit - 1].rstrip() + "…"  # flat already, and more follows
    head = text[: 2 * limit]
    if len(head) < len(text):
        words = head.split()
        if words:
            words.pop()  # maybe cut in the middle
            flat = " ".join(words)
            if len(flat) >= limit:
                return flat[: limit - 1].rstrip() + "…"
    head = text[: 4 * limit]
    words = head.split()
    if len(head) < len(text) and words:
        words.pop()  # maybe cut in the middle: the words kept are the text's own first words
        flat = " ".join(words)
        if len(flat) >= limit:  # more words follow: the whole text would be cut here too
            return flat[: limit - 1].rstrip() + "…"
        flat = " ".join(text.split())
    else:
        flat = " ".join(words)
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


# --- the digest -------------------------------------------------------------------------------


def _count_pairs(counter: Counter[str], order: dict[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(
        sorted(counter.items(), key=lambda item: (-item[1], order.get(item[0], 1 << 30), item[0]))
    )


def stance_digest(
    posts: Sequence[PostLike],
    edges: Iterable[QuoteEdge],
    author: str | None = None,
    topic: str | None = None,
    key_points: int = 3,
    language: str = "english",
) -> StanceReport:
    """The thread's sides and a digest per participant: posts, own words, key points,
    quotes, and replies labelled consistently with the sides.

    Participants are authors (matched case-insensitively, shown as first written). When
    the source has no author names at all, each post is its own participant "post N"
    (`per_post`), since inventing people would be wrong; posts without a name in an
    otherwise named thread also stand alone as "post N". `author` keeps only that
    participant (sides and relations are still computed over the whole thread). Pure,
    synchronous.
    """
    if not posts:
        raise UserError("This thread has no posts.")
    if key_points < 0:
        raise UserError("key points must be 0 or more.")
    posts = sorted(posts, key=lambda p: p.number)
    people = Participants.of(posts)
    names = people.names
    labels = people.of_post
    per_post = people.per_post
    order = {name: k for k, name in enumerate(names)}

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
    pending = None
    batches = None
    if len(posts) >= FORK_MIN_POSTS and forked.available():
        warm_up_agreement()  # the child imports and builds nothing (another thread may hold
        # the import lock at the fork)
        thread_answers = ThreadAnswers(posts, people)
        size = max(FORK_BATCH, -(-len(posts) // forked.Batches.MAX))
        count = -(-len(posts) // size)
        batches = forked.Batches(count)
        pending = forked.start(_read_batches, thread_answers, batches, size)
    try:
        # who quotes whom: counted while a forked child reads the replies
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
        words = ThreadWords.of(posts, people, language)
        if pending is not None and batches is not None:
            words.index.vectors()  # the TF-IDF scores, while the child reads the replies
            done: dict[int, _Batch] = {}

            def here(number: int) -> _Batch:
                return _batch_here(
                    thread_answers.between(number * size, (number + 1) * size), words
                )

            while (number := batches.take()) is not None:  # what the child has not begun
                done[number] = here(number)
            for number, data in pending.result().items():
                done[number] = pickle.loads(data)
            # a batch the child did not send (it failed) is read here
            read = [done.pop(n) if n in done else here(n) for n in range(count)]
        else:
            read = [_batch_here(ThreadAnswers(posts, people).between(0, len(posts)), words)]
    finally:
        if pending is not None:
            pending.close()
        if batches is not None:
            batches.close()
    links: list[tuple[Any, ...]] = []
    texts: list[Agreement | tuple[Any, ...]] = []
    excerpts: list[tuple[str, str] | None] = []
    for batch_links, batch_texts, quoted, replied in read:
        links.extend(batch_links)
        texts.extend(batch_texts)
        excerpts.extend(None if r is None else (q, r) for q, r in zip(quoted, replied, strict=True))
    found = read_links(links, texts)
    evidence = ThreadEvidence.of(people, found)
    sides = read_sides(people, found, words, key_points, evidence)
    replies: dict[str, list[Reply]] = defaultdict(list)
    agrees: dict[str, dict[str, None]] = defaultdict(dict)
    disagrees: dict[str, dict[str, None]] = defaultdict(dict)
    for (item, verdict), excerpt in zip(
        labelled(found, sides, people, evidence), excerpts, strict=True
    ):
        if excerpt is None:  # "next": a guess for the sides, not something the post shows
            continue
        replies[item.source].append(_reply(item, verdict, *excerpt))
        if item.target is None or item.target == item.source:
            continue
        if verdict.label == "agree":
            agrees[item.source].setdefault(item.target)
        elif verdict.label == "disagree":
            disagrees[item.source].setdefault(item.target)

    placements = {p.participant: p for p in sides.placements}
    participants: list[Participant] = []
    posts_of: dict[str, list[int]] = defaultdict(list)
    for post in posts:  # once, not once per participant: 10,000 posts without names are
        posts_of[labels[post.number]].append(post.number)  # 10,000 participants
    sentences_of: dict[str, list[int]] = defaultdict(list)
    if matcher is not None:  # 600,000 sentences in a 100,000-post thread: only for a topic
        for index, (number, _, _) in enumerate(words.meta):
            sentences_of[labels[number]].append(index)
    topic_matches = 0
    for name in names:
        topic_sentences: tuple[TopicSentence, ...] = ()
        if matcher is not None:
            found_here = []
            for index in sentences_of[name]:
                text = words.index.text(index)
                if matcher.search(_normalise(text)):
                    topic_matches += 1
                    if wanted is None or name == wanted:
                        compound = round(sentiment(text), 3)
                        number = words.meta[index][0]
                        found_here.append(
                            TopicSentence(number, text, _polarity(compound), compound)
                        )
            topic_sentences = tuple(found_here)
        if wanted is not None and name != wanted:
            continue
        place = placements[name]
        participants.append(
            Participant(
                author=name,
                posts=tuple(posts_of[name]),
                words=words.own_words.get(name, 0),
                side=place.side,
                side_confidence=place.confidence,
                key_points=tuple(
                    KeyPoint(words.meta[i][0], words.index.text(i), words.meta[i][2])
                    for i in words.index.best(order[name], key_points)
                ),
                quotes=_count_pairs(quotes[name], order),
                quoted_by=_count_pairs(quoted_by[name], order),
                replies=tuple(replies[name]),
                agrees_with=tuple(agrees[name]),
                disagrees_with=tuple(disagrees[name]),
                topic_sentences=topic_sentences,
            )
        )

    notes: list[str] = []
    if per_post:
        notes.append(
            "This thread has no author names, so each post is its own participant "
            "(“post N”); sides and agreement are between posts, not people."
        )
    else:
        unnamed = sum(1 for p in posts if not p.author)
        if unnamed:
            notes.append(
                f"{unnamed} post{'s have' if unnamed != 1 else ' has'} no author name and "
                f"{'stand' if unnamed != 1 else 'stands'} alone as “post N”."
            )
    clean_topic = topic.strip() if topic and topic.strip() else None
    return StanceReport(
        participants=tuple(participants),
        per_post=per_post,
        sides=sides,
        note=" ".join(notes) or None,
        topic=clean_topic,
        topic_matches=topic_matches,
        people=len(names),
        person=wanted,
    )


_Batch = tuple[list[tuple[Any, ...]], list[Any], list[str | None], list[str | None]]
"""The answers of one batch of posts: who answers whom (`answer_links`), what their words
say, and their excerpts of the quoted words and of the reply (None for a post only guessed
to answer the one before it)."""


def _batch(batch: Sequence[Answer], texts: list[Any]) -> _Batch:
    """A batch of answers with `texts`, what their words say."""
    return (
        answer_links(batch),
        texts,
        [None if a.kind == "next" else _excerpt(a.quoted) for a in batch],
        [None if a.kind == "next" else _excerpt(a.reply) for a in batch],
    )


def _batch_here(batch: Sequence[Answer], words: ThreadWords) -> _Batch:
    """One batch of answers read from the thread's sentences (this process)."""
    return _batch(batch, list(verdicts(batch, words)))


def _read_batches(
    thread_answers: ThreadAnswers, batches: forked.Batches, size: int
) -> dict[int, bytes]:
    """The forked child's share: batch after batch of posts, their answers found and read
    from their own segments (the parent splits, indexes and scores every sentence
    meanwhile, then takes the batches left), until none is left. Each batch is pickled as
    soon as it is read: pickling them all at the end took 0.2 s that the parent spent
    waiting. Only who answers whom goes back with what the words say, not the words."""
    same: dict[tuple[Any, ...], tuple[Any, ...]] = {}  # one object per verdict: a short pickle
    done: dict[int, bytes] = {}
    posts, by_number = thread_answers.posts, thread_answers.by_number
    while (number := batches.take()) is not None:
        batch = thread_answers.between(number * size, (number + 1) * size)
        texts = [same.setdefault(t, t) for t in answer_texts(posts, batch, by_number)]
        done[number] = pickle.dumps(_batch(batch, texts), protocol=pickle.HIGHEST_PROTOCOL)
    return done


def _reply(item: Interaction, verdict: SideLabel, quoted: str, reply: str) -> Reply:
    # the fields in order, not by keyword: ~30 % faster for 96,000 replies at 100,000 posts
    return Reply(
        item.from_post, item.to_post, item.target, item.kind,  # type: ignore[arg-type]
        verdict.label, verdict.cue, verdict.confidence, quoted, reply,
    )  # fmt: skip
