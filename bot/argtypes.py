"""argparse value types shared by the command line and the Matrix `!tw` parser."""

from __future__ import annotations

import argparse


def positive_int(value: str) -> int:
    """A whole number of at least 1, with a message that says what was wrong."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {number}")
    return number


MAX_SHARD = 65_535


def shard_range(value: str) -> tuple[int, ...]:
    """`0-3` or `0,2,5` (or both, `0-3,8`): the Discord shards one process of a split bot runs."""
    shards: set[int] = set()
    for part in value.split(","):
        low, dash, high = part.strip().partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise argparse.ArgumentTypeError(f"expected shards like 0-3 or 0,2, got {value!r}")
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise argparse.ArgumentTypeError(f"{part.strip()!r} runs backwards")
        if last > MAX_SHARD:
            raise argparse.ArgumentTypeError(f"a shard number is at most {MAX_SHARD}")
        shards.update(range(first, last + 1))
    return tuple(sorted(shards))
