"""Sides: who is on which side of a thread's argument, read off the whole reply graph.

In online debates most replies answer someone on the other side, so one reply's words are
weak evidence and the pattern of who answers whom is strong evidence (Agrawal et al., WWW
2003, "Mining newsgroups using networks arising from social behavior"; Sridhar, Getoor &
Walker, ACL 2015). The interactions are quotes with the words after them, replies from
the source's reply structure (`reply_to`), and, in a flat thread with no reply structure,
a post that quotes nothing answering the post before it (a guess, so it counts half).

Each interaction is evidence, in log-odds units, that its two people are on opposite sides
(`PRIOR`), moved by what its words say (bot/core/agreement.py): an outright "I agree" or
"Exactly." tips it to the same side, a "that's wrong" adds to it, a reply that neither
takes a side nor pushes back carries half the prior, a friendly one (thanks) none. The
prior only holds where people argue: its weight grows from nothing at `CALM_SHARE` to all
of it at `ARGUED_SHARE`, measured on the interactions of the two people involved (smoothed
towards the whole thread), so a help thread or a chat is not cut in two by its replies and
jokes beside an argument do not join it. The evidence between two people is summed and
damped (`log1p`: thirty exchanges are not thirty independent witnesses), and the sides are
the signed max-cut of that graph: the split that agrees with the most evidence, exact for
parts of up to `EXACT_MAX` people, otherwise the better of a maximum-spanning-tree start
and a spectral start, each improved by moving single people.

People whose evidence wins by less than `MIN_MARGIN`, or who only ever thanked or joked,
are not placed. People who never answered anyone and whom nobody answered are placed, where
people argue, by whose words theirs are closer to (TF-IDF, as for key points), with little
confidence; so are separate parts of the graph, turned to match the main one. A thread
splits when the cut agrees with clearly more evidence than it contradicts
(`MIN_SPLIT_CONFIDENCE`) and leaves people on both sides; otherwise it says it does not.

A person's confidence is `tanh` of half their evidence margin; a side's is its members'
mean; the thread's is the share of the evidence the split agrees with, times how much
people argue, times how firmly they are placed. A side's key points are its members'
statements (no questions, no reactions such as "Fair enough") closest to their side's
words and furthest from the other side's, one per person first.

Pure and synchronous; numpy only. About linear in the interactions.
"""

from __future__ import annotations

import heapq
import itertools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np

from bot.core.agreement import (
    WINDOW_SENTENCES,
    Agreement,
    classify_reply,
    has_cue,
    reply_runs,
)
from bot.core.keypoints import DENSE_CELLS, KeyPointIndex, SentenceVectors
from bot.core.models import PostLike, Segment, cheap_to_build
from bot.core.summary import stemmer_for, stop_words_for
from bot.core.text import WORD_RE, first_sentences, normalise_word, split_sentences

SideName = Literal["A", "B"]
Evidence = Literal["replies", "words"]

PRIOR = 1.0
"""Log-odds that an interaction joins opposite sides, where people argue."""
CALM_SHARE = 0.1
ARGUED_SHARE = 0.2
"""The argued share (`argued_share`) at or below which the prior is off (a help thread, a
chat), and at or above which it holds in full; in between it grows linearly."""
AGREE_GAIN = 2.0
DISAGREE_GAIN = 0.5
"""How far a text verdict of strength 1 moves an interaction's evidence: an outright
"I agree" outweighs the prior, a "that's wrong" adds to it."""
LOCAL_WEIGHT = 2.0
"""How many interactions' worth of the thread's own share an interaction's local share
starts from (a person with one reply is judged with the thread around them)."""
MIN_MARGIN = 0.1
"""Evidence (log-odds) a person's side must win by to be placed by their replies."""
MIN_SPLIT_CONFIDENCE = 0.1
"""A split that agrees with barely more evidence than it contradicts is no split."""
NEXT_WEIGHT = 0.5
"""A post that quotes nothing is only guessed to answer the post before it."""
QUIET_TONE = 0.5
"""The share of the prior for a reply whose words neither take a side nor push back."""
EXACT_MAX = 12
"""Parts of the graph up to this many people are cut exactly (2^(n-1) splits)."""
DENSE_MAX = 600
"""Up to this many people the spectral start uses a dense eigendecomposition."""
WORDS_CONFIDENCE = 0.3
"""The most confidence a placement by words alone can have."""
MIN_CONFIDENCE = 0.05
MIN_CLAIM_WORDS = 8
"""A post with fewer own words (links and pictures aside) makes no claim to disagree with."""
MIN_POINT_WORDS = 8
POINT_WORDS = 16
"""A side's key points are statements of 8 words or more; up to 16 words, longer is better."""


# --- what the analysis returns ---------------------------------------------------------------


@cheap_to_build  # 127,000 at 100,000 posts, made after the fork (on one core)
@dataclass(frozen=True, slots=True)
class Interaction:
    """One post answering another participant, and what its words say about them."""

    from_post: int
    to_post: int | None
    source: str
    """The participant who answers (an author, or "post N")."""
    target: str | None
    """The participant answered; for a quote of someone outside the thread, their name as
    the quote gives it, or None when it gives none."""
    kind: Literal["quote", "reply", "next"]
    """A quote and the words after it; a reply from the source's reply structure; or, where
    the source has no reply structure, a post that quotes nothing answering the post before
    it (a guess, so it counts `NEXT_WEIGHT` as much and is never shown as a reply)."""
    text: Agreement
    to_a_claim: bool = True
    """False for a reply to a post with next to nothing of its own to disagree with (a
    bare link or picture): it carries no prior of opposite sides."""


@dataclass(frozen=True, slots=True)
class SidePoint:
    """A sentence that stands for a side, with who wrote it and where."""

    post: int
    author: str | None
    text: str
    url: str | None


@dataclass(frozen=True, slots=True)
class Side:
    name: SideName
    members: tuple[str, ...]
    """Most confidently placed first (posts: in thread order)."""
    key_points: tuple[SidePoint, ...]
    confidence: float


@dataclass(frozen=True, slots=True)
class Placement:
    participant: str
    side: SideName | None
    confidence: float
    evidence: Evidence | None
    """"replies" (the interaction graph), "words" (closest side's words), None (unplaced)."""
    margin: float = 0.0
    """By how much (log-odds) the evidence of their replies puts them on their side."""


@dataclass(frozen=True, slots=True)
class Sides:
    """The thread's two sides, or why it has none."""

    splits: bool
    sides: tuple[Side, ...]
    """Side A (the bigger) and side B, or () when the thread does not split."""
    unplaced: tuple[str, ...]
    confidence: float
    """How cleanly the thread splits, in [0, 1] (0 when it does not): the share of the
    evidence the split agrees with (2 × agreed − 1), times how much people argue, times how
    firmly people are placed on average."""
    note: str | None
    placements: tuple[Placement, ...]
    """Every participant, in thread order."""

    def side_of(self, participant: str) -> Placement | None:
        return next((p for p in self.placements if p.participant == participant), None)


# --- participants and interactions -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Participants:
    """Who takes part: authors (matched case-insensitively, shown as first written), or
    "post N" for each post when the source has no author names at all."""

    names: tuple[str, ...]
    """In order of first post."""
    of_post: dict[int, str]
    per_post: bool

    @classmethod
    def of(cls, posts: Sequence[PostLike]) -> Participants:
        per_post = not any(p.author for p in posts)
        display: dict[str, str] = {}
        for post in posts:
            if post.author:
                display.setdefault(post.author.casefold(), post.author)
        of_post = {
            p.number: display[p.author.casefold()] if p.author else f"post {p.number}"
            for p in posts
        }
        names: dict[str, None] = {}
        for post in sorted(posts, key=lambda p: p.number):
            names.setdefault(of_post[post.number], None)
        return cls(tuple(names), of_post, per_post)


class Answer(NamedTuple):
    """One post answering another participant, before its words are read: an
    `Interaction` without its `text`, and where its words lie in the post (a named tuple:
    a 100,000-post thread has 127,000 of them, made ~3× faster than a dataclass)."""

    from_post: int
    to_post: int | None
    source: str
    target: str | None
    kind: Literal["quote", "reply", "next"]
    quoted: str
    reply: str
    to_a_claim: bool
    start: int
    end: int
    """The reply's words are the post's segments start..end-1."""


def interactions(
    posts: Sequence[PostLike], people: Participants, words: ThreadWords | None = None
) -> list[Interaction]:
    """Every quote a post answers (the words after the quote) and every reply from the
    source's reply structure (`reply_to`) that does not also quote the post it answers.
    Quotes of oneself and of people outside the thread are kept (a digest lists them);
    the sides use only those between two participants.

    A flat thread (no post has `reply_to`: forum pages, copies) has posts that answer
    without quoting; each is taken to answer the post just before it when someone else
    wrote that (kind "next"; a run of one person's posts answers once).

    `words`, the same posts' sentences, spares splitting the replies into sentences again."""
    found = answers(posts, people)
    return read_answers(found, verdicts(found, words))


def verdicts(found: Sequence[Answer], words: ThreadWords | None = None) -> list[Agreement]:
    """What the words of each answer say (`classify_reply`); `words`, the thread's
    sentences, spares splitting the replies into sentences again."""
    if words is None:
        return [classify_reply(a.reply, a.quoted if a.kind == "quote" else None) for a in found]
    return [
        classify_reply(
            a.reply,
            a.quoted if a.kind == "quote" else None,
            words.sentences(a.from_post, a.start, a.end),
        )
        for a in found
    ]


def answers(posts: Sequence[PostLike], people: Participants) -> list[Answer]:
    """The interactions of `interactions`, without reading their words."""
    return ThreadAnswers(posts, people).between(0, len(posts))


class ThreadAnswers:
    """`answers`, a range of posts at a time: the answers of posts[first:stop] are those
    of the whole thread that these posts make (a forked child and this process each find
    the answers of the batches of posts they read, none before the fork)."""

    __slots__ = ("_by_name", "_claimed", "_flat", "by_number", "people", "posts")

    def __init__(self, posts: Sequence[PostLike], people: Participants) -> None:
        self.posts = posts
        self.people = people
        self.by_number = {p.number: p for p in posts}
        self._by_name = {name.casefold(): name for name in people.names}
        self._flat = not any(getattr(p, "reply_to", None) is not None for p in posts)
        self._claimed: dict[int, bool] = {}

    def _claims(self, number: int) -> bool:  # asked only of posts someone answers
        found = self._claimed.get(number)
        if found is None:
            found = self._claimed[number] = _makes_claim(self.by_number[number])
        return found

    def between(self, first: int, stop: int) -> list[Answer]:
        """The answers posts[first:stop] make, in thread order."""
        posts, people, by_name, flat = self.posts, self.people, self._by_name, self._flat
        claims = self._claims
        found: list[Answer] = []
        previous: tuple[int, str] | None = None  # (post, speaker) just before this one
        if 0 < first <= len(posts):
            before_first = posts[first - 1].number
            previous = (before_first, people.of_post[before_first])
        for post in posts[first:stop]:
            speaker = people.of_post[post.number]
            before = previous if previous is not None and previous[1] != speaker else None
            previous = (post.number, speaker)
            if flat and before is not None and not any(s.kind == "quote" for s in post.segments):
                text, end = _opening(post)
                found.append(
                    Answer(
                        post.number, before[0], speaker, before[1], "next", "", text,
                        claims(before[0]), 0, end,
                    )
                )  # fmt: skip
                continue
            quoted_posts: set[int] = set()
            for opens, start, end, quoted, reply_text in reply_runs(post.segments):
                segment = post.segments[opens]
                if segment.source_post in people.of_post:
                    target: str | None = people.of_post[segment.source_post]
                elif segment.source_author:
                    target = by_name.get(segment.source_author.casefold(), segment.source_author)
                else:
                    target = None
                if segment.source_post is not None:
                    quoted_posts.add(segment.source_post)
                found.append(
                    Answer(
                        post.number, segment.source_post, speaker, target, "quote", quoted,
                        reply_text, True, start, end,
                    )
                )  # fmt: skip
            parent = getattr(post, "reply_to", None)
            if parent is None or parent not in people.of_post or parent in quoted_posts:
                continue
            target = people.of_post[parent]
            if target == speaker:
                continue
            text, end = _opening(post)
            found.append(
                Answer(
                    post.number, parent, speaker, target, "reply", "", text, claims(parent), 0, end
                )
            )  # fmt: skip
        return found


def _opening(post: PostLike) -> tuple[str, int]:
    """A reply's own words before it quotes anything, and where they end."""
    segments = post.segments
    end = next((k for k, s in enumerate(segments) if s.kind == "quote"), len(segments))
    return "\n".join(t for s in segments[:end] if (t := s.text).strip()), end


def answer_texts(
    posts: Sequence[PostLike],
    found: Sequence[Answer],
    by_number: Mapping[int, PostLike] | None = None,
) -> list[tuple[Any, ...]]:
    """What the words of each answer say (`classify_reply`), as plain tuples (the fields of
    `Agreement`: a forked child sends them back, ~10× cheaper to pickle than dataclasses).

    Each reply's sentences are split here as `ThreadWords` splits them (own segments, line
    by line), and only as far as the reply's first sentences: the same verdicts as
    `interactions` with `words`, for a process that has no `ThreadWords`. `by_number`: the
    posts by number, made once by a caller that reads the answers batch by batch."""
    if by_number is None:
        by_number = {p.number: p for p in posts}

    def sentences(segments: Sequence[Segment], start: int, end: int) -> Iterator[str]:
        for segment in segments[start:end]:
            if segment.kind == "own":
                for line in segment.text.splitlines():
                    head = first_sentences(line, WINDOW_SENTENCES)  # all a reply's words
                    yield from head  # are read from (the rest only when one is not found)
                    if len(head) == WINDOW_SENTENCES:
                        yield from split_sentences(line)[WINDOW_SENTENCES:]

    out: list[tuple[Any, ...]] = []
    same: dict[tuple[Any, ...], tuple[Any, ...]] = {}  # one object per verdict: a short pickle
    for a in found:
        text = classify_reply(
            a.reply,
            a.quoted if a.kind == "quote" else None,
            sentences(by_number[a.from_post].segments, a.start, a.end),
        )
        fields = (text.label, text.cue, text.score, text.contrary, text.friendly)
        out.append(same.setdefault(fields, fields))
    return out


def answer_links(found: Sequence[Answer]) -> list[tuple[Any, ...]]:
    """Who answers whom in each answer, without its words: (from_post, to_post, source,
    target, kind, to_a_claim), all `read_links` needs (a forked child sends these back,
    2 MB for a 100,000-post thread where the answers' words are 100 MB)."""
    return [(a.from_post, a.to_post, a.source, a.target, a.kind, a.to_a_claim) for a in found]


def read_answers(
    found: Sequence[Answer], texts: Sequence[Agreement | tuple[Any, ...]]
) -> list[Interaction]:
    """The interactions, each answer with what its words say (`Agreement`s, or the tuples
    of `answer_texts`)."""
    return read_links(answer_links(found), texts)


def read_links(
    links: Sequence[tuple[Any, ...]], texts: Sequence[Agreement | tuple[Any, ...]]
) -> list[Interaction]:
    """`read_answers` from the answers' `answer_links`."""
    made: dict[tuple[Any, ...], Agreement] = {}
    out = []
    for (from_post, to_post, source, target, kind, to_a_claim), text in zip(
        links, texts, strict=True
    ):
        if isinstance(text, tuple):
            agreement = made.get(text)
            if agreement is None:
                agreement = made[text] = Agreement(*text)
        else:
            agreement = text
        out.append(Interaction(from_post, to_post, source, target, kind, agreement, to_a_claim))
    return out


_PLACEHOLDER_RE = re.compile(r"\[[^\]\n]{0,2000}\]")
"""What readers put for what is not text: "[link: …]", "[image]", "[video]", "[code]"."""


def _makes_claim(post: PostLike) -> bool:
    """Whether a post has at least MIN_CLAIM_WORDS words of its own, links and pictures
    left out (reading no further than that many words)."""
    own = " ".join(s.text for s in post.segments if s.kind == "own")
    if "[" in own:
        own = _PLACEHOLDER_RE.sub(" ", own)
    words = WORD_RE.finditer(own)
    return sum(1 for _ in itertools.islice(words, MIN_CLAIM_WORDS)) >= MIN_CLAIM_WORDS


# --- the signed graph and its cut ------------------------------------------------------------


def argues(text: Agreement) -> float:
    """How much one interaction argues: an outright disagreement 1, a weak one ("I'm not
    sure") or a reply that pushes back without a cue (a negation, a "but") 1/2, less 1/2
    when it is friendly (thanks, congratulations, laughter)."""
    if text.label == "disagree":
        value = 1.0 if text.strong else 0.5
    else:
        value = 0.5 if text.contrary else 0.0
    return value - (0.5 if text.friendly else 0.0)


def argued_share(found: Sequence[Interaction]) -> float:
    """How much a set of interactions argues, per interaction (`argues`)."""
    if not found:
        return 0.0
    return sum(argues(item.text) for item in found) / len(found)


def prior_for(share: float) -> float:
    """The prior's weight where interactions argue `share` (see CALM_SHARE)."""
    return PRIOR * min(1.0, max(0.0, (share - CALM_SHARE) / (ARGUED_SHARE - CALM_SHARE)))


def evidence(text: Agreement, prior: float, to_a_claim: bool = True) -> float:
    """Log-odds that one interaction joins the same side (negative: opposite sides).

    The prior counts in full for a reply that pushes back or says what it thinks, half
    for one that neither agrees, disagrees nor pushes back ("I found that hilarious"),
    and not at all for a friendly one (thanks come from allies and polite opponents) or one
    that answers a bare link or picture (there is nothing of its poster's to disagree with)."""
    score = text.score if text.label != "unclear" else 0.0
    tone = 0.0 if text.friendly or not to_a_claim else 1.0 if score or text.contrary else QUIET_TONE
    gain = AGREE_GAIN if score > 0 else DISAGREE_GAIN
    return -prior * tone + gain * score


@dataclass(slots=True)
class _Graph:
    """Symmetric signed weights between participants 0..n-1, as an edge list."""

    n: int
    a: np.ndarray
    b: np.ndarray
    w: np.ndarray

    def field(self, signs: np.ndarray) -> np.ndarray:
        """For every node, the summed weight to its neighbours times their sign."""
        return np.bincount(self.a, self.w * signs[self.b], minlength=self.n) + np.bincount(
            self.b, self.w * signs[self.a], minlength=self.n
        )

    def value(self, signs: np.ndarray) -> float:
        return float(np.sum(self.w * signs[self.a] * signs[self.b]))


def _graph(n: int, pair_evidence: dict[tuple[int, int], float]) -> _Graph:
    pairs = [(i, j, s) for (i, j), s in pair_evidence.items() if s != 0.0]
    a = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
    b = np.fromiter((p[1] for p in pairs), dtype=np.int64, count=len(pairs))
    s = np.fromiter((p[2] for p in pairs), dtype=np.float64, count=len(pairs))
    return _Graph(n, a, b, np.sign(s) * np.log1p(np.abs(s)))


@dataclass(frozen=True, slots=True)
class _Part:
    """A connected part of the graph: its people, and the indices of its edges."""

    nodes: np.ndarray
    edges: np.ndarray

    def local(self, graph: _Graph) -> _Graph:
        position = np.full(graph.n, -1, dtype=np.int64)
        position[self.nodes] = np.arange(len(self.nodes))
        edges = self.edges
        return _Graph(
            len(self.nodes), position[graph.a[edges]], position[graph.b[edges]], graph.w[edges]
        )


def _parts(graph: _Graph) -> list[_Part]:
    """The connected parts of the graph (people without an edge belong to none)."""
    if not len(graph.a):
        return []
    parent = list(range(graph.n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in zip(graph.a.tolist(), graph.b.tolist(), strict=True):
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    root = np.fromiter((find(x) for x in range(graph.n)), dtype=np.int64, count=graph.n)
    touched = np.zeros(graph.n, dtype=bool)
    touched[graph.a] = True
    touched[graph.b] = True
    nodes = np.flatnonzero(touched)
    node_order = nodes[np.argsort(root[nodes], kind="stable")]
    edge_root = root[graph.a]
    edge_order = np.argsort(edge_root, kind="stable")
    roots, node_starts = np.unique(root[node_order], return_index=True)
    edge_starts = np.searchsorted(edge_root[edge_order], roots)
    node_ends = [*node_starts[1:].tolist(), len(node_order)]
    edge_ends = [*edge_starts[1:].tolist(), len(edge_order)]
    return [
        _Part(node_order[a:b], edge_order[c:d])
        for a, b, c, d in zip(
            node_starts.tolist(), node_ends, edge_starts.tolist(), edge_ends, strict=True
        )
    ]


def _cut(graph: _Graph, part: _Part | None = None) -> np.ndarray:
    """Signs (±1) of the part's people that agree with the most evidence inside it (the
    whole graph, when it is connected and `part` is None)."""
    local = part.local(graph) if part is not None else graph
    if local.n <= EXACT_MAX:
        return _exact(local)
    starts = [_tree_start(local), _spectral_start(local)]
    return max((_improve(local, s) for s in starts), key=local.value)


def _exact(graph: _Graph) -> np.ndarray:
    """Every split with node 0 on the plus side; the best (ties: the first found)."""
    n = graph.n
    codes = np.arange(1 << (n - 1), dtype=np.int64)
    signs = np.ones((len(codes), n))
    for bit in range(n - 1):
        signs[:, bit + 1] = np.where((codes >> bit) & 1, -1.0, 1.0)
    values = (signs[:, graph.a] * signs[:, graph.b]) @ graph.w
    return signs[int(np.argmax(values))]


def _tree_start(graph: _Graph) -> np.ndarray:
    """Signs that satisfy a maximum spanning tree of the strongest evidence exactly."""
    neighbours: list[list[tuple[float, int, float]]] = [[] for _ in range(graph.n)]
    for i, j, w in zip(graph.a.tolist(), graph.b.tolist(), graph.w.tolist(), strict=True):
        neighbours[i].append((-abs(w), j, w))
        neighbours[j].append((-abs(w), i, w))
    signs = np.zeros(graph.n)
    for root in range(graph.n):
        if signs[root]:
            continue
        signs[root] = 1.0
        heap = [(key, node, w, root) for key, node, w in neighbours[root]]
        heapq.heapify(heap)
        while heap:
            _, node, w, origin = heapq.heappop(heap)
            if signs[node]:
                continue
            signs[node] = signs[origin] * (1.0 if w > 0 else -1.0)
            for key, other, weight in neighbours[node]:
                if not signs[other]:
                    heapq.heappush(heap, (key, other, weight, node))
    return signs


def _spectral_start(graph: _Graph) -> np.ndarray:
    """The signs of the top eigenvector of the weight matrix (the relaxed max-cut)."""
    if graph.n <= DENSE_MAX:
        matrix = np.zeros((graph.n, graph.n))
        np.add.at(matrix, (graph.a, graph.b), graph.w)
        np.add.at(matrix, (graph.b, graph.a), graph.w)
        vector = np.linalg.eigh(matrix)[1][:, -1]
    else:  # power iteration on W + cI (c bounds |eigenvalues|, so the top one leads)
        strength = np.abs(graph.w)
        degree = np.bincount(graph.a, strength, minlength=graph.n)
        shift = float(np.max(degree + np.bincount(graph.b, strength, minlength=graph.n)))
        vector = np.random.default_rng(0).standard_normal(graph.n)
        for _ in range(200):
            vector = graph.field(vector) + shift * vector
            vector /= np.linalg.norm(vector) or 1.0
    return np.where(vector >= 0, 1.0, -1.0)


def _improve(graph: _Graph, signs: np.ndarray) -> np.ndarray:
    """Move single people to the other side while that agrees with more evidence."""
    signs = signs.copy()
    neighbours: list[list[tuple[int, float]]] = [[] for _ in range(graph.n)]
    for i, j, w in zip(graph.a.tolist(), graph.b.tolist(), graph.w.tolist(), strict=True):
        neighbours[i].append((j, w))
        neighbours[j].append((i, w))
    field = graph.field(signs)
    heap = [(float(signs[i] * field[i]), i) for i in range(graph.n) if signs[i] * field[i] < 0]
    heapq.heapify(heap)
    moves = 0
    while heap and moves < 20 * graph.n:
        _, node = heapq.heappop(heap)
        happiness = signs[node] * field[node]
        if happiness >= 0:
            continue
        signs[node] = -signs[node]
        moves += 1
        for other, w in neighbours[node]:
            field[other] += 2 * w * signs[node]
            mood = signs[other] * field[other]
            if mood < 0:
                heapq.heappush(heap, (float(mood), other))
    return signs


# --- words: placing the rest, and key points -------------------------------------------------


class _Words:
    """Each participant's words as one TF-IDF vector, from the key-point index."""

    def __init__(self, vectors: SentenceVectors, people: int) -> None:
        self.vectors = vectors
        owner = vectors.owners[vectors.row] if len(vectors.row) else vectors.row
        key = owner * vectors.terms + vectors.col
        if people * vectors.terms <= DENSE_CELLS:  # a slot per (person, term): no sort
            cells = np.flatnonzero(np.bincount(key, minlength=people * vectors.terms))
            weight = np.bincount(key, vectors.unit, minlength=people * vectors.terms)[cells]
        else:
            cells, cell_of = np.unique(key, return_inverse=True)
            weight = np.bincount(cell_of, vectors.unit, minlength=len(cells))
        self.owner = cells // vectors.terms
        self.term = cells % vectors.terms
        norm = np.sqrt(np.bincount(self.owner, weight * weight, minlength=people))
        self.weight = weight / np.where(norm[self.owner] > 0, norm[self.owner], 1.0)
        self.people = people

    def centroid(self, weights: np.ndarray) -> np.ndarray:
        """The unit vector of the participants' vectors summed with `weights`."""
        centre = np.bincount(
            self.term, self.weight * weights[self.owner], minlength=self.vectors.terms
        )
        norm = float(np.linalg.norm(centre))
        return centre / norm if norm else centre

    def closeness(self, centre: np.ndarray) -> np.ndarray:
        """Every participant's cosine similarity to a centroid."""
        return np.bincount(self.owner, self.weight * centre[self.term], minlength=self.people)


def _side_points(
    index: KeyPointIndex,
    signs: np.ndarray,
    confidence: np.ndarray,
    side: float,
    count: int,
    sentence_meta: Sequence[tuple[int, str | None, str | None]],
    words: _Words,
) -> tuple[SidePoint, ...]:
    if count <= 0:
        return ()
    v = words.vectors
    own = words.centroid(np.where(signs == side, confidence, 0.0))
    other = words.centroid(np.where(signs == -side, confidence, 0.0))
    toward = np.bincount(v.row, v.unit * (own[v.col] - other[v.col]), minlength=len(v.owners))
    member = signs[v.owners] == side
    fullness = np.minimum(1.0, v.word_counts / POINT_WORDS)
    score = toward * fullness * (0.5 + 0.5 * confidence[v.owners])
    candidates = np.flatnonzero(member & (toward > 0) & (v.word_counts >= MIN_POINT_WORDS))
    order = candidates[np.lexsort((candidates, -np.round(score[candidates], 12)))]
    picked: list[int] = []
    seen_people: set[int] = set()
    seen_text: set[str] = set()
    for rounds in (0, 1):  # one per person first, then the next best
        for sentence in order.tolist():
            if len(picked) == count:
                break
            person = int(v.owners[sentence])
            text = index.text(sentence)
            key = " ".join(normalise_word(w) for w in text.split())
            if sentence in picked or key in seen_text or (rounds == 0 and person in seen_people):
                continue
            if text.rstrip().endswith("?") or has_cue(text):  # a question or a reaction
                continue
            picked.append(sentence)
            seen_people.add(person)
            seen_text.add(key)
    return tuple(
        SidePoint(sentence_meta[i][0], sentence_meta[i][1], index.text(i), sentence_meta[i][2])
        for i in picked
    )


# --- the analysis ----------------------------------------------------------------------------


@dataclass(slots=True)
class ThreadWords:
    """Every own sentence of the thread, split once and indexed for key points; the stance
    digest scores the same sentences per person, and the agreement of a reply is read from
    its first sentences here (`sentences`)."""

    index: KeyPointIndex
    meta: list[tuple[int, str | None, str | None]]
    """Per sentence: (post, author or None, post url)."""
    own_words: dict[str, int]
    segments: dict[int, tuple[int, ...]]
    """Per post number: where each segment's sentences start in the index, and where the
    last one's end (a quote's sentences are none: its start is the next one's)."""

    @classmethod
    def of(cls, posts: Sequence[PostLike], people: Participants, language: str) -> ThreadWords:
        stop = _stop_words(language)
        index = KeyPointIndex(stop, stemmer_for(language))
        owner_of = {name: k for k, name in enumerate(people.names)}
        meta: list[tuple[int, str | None, str | None]] = []
        texts: list[str] = []
        owners: list[int] = []
        segments: dict[int, tuple[int, ...]] = {}
        for post in posts:
            label = people.of_post[post.number]
            first = len(texts)
            starts = [first]
            for segment in post.segments:
                if segment.kind == "own":
                    for line in segment.text.splitlines():
                        texts.extend(split_sentences(line))
                starts.append(len(texts))
            segments[post.number] = tuple(starts)
            if len(texts) > first:
                where = (post.number, None if people.per_post else label, post.url)
                meta.extend(itertools.repeat(where, len(texts) - first))
                owners.extend(itertools.repeat(owner_of[label], len(texts) - first))
        counts = index.extend(owners, texts)
        per_owner = np.bincount(
            np.asarray(owners, dtype=np.int64), counts, minlength=len(people.names)
        )
        written = np.bincount(np.asarray(owners, dtype=np.int64), minlength=len(people.names))
        own_words = {people.names[k]: int(per_owner[k]) for k in np.flatnonzero(written).tolist()}
        return cls(index, meta, own_words, segments)

    def sentences(self, post: int, start: int, end: int) -> Iterator[str]:
        """The sentences of segments start..end-1 of a post, in order."""
        offsets = self.segments[post]
        texts = self.index.text
        for k in range(offsets[start], offsets[end]):
            yield texts(k)


def _stop_words(language: str) -> frozenset[str]:
    try:
        return frozenset(normalise_word(w) for w in stop_words_for(language))
    except LookupError:
        return frozenset()


@dataclass(slots=True)
class ThreadEvidence:
    """The interactions between participants and what they say about sides, per pair."""

    found: list[Interaction]
    share: float
    ends: list[tuple[int, int]]
    said: np.ndarray
    count: np.ndarray
    pair: dict[tuple[int, int], float]
    """Summed evidence of each pair (lower number first), before damping, in the order the
    pairs first interact."""

    @classmethod
    def of(cls, people: Participants, found: Sequence[Interaction]) -> ThreadEvidence:
        """How much people argue, from what they quote or answer (a post guessed to answer
        the one before it says less): per thread, and where two people interact, from both
        people's interactions smoothed towards the thread's share. A thread of jokes with
        one argument in it (a Reddit page) argues only there.

        Summed with numpy in the order of the interactions (bincount adds in input order),
        so every sum is the one a loop over them makes."""
        n = len(people.names)
        number = {name: k for k, name in enumerate(people.names)}
        found = [i for i in found if i.target in number and i.target != i.source]
        shown = [i for i in found if i.kind != "next"] or found
        share = argued_share(shown)
        ends = [(number[i.source], number[i.target]) for i in found]  # type: ignore[index]
        size = len(found)
        scores = np.fromiter((argues(i.text) for i in found), np.float64, size)
        guessed = np.fromiter((i.kind == "next" for i in found), bool, size)
        if shown is found:
            guessed[:] = False  # nothing else to go by: the guesses count in full
        ends_array = np.array(ends, dtype=np.int64).reshape(size, 2)
        a, b = ends_array[:, 0], ends_array[:, 1]
        counted = ends_array[~guessed].ravel()  # i, j of each in turn: each node's sum in order
        said = np.bincount(counted, np.repeat(scores[~guessed], 2), minlength=n)
        count = np.bincount(counted, minlength=n).astype(np.float64)
        text_score = np.fromiter(
            (i.text.score if i.text.label != "unclear" else 0.0 for i in found), np.float64, size
        )
        silent = np.fromiter((i.text.friendly or not i.to_a_claim for i in found), bool, size)
        contrary = np.fromiter((i.text.contrary for i in found), bool, size)
        tone = np.where(silent, 0.0, np.where((text_score != 0) | contrary, 1.0, QUIET_TONE))
        gain = np.where(text_score > 0, AGREE_GAIN, DISAGREE_GAIN)
        local = (said[a] + said[b] - scores + LOCAL_WEIGHT * share) / (
            count[a] + count[b] - 1 + LOCAL_WEIGHT
        )
        prior = PRIOR * np.minimum(
            1.0, np.maximum(0.0, (local - CALM_SHARE) / (ARGUED_SHARE - CALM_SHARE))
        )
        prior[guessed] = prior_for(share)
        weight = -prior * tone + gain * text_score
        weight[guessed] *= NEXT_WEIGHT
        low, high = np.minimum(a, b), np.maximum(a, b)
        keys = low * max(n, 1) + high
        pairs, first, which = np.unique(keys, return_index=True, return_inverse=True)
        sums = np.bincount(which.reshape(-1), weight, minlength=len(pairs))
        in_order = np.argsort(first, kind="stable")  # the order the pairs first interact
        starts = first[in_order]
        pair = dict(
            zip(
                zip(low[starts].tolist(), high[starts].tolist(), strict=True),
                sums[in_order].tolist(),
                strict=True,
            )
        )
        return cls(found, share, ends, said, count, pair)


def read_sides(
    people: Participants,
    found: Sequence[Interaction],
    words: ThreadWords,
    key_points: int = 3,
    evidence: ThreadEvidence | None = None,
) -> Sides:
    """The sides of a thread from its interactions (see the module docstring); `evidence`,
    when given, is `ThreadEvidence.of(people, found)`."""
    n = len(people.names)
    ev = ThreadEvidence.of(people, found) if evidence is None else evidence
    found, share, ends, pair = ev.found, ev.share, ev.ends, ev.pair
    graph = _graph(n, pair)
    parts = _parts(graph)
    signs = np.zeros(n)
    for part in parts:
        signs[part.nodes] = _cut(graph, part)
    margin = signs * graph.field(signs)
    confidence = np.where(signs != 0, np.tanh(np.maximum(margin, 0.0) / 2), 0.0)
    shown = (signs != 0) & (margin >= MIN_MARGIN)
    """Placed by their replies: the evidence for their side wins by at least MIN_MARGIN."""
    contested = [p for p in parts if np.any(graph.w[p.edges] < 0) and shown[p.nodes].any()]
    if not contested:
        return _no_split(people, share)
    main = max(contested, key=lambda p: (int(shown[p.nodes].sum()), -int(p.nodes.min())))
    how: list[Evidence | None] = [None] * n
    placed = np.zeros(n, dtype=bool)
    placed[main.nodes] = shown[main.nodes]
    if not (np.any(signs[placed] > 0) and np.any(signs[placed] < 0)):
        return _no_split(people, share)
    text = _Words(words.index.vectors(), n)
    weights = np.where(placed, confidence + MIN_CONFIDENCE, 0.0)
    plus = text.closeness(text.centroid(np.where(signs > 0, weights, 0.0)))
    minus = text.closeness(text.centroid(np.where(signs < 0, weights, 0.0)))
    for part in parts:  # other parts of the graph: turned to match the main one by words
        nodes = part.nodes[shown[part.nodes]]
        if part is main or not len(nodes):
            continue
        lean = float(np.sum((signs * (plus - minus))[nodes]))
        if lean < 0:
            signs[part.nodes] = -signs[part.nodes]
        total = float(np.sum((plus + minus)[nodes])) or 1.0
        confidence[part.nodes] *= max(min(1.0, abs(lean) / total), MIN_CONFIDENCE)
        placed[nodes] = True
    for node in np.flatnonzero(placed).tolist():
        how[node] = "replies"
    # People who never answered anyone and whom nobody answered, where people argue: the
    # side whose words are closer, with little confidence. Those who talked without showing
    # a side (thanks, jokes beside an argument) stay unplaced.
    touched = np.zeros(n, dtype=bool)
    for i, j in ends:
        touched[i] = touched[j] = True
    for node in np.flatnonzero(~placed).tolist():
        signs[node] = 0.0
        if touched[node] or prior_for(share) <= 0 or plus[node] == minus[node]:
            continue
        signs[node] = 1.0 if plus[node] > minus[node] else -1.0
        gap = abs(plus[node] - minus[node]) / (plus[node] + minus[node])
        confidence[node] = max(MIN_CONFIDENCE, WORDS_CONFIDENCE * min(1.0, gap * 2))
        how[node] = "words"
    confidence[signs == 0] = 0.0
    # Side A is the bigger one (ties: the side of the earliest participant).
    if np.sum(signs < 0) > np.sum(signs > 0) or (
        np.sum(signs < 0) == np.sum(signs > 0) and signs[np.flatnonzero(signs)[0]] < 0
    ):
        signs = -signs
    agreed = float(np.sum(np.abs(graph.w) * (graph.w * signs[graph.a] * signs[graph.b] > 0)))
    total = float(np.sum(np.abs(graph.w))) or 1.0
    in_main = set(main.nodes.tolist())
    counted = not any(f.kind != "next" for f in found)
    main_share = argued_share(
        [
            f
            for f, e in zip(found, ends, strict=True)
            if e[0] in in_main and (counted or f.kind != "next")
        ]
    )
    argued = prior_for(max(main_share, share))
    consistency = max(0.0, 2 * agreed / total - 1) * argued
    if consistency < MIN_SPLIT_CONFIDENCE:
        return _no_split(people, share)
    split_confidence = round(consistency * float(np.mean(confidence[signs != 0])), 3)
    sides = []
    for name, sign in (("A", 1.0), ("B", -1.0)):
        members = np.flatnonzero(signs == sign)
        if people.per_post:  # posts read best in thread order
            ranked = members.tolist()
        else:
            ranked = sorted(members.tolist(), key=lambda k: (-round(confidence[k], 6), k))
        points = _side_points(words.index, signs, confidence, sign, key_points, words.meta, text)
        sides.append(
            Side(
                name=name,  # type: ignore[arg-type]
                members=tuple(people.names[k] for k in ranked),
                key_points=points,
                confidence=round(float(np.mean(confidence[members])), 3),
            )
        )
    placements = tuple(
        Placement(
            people.names[k],
            ("A" if signs[k] > 0 else "B") if signs[k] else None,
            round(float(confidence[k]), 3) if signs[k] else 0.0,
            how[k] if signs[k] else None,
            round(float(margin[k]), 3) if how[k] == "replies" else 0.0,
        )
        for k in range(n)
    )
    unplaced = tuple(p.participant for p in placements if p.side is None)
    return Sides(
        splits=True,
        sides=tuple(sides),
        unplaced=unplaced,
        confidence=split_confidence,
        note=None,
        placements=placements,
    )


def _no_split(people: Participants, share: float) -> Sides:
    if share <= CALM_SHARE:
        why = "its replies ask, answer, thank or agree; nobody argues against anyone"
    else:
        why = "the replies that push back do not divide people into two camps"
    return Sides(
        splits=False,
        sides=(),
        unplaced=people.names,
        confidence=0.0,
        note=f"This thread does not split into sides: {why}.",
        placements=tuple(Placement(name, None, 0.0, None) for name in people.names),
    )


def thread_sides(
    posts: Sequence[PostLike], language: str = "english", key_points: int = 3
) -> Sides:
    """The sides of a thread, for callers that need only them (a thread brief, say)."""
    ordered = sorted(posts, key=lambda p: p.number)
    people = Participants.of(ordered)
    words = ThreadWords.of(ordered, people, language)
    return read_sides(people, interactions(ordered, people, words), words, key_points)


# --- labels consistent with the sides --------------------------------------------------------


@cheap_to_build
@dataclass(frozen=True, slots=True)
class Label:
    label: Literal["agree", "disagree", "unclear"]
    cue: str | None
    confidence: float


def label_interaction(
    item: Interaction, sides: Sides, placements: dict[str, Placement], pair: float = 0.0
) -> Label:
    """`agree` or `disagree` only where the words and the sides say the same, else unclear.

    Between placed people: disagreeing words across sides are `disagree`; agreeing words on
    the same side are `agree` when each person is on that side also without the evidence
    between the two of them (`pair`, damped), so an agreement never rests on its own words
    alone. Words that contradict the sides ("you're probably right" to the other side) are
    unclear. In a thread without sides, only strong words decide.
    """
    text = item.text
    source = placements.get(item.source)
    target = placements.get(item.target) if item.target is not None else None
    if not sides.splits or source is None or target is None or not source.side or not target.side:
        return _by_words_alone(text)
    same = source.side == target.side
    agreeing = text.label == "agree" and same
    if not agreeing and not (text.label == "disagree" and not same):
        return _UNCLEAR
    # Agreeing words are weak evidence on their own (a concession to the other side says
    # "you're right" too), so both people must be on the side also without the evidence
    # between the two of them, which counts +pair towards each one's side. Disagreeing
    # words across sides are what most replies are: no such check.
    if agreeing and min(source.margin, target.margin) - pair < MIN_MARGIN:
        return _UNCLEAR
    both = math.sqrt(source.confidence * target.confidence)
    return Label(text.label, text.cue, round(min(1.0, abs(text.score)) * (0.5 + 0.5 * both), 3))


_UNCLEAR = Label("unclear", None, 0.0)


def _by_words_alone(text: Agreement) -> Label:
    """The label where the sides say nothing: only strong words decide."""
    if text.strong:
        return Label(text.label, text.cue, round(abs(text.score) * 0.5, 3))
    return _UNCLEAR


def labelled(
    found: Sequence[Interaction],
    sides: Sides,
    people: Participants,
    evidence: ThreadEvidence | None = None,
) -> list[tuple[Interaction, Label]]:
    """Every interaction with its label (see `label_interaction`); `evidence`, when given,
    is `ThreadEvidence.of(people, found)`. Where the thread does not split, the words
    alone decide: no pair's evidence is looked up (127,000 replies at 100,000 posts)."""
    if not sides.splits:
        return [(item, _by_words_alone(item.text)) for item in found]
    placements = {p.participant: p for p in sides.placements}
    number = {name: k for k, name in enumerate(people.names)}
    pair = (ThreadEvidence.of(people, found) if evidence is None else evidence).pair
    out = []
    for item in found:
        i, j = number.get(item.source), number.get(item.target or "")
        summed = pair.get((min(i, j), max(i, j)), 0.0) if i is not None and j is not None else 0.0
        damped = math.copysign(math.log1p(abs(summed)), summed)
        out.append((item, label_interaction(item, sides, placements, damped)))
    return out
