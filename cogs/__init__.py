"""Discord glue only: one thin cog per command group. Each parses its options, calls one
Services method and hands the answer to bot.discord_app.render; what every cog shares
(scope, checks, deferring, progress, delivery) is in bot.discord_app.glue.
"""

from __future__ import annotations

from typing import Any

from bot.discord_app.glue import BotBase


def make_cogs(bot: BotBase) -> list[Any]:
    """Every cog, in a fixed order (the sync payload lists commands in this order)."""
    from cogs.admin import AdminCog
    from cogs.digests import DigestsCog
    from cogs.privacy import PrivacyCog
    from cogs.quotes import QuotesCog
    from cogs.stance import StanceCog
    from cogs.summary import SummaryCog
    from cogs.threads import ThreadListCog, ThreadsCog

    return [
        ThreadsCog(bot),
        ThreadListCog(bot),
        SummaryCog(bot),
        StanceCog(bot),
        QuotesCog(bot),
        DigestsCog(bot),
        PrivacyCog(bot),
        AdminCog(bot),
    ]
