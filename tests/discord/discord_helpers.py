"""Builders for INTERACTION_CREATE payloads, the Driver that runs them through the bot's
command tree, and small threads written for these tests."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import discord
from fake_discord import APP_ID, FakeDiscord, user_json

from bot.discord_app.app import ThreadwiseBot

GUILD_A = 700000000000000001
GUILD_B = 700000000000000002
CHANNEL_A = 710000000000000001
CHANNEL_B = 710000000000000002
ADMIN = 720000000000000001
MEMBER = 720000000000000002
MANAGE_GUILD = 1 << 5
EVERYDAY = (1 << 10) | (1 << 11) | (1 << 16)  # view channel, send messages, read history

_option_ids = itertools.count(1)


def text_channel(channel_id: int, guild_id: int, name: str = "general") -> dict[str, Any]:
    return {
        "id": str(channel_id),
        "type": 0,
        "guild_id": str(guild_id),
        "name": name,
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "flags": 0,
    }


def opt(name: str, value: Any, kind: int | None = None, **extra: Any) -> dict[str, Any]:
    """One command option; the type is inferred (3 string, 4 integer, 5 boolean)."""
    if kind is None:
        kind = 5 if isinstance(value, bool) else 4 if isinstance(value, int) else 3
    return {"name": name, "type": kind, "value": value, **extra}


def sub(name: str, *options: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "type": 1, "options": list(options)}


class Driver:
    """Builds INTERACTION_CREATE payloads and runs them through the bot's command tree."""

    def __init__(self, bot: ThreadwiseBot, fake: FakeDiscord) -> None:
        self.bot = bot
        self.fake = fake

    def payload(
        self,
        name: str,
        options: list[dict[str, Any]] | None = None,
        *,
        guild_id: int | None = GUILD_A,
        channel_id: int = CHANNEL_A,
        user_id: int = ADMIN,
        permissions: int = EVERYDAY | MANAGE_GUILD,
        roles: tuple[int, ...] = (),
        interaction_type: int = 2,
        command_type: int = 1,
        resolved: dict[str, Any] | None = None,
        target_id: int | None = None,
        user_install: bool = False,
        channel: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        interaction_id = self.fake.snowflake()
        data: dict[str, Any] = {
            "id": str(900 + next(_option_ids)),
            "name": name,
            "type": command_type,
            "options": options or [],
        }
        if resolved:
            data["resolved"] = resolved
        if target_id is not None:
            data["target_id"] = str(target_id)
        user = user_json(user_id, f"user{user_id % 1000}")
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(APP_ID),
            "type": interaction_type,
            "token": f"tok{interaction_id}",
            "version": 1,
            "locale": "en-US",
            "attachment_size_limit": 10 * 1024 * 1024,
            "app_permissions": str(EVERYDAY),
            "entitlements": [],
            "data": data,
            "channel_id": str(channel_id),
        }
        if guild_id is not None:
            payload["guild_id"] = str(guild_id)
            payload["guild"] = {"id": str(guild_id), "locale": "en-US", "features": []}
            payload["guild_locale"] = "en-US"
            payload["channel"] = channel or text_channel(channel_id, guild_id)
            payload["member"] = {
                "user": user,
                "roles": [str(r) for r in roles],
                "joined_at": "2025-01-01T00:00:00+00:00",
                "permissions": str(permissions),
                "flags": 0,
                "deaf": False,
                "mute": False,
                "nick": None,
                "pending": False,
                "premium_since": None,
            }
            owners = {"1": str(user_id)} if user_install else {"0": str(guild_id)}
            payload["context"] = 0
        else:
            payload["channel"] = {"id": str(channel_id), "type": 1, "recipients": [user]}
            payload["user"] = user
            owners = {"1": str(user_id)}
            payload["context"] = 1
        payload["authorizing_integration_owners"] = owners
        return payload

    async def run(self, payload: dict[str, Any]) -> discord.Interaction:
        """What discord.py does on INTERACTION_CREATE for an application command."""
        itx: discord.Interaction = discord.Interaction(data=payload, state=self.bot._connection)
        await self.bot.tree._call(itx)
        await self.settle()
        return itx

    async def command(self, name: str, *options: dict[str, Any], **kw: Any) -> list[Any]:
        """Run one command; returns the requests it caused."""
        before = len(self.fake.requests)
        await self.run(self.payload(name, list(options), **kw))
        return self.fake.requests[before:]

    async def autocomplete(
        self, name: str, options: list[dict[str, Any]], **kw: Any
    ) -> list[dict[str, Any]]:
        before = len(self.fake.requests)
        await self.run(self.payload(name, options, interaction_type=4, **kw))
        (callback,) = [r for r in self.fake.requests[before:] if r.path.endswith("/callback")]
        assert callback.json["type"] == 8
        return callback.json["data"]["choices"]

    async def settle(self) -> None:
        await settle_discord_tasks()


async def settle_discord_tasks() -> None:
    """Wait for the listeners discord.py dispatched as tasks (app_command_completion, ...)."""
    for _ in range(50):
        pending = [
            t
            for t in asyncio.all_tasks()
            if t.get_name().startswith("discord.py:") and not t.done()
        ]
        if not pending:
            return
        await asyncio.gather(*pending, return_exceptions=True)


# --- threads in our own words ---------------------------------------------------------------

GARDEN = [
    (
        "Maya",
        "The empty lot behind the library should become a community garden. Raised beds "
        "cost little, and the school could use them for science lessons every spring.",
    ),
    (
        "Tom",
        "Raised beds cost little, and the school could use them for science lessons every "
        "spring.\nI doubt it. Somebody has to water the beds all through the summer "
        "holidays, and volunteers drift away after the first month.",
    ),
    (
        "Ines",
        "A rota solves the watering problem. The allotment society on Mill Road has run one "
        "for nine years without missing a week.",
    ),
    (
        "Tom",
        "Nine years is impressive, but Mill Road charges a yearly fee, which keeps people "
        "committed. A free garden attracts enthusiasm and then neglect.",
    ),
    (
        "Maya",
        "Then we charge a small fee too. Ten pounds a season would pay for tools, seeds "
        "and a water butt.",
    ),
    (
        "Ravi",
        "The council owns the lot, so any garden needs a lease. Their parks office answered "
        "my email within a day and sounded keen on the idea.",
    ),
]


def garden_json(url: str = "https://forum.example/t/garden") -> bytes:
    posts = [
        {"id": str(n), "author": a, "url": f"{url}/{n}", "text": t}
        for n, (a, t) in enumerate(GARDEN, start=1)
    ]
    return json.dumps({"title": "A garden behind the library", "url": url, "posts": posts}).encode()


def hostile_json(posts: int = 50) -> bytes:
    """A thread whose every post tries something: pings, markdown, masked links, astral
    emoji, very long sentences, and quotes of earlier posts."""
    tricks = [
        "@everyone @here <@&1> <@2> look at this!",
        "# Not a heading\n-# not subtext\n> not a quote from me",
        "[free money](https://evil.example/steal) and ||spoilers|| and `code` and **bold**.",
        "🧵😀👩‍👩‍👧‍👦 " * 40 + "emoji all the way down.",
        "A very long sentence about buses and trams " * 60 + "ends here.",
        "</summary:1> <t:0:R> <#99> \\*escaped\\* ~~struck~~ __under__",
        "https://forum.example/t/hostile_(x)@y is where *this* started.",
    ]
    items = []
    for n in range(1, posts + 1):
        text = f"Post {n} says: {tricks[n % len(tricks)]}"
        if n > 3 and n % 5 == 0:
            text = f"{tricks[(n - 3) % len(tricks)]}\nI disagree with that, strongly, post {n}."
        items.append(
            {
                "id": str(n),
                "author": ["@everyone", "**Bold Bob**", "<@&1>", "Ann 😀", "[x](y)"][n % 5],
                "url": f"https://forum.example/t/hostile/{n}",
                "text": text,
            }
        )
    title = "@here **Hostile** [thread](https://evil.example) " + "😀" * 200
    return json.dumps(
        {"title": title, "url": "https://forum.example/t/hostile", "posts": items}
    ).encode()


def attachment_option(fake: FakeDiscord, data: bytes, filename: str = "thread.json") -> tuple:
    """(option, resolved) for a file option whose attachment the fake serves."""
    url = fake.add_attachment(filename, data)
    attachment_id = str(fake.snowflake())
    resolved = {
        "attachments": {
            attachment_id: {
                "id": attachment_id,
                "filename": filename,
                "size": len(data),
                "url": url,
                "proxy_url": url,
                "content_type": "application/json",
            }
        }
    }
    return opt("file", attachment_id, kind=11), resolved
