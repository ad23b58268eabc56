"""`/sync`: the one way (besides `threadwise run --sync-commands`) commands reach Discord.

Syncing on every start wastes a rate-limited call and can publish half-finished commands
(RoboDanny's habit): only a bot owner may do it, on purpose.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app.glue import BotBase, Responder, bot_of, guild_only


class NotOwner(app_commands.CheckFailure):
    """Only the bot's owners may run this."""


def owner_ids(bot: BotBase) -> set[int]:
    """[discord] owner_ids plus the application's owner or team (cached at login)."""
    ids = set(bot.settings.discord.owner_ids)
    app = bot.application
    if app is not None:
        if app.team is not None:
            ids.update(m.id for m in app.team.members)
        elif app.owner is not None:
            ids.add(app.owner.id)
    return ids


async def _is_owner(itx: discord.Interaction) -> bool:
    if itx.user.id in owner_ids(bot_of(itx)):
        return True
    raise NotOwner("Only the bot's owner can sync commands.")


class AdminCog(commands.Cog):
    def __init__(self, bot: BotBase) -> None:
        self.bot = bot

    @guild_only
    @app_commands.default_permissions()  # "0": hidden from everyone but administrators
    @app_commands.command(name="sync", description="Owner only: publish slash commands")
    @app_commands.check(_is_owner)
    async def sync(self, itx: discord.Interaction) -> None:
        responder = await Responder.start(itx, private=True)
        synced = await self.bot.tree.sync()
        await responder.say(
            f"Synced {len(synced)} commands globally; Discord may take a minute to show them."
        )
