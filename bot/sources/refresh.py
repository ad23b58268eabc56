"""Merging a re-read of a thread into what is stored, keeping post numbers stable.

Forums renumber nothing when a post is deleted or edited, but a fresh read would: post 6
becomes post 5 once post 5 is gone. So a refresh matches posts by their source id, keeps
every stored post in its slot (edited text replaced, vanished posts marked deleted) and
appends posts it has not seen. When the re-read starts at a later page, stored posts
before that page are kept as they are.

Copies without post ids (plain text, Markdown, JSON without "id") are matched by what the
posts say instead (`merge_by_content`): a post taken out of the middle of a copy is marked
deleted, and every other post keeps its number and its text.

The plan counts what happened to the thread as people see it: new posts, edited posts
(other words), deleted posts, and posts the forum gave another number. A post whose quotes
are only found again differently is none of these.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.core.models import Block, PostDoc, StoredPost, ThreadDoc

SAME_POST_RATIO = 0.5
"""Two posts in the same place of two copies, with words this alike (difflib's ratio over
their words), are one post edited; less alike, one was removed and another added."""


@dataclass(frozen=True, slots=True)
class RefreshPlan:
    doc: ThreadDoc
    """The whole thread, in stored order, then the new posts."""
    new: int
    edited: int
    deleted: int
    renumbered: int = 0
    """Posts the forum now shows under another number (a post before them was removed)."""


def stored_to_doc(post: StoredPost, source_ids: dict[int, str]) -> PostDoc:
    """Rebuild what a reader gave for a stored post: its paragraphs, explicit quotes kept.

    An explicit quote that was matched to no post here (a quote of another thread, or of
    nobody in particular) stays matched to none: read again, it must give the same post.
    """
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
                Block(
                    text,
                    is_quote=True,
                    quoted_author=author,
                    quoted_source_id=source_id,
                    quoted_elsewhere=number is None,
                )
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
        forum_number=post.forum_number,
    )


class _Tally:
    def __init__(self) -> None:
        self.edited = self.deleted = self.renumbered = 0

    def compare(self, old: PostDoc, new: PostDoc) -> None:
        """What became of one post: deleted, edited (or brought back), renumbered."""
        if new.deleted and not old.deleted:
            self.deleted += 1
        elif new.text != old.text or new.deleted != old.deleted:
            self.edited += 1
        elif new.forum_number != old.forum_number and old.forum_number is not None:
            self.renumbered += 1

    def plan(self, fresh: ThreadDoc, merged: list[PostDoc], new: int) -> RefreshPlan:
        doc = replace(fresh, posts=tuple(merged))
        return RefreshPlan(doc, new, self.edited, self.deleted, self.renumbered)


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
    tally = _Tally()
    for position, post in enumerate(stored):
        old = stored_to_doc(post, source_ids)
        new = fresh_by_id.get(post.source_id) if post.source_id else None
        if new is not None:
            tally.compare(old, new)
            merged.append(new)
        elif start <= position <= end and post.source_id and not post.deleted:
            gone = replace(old, deleted=True)
            tally.compare(old, gone)
            merged.append(gone)
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
    return tally.plan(fresh, merged, len(added))


def merge_by_content(stored: Sequence[StoredPost], fresh: ThreadDoc) -> RefreshPlan:
    """A new copy of a thread whose posts carry no ids, matched to the stored posts by
    author and words (difflib's longest matching runs over whole posts, in thread order).

    A stored post missing between posts the copy still has is marked deleted; stored posts
    before the first or after the last matched post are kept as they are (a copy of one
    page, a shorter copy). A post in the same place with other but similar words is the
    post edited. Posts the copy adds anywhere are new: they are appended, so no stored
    post ever changes its number.
    """
    source_ids = {p.number: p.source_id for p in stored if p.source_id}
    old_docs = [stored_to_doc(p, source_ids) for p in stored]
    matcher = difflib.SequenceMatcher(
        None, [_key(p) for p in old_docs], [_key(p) for p in fresh.posts], autojunk=False
    )
    blocks = matcher.get_matching_blocks()
    matched = [b for b in blocks if b.size]
    first = matched[0].a if matched else len(old_docs)
    last = matched[-1].a + matched[-1].size - 1 if matched else -1
    merged = list(old_docs)
    added: list[PostDoc] = []
    tally = _Tally()
    for tag, a1, a2, b1, b2 in matcher.get_opcodes():
        olds, news = range(a1, a2), list(fresh.posts[b1:b2])
        if tag == "equal":
            for i, new in zip(olds, news, strict=True):
                tally.compare(old_docs[i], new)
                merged[i] = new
            continue
        for i in olds:
            if news and _alike(old_docs[i], news[0]):
                tally.compare(old_docs[i], news[0])
                merged[i] = replace(news.pop(0), deleted=False)
            elif first <= i <= last and not old_docs[i].deleted:
                merged[i] = replace(old_docs[i], deleted=True)
                tally.compare(old_docs[i], merged[i])
        added.extend(news)
    return tally.plan(fresh, [*merged, *added], len(added))


def _key(post: PostDoc) -> tuple[str | None, str]:
    return post.author, " ".join(post.text.split())


def _alike(old: PostDoc, new: PostDoc) -> bool:
    if old.author != new.author:
        return False
    ratio = difflib.SequenceMatcher(None, old.text.split(), new.text.split(), autojunk=False)
    return ratio.ratio() >= SAME_POST_RATIO


def content_overlap(stored: Sequence[StoredPost], fresh: ThreadDoc) -> int:
    """How many posts of `fresh` a stored post says word for word (same author too)."""
    keys = {(p.author, " ".join(p.text.split())) for p in stored}
    return sum(1 for p in fresh.posts if _key(p) in keys)
