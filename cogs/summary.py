"""`/summary`: an extractive summary of a stored thread, every line linked to its post.
`/brief`: the thread brief (bot.core.brief), cut to one message of at most 2,000 characters.

`since:` takes a post number ("only posts after it") or `last`: a personal catch-up that
summarises what this member has not been shown yet and remembers what it showed
(services.summary_since_last_read, per member and thread). A catch-up is about one person's
reading, so it is private unless `private:False` is given; every other summary is public
unless `private:True` is given.
"""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.core import render
from bot.core.summary import ALGORITHM_NAMES, ALGORITHMS, MAX_SENTENCES, SummaryRequest
from bot.discord_app.glue import BotBase, Responder, guild_only, scope_of, thread_autocomplete
from bot.discord_app.render import render_answer, render_one_message
from bot.errors import UserError

LAST = "last"
Since = int | Literal["last"] | None


def parse_since(value: str | int | None) -> Since:
    """None, a post number (0 or more), or "last"; anything else names the option.

    An int arrives from guilds still holding the older integer option (before a /sync).
    """
    if value is None:
        return None
    text = str(value).strip().lower().lstrip("#")
    if text == LAST:
        return LAST
    if text.isdigit():
        return int(text)
    raise UserError(f"since: give a post number like 12, or “last”, not “{value}”.")


async def since_autocomplete(
    itx: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Offer `last`, and the number being typed."""
    choices = [app_commands.Choice(name="last: what is new since you last read it", value=LAST)]
    typed = current.strip().lstrip("#")
    if typed.isdigit() and len(typed) <= 9:
        choices.insert(0, app_commands.Choice(name=f"after post {typed}", value=typed))
    elif typed and not LAST.startswith(typed.lower()):
        return []
    return choices


class SummaryCog(commands.Cog):
    def __init__(self, bot: BotBase) -> None:
        self.bot = bot

    @guild_only
    @app_commands.command(name="summary", description="Summarise a stored thread")
    @app_commands.describe(
        thread="a stored thread",
        algorithm="how sentences are picked (default: the server's setting)",
        length="how many sentences",
        since="only posts after this post number, or “last”: what is new since you last read",
        author="only this author's posts",
        private="only you see the answer (default: yes for since:last, else no)",
        chapters="a short summary of each chapter (run of posts) instead",
    )
    @app_commands.choices(
        algorithm=[app_commands.Choice(name=ALGORITHM_NAMES[a], value=a) for a in ALGORITHMS]
    )
    @app_commands.autocomplete(thread=thread_autocomplete, since=since_autocomplete)
    async def summary(
        self,
        itx: discord.Interaction,
        thread: str,
        algorithm: str | None = None,
        length: app_commands.Range[int, 1, MAX_SENTENCES] | None = None,
        since: app_commands.Range[str, 1, 12] | None = None,
        author: app_commands.Range[str, 1, 100] | None = None,
        private: bool | None = None,
        chapters: bool | None = None,
    ) -> None:
        after = parse_since(since)  # pure: decides the answer's privacy before the defer
        catch_up = after == LAST
        responder = await Responder.start(itx, private=catch_up if private is None else private)
        defaults = self.bot.settings.summary
        request = SummaryRequest(
            algorithm=algorithm or defaults.algorithm,
            sentences=length or (None if chapters else defaults.sentences),
            since_post=after if isinstance(after, int) else None,
            author=author,
        )
        services = self.bot.services
        if catch_up:
            read = await services.summary_since_last_read(
                scope_of(itx), str(itx.user.id), thread, request
            )
            await responder.send(render_answer(read.answer()))
            return
        if chapters:
            async with responder.progress() as progress:
                found = await services.chapters(scope_of(itx), thread, request, None, progress)
            answer = render.chapters_answer(found.thread, found.chapters)
            await responder.send(render_answer(answer))
            return
        async with responder.progress() as progress:
            result = await services.summary(scope_of(itx), thread, request, progress)
        await responder.send(render_answer(render.summary_answer(result.thread, result.summary)))

    @guild_only
    @app_commands.command(
        name="brief",
        description="What a thread is about, its main points, most quoted posts, latest turn",
    )
    @app_commands.describe(
        thread="a stored thread", private="only you see the answer (default: no)"
    )
    @app_commands.autocomplete(thread=thread_autocomplete)
    async def brief(
        self, itx: discord.Interaction, thread: str, private: bool | None = None
    ) -> None:
        responder = await Responder.start(itx, private=bool(private))
        async with responder.progress() as progress:
            result = await self.bot.services.brief(scope_of(itx), thread, progress)
        answer = render.brief_answer(result.thread, result.brief)
        await responder.send([render_one_message(answer)])
