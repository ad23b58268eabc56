"""Domain errors. Adapters turn these into clear user-facing messages; no platform imports."""

import re

ECHO_LIMIT = 60


def echo(text: str, limit: int = ECHO_LIMIT, *, tail: bool = False) -> str:
    """User input as an error message repeats it: one line, at most `limit` characters
    (its end with `tail`, for file paths).

    A 5,000-character command must not come back whole; control characters and line
    breaks are shown as spaces.
    """
    flat = "".join(ch if ch.isprintable() else " " for ch in str(text))
    if len(flat) <= limit:
        return flat
    return "…" + flat[-(limit - 1) :] if tail else flat[: limit - 1] + "…"


def clip_words(message: str, limit: int = ECHO_LIMIT) -> str:
    """A message that may quote user input (argparse's "invalid choice: '…'"): every run
    of more than `limit` non-space characters is cut to `limit`."""
    return re.sub(rf"\S{{{limit + 1},}}", lambda m: echo(m.group(), limit), message)


class ThreadwiseError(Exception):
    """Base for errors whose message is safe and useful to show to the user as is."""


class UserError(ThreadwiseError):
    """The request itself is wrong (bad option, unknown algorithm, ...)."""


class NotFound(ThreadwiseError):
    """A named thing (thread, post, author, schedule) does not exist in this scope."""


class SourceError(ThreadwiseError):
    """A source could not be read: dead URL, not a thread, binary or oversized input."""


class ConfigError(ThreadwiseError):
    """The configuration file or environment holds a bad value; the message names the key."""


class StorageError(ThreadwiseError):
    """The database cannot be used (for example it was written by a newer threadwise)."""
