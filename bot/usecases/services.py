"""The use cases every adapter calls (CLI, Discord cogs, Matrix): one place that owns I/O.

Adapters parse a command, call one method here and render what comes back. CPU work
(parsing, quote inference, sumy, drawing) runs in a worker thread so the event loop keeps
answering; writes happen in one transaction after the analysis is complete in memory.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import re
import stat
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.models import (
    AnalysedThread,
    QuoteEdge,
    StoredPost,
    StoredThread,
    ThreadDoc,
    validate_scope,
)
from bot.core.numbering import Numbering, as_shown, for_analysis, renumber_post
from bot.core.render import Answer, plural
from bot.core.summary import SummaryRequest
from bot.errors import NotFound, SourceError, UserError, echo
from bot.settings import Settings
from bot.sources.base import ReadOptions
from bot.sources.detect import read_file_bytes
from bot.sources.refresh import RefreshPlan, content_overlap, merge_by_content, merge_refresh
from storage.database import Database
from storage.members import BotStateRepository, OptOutRepository, RedactResult, ScopeRepository
from storage.repositories import NameTaken, ThreadRepository

if TYPE_CHECKING:
    from bot.core.brief import ThreadBrief
    from bot.core.chapters import ChapterSummary
    from bot.core.quote_report import QuoteReport
    from bot.core.stance import StanceReport
    from bot.core.summary import Summary
    from bot.sources.fetch import SafeFetcher
    from bot.usecases.analysis import Analyses

ProgressFn = Callable[[str], None]
"""Called (possibly from a worker thread) with a short human-readable progress line."""

ChatReader = Callable[["StoredThread", "ProgressFn | None"], Awaitable["IngestResult"]]
"""Re-reads a thread ingested from a chat (a Matrix room, a Discord thread) and stores
what is new: a chat adapter registers one in `Services.chat_readers` for its source kind."""

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
WRITE_ATTEMPTS = 3
"""An ingest that finds its thread changed at the moment of writing plans again this often."""


def slugify(title: str) -> str:
    """A short, typeable thread name from its title ("How could X?" → "how-could-x")."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    slug = slug[:40].rstrip("-")
    return slug or "thread"


def check_name(name: str) -> str:
    name = name.strip().lower()
    if not _NAME_RE.match(name):
        raise UserError(
            f"invalid thread name “{echo(name)}”: use 1-64 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What an ingest or refresh did to the thread, counted as people see it."""

    thread: StoredThread
    created: bool
    added: int
    """New posts."""
    updated: int
    """Posts whose words changed (or that came back after being marked deleted)."""
    unchanged: int
    deleted: int = 0
    """Posts gone from the source, now marked deleted."""
    renumbered: int = 0
    """Posts the forum now shows under another number."""

    @property
    def changed(self) -> bool:
        return self.created or bool(self.added or self.updated or self.deleted)

    def status_line(self) -> str:
        """One line every adapter shows after an ingest or refresh."""
        t = self.thread
        if self.created:
            return f"Stored “{t.title}” as {t.name}: {plural(t.post_count, 'post')}."
        renumbered = (
            f"; the forum renumbered {plural(self.renumbered, 'post')}" if self.renumbered else ""
        )
        if self.changed:
            return (
                f"Updated {t.name}: {plural(self.added, 'new post')}, {self.updated} edited, "
                f"{self.deleted} deleted{renumbered} ({t.post_count:,} in all)."
            )
        return (
            f"{t.name} is already up to date ({plural(t.post_count, 'post')}); nothing new, "
            f"edited or deleted{renumbered}."
        )

    def changes_json(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "new": self.added,
            "edited": self.updated,
            "deleted": self.deleted,
            "renumbered": self.renumbered,
        }


@dataclass(frozen=True, slots=True)
class ThreadView:
    """A stored thread with its posts and quote edges, ready for analyses and renderers."""

    thread: StoredThread
    posts: tuple[StoredPost, ...]
    edges: tuple[QuoteEdge, ...]


@dataclass(frozen=True, slots=True)
class SummaryAnswer:
    thread: StoredThread
    summary: Summary


@dataclass(frozen=True, slots=True)
class ChaptersAnswer:
    thread: StoredThread
    chapters: ChapterSummary


@dataclass(frozen=True, slots=True)
class BriefAnswer:
    thread: StoredThread
    brief: ThreadBrief


@dataclass(frozen=True, slots=True)
class StanceAnswer:
    thread: StoredThread
    report: StanceReport
    post_urls: dict[int, str]


@dataclass(frozen=True, slots=True)
class QuotesAnswer:
    thread: StoredThread
    report: QuoteReport
    posts: tuple[StoredPost, ...] = ()
    """Only when asked for (`with_posts`): the JSON document lists every post's segments."""


@dataclass(frozen=True, slots=True)
class CatchUp:
    """A person's catch-up on one thread: the summary of what they have not seen yet."""

    thread: StoredThread
    summary: Summary | None
    """None when nothing is new for them."""
    since: int | None
    """Their mark before this read (None: first read)."""
    last_post: int
    """Their mark now: the last post this catch-up covered."""
    new_posts: int
    shown_since: int | None = None
    shown_last: int | None = None
    """`since` and `last_post` as people number the posts (None: the same)."""

    def answer(self) -> Answer:
        from bot.core.digest import catch_up_answer

        since = self.since if self.shown_since is None else self.shown_since
        last = self.last_post if self.shown_last is None else self.shown_last
        return catch_up_answer(self.thread, self.summary, since or None, last)


class Services:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        fetcher: SafeFetcher | None = None,
        processes: bool = True,
        retain: Callable[[object], None] | None = None,
    ) -> None:
        """`processes=False` keeps analyses in worker threads (the CLI: one command per
        process, where a process pool would only add its start-up time); `retain`: see
        `Analyses`."""
        self.db = db
        self.settings = settings
        self._processes = processes
        self._retain = retain
        if fetcher is not None:
            self.fetcher = fetcher
        self.threads = ThreadRepository(db)
        self.opt_outs = OptOutRepository(db)
        self._ingest_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self.scopes = ScopeRepository(db)
        self.state = BotStateRepository(db)
        self.chat_readers: dict[str, ChatReader] = {}
        """source kind ("matrix", "discord") → the running adapter's reader; a refresh of
        a chat thread (by hand or before a digest) goes through it."""

    @functools.cached_property
    def fetcher(self) -> SafeFetcher:
        """The one HTTP client, made on first use: a command that never reads a URL never
        imports aiohttp (`threadwise threads` starts at once)."""
        from bot.sources.fetch import SafeFetcher

        return SafeFetcher(self.settings.fetch)

    @functools.cached_property
    def analyses(self) -> Analyses:
        """Analyses off the event loop, made on first use (they import sumy and numpy)."""
        from bot.usecases.analysis import Analyses

        return Analyses(self.db, processes=self._processes, retain=self._retain)

    async def close(self) -> None:
        """Close the shared HTTP client and the analysis pool; the database is its owner's."""
        if "fetcher" in self.__dict__:
            await self.fetcher.close()
        if "analyses" in self.__dict__:
            await self.analyses.close()

    # --- ingest ------------------------------------------------------------------------------

    async def ingest_file(
        self,
        scope: str,
        path: str | Path,
        *,
        name: str | None = None,
        fmt: str = "auto",
        progress: ProgressFn | None = None,
        best_effort: bool = False,
    ) -> IngestResult:
        data = await asyncio.to_thread(
            read_regular_file, Path(path), self.settings.storage.max_upload_bytes
        )
        doc = await self._read_upload(data, fmt, progress, best_effort)
        del data  # 100 MB for a 100,000-post thread: not kept through the analysis
        return await self.ingest_doc(scope, doc, name=name, progress=progress)

    async def ingest_bytes(
        self,
        scope: str,
        data: bytes,
        *,
        name: str | None = None,
        fmt: str = "auto",
        progress: ProgressFn | None = None,
        best_effort: bool = False,
    ) -> IngestResult:
        """Read an uploaded file (text, Markdown or JSON) and store it: all or nothing."""
        validate_scope(scope)
        doc = await self._read_upload(data, fmt, progress, best_effort)
        return await self.ingest_doc(scope, doc, name=name, progress=progress)

    async def _read_upload(
        self, data: bytes, fmt: str, progress: ProgressFn | None, best_effort: bool
    ) -> ThreadDoc:
        limit = self.settings.storage.max_upload_bytes
        _say(progress, f"Reading {len(data):,} bytes…")
        return await asyncio.to_thread(read_file_bytes, data, fmt, limit, best_effort)

    async def ingest_doc(
        self,
        scope: str,
        doc: ThreadDoc,
        *,
        name: str | None = None,
        progress: ProgressFn | None = None,
        same_thread: bool = False,
    ) -> IngestResult:
        """Analyse and store a thread read by any reader (file, forum, chat history).

        When the name is taken by the same thread (`same_thread`: the caller found it by
        its source; otherwise shared post ids and source, or the same title and posts), the
        copy is merged: by post id where posts have ids, else by what the posts say. Numbers
        never shift, edits replace text, vanished posts are marked deleted. A different
        thread under a taken name is refused.

        The name is checked again inside the write transaction: if another ingest (another
        process too) stored a thread under it meanwhile, this one is planned again against
        what is stored now, so it merges into the same thread or gets the same refusal as
        when the two run one after the other. Two threads never share a name.
        """
        validate_scope(scope)
        thread_name = check_name(name) if name else slugify(doc.title)
        async with self._name_lock(scope, thread_name):
            for attempt in range(WRITE_ATTEMPTS):
                existing = await self.threads.get(scope, thread_name)
                plan: RefreshPlan | None = None
                if existing is not None:
                    stored = await self.threads.posts(scope, existing.name)
                    # 0.3-0.4 s at 10,000 posts (bench/reingest.py): off the event loop
                    plan = await asyncio.to_thread(_merge_plan, existing, stored, doc, same_thread)
                    if plan.deleted:
                        _say(progress, f"{plural(plan.deleted, 'post')} gone from the source.")
                to_store = plan.doc if plan is not None else doc
                _say(
                    progress,
                    f"Found {plural(len(to_store.posts), 'post')} in “{to_store.title}”; "
                    "finding quotes…",
                )
                analysed = await self._analyse(to_store, progress)
                if self._retain is not None:
                    self._retain((to_store, analysed))
                _say(progress, "Saving…")
                expect = 0 if existing is None else existing.revision
                try:
                    saved = await self.threads.save(scope, thread_name, analysed, expect=expect)
                except NameTaken:
                    # Another ingest (maybe another process) got there first: plan again
                    # against what it stored, which merges or gives the usual refusal.
                    if attempt + 1 == WRITE_ATTEMPTS:
                        raise
                    _say(progress, f"“{thread_name}” was stored meanwhile; checking again…")
                    continue
                break
        if plan is None:
            return IngestResult(saved.thread, saved.created, saved.added, 0, 0)
        return IngestResult(
            thread=saved.thread,
            created=False,
            added=plan.new,
            updated=plan.edited,
            unchanged=len(plan.doc.posts) - plan.new - plan.edited - plan.deleted,
            deleted=plan.deleted,
            renumbered=plan.renumbered,
        )

    async def _analyse(self, doc: ThreadDoc, progress: ProgressFn | None) -> AnalysedThread:
        """Quote inference (and the language) off the event loop: in the analysis process
        pool for a big thread (a 100,000-post thread takes ~20 s of pure Python, which in a
        thread of the bot's own process would slow every other command), else in a thread."""
        if not self._processes:  # the command line: no pool, and no import of the analyses
            return await asyncio.to_thread(_analyse, doc, progress)
        from bot.usecases.analysis import POOL_THRESHOLD_POSTS

        if len(doc.posts) < POOL_THRESHOLD_POSTS:
            return await asyncio.to_thread(_analyse, doc, progress)
        analysed = await self.analyses.in_pool(_analyse, doc, None)
        _say(progress, _found_quotes(analysed))
        return analysed

    def _name_lock(self, scope: str, name: str) -> asyncio.Lock:
        return self._ingest_locks.setdefault((scope, name), asyncio.Lock())

    async def ingest_url(
        self,
        scope: str,
        url: str,
        *,
        name: str | None = None,
        progress: ProgressFn | None = None,
        best_effort: bool = False,
        full: bool = False,
    ) -> IngestResult:
        """Fetch every page of a forum thread through the safe fetcher and store it.

        A URL already stored in this scope is refreshed under its name: posts are matched
        by their forum ids, so numbers stay stable, edits replace text, vanished posts are
        marked deleted and new ones are appended.
        """
        validate_scope(scope)
        from bot.sources.fetch import canonical_url

        canonical = canonical_url(url)
        existing = await self.threads.find_by_source_url(scope, canonical)
        if existing is not None and name is not None and check_name(name) != existing.name:
            existing = None
        if existing is None and name is not None:
            existing = await self.threads.get(scope, check_name(name))
        start_page = (existing.resume_page or 1) if existing is not None and not full else 1
        known: frozenset[str] = frozenset()
        numbers: dict[str, int] = {}
        if existing is not None and start_page > 1:
            known = frozenset(await self.threads.source_ids(scope, existing.name))
            numbers = await self.threads.source_numbers(scope, existing.name)
        options = ReadOptions(
            max_pages=self.settings.fetch.max_pages,
            start_page=start_page,
            known_ids=known,
            known_numbers=numbers,
            progress=progress,
        )
        _say(progress, f"Reading {canonical} …")
        doc = await self._read_within_budget(canonical, options, best_effort)
        doc = dataclasses.replace(doc, url=doc.url or canonical)
        for note in doc.notes:
            _say(progress, note)
        if existing is None:
            return await self.ingest_doc(scope, doc, name=name, progress=progress)
        # Found by its stored address: the same thread even if the forum renamed it since.
        return await self.ingest_doc(
            scope, doc, name=existing.name, progress=progress, same_thread=True
        )

    async def _read_within_budget(
        self, url: str, options: ReadOptions, best_effort: bool
    ) -> ThreadDoc:
        """`read_url` under the whole-job budget ([fetch] job_seconds). Only the network
        read is timed; nothing has been stored yet, so running out leaves the database as
        it was."""
        from bot.sources.web import read_url

        budget = self.settings.fetch.job_seconds
        try:
            async with asyncio.timeout(budget) as deadline:
                return await read_url(
                    self.fetcher.for_command(), url, options, best_effort=best_effort
                )
        except TimeoutError:
            if not deadline.expired():
                raise
            raise SourceError(
                f"reading the thread took longer than {budget:g} s ([fetch] job_seconds); "
                "nothing was stored — try again later or raise the limit"
            ) from None

    async def refresh(
        self, scope: str, name: str, *, progress: ProgressFn | None = None, full: bool = False
    ) -> IngestResult:
        """Re-read a stored thread from the last page read before (`full`: from page 1, to
        catch edits and deletions on earlier pages too); only what changed is written.
        A chat thread is re-read by its adapter's reader, when that adapter is running."""
        thread = await self._thread(scope, name)
        reader = self.chat_readers.get(thread.source_kind)
        if reader is not None:
            return await reader(thread, progress)
        if thread.source_kind in ("discord", "matrix"):
            raise UserError(
                f"“{thread.name}” was read from chat history; refresh it with the bot's own "
                "command in that channel or room"
            )
        if not thread.source_url:
            raise UserError(
                f"“{thread.name}” came from a file, so it cannot be refreshed; ingest a newer "
                "copy of the file under the same name instead"
            )
        return await self.ingest_url(
            scope, thread.source_url, name=thread.name, progress=progress, full=full
        )

    # --- reading ---------------------------------------------------------------------------

    async def list_threads(self, scope: str) -> list[StoredThread]:
        return await self.threads.list(scope)

    async def thread_names(self, scope: str, prefix: str = "", limit: int = 25) -> list[str]:
        return await self.threads.names(scope, prefix.strip().lower(), limit)

    async def view(self, scope: str, name: str) -> ThreadView:
        thread = await self._thread(scope, name)
        posts = await self.threads.posts(scope, thread.name)
        edges = await self.threads.edges(scope, thread.name)
        return ThreadView(thread=thread, posts=tuple(posts), edges=tuple(edges))

    async def show(self, scope: str, name: str, post: int | None = None) -> ThreadView:
        """The thread's posts (or post number `post`) under the numbers people know them
        by; deleted posts are shown too, marked `deleted`."""
        thread = await self._thread(scope, name)
        if post is None:
            view = await self.view(scope, name)
            posts, edges = as_shown(view.posts, view.edges, thread.forum_numbers)
            return ThreadView(thread=view.thread, posts=tuple(posts), edges=tuple(edges))
        numbering = await self.numbering(thread)
        place = numbering.place(post)
        found = await self.threads.post(scope, thread.name, place) if place else None
        if found is None:
            first = numbering.standing[0][1] if numbering.standing else 0
            raise NotFound(
                f"“{thread.name}” has posts {first} to {numbering.last_shown}; "
                f"there is no post {post}"
            )
        return ThreadView(
            thread=thread, posts=(renumber_post(found, dict(numbering.shown)),), edges=()
        )

    async def numbering(self, thread: StoredThread) -> Numbering:
        """How the thread's posts are numbered for people (forum numbers or places)."""
        rows = await self.threads.numbering(thread.scope, thread.name)
        return Numbering.of(rows, thread.forum_numbers)

    async def forget(self, scope: str, name: str) -> StoredThread:
        thread = await self._thread(scope, name)
        await self.threads.forget(scope, thread.name)
        return thread

    async def thread(self, scope: str, name: str) -> StoredThread:
        """The stored thread, or NotFound with the nearest names in this scope."""
        return await self._thread(scope, name)

    async def _thread(self, scope: str, name: str) -> StoredThread:
        validate_scope(scope)
        key = name.strip().lower()
        thread = await self.threads.get(scope, key) if _NAME_RE.match(key) else None
        if thread is None:
            names = await self.threads.names(scope, "", 200)
            hint = _suggest(key, names)
            raise NotFound(f"no thread named “{echo(name)}” here.{hint}")
        return thread

    # --- members and places ----------------------------------------------------------------

    async def opt_out(self, scope: str, user_id: str) -> RedactResult:
        """Leave a member out of chat-history ingests and digests; redact what is stored."""
        return await self.opt_outs.opt_out(scope, user_id)

    async def opt_in(self, scope: str, user_id: str) -> bool:
        return await self.opt_outs.opt_in(scope, user_id)

    async def opted_out(self, scope: str) -> set[str]:
        """User ids chat-history readers must skip in this scope."""
        return await self.opt_outs.opted_out(scope)

    # --- analyses (CPU work off the event loop) -------------------------------------------

    async def summary(
        self,
        scope: str,
        name: str,
        request: SummaryRequest,
        progress: ProgressFn | None = None,
    ) -> SummaryAnswer:
        thread = await self._thread(scope, name)
        load = self.posts_loader(thread, edges=False)
        summary = await self.analyses.summary(thread, request, load, progress)
        return SummaryAnswer(thread=thread, summary=summary)

    async def chapters(
        self,
        scope: str,
        name: str,
        request: SummaryRequest,
        chapters: int | None = None,
        progress: ProgressFn | None = None,
    ) -> ChaptersAnswer:
        """The thread by chapters: a short summary of each run of posts (bot.core.chapters)."""
        thread = await self._thread(scope, name)
        found = await self.analyses.chapters(
            thread, request, self.posts_loader(thread, edges=False), chapters, progress
        )
        return ChaptersAnswer(thread=thread, chapters=found)

    async def brief(self, scope: str, name: str, progress: ProgressFn | None = None) -> BriefAnswer:
        """The thread brief: what it is about, its main points, the most quoted posts and
        the latest turn; every adapter cuts it to one chat message."""
        thread = await self._thread(scope, name)
        brief = await self.analyses.brief(thread, self.posts_loader(thread), progress)
        return BriefAnswer(thread=thread, brief=brief)

    def posts_loader(
        self, thread: StoredThread, *, edges: bool = True
    ) -> Callable[[], Awaitable[tuple[Any, Any]]]:
        """Reads the thread's posts and (unless `edges` is False: summaries need none) its
        quote edges, for an analysis the cache cannot answer."""

        async def load() -> tuple[list[StoredPost], list[QuoteEdge]]:
            posts = await self.threads.posts(thread.scope, thread.name, text=False)
            found = await self.threads.edges(thread.scope, thread.name) if edges else []
            return posts, found

        return load

    async def summary_since_last_read(
        self, scope: str, user: str, name: str, request: SummaryRequest | None = None
    ) -> CatchUp:
        """`/summary since:last`: summarise what `user` has not been shown, then remember it.

        The mark moves to the last post the summary covered once the summary is made (if the
        adapter then fails to deliver it, that part counts as shown; the thread stays there).
        The summary goes through `self.analyses` like any other (process pool for a big
        thread, cached: the same catch-up of the same revision is a database read). Up front
        only the news is counted (no post is read); the posts are read only when the summary
        has to be computed here (a small thread; its errors can name the thread's other authors).
        """
        from storage.digests import ReadMarkRepository

        thread = await self.thread(scope, name)
        marks = ReadMarkRepository(self.db)
        since = await marks.get(scope, user, thread.name)
        base = request or SummaryRequest(
            algorithm=self.settings.summary.algorithm,
            sentences=self.settings.summary.sentences,
        )
        # Marks are places in the thread; the request and the answer speak in shown numbers.
        numbering = await self.numbering(thread)
        upto = None if base.last_post is None else numbering.place_at(base.last_post)
        last, fresh = await self.threads.news_after(scope, thread.name, since or 0, upto)
        if not fresh:
            mark = max(since or 0, last)
            shown = numbering.shown_at(since or 0), numbering.shown_at(mark)
            return CatchUp(thread, None, since, mark, 0, *shown)
        wanted = dataclasses.replace(base, since_post=numbering.shown_at(since) if since else None)
        summary = await self.analyses.summary(thread, wanted, self.posts_loader(thread))
        stored = await marks.advance(scope, user, thread.name, last)
        shown = numbering.shown_at(since or 0), numbering.shown_at(stored)
        return CatchUp(thread, summary, since, stored, fresh, *shown)

    async def stance(
        self,
        scope: str,
        name: str,
        author: str | None = None,
        topic: str | None = None,
        progress: ProgressFn | None = None,
        *,
        with_urls: bool = True,
    ) -> StanceAnswer:
        """The stance report, with every post's link for the lines that show one
        (`with_urls=False`: none, for an answer that shows no line, such as --json)."""
        thread = await self._thread(scope, name)
        report = await self.analyses.stance(
            thread, self.posts_loader(thread), author, topic, progress=progress
        )
        if not with_urls:
            return StanceAnswer(thread=thread, report=report, post_urls={})
        urls = await self.threads.post_urls(scope, thread.name)
        if thread.forum_numbers:
            numbering = await self.numbering(thread)
            urls = {numbering.show(place): url for place, url in urls.items()}
        return StanceAnswer(thread=thread, report=report, post_urls=urls)

    async def quotes(
        self,
        scope: str,
        name: str,
        author: str | None = None,
        post: int | None = None,
        *,
        with_posts: bool = False,
        progress: ProgressFn | None = None,
    ) -> QuotesAnswer:
        """Who quoted whom. A cached report needs no post read at all; `with_posts` also
        returns the posts (for a full JSON document)."""
        if not with_posts:
            thread = await self._thread(scope, name)
            report = await self.analyses.quotes(
                thread, self.posts_loader(thread), author, post, progress
            )
            return QuotesAnswer(thread=thread, report=report)
        thread = await self._thread(scope, name)
        posts = tuple(await self.threads.posts(scope, thread.name, text=False))  # segments only
        edges = tuple(await self.threads.edges(scope, thread.name))

        async def loaded() -> tuple[tuple[StoredPost, ...], tuple[QuoteEdge, ...]]:
            return posts, edges

        report = await self.analyses.quotes(thread, loaded, author, post, progress)
        shown, _ = for_analysis(posts, edges, thread.forum_numbers)
        return QuotesAnswer(thread=thread, report=report, posts=tuple(shown))

    async def quote_graph(self, answer: QuotesAnswer) -> bytes:
        title = f"Who quoted whom — {answer.thread.title}"
        return await self.analyses.quote_graph(answer.thread, answer.report, title)


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, else UserError.

    Devices, pipes and sockets are refused before anything is read: /dev/zero reports size
    0 and never ends, and a FIFO blocks until someone writes to it. The file is opened
    without blocking and checked on the open descriptor (no swap between check and read),
    and the read itself stops after `limit + 1` bytes, whatever the size said.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise UserError(
            f"cannot read {echo(str(path), 120, tail=True)}: {exc.strerror or exc}"
        ) from exc
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UserError(f"{echo(str(path), 120, tail=True)} is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            shown = echo(str(path), 120, tail=True)
            raise UserError(
                f"{shown} is not a regular file (a device, pipe or socket); "
                "give a saved file, or - to read standard input"
            )
        size = info.st_size
        data = _read_at_most(fd, limit + 1) if size <= limit else b""
    finally:
        os.close(fd)
    if size > limit or len(data) > limit:
        raise UserError(
            f"{echo(path.name)} is larger than the limit of {limit / 1048576:.1f} MB "
            "([storage] max_upload_bytes)"
        )
    return data


def _read_at_most(fd: int, count: int) -> bytes:
    chunks: list[bytes] = []
    while count > 0:
        chunk = os.read(fd, min(count, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def _merge_plan(
    existing: StoredThread, stored: Sequence[StoredPost], doc: ThreadDoc, same_thread: bool
) -> RefreshPlan:
    """How `doc` goes into the stored thread of the same name, or UserError when `doc` is
    another thread: by post ids when it is the same source; by what the posts say when it
    is a copy without ids (same address, or same title and posts in common)."""
    if same_thread or _same_source(existing, stored, doc):
        return merge_refresh(stored, doc)
    same_address = bool(existing.source_url and doc.url and existing.source_url == doc.url)
    if same_address or _same_copy(existing, stored, doc):
        return merge_by_content(stored, doc)
    raise UserError(
        f"a different thread is already stored as “{existing.name}” "
        f"(“{existing.title}”); pick another name with --name, or forget it first"
    )


def _same_copy(existing: StoredThread, stored: Sequence[StoredPost], doc: ThreadDoc) -> bool:
    """Another copy of the stored thread: the same title, no other address, and posts in
    common (the first post, or at least half of the posts of the shorter of the two)."""
    if existing.title != doc.title or not stored or not doc.posts:
        return False
    if existing.source_url and doc.url and existing.source_url != doc.url:
        return False
    first = stored[0]
    if (first.author, first.text) == (doc.posts[0].author, doc.posts[0].text):
        return True
    return content_overlap(stored, doc) * 2 >= min(len(stored), len(doc.posts))


def _same_source(existing: StoredThread, stored: Sequence[StoredPost], doc: ThreadDoc) -> bool:
    """A new copy of a stored thread: same kind of source, same address where both have
    one, and post ids in common (chat message ids, forum post ids)."""
    if existing.source_kind != doc.source_kind:
        return False
    if existing.source_url and doc.url and existing.source_url != doc.url:
        return False
    stored_ids = {p.source_id for p in stored if p.source_id}
    fresh_ids = {p.source_id for p in doc.posts if p.source_id}
    if not stored_ids or not fresh_ids:
        return False
    if existing.source_url is None and doc.url is None and existing.title != doc.title:
        return False
    return bool(stored_ids & fresh_ids)


def _analyse(doc: ThreadDoc, progress: ProgressFn | None) -> AnalysedThread:
    from bot.core.language import detect_language
    from bot.core.quotes import infer_quotes

    analysed = _with_likes(infer_quotes(doc), doc)
    if analysed.language is None:
        sample = [p.own_text for p in analysed.posts[:400]]
        analysed = dataclasses.replace(analysed, language=detect_language(sample))
    _say(progress, _found_quotes(analysed))
    return analysed


def _found_quotes(analysed: AnalysedThread) -> str:
    quotes = sum(e.count for e in analysed.edges)
    replies = plural(len(analysed.replies), "reply", "replies") if analysed.replies else ""
    replies = f" and {replies}" if replies else ""
    pairs = plural(len(analysed.edges), "pair")
    return f"Found {plural(quotes, 'quote')} between {pairs} of posts{replies}."


def _with_likes(analysed: AnalysedThread, doc: ThreadDoc) -> AnalysedThread:
    """Each post's likes or votes, carried from the reader (post N is the Nth of the doc:
    quote inference numbers them in order and keeps every one)."""
    if len(analysed.posts) != len(doc.posts) or all(p.likes is None for p in doc.posts):
        return analysed
    posts = tuple(
        dataclasses.replace(post, likes=raw.likes) if raw.likes is not None else post
        for post, raw in zip(analysed.posts, doc.posts, strict=True)
    )
    return dataclasses.replace(analysed, posts=posts)


def _say(progress: ProgressFn | None, message: str) -> None:
    if progress is not None:
        progress(message)


def _suggest(name: str, names: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    if close:
        return " Did you mean " + ", ".join(close) + "?"
    if names:
        shown = ", ".join(names[:8]) + (" …" if len(names) > 8 else "")
        return f" Threads here: {shown}"
    return " No threads are stored here yet; ingest one first."
