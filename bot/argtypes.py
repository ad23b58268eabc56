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
