"""What every analysis sees (bot.core.numbering.for_analysis): the posts that stand, the
quotes and replies between them, under the numbers people know them by."""

from __future__ import annotations

from bot.core.models import QuoteEdge, Segment, StoredPost
from bot.core.numbering import for_analysis


def post(place: int, forum: int, *, reply_to: int | None = None, quotes: int | None = None,
         deleted: bool = False, likes: int | None = None) -> StoredPost:  # fmt: skip
    segments = (Segment("quote", "Earlier words.", 0, source_post=quotes),) if quotes else ()
    return StoredPost(
        number=place,
        text=f"Post {forum}.",
        content_hash=str(place),
        segments=(*segments, Segment("own", f"Post {forum}.", len(segments))),
        reply_to=reply_to,
        deleted=deleted,
        likes=likes,
        forum_number=forum,
    )


POSTS = [
    post(1, 1),
    post(2, 3, reply_to=1, likes=4),
    post(3, 4, reply_to=2, quotes=2, deleted=True),
    post(4, 5, reply_to=3, quotes=3),  # answers and quotes the deleted post
    post(5, 7, reply_to=2, quotes=2),
]
EDGES = [QuoteEdge(3, 2, 1), QuoteEdge(4, 3, 1), QuoteEdge(5, 2, 1)]


def test_deleted_posts_their_quotes_and_the_replies_to_them_are_left_out() -> None:
    posts, edges = for_analysis(POSTS, EDGES, forum=False)
    assert [p.number for p in posts] == [1, 2, 4, 5]
    assert [(p.number, p.reply_to) for p in posts] == [(1, None), (2, 1), (4, None), (5, 2)]
    assert edges == [QuoteEdge(5, 2, 1)]


def test_forum_numbers_reach_posts_replies_quotes_and_edges() -> None:
    posts, edges = for_analysis(POSTS, EDGES, forum=True)
    assert [(p.number, p.reply_to) for p in posts] == [(1, None), (3, 1), (5, None), (7, 3)]
    assert edges == [QuoteEdge(7, 3, 1)]
    assert [s.source_post for s in posts[-1].segments if s.kind == "quote"] == [3]
    assert posts[1].likes == 4  # everything else about a post is kept


def test_a_thread_without_deletions_is_passed_through() -> None:
    live = [p for p in POSTS if not p.deleted and p.reply_to != 3]
    posts, edges = for_analysis(live, [EDGES[2]], forum=False)
    assert posts == live and edges == [EDGES[2]]
