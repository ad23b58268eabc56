"""Chat text → a parsed command: shell-like splitting, argparse options, one table of commands.

`parse("!tw summary tram --sentences 3", "!tw")` gives Command("summary", Namespace(...)).
Text not addressed to the bot gives None; a malformed command raises UsageError whose
message is the problem plus that command's usage line, ready to send back.
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NoReturn

from bot.argtypes import positive_int
from bot.core.summary import ALGORITHMS
from bot.errors import UserError, clip_words

ADMIN_COMMANDS = frozenset(
    {
        "thread ingest",
        "thread refresh",
        "thread forget",
        "digest add",
        "digest remove",
        "digest now",
    }
)
"""Commands that write (or, for `digest now`, refresh sources on demand): they need the
room's admin power level."""

LAST = "last"
"""`summary NAME --since last`: what the sender has not been shown yet."""

_SMART_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'"})
_FALLBACK_LINE = re.compile(r"^> ?")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class _OneLineUsage(argparse.HelpFormatter):
    """Chat clients wrap lines themselves; argparse's terminal-width wrapping only hurts."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=1000, max_help_position=30)


class UsageError(UserError):
    """The command was addressed to the bot but is malformed; the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    """"summary", "thread ingest", "digest add", "help", ..."""
    args: argparse.Namespace

    @property
    def admin(self) -> bool:
        return self.name in ADMIN_COMMANDS


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing and exiting the process."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", _OneLineUsage)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{clip_words(message)}\n{self.format_usage().strip()}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError((message or "").strip() or self.format_usage().strip())


def strip_reply_fallback(body: str) -> str:
    """Drop the quoted "> <@user:server> ..." lines a client puts before a reply's own text."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> <"):
        return body
    i = 0
    while i < len(lines) and _FALLBACK_LINE.match(lines[i]):
        i += 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    return "\n".join(lines[i:])


def addressed(body: str, prefix: str) -> bool:
    """Cheap check before parsing: does the (fallback-stripped) text start with the prefix?"""
    words = body.lstrip().split(maxsplit=1)
    return bool(words) and words[0].casefold() == prefix.casefold()


def parse(body: str, prefix: str) -> Command | None:
    """The command in `body`, None when the text is not for the bot."""
    text = strip_reply_fallback(body).strip()
    if not addressed(text, prefix):
        return None
    try:
        words = shlex.split(text.translate(_SMART_QUOTES))
    except ValueError as exc:  # an unclosed quote
        raise UsageError(f"could not read the command: {exc}") from None
    words = words[1:]
    if not words:
        return Command("help", argparse.Namespace(topic=[]))
    args = _parser(prefix).parse_args(words)
    name = " ".join(part for part in (args.group, getattr(args, "action", None)) if part)
    return Command(name, args)


def help_text(prefix: str, topic: Sequence[str] = ()) -> str:
    """Usage of every command, or of one (["summary"], ["thread", "ingest"])."""
    parser: argparse.ArgumentParser = _parser(prefix)
    for word in topic:
        nested = _subcommands(parser)
        if word.lower() not in nested:
            break
        parser = nested[word.lower()]
    else:
        if topic:
            return parser.format_help().strip()
    subparsers = _subcommands(_parser(prefix))
    lines = [f"threadwise commands (start each with {prefix}):"]
    for sub in subparsers.values():
        nested = _subcommands(sub)
        if nested:
            lines.extend(f"  {sub_p.format_usage().strip()[7:]}" for sub_p in nested.values())
        else:
            lines.append(f"  {sub.format_usage().strip()[7:]}")
    lines.append(
        "Ingest an uploaded file: reply to the file with "
        f"“{prefix} thread ingest [--name NAME]”. Ingest this room or thread: "
        f"“{prefix} thread ingest here”."
    )
    lines.append(f"Details: {prefix} help COMMAND")
    return "\n".join(lines)


# --- the command table -----------------------------------------------------------------


def _since(value: str) -> int | str:
    """A post number, or "last" (the sender's own catch-up)."""
    if value.strip().lower() == LAST:
        return LAST
    try:
        number = int(value.lstrip("#"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a post number or “last”, got {value!r}"
        ) from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected a post number of at least 0, got {number}")
    return number


def _weekday(value: str) -> int:
    key = value.strip().lower()
    matches = [i for i, day in enumerate(WEEKDAYS) if day.startswith(key)] if key else []
    if len(matches) != 1:
        raise argparse.ArgumentTypeError(f"expected a weekday like monday, got {value!r}")
    return matches[0]


@lru_cache(maxsize=4)
def _parser(prefix: str) -> _Parser:
    """The command table; built once per prefix (parsing does not change a parser)."""
    root = _Parser(prog=prefix, add_help=False)
    groups = root.add_subparsers(dest="group", metavar="COMMAND", parser_class=_Parser)
    groups.required = True

    def add(
        parent: argparse._SubParsersAction, name: str, text: str, build: Callable | None = None
    ) -> _Parser:
        p = parent.add_parser(name, help=text, description=text, add_help=False)
        if build:
            build(p)
        return p

    thread = add(groups, "thread", "store, refresh, list or forget threads")
    actions = thread.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    actions.required = True
    ingest = add(
        actions,
        "ingest",
        "store a thread: a forum URL, “here” (this room or thread), or reply to an uploaded file",
    )
    ingest.add_argument("source", nargs="?", metavar="URL|here")
    ingest.add_argument("--name", help="name to store it under (default: from the title)")
    add(actions, "refresh", "re-read a stored thread from its source", _name)
    add(actions, "list", "list the threads stored for this room")
    add(actions, "forget", "delete a stored thread and everything derived from it", _name)

    summary = add(groups, "summary", "extractive summary, every sentence attributed", _name)
    summary.add_argument(
        "--algorithm", choices=ALGORITHMS, metavar="ALGORITHM", help=", ".join(ALGORITHMS)
    )
    length = summary.add_mutually_exclusive_group()
    length.add_argument("--sentences", type=positive_int, metavar="N")
    length.add_argument("--words", type=positive_int, metavar="N")
    length.add_argument("--chars", type=positive_int, metavar="N")
    summary.add_argument(
        "--since",
        type=_since,
        metavar="N|last",
        help="only posts after post N; “last”: what is new since you last read it",
    )
    summary.add_argument("--from", dest="first", type=positive_int, metavar="N")
    summary.add_argument("--to", dest="last", type=positive_int, metavar="N")
    summary.add_argument("--author")
    summary.add_argument("--explain", action="store_true")
    summary.add_argument(
        "--chapters",
        nargs="?",
        const=0,
        type=positive_int,
        metavar="N",
        help="a short summary of each chapter (run of posts) instead",
    )

    add(
        groups,
        "brief",
        "what a thread is about, its main points, most quoted posts and latest turn",
        _name,
    )

    stance = add(groups, "stance", "what each participant argues; [@user] [topic]", _name)
    stance.add_argument("rest", nargs="*", metavar="[@user] [topic]")
    stance.add_argument("--author")
    stance.add_argument("--topic")

    quotes = add(groups, "quotes", "who quoted whom, with the graph as a picture", _name)
    quotes.add_argument("--author")
    quotes.add_argument("--post", type=positive_int, metavar="N")

    digest = add(groups, "digest", "scheduled digests of threads, posted in this room")
    dactions = digest.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    dactions.required = True
    dadd = add(dactions, "add", "post what is new in threads here, on a schedule")
    dadd.add_argument("names", nargs="+", metavar="NAME", help="stored thread names")
    dadd.add_argument("--at", metavar="HH:MM", help="local time (default: [digest] setting)")
    dadd.add_argument(
        "--every",
        metavar="day|week|Nh|CRON",
        help="day (default), week, every N hours like 6h, or a cron expression in quotes "
        'like "0 9 * * 1-5"',
    )
    dadd.add_argument("--on", metavar="DAY", help="the day of a weekly digest, e.g. monday")
    dadd.add_argument(
        "--tz", "--timezone", dest="tz", metavar="ZONE", help='IANA zone like "Europe/Berlin"'
    )
    # The first spelling, still accepted: --weekly DAY is --every week --on DAY.
    dadd.add_argument("--weekly", type=_weekday, metavar="DAY", help=argparse.SUPPRESS)
    add(dactions, "list", "list this room's digests and when each runs next")
    dremove = add(dactions, "remove", "stop and delete a digest")
    dremove.add_argument("id", type=positive_int, metavar="ID")
    dnow = add(dactions, "now", "preview a digest now; nothing is stored or moved")
    dnow.add_argument("id", type=positive_int, metavar="ID")

    helper = add(groups, "help", "how to use the commands")
    helper.add_argument("topic", nargs="*")
    return root


def _name(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}
