"""A small Discourse forum of our own words, served on loopback for end-to-end tests.

    site = DiscourseSite(topic_id=31, title="Night buses", slug="night-buses")
    site.add("ines", "Night buses should run every half hour.")
    async with LoopbackServer(site.routes()) as forum:
        url = forum.url(site.path)

It answers the two requests threadwise makes, like Discourse does: the topic view
`/t/ID.json` (title, every post id in `post_stream.stream`, the first 20 posts) and the
posts endpoint `/t/ID/posts.json?post_ids[]=…` (posts it does not have are skipped).
Post numbers are Discourse's: they never shift, and a deleted post leaves a gap for
everyone but staff. Changing `site` between requests changes what the forum serves.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BATCH = 20


@dataclass
class SitePost:
    id: int
    post_number: int
    username: str
    text: str
    reply_to: int | None = None
    deleted: bool = False
    quote: tuple[str | None, int, int, str] | None = None
    """(username, topic id, post number, words): a quote box above the post's own words
    (without a name when the username is None)."""

    def raw(self, topic_id: int) -> dict[str, Any]:
        paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in self.text.split("\n\n"))
        if self.quote is not None:
            who, topic, number, words = self.quote
            named = f' data-username="{who}"' if who else ""
            title = f'<div class="title">{who}:</div>' if who else ""
            paragraphs = (
                f'<aside class="quote no-group"{named} data-post="{number}"'
                f' data-topic="{topic}">{title}'
                f"<blockquote><p>{html.escape(words)}</p></blockquote></aside>" + paragraphs
            )
        return {
            "id": self.id,
            "post_number": self.post_number,
            "post_type": 1,
            "username": self.username,
            "created_at": f"2026-03-01T10:{self.post_number % 60:02d}:00.000Z",
            "cooked": paragraphs,
            "reply_to_post_number": self.reply_to,
            "topic_id": topic_id,
        }


@dataclass
class DiscourseSite:
    topic_id: int = 31
    title: str = "Night buses"
    slug: str = "night-buses"
    posts: list[SitePost] = field(default_factory=list)
    show_deleted: bool = False
    """False: deleted posts vanish from the stream, as guests see it."""

    @property
    def path(self) -> str:
        return f"/t/{self.slug}/{self.topic_id}"

    def add(
        self,
        username: str,
        text: str,
        reply_to: int | None = None,
        quote: tuple[str | None, int, int, str] | None = None,
    ) -> SitePost:
        number = max((p.post_number for p in self.posts), default=0) + 1
        post = SitePost(1000 + number, number, username, text, reply_to, quote=quote)
        self.posts.append(post)
        return post

    def post(self, number: int) -> SitePost:
        return next(p for p in self.posts if p.post_number == number)

    def visible(self) -> list[SitePost]:
        return [p for p in self.posts if self.show_deleted or not p.deleted]

    def routes(self) -> dict[str, Any]:
        return {
            f"/t/{self.topic_id}.json": self._view,
            f"/t/{self.topic_id}/posts.json": self._posts,
        }

    async def _view(self, request: web.Request) -> web.Response:
        shown = self.visible()
        return web.json_response(
            {
                "id": self.topic_id,
                "title": self.title,
                "slug": self.slug,
                "posts_count": len(shown),
                "post_stream": {
                    "posts": [p.raw(self.topic_id) for p in shown[:BATCH]],
                    "stream": [p.id for p in shown],
                },
            }
        )

    async def _posts(self, request: web.Request) -> web.Response:
        wanted = {int(i) for i in request.query.getall("post_ids[]", [])}
        found = [p.raw(self.topic_id) for p in self.visible() if p.id in wanted]
        return web.json_response({"id": self.topic_id, "post_stream": {"posts": found}})
