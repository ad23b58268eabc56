"""A Matrix room, or one m.thread of it, as a ThreadDoc: the chat becomes a thread to analyse.

`events_to_thread` is pure (raw event dicts in, ThreadDoc out) so it is tested without a
server; `read_history` pages the events in through the nio client. Replies (m.in_reply_to)
become reply edges, reply fallbacks are dropped, "> " lines are quoted text, edits replace
what they edit, and the bot itself, bot notices, commands and opted-out members are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from nio import AsyncClient, MessageDirection, RoomMessagesResponse

from bot.core.models import Block, PostDoc, ThreadDoc
from bot.errors import SourceError

from .ratelimit import Retrying
from .router import strip_reply_fallback

MAX_EVENTS = 5000
"""How many events one ingest reads at most (a room's whole history can be huge)."""

_PAGE = 200
_TEXT_TYPES = ("m.text", "m.emote")


@dataclass(frozen=True, slots=True)
class Source:
    """What to read: a room, or a thread of it when `thread_root` is set."""

    room_id: str
    thread_root: str | None = None

    @property
    def url(self) -> str:
        """A `matrix:` URI (spec "Matrix URI scheme"), stored as the thread's source.

        Not an http(s) link on purpose: nothing that fetches web pages (a refresh, the
        digest scheduler) will ever try to download it; only this adapter reads it back.
        """
        uri = f"matrix:roomid/{quote(self.room_id.removeprefix('!'), safe=':')}"
        if self.thread_root:
            uri += f"/e/{quote(self.thread_root.removeprefix('$'), safe=':')}"
        return uri

    @classmethod
    def from_url(cls, url: str) -> Source | None:
        """The inverse of `url`, None for any other link."""
        parts = url.split("/")
        if len(parts) not in (2, 4) or parts[0] != "matrix:roomid" or not parts[1]:
            return None
        if len(parts) == 4 and (parts[2] != "e" or not parts[3]):
            return None
        room = "!" + unquote(parts[1])
        return cls(room, "$" + unquote(parts[3]) if len(parts) == 4 else None)


def event_link(room_id: str, event_id: str) -> str:
    return f"https://matrix.to/#/{quote(room_id, safe='')}/{quote(event_id, safe='')}"


def events_to_thread(
    events: Sequence[dict[str, Any]],
    *,
    source: Source,
    title: str,
    skip_senders: Iterable[str],
    command_prefix: str,
    names: Callable[[str], str | None] = lambda _mxid: None,
    notes: Sequence[str] = (),
) -> ThreadDoc:
    """Turn raw events (oldest first) into a ThreadDoc.

    `names` maps a sender to the name shown in the room (None: use the MXID).
    """
    skip = set(skip_senders)
    edits: dict[str, str] = {}
    for ev in events:
        content = ev.get("content") or {}
        rel = content.get("m.relates_to") or {}
        new = content.get("m.new_content") or {}
        if rel.get("rel_type") == "m.replace" and isinstance(new.get("body"), str):
            edits[(rel.get("event_id") or "") + "\0" + str(ev.get("sender"))] = new["body"]

    posts: list[PostDoc] = []
    for ev in events:
        post = _post(ev, source, skip, command_prefix, edits, names)
        if post is not None:
            posts.append(post)
    return ThreadDoc(
        title=title,
        posts=tuple(posts),
        source_kind="matrix",
        url=source.url,
        notes=tuple(notes),
    )


def _post(
    ev: dict[str, Any],
    source: Source,
    skip: set[str],
    prefix: str,
    edits: dict[str, str],
    names: Callable[[str], str | None],
) -> PostDoc | None:
    if ev.get("type") != "m.room.message":
        return None
    sender = ev.get("sender")
    event_id = ev.get("event_id")
    content = ev.get("content") or {}
    if not isinstance(sender, str) or not isinstance(event_id, str) or sender in skip:
        return None
    body = content.get("body")
    rel = content.get("m.relates_to") or {}
    if content.get("msgtype") not in _TEXT_TYPES or not isinstance(body, str):
        return None  # notices (bots), files, redacted events
    if rel.get("rel_type") == "m.replace":
        return None  # applied to the event it edits
    in_thread = rel.get("rel_type") == "m.thread" and rel.get("event_id") == source.thread_root
    if source.thread_root and event_id != source.thread_root and not in_thread:
        return None
    body = edits.get(event_id + "\0" + sender, body)
    text = strip_reply_fallback(body).strip()
    if not text or text.split(maxsplit=1)[0].casefold() == prefix.casefold():
        return None
    reply_to = None
    in_reply = rel.get("m.in_reply_to") or {}
    if isinstance(in_reply.get("event_id"), str) and not rel.get("is_falling_back"):
        reply_to = in_reply["event_id"]
    ts = ev.get("origin_server_ts")
    when = datetime.fromtimestamp(ts / 1000, UTC) if isinstance(ts, int | float) else None
    return PostDoc(
        blocks=_blocks(text),
        author=names(sender) or sender,
        author_id=sender,
        source_id=event_id,
        time=when,
        url=event_link(source.room_id, event_id),
        reply_to_source_id=reply_to,
    )


def _blocks(text: str) -> tuple[Block, ...]:
    """One block per line; a run of "> " lines is one quoted block."""
    blocks: list[Block] = []
    quoted: list[str] = []
    for line in text.split("\n"):
        if line.startswith(">"):
            quoted.append(line[1:].removeprefix(" "))
            continue
        if quoted:
            blocks.append(Block("\n".join(quoted).strip(), is_quote=True))
            quoted = []
        if line.strip():
            blocks.append(Block(line.strip()))
    if quoted:
        blocks.append(Block("\n".join(quoted).strip(), is_quote=True))
    return tuple(b for b in blocks if b.text)


# --- reading from the homeserver -------------------------------------------------------


async def read_history(
    client: AsyncClient,
    source: Source,
    retrying: Retrying,
    max_events: int = MAX_EVENTS,
) -> tuple[list[dict[str, Any]], bool]:
    """The room's events, oldest first, and whether `max_events` cut the reading short.

    For a thread the room is read back to the thread's root (edits of thread messages are
    relations of those messages, not of the root, so /relations alone would miss them);
    `events_to_thread` keeps only the thread.
    """
    events: list[dict[str, Any]] = []
    token: str | None = None
    while len(events) < max_events:
        resp = await retrying(
            lambda t=token: client.room_messages(
                source.room_id, start=t, direction=MessageDirection.back, limit=_PAGE
            )
        )
        if not isinstance(resp, RoomMessagesResponse):
            raise SourceError(f"could not read this room's history: {_reason(resp)}")
        events.extend(e.source for e in resp.chunk)
        if source.thread_root and any(
            e.source.get("event_id") == source.thread_root for e in resp.chunk
        ):
            break
        if not resp.chunk or not resp.end or resp.end == token:
            break
        token = resp.end
    truncated = len(events) >= max_events
    events = events[:max_events]
    events.reverse()
    return events, truncated


def _reason(resp: object) -> str:
    return str(getattr(resp, "message", None) or type(resp).__name__)
