"""Who-quoted-whom queries over the quote edges that quote inference stored.

Pure functions over posts + edges: no I/O, no platform imports, safe in a worker thread.
Inference (bot.core.quotes) decides *which* words are quoted; this module only counts and
ranks, so a report can be rebuilt from storage at any time without re-running inference.

Quotes and replies are kept apart. A quote edge says a post repeats another post's own
words; a reply (post.reply_to: Reddit parent, Discourse reply_to_post_number, Discord and
Matrix replies) says a post answers another, whether or not it quotes it. Every count and
ranking here is of quotes; replies are reported beside them as who "answered" whom.

Participants are authors when the source names them. A post without an author is its own
participant, labelled "post N": lumping all nameless posts into one "unknown" person would
invent a speaker, which the whole tool is meant never to do.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.models import PostLike, QuoteEdge
from bot.errors import NotFound, UserError

EXCERPT_CHARS = 120
MAX_CHAIN_DEPTH = 10
_SPACE_RE = re.compile(r"\s+")
_POST_LABEL_RE = re.compile(r"^post (\d+)$")


@dataclass(frozen=True, slots=True)
class PairCount:
    """Quotes from one participant to another, summed over all their posts."""

    from_label: str
    to_label: str
    count: int
    post_pairs: tuple[tuple[int, int], ...]  # (from_post, to_post), sorted
    is_self: bool = False  # same author on both sides: kept, but not counted in rankings


@dataclass(frozen=True, slots=True)
class EdgeRow:
    """One post-level edge with the authors beside it (None where the source has none)."""

    from_post: int
    to_post: int
    from_author: str | None
    to_author: str | None
    count: int


@dataclass(frozen=True, slots=True)
class QuotedPost:
    post: int
    author: str | None
    times_quoted: int  # quote segments pointing at this post's own words
    quoted_by_posts: int  # distinct posts doing so
    excerpt: str  # ≤ EXCERPT_CHARS of the post's own words
    url: str | None


@dataclass(frozen=True, slots=True)
class AuthorCount:
    author: str
    times_quoted: int


@dataclass(frozen=True, slots=True)
class QuoterCount:
    label: str  # author, or "post N" when the post has no author
    times_quoting: int


@dataclass(frozen=True, slots=True)
class ChainNode:
    """One post of the thread of quotes and replies around a post, in reading order.

    The first node is the top of the path that leads to the post asked about (what it
    quotes or answers, and so on up); the post itself is `focus`; below it come the posts
    that quote or answer it, and so on down. `parent` is the node this one hangs under and
    `relation` says how this post treats it: "quotes", "answers" or "quotes and answers".
    """

    post: int
    author: str | None
    depth: int
    parent: int | None
    count: int = 0  # quote segments from this post to its parent
    relation: str = ""
    focus: bool = False
    also: tuple[int, ...] = ()  # the focus: other posts it quotes or answers


@dataclass(frozen=True, slots=True)
class QuoteReport:
    authors_known: bool
    pairs: tuple[PairCount, ...]
    edges: tuple[EdgeRow, ...]
    most_quoted_posts: tuple[QuotedPost, ...]
    most_quoted_authors: tuple[AuthorCount, ...]
    most_quoting: tuple[QuoterCount, ...]
    chain: tuple[ChainNode, ...] = ()
    chain_truncated: bool = False  # the depth limit cut the chain short
    author: str | None = None  # the author filter, as spelled in the thread
    post: int | None = None  # the post filter
    notes: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    """Everyone who posted (unfiltered reports only): quiet participants are people too."""
    replies: tuple[EdgeRow, ...] = ()
    """Post-level replies (count 1 each): who answered whom, as the source says."""
    answered: tuple[PairCount, ...] = ()
    """Replies summed per pair of participants."""

    @property
    def participants(self) -> tuple[str, ...]:
        """Everyone who posted, then labels that quote or answer, in first-seen order."""
        seen: dict[str, None] = dict.fromkeys(self.members)
        for pair in (*self.pairs, *self.answered):
            seen.setdefault(pair.from_label)
            seen.setdefault(pair.to_label)
        return tuple(seen)


# --- helpers ----------------------------------------------------------------------------


def _clean_author(author: str | None) -> str | None:
    if author is None:
        return None
    author = author.strip()
    return author or None


def post_label(number: int) -> str:
    return f"post {number}"


def label_sort_key(label: str) -> tuple[int, str, int]:
    """Authors alphabetically (case-insensitive), then post labels in number order."""
    m = _POST_LABEL_RE.match(label)
    if m:
        return (1, "", int(m.group(1)))
    return (0, label.casefold(), 0)


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """Whitespace-collapsed text cut at a word boundary, with an ellipsis, ≤ limit chars."""
    text = _SPACE_RE.sub(" ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


def _own_text(post: PostLike) -> str:
    return " ".join(s.text for s in post.segments if s.kind == "own")


def _merge_edges(edges: Iterable[QuoteEdge]) -> dict[tuple[int, int], int]:
    """Sum duplicate (from, to) edges and drop non-positive counts."""
    merged: dict[tuple[int, int], int] = defaultdict(int)
    for e in edges:
        if e.count > 0:
            merged[(e.from_post, e.to_post)] += e.count
    return dict(merged)


class _Thread:
    """Posts indexed by number with their cleaned author names."""

    def __init__(self, posts: Sequence[PostLike]) -> None:
        self.posts: dict[int, PostLike] = {p.number: p for p in posts}
        self.authors: dict[int, str | None] = {p.number: _clean_author(p.author) for p in posts}
        self.authors_known = any(a is not None for a in self.authors.values())
        self.replies: dict[int, int] = {}
        """post → the post it answers (both in the thread)."""
        for p in posts:
            parent = getattr(p, "reply_to", None)
            if parent is not None and parent != p.number and parent in self.posts:
                self.replies[p.number] = parent

    def author(self, number: int) -> str | None:
        return self.authors.get(number)

    def label(self, number: int) -> str:
        return self.author(number) or post_label(number)

    def check_post(self, number: int) -> None:
        if number in self.posts:
            return
        if not self.posts:
            raise NotFound("This thread has no posts.")
        lo, hi = min(self.posts), max(self.posts)
        raise NotFound(f"No post {number} in this thread; posts run from {lo} to {hi}.")

    def resolve_author(self, query: str) -> set[str]:
        """Names equal to `query` ignoring case; NotFound names the nearest ones."""
        if not self.authors_known:
            raise NotFound(
                "This source has no author names, so quotes can't be filtered by author; "
                "filter by post number instead."
            )
        wanted = query.strip().casefold()
        names = sorted({a for a in self.authors.values() if a}, key=str.casefold)
        matches = {n for n in names if n.casefold() == wanted}
        if matches:
            return matches
        folded = {n.casefold(): n for n in names}
        close = difflib.get_close_matches(wanted, list(folded), n=3, cutoff=0.6)
        close += [f for f in folded if wanted and wanted in f and f not in close]
        if close:
            hint = ", ".join(folded[c] for c in close[:3])
            raise NotFound(f"No author named {query!r} in this thread. Did you mean: {hint}?")
        shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
        raise NotFound(
            f"No author named {query!r} in this thread ({len(names)} authors, e.g. {shown})."
        )


def _links(
    merged: dict[tuple[int, int], int], replies: dict[int, int]
) -> dict[tuple[int, int], tuple[int, bool]]:
    """(from, to) → (quote segments, whether it is also a reply)."""
    links = {key: (count, replies.get(key[0]) == key[1]) for key, count in merged.items()}
    for frm, to in replies.items():
        links.setdefault((frm, to), (0, True))
    return links


def _relation(link: tuple[int, bool]) -> str:
    count, replied = link
    if count and replied:
        return "quotes and answers"
    return "quotes" if count else "answers"


def _chain(
    thread: _Thread, merged: dict[tuple[int, int], int], root: int, max_depth: int
) -> tuple[tuple[ChainNode, ...], bool]:
    """The path of quotes and replies that leads to `root`, then the posts quoting or
    answering it (each once, at its shallowest depth), in reading order: every post is
    followed by the posts under it, earliest first."""
    links = _links(merged, thread.replies)
    parents: dict[int, list[int]] = defaultdict(list)
    children: dict[int, list[int]] = defaultdict(list)
    for frm, to in sorted(links):
        parents[frm].append(to)
        children[to].append(frm)

    # Up: the reply parent where the source names one, else the post quoted most (latest).
    path = [root]
    seen = {root}
    truncated = False
    while True:
        options = [p for p in parents.get(path[0], ()) if p not in seen]
        if not options:
            break
        if len(path) > max_depth:
            truncated = True
            break
        answered = thread.replies.get(path[0])
        up = (
            answered
            if answered in options
            else max(options, key=lambda p: (merged.get((path[0], p), 0), p))
        )
        path.insert(0, up)
        seen.add(up)

    # Down: breadth first, so each post sits at its shallowest depth under the root.
    under: dict[int, list[int]] = defaultdict(list)
    depth_of = {root: 0}
    queue: deque[int] = deque([root])
    while queue:
        node = queue.popleft()
        kids = [c for c in children.get(node, ()) if c not in seen]
        if not kids:
            continue
        if depth_of[node] >= max_depth:
            truncated = True
            continue
        for kid in kids:
            seen.add(kid)
            depth_of[kid] = depth_of[node] + 1
            under[node].append(kid)
            queue.append(kid)

    nodes: list[ChainNode] = []
    top = len(path) - 1
    for i, number in enumerate(path):
        parent = path[i - 1] if i else None
        link = links.get((number, parent), (0, False)) if parent is not None else (0, False)
        also = ()
        if number == root:
            also = tuple(p for p in parents.get(root, ()) if p != parent)
        nodes.append(
            ChainNode(
                number,
                thread.author(number),
                i,
                parent,
                link[0],
                _relation(link) if parent is not None else "",
                number == root,
                also,
            )
        )

    def down(node: int) -> None:
        for kid in under.get(node, ()):
            link = links[(kid, node)]
            nodes.append(
                ChainNode(
                    kid, thread.author(kid), top + depth_of[kid], node, link[0], _relation(link)
                )
            )
            down(kid)

    down(root)
    return tuple(nodes), truncated


# --- public API -------------------------------------------------------------------------


def quote_chain(
    posts: Sequence[PostLike],
    edges: Sequence[QuoteEdge],
    post: int,
    *,
    max_depth: int = MAX_CHAIN_DEPTH,
) -> tuple[ChainNode, ...]:
    """The thread around `post`: what it quotes or answers, up; then the posts quoting or
    answering it, those quoting or answering them, … down (cycle-safe), in reading order."""
    thread = _Thread(posts)
    thread.check_post(post)
    return _chain(thread, _merge_edges(edges), post, max_depth)[0]


def quote_report(
    posts: Sequence[PostLike],
    edges: Sequence[QuoteEdge],
    author: str | None = None,
    post: int | None = None,
    top: int = 5,
    *,
    max_depth: int = MAX_CHAIN_DEPTH,
) -> QuoteReport:
    """Aggregate quote edges into pairs, rankings and (with `post`) the thread around it.

    Filters narrow the edges every section is computed from: `author` keeps edges with that
    author on either side (case-insensitive), `post` keeps edges touching that post. The
    chain always walks the whole thread's quotes and replies, so it is never cut by a filter.
    Rankings leave self-quotes out (quoting yourself shouldn't make you "most quoted"); the
    pairs keep them, flagged `is_self`.
    """
    if top < 0:
        raise UserError("`top` must be 0 or more.")
    thread = _Thread(posts)
    merged = _merge_edges(edges)
    notes: list[str] = []

    names: set[str] | None = None
    if author is not None:
        names = thread.resolve_author(author)
    if post is not None:
        thread.check_post(post)

    kept = {
        key: count
        for key, count in merged.items()
        if (post is None or post in key)
        and (names is None or thread.author(key[0]) in names or thread.author(key[1]) in names)
    }

    rows = tuple(
        EdgeRow(frm, to, thread.author(frm), thread.author(to), count)
        for (frm, to), count in sorted(kept.items())
    )
    reply_rows = tuple(
        EdgeRow(frm, to, thread.author(frm), thread.author(to), 1)
        for frm, to in sorted(thread.replies.items())
        if (post is None or post in (frm, to))
        and (names is None or thread.author(frm) in names or thread.author(to) in names)
    )

    pairs = _pairs(thread, rows)
    answered = _pairs(thread, reply_rows)

    others = [r for r in rows if thread.label(r.from_post) != thread.label(r.to_post)]
    post_times: dict[int, int] = defaultdict(int)
    post_quoters: dict[int, set[int]] = defaultdict(set)
    author_times: dict[str, int] = defaultdict(int)
    quoting: dict[str, int] = defaultdict(int)
    for r in others:
        post_times[r.to_post] += r.count
        post_quoters[r.to_post].add(r.from_post)
        if r.to_author:
            author_times[r.to_author] += r.count
        quoting[thread.label(r.from_post)] += r.count

    most_posts = []
    for number, times in sorted(post_times.items(), key=lambda kv: (-kv[1], kv[0]))[:top]:
        p = thread.posts.get(number)
        most_posts.append(
            QuotedPost(
                number,
                thread.author(number),
                times,
                len(post_quoters[number]),
                excerpt(_own_text(p)) if p is not None else "",
                p.url if p is not None else None,
            )
        )
    most_authors = tuple(
        AuthorCount(a, n)
        for a, n in sorted(author_times.items(), key=lambda kv: (-kv[1], label_sort_key(kv[0])))[
            :top
        ]
    )
    most_quoting = tuple(
        QuoterCount(label, n)
        for label, n in sorted(quoting.items(), key=lambda kv: (-kv[1], label_sort_key(kv[0])))[
            :top
        ]
    )

    chain: tuple[ChainNode, ...] = ()
    truncated = False
    if post is not None:
        chain, truncated = _chain(thread, merged, post, max_depth)
        if chain[-1].focus:
            notes.append(f"Nobody quoted or answered post {post}.")
        if truncated:
            notes.append(f"The thread around the post is cut at depth {max_depth}.")

    if not thread.authors_known:
        notes.append(
            "The source has no author names, so quotes are counted per post, not per person."
        )
    else:
        nameless = sum(1 for a in thread.authors.values() if a is None)
        if nameless:
            notes.append(
                f"{nameless} {'post has' if nameless == 1 else 'posts have'} no author name; "
                "each is shown as its own 'post N'."
            )
    if not merged:
        notes.append("No quotes were found in this thread.")
    elif not rows:
        notes.append("No quotes match this filter.")
    if thread.replies:
        answering = len(thread.replies)
        notes.append(
            f"{answering} {'post answers' if answering == 1 else 'posts answer'} another post;"
            " replies are counted apart from quotes (“answered”)."
        )

    resolved = None
    if names:
        resolved = min(names, key=lambda n: (n != author, n))
    return QuoteReport(
        authors_known=thread.authors_known,
        pairs=pairs,
        edges=rows,
        most_quoted_posts=tuple(most_posts),
        most_quoted_authors=most_authors,
        most_quoting=most_quoting,
        chain=chain,
        chain_truncated=truncated,
        author=resolved,
        post=post,
        notes=tuple(notes),
        members=(
            tuple(dict.fromkeys(thread.label(n) for n in sorted(thread.posts)))
            if author is None and post is None
            else ()
        ),
        replies=reply_rows,
        answered=answered,
    )


def _pairs(thread: _Thread, rows: Sequence[EdgeRow]) -> tuple[PairCount, ...]:
    """Post-level rows summed per pair of participants, busiest first."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    post_pairs: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for row in rows:
        key = (thread.label(row.from_post), thread.label(row.to_post))
        counts[key] += row.count
        post_pairs[key].append((row.from_post, row.to_post))
    return tuple(
        sorted(
            (
                PairCount(frm, to, count, tuple(post_pairs[(frm, to)]), is_self=frm == to)
                for (frm, to), count in counts.items()
            ),
            key=lambda p: (-p.count, label_sort_key(p.from_label), label_sort_key(p.to_label)),
        )
    )


def to_json(report: QuoteReport) -> dict[str, Any]:
    """A JSON-ready dict (post numbers 1-based, None where unknown) with a stable shape."""
    return {
        "authors_known": report.authors_known,
        "filters": {"author": report.author, "post": report.post},
        "notes": list(report.notes),
        "edges": [
            {
                "from_post": e.from_post,
                "to_post": e.to_post,
                "from_author": e.from_author,
                "to_author": e.to_author,
                "count": e.count,
            }
            for e in report.edges
        ],
        "pairs": [_pair_json(p) for p in report.pairs],
        "replies": [
            {
                "from_post": e.from_post,
                "to_post": e.to_post,
                "from_author": e.from_author,
                "to_author": e.to_author,
            }
            for e in report.replies
        ],
        "answered": [_pair_json(p) for p in report.answered],
        "most_quoted_posts": [
            {
                "post": q.post,
                "author": q.author,
                "times_quoted": q.times_quoted,
                "quoted_by_posts": q.quoted_by_posts,
                "excerpt": q.excerpt,
                "url": q.url,
            }
            for q in report.most_quoted_posts
        ],
        "most_quoted_authors": [
            {"author": a.author, "times_quoted": a.times_quoted} for a in report.most_quoted_authors
        ],
        "most_quoting": [
            {"label": q.label, "times_quoting": q.times_quoting} for q in report.most_quoting
        ],
        "chain": [
            {
                "post": c.post,
                "author": c.author,
                "depth": c.depth,
                "parent": c.parent,
                "relation": c.relation or None,
                "count": c.count,
                "focus": c.focus,
                "also": list(c.also),
            }
            for c in report.chain
        ],
        "chain_truncated": report.chain_truncated,
    }


def _pair_json(p: PairCount) -> dict[str, Any]:
    return {
        "from": p.from_label,
        "to": p.to_label,
        "count": p.count,
        "is_self": p.is_self,
        "post_pairs": [{"from_post": f, "to_post": t} for f, t in p.post_pairs],
    }
