"""One method per command: check, call a service, render, send. No SQL, no analysis here.

Errors follow one order: a ThreadwiseError (bad request, unknown thread, unreadable source,
refused permission) is told to the user as is; a room that cannot be sent to is logged;
anything else is logged with its context and the user gets a short generic reply.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from nio import (
    AsyncClient,
    DownloadError,
    RoomGetEventResponse,
    RoomGetStateResponse,
)
from nio.api import MATRIX_MEDIA_API_PATH

from bot.core import render
from bot.core.digest import digest_answer
from bot.core.models import StoredThread
from bot.core.schedule import Cadence
from bot.core.summary import SummaryRequest
from bot.errors import SourceError, ThreadwiseError, UserError
from bot.settings import Settings
from bot.usecases.digest_options import (
    cadence_from_options,
    describe_schedule,
    local_time,
    stored_names,
)
from bot.usecases.scheduler import preview
from bot.usecases.services import IngestResult, Services
from storage.digests import DigestRepository, Schedule
from storage.repositories import Clock, utcnow

from . import history, html, router
from .outbox import Outbox, RoomFailed, Target
from .power import power_level
from .ratelimit import RateLimited, Retrying

log = logging.getLogger(__name__)

_MXID = re.compile(r"^@([^\s:]+):\S+$")
_WEEKLY = ("week", "weekly", "7d")
_MIB = 1024 * 1024
_CHUNK = 64 * 1024
_DOWNLOAD_SECONDS = 300
"""How long one file download may take in all (nio's own download() never gives up)."""
_ERROR_BYTES = 64 * 1024
"""A homeserver's error answer is a small JSON object; more than this is not read."""
PREVIEW_NOTE = (
    "This is a preview: nothing was stored or moved, so the next scheduled digest still "
    "covers these posts."
)


THREADS_SHOWN = 50
"""`thread list` shows at most this many (the command line lists them all)."""


@dataclass(frozen=True, slots=True)
class Context:
    """Who asked what, where: the command event and the place its answer belongs."""

    room_id: str
    sender: str
    event_id: str
    thread_root: str | None = None
    reply_to: str | None = None
    """The event the command replies to (not a thread's fallback), e.g. an uploaded file."""
    command_id: int | None = None
    """Its record in the database (storage.commands), once accepted."""

    @property
    def scope(self) -> str:
        return f"matrix:{self.room_id}"

    @property
    def target(self) -> Target:
        return Target(self.room_id, self.event_id, self.thread_root, self.command_id)


Handler = Callable[["Handlers", Context, argparse.Namespace], Awaitable[None]]


class Handlers:
    def __init__(
        self,
        services: Services,
        settings: Settings,
        client: AsyncClient,
        outbox: Outbox,
        retrying: Retrying,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.services = services
        self.settings = settings
        self.client = client
        self.outbox = outbox
        self.retrying = retrying
        self.schedules = DigestRepository(services.db, clock=clock)
        self.prefix = settings.matrix.command_prefix

    async def handle(self, ctx: Context, command: router.Command) -> None:
        """Run one parsed command and answer it; never raises except on cancellation."""
        try:
            if command.admin:
                await self._require_admin(ctx, command.name)
            await _COMMANDS[command.name](self, ctx, command.args)
        except RoomFailed:
            pass  # logged by the outbox; nothing more can reach that room now
        except RateLimited:
            await self._tell(ctx, "The homeserver is rate-limiting me; please try again later.")
        except ThreadwiseError as exc:
            await self._tell(ctx, str(exc))
        except Exception:
            log.exception(
                "Matrix command %r from %s in %s failed", command.name, ctx.sender, ctx.room_id
            )
            await self._tell(ctx, "Something went wrong on my side; it has been logged.")

    async def _tell(self, ctx: Context, text: str) -> None:
        with contextlib.suppress(RoomFailed):
            await self.outbox.notice(ctx.target, text)

    # --- checks --------------------------------------------------------------------------

    async def _require_admin(self, ctx: Context, name: str) -> None:
        """Writes need the configured power level in this room, read fresh from the server."""
        needed = self.settings.matrix.admin_power_level
        state = await self.retrying(lambda: self.client.room_get_state(ctx.room_id))
        if not isinstance(state, RoomGetStateResponse):
            raise UserError("I could not read this room's power levels, so I did nothing.")
        level = power_level(state.events, ctx.sender)
        if level < needed:
            raise UserError(
                f"“{name}” changes what is stored for this room, so it needs power level "
                f"{needed}; yours is {int(level)}. Nothing was changed."
            )

    @contextlib.asynccontextmanager
    async def _typing(self, ctx: Context) -> AsyncIterator[None]:
        """Show "typing" while slow work runs: Matrix's way of saying the bot is on it."""
        with contextlib.suppress(Exception):
            await self.client.room_typing(ctx.room_id, True, timeout=60_000)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await self.client.room_typing(ctx.room_id, False)

    # --- threads -------------------------------------------------------------------------

    async def thread_ingest(self, ctx: Context, args: argparse.Namespace) -> None:
        source = (args.source or "").strip()
        async with self._typing(ctx):
            if source.lower() == "here":
                source_ = history.Source(ctx.room_id, ctx.thread_root)
                result = await self._ingest_room(ctx.scope, source_, args.name)
            elif source.startswith(("http://", "https://")):
                result = await self.services.ingest_url(ctx.scope, source, name=args.name)
            elif not source and ctx.reply_to:
                result = await self._ingest_upload(ctx, ctx.reply_to, args.name)
            else:
                raise router.UsageError(
                    f"give a forum URL, “here”, or send “{self.prefix} thread ingest” as a "
                    "reply to an uploaded file (.txt, .md or .json)"
                )
        await self.outbox.notice(ctx.target, _ingest_status(result, self.prefix))

    async def reread(self, thread: StoredThread, progress: object = None) -> IngestResult:
        """The chat reader for Services.refresh (registered by the bot): a thread ingested
        from a room or an m.thread is read again and what is new is stored. A digest of it
        calls this before it is composed, so it never misses the new messages."""
        source = history.Source.from_url(thread.source_url or "")
        if source is None or f"matrix:{source.room_id}" != thread.scope:
            raise UserError(f"“{thread.name}” was not read from this room")
        return await self._ingest_room(thread.scope, source, name=thread.name)

    async def _ingest_room(
        self, scope: str, source: history.Source, name: str | None = None
    ) -> IngestResult:
        events, truncated = await history.read_history(self.client, source, self.retrying)
        skip = {self.client.user_id, *await self.services.opted_out(scope)}
        notes = (f"Read only the latest {len(events)} events.",) if truncated else ()
        doc = history.events_to_thread(
            events,
            source=source,
            title=self._title(source, events),
            skip_senders=skip,
            command_prefix=self.prefix,
            names=self._name_of(source.room_id),
            notes=notes,
        )
        if not doc.posts:
            raise UserError("there are no messages to ingest here yet")
        return await self.services.ingest_doc(scope, doc, name=name)

    async def _ingest_upload(self, ctx: Context, event_id: str, name: str | None) -> IngestResult:
        resp = await self.retrying(lambda: self.client.room_get_event(ctx.room_id, event_id))
        if not isinstance(resp, RoomGetEventResponse):
            raise UserError("I could not read the message you replied to.")
        content = resp.event.source.get("content") or {}
        if content.get("msgtype") != "m.file":
            raise UserError("reply to an uploaded file (.txt, .md or .json) to ingest it")
        if "file" in content:
            raise UserError("encrypted attachments are not supported; upload it unencrypted")
        url = content.get("url")
        if not isinstance(url, str) or not url.startswith("mxc://"):
            raise UserError("that file has no downloadable address")
        limit = self.settings.storage.max_upload_bytes
        info = content.get("info")
        size = info.get("size") if isinstance(info, dict) else None
        if isinstance(size, int) and size > limit:  # the sender's word: enough to refuse early
            raise UserError(_too_big(size, limit))
        download = await self.retrying(lambda: download_at_most(self.client, url, limit))
        if not isinstance(download, bytes):
            raise SourceError(f"could not download the file: {getattr(download, 'message', '')}")
        return await self.services.ingest_bytes(ctx.scope, download, name=name)

    async def thread_refresh(self, ctx: Context, args: argparse.Namespace) -> None:
        async with self._typing(ctx):  # a room's thread goes through `reread`
            result = await self.services.refresh(ctx.scope, args.name)
        await self.outbox.notice(ctx.target, _ingest_status(result, self.prefix))

    async def thread_list(self, ctx: Context, args: argparse.Namespace) -> None:
        threads = await self.services.list_threads(ctx.scope)
        listed = render.brief(render.thread_list(threads), max_lines=THREADS_SHOWN)
        await self.outbox.answer(ctx.target, listed)

    async def thread_forget(self, ctx: Context, args: argparse.Namespace) -> None:
        thread = await self.services.forget(ctx.scope, args.name)
        await self.outbox.notice(ctx.target, f"Forgot {thread.name} (“{thread.title}”).")

    # --- analyses ------------------------------------------------------------------------

    async def summary(self, ctx: Context, args: argparse.Namespace) -> None:
        defaults = self.settings.summary
        chapters = getattr(args, "chapters", None)
        default_length = None if chapters is not None else defaults.sentences
        request = SummaryRequest(
            algorithm=args.algorithm or defaults.algorithm,
            sentences=args.sentences or (None if args.words or args.chars else default_length),
            words=args.words,
            chars=args.chars,
            first_post=args.first,
            last_post=args.last,
            since_post=None if args.since == router.LAST else args.since,
            author=args.author,
            explain=args.explain,
        )
        if args.since == router.LAST:  # the sender's own catch-up: their mark moves
            async with self._typing(ctx):
                read = await self.services.summary_since_last_read(
                    ctx.scope, ctx.sender, args.name, request
                )
            await self.outbox.answer(ctx.target, read.answer())
            return
        if chapters is not None:
            async with self._typing(ctx):
                found = await self.services.chapters(
                    ctx.scope, args.name, request, chapters or None
                )
            answer = render.chapters_answer(found.thread, found.chapters)
            await self.outbox.answer(ctx.target, answer)
            return
        async with self._typing(ctx):
            result = await self.services.summary(ctx.scope, args.name, request)
        await self.outbox.answer(ctx.target, render.summary_answer(result.thread, result.summary))

    async def brief(self, ctx: Context, args: argparse.Namespace) -> None:
        """The thread brief in one event: cut to 2,000 characters of plain body, the size
        of one chat message everywhere (bot.core.render.fit_answer)."""
        async with self._typing(ctx):
            result = await self.services.brief(ctx.scope, args.name)
        answer = render.fit_answer(
            render.brief_answer(result.thread, result.brief), measure=html.body_length
        )
        await self.outbox.answer(ctx.target, answer)

    async def stance(self, ctx: Context, args: argparse.Namespace) -> None:
        rest = list(args.rest)
        author = args.author
        if author is None and rest and rest[0].startswith("@"):
            author = rest.pop(0)
        topic = args.topic or (" ".join(rest) or None)
        if author is not None:
            author = self._participant(ctx.room_id, author)
        async with self._typing(ctx):
            result = await self.services.stance(ctx.scope, args.name, author, topic)
        answer = render.stance_answer(
            result.thread,
            result.report,
            result.post_urls,
            ask_about_one=f"Ask about one person: {self.prefix} stance NAME @user, "
            f"or about a word: {self.prefix} stance NAME --topic WORD.",
        )
        await self.outbox.answer(ctx.target, answer)

    async def quotes(self, ctx: Context, args: argparse.Namespace) -> None:
        async with self._typing(ctx):
            result = await self.services.quotes(ctx.scope, args.name, args.author, args.post)
            answer = render.brief(
                render.quotes_answer(result.thread, result.report),
                how_to_narrow=f"Narrow it: {self.prefix} quotes NAME --author NAME or --post N.",
            )
            await self.outbox.answer(ctx.target, answer)
            png = await self.services.quote_graph(result)
        await self.outbox.image(ctx.target, png, f"{result.thread.name}-quotes.png")

    # --- digests -------------------------------------------------------------------------

    async def digest_add(self, ctx: Context, args: argparse.Namespace) -> None:
        cadence = self._cadence(args)
        names = await stored_names(self.services, ctx.scope, args.names)
        schedule = await self.schedules.add(
            ctx.scope, names, ctx.room_id, cadence, created_by=ctx.sender, start_from_latest=True
        )
        await self.outbox.notice(
            ctx.target,
            f"Digest #{schedule.id} saved: {cadence.describe()}, what is new in "
            f"{', '.join(names)}, posted in this room. First digest: "
            f"{local_time(schedule.next_run_at, cadence)}. It covers posts that arrive from "
            f"now on; “{self.prefix} digest now {schedule.id}” shows one right away.",
        )

    def _cadence(self, args: argparse.Namespace) -> Cadence:
        """The options as one cadence; a UserError names the option to fix."""
        every, on = args.every, args.on
        if args.weekly is not None:  # the first spelling: --weekly DAY
            if on is not None or (every is not None and every.strip().lower() not in _WEEKLY):
                raise router.UsageError("--weekly DAY means --every week --on DAY; use one form")
            every, on = "week", router.WEEKDAYS[args.weekly]
        return cadence_from_options(every, args.at, on, args.tz, self.settings.digest)

    async def digest_list(self, ctx: Context, args: argparse.Namespace) -> None:
        schedules = await self.schedules.list(ctx.scope)
        lines = tuple(render.Line(describe_schedule(s, _where(s, ctx.room_id))) for s in schedules)
        notes = () if schedules else (f"No digests yet: {self.prefix} digest add NAME --at 09:00",)
        await self.outbox.answer(
            ctx.target,
            render.Answer(title="Digests", sections=(render.Section(None, lines),), notes=notes),
        )

    async def digest_remove(self, ctx: Context, args: argparse.Namespace) -> None:
        if not await self.schedules.remove(ctx.scope, args.id):
            raise UserError(self._missing(args.id))
        await self.outbox.notice(ctx.target, f"Digest #{args.id} removed.")

    async def digest_now(self, ctx: Context, args: argparse.Namespace) -> None:
        """A preview: the digest as it would be posted now; no mark or run time moves."""
        if await self.schedules.get(ctx.scope, args.id) is None:
            raise UserError(self._missing(args.id))
        async with self._typing(ctx):
            _, digest = await preview(self.services, ctx.scope, args.id)
        news = digest.new_posts
        title = f"Preview of digest #{args.id}: {news} new post{'' if news == 1 else 's'}"
        answer = digest_answer(digest, title=title)
        answer = dataclasses.replace(answer, notes=(*answer.notes, PREVIEW_NOTE))
        await self.outbox.answer(ctx.target, answer)

    def _missing(self, schedule_id: int) -> str:
        return f"there is no digest #{schedule_id} in this room (see {self.prefix} digest list)"

    async def help(self, ctx: Context, args: argparse.Namespace) -> None:
        await self.outbox.notice(ctx.target, router.help_text(self.prefix, args.topic))

    # --- helpers -------------------------------------------------------------------------

    def _name_of(self, room_id: str) -> Callable[[str], str | None]:
        room = self.client.rooms.get(room_id)

        def name(mxid: str) -> str | None:
            shown = room.user_name(mxid) if room is not None else None
            return shown or _localpart(mxid)

        return name

    def _participant(self, room_id: str, who: str) -> str:
        """ "@alice:example.org" → the name she has in this room (or "alice")."""
        if not _MXID.match(who):
            return who
        return self._name_of(room_id)(who) or who

    def _title(self, source: history.Source, events: list[dict]) -> str:
        if source.thread_root:
            for ev in events:
                if ev.get("event_id") == source.thread_root:
                    body = router.strip_reply_fallback(str(ev.get("content", {}).get("body", "")))
                    first = body.strip().split("\n", 1)[0][:80]
                    return f"Thread: {first}" if first else "Matrix thread"
        room = self.client.rooms.get(source.room_id)
        return (room.display_name if room is not None else "") or "Matrix room"


def _where(schedule: Schedule, room_id: str) -> str | None:
    """Where a listed digest posts: nothing to say when it is the room that asks."""
    return None if schedule.target == room_id else schedule.target


def _localpart(mxid: str) -> str | None:
    m = _MXID.match(mxid)
    return m.group(1) if m else None


def _too_big(size: int | None, limit: int) -> str:
    """The refusal of an upload over the limit; `size` None: it was cut off past the limit."""
    shown = f"more than {limit / _MIB:.1f}" if size is None else f"{size / _MIB:.1f}"
    return (
        f"the file is {shown} MB; the limit is {limit / _MIB:.1f} MB ([storage] max_upload_bytes)"
    )


async def download_at_most(client: AsyncClient, mxc: str, limit: int) -> bytes | DownloadError:
    """The file behind `mxc`; a UserError as soon as it proves larger than `limit` bytes.

    nio's download() reads the whole body (into memory, or onto disk) before its size can be
    looked at, and the size in an event's `info` is whatever the sender wrote. So this asks
    the same media endpoint through nio's own session and token, refuses on a Content-Length
    over the limit, and otherwise stops reading once more than `limit` bytes have arrived.
    A refusal from the homeserver comes back as nio's DownloadError, with its HTTP response,
    so the retry policy can honour a 429.
    """
    parts = urlsplit(mxc)
    server, media_id = parts.netloc, parts.path.strip("/")
    if parts.scheme != "mxc" or not server or not media_id or "/" in media_id:
        raise UserError("that file has no downloadable address")
    path = (
        f"{MATRIX_MEDIA_API_PATH}/download/{quote(server, safe='')}/{quote(media_id, safe='')}"
        "?allow_remote=true"
    )
    headers = {"Authorization": f"Bearer {client.access_token}"}
    try:
        resp = await client.send("GET", path, headers=headers, timeout=_DOWNLOAD_SECONDS)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SourceError(f"could not download the file: {exc or type(exc).__name__}") from exc
    complete = False
    try:
        if not 200 <= resp.status < 300:
            raw = await _read_at_most(resp, _ERROR_BYTES)
            error = DownloadError.from_dict(_json_object(raw))
            error.transport_response = resp
            complete = raw is not None
            return error
        declared = resp.content_length  # the homeserver's count, before any decompression
        if declared is not None and declared > limit:
            raise UserError(_too_big(declared, limit))
        body = await _read_at_most(resp, limit)
        if body is None:
            raise UserError(_too_big(None, limit))
        complete = True
        return body
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SourceError(f"the file download broke off: {exc or type(exc).__name__}") from exc
    finally:
        if complete:
            resp.release()  # read to the end: the connection can be reused
        else:
            resp.close()  # a body left unread: drop the connection, do not drain it


async def _read_at_most(resp: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The (decoded) body, or None once it grows past `limit`: never more is kept."""
    body = bytearray()
    async for chunk in resp.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _json_object(raw: bytes | None) -> dict[str, Any]:
    """A Matrix error body as a dict; {} when it is missing, too long or not a JSON object."""
    try:
        parsed = json.loads(raw or b"")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _ingest_status(result: IngestResult, prefix: str) -> str:
    return f"{result.status_line()} Next: {prefix} summary {result.thread.name}"


_COMMANDS: dict[str, Handler] = {
    "thread ingest": Handlers.thread_ingest,
    "thread refresh": Handlers.thread_refresh,
    "thread list": Handlers.thread_list,
    "thread forget": Handlers.thread_forget,
    "summary": Handlers.summary,
    "brief": Handlers.brief,
    "stance": Handlers.stance,
    "quotes": Handlers.quotes,
    "digest add": Handlers.digest_add,
    "digest list": Handlers.digest_list,
    "digest remove": Handlers.digest_remove,
    "digest now": Handlers.digest_now,
    "help": Handlers.help,
}
