"""Limited sync timelines: the events a sync left out, read back with /messages.

When more happened in a room since the last sync than the timeline limit allows (the bot
was paused, the homeserver was down, a busy room), the homeserver returns only the latest
events with `limited: true` and a `prev_batch` token. The events between the previous
sync's position and `prev_batch` are then fetched from /messages (backwards, from
`prev_batch` to that position) and put in front of the timeline, so every command in the
gap is seen exactly once. A gap larger than MAX_GAP_EVENTS is read only that far back,
with a warning: commands before that point stay unanswered.
"""

from __future__ import annotations

import logging
from typing import Any

from nio import AsyncClient, MessageDirection, RoomMessagesResponse, SyncResponse

from .ratelimit import Retrying

log = logging.getLogger(__name__)

TIMELINE_LIMIT = 100
"""Events per room in one sync; Synapse's default without a filter is 10."""
SYNC_FILTER: dict[str, Any] = {"room": {"timeline": {"limit": TIMELINE_LIMIT}}}
MAX_GAP_EVENTS = 2000
_PAGE = 100


class GapError(Exception):
    """The missed events could not be read; the sync is to be repeated from the same point."""


async def fill_gaps(
    client: AsyncClient, resp: SyncResponse, since: str | None, retrying: Retrying
) -> int:
    """Put the events each limited room timeline left out in front of it, oldest first.

    `since` is the token the sync started from (None on a first sync, which reads no
    history). Returns how many events were read back.
    """
    if since is None:
        return 0
    total = 0
    for room_id, joined in resp.rooms.join.items():
        timeline = joined.timeline
        if not timeline.limited or not timeline.prev_batch:
            continue
        if any(_joins(e.source, client.user_id) for e in timeline.events):
            continue  # a room joined in this sync: what came before the join is not ours
        missed = await _read_back(client, room_id, timeline.prev_batch, since, retrying)
        known = {e.source.get("event_id") for e in timeline.events}
        missed = [e for e in missed if e.source.get("event_id") not in known]
        timeline.events[:0] = missed
        total += len(missed)
        if missed:
            log.warning(
                "Matrix: the homeserver cut the sync of %s short (limited: a gap after a "
                "pause or an outage); read %d missed events back with /messages",
                room_id,
                len(missed),
            )
    return total


def _joins(ev: dict[str, Any], user_id: str) -> bool:
    """The bot's own join (not a profile change of a member who had joined already)."""
    prev = (ev.get("unsigned") or {}).get("prev_content") or {}
    return (
        ev.get("type") == "m.room.member"
        and ev.get("state_key") == user_id
        and (ev.get("content") or {}).get("membership") == "join"
        and prev.get("membership") != "join"
    )


async def _read_back(
    client: AsyncClient, room_id: str, prev_batch: str, since: str, retrying: Retrying
) -> list[Any]:
    events: list[Any] = []
    token = prev_batch
    while len(events) < MAX_GAP_EVENTS:
        resp = await retrying(
            lambda t=token: client.room_messages(
                room_id, start=t, end=since, direction=MessageDirection.back, limit=_PAGE
            )
        )
        if not isinstance(resp, RoomMessagesResponse):
            reason = getattr(resp, "message", None) or type(resp).__name__
            raise GapError(f"reading the missed events of {room_id} failed: {reason}")
        events.extend(resp.chunk)
        if not resp.chunk or not resp.end or resp.end == token:
            break
        token = resp.end
    else:
        log.warning(
            "Matrix: more than %d events were missed in %s; commands before the last %d "
            "are not answered",
            MAX_GAP_EVENTS,
            room_id,
            MAX_GAP_EVENTS,
        )
    events = events[:MAX_GAP_EVENTS]
    events.reverse()
    return events
