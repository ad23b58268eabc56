"""Analyses off the event loop, cached per thread revision.

Services call `Analyses` for summaries, stances, quote reports and quote graphs, and the
scheduler for the summary part of digests and "since last read" catch-ups. The pure
functions (bot.core.*) run in a worker thread for small threads and in a process pool for
big ones: pure-Python work in a thread holds the GIL, so a 10,000-post summary there would
leave the bot answering other commands in fits and starts; in another process it cannot
slow the event loop at all. The pool is created on first use (spawn context: no inherited
event loop, sockets or SQLite handles), has one worker by default (2-core hosts) and is shut
down by `close()`. The worker runs at a lower CPU priority than the bot.

A digest covers only the posts after its mark, so its worker reads only those (`first`): a
digest of 20 new posts in a 10,000-post thread reads 20 posts, not 10,000. A catch-up is an
ordinary summary with `since_post` (the whole thread is read: its errors name any author).

Results are cached in SQLite (`analysis_cache`) per (thread revision, kind, parameters) as
JSON and decoded back into the same frozen dataclasses the renderers take, so repeating a
summary of an unchanged thread costs two indexed reads and a JSON decode. Any save that
changes a thread bumps its revision (and opt-out redaction does too), which retires every
cached result for it. Identical requests that arrive while one is being computed share it.

Spawned workers import the main module again: a script that builds Services must keep its
start-up code under `if __name__ == "__main__":` (the `threadwise` entry point and
`python -m bot` are fine).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import multiprocessing
import os
import types
import typing
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from bot.core.brief import ThreadBrief, thread_brief
from bot.core.chapters import ChapterSummary, summarise_any, summarise_chapters
from bot.core.digest import DIGEST_SENTENCES, DigestSummary, digest_summary
from bot.core.graph import render_quote_graph
from bot.core.models import QuoteEdge, StoredPost, StoredThread
from bot.core.numbering import for_analysis
from bot.core.quote_report import QuoteReport, quote_report
from bot.core.stance import StanceReport, stance_digest
from bot.core.summary import Summary, SummaryRequest
from bot.errors import NotFound, StorageError
from bot.offload import off_loop_if_big
from storage.database import Database, open_database
from storage.repositories import AnalysisCacheRepository, ThreadRepository

T = TypeVar("T")
log = logging.getLogger(__name__)

POOL_THRESHOLD_POSTS = 1_000
"""Threads with at least this many posts are analysed in the process pool. Measured on the
2-core machine (synthetic thread, CPU): summary 0.2 s and stance 0.9 s at 500 posts, 0.4 s
and 1.7 s at 1,000, 1.0 s and 3.5 s at 2,000. The worker reads the posts itself (~0.06 s a
thousand posts); starting it costs ~0.5–1.5 s, once per bot."""
PROGRESS_POSTS = 500
"""From this many posts an analysis that is not cached says what it is doing (a few
seconds at 10,000 posts): the Discord answer shows it while the result is computed."""
_DOING = {
    "summary": "Summarising",
    "chapters": "Summarising the chapters of",
    "brief": "Briefing",
    "stance": "Reading the stances in",
    "quotes": "Counting the quotes in",
}
Progress = Callable[[str], None]
CACHE_VERSION = 9
"""Part of every cache key: bump it when an analysis changes what it returns (2: ties in
ratings and key-point scores keep thread order; 3: stances carry sides, replies unclear;
4: hard-wrapped lines joined before sentences are split, languages without a stemmer
never used, the thread-aware summary; 5: the brief carries the sides; 6: replies are not
quotes; 7: the quote graph places every name clear of the rest; 8: deleted posts, their
quotes and replies left out of every analysis, forum post numbers; 9: summaries of big
threads by chapters)."""
WORKER_NICENESS = 5

PostsLoader = Callable[[], Awaitable[tuple[Sequence[StoredPost], Sequence[QuoteEdge]]]]
"""Reads a thread's posts and quote edges; only called when the cache cannot answer."""
Where = Literal["thread", "process"]


class CodecError(ValueError):
    """A cached document does not decode into the expected dataclass (an older shape)."""


# --- JSON codecs for the frozen answer dataclasses ---------------------------------------------


def to_jsonable(value: Any) -> Any:
    """Plain JSON data for a (nested) frozen dataclass: dataclasses become objects keyed by
    field name, tuples become lists."""
    names = _field_names(type(value))
    if names is not None:
        return {name: to_jsonable(getattr(value, name)) for name in names}
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot cache a {type(value).__name__}")


@functools.cache
def _field_names(cls: type) -> tuple[str, ...] | None:
    if not dataclasses.is_dataclass(cls):
        return None
    return tuple(f.name for f in dataclasses.fields(cls))


def from_jsonable(kind: Any, data: Any) -> Any:
    """The value of type `kind` that `to_jsonable` turned into `data`; CodecError if it
    does not fit (e.g. a document written by an older version)."""
    return _decoder(kind)(data)


@functools.cache
def _decoder(kind: Any) -> Callable[[Any], Any]:
    """A decoding function for `kind`, worked out from the type once (a 10,000-post quote
    report holds tens of thousands of small dataclasses)."""
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in args if a is not type(None)]
        decode_inner = _decoder(inner)
        return lambda data: None if data is None else decode_inner(data)
    if origin is Literal:
        allowed = frozenset(args)

        def literal(data: Any) -> Any:
            if data not in allowed:
                raise CodecError(f"{data!r} is not one of {sorted(allowed)}")
            return data

        return literal
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            item = _decoder(args[0])

            def homogeneous(data: Any) -> tuple[Any, ...]:
                if not isinstance(data, list):
                    raise CodecError(f"expected a list, got {type(data).__name__}")
                return tuple(map(item, data))

            return homogeneous
        items = [_decoder(a) for a in args]

        def fixed(data: Any) -> tuple[Any, ...]:
            if not isinstance(data, list) or len(data) != len(items):
                raise CodecError(f"expected a list of {len(items)}, got {data!r}")
            return tuple(d(v) for d, v in zip(items, data, strict=True))

        return fixed
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        fields = [(f.name, _decoder(hints[f.name])) for f in dataclasses.fields(kind)]
        names = frozenset(name for name, _ in fields)

        def record(data: Any) -> Any:
            if not isinstance(data, dict) or data.keys() != names:
                raise CodecError(f"{kind.__name__}: expected the fields {sorted(names)}")
            return kind(**{name: d(data[name]) for name, d in fields})

        return record
    if kind is float:

        def number(data: Any) -> float:
            if isinstance(data, bool) or not isinstance(data, int | float):
                raise CodecError(f"expected a number, got {data!r}")
            return float(data)

        return number
    if kind in (int, str, bool):

        def exact(data: Any) -> Any:
            if type(data) is not kind:
                raise CodecError(f"expected {kind.__name__}, got {data!r}")
            return data

        return exact
    raise TypeError(f"no codec for {kind!r}")


def encode(value: Any) -> bytes:
    """The cached document of a (nested) frozen dataclass, as UTF-8 JSON: what
    `to_jsonable` makes, written by orjson straight from the dataclasses (a 100,000-post
    stance report holds 127,000 replies: walking them in Python took about a second)."""
    import orjson

    try:
        return orjson.dumps(value)
    except TypeError:
        text = json.dumps(to_jsonable(value), ensure_ascii=False, separators=(",", ":"))
        return text.encode("utf-8")


def decode(kind: type[T], text: str | bytes) -> T:
    import orjson

    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CodecError(f"not JSON: {exc}") from exc
    return from_jsonable(kind, data)


def params_key(kind: str, params: dict[str, Any]) -> str:
    """A short stable key for one request: the hash of its canonical JSON."""
    canonical = json.dumps(
        {"kind": kind, "version": CACHE_VERSION, "live-only": 1, **params},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


# --- the worker side ---------------------------------------------------------------------------


# Every job runs over `for_analysis`: the posts that still stand (deleted and redacted ones
# are no one's argument any more, and quotes and replies from or to them count for nobody),
# under the numbers people know them by (`forum`: the forum's own post numbers).


def _summary_job(
    posts: Sequence[StoredPost], edges: Sequence[QuoteEdge], forum: bool, *args: Any
) -> Summary:
    live, _ = for_analysis(posts, edges, forum)
    return summarise_any(live, *args)


def _chapters_job(
    posts: Sequence[StoredPost], edges: Sequence[QuoteEdge], forum: bool, *args: Any
) -> ChapterSummary:
    live, _ = for_analysis(posts, edges, forum)
    return summarise_chapters(live, *args)


def _brief_job(
    posts: Sequence[StoredPost], edges: Sequence[QuoteEdge], forum: bool, *args: Any
) -> ThreadBrief:
    return thread_brief(*for_analysis(posts, edges, forum), *args)


def _stance_job(
    posts: Sequence[StoredPost], edges: Sequence[QuoteEdge], forum: bool, *args: Any
) -> StanceReport:
    return stance_digest(*for_analysis(posts, edges, forum), *args)


def _quotes_job(
    posts: Sequence[StoredPost], edges: Sequence[QuoteEdge], forum: bool, *args: Any
) -> QuoteReport:
    return quote_report(*for_analysis(posts, edges, forum), *args)


def _digest_job(
    posts: Sequence[StoredPost],
    edges: Sequence[QuoteEdge],
    thread: StoredThread,
    since: int,
    algorithm: str,
    sentences: int,
) -> DigestSummary:
    # Places, not forum numbers: `since` is a mark (a place); the scheduler shows the
    # digest under the forum's numbers once it is made (digest.shown_numbers).
    live, _ = for_analysis(posts, edges, False)
    return digest_summary(thread, live, since, algorithm=algorithm, sentences=sentences)


_JOBS: dict[str, Callable[..., Any]] = {
    "summary": _summary_job,
    "chapters": _chapters_job,
    "brief": _brief_job,
    "stance": _stance_job,
    "quotes": _quotes_job,
    "digest": _digest_job,
}


def _job_from_database(
    path: str,
    scope: str,
    name: str,
    job: str,
    args: tuple[Any, ...],
    first: int | None = None,
) -> Any:
    """Runs in a pool worker: read the thread (from post `first` on) from the database here, then
    analyse it.

    Reading in the worker spares the bot both the read and pickling ~22 MB of posts per
    10,000 (0.5 s holding the GIL, i.e. a frozen event loop). A save that lands between the
    bot reading the thread's revision and this read is caught when the result is stored:
    `AnalysisCacheRepository.put` refuses a result for a revision that is no longer current.
    """
    posts, edges = asyncio.run(_read_thread(path, scope, name, first, job in _EDGE_JOBS))
    return _JOBS[job](posts, edges, *args)


_EDGE_JOBS = frozenset({"brief", "stance", "quotes"})
"""The jobs that read quote edges (summaries read only the posts)."""


async def _read_thread(
    path: str, scope: str, name: str, first: int | None = None, edges: bool = True
) -> tuple[list[StoredPost], list[QuoteEdge]]:
    db = await open_database(path)
    try:
        threads = ThreadRepository(db)
        posts = await threads.posts(scope, name, first, text=False)
        return posts, (await threads.edges(scope, name) if edges else [])
    finally:
        await db.close()


def _worker_init() -> None:
    """Runs once in each pool worker: one BLAS thread (2 cores are shared with the bot) and
    a lower CPU priority, so the process answering chat commands always comes first."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    with contextlib.suppress(AttributeError, OSError):  # not on every platform
        os.nice(WORKER_NICENESS)


def _ping() -> int:
    """A no-op job: proves a worker is up, and says which process it is."""
    return os.getpid()


# --- the service side --------------------------------------------------------------------------


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    stored: int = 0
    in_process: int = 0
    """Computations that ran in the process pool (the rest ran in worker threads)."""


class Analyses:
    """Runs the pure analyses off the event loop and caches their answers.

    `processes=False` keeps everything in worker threads (the CLI: one command per process,
    so a pool would only add a worker's start-up time). `retain` is handed the posts read
    and every answer computed, for a process that frees them all at once when it ends
    (the one-shot CLI: freeing a 100,000-post thread's million objects one by one when
    they go out of scope took ~0.1 s).
    """

    def __init__(
        self,
        db: Database,
        *,
        processes: bool = True,
        pool_threshold: int = POOL_THRESHOLD_POSTS,
        max_workers: int = 1,
        start_method: str = "spawn",
        retain: Callable[[object], None] | None = None,
    ) -> None:
        if start_method not in ("spawn", "forkserver"):
            raise ValueError("start_method must be spawn or forkserver (fork is unsafe here)")
        self.cache = AnalysisCacheRepository(db)
        self._path = db.target
        self.processes = processes
        self.pool_threshold = pool_threshold
        self.max_workers = max(1, min(2, max_workers))
        self.start_method = start_method
        self.stats = CacheStats()
        self._pool: ProcessPoolExecutor | None = None
        self._inflight: dict[tuple[Any, ...], asyncio.Future[Any]] = {}
        self._closed = False
        self._retain = retain

    # --- the analyses ----------------------------------------------------------------------

    async def summary(
        self,
        thread: StoredThread,
        request: SummaryRequest,
        load: PostsLoader,
        progress: Progress | None = None,
    ) -> Summary:
        """A summary of the thread; `request.since_post` makes it a catch-up (the cache key
        holds it, so the same catch-up of the same revision is a hit)."""
        params = {
            "request": to_jsonable(request),
            "language": thread.language,
            "title": thread.title,
        }
        args = (thread.forum_numbers, request, thread.language, thread.title)
        return await self._cached(
            thread, "summary", params, Summary,
            lambda: self._run(thread, "summary", load, args), progress,
        )  # fmt: skip

    async def chapters(
        self,
        thread: StoredThread,
        request: SummaryRequest,
        load: PostsLoader,
        chapters: int | None = None,
        progress: Progress | None = None,
    ) -> ChapterSummary:
        """The chapter view (bot.core.chapters): `chapters` runs of posts (None: automatic),
        each with its own summary of the request's length."""
        params = {
            "request": to_jsonable(request),
            "language": thread.language,
            "title": thread.title,
            "chapters": chapters,
        }
        args = (thread.forum_numbers, request, thread.language, thread.title, chapters)
        return await self._cached(
            thread, "chapters", params, ChapterSummary,
            lambda: self._run(thread, "chapters", load, args), progress,
        )  # fmt: skip

    async def brief(
        self, thread: StoredThread, load: PostsLoader, progress: Progress | None = None
    ) -> ThreadBrief:
        """The thread brief (bot.core.brief): about, main points, most quoted, latest."""
        params = {"language": thread.language, "title": thread.title}
        args = (thread.forum_numbers, thread.title, thread.language)
        return await self._cached(
            thread, "brief", params, ThreadBrief,
            lambda: self._run(thread, "brief", load, args), progress,
        )  # fmt: skip

    async def digest(
        self,
        thread: StoredThread,
        since: int,
        load: PostsLoader,
        *,
        algorithm: str,
        sentences: int = DIGEST_SENTENCES,
    ) -> DigestSummary:
        """The summary part of a digest of the posts after `since` (bot.core.digest).

        `load` need only return the posts after `since` (the pool worker reads only those).
        Cached per (revision, since, algorithm, length): a preview followed by the scheduled
        run, or the same thread in several schedules, is computed once.
        """
        since = max(0, since)
        params = {
            "since": since,
            "algorithm": algorithm,
            "sentences": sentences,
            "language": thread.language,
            "title": thread.title,
            "link": thread.source_url,
        }
        args = (thread, since, algorithm, sentences)
        return await self._cached(
            thread, "digest", params, DigestSummary,
            lambda: self._run(thread, "digest", load, args, first=since + 1),
        )  # fmt: skip

    async def stance(
        self,
        thread: StoredThread,
        load: PostsLoader,
        author: str | None = None,
        topic: str | None = None,
        key_points: int = 3,
        progress: Progress | None = None,
    ) -> StanceReport:
        language = thread.language or "english"
        params = {"author": author, "topic": topic, "key_points": key_points, "lang": language}
        args = (thread.forum_numbers, author, topic, key_points, language)
        return await self._cached(
            thread, "stance", params, StanceReport,
            lambda: self._run(thread, "stance", load, args), progress,
        )  # fmt: skip

    async def quotes(
        self,
        thread: StoredThread,
        load: PostsLoader,
        author: str | None = None,
        post: int | None = None,
        progress: Progress | None = None,
    ) -> QuoteReport:
        """Who quoted whom. Always in a worker thread: it only counts edges (0.15 s for
        10,000 posts), which is not worth a pool worker's start-up."""
        params = {"author": author, "post": post}
        args = (thread.forum_numbers, author, post)
        return await self._cached(
            thread, "quotes", params, QuoteReport,
            lambda: self._run(thread, "quotes", load, args, pool=False), progress,
        )  # fmt: skip

    async def quote_graph(self, thread: StoredThread, report: QuoteReport, title: str) -> bytes:
        """The PNG of a report of this thread (drawn in a worker thread: its cost depends on
        the ≤ 30 people drawn, not on the thread's length)."""
        params = {"author": report.author, "post": report.post, "title": title}

        async def draw() -> str:
            png = await asyncio.to_thread(render_quote_graph, report, title=title)
            return base64.b64encode(png).decode("ascii")

        return base64.b64decode(await self._cached(thread, "graph", params, str, draw))

    # --- where the work runs -----------------------------------------------------------------

    def where(self, thread: StoredThread) -> Where:
        """Where an analysis of this thread runs."""
        big = thread.post_count >= self.pool_threshold
        return "process" if self.processes and big else "thread"

    async def _run(
        self,
        thread: StoredThread,
        job: str,
        load: PostsLoader,
        args: tuple[Any, ...],
        *,
        pool: bool = True,
        first: int | None = None,
    ) -> Any:
        """`first`: the job needs only posts from this number on (the worker reads no more)."""
        if not pool or self.where(thread) == "thread":
            posts, edges = await load()
            if self._retain is not None:
                self._retain((posts, edges))
            return await asyncio.to_thread(_JOBS[job], tuple(posts), tuple(edges), *args)
        self.stats.in_process += 1
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor(),
                _job_from_database,
                str(self._path),
                thread.scope,
                thread.name,
                job,
                args,
                first,
            )
        except BrokenProcessPool:
            # The worker died (killed, out of memory): start a fresh pool for the next job.
            await self._drop_pool()
            raise

    def _executor(self) -> ProcessPoolExecutor:
        if self._closed:
            raise RuntimeError("Analyses is closed")
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.max_workers,
                mp_context=multiprocessing.get_context(self.start_method),
                initializer=_worker_init,
            )
        return self._pool

    async def in_pool(self, func: Callable[..., T], /, *args: Any) -> T:
        """`func(*args)` in the pool's worker (a module-level function; arguments and result
        are pickled), whatever the size: for work the caller already knows is big (a
        100,000-post ingest's quote inference)."""
        self.stats.in_process += 1
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor(), func, *args)
        except BrokenProcessPool:
            await self._drop_pool()
            raise

    async def warm_up(self) -> int | None:
        """Start the pool's worker now (a bot can call this at start-up); its pid, or None
        when analyses run in threads only."""
        if not self.processes:
            return None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor(), _ping)

    async def _drop_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, True, cancel_futures=True)

    async def close(self) -> None:
        """Stop the worker processes (waiting for a running job to end)."""
        self._closed = True
        await self._drop_pool()

    # --- the cache ---------------------------------------------------------------------------

    async def _cached(
        self,
        thread: StoredThread,
        kind: str,
        params: dict[str, Any],
        result_type: type[T],
        compute: Callable[[], Awaitable[T]],
        progress: Progress | None = None,
    ) -> T:
        key = params_key(kind, params)
        stored = await self.cache.get(thread.scope, thread.name, kind, key)
        if stored is not None:
            try:
                value = await off_loop_if_big(len(stored), decode, result_type, stored)
            except CodecError:
                pass  # an older shape: compute it again and overwrite
            else:
                self.stats.hits += 1
                return value
        slot = (thread.scope, thread.name, thread.revision, kind, key)
        running = self._inflight.get(slot)
        if running is not None:  # the same request is being computed: share it
            return await asyncio.shield(running)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._inflight[slot] = future
        self.stats.misses += 1
        try:
            if progress is not None and thread.post_count >= PROGRESS_POSTS:
                with contextlib.suppress(Exception):  # a progress line is never worth a failure
                    progress(f"{_DOING.get(kind, 'Analysing')} {thread.post_count:,} posts…")
            value = await compute()
            if self._retain is not None:
                self._retain(value)
            await self._store(thread, kind, key, value)
            future.set_result(value)
            return value
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # marked retrieved: there may be nobody else waiting
            raise
        finally:
            del self._inflight[slot]

    async def _store(self, thread: StoredThread, kind: str, key: str, value: Any) -> None:
        """Keep a result for the revision it was computed from; a thread saved or forgotten
        meanwhile makes it worthless, and it is dropped."""
        document = await asyncio.to_thread(encode, value)  # 5 MB for a 10,000-post stance
        try:
            stored = await self.cache.put(
                thread.scope, thread.name, kind, key, document, revision=thread.revision
            )
        except NotFound:
            return
        except StorageError as exc:  # a full disk: the answer is still good, only not kept
            log.warning("could not cache the %s of %s: %s", kind, thread.name, exc)
            return
        if stored:
            self.stats.stored += 1
