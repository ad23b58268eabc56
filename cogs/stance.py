"""`/stance`: the sides of a thread, or what one participant argues and whom they answer."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core import render
from bot.discord_app.glue import BotBase, Responder, guild_only, scope_of, thread_autocomplete
from bot.discord_app.render import render_answer


class StanceCog(commands.Cog):
    def __init__(self, bot: BotBase) -> None:
        self.bot = bot

    @guild_only
    @app_commands.command(name="stance", description="Who is on which side of a thread's argument")
    @app_commands.describe(
        thread="a stored thread",
        user="one participant (their name in the thread): side, key points, replies",
        topic="what each side says about this word, with polarity",
        private="only you see the answer",
    )
    @app_commands.autocomplete(thread=thread_autocomplete)
    async def stance(
        self,
        itx: discord.Interaction,
        thread: str,
        user: app_commands.Range[str, 1, 100] | None = None,
        topic: app_commands.Range[str, 1, 100] | None = None,
        private: bool = False,
    ) -> None:
        responder = await Responder.start(itx, private=private)
        async with responder.progress() as progress:
            result = await self.bot.services.stance(scope_of(itx), thread, user, topic, progress)
        await responder.send(
            render_answer(
                render.stance_answer(
                    result.thread,
                    result.report,
                    result.post_urls,
                    ask_about_one="Ask about one person with user:, or about a word with topic:.",
                )
            )
        )
