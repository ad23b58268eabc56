"""Discourse topics through the forum's own JSON API.

A topic view (`/t/ID.json`) gives the title, the ids of ALL posts (`post_stream.stream`) and
the first ~20 posts; the rest come from the posts endpoint (`/t/ID/posts.json?post_ids[]=…`)
in batches of BATCH. Every request counts as one page against ReadOptions.max_pages.

A post's source id is its post_number, because that is what Discourse quotes carry
(`<aside class="quote" data-post=N data-topic=T>`) and what `reply_to_post_number` names, so
explicit quotes and replies resolve without a lookup table. Parsing is pure (JSON → PostDoc);
only `DiscourseReader.read` fetches.
"""

from __future__ import annotations

import asyncio
import html
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from bs4 import BeautifulSoup, Tag

from bot.core.models import Block, PostDoc, ThreadDoc
from bot.errors import SourceError
from bot.sources import decode, sniff
from bot.sources import html_text as h
from bot.sources.base import PageFetcher, ReadOptions, match_web_path

BATCH = 20
"""Posts per request to the posts endpoint (what Discourse's own client asks for)."""
MAX_STEPS_BACK = 10
"""Batches a refresh steps back at most to find where the stored posts end."""
SMALL_ACTION = 3
"""post_type of "closed the topic"-style notices: not posts anyone wrote."""

_PATH = re.compile(
    r"^(?P<prefix>(?:/[^/]+)*?)/t/(?P<a>[^/]+)(?:/(?P<b>\d+))?(?:/(?P<c>\d+))?(?:\.json)?/?$"
)


@dataclass(frozen=True, slots=True)
class TopicUrl:
    """Where a topic lives: `base` is scheme://host plus any sub-folder Discourse runs in."""

    base: str
    topic_id: int
    slug: str | None = None

    @property
    def canonical(self) -> str:
        return f"{self.base}/t/{self.slug or 'topic'}/{self.topic_id}"


def parse_topic_url(url: str) -> TopicUrl | None:
    """`/t/slug/123`, `/t/slug/123/45`, `/t/123`, `/t/123/45` (+ `.json`, `?page=`), else None."""
    found = match_web_path(url, _PATH)
    if found is None:
        return None
    parts, match = found
    a, b, c = match.group("a"), match.group("b"), match.group("c")
    a = a.removesuffix(".json")
    if b is not None and (not a.isdigit() or c is not None):
        slug, topic = a, b  # /t/slug/123[/45]
    elif a.isdigit() and c is None:
        slug, topic = None, a  # /t/123[/45]
    else:
        return None
    if len(topic) > 12:
        return None
    base = f"{parts.scheme}://{parts.netloc}{match.group('prefix')}"
    return TopicUrl(base=base, topic_id=int(topic), slug=slug)


# --- pure parsing ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicView:
    topic_id: int
    title: str
    slug: str | None
    stream: tuple[int, ...]
    """Every post id of the topic, in order (may be empty in a posts-endpoint answer)."""
    posts: tuple[dict[str, Any], ...]
    """Raw post objects, checked to be dicts with an int post_number."""


def parse_topic_view(data: Any) -> TopicView:
    """A topic view or posts-endpoint answer; SourceError when it is not one."""
    if isinstance(data, dict) and "errors" in data and "post_stream" not in data:
        errors = data.get("errors")
        said = "; ".join(str(e)[:200] for e in errors) if isinstance(errors, list) else ""
        raise SourceError(f"the Discourse forum answered with an error: {said or 'unknown'}")
    if not isinstance(data, dict) or not isinstance(data.get("post_stream"), dict):
        raise SourceError("not a Discourse topic: the JSON has no post_stream")
    stream_raw = data["post_stream"].get("stream", [])
    if not isinstance(stream_raw, list) or not all(_is_int(i) for i in stream_raw):
        raise SourceError("not a Discourse topic: post_stream.stream is not a list of ids")
    posts = _raw_posts(data["post_stream"].get("posts"))
    topic_id = data.get("id")
    if not _is_int(topic_id):
        topic_id = next((p["topic_id"] for p in posts if _is_int(p.get("topic_id"))), None)
    if not _is_int(topic_id):
        raise SourceError("not a Discourse topic: no topic id")
    slug = _str(data.get("slug")) or next(
        (s for p in posts if (s := _str(p.get("topic_slug")))), None
    )
    title = _str(data.get("title")) or html.unescape(_str(data.get("fancy_title")) or "")
    title = title or (slug.replace("-", " ").capitalize() if slug else f"Topic {topic_id}")
    return TopicView(
        topic_id=topic_id,
        title=title.strip(),
        slug=slug,
        stream=tuple(stream_raw),
        posts=tuple(posts),
    )


def _raw_posts(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise SourceError("not a Discourse topic: post_stream.posts is not a list")
    for post in value:
        if not isinstance(post, dict) or not _is_int(post.get("post_number")):
            raise SourceError("a Discourse post has no post_number")
        if "id" in post and not _is_int(post["id"]):
            raise SourceError("a Discourse post has a bad id")
    return value


def parse_posts(
    raw_posts: Any, topic_id: int, base: str | None = None, slug: str | None = None
) -> list[PostDoc]:
    """Raw post objects → PostDoc in post_number order (small actions left out).

    `base` (scheme://host[/folder]) makes permalinks; a saved file without a URL has none.
    """
    posts = sorted(_raw_posts(raw_posts), key=lambda p: p["post_number"])
    topic = TopicUrl(base=base, topic_id=topic_id, slug=slug) if base else None
    out: list[PostDoc] = []
    seen: set[int] = set()
    for raw in posts:
        number = raw["post_number"]
        if number in seen or raw.get("post_type") == SMALL_ACTION:
            continue
        seen.add(number)
        out.append(parse_post(raw, topic_id, topic))
    return out


def parse_post(raw: dict[str, Any], topic_id: int, topic: TopicUrl | None = None) -> PostDoc:
    number = raw["post_number"]
    cooked = raw.get("cooked")
    cooked = cooked if isinstance(cooked, str) else ""
    reply = raw.get("reply_to_post_number")
    deleted, placeholder = _deletion(raw, cooked)
    blocks = [Block(placeholder)] if deleted else cooked_blocks(cooked, topic_id)
    if not blocks:
        blocks = [Block("[empty post]")]
    return PostDoc(
        blocks=tuple(blocks),
        author=_str(raw.get("username")),
        source_id=str(number),
        time=_time(raw.get("created_at")),
        url=f"{topic.canonical}/{number}" if topic else None,
        reply_to_source_id=str(reply) if _is_int(reply) and reply != number else None,
        deleted=deleted,
        likes=_likes(raw),
        forum_number=number if number >= 1 else None,
    )


LIKE_ACTION = 2
"""Discourse's post action type for a like (actions_summary: [{"id": 2, "count": N}])."""


def _likes(raw: dict[str, Any]) -> int | None:
    """The post's likes: `like_count` where the API gives it, else the like action's count
    (0 when the summary lists no like); None when the answer carries neither."""
    if _is_int(raw.get("like_count")) and raw["like_count"] >= 0:
        return int(raw["like_count"])
    actions = raw.get("actions_summary")
    if not isinstance(actions, list):
        return None
    for action in actions:
        if isinstance(action, dict) and action.get("id") == LIKE_ACTION:
            count = action.get("count")
            return int(count) if _is_int(count) and count >= 0 else None
    return 0


def _deletion(raw: dict[str, Any], cooked: str) -> tuple[bool, str]:
    if raw.get("user_deleted") is True:
        return True, "[post deleted by its author]"
    if raw.get("deleted_at"):
        return True, "[post deleted]"
    if raw.get("hidden") is True:
        return True, "[post hidden by the community]"
    if not cooked.strip():
        return True, "[post deleted]"
    return False, ""


def cooked_blocks(cooked: str, topic_id: int) -> list[Block]:
    """Paragraphs of a post's cooked HTML; quotes of this topic point at their post number."""
    soup = BeautifulSoup(cooked, "lxml")
    root = soup.body or soup
    _replace_embeds(soup, root)
    return h.body_blocks(root, h.BodyRules(quote=_QuoteFinder(topic_id), drop=_chrome))


class _QuoteFinder:
    """`<aside class="quote" data-username data-post data-topic>`, and bare `>` blockquotes."""

    def __init__(self, topic_id: int) -> None:
        self.topic = str(topic_id)

    def __call__(self, tag: Tag) -> h.QuoteInfo | None:
        if tag.name == "blockquote":
            if tag.find_parent("aside", class_="quote") is not None:
                return None  # a "> " inside a quote is part of what was quoted from that post
            return h.QuoteInfo(content=tag)  # markdown "> ": quoted, nobody named
        if tag.name != "aside" or "quote" not in h.classes(tag):
            return None
        for title in tag.find_all("div", class_="title", recursive=False):
            title.decompose()  # "NAME:" with an avatar: attribution, not quoted words
        topic = h.attr(tag, "data-topic")
        post = h.attr(tag, "data-post")
        same_topic = topic is None or topic == self.topic
        body = tag.find("blockquote", recursive=False)
        return h.QuoteInfo(
            content=body if isinstance(body, Tag) else tag,
            author=h.attr(tag, "data-username"),
            source_id=post if same_topic and post and post.isdigit() else None,
            elsewhere=not same_topic,
        )


_CHROME_CLASSES = frozenset(
    ("meta", "quote-controls", "onebox-metadata", "badge-category__wrapper")
)


def _chrome(tag: Tag) -> bool:
    """Image captions ("image 719×216 13.7 KB"), quote buttons and onebox footers."""
    return any(c in _CHROME_CLASSES for c in h.classes(tag))


def _replace_embeds(soup: BeautifulSoup, root: Tag) -> None:
    """Oneboxes (link previews), lightboxes and polls become one short placeholder each."""
    found: list[tuple[Tag, str]] = []
    for tag in root.find_all(True):
        tokens = h.classes(tag)
        if any("onebox" in c for c in tokens) and tag.name in ("aside", "div"):
            found.append((tag, _link_placeholder(tag)))
        elif "lightbox-wrapper" in tokens:
            found.append((tag, h.PLACEHOLDER_IMAGE))
        elif "poll" in tokens and tag.name == "div":
            found.append((tag, "[poll]"))
    for tag, text in found:
        if tag.parent is None or tag.decomposed:
            continue
        stand_in = soup.new_tag("p")
        stand_in.string = text
        tag.replace_with(stand_in)


def _link_placeholder(tag: Tag) -> str:
    src = h.attr(tag, "data-onebox-src")
    if src is None:
        link = tag.find("a", href=True)
        src = h.attr(link, "href") if isinstance(link, Tag) else None
    return f"[link: {src[:200]}]" if src else h.PLACEHOLDER_LINK


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _str(value: Any) -> str | None:
    if isinstance(value, list):
        value = " ".join(v for v in value if isinstance(v, str))
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def topic_doc(
    view: TopicView,
    posts: list[dict[str, Any]],
    base: str | None,
    notes: tuple[str, ...] = (),
) -> ThreadDoc:
    """The ThreadDoc of a topic from its view and the raw posts gathered for it."""
    docs = parse_posts(posts, view.topic_id, base, view.slug)
    if not docs:
        raise SourceError("the Discourse topic has no posts")
    return ThreadDoc(
        title=view.title,
        posts=tuple(docs),
        source_kind="discourse",
        url=TopicUrl(base, view.topic_id, view.slug).canonical if base else None,
        notes=notes,
    )


def load_json(text: str) -> Any:
    return decode.load_json(text)


# --- the reader ----------------------------------------------------------------------------


class DiscourseReader:
    """Discourse topics: topic view first, then the posts endpoint in batches."""

    name = "discourse"

    def matches_url(self, url: str) -> bool:
        return parse_topic_url(url) is not None

    def sniff(self, text: str) -> bool:
        return sniff.discourse(text)

    async def read(self, fetcher: PageFetcher, url: str, options: ReadOptions) -> ThreadDoc:
        where = parse_topic_url(url)
        if where is None:
            raise SourceError(f"{url} is not a Discourse topic URL (…/t/slug/123)")
        view = parse_topic_view(await fetcher.get_json(f"{where.base}/t/{where.topic_id}.json"))
        where = TopicUrl(where.base, view.topic_id, view.slug or where.slug)
        if not view.stream:  # very old servers: the view is all there is
            return await asyncio.to_thread(topic_doc, view, list(view.posts), where.base)
        got = {raw["id"]: raw for raw in view.posts if _is_int(raw.get("id"))}
        start = min(max(options.start_page - 1, 0), (len(view.stream) - 1) // BATCH) * BATCH
        start, spent = await self._back_to_known(fetcher, where, view.stream, got, start, options)
        wanted = list(view.stream[start:])
        missing = [pid for pid in wanted if pid not in got]
        batches = [missing[i : i + BATCH] for i in range(0, len(missing), BATCH)]
        allowed = batches[: max(options.max_pages - 1 - spent, 0)]
        total = 1 + len(batches)
        _progress(options, 1, total)
        done, why = 0, f"the page cap is {options.max_pages} requests; raise it to read the rest"
        for page, batch in enumerate(allowed, start=2):
            try:
                await self._fetch_batch(fetcher, where, batch, got)
            except SourceError as exc:  # keep what was read; a refresh can fetch the rest
                why = f"the rest could not be read ({exc})"
                break
            done += 1
            _progress(options, page, total)
        posts = [got[pid] for pid in wanted if pid in got]
        notes: tuple[str, ...] = ()
        read_up_to = len(view.stream)  # stream positions read: [0, read_up_to)
        # A refresh re-reads from the batch of the last post read ("page" = BATCH posts),
        # where new posts join; after a read cut short, from the batch of the first post
        # not read, so that "run refresh to continue" does continue.
        resume = max(read_up_to - 1, 0) // BATCH + 1
        if done < len(batches):
            read_up_to = start + wanted.index(batches[done][0])  # everything before was asked
            notes = (f"stopped at post {read_up_to} of {len(view.stream)}: {why}",)
            resume = read_up_to // BATCH + 1
        # BeautifulSoup over hundreds of cooked posts takes seconds: not on the event loop.
        doc = await asyncio.to_thread(topic_doc, view, posts, where.base, notes)
        return replace(doc, resume_page=resume)

    async def _fetch_batch(
        self, fetcher: PageFetcher, where: TopicUrl, ids: list[int], got: dict[int, Any]
    ) -> None:
        answer = await fetcher.get_json(_posts_url(where, ids))
        raw = parse_topic_view(_as_posts_answer(answer, where)).posts
        got.update((r["id"], r) for r in raw if _is_int(r.get("id")))

    async def _back_to_known(
        self,
        fetcher: PageFetcher,
        where: TopicUrl,
        stream: list[int],
        got: dict[int, Any],
        start: int,
        options: ReadOptions,
    ) -> tuple[int, int]:
        """Where a refresh starts, and the requests spent finding it: back a batch at a
        time while the batch at `start` opens with a post not stored yet (deleted posts
        pulled later ones, new ones too, forward in the stream). The batches fetched stay
        in `got`, and their requests count against the page cap."""
        spent = 0
        budget = min(MAX_STEPS_BACK, options.max_pages - 1)
        while start > 0 and options.known_ids and spent < budget:
            batch = stream[start : start + BATCH]
            if any(pid not in got for pid in batch):
                try:
                    await self._fetch_batch(fetcher, where, batch, got)
                except SourceError:
                    break  # start here: the read on keeps what it can get
                spent += 1
            # small actions ("closed the topic") are never stored: look at the first post
            opening = next(
                (got[p] for p in batch if p in got and got[p].get("post_type") != SMALL_ACTION),
                None,
            )
            if opening is None or str(opening.get("post_number")) in options.known_ids:
                break
            # Post numbers never shift on Discourse: the post right after the last one
            # stored opens the batch where a read that was cut short goes on.
            last_known = max(options.known_numbers.values(), default=None)
            if last_known is not None and opening.get("post_number") == last_known + 1:
                break
            start -= BATCH
        return start, spent

    def parse_saved(self, text: str, url: str | None = None) -> ThreadDoc:
        data = load_json(text)
        if isinstance(data, dict) and isinstance(data.get("latest_posts"), list):
            return _latest_posts_doc(data, url)
        view = parse_topic_view(data)
        where = parse_topic_url(url) if url else None
        return topic_doc(view, list(view.posts), where.base if where else None)


def _as_posts_answer(answer: Any, where: TopicUrl) -> Any:
    """The posts endpoint may omit the topic id; the topic view already told us."""
    if isinstance(answer, dict) and "id" not in answer:
        return {**answer, "id": where.topic_id}
    return answer


def _posts_url(where: TopicUrl, ids: list[int]) -> str:
    query = urlencode([("post_ids[]", str(i)) for i in ids])
    return f"{where.base}/t/{where.topic_id}/posts.json?{query}"


def _progress(options: ReadOptions, page: int, total: int) -> None:
    if options.progress is not None:
        options.progress(f"page {page} of {total}")


def _latest_posts_doc(data: dict[str, Any], url: str | None) -> ThreadDoc:
    posts = _raw_posts(data["latest_posts"])
    topics = {p.get("topic_id") for p in posts}
    if len(topics) != 1:
        raise SourceError(
            f"this is a forum-wide list of latest posts from {len(topics)} topics, not one "
            "topic; save the topic's own /t/ID.json instead"
        )
    (topic_id,) = topics
    if not _is_int(topic_id):
        raise SourceError("the latest posts have no topic id")
    first = posts[0] if posts else {}
    view = TopicView(
        topic_id=topic_id,
        title=_str(first.get("topic_title")) or f"Topic {topic_id}",
        slug=_str(first.get("topic_slug")),
        stream=(),
        posts=tuple(posts),
    )
    where = parse_topic_url(url) if url else None
    return topic_doc(view, posts, where.base if where else None)


READER = DiscourseReader()
