"""A Discord thread, forum post or channel's message history → bot.core.models.ThreadDoc.

Chat has explicit structure the forum readers have to guess: a reply names the message it
answers (PostDoc.reply_to_source_id, a reply edge, not a quote) and "> " lines
are quoted text, attributed to the replied-to author when the message is a reply. Bots
(including this one) and members who opted out are left out; so are quotes *of* opted-out
members, since those are their words too.

Reading message text needs the privileged message-content intent; without it Discord sends
empty content for other people's messages, so callers check that first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import discord

from bot.core.models import Block, PostDoc, ThreadDoc
from bot.errors import SourceError

MAX_MESSAGES = 5_000
"""Most messages one ingest reads (about 50 REST pages); the user is told when it stops."""
PROGRESS_EVERY = 500

SOURCE_KIND = "discord"


def message_blocks(content: str, quoted_author: str | None) -> tuple[Block, ...]:
    """Paragraphs of a chat message: runs of "> " lines (or everything after ">>> ") are
    quotes; other lines are grouped into paragraphs split at blank lines."""
    blocks: list[Block] = []
    kind: bool | None = None  # True: quote run, False: own run
    buffer: list[str] = []

    def flush() -> None:
        text = "\n".join(buffer).strip()
        if text:
            blocks.append(
                Block(text, is_quote=True, quoted_author=quoted_author) if kind else Block(text)
            )
        buffer.clear()

    lines = content.replace("\r\n", "\n").split("\n")
    for number, line in enumerate(lines):
        if line.startswith(">>> "):
            flush()
            kind = True
            buffer.extend([line[4:], *lines[number + 1 :]])
            break
        is_quote = line.startswith("> ") or line == ">"
        if not line.strip() and not is_quote:
            flush()
            kind = None
            continue
        if kind is not None and is_quote != kind:
            flush()
        kind = is_quote
        buffer.append(line[2:] if is_quote else line)
    flush()
    return tuple(blocks)


def is_reply(message: discord.Message) -> bool:
    ref = message.reference
    return (
        message.type is discord.MessageType.reply
        and ref is not None
        and ref.message_id is not None
        and getattr(ref, "type", discord.MessageReferenceType.reply)
        is discord.MessageReferenceType.reply
    )


def messages_to_doc(
    title: str,
    url: str | None,
    messages: Iterable[discord.Message],
    skip_user_ids: set[str],
    notes: tuple[str, ...] = (),
) -> ThreadDoc:
    """Oldest-first messages → a ThreadDoc of source kind "discord" (no I/O)."""
    authors: dict[int, tuple[str, str]] = {}  # message id → (display name, user id)
    posts: list[PostDoc] = []
    for message in messages:
        author_id = str(message.author.id)
        authors[message.id] = (message.author.display_name, author_id)
        if message.author.bot or message.is_system() or author_id in skip_user_ids:
            continue
        reply_to: str | None = None
        quoted_author: str | None = None
        drop_quotes = False
        if is_reply(message):
            assert message.reference is not None  # for the type checker; is_reply checked it
            reply_to = str(message.reference.message_id)
            parent = _parent_author(message, authors)
            if parent is not None:
                quoted_author = parent[0]
                drop_quotes = parent[1] in skip_user_ids
        blocks = message_blocks(message.content, quoted_author)
        if drop_quotes:
            blocks = tuple(b for b in blocks if not b.is_quote)
        if not blocks:
            continue  # attachments or stickers only: nothing to analyse
        posts.append(
            PostDoc(
                blocks=blocks,
                author=message.author.display_name,
                author_id=author_id,
                source_id=str(message.id),
                time=message.created_at,
                url=jump_url(message),
                reply_to_source_id=reply_to,
            )
        )
    return ThreadDoc(title=title, posts=tuple(posts), source_kind=SOURCE_KIND, url=url, notes=notes)


def jump_url(message: discord.Message) -> str:
    """Message.jump_url says "@me" when the guild is not cached (a PartialMessageable
    channel); the channel still knows its guild id."""
    guild_id = message.guild.id if message.guild else getattr(message.channel, "guild_id", None)
    return f"https://discord.com/channels/{guild_id or '@me'}/{message.channel.id}/{message.id}"


def _parent_author(
    message: discord.Message, authors: dict[int, tuple[str, str]]
) -> tuple[str, str] | None:
    ref = message.reference
    assert ref is not None and ref.message_id is not None
    resolved = ref.resolved
    if isinstance(resolved, discord.Message):
        return resolved.author.display_name, str(resolved.author.id)
    return authors.get(ref.message_id)


def channel_title(channel: Any) -> str:
    name = getattr(channel, "name", None) or f"channel {channel.id}"
    return name if isinstance(channel, discord.Thread) else f"#{name}"


async def read_history(
    channel: discord.abc.Messageable,
    skip_user_ids: set[str],
    *,
    limit: int = MAX_MESSAGES,
    progress: Callable[[str], None] | None = None,
) -> ThreadDoc:
    """Read a channel/thread oldest first (up to `limit` messages) into a ThreadDoc."""
    messages: list[discord.Message] = []
    try:
        async for message in channel.history(limit=limit + 1, oldest_first=True):
            messages.append(message)
            if progress is not None and len(messages) % PROGRESS_EVERY == 0:
                progress(f"Read {len(messages):,} messages…")
    except discord.Forbidden as exc:
        raise SourceError(
            "I cannot read this channel's history: I need View Channel and Read Message "
            "History here"
        ) from exc
    except discord.HTTPException as exc:
        raise SourceError(f"Discord refused to send the history ({exc.status})") from exc
    notes: tuple[str, ...] = ()
    if len(messages) > limit:
        messages = messages[:limit]
        notes = (f"stopped at the first {limit:,} messages",)
    title = channel_title(channel)
    url = getattr(channel, "jump_url", None)
    doc = messages_to_doc(title, url, messages, skip_user_ids, notes)
    if not doc.posts:
        raise SourceError(
            f"found no messages to read in {title} (bots, opted-out members and empty "
            "messages are left out)"
        )
    return doc
