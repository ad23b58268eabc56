"""Power levels from room state, with room version 12's creators who outrank everyone."""

from __future__ import annotations

import math

from bot.matrix_app.power import power_level


def create(version: str, sender: str = "@creator:x", **content: object) -> dict:
    return {
        "type": "m.room.create",
        "state_key": "",
        "sender": sender,
        "content": {"room_version": version, **content},
    }


def levels(users: dict[str, int], default: int = 0) -> dict:
    return {
        "type": "m.room.power_levels",
        "state_key": "",
        "sender": "@creator:x",
        "content": {"users": users, "users_default": default},
    }


def test_classic_rooms_read_the_users_map() -> None:
    state = [create("10"), levels({"@creator:x": 100, "@mod:x": 50})]
    assert power_level(state, "@creator:x") == 100
    assert power_level(state, "@mod:x") == 50
    assert power_level(state, "@someone:x") == 0
    assert power_level([create("10"), levels({}, default=60)], "@someone:x") == 60


def test_version_12_creators_outrank_everyone_without_being_listed() -> None:
    state = [create("12", additional_creators=["@co:x"]), levels({"@mod:x": 50})]
    assert power_level(state, "@creator:x") == math.inf
    assert power_level(state, "@co:x") == math.inf
    assert power_level(state, "@mod:x") == 50
    # in an older room the same fields give no such rank
    assert power_level([create("11", additional_creators=["@co:x"]), levels({})], "@co:x") == 0


def test_without_power_levels_only_the_creator_is_privileged() -> None:
    assert power_level([create("9")], "@creator:x") == 100
    assert power_level([create("9")], "@other:x") == 0


def test_a_member_event_is_not_mistaken_for_room_state() -> None:
    fake = {**levels({"@mallory:x": 100}), "state_key": "@mallory:x"}
    assert power_level([create("10"), levels({}), fake], "@mallory:x") == 0
