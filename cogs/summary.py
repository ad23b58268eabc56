"""`/summary`: an extractive summary of a stored thread, every line linked to its post."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core import render
from bot.core.summary import ALGORITHM_NAMES, ALGORITHMS, MAX_SENTENCES, SummaryRequest
from bot.discord_render import render_answer
from cogs import Responder, guild_only, scope_of, thread_autocomplete

if TYPE_CHECKING:
    from bot.discord_app import ThreadwiseBot


class SummaryCog(commands.Cog):
    def __init__(self, bot: ThreadwiseBot) -> None:
        self.bot = bot

    @guild_only
    @app_commands.command(name="summary", description="Summarise a stored thread")
    @app_commands.describe(
        thread="a stored thread",
        algorithm="how sentences are picked (default: the server's setting)",
        length="how many sentences",
        since="only posts after this post number",
        author="only this author's posts",
        private="only you see the answer",
    )
    @app_commands.choices(
        algorithm=[app_commands.Choice(name=ALGORITHM_NAMES[a], value=a) for a in ALGORITHMS]
    )
    @app_commands.autocomplete(thread=thread_autocomplete)
    async def summary(
        self,
        itx: discord.Interaction,
        thread: str,
        algorithm: str | None = None,
        length: app_commands.Range[int, 1, MAX_SENTENCES] | None = None,
        since: app_commands.Range[int, 0] | None = None,
        author: app_commands.Range[str, 1, 100] | None = None,
        private: bool = False,
    ) -> None:
        responder = await Responder.start(itx, private=private)
        defaults = self.bot.settings.summary
        request = SummaryRequest(
            algorithm=algorithm or defaults.algorithm,
            sentences=length or defaults.sentences,
            since_post=since,
            author=author,
        )
        result = await self.bot.services.summary(scope_of(itx), thread, request)
        await responder.send(render_answer(render.summary_answer(result.thread, result.summary)))
