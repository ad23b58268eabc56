"""`/thread ingest|refresh|forget` (Manage Server), `/threads` (everyone) and the
"Ingest this thread" message menu.

Discord sets default_member_permissions per top-level command, never per subcommand, so
the open listing lives in its own `/threads` command and `/thread` is the managers' group.
"""

from __future__ import annotations

import re

import discord
from discord import app_commands
from discord.ext import commands

from bot.core import render
from bot.core.models import StoredThread
from bot.discord_app.glue import (
    HISTORY_OFF,
    BotBase,
    Progress,
    Responder,
    guild_only,
    ingest_status,
    manager_only,
    scope_of,
    thread_autocomplete,
)
from bot.discord_app.history import read_history
from bot.discord_app.render import render_answer
from bot.errors import SourceError, UserError
from bot.usecases.services import IngestResult, ProgressFn

_JUMP = re.compile(r"^https://(?:\w+\.)?discord(?:app)?\.com/channels/(\d+)/(\d+)$")


THREADS_SHOWN = 50
"""/threads lists at most this many (the command line lists them all)."""


@guild_only
@app_commands.default_permissions(manage_guild=True)
class ThreadsCog(
    commands.GroupCog, group_name="thread", group_description="Store, refresh or forget threads"
):
    """Changing what is stored needs Manage Server (hint for Discord + runtime check)."""

    def __init__(self, bot: BotBase) -> None:
        self.bot = bot
        self.menu = app_commands.ContextMenu(name="Ingest this thread", callback=self.ingest_menu)
        super().__init__()

    def context_menus(self) -> list[app_commands.ContextMenu]:
        return [self.menu]

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)
        if self.bot.history_enabled:  # digests and refreshes read new messages through it
            self.bot.services.chat_readers["discord"] = self.reread

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)
        if self.bot.services.chat_readers.get("discord") == self.reread:
            del self.bot.services.chat_readers["discord"]

    async def reread(
        self, thread: StoredThread, progress: ProgressFn | None = None
    ) -> IngestResult:
        """The chat reader for Services.refresh: a Discord thread or channel ingested with
        `here` is read again and what is new is stored (a digest does this first)."""
        jump = _JUMP.match(thread.source_url or "")
        if jump is None:
            raise UserError(f"“{thread.name}” has no Discord channel to read again")
        if f"discord:{jump.group(1)}" != thread.scope:
            raise UserError("That thread came from another server.")
        channel = await self._channel(int(jump.group(2)))
        return await self._ingest_channel(channel, thread.scope, thread.name, progress)

    @app_commands.command(name="ingest", description="Store a thread from a URL, a file or here")
    @app_commands.describe(
        url="forum thread URL",
        file="a saved copy: plain text, Markdown or JSON",
        here="read this Discord thread / channel's messages",
        name="name to store it under (default: made from the title)",
    )
    @manager_only()
    async def ingest(
        self,
        itx: discord.Interaction,
        url: str | None = None,
        file: discord.Attachment | None = None,
        here: bool = False,
        name: app_commands.Range[str, 1, 64] | None = None,
    ) -> None:
        responder = await Responder.start(itx, private=True)
        scope = scope_of(itx)
        chosen = sum((url is not None, file is not None, here))
        if chosen != 1:
            raise UserError("Give exactly one source: url, file, or here:True.")
        async with responder.progress() as progress:
            if here:
                result = await self._ingest_channel(itx.channel, scope, name, progress)
            elif file is not None:
                limit = self.bot.settings.storage.max_upload_bytes
                if file.size > limit:
                    raise UserError(
                        f"{file.filename} is {file.size / 1048576:.1f} MB; the limit is "
                        f"{limit / 1048576:.1f} MB."
                    )
                try:
                    data = await file.read()
                except discord.HTTPException as exc:
                    raise SourceError(f"could not download {file.filename} from Discord") from exc
                result = await self.bot.services.ingest_bytes(
                    scope, data, name=name, progress=progress
                )
            else:
                assert url is not None
                result = await self.bot.services.ingest_url(
                    scope, url.strip(), name=name, progress=progress
                )
        await responder.say(ingest_status(result), f"Next: /summary thread:{result.thread.name}")

    @guild_only
    @app_commands.default_permissions(manage_guild=True)
    @manager_only()
    async def ingest_menu(self, itx: discord.Interaction, message: discord.Message) -> None:
        """Message menu → ingest the thread/channel the message is in."""
        responder = await Responder.start(itx, private=True)
        scope = scope_of(itx)
        async with responder.progress() as progress:
            result = await self._ingest_channel(message.channel, scope, None, progress)
        await responder.say(ingest_status(result), f"Next: /summary thread:{result.thread.name}")

    async def _ingest_channel(
        self,
        channel: object,
        scope: str,
        name: str | None,
        progress: Progress | ProgressFn | None,
    ) -> IngestResult:
        if not self.bot.history_enabled:  # decided at start-up, with the intents
            raise UserError(HISTORY_OFF)
        if channel is None or not hasattr(channel, "history"):
            raise UserError("This command has to be used in a text channel, thread or forum post.")
        if isinstance(channel, discord.PartialMessageable):  # a thread the cache never saw
            channel = await self._channel(channel.id)
        skip = await self.bot.services.opted_out(scope)
        if progress is not None:
            progress("Reading the message history…")
        doc = await read_history(channel, skip, progress=progress)  # type: ignore[arg-type]
        return await self.bot.services.ingest_doc(scope, doc, name=name, progress=progress)

    @app_commands.command(name="refresh", description="Re-read a stored thread from its source")
    @app_commands.describe(thread="a stored thread")
    @app_commands.autocomplete(thread=thread_autocomplete)
    @manager_only()
    async def refresh(self, itx: discord.Interaction, thread: str) -> None:
        responder = await Responder.start(itx, private=True)
        scope = scope_of(itx)
        async with responder.progress() as progress:  # a Discord thread: through `reread`
            result = await self.bot.services.refresh(scope, thread, progress=progress)
        await responder.say(ingest_status(result))

    async def _channel(self, channel_id: int) -> discord.abc.Messageable:
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self.bot.fetch_channel(channel_id)
            except discord.HTTPException as exc:
                raise SourceError("I can no longer see the channel this thread came from") from exc
        return channel  # type: ignore[return-value]

    @app_commands.command(name="forget", description="Delete a stored thread and its analyses")
    @app_commands.describe(thread="a stored thread")
    @app_commands.autocomplete(thread=thread_autocomplete)
    @manager_only()
    async def forget(self, itx: discord.Interaction, thread: str) -> None:
        responder = await Responder.start(itx, private=True)
        gone = await self.bot.services.forget(scope_of(itx), thread)
        await responder.say(f"Forgot {gone.name} (“{gone.title}”) and everything derived from it.")


class ThreadListCog(commands.Cog):
    """Reading is open to every member."""

    def __init__(self, bot: BotBase) -> None:
        self.bot = bot

    @guild_only
    @app_commands.command(name="threads", description="List the threads stored in this server")
    @app_commands.describe(private="only you see the answer")
    async def threads(self, itx: discord.Interaction, private: bool = False) -> None:
        responder = await Responder.start(itx, private=private)
        threads = await self.bot.services.list_threads(scope_of(itx))
        listed = render.brief(render.thread_list(threads), max_lines=THREADS_SHOWN)
        await responder.send(render_answer(listed))
