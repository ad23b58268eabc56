"""`/optout` and `/optin`: a member's words are theirs to withdraw.

Opting out removes what is stored of the member in this server (their posts and quotes of
their words are redacted) and leaves them out of chat-history ingests and digests.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app.glue import BotBase, Responder, guild_only, scope_of


class PrivacyCog(commands.Cog):
    def __init__(self, bot: BotBase) -> None:
        self.bot = bot

    @guild_only
    @app_commands.command(
        name="optout", description="Leave your messages out of threadwise and remove them"
    )
    async def optout(self, itx: discord.Interaction) -> None:
        responder = await Responder.start(itx, private=True)
        result = await self.bot.services.opt_out(scope_of(itx), str(itx.user.id))
        removed = (
            f"Removed your words from {result.posts} stored message(s) in {result.threads} "
            "thread(s)."
            if result.posts
            else "Nothing of yours was stored."
        )
        await responder.say(
            "You are opted out in this server: your messages are left out of chat-history "
            "ingests and digests from now on.",
            removed,
            "Use /optin to be included again.",
        )

    @guild_only
    @app_commands.command(name="optin", description="Include your messages in threadwise again")
    async def optin(self, itx: discord.Interaction) -> None:
        responder = await Responder.start(itx, private=True)
        changed = await self.bot.services.opt_in(scope_of(itx), str(itx.user.id))
        await responder.say(
            "You are included again in future ingests; what was removed stays removed."
            if changed
            else "You were not opted out; nothing changed."
        )
