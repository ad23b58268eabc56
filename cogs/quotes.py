"""`/quotes`: who quoted whom, with the quote graph attached as a PNG."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core import render
from bot.discord_app.glue import BotBase, Responder, guild_only, scope_of, thread_autocomplete
from bot.discord_app.render import render_answer

GRAPH_FILE = "quote-graph.png"


class QuotesCog(commands.Cog):
    def __init__(self, bot: BotBase) -> None:
        self.bot = bot

    @guild_only
    @app_commands.command(name="quotes", description="Who quoted whom in a thread, with a graph")
    @app_commands.describe(
        thread="a stored thread",
        user="only quotes by or of this participant",
        post="the quotes and replies around this post number",
        private="only you see the answer",
    )
    @app_commands.autocomplete(thread=thread_autocomplete)
    async def quotes(
        self,
        itx: discord.Interaction,
        thread: str,
        user: app_commands.Range[str, 1, 100] | None = None,
        post: app_commands.Range[int, 1] | None = None,
        private: bool = False,
    ) -> None:
        responder = await Responder.start(itx, private=private)
        services = self.bot.services
        async with responder.progress() as progress:
            result = await services.quotes(scope_of(itx), thread, user, post, progress=progress)
        answer = render.brief(
            render.quotes_answer(result.thread, result.report),
            how_to_narrow="Narrow it to one person with user:, or to one post with post:.",
        )
        png: bytes | None = await services.quote_graph(result)
        if png is not None and len(png) > itx.filesize_limit:
            png = None
            answer = render.Answer(
                title=answer.title,
                sections=answer.sections,
                notes=(*answer.notes, "The graph picture is too big to attach here."),
                link=answer.link,
            )
        image = f"attachment://{GRAPH_FILE}" if png else None
        await responder.send(render_answer(answer, image=image), png=png, filename=GRAPH_FILE)
