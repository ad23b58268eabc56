"""Merging a re-read of a thread into what is stored, keeping post numbers stable.

Forums renumber nothing when a post is deleted or edited, but a fresh read would: post 6
becomes post 5 once post 5 is gone. So a refresh matches posts by their source id, keeps
every stored post in its slot (edited text replaced, vanished posts marked deleted) and
appends posts it has not seen. When the re-read starts at a later page, stored posts
before that page are kept as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.core.models import Block, PostDoc, StoredPost, ThreadDoc


@dataclass(frozen=True, slots=True)
class RefreshPlan:
    doc: ThreadDoc
    """The whole thread, in stored order, then the new posts."""
    new: int
    edited: int
    deleted: int


def stored_to_doc(post: StoredPost, source_ids: dict[int, str]) -> PostDoc:
    """Rebuild what a reader gave for a stored post: its paragraphs, explicit quotes kept."""
    paragraphs = post.text.split("\n")
    explicit: dict[int, tuple[str | None, int | None]] = {}
    for seg in post.segments:
        if seg.explicit and seg.kind == "quote":
            explicit[seg.paragraph] = (seg.source_author, seg.source_post)
    blocks = []
    for index, text in enumerate(paragraphs):
        if index in explicit:
            author, number = explicit[index]
            source_id = source_ids.get(number) if number is not None else None
            blocks.append(
                Block(text, is_quote=True, quoted_author=author, quoted_source_id=source_id)
            )
        else:
            blocks.append(Block(text))
    reply_to = source_ids.get(post.reply_to) if post.reply_to is not None else None
    return PostDoc(
        blocks=tuple(blocks),
        author=post.author,
        author_id=post.author_id,
        source_id=post.source_id,
        time=post.time,
        url=post.url,
        reply_to_source_id=reply_to,
        deleted=post.deleted,
        likes=post.likes,
    )


def merge_refresh(stored: Sequence[StoredPost], fresh: ThreadDoc) -> RefreshPlan:
    """The thread after a refresh: `fresh` may hold all pages or only some of them.

    Only stored posts between the first and the last post the fresh copy holds can be
    known gone; posts outside that window (pages not re-read, a capped read) are kept.
    Posts without ids are matched by their text, so a re-read never duplicates them.
    """
    source_ids = {p.number: p.source_id for p in stored if p.source_id}
    fresh_by_id = {p.source_id: p for p in fresh.posts if p.source_id}
    stored_ids = [p.source_id for p in stored]
    seen = [i for i, sid in enumerate(stored_ids) if sid and sid in fresh_by_id]
    start, end = (seen[0], seen[-1]) if seen else (len(stored), -1)
    merged: list[PostDoc] = []
    edited = deleted = 0
    for position, post in enumerate(stored):
        old = stored_to_doc(post, source_ids)
        new = fresh_by_id.get(post.source_id) if post.source_id else None
        if new is not None:
            if new.text != old.text or new.deleted != old.deleted:
                edited += 1
            merged.append(new)
        elif start <= position <= end and post.source_id and not post.deleted:
            deleted += 1
            merged.append(replace(old, deleted=True))
        else:
            merged.append(old)
    known_ids = {p.source_id for p in stored if p.source_id}
    known_texts = {p.text for p in stored if not p.source_id}
    added = [
        p
        for p in fresh.posts
        if (p.source_id and p.source_id not in known_ids)
        or (not p.source_id and p.text not in known_texts)
    ]
    merged.extend(added)
    doc = replace(fresh, posts=tuple(merged))
    return RefreshPlan(doc=doc, new=len(added), edited=edited, deleted=deleted)
