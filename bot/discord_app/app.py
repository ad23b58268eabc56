"""The Discord bot: a commands.Bot with the cogs, one error handler, and guild lifecycle.

Start-up work lives in setup_hook (on_ready fires again on every reconnect); the one
exception is reconciling guild departures, which needs the guild list and so runs on every
on_ready, idempotently. Each deferred interaction is recorded (storage.commands) until it
is answered; at the next start, one a crash or restart left unanswered is told so, by
editing its "thinking…" answer while its 15-minute token lasts. Commands are never synced
on start: only `/sync` (owner) or `threadwise run --sync-commands` do it, and
`command_payload()` shows exactly what a sync would send without connecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.core.render import interrupted_text
from bot.discord_app.glue import (
    DEADLINE_MARGIN,
    INTERACTION_LIFETIME,
    NO_MENTIONS,
    BotBase,
    Responder,
    history_enabled,
    token_gone,
)
from bot.errors import ConfigError, ThreadwiseError
from bot.settings import Settings
from bot.usecases.services import Services
from cogs import make_cogs
from storage.commands import CommandRepository, OpenCommand

if TYPE_CHECKING:
    from storage.members import Reconciled

log = logging.getLogger(__name__)

PURGE_EVERY_HOURS = 6
MAX_RATELIMIT_WAIT = 30.0
"""Longest 429 wait discord.py sleeps through (its minimum); longer ones raise RateLimited."""
GENERIC_FAILURE = "Something went wrong on my side; it has been logged. Please try again later."


def build_intents(history: bool) -> discord.Intents:
    """Only GUILDS (joins, leaves, channel cache). MESSAGE_CONTENT is privileged and is
    asked for only when chat-history ingest is switched on; MEMBERS never."""
    intents = discord.Intents.none()
    intents.guilds = True
    if history:
        intents.message_content = True
    return intents


def leave_grace(settings: Settings) -> timedelta:
    """How long a server's threads are kept after the bot is removed ([discord])."""
    return timedelta(days=settings.discord.leave_grace_days)


def describe_error(error: Exception) -> str | None:
    """The message a user sees for an expected error; None means "unexpected: log it"."""
    if isinstance(error, app_commands.CommandInvokeError | commands.CommandInvokeError):
        error = error.original
    if isinstance(error, app_commands.TransformerError) and error.__cause__ is not None:
        cause = error.__cause__
        if isinstance(cause, ThreadwiseError):
            return str(cause)
    if isinstance(error, ThreadwiseError):
        return str(error)
    if isinstance(error, app_commands.NoPrivateMessage):
        return "threadwise commands work in servers only."
    if isinstance(error, app_commands.MissingPermissions):
        return "You need the " + ", ".join(error.missing_permissions) + " permission for this."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.CheckFailure):
        return str(error) or "You cannot use this command here."
    if isinstance(error, app_commands.TransformerError):
        return f"“{error.value}” is not a valid value for this option."
    if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
        return "This command has changed since Discord last heard of it; ask the owner to /sync."
    return None


class ThreadwiseTree(app_commands.CommandTree):
    """The one global error handler, and a guard for contexts Discord should never send."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        # `_integration_owners` (authorizing_integration_owners: "0" guild install, "1" user
        # install) is private in discord.py 2.7; pyproject pins discord.py below 2.8.
        guild_install = not interaction._integration_owners or 0 in interaction._integration_owners
        if interaction.guild_id is not None and guild_install:
            return True
        if interaction.type is discord.InteractionType.autocomplete:
            await interaction.response.autocomplete([])
        else:
            await interaction.response.send_message(
                "threadwise works in servers it has been added to, not in DMs or as a user app.",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
        return False

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        bot: ThreadwiseBot = interaction.client  # type: ignore[assignment]
        responder = bot.responders.pop(interaction.id, None) or Responder(
            bot, interaction, private=True
        )
        try:
            await _tell_error(interaction, responder, error)
        finally:
            await responder.close()


async def _tell_error(
    interaction: discord.Interaction, responder: Responder, error: app_commands.AppCommandError
) -> None:
    """One order for every error: a user error or check failure is told as is; anything
    else is logged with its context and the user gets a generic reply."""
    text = describe_error(error)
    if text is None:
        original = getattr(error, "original", error)
        command = interaction.command.qualified_name if interaction.command else "?"
        log.error(
            "command /%s failed (guild %s, channel %s, user %s, options %s)",
            command,
            interaction.guild_id,
            interaction.channel_id,
            interaction.user.id if interaction.user else "?",
            _options(interaction),
            exc_info=original,
        )
        text = GENERIC_FAILURE
    try:
        await responder.fail(text)
    except Exception:  # the reply itself failed (Discord down, token gone): log, stop
        log.exception("could not tell the user about an error in /%s", interaction.command)


def _options(interaction: discord.Interaction) -> dict[str, Any]:
    data: Any = interaction.data or {}
    options = data.get("options", [])
    while options and options[0].get("type") in (1, 2):  # subcommand (group)
        options = options[0].get("options", [])
    return {o.get("name"): o.get("value") for o in options}


class ThreadwiseBot(BotBase):
    """Holds Services and Settings for the cogs; knows nothing of SQL or analysis."""

    def __init__(
        self,
        services: Services | None,
        settings: Settings,
        *,
        sync_commands: bool = False,
        clock: Callable[[], datetime] = discord.utils.utcnow,
        **options: Any,
    ) -> None:
        self.services: Services = services  # type: ignore[assignment]  # None: payload only
        self.settings = settings
        self.sync_on_start = sync_commands
        self.clock = clock
        self.history_enabled = history_enabled(settings)
        self.responders: dict[int, Responder] = {}
        self.command_log: CommandRepository | None = None
        """Interactions being answered (set at login, once the application id is known)."""
        # Guild joins, removals and the start-up reconcile each read the guild cache and
        # then write departures; one at a time, so none writes from a stale view.
        self._guild_lock = asyncio.Lock()
        # Set once departures match the guild list: purging before that could delete a
        # guild that re-added the bot while it was offline.
        self._reconciled = asyncio.Event()
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=build_intents(self.history_enabled),
            allowed_mentions=NO_MENTIONS,
            tree_cls=ThreadwiseTree,
            allowed_contexts=app_commands.AppCommandContext(
                guild=True, dm_channel=False, private_channel=False
            ),
            allowed_installs=app_commands.AppInstallationType(guild=True, user=False),
            # a 429 asking for a longer wait raises instead of sleeping: a command fails
            # with a clear message, a digest is retried later, nothing hangs for minutes
            max_ratelimit_timeout=options.pop("max_ratelimit_timeout", MAX_RATELIMIT_WAIT),
            **options,
        )

    async def setup_hook(self) -> None:
        """Runs once per login, before the gateway connects (unlike on_ready)."""
        self.command_log = CommandRepository(
            self.services.db, "discord", str(self.application_id), clock=self.clock
        )
        await self.answer_interrupted()
        for cog in make_cogs(self):
            await self.add_cog(cog)
        if self.sync_on_start:
            synced = await self.tree.sync()
            log.info("synced %d application commands (--sync-commands)", len(synced))
        if not self.purge_departed.is_running():
            self.purge_departed.start()

    async def close(self) -> None:
        self.purge_departed.cancel()
        await super().close()

    async def on_ready(self) -> None:
        log.info("Discord ready as %s in %d guilds", self.user, len(self.guilds))
        try:
            await self.reconcile_guilds()
        except Exception:
            log.exception("reconciling guild departures failed; retried at the next ready")

    async def on_app_command_completion(
        self, interaction: discord.Interaction, command: Any
    ) -> None:
        """A command that returned without answering still gets an answer."""
        responder = self.responders.pop(interaction.id, None)
        if responder is None:
            return
        if not responder.delivered:
            log.warning("/%s finished without an answer", command.qualified_name)
            with contextlib.suppress(discord.HTTPException):
                await responder.say("Done.")
        await responder.close()

    # --- interactions a restart cut short ----------------------------------------------------

    async def answer_interrupted(self) -> int:
        """Tell each interaction an earlier run deferred and never answered that it was cut
        short, by editing its "thinking…" answer; returns how many were told.

        Only while its 15-minute token lasts: after that Discord accepts nothing more for
        it. An answer that did arrive (the run died before noting it) is left alone: the
        original answer is read first, and only a "thinking…" or progress line is replaced.
        """
        assert self.command_log is not None
        told = 0
        try:
            for command in await self.command_log.unfinished():
                if not self.owns_scope(command.scope):
                    continue  # another process's shards: it may still be answering
                if await self._tell_interrupted(command):
                    told += 1
                await self.command_log.finish(command.id, "interrupted")
            await self.command_log.prune(self.clock() - timedelta(days=7))
        except Exception:  # the bot still starts; what is left is retried at the next start
            log.exception("answering interactions interrupted by the last stop failed")
        if told:
            log.info("told %d interrupted interaction(s) that the bot restarted", told)
        return told

    async def _tell_interrupted(self, command: OpenCommand) -> bool:
        where = command.reply_to
        created = _parse_time(where.get("created_at"))
        app_id, token = where.get("application_id"), where.get("token")
        if command.answered or not app_id or not token or created is None:
            return False
        if self.clock() >= created + INTERACTION_LIFETIME - DEADLINE_MARGIN:
            log.warning("interaction %s was cut short and its token has expired", command.key)
            return False
        webhook = discord.Webhook.partial(int(app_id), token, client=self)
        try:
            original = await webhook.fetch_message("@original")  # type: ignore[arg-type]
            if not (original.flags.loading or original.content.startswith("⏳")):
                return False  # the answer got there before the stop
            text = interrupted_text(command.what, stores=bool(where.get("stores")))
            await webhook.edit_message(  # type: ignore[arg-type]
                "@original", content=text, embeds=[], allowed_mentions=NO_MENTIONS
            )
        except discord.HTTPException as exc:
            if not token_gone(exc):
                log.warning("could not tell interaction %s it was cut short: %s", command.key, exc)
            return False
        return True

    # --- guild lifecycle -------------------------------------------------------------------

    def owns_scope(self, scope: str) -> bool:
        """Whether `discord:<guild>` is on this process's shards (see DiscordSettings)."""
        _, _, guild = scope.partition(":")
        return guild.isdigit() and self.settings.discord.owns_guild(int(guild))

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """Kicked or the guild was deleted: purge after the grace period. An outage
        (GUILD_DELETE with unavailable) never gets here in discord.py; checked anyway."""
        if guild.unavailable:
            return
        async with self._guild_lock:
            await self.services.scopes.mark_left(f"discord:{guild.id}")
        grace = leave_grace(self.settings)
        log.info("left guild %s; its data is removed after %s", guild.id, grace)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        async with self._guild_lock:
            back = await self.services.scopes.mark_back(f"discord:{guild.id}")
        if back:
            log.info("back in guild %s; its data is kept", guild.id)

    async def reconcile_guilds(self) -> Reconciled:
        """Catch up on removals and re-adds that happened while the bot was offline (no
        event ever arrives for them). Call only once the guild cache is filled (on_ready).

        Every guild in the cache counts as present, unavailable ones included: READY lists
        only guilds the bot is in, and an outage or a GUILD_CREATE still on its way is not
        a removal. A Discord scope with stored data whose guild is absent is recorded as
        left now, so the grace period starts now; present guilds lose a pending departure.
        Repeating it (on_ready after a reconnect) changes nothing more. A process that runs
        some of a sharded bot's shards sees only their guilds, so it reconciles (and purges)
        only the scopes of guilds on its own shards: another process's are not gone.
        """
        async with self._guild_lock:
            guilds = list(self.guilds)
            present = {f"discord:{guild.id}" for guild in guilds}
            account = str(self.user.id) if self.user is not None else None
            result = await self.services.scopes.reconcile(
                "discord", present, when=self.clock(), account=account, owns=self.owns_scope
            )
        if result.skipped:
            # Another bot account than last time (a wrong token, a staging bot on the same
            # database): it sees none of the stored guilds, which are not gone.
            log.warning("guild departures not reconciled: %s", result.skipped)
            self._reconciled.set()
            return result
        unavailable = sum(1 for guild in guilds if guild.unavailable)
        grace = leave_grace(self.settings)
        for scope in result.left:
            log.info("%s is no longer among my guilds; its data is removed after %s", scope, grace)
        for scope in result.back:
            log.info("back in %s while offline; its pending removal is cancelled", scope)
        log.info(
            "reconciled guild departures: %d guilds (%d unavailable, kept), %d left, %d back",
            len(guilds),
            unavailable,
            len(result.left),
            len(result.back),
        )
        self._reconciled.set()
        return result

    async def purge_departed_scopes(self, now: datetime | None = None) -> list[str]:
        present = {f"discord:{guild.id}" for guild in self.guilds}
        gone = await self.services.scopes.purge_departed(
            leave_grace(self.settings),
            now,
            platform="discord",
            present=present,
            owns=self.owns_scope,
        )
        for scope in gone:
            log.info("purged %s after the grace period", scope)
        return gone

    @tasks.loop(hours=PURGE_EVERY_HOURS)
    async def purge_departed(self) -> None:
        try:
            await self.purge_departed_scopes()
        except Exception:
            log.exception("purging departed guilds failed; retrying next round")

    @purge_departed.before_loop
    async def _purge_after_reconcile(self) -> None:
        """The first purge waits for the start-up reconcile: an old departure of a guild
        that re-added the bot while it was offline is cleared there, not purged."""
        await self._reconciled.wait()


def _parse_time(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


class ShardedThreadwiseBot(ThreadwiseBot, commands.AutoShardedBot):
    """The same bot over `[discord] shard_count` shards, running `shard_ids` of them (all
    when empty): discord.py's AutoShardedBot opens one gateway connection per shard."""


def make_bot(services: Services | None, settings: Settings, **options: Any) -> ThreadwiseBot:
    """A plain bot, or a sharded one when `[discord] shard_count` is set."""
    discord_settings = settings.discord
    if not discord_settings.sharded:
        return ThreadwiseBot(services, settings, **options)
    return ShardedThreadwiseBot(
        services,
        settings,
        shard_count=discord_settings.shard_count,
        shard_ids=list(discord_settings.shard_ids) or None,
        **options,
    )


def command_payload(settings: Settings) -> list[dict[str, Any]]:
    """The application-command JSON a sync sends (names, options, permissions, contexts),
    built without connecting; `threadwise discord-commands --json` prints it."""
    bot = ThreadwiseBot(None, settings)
    tree = bot.tree
    for cog in make_cogs(bot):
        group = cog.app_command
        for command in [group] if group is not None else cog.get_app_commands():
            tree.add_command(command)
        for menu in getattr(cog, "context_menus", list)():
            tree.add_command(menu)
    return [command.to_dict(tree) for command in tree.get_commands()]


async def run_discord(
    services: Services,
    settings: Settings,
    *,
    sync_commands: bool = False,
    publishers: dict[str, Any] | None = None,
) -> None:
    """Run the bot until cancelled; the gateway and HTTP session are always closed.

    `publishers` (the digest scheduler's) gets the Discord Publisher for this bot.
    """
    token = settings.discord.require_token()
    bot = make_bot(services, settings, sync_commands=sync_commands)
    if settings.discord.sharded:
        shards = settings.discord.shard_ids or range(settings.discord.shard_count or 1)
        log.info("Discord: shards %s of %d", list(shards), settings.discord.shard_count)
    if publishers is not None:
        from bot.discord_app.publisher import DiscordPublisher

        publishers["discord"] = DiscordPublisher(bot)
    try:
        async with bot:
            await bot.start(token)
    except discord.LoginFailure as exc:
        raise ConfigError("Discord rejected the token (DISCORD_TOKEN / [discord] token)") from exc
    except discord.PrivilegedIntentsRequired as exc:
        raise ConfigError(
            "Discord refused the Message Content intent: enable it for the bot in the "
            "Developer Portal, or turn chat-history ingest off"
        ) from exc
    finally:
        if not bot.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.shield(bot.close())
