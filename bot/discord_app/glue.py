"""Discord glue shared by the cogs: scope, checks, deferring, progress and delivery.

Cogs stay thin: parse options, `await Responder.start(...)` (the defer, before any database
or network await), call one Services method, render with bot.discord_app.render, deliver.
Everything that talks to Discord goes out with AllowedMentions.none().
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app.render import Outgoing, render_plain
from bot.settings import Settings
from bot.usecases.services import IngestResult, Services
from storage.commands import CommandRepository

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
GUILD_ONLY = {"guilds": True, "dms": False, "private_channels": False}
GUILD_INSTALL = {"guilds": True, "users": False}
INTERACTION_LIFETIME = timedelta(minutes=15)
"""How long an interaction token lets us send followups and edits."""
DEADLINE_MARGIN = timedelta(seconds=30)
PROGRESS_INTERVAL = 1.0
"""Seconds between progress edits of the deferred answer (Discord's edit bucket is ~5/5 s)."""
TOKEN_GONE_CODES = {10015, 10062, 50027}
"""Unknown webhook, unknown interaction, invalid webhook token."""


class BotBase(commands.Bot):
    """What the cogs and the Responder rely on from their bot. The bot itself
    (bot.discord_app.app.ThreadwiseBot) sets these and adds the lifecycle and the error
    handler; the cogs see only this, so they never import the module that loads them."""

    services: Services
    settings: Settings
    clock: Callable[[], datetime]
    history_enabled: bool
    responders: dict[int, Responder]
    command_log: CommandRepository | None


def guild_only(obj: Any) -> Any:
    """allowed_contexts + allowed_installs for a command, group or GroupCog (issue 5, D5)."""
    obj = app_commands.allowed_contexts(**GUILD_ONLY)(obj)
    return app_commands.allowed_installs(**GUILD_INSTALL)(obj)


def bot_of(itx: discord.Interaction) -> BotBase:
    return itx.client  # type: ignore[return-value]


def services_of(itx: discord.Interaction) -> Services:
    return bot_of(itx).services


def scope_of(itx: discord.Interaction) -> str:
    """Every thread belongs to a scope; a guild's is `discord:<guild id>`."""
    if itx.guild_id is None:
        raise app_commands.NoPrivateMessage("threadwise commands work in servers only.")
    return f"discord:{itx.guild_id}"


# --- permissions ---------------------------------------------------------------------------


class NotManager(app_commands.CheckFailure):
    """The member may not change what the bot stores in this server."""


def is_manager(itx: discord.Interaction, settings: Settings) -> bool:
    if itx.guild_id is None:
        return False
    if itx.permissions.manage_guild:
        return True
    wanted = settings.discord.admin_role
    member = itx.user
    if not wanted or not isinstance(member, discord.Member):
        return False
    if any(role.name == wanted or str(role.id) == wanted for role in member.roles):
        return True
    # Member.roles only lists roles the guild cache knows; the interaction's member payload
    # carries the role ids themselves (private attribute, discord.py 2.7 — pinned < 2.8).
    return wanted in {str(r) for r in getattr(member, "_roles", ())}


def manager_only() -> Callable[[Any], Any]:
    """Runtime half of the Manage Server rule; default_permissions is only a hint (D5)."""

    async def predicate(itx: discord.Interaction) -> bool:
        settings = bot_of(itx).settings
        if is_manager(itx, settings):
            return True
        role = settings.discord.admin_role
        extra = f" or the “{role}” role" if role else ""
        raise NotManager(f"This needs the Manage Server permission{extra}.")

    return app_commands.check(predicate)


def channel_in_guild(itx: discord.Interaction, channel_id: int) -> bool:
    """Whether a channel given as an option belongs to the interaction's guild (Q7).

    discord.py stamps resolved channels with the interaction's guild id, so the raw
    resolved payload (and the channel cache, when it knows the channel) is consulted.
    """
    data: Any = itx.data or {}
    raw = (data.get("resolved") or {}).get("channels", {}).get(str(channel_id), {})
    if raw.get("guild_id") not in (None, str(itx.guild_id)):
        return False
    cached = itx.client.get_channel(channel_id)
    guild = getattr(cached, "guild", None)
    return guild is None or guild.id == itx.guild_id


# --- autocomplete ------------------------------------------------------------------------------


async def thread_autocomplete(
    itx: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Names of this guild's threads only (the scope comes from the interaction)."""
    if itx.guild_id is None:
        return []
    try:
        names = await services_of(itx).thread_names(scope_of(itx), current[:64], 25)
    except Exception:  # an unanswered autocomplete shows as an error; offer nothing instead
        log.exception("thread autocomplete failed (guild %s)", itx.guild_id)
        return []
    return [app_commands.Choice(name=n, value=n) for n in names]


# --- answering -----------------------------------------------------------------------------------


def token_gone(exc: discord.HTTPException) -> bool:
    return exc.code in TOKEN_GONE_CODES or exc.status == 401


class Responder:
    """Answers one interaction: defer first, progress edits, then the answer.

    Past the 15-minute token lifetime (or when Discord says the token is gone) the answer
    goes to the channel as a normal message instead (a DM for private answers).
    """

    def __init__(self, bot: BotBase, itx: discord.Interaction, *, private: bool) -> None:
        self.bot = bot
        self.itx = itx
        self.private = private
        self.original_used = False
        self.delivered = False
        self.command_id: int | None = None
        """The interaction's record (storage.commands) while it is being answered."""
        self._token_dead = False
        self._in_channel = False

    @classmethod
    async def start(cls, itx: discord.Interaction, *, private: bool = False) -> Responder:
        """Defer at once (Discord allows 3 s for the first response), then record the
        interaction, so a restart before the answer still answers it (ThreadwiseBot)."""
        bot = bot_of(itx)
        responder = cls(bot, itx, private=private)
        bot.responders[itx.id] = responder
        await itx.response.defer(ephemeral=private, thinking=True)
        await responder._record()
        return responder

    async def _record(self) -> None:
        commands = getattr(self.bot, "command_log", None)
        if commands is None or self.itx.guild_id is None:
            return
        what, stores = describe_interaction(self.itx)
        reply_to = {
            "application_id": str(self.itx.application_id),
            "token": self.itx.token,
            "created_at": self.itx.created_at.isoformat(),
            "stores": stores,
        }
        try:
            self.command_id = await commands.accept(
                str(self.itx.id), f"discord:{self.itx.guild_id}", what, reply_to
            )
        except Exception:  # the answer matters more than its record
            log.exception("could not record interaction %s", self.itx.id)

    async def _answered(self) -> None:
        if self.command_id is not None and not self.delivered:
            with contextlib.suppress(Exception):
                await self.bot.command_log.answered(self.command_id)

    async def close(self) -> None:
        """The command is over (answered, or its error told): its record is closed."""
        command_id, self.command_id = self.command_id, None
        if command_id is not None:
            try:
                await self.bot.command_log.finish(command_id)
            except Exception:
                log.exception("could not close the record of interaction %s", self.itx.id)

    @property
    def deadline(self) -> datetime:
        return self.itx.created_at + INTERACTION_LIFETIME - DEADLINE_MARGIN

    def expired(self) -> bool:
        return self._token_dead or self.bot.clock() >= self.deadline

    def progress(self) -> Progress:
        return Progress(self)

    async def say(self, *paragraphs: str) -> None:
        await self.send(render_plain(paragraphs))

    async def send(
        self,
        messages: Sequence[Outgoing],
        *,
        png: bytes | None = None,
        filename: str = "image.png",
    ) -> None:
        """Deliver messages; the first replaces the deferred "thinking…" answer."""
        for number, message in enumerate(messages):
            attach = png if number == 0 else None
            if not self.expired():
                try:
                    await self._via_interaction(message, attach, filename)
                    continue
                except discord.HTTPException as exc:
                    if not token_gone(exc):
                        raise
                    self._token_dead = True
            await self._via_channel(message, attach, filename, first=not self._in_channel)
            self._in_channel = True
        await self._answered()
        self.delivered = True

    async def fail(self, text: str) -> None:
        """An error as a message: ephemeral when nothing was sent yet, else in place."""
        message = render_plain([text])[0]
        itx = self.itx
        if not itx.response.is_done():
            await itx.response.send_message(
                message.content or "", ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            await self._answered()
            self.delivered = True
            return
        if self.original_used and not self.expired():
            with contextlib.suppress(discord.HTTPException):
                await itx.followup.send(
                    message.content or "", ephemeral=True, allowed_mentions=NO_MENTIONS, wait=True
                )
                await self._answered()
                self.delivered = True
                return
        await self.send([message])

    async def edit_progress(self, text: str) -> None:
        if self.expired() or self.original_used:
            return
        await self.itx.edit_original_response(content=text, allowed_mentions=NO_MENTIONS)

    async def _via_interaction(self, message: Outgoing, png: bytes | None, filename: str) -> None:
        files = [discord.File(io.BytesIO(png), filename)] if png else []
        if not self.original_used:
            await self.itx.edit_original_response(
                content=message.content,
                embeds=list(message.embeds),
                attachments=files,
                allowed_mentions=NO_MENTIONS,
            )
            self.original_used = True
            return
        await self.itx.followup.send(
            content=message.content or discord.utils.MISSING,
            embeds=list(message.embeds),
            files=files,
            ephemeral=self.private,
            allowed_mentions=NO_MENTIONS,
            wait=True,
        )

    async def _via_channel(
        self, message: Outgoing, png: bytes | None, filename: str, *, first: bool
    ) -> None:
        content = message.content
        if first:
            name = self.itx.command.qualified_name if self.itx.command else "command"
            lead = f"Answer to /{name} (it took longer than Discord's 15-minute reply window):"
            # The content may already fill Discord's 2,000 characters: the lead goes alone.
            combined = f"{lead}\n{content}" if content else lead
            if len(combined.encode("utf-16-le")) // 2 <= 2000:
                content = combined
            else:
                await self._via_channel(Outgoing(content=lead), None, filename, first=False)
        kwargs: dict[str, Any] = {
            "content": content,
            "embeds": list(message.embeds),
            "allowed_mentions": NO_MENTIONS,
        }
        if png:
            kwargs["files"] = [discord.File(io.BytesIO(png), filename)]
        if self.private:
            try:
                await self.itx.user.send(**kwargs)
            except discord.HTTPException:
                log.warning("could not DM a late private answer to user %s", self.itx.user.id)
            return
        channel = self.bot.get_partial_messageable(
            self.itx.channel_id or 0, guild_id=self.itx.guild_id
        )
        await channel.send(**kwargs)


class Progress:
    """A progress callback for Services: safe to call from worker threads.

    Lines are marshalled onto the event loop with call_soon_threadsafe and shown by editing
    the deferred answer at most once per PROGRESS_INTERVAL; close() before the answer.
    """

    def __init__(self, responder: Responder, interval: float = PROGRESS_INTERVAL) -> None:
        self._responder = responder
        self._interval = interval
        self._loop = asyncio.get_running_loop()
        self._lines: deque[str] = deque(maxlen=4)
        self._task: asyncio.Task[None] | None = None
        self._last_edit = float("-inf")
        self._editing = False
        self._closed = False

    def __call__(self, line: str) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closing: progress is moot
            self._loop.call_soon_threadsafe(self._push, line)

    def _push(self, line: str) -> None:
        if self._closed:
            return
        self._lines.append(line)
        if self._task is None or self._task.done():
            self._task = self._loop.create_task(self._flush())

    async def _flush(self) -> None:
        wait = self._last_edit + self._interval - self._loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        if self._closed:
            return
        text = render_plain([f"⏳ {line}" for line in self._lines])[-1].content or "⏳"
        self._last_edit = self._loop.time()
        self._editing = True
        try:
            await self._responder.edit_progress(text)
        except discord.HTTPException as exc:
            log.debug("progress edit failed: %s", exc)
        finally:
            self._editing = False

    async def __aenter__(self) -> Progress:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop editing; an edit already on the wire is allowed to land first."""
        self._closed = True
        task = self._task
        if task is None or task.done():
            return
        if not self._editing:
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def describe_interaction(itx: discord.Interaction) -> tuple[str, bool]:
    """What a command does, for the answer after a restart, and whether it stores something."""
    name = itx.command.qualified_name if itx.command else "command"
    options = itx.namespace
    if name == "thread ingest":
        url = getattr(options, "url", None)
        attachment = getattr(options, "file", None)
        if url:
            return f"ingesting {_short(str(url))}", True
        if attachment is not None:
            return f"ingesting {_short(getattr(attachment, 'filename', 'the file'))}", True
        return "ingesting this channel's messages", True
    if name == "Ingest this thread":
        return "ingesting this thread's messages", True
    if name == "thread refresh":
        return f"refreshing {_short(str(getattr(options, 'thread', '')))}", True
    return f"answering /{name}", False


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def ingest_status(result: IngestResult) -> str:
    return result.status_line()


def history_enabled(settings: Settings) -> bool:
    """Chat-history ingest needs the privileged message-content intent; off by default.

    On with [discord] message_content = true, or THREADWISE_DISCORD_MESSAGE_CONTENT=1.
    """
    import os

    if settings.discord.message_content:
        return True
    return os.environ.get("THREADWISE_DISCORD_MESSAGE_CONTENT", "").strip() == "1"


HISTORY_OFF = (
    "Reading chat history is turned off on this bot: it needs Discord's privileged "
    "Message Content intent. The bot owner can enable that intent in the Developer Portal "
    "(Bot → Privileged Gateway Intents) and set [discord] message_content = true. "
    "Until then, ingest a URL or a file."
)
