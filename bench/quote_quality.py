"""How well quote inference recovers real quotes once a plain-text copy has lost the markup.

Real forum pages with explicit quote markup (Discourse JSON, XenForo 1/2 HTML, forumscraper's
XenForo 2 JSON in ../shared/fixtures) give a gold answer: which post quotes which, and which
words are quoted. We rewrite each thread the way a browser copy shows it (attribution lines
such as "X said:" and "Click to expand..." gone, quoted text inline as plain paragraphs, no
authors), run `infer_quotes` and score its edges and its quote words against the gold.

Gold semantics follow QuoteEdge: an edge points at the post whose OWN words are quoted, so a
quote of text that the quoted post itself quoted from a third page post is re-pointed there
("chained"). Quotes of posts outside the fetched pages ("external") or with no post reference
("unattributed": markdown `>` quotes of a book, author-only quotes) cannot be found; they are
reported apart, and any in-page attribution of an external quote counts as wrong.

Run: .venv/bin/python -m bench.quote_quality [--details] [--fixtures DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

from bot.core.models import (
    AnalysedPost,
    AnalysedThread,
    Block,
    PostDoc,
    QuoteEdge,
    Segment,
    ThreadDoc,
)
from bot.core.quotes import infer_quotes
from bot.core.text import word_spans

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures"
DEV = REPO / "bench" / "quote_dev"

# --- a tolerant little DOM on the stdlib parser (lxml is only a transitive dependency) -----

_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())


@dataclass(slots=True, eq=False)
class Node:
    tag: str
    attrs: dict[str, str]
    parent: Node | None = None
    children: list[Node | str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def iter(self) -> Iterator[Node]:
        """This node and every element below it, in document order."""
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def inside(self, cls: str) -> bool:
        node = self.parent
        while node is not None:
            if cls in node.classes:
                return True
            node = node.parent
        return False


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self._stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self._stack[-1])
        self._stack[-1].children.append(node)
        if tag not in _VOID:
            self._stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self._stack[-1])
        self._stack[-1].children.append(node)

    def handle_endtag(self, tag: str) -> None:
        # Pop to the matching open tag; a stray end tag (common in saved pages) is ignored.
        for depth in range(len(self._stack) - 1, 0, -1):
            if self._stack[depth].tag == tag:
                del self._stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self._stack[-1].children.append(data)


def parse_html(html: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


# --- rendering a post body the way a plain-text copy shows it ----------------------------


@dataclass(frozen=True, slots=True)
class QuoteRef:
    """What the markup says a quote is of. `post` None means no post reference at all."""

    author: str | None = None
    post: str | None = None
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class Line:
    """One paragraph (line) of the plain-text copy; `quote` None means the poster's own."""

    text: str
    quote: QuoteRef | None = None


_BLOCK = frozenset(
    "address article aside blockquote dd details div dl dt fieldset figcaption figure footer "
    "form h1 h2 h3 h4 h5 h6 header hr legend li main nav ol p pre section summary table tbody "
    "td th thead tr ul".split()
)
_SKIP_TAGS = frozenset("script style svg noscript img button template iframe head".split())
_SKIP_CLASSES = frozenset(
    [
        "title",  # Discourse quote header "NAME:" (only inside aside.quote, see _skipped)
        "quote-controls",
        "attribution",  # XF1 "NAME said: ↑"
        "quoteExpand",  # XF1 "Click to expand..."
        "bbCodeBlock-title",  # XF2 "NAME said:"
        "bbCodeBlock-expandLink",  # XF2 "Click to expand..."
        "meta",  # Discourse image lightbox caption (file name, size)
        "onebox",  # Discourse link preview
        "bbCodeBlock--unfurl",  # XF2 link preview
        "messageTextEndMarker",
    ]
)
_CONTAINER = QuoteRef(author="\x00container")
_XF1_POST = re.compile(r"[?&]id=(\d+)|#post-(\d+)")
_XF2_POST = re.compile(r"post:\s*(\d+)")


def _skipped(node: Node) -> bool:
    if node.tag in _SKIP_TAGS:
        return True
    hit = node.classes & _SKIP_CLASSES
    if hit == {"title"}:
        return node.parent is not None and "quote" in node.parent.classes
    return bool(hit)


def _quote_ref(node: Node) -> QuoteRef | None:
    """The quote this element opens, _CONTAINER for a quote's inner box, else None."""
    cls = node.classes
    parent_cls = node.parent.classes if node.parent is not None else set()
    if node.tag == "aside" and "quote" in cls:  # Discourse
        a = node.attrs
        return QuoteRef(a.get("data-username") or None, a.get("data-post"), a.get("data-topic"))
    if "bbCodeQuote" in cls:  # XF1: the post id is only in the attribution link
        post = None
        for sub in node.iter():
            if "AttributionLink" in sub.classes and (m := _XF1_POST.search(sub.attrs["href"])):
                post = m.group(1) or m.group(2)
                break
        return QuoteRef(node.attrs.get("data-author") or None, post)
    if "bbCodeBlock--quote" in cls:  # XF2
        m = _XF2_POST.search(node.attrs.get("data-source", ""))
        return QuoteRef(node.attrs.get("data-quote") or None, m.group(1) if m else None)
    if node.tag == "blockquote":
        if "quoteContainer" in cls or "messageText" in cls:
            return _CONTAINER
        if node.parent is not None and node.parent.tag == "aside" and "quote" in parent_cls:
            return _CONTAINER
        return QuoteRef()  # a bare markdown `>` quote: quoted, source unknown
    return None


class _Renderer:
    def __init__(self) -> None:
        self.lines: list[Line] = []
        self._buf: list[str] = []
        self._quotes: list[QuoteRef] = []

    def flush(self) -> None:
        text = " ".join("".join(self._buf).split())
        self._buf.clear()
        if text:
            self.lines.append(Line(text, self._quotes[-1] if self._quotes else None))

    def walk(self, node: Node) -> None:
        for child in node.children:
            if isinstance(child, str):
                self._buf.append(child)
                continue
            if _skipped(child):
                continue
            if child.tag == "br":
                self.flush()
                continue
            ref = _quote_ref(child)
            opened = ref if ref is not _CONTAINER else None
            block = child.tag in _BLOCK or ref is not None
            if block:
                self.flush()
            if opened is not None:
                self._quotes.append(opened)
            if child.tag == "pre":
                for raw in child.text().split("\n"):
                    self._buf.append(raw)
                    self.flush()
            else:
                self.walk(child)
            if block:
                self.flush()
            if opened is not None:
                self._quotes.pop()


def render(node: Node) -> list[Line]:
    """Paragraph lines of a post body, each marked with the innermost quote it lies in."""
    renderer = _Renderer()
    renderer.walk(node)
    renderer.flush()
    return renderer.lines


# --- source threads from the fixture formats ---------------------------------------------


@dataclass(frozen=True, slots=True)
class SourcePost:
    key: str  # what quotes of this post name: Discourse post_number, XenForo post id
    lines: tuple[Line, ...]
    reply_to: str | None = None  # the key of the post this one answers, where the source says


@dataclass(frozen=True, slots=True)
class SourceThread:
    name: str
    posts: tuple[SourcePost, ...]  # thread order
    topic: str | None = None  # Discourse topic id: quotes naming another topic are external


def threads_from_discourse(data: dict[str, Any], name: str = "discourse") -> list[SourceThread]:
    """Topic view, /posts.json (either order) or site-wide latest_posts, grouped by topic."""
    raw = data.get("latest_posts") or (data.get("post_stream") or {}).get("posts") or []
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for post in raw:
        by_topic.setdefault(str(post.get("topic_id", data.get("id", ""))), []).append(post)
    threads = []
    for topic, posts in sorted(by_topic.items()):
        posts.sort(key=lambda p: int(p["post_number"]))
        built = tuple(
            SourcePost(
                str(p["post_number"]),
                tuple(render(parse_html(p.get("cooked") or ""))),
                str(p["reply_to_post_number"]) if p.get("reply_to_post_number") else None,
            )
            for p in posts
        )
        threads.append(SourceThread(f"{name} t{topic}" if topic else name, built, topic or None))
    return threads


def threads_from_xenforo_page(html: str, name: str = "xenforo") -> list[SourceThread]:
    """XF1 (li#post-N .messageText) or XF2 (#js-post-N .bbWrapper) saved thread page."""
    root = parse_html(html)
    posts: list[SourcePost] = []
    for node in root.iter():
        ident = node.attrs.get("id", "")
        if node.tag == "li" and re.fullmatch(r"post-\d+", ident) and "message" in node.classes:
            want = "messageText"
        elif re.fullmatch(r"js-post-\d+", ident):
            want = "bbWrapper"
        else:
            continue
        body = next(
            (
                n
                for n in node.iter()
                if want in n.classes
                and "signature" not in n.classes
                and not n.inside("message-signature")
            ),
            None,
        )
        if body is not None:
            posts.append(SourcePost(ident.rsplit("-", 1)[1], tuple(render(body))))
    return [SourceThread(name, tuple(posts))] if posts else []


def threads_from_forumscraper(
    data: dict[str, Any], name: str = "forumscraper"
) -> list[SourceThread]:
    """forumscraper's XenForo 2 JSON: each post's `text` is the XF2 post-body HTML."""
    posts = [
        SourcePost(str(p["id"]), tuple(render(parse_html(p.get("text") or ""))))
        for p in data.get("posts", [])
    ]
    return [SourceThread(name, tuple(posts))] if posts else []


_DEV_POST = re.compile(r"^== (\S+) (\S+)(?: > (\S+))?$")
_DEV_QUOTE = re.compile(r"^\[quote(?:=(\S+))?\]$")


def threads_from_dev(text: str, name: str = "dev") -> list[SourceThread]:
    """A dev thread of bench/quote_dev: "== ID AUTHOR [> REPLY_TO]" starts a post, each
    line is a paragraph, and BBCode quote blocks ([quote=ID], [quote=x] for a post not on
    the page, bare [quote] for no post) hold one quoted paragraph per line."""
    posts: list[SourcePost] = []
    key: str | None = None
    reply: str | None = None
    lines: list[Line] = []
    quote: QuoteRef | None = None

    def close() -> None:
        if key is not None:
            posts.append(SourcePost(key, tuple(lines), reply))

    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if m := _DEV_POST.match(line):
            close()
            key, reply, lines, quote = m.group(1), m.group(3), [], None
        elif m := _DEV_QUOTE.match(line):
            quote = QuoteRef(post=m.group(1))
        elif line == "[/quote]":
            quote = None
        elif key is not None:
            lines.append(Line(line, quote))
    close()
    return [SourceThread(name, tuple(posts))] if posts else []


def load_fixture(path: Path) -> list[SourceThread]:
    """Threads of one fixture file, [] when the file is not a format this bench reads."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".txt":
        return threads_from_dev(text, path.stem)
    if path.suffix == ".json":
        data = json.loads(text)
        if not isinstance(data, dict):
            return []
        if "latest_posts" in data or "post_stream" in data:
            return threads_from_discourse(data, path.stem)
        if str(data.get("format_version", "")).startswith("xenforo"):
            return threads_from_forumscraper(data, path.stem)
        return []
    if path.suffix in (".html", ".htm") and ('id="XenForo"' in text or 'id="XF"' in text):
        return threads_from_xenforo_page(text, path.stem)
    return []


def fixture_files(root: Path) -> list[Path]:
    found = [
        *sorted((root / "discourse").glob("*.json")),
        *sorted((root / "xenforo").glob("*.html")),
        *sorted((root / "other").glob("forumscraper-json_*.json")),
    ]
    return [p for p in found if p.is_file()]


# --- gold labels ------------------------------------------------------------------------

Category = Literal["own", "resolved", "external", "unattributed"]


@dataclass(frozen=True, slots=True)
class GoldLine:
    category: Category
    source: int | None = None  # 1-based post position, for "resolved"
    chained: bool = False  # re-pointed through the quoted post's own quote
    findable: bool = True  # the words really are in the source post's text


def _grams(words: Sequence[str], size: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


def _cover(needle: str, hay: str) -> float:
    """Share of `needle`'s word 4-grams (all its words, if fewer) that occur in `hay`."""
    words = [w for w, _, _ in word_spans(needle)]
    if not words:
        return 0.0
    size = min(4, len(words))
    grams = _grams(words, size)
    return len(grams & _grams([w for w, _, _ in word_spans(hay)], size)) / len(grams)


def gold_lines(thread: SourceThread) -> list[list[GoldLine]]:
    """Per post, per line: own or quoted, and the 1-based post whose own words it quotes."""
    position = {p.key: i for i, p in enumerate(thread.posts, start=1)}
    gold: list[list[GoldLine]] = []
    for number, post in enumerate(thread.posts, start=1):
        labels: list[GoldLine] = []
        for line in post.lines:
            ref = line.quote
            if ref is None:
                labels.append(GoldLine("own"))
                continue
            if ref.post is None:
                labels.append(GoldLine("unattributed"))
                continue
            other_topic = thread.topic and ref.topic and ref.topic != thread.topic
            src = None if other_topic else position.get(ref.post)
            if src is None or src >= number:
                labels.append(GoldLine("external"))
                continue
            labels.append(_chain(line.text, src, thread, gold))
        gold.append(labels)
    return gold


def _chain(text: str, src: int, thread: SourceThread, gold: list[list[GoldLine]]) -> GoldLine:
    """Follow a quote into the quoted post: if its words are that post's quote of an earlier
    page post, the edge belongs to that post (QuoteEdge: whose OWN words are quoted)."""
    source_lines = thread.posts[src - 1].lines
    cover = [_cover(text, ln.text) for ln in source_lines]
    whole = _cover(text, " ".join(ln.text for ln in source_lines))
    if cover:
        best = max(range(len(cover)), key=cover.__getitem__)
        inner = gold[src - 1][best]
        if cover[best] > 0.5 and inner.category == "resolved":
            return GoldLine("resolved", inner.source, chained=True, findable=inner.findable)
    return GoldLine("resolved", src, findable=whole >= 0.5)


# --- running the inference on the plain-text copy and scoring it -------------------------


def plain_doc(thread: SourceThread, structure: bool = False) -> ThreadDoc:
    """What a browser copy gives the plain-text reader: paragraphs, no markup, no authors.
    With `structure`, each post also says which post it answers, as an API source would."""
    posts = tuple(
        PostDoc(
            blocks=tuple(Block(ln.text) for ln in p.lines),
            source_id=p.key if structure else None,
            reply_to_source_id=p.reply_to if structure else None,
        )
        for p in thread.posts
    )
    return ThreadDoc(title=thread.name, posts=posts, source_kind="text")


VERBATIM = 0.9
"""Share of a quote's word 4-grams found in a post's own lines that makes it a verbatim copy."""

Label = tuple[str, int | None]  # ("own", None) or ("quote", source post)


def predicted_words(analysed: AnalysedThread, thread: SourceThread) -> list[list[list[Label]]]:
    """Per post, per line, per word: the inferred kind and source."""
    out: list[list[list[Label]]] = []
    for post, src in zip(analysed.posts, thread.posts, strict=True):
        per_line: list[list[Label]] = []
        for index, line in enumerate(src.lines):
            spans = word_spans(line.text)
            labels: list[Label] = [("own", None)] * len(spans)
            cursor = 0
            for seg in (s for s in post.segments if s.paragraph == index):
                at = line.text.find(seg.text, cursor)
                if at < 0:
                    continue
                stop = at + len(seg.text)
                for w, (_, start, _) in enumerate(spans):
                    if at <= start < stop:
                        labels[w] = (seg.kind, seg.source_post)
                cursor = stop
            per_line.append(labels)
        out.append(per_line)
    return out


@dataclass(slots=True)
class Score:
    """Counts summed over threads; the ratios are computed from them at print time."""

    threads: int = 0
    posts: int = 0
    gold_edges: int = 0
    pred_edges: int = 0
    edge_tp: int = 0
    fp_own: int = 0  # edge carried by the poster's own words
    fp_src: int = 0  # a gold quote, attributed to the wrong page post
    fp_ext: int = 0  # an external quote attributed to a page post
    fp_unatt: int = 0  # an unattributed quote (markdown `>`) attributed to a page post
    fp_verbatim: int = 0  # wrong by the markup, yet the words are verbatim that post's own
    fn_unfindable: int = 0  # missed gold edges whose quote text is not in the source post
    chained_lines: int = 0
    res_words: int = 0  # gold quote words whose source is a page post
    res_found: int = 0  # ... labelled quote
    res_src_ok: int = 0  # ... labelled quote of the right post
    unf_words: int = 0  # gold quote words that cannot be found (external, unattributed)
    unf_found: int = 0
    pred_quote_words: int = 0
    pred_quote_ok: int = 0  # predicted quote words that are gold quote words of any kind
    ext_lines: int = 0
    ext_wrong: int = 0  # external quote lines attributed to a page post
    ext_wrong_copy: int = 0  # ... to a page post that itself holds the words as a quote
    unatt_lines: int = 0
    unatt_attributed: int = 0

    def add(self, other: Score) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass(slots=True)
class Result:
    score: Score
    details: list[str]


def _ratio(num: int, den: int) -> str:
    return f"{num / den:.2f}" if den else "-"


def _snippet(text: str, width: int = 90) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _without_dangling_replies(thread: SourceThread) -> SourceThread:
    keys = {p.key for p in thread.posts}
    posts = tuple(
        p if p.reply_to is None or p.reply_to in keys else SourcePost(p.key, p.lines)
        for p in thread.posts
    )
    return SourceThread(thread.name, posts, thread.topic)


BASELINE_GRAM = 8
"""The naive baseline's n-gram size (words)."""


def baseline_words(thread: SourceThread, size: int = BASELINE_GRAM) -> list[list[list[Label]]]:
    """The naive baseline: a word is quoted when it lies inside a word `size`-gram that
    appeared anywhere in an earlier post (quoted there or not); its source is the earliest
    post holding any such n-gram around the word. Lines of a post are one word sequence."""
    first_seen: dict[tuple[str, ...], int] = {}
    out: list[list[list[Label]]] = []
    for number, post in enumerate(thread.posts, start=1):
        lengths = []
        words: list[str] = []
        for line in post.lines:
            line_words = [w for w, _, _ in word_spans(line.text)]
            lengths.append(len(line_words))
            words.extend(line_words)
        labels: list[Label] = [("own", None)] * len(words)
        grams = [tuple(words[i : i + size]) for i in range(len(words) - size + 1)]
        for i, gram in enumerate(grams):
            source = first_seen.get(gram)
            if source is None:
                continue
            for w in range(i, i + size):
                current = labels[w][1]
                if current is None or source < current:
                    labels[w] = ("quote", source)
        for gram in grams:
            first_seen.setdefault(gram, number)
        per_line: list[list[Label]] = []
        cursor = 0
        for n in lengths:
            per_line.append(labels[cursor : cursor + n])
            cursor += n
        out.append(per_line)
    return out


Method = Literal["threadwise", "baseline", "structure"]
"""structure: threadwise, told which post each post answers (where the source says)."""


def evaluate(thread: SourceThread, method: Method = "threadwise") -> Result:
    """Infer quotes on the plain copy of `thread` and score against the markup's answer."""
    kept = SourceThread(thread.name, tuple(p for p in thread.posts if p.lines), thread.topic)
    kept = _without_dangling_replies(kept)
    gold = gold_lines(kept)
    if method == "baseline":
        pred = baseline_words(kept)
        analysed = _labels_as_thread(pred, kept)
    else:
        analysed = infer_quotes(plain_doc(kept, structure=method == "structure"))
        pred = predicted_words(analysed, kept)
    s = Score(threads=1, posts=len(kept.posts))
    details: list[str] = []

    gold_edges = {
        (a, g.source) for a, post in enumerate(gold, 1) for g in post if g.category == "resolved"
    }
    pred_edges = {(e.from_post, e.to_post) for e in analysed.edges}
    s.gold_edges, s.pred_edges = len(gold_edges), len(pred_edges)
    s.edge_tp = len(gold_edges & pred_edges)

    for a, (g_post, p_post) in enumerate(zip(gold, pred, strict=True), 1):
        for i, (g, labels) in enumerate(zip(g_post, p_post, strict=True)):
            quoted = [lab for lab in labels if lab[0] == "quote"]
            s.pred_quote_words += len(quoted)
            if g.category != "own":
                s.pred_quote_ok += len(quoted)
            if g.category == "resolved":
                s.chained_lines += g.chained
                s.res_words += len(labels)
                s.res_found += len(quoted)
                s.res_src_ok += sum(1 for lab in quoted if lab[1] == g.source)
            elif g.category in ("external", "unattributed"):
                s.unf_words += len(labels)
                s.unf_found += len(quoted)
            if g.category == "external":
                s.ext_lines += 1
                if quoted:
                    s.ext_wrong += 1
                    src = Counter(lab[1] for lab in quoted).most_common(1)[0][0]
                    copy = src is not None and any(
                        ln.quote is not None
                        and _cover(kept.posts[a - 1].lines[i].text, ln.text) > 0.5
                        for ln in kept.posts[src - 1].lines
                    )
                    s.ext_wrong_copy += copy
                    details.append(
                        f"  EXT→{src}{' (copy)' if copy else ''}: post {a} "
                        f"[{kept.posts[a - 1].key}] line {i}: "
                        f"{_snippet(kept.posts[a - 1].lines[i].text)}"
                    )
            elif g.category == "unattributed":
                s.unatt_lines += 1
                s.unatt_attributed += bool(quoted)

    for a, b in sorted(pred_edges - gold_edges):
        kinds: Counter[str] = Counter()
        where: list[str] = []
        for i, (g, labels) in enumerate(zip(gold[a - 1], pred[a - 1], strict=True)):
            n = sum(1 for lab in labels if lab == ("quote", b))
            if n:
                kind = "src" if g.category == "resolved" else g.category
                kinds[kind] += n
                gold_src = f" gold→{g.source}" if g.category == "resolved" else ""
                where.append(
                    f"line {i} {g.category}{gold_src}: {_snippet(kept.posts[a - 1].lines[i].text)}"
                )
        kind = kinds.most_common(1)[0][0] if kinds else "own"
        if kind == "own":
            s.fp_own += 1
        elif kind == "src":
            s.fp_src += 1
        elif kind == "external":
            s.fp_ext += 1
        else:
            s.fp_unatt += 1
        quoted_text = " ".join(
            seg.text
            for seg in analysed.posts[a - 1].segments
            if seg.kind == "quote" and seg.source_post == b
        )
        own_b = " ".join(
            ln.text
            for ln, g in zip(kept.posts[b - 1].lines, gold[b - 1], strict=True)
            if g.category == "own"
        )
        verbatim = _cover(quoted_text, own_b) >= VERBATIM
        s.fp_verbatim += verbatim
        details.append(
            f"  FP {a}→{b} ({kind}{', verbatim' if verbatim else ''}) "
            f"[{kept.posts[a - 1].key}→{kept.posts[b - 1].key}]"
        )
        details.extend(f"      {w}" for w in where)

    for a, b in sorted(gold_edges - pred_edges):
        lines = [
            (i, kept.posts[a - 1].lines[i].text, g)
            for i, g in enumerate(gold[a - 1])
            if g.category == "resolved" and g.source == b
        ]
        unfindable = all(not g.findable for _, _, g in lines)
        s.fn_unfindable += unfindable
        tag = " (quote text not in source)" if unfindable else ""
        details.append(f"  FN {a}→{b}{tag} [{kept.posts[a - 1].key}→{kept.posts[b - 1].key}]")
        for i, text, _ in lines:
            got = Counter(pred[a - 1][i]).most_common(1)[0][0] if pred[a - 1][i] else None
            details.append(f"      line {i} got {got}: {_snippet(text)}")
    return Result(s, details)


def _labels_as_thread(pred: list[list[list[Label]]], thread: SourceThread) -> AnalysedThread:
    """Word labels as an analysed thread (quote segments per line and source), so the
    baseline's edges are scored like inference's."""
    posts = []
    edges: Counter[tuple[int, int]] = Counter()
    for number, (labels, src) in enumerate(zip(pred, thread.posts, strict=True), start=1):
        segments = []
        for index, (line_labels, line) in enumerate(zip(labels, src.lines, strict=True)):
            sources = sorted({lab[1] for lab in line_labels if lab[0] == "quote" and lab[1]})
            for source in sources:
                edges[(number, source)] += 1
            segments.append(Segment("own", line.text, index))
        posts.append(AnalysedPost(number, "", tuple(segments)))
    return AnalysedThread(
        title=thread.name,
        source_kind="text",
        posts=tuple(posts),
        edges=tuple(QuoteEdge(a, b, n) for (a, b), n in sorted(edges.items())),
    )


# --- the report -------------------------------------------------------------------------

_EDGE_HEAD = (
    "file",
    "thr",
    "posts",
    "gold",
    "pred",
    "TP",
    "P",
    "P verb",
    "R",
    "FP own/src/ext/unatt",
    "FN unfindable/all",
)
_SPAN_HEAD = (
    "file",
    "res words",
    "P",
    "R",
    "src ok",
    "chained",
    "ext+unatt words",
    "found",
    "ext lines wrong",
    "unatt attributed",
)


def edge_row(name: str, s: Score) -> tuple[str, ...]:
    fn = s.gold_edges - s.edge_tp
    return (
        name,
        str(s.threads),
        str(s.posts),
        str(s.gold_edges),
        str(s.pred_edges),
        str(s.edge_tp),
        _ratio(s.edge_tp, s.pred_edges),
        _ratio(s.edge_tp + s.fp_verbatim, s.pred_edges),
        _ratio(s.edge_tp, s.gold_edges),
        f"{s.fp_own}/{s.fp_src}/{s.fp_ext}/{s.fp_unatt}",
        f"{s.fn_unfindable}/{fn}",
    )


def span_row(name: str, s: Score) -> tuple[str, ...]:
    return (
        name,
        str(s.res_words),
        _ratio(s.pred_quote_ok, s.pred_quote_words),
        _ratio(s.res_found, s.res_words),
        _ratio(s.res_src_ok, s.res_found),
        str(s.chained_lines),
        str(s.unf_words),
        str(s.unf_found),
        f"{s.ext_wrong}/{s.ext_lines} ({s.ext_wrong_copy} copy)",
        f"{s.unatt_attributed}/{s.unatt_lines}",
    )


def table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def fmt(row: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(head), rule, *(fmt(r) for r in rows[:-1]), rule, fmt(rows[-1])])


def short_name(stem: str) -> str:
    return stem.replace("criticalfallibilism_", "cf_").replace("forumscraper-json_", "fs_")[:40]


def word_figures(s: Score) -> tuple[float, float, float, float]:
    """Word-level precision, recall, F1 and attribution (right source among found words),
    as the blind set reports them."""
    p = s.pred_quote_ok / s.pred_quote_words if s.pred_quote_words else 0.0
    r = s.res_found / s.res_words if s.res_words else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    attribution = s.res_src_ok / s.res_found if s.res_found else 0.0
    return p, r, f1, attribution


_VERSUS_HEAD = ("method", "quote words", "P", "R", "F1", "attribution", "edge P", "edge R")


def versus_row(name: str, s: Score) -> tuple[str, ...]:
    p, r, f1, attribution = word_figures(s)
    return (
        name,
        str(s.pred_quote_words),
        f"{p:.3f}",
        f"{r:.3f}",
        f"{f1:.3f}",
        f"{attribution:.4f}",
        _ratio(s.edge_tp, s.pred_edges),
        _ratio(s.edge_tp, s.gold_edges),
    )


def score_files(
    files: Sequence[Path], method: Method, details: bool = False
) -> list[tuple[str, Score]]:
    """Per-file scores plus a final ("TOTAL", sum) row."""
    total = Score()
    rows: list[tuple[str, Score]] = []
    for path in files:
        score = Score()
        for thread in load_fixture(path):
            result = evaluate(thread, method)
            score.add(result.score)
            if details and result.details:
                print(f"{thread.name}:")
                print("\n".join(result.details))
        if score.threads:
            rows.append((short_name(path.stem), score))
            total.add(score)
    rows.append(("TOTAL", total))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--fixtures", type=Path, default=FIXTURES, help="fixtures folder")
    parser.add_argument("--dev", type=Path, default=DEV, help="own dev threads folder")
    parser.add_argument("--details", action="store_true", help="list every FP/FN edge")
    parser.add_argument(
        "--method",
        choices=("threadwise", "baseline", "structure"),
        default="threadwise",
        help="whose details and per-file tables to print",
    )
    args = parser.parse_args(argv)
    files = fixture_files(args.fixtures) if args.fixtures.is_dir() else []
    dev_files = sorted(args.dev.glob("*.txt")) if args.dev.is_dir() else []
    if not files and not dev_files:
        print(f"no fixtures at {args.fixtures}: the shared folder is not next to the repo; skipped")
        return 0
    for label, group in (("fixtures", files), ("own dev threads", dev_files)):
        if not group:
            print(f"\n{label}: none found")
            continue
        rows = score_files(group, args.method, args.details)
        print(f"\n=== {label} ({args.method}) ===")
        print("Edges (quoting post → post whose own words are quoted), page posts only")
        print(table(_EDGE_HEAD, [edge_row(n, s) for n, s in rows]))
        print("\nQuoted words (word level; P: any gold quote word counts; R, src ok: page posts)")
        print(table(_SPAN_HEAD, [span_row(n, s) for n, s in rows]))
        versus = [
            (method, score_files(group, method)[-1][1])
            for method in ("threadwise", "structure", "baseline")
        ]
        print(f"\n{label}: threadwise against the {BASELINE_GRAM}-gram baseline, word level")
        print(table(_VERSUS_HEAD, [versus_row(n, s) for n, s in versus]))
    print(
        "\nP/R: precision/recall. FP own/src/ext/unatt: wrong edges carried by own words / "
        "by a gold quote of another page post / by an external quote / by an unattributed quote."
        "\nP verb: precision counting as right the wrong-by-markup edges whose quoted words are"
        " verbatim the target post's own words (bare `>` quotes, inline quotations, repeats)."
        "\nFN unfindable: missed edges whose quote text is not in the source post (edited)."
        "\nsrc ok: share of found findable quote words attributed to the right post. chained: "
        "quote lines re-pointed to the post whose own words they are."
        "\next lines wrong: quote lines of posts outside the page set attributed to a page post "
        "(copy: that post itself quoted the same words)."
        "\nWord level: P = predicted quote words inside any marked quote; R = words of quotes"
        " of page posts found; attribution = share of those found with the right source post."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
