"""The arguments of `threadwise digest …`, apart from its handlers so that building the
parser (every command does) imports none of what running a digest needs."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

LOCAL_TARGET = "local"


# --- argument parsing -------------------------------------------------------------------------


def _schedule_id(value: str) -> int:
    text = value.lstrip("#")
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a digest number like 3, got {value!r}")
    return int(text)


def _instant(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO time like 2025-03-30T09:00+02:00, got {value!r}"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def register(sub: Any) -> argparse.ArgumentParser:
    """Add `digest` and its actions to the `threadwise` subparsers (`sub`)."""
    text = "scheduled digests: what is new in threads since the last one, at a chosen time"
    parser = sub.add_parser("digest", help=text, description=text)
    actions = parser.add_subparsers(dest="digest_command", metavar="ACTION", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        p = actions.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--json", action="store_true", help="print one JSON document")
        return p

    p = action("add", "schedule a digest of one or more stored threads")
    p.add_argument("names", nargs="+", metavar="NAME", help="stored thread names")
    p.add_argument("--at", metavar="HH:MM", help="local time (default: [digest] default_time)")
    p.add_argument(
        "--every",
        metavar="day|week|Nh|CRON",
        help="day (default), week, every N hours like 6h, or a cron expression in quotes",
    )
    p.add_argument("--on", metavar="DAY", help="the day of a weekly digest, e.g. monday")
    p.add_argument("--tz", metavar="ZONE", help="IANA zone (default: [digest] default_timezone)")
    p.add_argument("--target", default=LOCAL_TARGET, help="where to post; the CLI has: local")
    p.add_argument(
        "--quiet-line", action="store_true", help="say 'nothing new' instead of staying silent"
    )
    p.add_argument(
        "--from-start", action="store_true", help="the first digest covers each whole thread"
    )

    action("list", "list this place's digests")
    p = action("remove", "delete a digest")
    p.add_argument("id", type=_schedule_id, metavar="ID")
    p = action("now", "preview a digest now; nothing is stored or moved")
    p.add_argument("id", type=_schedule_id, metavar="ID")
    p.add_argument("--no-refresh", action="store_true", help="do not re-read sources first")
    p = action("run-due", "run every due digest once, as the bot's loop would")
    p.add_argument("--now", type=_instant, metavar="ISO-TIME", help="pretend it is this time")
    return parser
