"""Domain errors. Adapters turn these into clear user-facing messages; no platform imports."""


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
