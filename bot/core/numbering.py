"""Which posts an analysis sees, and under which numbers people know them.

Storage keeps every post at its place in the thread (`number`: 1, 2, 3 …), which never
shifts, so marks and quote edges stay valid. People know posts by the forum's own numbers
where the forum shows them (Discourse's post numbers, "#12" on XenForo and vBulletin, the
place on the page in phpBB), and a thread whose posts all carry one (`forum_numbers`) is
shown and addressed by them: `as_shown` renumbers posts, quotes and edges before an
analysis runs, so what comes out (and what `--from`, `--to`, `--post` and `--since` mean)
is the forum's numbering. Elsewhere (copies, chats, Reddit) numbers are places.

Deleted posts are no one's argument any more: `standing` leaves them, and every quote
and reply from or to them, out of every analysis in the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from bot.core.models import QuoteEdge, StoredPost

P = TypeVar("P", bound=StoredPost)


def standing(
    posts: Sequence[StoredPost], edges: Sequence[QuoteEdge]
) -> tuple[list[StoredPost], list[QuoteEdge]]:
    """The posts that still stand, and the quotes and replies between them (a reply to a
    deleted post answers no one: its `reply_to` is dropped)."""
    gone = {p.number for p in posts if p.deleted}
    if not gone:
        return list(posts), list(edges)
    live = [
        dataclasses.replace(p, reply_to=None) if p.reply_to in gone else p
        for p in posts
        if not p.deleted
    ]
    return live, [e for e in edges if e.from_post not in gone and e.to_post not in gone]


def shown_number(post: StoredPost, forum: bool) -> int:
    """The number people know `post` by."""
    return post.forum_number if forum and post.forum_number is not None else post.number


def number_map(posts: Sequence[StoredPost], forum: bool) -> dict[int, int]:
    """Place in the thread → number shown, for the posts given."""
    return {p.number: shown_number(p, forum) for p in posts}


def as_shown(
    posts: Sequence[P],
    edges: Sequence[QuoteEdge],
    forum: bool,
    shown: dict[int, int] | None = None,
) -> tuple[list[P], list[QuoteEdge]]:
    """Posts and edges under the numbers people know them by (unchanged when `forum` is
    False). `shown` (place → number) must cover every post a quote or reply names; by
    default it is made from `posts`."""
    if not forum:
        return list(posts), list(edges)
    if shown is None:
        shown = number_map(posts, forum)
    return (
        [renumber_post(p, shown) for p in posts],
        [
            QuoteEdge(shown.get(e.from_post, e.from_post), shown.get(e.to_post, e.to_post), e.count)
            for e in edges
        ],
    )


def renumber_post(post: P, shown: dict[int, int]) -> P:
    segments = tuple(
        dataclasses.replace(s, source_post=shown.get(s.source_post, s.source_post))
        if s.source_post is not None
        else s
        for s in post.segments
    )
    return dataclasses.replace(
        post,
        number=shown.get(post.number, post.number),
        reply_to=None if post.reply_to is None else shown.get(post.reply_to, post.reply_to),
        segments=segments,
    )


def for_analysis(
    posts: Sequence[StoredPost], edges: Sequence[QuoteEdge], forum: bool
) -> tuple[list[StoredPost], list[QuoteEdge]]:
    """What every analysis works on: the standing posts and the quotes between them, under
    the numbers people know them by (a quote of a deleted post names its number)."""
    shown = number_map(posts, forum)
    live, kept = standing(posts, edges)
    return as_shown(live, kept, forum, shown)


@dataclass(frozen=True, slots=True)
class Numbering:
    """A thread's numbering, from its (place, forum number, deleted) rows: what the
    adapters need to show a place, or to find the place people mean by a number."""

    forum: bool
    shown: Mapping[int, int]
    """Every post's place → the number it is shown under."""
    standing: tuple[tuple[int, int], ...]
    """(place, shown number) of the posts that stand, in thread order."""

    @classmethod
    def of(cls, rows: Sequence[tuple[int, int | None, bool]], forum: bool) -> Numbering:
        shown = {
            place: forum_number if forum and forum_number is not None else place
            for place, forum_number, _ in rows
        }
        live = tuple((place, shown[place]) for place, _, deleted in rows if not deleted)
        return cls(forum, shown, live)

    def show(self, place: int) -> int:
        return self.shown.get(place, place)

    def place(self, number: int) -> int | None:
        """The post people mean by `number`: the standing one, else a deleted one."""
        for place, shown in self.standing:
            if shown == number:
                return place
        return next((p for p, s in self.shown.items() if s == number), None)

    def shown_at(self, place: int) -> int:
        """The shown number of the last standing post at or before `place` (0: none), so
        that "after post N" means the same posts in both numberings."""
        if not self.forum:
            return place
        found = 0
        for p, shown in self.standing:
            if p > place:
                break
            found = shown
        return found

    def place_at(self, number: int) -> int:
        """The place of the last standing post shown at or before `number` (0: none)."""
        if not self.forum:
            return number
        found = 0
        for place, shown in self.standing:
            if shown > number:
                break
            found = place
        return found

    @property
    def last_shown(self) -> int:
        return self.standing[-1][1] if self.standing else 0
