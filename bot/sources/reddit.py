"""Reddit comment pages through Reddit's `.json` views.

`/r/sub/comments/ID/slug/.json` answers `[submission Listing, comment Listing]`; comments nest
through `replies`. Collapsed branches are `kind: "more"` stubs: those that list children are
expanded with `/api/morechildren.json` (a FLAT list, re-attached by parent_id), the "continue
this thread" ones (no children, count 0) by fetching the parent comment's own page. Every
request counts against ReadOptions.max_pages; what is left is reported in a note.

The submission is post 1 (title + selftext); comments follow in display order (depth-first).
Source ids are Reddit fullnames ("t3_…", "t1_…") so `parent_id` is the reply target as is.
Reddit has no quote attribution, but a "> " line almost always quotes the parent, so quoted
lines are explicit quotes of the parent. Parsing is pure; only `RedditReader.read` fetches.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from bot.core.models import Block, PostDoc, ThreadDoc
from bot.errors import SourceError
from bot.sources import decode, sniff
from bot.sources.base import PageFetcher, ReadOptions, match_web_path

MORE_PER_REQUEST = 100
"""Reddit's limit on children per /api/morechildren call."""
REDDIT_HOSTS = ("reddit.com", "www.reddit.com", "old.reddit.com", "np.reddit.com")
REDDIT_HOSTS += ("new.reddit.com", "m.reddit.com", "i.reddit.com")
CANONICAL_ORIGIN = "https://www.reddit.com"
DELETED_BODIES = frozenset({"[deleted]", "[removed]"})

_PATH = re.compile(
    r"^(?:/r/(?P<sub>[A-Za-z0-9_]{1,64}))?/comments/(?P<id>[a-z0-9]{1,13})"
    r"(?:/(?P<slug>[^/]*)(?:/(?P<comment>[a-z0-9]{1,13}))?)?/?(?:\.json)?/?$"
)
_QUOTE = re.compile(r"^\s{0,3}(?:>|&gt;)\s?")
_LINK = re.compile(r"\[([^\]\n]{1,500})\]\((?:[^()\s]|\([^()\s]*\))+(?:\s+\"[^\"]*\")?\)")
_EMPHASIS = re.compile(r"\*\*|__|~~|(?<!\w)\*(?=\S)|(?<=\S)\*(?!\w)|(?<!\w)\^(?=\S)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_RULE = re.compile(r"^\s{0,3}(?:[-*_]\s*){3,}$")
_TABLE_RULE = re.compile(r"^[\s|:-]*-[\s|:-]*$")
_ZERO_WIDTH = re.compile(r"[\u200b\u200c\u200d\ufeff]|&#x200[bB];|&nbsp;")


@dataclass(frozen=True, slots=True)
class RedditUrl:
    origin: str
    """scheme://host to fetch from (tests serve Reddit's paths on 127.0.0.1)."""
    link_id: str
    """The submission id without "t3_"."""
    subreddit: str | None = None
    slug: str | None = None

    @property
    def path(self) -> str:
        sub = f"/r/{self.subreddit}" if self.subreddit else ""
        slug = f"/{self.slug}" if self.slug else ""
        return f"{sub}/comments/{self.link_id}{slug}"

    @property
    def json_url(self) -> str:
        return f"{self.origin}{self.path}.json?raw_json=1&limit=500"


def parse_reddit_url(url: str) -> RedditUrl | None:
    """A submission or comment permalink (www/old/np.reddit.com or any origin), else None."""
    found = match_web_path(url, _PATH)
    if found is None:
        return None
    parts, match = found
    host = (parts.hostname or "").lower()
    origin = CANONICAL_ORIGIN if host in REDDIT_HOSTS else f"{parts.scheme}://{parts.netloc}"
    return RedditUrl(
        origin=origin,
        link_id=match.group("id"),
        subreddit=match.group("sub"),
        slug=(match.group("slug") or "").removesuffix(".json") or None,
    )


# --- the comment tree ---------------------------------------------------------------------


@dataclass(slots=True)
class Comment:
    data: dict[str, Any]
    replies: list[Comment | More] = field(default_factory=list)

    @property
    def fullname(self) -> str:
        return f"t1_{self.data['id']}"


@dataclass(slots=True)
class More:
    """A collapsed branch: `children` ids to ask morechildren for, or none ("continue")."""

    parent_id: str
    children: list[str]
    count: int = 0


Node = Comment | More


@dataclass(slots=True)
class Listing:
    submission: dict[str, Any]
    comments: list[Node]


def parse_listing(data: Any) -> Listing:
    """`[t3 Listing, t1 Listing]` → the submission and the comment tree with its stubs."""
    try:
        return _parse_listing(data)
    except RecursionError as exc:
        raise SourceError("the Reddit answer is nested too deeply to read") from exc


def _parse_listing(data: Any) -> Listing:
    if isinstance(data, dict) and "error" in data and "kind" not in data:
        raise SourceError(f"Reddit answered with an error: {str(data.get('message'))[:200]}")
    if not isinstance(data, list) or len(data) != 2:
        raise SourceError("not a Reddit comment page: expected [submission, comments] listings")
    posts = _children(data[0])
    if not posts or posts[0].get("kind") != "t3":
        raise SourceError("not a Reddit comment page: the first listing holds no submission")
    submission = _data(posts[0])
    if not isinstance(submission.get("id"), str) or not submission["id"]:
        raise SourceError("the Reddit submission has no id")
    return Listing(submission=submission, comments=parse_things(_children(data[1])))


def parse_things(things: list[dict[str, Any]]) -> list[Node]:
    """Nested `t1`/`more` things → nodes (unknown kinds are skipped)."""
    nodes: list[Node] = []
    for thing in things:
        node = _node(thing)
        if node is not None:
            nodes.append(node)
    return nodes


def _node(thing: dict[str, Any]) -> Node | None:
    kind = thing.get("kind")
    if kind == "more":
        data = _data(thing)
        children = data.get("children", [])
        if not isinstance(children, list) or not all(isinstance(c, str) for c in children):
            raise SourceError("a Reddit 'more' stub has a bad children list")
        parent = data.get("parent_id")
        count = data.get("count")
        return More(
            parent_id=parent if isinstance(parent, str) else "",
            children=[c for c in children if c and c != "_"],
            count=count if isinstance(count, int) and not isinstance(count, bool) else 0,
        )
    if kind != "t1":
        return None
    data = _data(thing)
    if not isinstance(data.get("id"), str) or not data["id"]:
        raise SourceError("a Reddit comment has no id")
    replies = data.get("replies")
    nested = parse_things(_children(replies)) if isinstance(replies, dict) else []
    return Comment(data=data, replies=nested)


def parse_more_children(data: Any) -> list[dict[str, Any]]:
    """A morechildren answer → its flat list of things (each with a parent_id)."""
    if not isinstance(data, dict) or not isinstance(data.get("json"), dict):
        raise SourceError("not a Reddit morechildren answer")
    answer = data["json"]
    errors = answer.get("errors")
    if isinstance(errors, list) and errors:
        raise SourceError(f"Reddit refused to load more comments: {str(errors[0])[:200]}")
    inner = answer.get("data", {})
    things = inner.get("things", []) if isinstance(inner, dict) else None
    if not isinstance(things, list) or not all(isinstance(t, dict) for t in things):
        raise SourceError("a Reddit morechildren answer has no list of things")
    for thing in things:
        _data(thing)
    return things


def attach_flat(stub: More, things: list[dict[str, Any]], known: set[str]) -> list[Node]:
    """Re-nest a flat morechildren list: what hangs off the stub's parent replaces the stub.

    Things whose parent is another new comment nest under it; the rest (parent unseen)
    also replace the stub, so no comment is lost. Comments already in the tree are dropped.
    """
    placed: list[Node] = []
    by_name: dict[str, Comment] = {}
    for thing in things:
        node = _node({**thing, "data": {**_data(thing), "replies": ""}})
        if node is None:
            continue
        parent = node.parent_id if isinstance(node, More) else node.data.get("parent_id")
        if isinstance(node, Comment):
            if node.fullname in known or node.fullname in by_name:
                continue
            by_name[node.fullname] = node
        home = by_name.get(parent) if isinstance(parent, str) else None
        if home is not None and home is not node:
            home.replies.append(node)
        else:
            placed.append(node)
    return placed


def walk(nodes: list[Node]) -> Iterator[Comment]:
    """Comments in display order: each one, then its replies (depth-first)."""
    stack: list[Node] = list(reversed(nodes))
    while stack:
        node = stack.pop()
        if isinstance(node, Comment):
            yield node
            stack.extend(reversed(node.replies))


def first_stub(nodes: list[Node]) -> tuple[list[Node], int] | None:
    """The first stub in display order, as (the list holding it, its index)."""
    pending: list[tuple[list[Node], int]] = [(nodes, 0)]
    while pending:
        holder, start = pending.pop()
        for i in range(start, len(holder)):
            node = holder[i]
            if isinstance(node, More):
                return holder, i
            if node.replies:
                pending.append((holder, i + 1))
                pending.append((node.replies, 0))
                break
    return None


def count_stubbed(nodes: list[Node]) -> int:
    """Comments still hidden behind stubs (Reddit's own count, or the children listed)."""
    total = 0
    stack: list[Node] = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, More):
            total += max(node.count, len(node.children))
        else:
            stack.extend(node.replies)
    return total


# --- Listing → ThreadDoc --------------------------------------------------------------------


def thread_doc(
    listing: Listing, origin: str = CANONICAL_ORIGIN, notes: tuple[str, ...] = ()
) -> ThreadDoc:
    """The submission as post 1, then every loaded comment in display order."""
    sub = listing.submission
    title = _text(sub.get("title")) or "Untitled Reddit post"
    permalink = _permalink(sub, origin)
    posts = [_submission_post(sub, title, permalink)]
    authors: dict[str, str | None] = {f"t3_{sub['id']}": posts[0].author}
    for comment in walk(listing.comments):
        post = _comment_post(comment.data, authors, permalink, origin)
        authors[comment.fullname] = post.author
        posts.append(post)
    return ThreadDoc(
        title=title,
        posts=tuple(posts),
        source_kind="reddit",
        url=permalink,
        notes=notes,
    )


def _submission_post(sub: dict[str, Any], title: str, permalink: str | None) -> PostDoc:
    selftext = _text(sub.get("selftext")) or ""
    deleted = selftext.strip() in DELETED_BODIES
    blocks = [Block(title)]
    if deleted:
        blocks.append(Block(selftext.strip()))
    else:
        blocks.extend(body_blocks(selftext, None, None, _escaped(sub.get("selftext_html"))))
    link = _text(sub.get("url"))
    if sub.get("is_self") is False and link:
        blocks.append(Block(f"[link: {link[:200]}]"))
    return PostDoc(
        blocks=tuple(blocks),
        author=_author(sub.get("author")),
        source_id=f"t3_{sub['id']}",
        time=_time(sub.get("created_utc")),
        url=permalink,
        deleted=deleted,
        likes=_score(sub),
    )


def _comment_post(
    data: dict[str, Any], authors: dict[str, str | None], permalink: str | None, origin: str
) -> PostDoc:
    body = _text(data.get("body")) or ""
    parent = data.get("parent_id") if isinstance(data.get("parent_id"), str) else None
    deleted = body.strip() in DELETED_BODIES
    if deleted:
        blocks = [Block(body.strip())]
    else:
        escaped = _escaped(data.get("body_html"))
        blocks = body_blocks(body, authors.get(parent) if parent else None, parent, escaped)
    own = data.get("permalink")
    if isinstance(own, str) and own.startswith("/"):
        url: str | None = origin + own
    else:
        url = f"{permalink}{data['id']}/" if permalink else None
    return PostDoc(
        blocks=tuple(blocks) or (Block("[empty comment]"),),
        author=_author(data.get("author")),
        source_id=f"t1_{data['id']}",
        time=_time(data.get("created_utc")),
        url=url,
        reply_to_source_id=parent,
        deleted=deleted,
        likes=_score(data),
    )


def _score(data: dict[str, Any]) -> int | None:
    """Reddit's vote score (ups minus downs, may be negative); None while it is hidden."""
    score = data.get("score")
    if data.get("score_hidden") is True or isinstance(score, bool) or not isinstance(score, int):
        return None
    return score


def body_blocks(
    body: str, parent_author: str | None, parent_id: str | None, escaped: bool = False
) -> list[Block]:
    """Markdown body → paragraphs; a run of "> " lines is ONE quote of the parent.

    Code (fenced, or indented after a blank line) is not prose: one "[code]" per block.
    """
    blocks: list[Block] = []
    quote: list[str] = []
    fenced = indented = False
    previous_blank = True

    def end_quote() -> None:
        text = " ".join(q for q in quote if q)
        quote.clear()
        if text:
            blocks.append(
                Block(text, True, quoted_author=parent_author, quoted_source_id=parent_id)
            )

    for raw in body.replace("\r\n", "\n").split("\n"):
        if raw.strip().startswith(("```", "~~~")):
            end_quote()
            if not fenced:
                blocks.append(Block("[code]"))
            fenced = not fenced
            continue
        if fenced:
            continue
        if raw.startswith(("    ", "\t")) and (previous_blank or indented) and raw.strip():
            end_quote()
            if not indented:
                blocks.append(Block("[code]"))
            indented = True
            continue
        blank = not raw.strip()
        indented = indented and blank
        previous_blank = blank
        marker = _QUOTE.match(raw)
        if marker:
            line = raw[marker.end() :]
            while (inner := _QUOTE.match(line)) is not None:
                line = line[inner.end() :]
            quote.append(_plain(line, escaped))
            continue
        end_quote()
        if _RULE.match(raw) or _TABLE_RULE.match(raw):
            continue
        text = _plain(raw, escaped)
        if text:
            blocks.append(Block(text))
    end_quote()
    return blocks


def _plain(line: str, escaped: bool) -> str:
    """Markdown line → readable text: links keep their words, emphasis marks go."""
    if escaped:
        line = html.unescape(line)
    line = _HEADING.sub("", line)
    line = _LINK.sub(r"\1", line)
    line = _EMPHASIS.sub("", line)
    line = _ZERO_WIDTH.sub(" ", line)
    return " ".join(line.split())


def _escaped(body_html: Any) -> bool:
    """Without raw_json=1 Reddit HTML-escapes text fields; body_html then starts "&lt;"."""
    return isinstance(body_html, str) and body_html.lstrip().startswith("&lt;")


def _permalink(sub: dict[str, Any], origin: str) -> str | None:
    link = sub.get("permalink")
    if isinstance(link, str) and link.startswith("/"):
        return origin + (link if link.endswith("/") else link + "/")
    return None


def _author(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip() or value.strip() == "[deleted]":
        return None
    return value.strip()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _time(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _data(thing: Any) -> dict[str, Any]:
    if not isinstance(thing, dict) or not isinstance(thing.get("data"), dict):
        raise SourceError("a Reddit listing entry has no data object")
    return thing["data"]


def _children(listing: Any) -> list[dict[str, Any]]:
    if listing == "":
        return []
    if not isinstance(listing, dict) or not isinstance(listing.get("data"), dict):
        raise SourceError("a Reddit listing has no data object")
    children = listing["data"].get("children", [])
    if not isinstance(children, list) or not all(isinstance(c, dict) for c in children):
        raise SourceError("a Reddit listing has no list of children")
    return children


def load_json(text: str) -> Any:
    return decode.load_json(text)


# --- the reader ----------------------------------------------------------------------------


class RedditReader:
    """Reddit submissions with their comment trees, "load more" stubs expanded within the cap."""

    name = "reddit"

    def matches_url(self, url: str) -> bool:
        where = parse_reddit_url(url)
        return where is not None and where.origin == CANONICAL_ORIGIN

    def sniff(self, text: str) -> bool:
        return sniff.reddit(text)

    async def read(self, fetcher: PageFetcher, url: str, options: ReadOptions) -> ThreadDoc:
        where = parse_reddit_url(url)
        if where is None:
            raise SourceError(f"{url} is not a Reddit comment page (…/r/sub/comments/id/…)")
        listing = parse_listing(await fetcher.get_json(where.json_url))
        pages, notes = 1, []
        _progress(options, pages)
        while (found := first_stub(listing.comments)) is not None:
            if pages >= options.max_pages:
                hidden = count_stubbed(listing.comments)
                notes.append(
                    f"stopped at page {pages} (the page cap): about {hidden} more comments "
                    "behind Reddit's 'load more' links were not read; raise the cap to read them"
                )
                break
            holder, index = found
            try:
                holder[index : index + 1] = await self._expand(
                    fetcher, where, listing, holder[index]
                )
            except SourceError as exc:
                notes.append(f"some comments could not be loaded: {exc}")
                _drop_stubs(listing.comments)
                break
            pages += 1
            _progress(options, pages)
        return await asyncio.to_thread(thread_doc, listing, where.origin, tuple(notes))

    async def _expand(
        self, fetcher: PageFetcher, where: RedditUrl, listing: Listing, stub: Node
    ) -> list[Node]:
        assert isinstance(stub, More)
        known = {c.fullname for c in walk(listing.comments)}
        if stub.children:
            batch, rest = stub.children[:MORE_PER_REQUEST], stub.children[MORE_PER_REQUEST:]
            query = urlencode(
                {
                    "link_id": f"t3_{listing.submission['id']}",
                    "children": ",".join(batch),
                    "api_type": "json",
                    "raw_json": "1",
                }
            )
            answer = await fetcher.get_json(f"{where.origin}/api/morechildren.json?{query}")
            nodes = attach_flat(stub, parse_more_children(answer), known)
            if rest:
                nodes.append(More(stub.parent_id, rest, max(stub.count - len(batch), len(rest))))
            return nodes
        parent = stub.parent_id.removeprefix("t1_")
        if not stub.parent_id.startswith("t1_") or not re.fullmatch(r"[a-z0-9]{1,13}", parent):
            return []
        page = parse_listing(await fetcher.get_json(_continue_url(where, parent)))
        for comment in walk(page.comments):
            if comment.fullname == stub.parent_id:
                return [r for r in comment.replies if not _known(r, known)]
        return []

    def parse_saved(self, text: str, url: str | None = None) -> ThreadDoc:
        data = load_json(text)
        listing = parse_listing(data)
        where = parse_reddit_url(url) if url else None
        return thread_doc(listing, where.origin if where else CANONICAL_ORIGIN)


def _continue_url(where: RedditUrl, comment_id: str) -> str:
    slug = where.slug or "_"
    sub = f"/r/{where.subreddit}" if where.subreddit else ""
    return f"{where.origin}{sub}/comments/{where.link_id}/{slug}/{comment_id}.json?raw_json=1"


def _known(node: Node, known: set[str]) -> bool:
    return isinstance(node, Comment) and node.fullname in known


def _drop_stubs(nodes: list[Node]) -> None:
    """After a failed expansion, forget the remaining stubs rather than retry them."""
    stack = [nodes]
    while stack:
        holder = stack.pop()
        holder[:] = [n for n in holder if isinstance(n, Comment)]
        stack.extend(n.replies for n in holder if isinstance(n, Comment))


def _progress(options: ReadOptions, pages: int) -> None:
    if options.progress is not None:
        options.progress(f"page {pages}")


READER = RedditReader()
