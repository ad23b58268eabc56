"""A member's power level from a room's state, including room version 12's creators.

Since room version 12 the creators (the create event's sender and `additional_creators`)
outrank everyone and are not listed in m.room.power_levels at all; before it, a room
without a power-levels event gives its creator 100 and everyone else 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

_CLASSIC_VERSIONS = frozenset(str(n) for n in range(1, 12))


def power_level(state: Iterable[dict[str, Any]], user_id: str) -> float:
    """`user_id`'s level in the room whose current state events are `state`."""
    create: dict[str, Any] | None = None
    levels: dict[str, Any] | None = None
    for ev in state:
        if ev.get("state_key") != "":
            continue
        if ev.get("type") == "m.room.create":
            create = ev
        elif ev.get("type") == "m.room.power_levels":
            levels = ev.get("content") or {}
    creators: set[str] = set()
    if create is not None:
        content = create.get("content") or {}
        creators = {str(create.get("sender") or content.get("creator") or "")}
        version = str(content.get("room_version", "1"))
        if version not in _CLASSIC_VERSIONS:
            extra = content.get("additional_creators")
            if isinstance(extra, list):
                creators.update(str(c) for c in extra)
            if user_id in creators:
                return math.inf
    if levels is None:
        return 100 if user_id in creators else 0
    users = levels.get("users") or {}
    value = users.get(user_id, levels.get("users_default", 0))
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
