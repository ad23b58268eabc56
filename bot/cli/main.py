"""`threadwise` — the command line: ingest and analyse threads with no chat account.

    threadwise [--config PATH] [--db PATH] COMMAND ...
    threadwise backup PATH      (a consistent copy of the database, safe while the bot runs)

Every command prints readable text, or one JSON document on stdout with --json.
Exit status: 0 success, 1 a problem with the request or the source (reason on stderr),
2 bad usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import json
import os
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

from bot.argtypes import positive_int, shard_range
from bot.cli import digest_args
from bot.cli.terminal import json_bytes, render_text
from bot.core import forked, jsonout, render
from bot.core.models import LOCAL_SCOPE
from bot.core.summary import ALGORITHMS, SummaryRequest
from bot.errors import ConfigError, ThreadwiseError, UserError, clip_words
from bot.settings import Settings, load_settings, resolve_config_path
from bot.sources.detect import FORMATS
from bot.usecases.services import IngestResult, Services
from storage.database import open_database
from storage.dbapi import is_postgres_url

_PAGE_RE = re.compile(r"\b(?:page|post)s? (\d+) of (\d+)")
EXAMPLE_FILE = "tram-thread.txt"
EXAMPLE_NAME = "tram-example"


def example_thread_path() -> Path:
    """The original example thread shipped inside the package (used by the demo)."""
    return Path(str(resources.files("bot.examples").joinpath(EXAMPLE_FILE)))


# --- argument parsing -----------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse whose error messages never repeat a huge argument whole."""

    def error(self, message: str) -> NoReturn:
        super().error(clip_words(message))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="threadwise",
        description="Read long forum threads so people don't have to: attributed summaries, "
        "per-author stances and who-quoted-whom, offline.",
        epilog="Run 'threadwise COMMAND --help' for a command's options. "
        "Start with: threadwise demo",
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="settings file (TOML); default $THREADWISE_CONFIG, else built-in defaults",
    )
    parser.add_argument(
        "--db", metavar="PATH", help="SQLite database file (default: [storage] url, else path)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress messages on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str, json_out: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if json_out:
            p.add_argument("--json", action="store_true", help="print one JSON document")
        return p

    p = command(
        "ingest",
        "read a thread from a forum URL or a file (plain text, Markdown, JSON or a saved page) "
        "and store it",
    )
    p.add_argument(
        "source", help="a forum thread's http(s) address, a file path, or - for standard input"
    )
    p.add_argument("--name", help="name to store it under (default: made from the title)")
    p.add_argument("--format", choices=FORMATS, default="auto", help="input format")
    p.add_argument(
        "--best-effort",
        action="store_true",
        help="read the main text of a page from a forum threadwise does not know",
    )

    p = command("refresh", "re-read a stored forum thread from the last page read")
    p.add_argument("name")
    p.add_argument(
        "--full", action="store_true", help="re-read every page (catches old edits and deletions)"
    )

    command("threads", "list stored threads")

    p = command("show", "print a stored thread's posts")
    p.add_argument("name")
    p.add_argument("--post", type=positive_int, metavar="N", help="only post N")

    p = command("forget", "delete a stored thread and everything derived from it")
    p.add_argument("name")

    p = command("summary", "extractive summary of a thread's own words, every line attributed")
    p.add_argument("name")
    p.add_argument("--algorithm", choices=ALGORITHMS, help="default: [summary] algorithm")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--sentences", type=positive_int, metavar="N")
    length.add_argument("--words", type=positive_int, metavar="N", help="at most N words")
    length.add_argument("--chars", type=positive_int, metavar="N", help="at most N characters")
    p.add_argument("--since", type=int, metavar="N", help="only posts after post N")
    p.add_argument("--from", dest="first", type=positive_int, metavar="N", help="first post")
    p.add_argument("--to", dest="last", type=positive_int, metavar="N", help="last post")
    p.add_argument("--author", help="only this author's posts")
    p.add_argument("--explain", action="store_true", help="show each sentence's score and rank")
    p.add_argument(
        "--chapters",
        nargs="?",
        const=0,
        type=positive_int,
        metavar="N",
        help="a short summary of each chapter (run of posts) instead; N chapters (default: "
        "up to 10); the length options count per chapter (default 2 sentences)",
    )

    p = command(
        "brief", "what a thread is about, its main points, most quoted posts and latest turn"
    )
    p.add_argument("name")

    p = command("stance", "the sides of the argument; with --author, what one person argues")
    p.add_argument("name")
    p.add_argument("--author", help="one participant: their side, key points and replies")
    p.add_argument("--topic", help="what each side says about a word, with polarity")

    p = command("quotes", "who quoted whom, as text and as a graph picture")
    p.add_argument("name")
    p.add_argument("--author", help="only quotes by or of this author")
    p.add_argument(
        "--post", type=positive_int, metavar="N", help="quotes and replies around post N"
    )
    p.add_argument("--graph", metavar="FILE.png", help="also write the quote graph picture")

    command("discord-commands", "print the Discord commands a sync would send (no connection)")

    p = command("run", "start the Discord and/or Matrix bot, as configured", json_out=False)
    p.add_argument(
        "--sync-commands",
        action="store_true",
        help="register Discord slash commands with Discord on this start (never automatic)",
    )
    p.add_argument(
        "--shards",
        type=shard_range,
        metavar="IDS",
        help="the Discord shards this process runs, like 0-3 or 0,2 ([discord] shard_ids)",
    )

    p = command(
        "backup",
        "copy the database to a new file, safely even while the bot runs (PostgreSQL: pg_dump)",
    )
    p.add_argument("path", metavar="PATH", help="the new file (must not exist; its folder must)")

    p = command(
        "migrate-storage",
        "copy the SQLite database (--db or [storage] path) into an empty PostgreSQL database",
    )
    p.add_argument(
        "--to",
        metavar="URL",
        help="postgresql://USER@HOST/DATABASE (default: THREADWISE_DATABASE_URL or "
        "[storage] url); give the password in PGPASSWORD, not here",
    )

    p = command("demo", "ingest the bundled example thread and show every analysis")
    p.add_argument("--graph", metavar="FILE.png", help="where to write the quote graph")
    digest_args.register(sub)
    return parser


# --- running ------------------------------------------------------------------------------


_kept: list[object] | None = None
"""What a one-shot command made (the posts it read, its answers and their documents), kept
until `entry` ends the process with os._exit: freeing a 100,000-post thread's million
objects one by one as each goes out of scope took ~0.1 s each time (the posts after the
analysis, the report and its JSON document after printing). None: freed as usual."""


class Console:
    """Where output goes: results on stdout, progress and errors on stderr."""

    def __init__(self, quiet: bool, json_mode: bool) -> None:
        self.quiet = quiet
        self.json_mode = json_mode

    def progress(self, message: str) -> None:
        """Progress lines on stderr; "page N of M" becomes a bar on a terminal."""
        if self.quiet:
            return
        bar = _PAGE_RE.search(message)
        if bar and sys.stderr.isatty():
            done, total = int(bar.group(1)), max(int(bar.group(2)), 1)
            filled = min(30, 30 * done // total)
            end = "\n" if done >= total else ""
            line = f"\r[{'#' * filled}{'.' * (30 - filled)}] {message}"
            print(line, end=end, file=sys.stderr, flush=True)
            return
        print(message, file=sys.stderr, flush=True)

    def answer(self, answer: render.Answer, document: Any) -> None:
        if _kept is not None:
            _kept.append((answer, document))
        if not self.json_mode:
            print(render_text(answer))
            return
        data = json_bytes(document)
        raw = getattr(sys.stdout, "buffer", None)
        if raw is None:  # stdout replaced by a text stream (tests, embedding)
            sys.stdout.write(data.decode("utf-8"))
            return
        sys.stdout.flush()  # whatever went out as text first stays first
        raw.write(data)  # the UTF-8 bytes as they are: no decode and encode of 185 MB
        raw.flush()


Handler = Callable[[Services, argparse.Namespace, Console], Awaitable[None]]


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


async def cmd_ingest(services: Services, args: argparse.Namespace, out: Console) -> None:
    if _SCHEME.match(args.source):  # ftp://, file://: refused as web addresses, not paths
        result = await services.ingest_url(
            LOCAL_SCOPE,
            args.source,
            name=args.name,
            progress=out.progress,
            best_effort=args.best_effort,
        )
    elif args.source == "-":
        data = sys.stdin.buffer.read(services.settings.storage.max_upload_bytes + 1)
        result = await services.ingest_bytes(
            LOCAL_SCOPE,
            data,
            name=args.name,
            fmt=args.format,
            progress=out.progress,
            best_effort=args.best_effort,
        )
    else:
        result = await services.ingest_file(
            LOCAL_SCOPE,
            args.source,
            name=args.name,
            fmt=args.format,
            progress=out.progress,
            best_effort=args.best_effort,
        )
    _report_ingest(result, out)


async def cmd_refresh(services: Services, args: argparse.Namespace, out: Console) -> None:
    result = await services.refresh(LOCAL_SCOPE, args.name, progress=out.progress, full=args.full)
    _report_ingest(result, out)


def _report_ingest(result: IngestResult, out: Console) -> None:
    t = result.thread
    status = result.status_line()
    answer = render.Answer(
        title=status,
        sections=(),
        notes=(f"Next: threadwise summary {t.name}",),
    )
    out.answer(answer, {**jsonout.thread_json(t), "changes": result.changes_json()})


async def cmd_threads(services: Services, args: argparse.Namespace, out: Console) -> None:
    threads = await services.list_threads(LOCAL_SCOPE)
    out.answer(render.thread_list(threads), [jsonout.thread_json(t) for t in threads])


async def cmd_show(services: Services, args: argparse.Namespace, out: Console) -> None:
    view = await services.show(LOCAL_SCOPE, args.name, args.post)
    document = {
        **jsonout.thread_json(view.thread),
        "posts": [jsonout.post_json(p) for p in view.posts],
    }
    out.answer(render.posts_answer(view.thread, view.posts), document)


async def cmd_forget(services: Services, args: argparse.Namespace, out: Console) -> None:
    thread = await services.forget(LOCAL_SCOPE, args.name)
    answer = render.Answer(title=f"Forgot {thread.name} (“{thread.title}”).", sections=())
    out.answer(answer, {"forgotten": thread.name})


async def cmd_summary(services: Services, args: argparse.Namespace, out: Console) -> None:
    chapters = args.chapters is not None
    default_length = None if chapters else services.settings.summary.sentences
    request = SummaryRequest(
        algorithm=args.algorithm or services.settings.summary.algorithm,
        sentences=args.sentences or (None if args.words or args.chars else default_length),
        words=args.words,
        chars=args.chars,
        first_post=args.first,
        last_post=args.last,
        since_post=args.since,
        author=args.author,
        explain=args.explain,
    )
    if chapters:
        found = await services.chapters(
            LOCAL_SCOPE, args.name, request, args.chapters or None, out.progress
        )
        out.answer(
            render.chapters_answer(found.thread, found.chapters),
            jsonout.chapters_json(found.thread, found.chapters),
        )
        return
    result = await services.summary(LOCAL_SCOPE, args.name, request, out.progress)
    out.answer(
        render.summary_answer(result.thread, result.summary),
        jsonout.summary_json(result.thread, result.summary),
    )


async def cmd_brief(services: Services, args: argparse.Namespace, out: Console) -> None:
    result = await services.brief(LOCAL_SCOPE, args.name, out.progress)
    out.answer(
        render.fit_answer(render.brief_answer(result.thread, result.brief)),
        jsonout.brief_json(result.thread, result.brief),
    )


async def cmd_stance(services: Services, args: argparse.Namespace, out: Console) -> None:
    result = await services.stance(
        LOCAL_SCOPE,
        args.name,
        args.author,
        args.topic,
        out.progress,
        with_urls=not out.json_mode,  # the JSON document links nothing
    )
    out.answer(
        render.stance_answer(
            result.thread,
            result.report,
            result.post_urls,
            ask_about_one="Ask about one person with --author NAME, or about a word with --topic.",
        ),
        jsonout.stance_json(result.thread, result.report),
    )


async def cmd_quotes(services: Services, args: argparse.Namespace, out: Console) -> None:
    result = await services.quotes(
        LOCAL_SCOPE,
        args.name,
        args.author,
        args.post,
        with_posts=out.json_mode,
        progress=out.progress,
    )
    answer = render.quotes_answer(result.thread, result.report)
    if args.graph:
        png = await services.quote_graph(result)
        await asyncio.to_thread(_write_file, Path(args.graph), png)
        answer = _with_note(answer, f"Quote graph written to {args.graph}")
    document = jsonout.quotes_json(result.thread, result.posts, result.report)
    out.answer(answer, document)


async def cmd_demo(services: Services, args: argparse.Namespace, out: Console) -> None:
    source = example_thread_path()
    out.progress(f"Ingesting the bundled example thread ({source.name})…")
    result = await services.ingest_file(
        LOCAL_SCOPE, source, name=EXAMPLE_NAME, progress=out.progress
    )
    name = result.thread.name
    summary = await services.summary(LOCAL_SCOPE, name, SummaryRequest(sentences=5))
    stance = await services.stance(LOCAL_SCOPE, name)
    quotes = await services.quotes(LOCAL_SCOPE, name, with_posts=out.json_mode)
    graph = Path(args.graph or "threadwise-demo-quotes.png")
    png = await services.quote_graph(quotes)
    await asyncio.to_thread(_write_file, graph, png)
    if out.json_mode:
        out.answer(
            render.Answer(title="", sections=()),
            {
                "thread": jsonout.thread_json(result.thread),
                "summary": jsonout.summary_json(summary.thread, summary.summary),
                "stance": jsonout.stance_json(stance.thread, stance.report),
                "quotes": jsonout.quotes_json(quotes.thread, quotes.posts, quotes.report),
                "graph": str(graph),
            },
        )
        return
    for answer in (
        render.summary_answer(summary.thread, summary.summary),
        render.quotes_answer(quotes.thread, quotes.report),
        render.stance_answer(stance.thread, stance.report, stance.post_urls),
    ):
        print(render_text(answer))
        print()
    print(f"Quote graph picture: {graph}")


async def cmd_backup(services: Services, args: argparse.Namespace, out: Console) -> None:
    dest = await asyncio.to_thread(lambda: Path(args.path).expanduser().absolute())
    out.progress(f"Backing up {services.db.location} to {dest}…")
    size = await services.db.backup(dest)
    answer = render.Answer(title=f"Backup written to {dest} ({_size_text(size)}).", sections=())
    out.answer(answer, {"backup": str(dest), "bytes": size})


async def migrate_storage(settings: Settings, args: argparse.Namespace) -> None:
    """`threadwise migrate-storage --to URL`: SQLite file → empty PostgreSQL database."""
    from storage.postgres import PostgresDatabase
    from storage.sqlite import SQLiteDatabase
    from storage.transfer import copy_sqlite_to_postgres

    out = Console(quiet=args.quiet, json_mode=args.json)
    source_path = args.db or settings.storage.path
    url = args.to or settings.storage.url
    if not url or not is_postgres_url(url):
        raise UserError(
            "say where to copy to: --to postgresql://USER@HOST/DATABASE (or set "
            "THREADWISE_DATABASE_URL or [storage] url)"
        )
    if not await asyncio.to_thread(_is_file, source_path):
        raise UserError(f"There is no SQLite database at {source_path} to copy.")
    source = await SQLiteDatabase.open(source_path)
    try:
        target = await PostgresDatabase.open(url)
        try:
            out.progress(f"Copying {source.location} to {target.location}…")
            copied = await copy_sqlite_to_postgres(source, target, out.progress)
            where = target.location
        finally:
            await target.close()
    finally:
        await source.close()
    rows = sum(copied.tables.values())
    answer = render.Answer(
        title=f"Copied {rows:,} rows in {len(copied.tables)} tables to {where}.",
        sections=(),
        notes=(
            f"Threads: {copied.tables.get('threads', 0):,}, posts: "
            f"{copied.tables.get('posts', 0):,}, digests: "
            f"{copied.tables.get('digest_schedules', 0):,}.",
            "To use it, set [storage] url (or THREADWISE_DATABASE_URL) and restart threadwise; "
            f"{source_path} is left as it was.",
        ),
    )
    out.answer(
        answer,
        {"to": where, "schema": copied.schema_version, "tables": copied.tables, "rows": rows},
    )


def _size_text(size: int) -> str:
    """`812 bytes`, or `1.4 MB, 1468006 bytes`."""
    value, unit = float(size), "bytes"
    for bigger in ("KB", "MB", "GB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}, {size} bytes"


async def cmd_digest(services: Services, args: argparse.Namespace, out: Console) -> None:
    from bot.cli.digest import cmd_digest as run_digest_command

    await run_digest_command(services, args, out)


HANDLERS: dict[str, Handler] = {
    "ingest": cmd_ingest,
    "refresh": cmd_refresh,
    "threads": cmd_threads,
    "show": cmd_show,
    "forget": cmd_forget,
    "summary": cmd_summary,
    "brief": cmd_brief,
    "stance": cmd_stance,
    "quotes": cmd_quotes,
    "demo": cmd_demo,
    "backup": cmd_backup,
    "digest": cmd_digest,
}


def _with_note(answer: render.Answer, note: str) -> render.Answer:
    return render.Answer(
        title=answer.title,
        sections=answer.sections,
        notes=(*answer.notes, note),
        link=answer.link,
    )


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _is_file(path: str | Path) -> bool:
    return Path(path).expanduser().is_file()


def with_shards(settings: Settings, shard_ids: tuple[int, ...]) -> Settings:
    """`--shards` in place of [discord] shard_ids, checked like the file's value."""
    discord_settings = dataclasses.replace(settings.discord, shard_ids=shard_ids)
    problems = discord_settings.shard_problems()
    if problems:
        raise ConfigError(problems[0].replace("[discord] shard_ids", "--shards"))
    return dataclasses.replace(settings, discord=discord_settings)


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(resolve_config_path(args.config, os.environ), os.environ)


def print_discord_commands(settings: Settings, as_json: bool) -> None:
    from bot.discord_app.app import command_payload

    payload = command_payload(settings)
    if as_json:
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    for c in payload:
        subs = [o["name"] for o in c.get("options", []) if o.get("type") in (1, 2)]
        perms = c.get("default_member_permissions")
        who = "everyone" if perms is None else "admins" if str(perms) == "0" else f"perms {perms}"
        lead = "/" if c.get("type", 1) == 1 else "message menu: "
        print(f"{lead}{c['name']}{' ' + '|'.join(subs) if subs else ''}  ({who}; servers only)")


async def run(args: argparse.Namespace) -> None:
    settings = _settings(args)
    if args.command == "discord-commands":
        print_discord_commands(settings, args.json)
        return
    if args.command == "run":
        from bot.cli.run import run_bots
        from bot.log import setup_logging

        if args.shards is not None:
            settings = with_shards(settings, args.shards)

        setup_logging(quiet=args.quiet)
        await run_bots(
            settings, args.db or settings.storage.target, sync_commands=args.sync_commands
        )
        return
    if args.command == "migrate-storage":
        await migrate_storage(settings, args)
        return
    target = args.db or settings.storage.target
    if (
        args.command == "backup"
        and not is_postgres_url(target)
        and not await asyncio.to_thread(_is_file, target)
    ):
        raise UserError(f"There is no database at {target} to back up.")
    console = Console(quiet=args.quiet, json_mode=getattr(args, "json", False))
    db = await open_database(target)
    services = Services(
        db, settings, processes=False, retain=None if _kept is None else _kept.append
    )
    try:
        await HANDLERS[args.command](services, args, console)
    finally:
        await services.close()
        await db.close()


_WEB_COMMANDS = frozenset({"refresh", "run", "migrate-storage"})
"""Commands that read forum pages (HTML trees are cyclic garbage), run for long, or copy a
whole database: the cyclic garbage collector stays on for them."""


_FORKING_COMMANDS = frozenset({"ingest", "stance"})
"""One-shot commands whose analysis may run part of its work in a forked child (see
bot/core/forked.py): the process does nothing else, and ends with the command.
THREADWISE_FORK=0 keeps them to one process."""


def may_fork(args: argparse.Namespace) -> bool:
    """Whether a one-shot command may fork a child for part of its analysis."""
    return args.command in _FORKING_COMMANDS and os.environ.get("THREADWISE_FORK") != "0"


def without_cycle_collection(args: argparse.Namespace) -> bool:
    """Whether a one-shot command may run with the cyclic garbage collector off.

    A command on a 100,000-post thread holds millions of objects (posts, segments,
    sentences), and each of the collector's full passes walks all of them: ~2.5 s of a
    30 s ingest and 1.5 s of a 4.5 s `quotes`. Their objects hold no cycles, and the
    process ends with the command. Commands that read web pages keep the collector (each
    parsed page is a cyclic tree), as do `run` and the digest commands that refresh."""
    if args.command in _WEB_COMMANDS:
        return False
    if args.command == "ingest":
        return not _SCHEME.match(args.source)
    if args.command == "digest":
        return getattr(args, "digest_command", None) in ("add", "list", "remove")
    return True


def main(argv: Sequence[str] | None = None, *, one_shot: bool = False) -> int:
    """The command line; `one_shot` when the process ends with the command (`entry`): then
    commands that make no cyclic garbage at scale run without the cycle collector."""
    global _kept
    parser = build_parser()
    args = parser.parse_args(argv)
    if one_shot and without_cycle_collection(args):
        gc.disable()
        _kept = []  # freed by the process's end
    if one_shot and may_fork(args):
        forked.allow()
    try:
        asyncio.run(run(args))
    except ThreadwiseError as exc:
        print(f"threadwise: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("threadwise: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return 0


def entry() -> NoReturn:
    """The `threadwise` command (and `python -m bot`): `main`, then the process ends without
    freeing its objects one by one. After a command on a 100,000-post thread that is
    millions of them (~0.5 s); the database is closed and the output flushed first."""
    code = main(one_shot=True)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BrokenPipeError, ValueError):  # a reader gone, or closed
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
