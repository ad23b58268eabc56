"""One pure function run in a forked copy of this process while this one works on.

A one-shot `threadwise stance` on a 100,000-post thread is two long jobs that need each
other only at the end: splitting and indexing every sentence, and reading the words of
127,000 replies. On a machine with two cores or more, the replies are read in a child made
by `os.fork` (it has the posts already: nothing is copied to it), and only its answer, a
few MB, comes back through a pipe as a pickle. A one-shot `threadwise ingest` of a big
thread has a child read the later half of its words for quote inference the same way
(bot/core/shingles.py).

Forking is only allowed where a process does nothing but this command (`allow`: the
command line's one-shot commands), never in a bot, whose sockets, threads and event loop
a child would share. Where it is not allowed, not possible (not Linux, one core) or the
child fails, the function runs here instead: the answer is the same either way.
"""

from __future__ import annotations

import array
import contextlib
import gc
import os
import pickle
import signal
import sys
import warnings
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_allowed = False


def allow(flag: bool = True) -> None:
    """Let `start` fork (this process does one command and ends)."""
    global _allowed
    _allowed = flag


def available() -> bool:
    """Whether `start` would fork now: allowed, Linux, and more than one core to run on."""
    if not (_allowed and sys.platform.startswith("linux") and hasattr(os, "fork")):
        return False
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return cores > 1


class Pending(Generic[T]):
    """`fn(*args)`, being computed in a child (or, failing that, to compute here)."""

    def __init__(self, fn: Callable[..., T], args: tuple[Any, ...], fork: bool = True) -> None:
        self._fn, self._args = fn, args
        self._pid = 0
        self._read = -1
        if not fork:
            return
        read, write = os.pipe()
        try:
            with warnings.catch_warnings():  # Python 3.12+ warns when other threads run
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            return
        if pid == 0:
            os.close(read)
            _child(write, fn, args)
        os.close(write)
        self._pid, self._read = pid, read

    @property
    def forked(self) -> bool:
        return self._pid != 0

    def result(self) -> T:
        """The child's answer (waiting for it); if the child failed, computed here."""
        if not self._pid:
            return self._fn(*self._args)
        chunks = []
        with os.fdopen(self._read, "rb") as source:
            self._read = -1
            while chunk := source.read(1 << 20):
                chunks.append(chunk)
        _, status = os.waitpid(self._pid, 0)
        self._pid = 0
        if status != 0 or not chunks:
            return self._fn(*self._args)
        answer: T = pickle.loads(b"".join(chunks))
        return answer

    def close(self) -> None:
        """Stop and reap a child whose answer is no longer wanted (an error came first)."""
        if self._read >= 0:
            os.close(self._read)
            self._read = -1
        if self._pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            self._pid = 0

    def __enter__(self) -> Pending[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _child(write: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """In the child: compute, send the pickle, and end without cleaning anything up (the
    parent's buffers, files and connections are the parent's)."""
    code = 1
    try:
        gc.disable()  # its objects are the parent's: a collection would copy every page
        data = memoryview(pickle.dumps(fn(*args), protocol=pickle.HIGHEST_PROTOCOL))
        while data:
            data = data[os.write(write, data) :]
        code = 0
    except BaseException:  # the parent computes the answer itself
        code = 1
    finally:
        os._exit(code)


class Batches:
    """Work numbers 0 … count - 1 that this process and a child forked after it both draw
    from, each taking the next one whenever it is free: the two share the work in whatever
    proportion the machine allows (a busy host slows either one). The numbers wait in a
    pipe whose writing end is closed: a 4-byte read takes one number atomically, and an
    empty pipe reads as its end."""

    MAX = 4096
    """At most this many numbers (16 KiB: a pipe holds 64 KiB without a reader)."""

    def __init__(self, count: int) -> None:
        if not 0 <= count <= self.MAX:
            raise ValueError(f"0 to {self.MAX} batches, not {count}")
        read, write = os.pipe()
        try:
            os.write(write, array.array("I", range(count)).tobytes())
        finally:
            os.close(write)
        self._read = read

    def take(self) -> int | None:
        """The next number not taken by either process, or None when all are taken."""
        if self._read < 0:
            return None
        data = os.read(self._read, 4)
        return array.array("I", data)[0] if len(data) == 4 else None

    def close(self) -> None:
        if self._read >= 0:
            os.close(self._read)
            self._read = -1


def start(fn: Callable[..., T], *args: Any) -> Pending[T]:
    """`fn(*args)` started in a forked child when `available()`, else run on `result()`.

    `fn` must be pure: its answer, not its side effects, comes back."""
    return Pending(fn, args, fork=available())
