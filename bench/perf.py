"""Mega-thread performance: every analysis at 100 / 1,000 / 10,000 posts, against sumy.

Run from the repository root (takes ~10 minutes, most of it waiting for sumy to hit its
limit):

    .venv/bin/python -m bench.perf                      # everything
    .venv/bin/python -m bench.perf --sizes 100 1000 --limit 10 --no-cli

Every measurement runs in a fresh child process (`--step ...` re-invokes this module), so
its wall time, CPU time and peak RSS are that step's alone: the parent reaps each child
with os.wait4, whose rusage is the child's own (what getrusage(RUSAGE_CHILDREN) reports for
a single child). sumy's summarisers run on the same sentences as the reference point; a
child still running after --limit seconds is killed and reported as "> limit". Once sumy
is over the limit at one size it is not run at the larger ones (its cost only grows).

Threads come from bench.synthetic (word-model text with planted quotes, 40 authors),
written in threadwise's JSON format (names kept) and ingested like any user file; at the
largest size the plain-text copy a browser gives (no names, so every post is its own
participant) is ingested and given a stance digest too. The second table runs the
`threadwise` command itself (`python -m bot`) on the 10,000-post JSON thread.
The machine's load average is printed: on a shared 2-core host, wall times move with it,
CPU times much less.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SIZES = (100, 1_000, 10_000)
SUMY_LIMIT_S = 30.0
CLI_POSTS = 10_000
SEED = 7
ALGORITHMS = ("thread", "lexrank", "textrank", "lsa", "luhn", "kl", "sumbasic", "edmundson")
NOT_SUMY = frozenset({"thread"})
"""Ours alone: no sumy reference to run beside it."""
GOALS = {
    "lexrank_1000_s": 0.2,
    "ingest_s": 10.0,
    "summary_s": 5.0,
    "quotes_s": 5.0,
    "stance_s": 10.0,
    "peak_mib": 1024.0,
    "repeat_ms": 50.0,
    "thread_10000_s": 3.0,
}


# --- running children --------------------------------------------------------------------------


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    peak_mib: float
    out: dict[str, Any] = field(default_factory=dict)
    timed_out: bool = False
    failed: str | None = None


def child_env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env["MPLCONFIGDIR"] = str(workdir / "mpl")
    return env


def run_child(
    cmd: Sequence[str], workdir: Path, limit: float | None = None, parse: bool = True
) -> Run:
    """Run `cmd`, killing it after `limit` seconds; its own wall/CPU time and peak RSS.

    Output goes to files, not pipes: a command printing a long answer would otherwise
    block on a full pipe that nobody reads until it exits."""
    start = time.perf_counter()
    with tempfile.TemporaryFile(dir=workdir) as out, tempfile.TemporaryFile(dir=workdir) as err:
        proc = subprocess.Popen(
            list(cmd),
            cwd=REPO,
            env=child_env(workdir),
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if limit is not None and time.perf_counter() - start > limit:
                os.killpg(proc.pid, signal.SIGKILL)
                timed_out = True
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    run = Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, timed_out=timed_out)
    if timed_out:
        return run
    if proc.returncode != 0:
        run.failed = (stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1][:120]
        return run
    lines = [line for line in stdout.splitlines() if line.startswith("{")] if parse else []
    run.out = json.loads(lines[-1]) if lines else {}
    return run


def step(name: str, posts: int, workdir: Path, *extra: str, limit: float | None = None) -> Run:
    """Run one `--step` of this module in a child process."""
    cmd = [sys.executable, "-m", "bench.perf", "--step", name, "--posts", str(posts)]
    return run_child([*cmd, "--workdir", str(workdir), *extra], workdir, limit)


# --- the steps (each runs in its own child process) ------------------------------------------


def thread_file(workdir: Path, posts: int, plain: bool = False) -> Path:
    """The thread as threadwise's JSON format (author names kept) or, with `plain`, as the
    plain-text copy a browser gives (no names: every post is its own participant)."""
    return workdir / (f"thread-{posts}.txt" if plain else f"thread-{posts}.json")


def database(workdir: Path, posts: int, plain: bool = False) -> Path:
    return workdir / (f"thread-{posts}-plain.db" if plain else f"thread-{posts}.db")


def settings() -> Any:
    from bot.settings import Settings, StorageSettings

    return Settings(storage=StorageSettings(max_upload_bytes=512 * 1024 * 1024))


async def _load(path: Path) -> tuple[Any, list[Any], list[Any]]:
    from storage.database import open_database
    from storage.repositories import ThreadRepository

    db = await open_database(path)
    try:
        threads = ThreadRepository(db)
        thread = await threads.get("local", "thread")
        return (
            thread,
            await threads.posts("local", "thread"),
            await threads.edges("local", "thread"),
        )
    finally:
        await db.close()


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def run_step(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(args.workdir)
    if args.step == "ingest":
        return asyncio.run(_ingest(workdir, args.posts, args.plain))
    if args.step == "infer":
        from bench.synthetic import make_thread
        from bot.core.quotes import infer_quotes

        synthetic = make_thread(posts=args.posts, seed=SEED)
        seconds, analysed = timed(infer_quotes, synthetic.doc)
        got = {(e.from_post, e.to_post) for e in analysed.edges}
        return {"seconds": seconds, "edges_ok": got == set(synthetic.expected_edges)}
    thread, posts, edges = asyncio.run(_load(database(workdir, args.posts, args.plain)))
    language = thread.language or "english"
    warm_imports(language)
    if args.step == "summary":
        return _summary(args.algorithm, posts, language, thread.title)
    if args.step == "sumy":
        return _sumy(args.algorithm, posts, language, thread.title)
    if args.step in ("lexrank1000", "lexrank1000-sumy"):
        return _lexrank_1000(args.step == "lexrank1000-sumy", posts, language)
    if args.step == "brief":
        from bot.core.brief import thread_brief

        seconds, _ = timed(thread_brief, posts, edges, thread.title, language)
        return {"seconds": seconds}
    if args.step == "stance":
        from bot.core.stance import stance_digest

        seconds, _ = timed(stance_digest, posts, edges, None, None, 3, language)
        return {"seconds": seconds}
    if args.step == "quotes":
        from bot.core.quote_report import quote_report

        seconds, _ = timed(quote_report, posts, edges)
        return {"seconds": seconds}
    if args.step == "graph":
        from bot.core.graph import render_quote_graph
        from bot.core.quote_report import quote_report

        report = quote_report(posts, edges)
        render_quote_graph(quote_report(posts[:5], []))  # matplotlib's import is not the graph
        seconds, png = timed(render_quote_graph, report, title=thread.title)
        return {"seconds": seconds, "bytes": len(png)}
    if args.step == "repeat":
        return asyncio.run(_repeat(database(workdir, args.posts)))
    raise SystemExit(f"unknown step {args.step}")


async def _ingest(workdir: Path, posts: int, plain: bool) -> dict[str, Any]:
    from bot.core.models import LOCAL_SCOPE
    from bot.usecases.services import Services
    from storage.database import open_database

    path = database(workdir, posts, plain)
    await asyncio.to_thread(_remove_database, path)
    start = time.perf_counter()
    db = await open_database(path)
    services = Services(db, settings())
    try:
        source = thread_file(workdir, posts, plain)
        result = await services.ingest_file(LOCAL_SCOPE, source, name="thread")
    finally:
        close = getattr(services, "close", None)
        if close is not None:
            await close()
        await db.close()
    return {"seconds": time.perf_counter() - start, "posts": result.thread.post_count}


def _forget_analyses(path: Path) -> None:
    """Drop a database's cached analyses, so the next command computes its answer."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("DELETE FROM analysis_cache")


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def warm_imports(language: str) -> None:
    """Import sumy, NLTK's stemmer and the stop words before timing: a bot pays that once
    per process (the command table below includes it)."""
    import sumy.summarizers.edmundson
    import sumy.summarizers.kl
    import sumy.summarizers.lex_rank
    import sumy.summarizers.lsa
    import sumy.summarizers.luhn
    import sumy.summarizers.sum_basic
    import sumy.summarizers.text_rank  # noqa: F401

    from bot.core.summary import stemmer_for, stop_words_for

    stemmer_for(language)
    stop_words_for(language)


def _summary(algorithm: str, posts: list[Any], language: str, title: str) -> dict[str, Any]:
    from bot.core.summary import SummaryRequest, summarise
    from bot.errors import UserError

    request = SummaryRequest(algorithm=algorithm, sentences=5)
    try:
        seconds, summary = timed(summarise, posts, request, language, title)
    except UserError as exc:
        return {"refused": str(exc)}
    return {
        "seconds": seconds,
        "sentences": summary.considered_sentences,
        "used": summary.algorithm,
        "picks": sorted(s.text for s in summary.sentences),
    }


def _sumy(algorithm: str, posts: list[Any], language: str, title: str) -> dict[str, Any]:
    """sumy's own summariser (its Stemmer, stop words and selection) on our sentences."""
    from sumy.nlp.stemmers import Stemmer
    from sumy.summarizers.kl import KLSummarizer
    from sumy.summarizers.lex_rank import LexRankSummarizer
    from sumy.summarizers.lsa import LsaSummarizer
    from sumy.summarizers.luhn import LuhnSummarizer
    from sumy.summarizers.sum_basic import SumBasicSummarizer
    from sumy.summarizers.text_rank import TextRankSummarizer
    from sumy.utils import get_stop_words

    from bot.core.summary import build_document, make_summarizer

    built = build_document(posts, language, title if algorithm == "edmundson" else "")
    if algorithm == "edmundson":  # needs word lists; these are the ones summary.py passes
        summarizer = make_summarizer(algorithm, language, title)
    else:
        classes = {
            "lexrank": LexRankSummarizer,
            "textrank": TextRankSummarizer,
            "lsa": LsaSummarizer,
            "luhn": LuhnSummarizer,
            "kl": KLSummarizer,
            "sumbasic": SumBasicSummarizer,
        }
        summarizer = classes[algorithm](Stemmer(language))
        summarizer.stop_words = get_stop_words(language)
    seconds, picked = timed(summarizer, built.document, 5)
    picks = sorted(str(s) for s in picked)
    # sumy's rating of the 5th pick and of every sentence within rounding noise of it: where
    # sumy rates sentences equal to 12 digits, threadwise keeps thread order (summary.py)
    from bot.core.summary import rate_sentences

    rated = rate_sentences(summarizer, built.document)
    kth = sorted(rated, reverse=True)[min(5, len(rated)) - 1] if rated else 0.0
    tolerance = 1e-12 * max((abs(r) for r in rated), default=1.0)
    tied = sorted({str(x) for x, r in zip(built.document.sentences, rated, strict=True)
                   if abs(r - kth) <= tolerance})  # fmt: skip
    return {"seconds": seconds, "picks": picks, "tied": tied}


def _lexrank_1000(reference: bool, posts: list[Any], language: str) -> dict[str, Any]:
    """LexRank on exactly the first 1,000 sentences: tokens, ratings and picks."""
    from bot.core.summary import collect_sentences

    texts = [s.text for s in collect_sentences(posts).sources][:1_000]
    if reference:
        from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence
        from sumy.nlp.stemmers import Stemmer
        from sumy.summarizers.lex_rank import LexRankSummarizer
        from sumy.utils import get_stop_words

        from bot.core.text import OfflineTokenizer

        tokenizer = OfflineTokenizer(language)
        document = ObjectDocumentModel([Paragraph([Sentence(t, tokenizer) for t in texts])])
        summarizer = LexRankSummarizer(Stemmer(language))
        summarizer.stop_words = get_stop_words(language)
        seconds, picked = timed(summarizer, document, 5)
        return {"seconds": seconds, "picks": sorted(str(s) for s in picked)}
    from bot.core.fastrank import best_first
    from bot.core.summary import fast_scores, sentence_terms, stemmer_for, stop_words_for

    stemmer_for(language), stop_words_for(language)  # NLTK's import is not LexRank's cost

    def rank() -> list[int]:
        return best_first(fast_scores("lexrank", sentence_terms(texts, language)))

    seconds, order = timed(rank)
    return {"seconds": seconds, "picks": sorted(texts[i] for i in order[:5])}


async def _repeat(path: Path) -> dict[str, Any]:
    """Two identical summary requests through Services: the second one's own time."""
    from bot.core.models import LOCAL_SCOPE
    from bot.core.summary import SummaryRequest
    from bot.usecases.services import Services
    from storage.database import open_database

    db = await open_database(path)
    services = Services(db, settings())
    try:
        first, _ = await _timed_async(services.summary(LOCAL_SCOPE, "thread", SummaryRequest()))
        again, _ = await _timed_async(services.summary(LOCAL_SCOPE, "thread", SummaryRequest()))
    finally:
        close = getattr(services, "close", None)
        if close is not None:
            await close()
        await db.close()
    return {"seconds": again, "first": first, "cached": hasattr(services, "analyses")}


async def _timed_async(awaitable: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = await awaitable
    return time.perf_counter() - start, result


# --- the report --------------------------------------------------------------------------------


def prepare(workdir: Path, posts: int) -> dict[str, int]:
    from bench.quote_timing import render_plaintext
    from bench.synthetic import make_thread

    doc = make_thread(posts=posts, seed=SEED).doc
    thread_file(workdir, posts, plain=True).write_text(render_plaintext(doc), encoding="utf-8")
    document = {
        "title": doc.title,
        "posts": [
            {"id": p.source_id, "author": p.author, "text": "\n".join(b.text for b in p.blocks)}
            for p in doc.posts
        ],
    }
    thread_file(workdir, posts).write_text(json.dumps(document), encoding="utf-8")
    return {"words": sum(len(b.text.split()) for p in doc.posts for b in p.blocks)}


def cell(run: Run, limit: float | None = None) -> tuple[str, str, str]:
    if run.timed_out:
        return (f"> {limit:.0f}", "-", "-")
    if run.failed:
        return ("failed", "-", "-")
    if "refused" in run.out:
        return ("refused", f"{run.cpu_s:.2f}", f"{run.peak_mib:.0f}")
    return (f"{run.out['seconds']:.3f}", f"{run.cpu_s:.2f}", f"{run.peak_mib:.0f}")


def table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in [head, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def same(a: Run, b: Run) -> str:
    if not (a.out.get("picks") and b.out.get("picks")):
        return ""
    if a.out["picks"] == b.out["picks"]:
        return "same picks"
    tied = set(b.out.get("tied", ()))
    if set(a.out["picks"]) ^ set(b.out["picks"]) <= tied:
        return "same picks up to sumy's ties (thread order here)"
    return "DIFFERENT picks"


def measure_steps(
    sizes: Sequence[int], workdir: Path, limit: float, sumy: bool, found: dict[str, Any]
) -> list[list[str]]:
    rows: list[list[str]] = []
    over_limit: set[str] = set()
    for posts in sizes:
        words = prepare(workdir, posts)["words"]
        print(f"{posts:,} posts ({words:,} words) …", file=sys.stderr, flush=True)
        ingest = step("ingest", posts, workdir)
        rows.append([f"{posts:,}", "ingest: read + infer + save", *cell(ingest), ""])
        infer = step("infer", posts, workdir)
        note = "edges ok" if infer.out.get("edges_ok") else "EDGES DIFFER"
        rows.append([f"{posts:,}", "quote inference", *cell(infer), note])
        for algorithm in ALGORITHMS:
            ours = step("summary", posts, workdir, "--algorithm", algorithm)
            note = f"{ours.out.get('sentences', 0):,} sentences"
            if ours.out.get("used") and ours.out["used"] != algorithm:
                note += f"; ranked by {ours.out['used']}"
            if "refused" in ours.out:
                note = ours.out["refused"].split(";")[0]
            rows.append([f"{posts:,}", f"summary {algorithm}", *cell(ours), note])
            if algorithm == "thread" and posts == 10_000:
                found["thread_10000_s"] = ours.out.get("seconds", float("nan"))
            if not sumy or algorithm in NOT_SUMY:
                continue
            if algorithm in over_limit:
                rows.append([f"{posts:,}", f"  sumy {algorithm}", f"> {limit:.0f}", "-", "-",
                             "not run: over the limit at a smaller size"])  # fmt: skip
                continue
            reference = step("sumy", posts, workdir, "--algorithm", algorithm, limit=limit)
            if reference.timed_out:
                over_limit.add(algorithm)
            rows.append([f"{posts:,}", f"  sumy {algorithm}", *cell(reference, limit),
                         same(ours, reference)])  # fmt: skip
        for name in ("brief", "stance", "quotes", "graph"):
            rows.append([f"{posts:,}", name, *cell(step(name, posts, workdir)), ""])
        if posts == max(sizes):
            plain = step("ingest", posts, workdir, "--plain")
            rows.append([f"{posts:,}", "ingest of the plain-text copy", *cell(plain), "no names"])
            stance = step("stance", posts, workdir, "--plain")
            note = f"{posts:,} participants (one per post)"
            rows.append([f"{posts:,}", "stance of the plain-text copy", *cell(stance), note])
            repeat = step("repeat", posts, workdir)
            note = "cached" if repeat.out.get("cached") else "no cache in Services"
            if "first" in repeat.out:
                note += f"; first call {repeat.out['first']:.2f} s"
            rows.append([f"{posts:,}", "summary again (Services)", *cell(repeat), note])
            found["repeat_ms"] = repeat.out.get("seconds", float("nan")) * 1000
            found["repeat_cached"] = repeat.out.get("cached", False)
        if posts == 1_000:
            ours = step("lexrank1000", posts, workdir)
            rows.append(["1,000 snt", "LexRank (fastrank)", *cell(ours), ""])
            found["lexrank_1000_s"] = ours.out.get("seconds", float("nan"))
            if sumy:
                reference = step("lexrank1000-sumy", posts, workdir, limit=limit)
                verdict = same(ours, reference)
                found["lexrank_1000_picks"] = verdict
                rows.append(["1,000 snt", "  LexRank (sumy)", *cell(reference, limit), verdict])
    return rows


def measure_cli(workdir: Path, limit: float, found: dict[str, Any]) -> list[list[str]]:
    config = workdir / "threadwise.toml"
    config.write_text("[storage]\nmax_upload_bytes = 536870912\n", encoding="utf-8")
    db = workdir / "cli.db"
    source = thread_file(workdir, CLI_POSTS)
    if not source.exists():
        prepare(workdir, CLI_POSTS)
    base = [sys.executable, "-m", "bot", "--config", str(config), "--db", str(db), "-q"]
    commands = [
        ("ingest", [*base, "ingest", str(source), "--name", "mega"]),
        ("summary", [*base, "summary", "mega"]),
        ("summary --algorithm lexrank", [*base, "summary", "mega", "--algorithm", "lexrank"]),
        ("brief", [*base, "brief", "mega"]),
        ("quotes", [*base, "quotes", "mega"]),
        ("stance", [*base, "stance", "mega"]),
        ("summary (repeated)", [*base, "summary", "mega"]),
        ("threads (start-up only)", [*base, "threads"]),
    ]
    rows = []
    for name, cmd in commands:
        run = run_child(cmd, workdir, limit=max(limit, 120.0), parse=False)
        note = run.failed or ("" if not run.timed_out else "killed")
        rows.append([name, f"{run.wall_s:.2f}", f"{run.cpu_s:.2f}", f"{run.peak_mib:.0f}", note])
        found[f"cli {name}"] = run
    return rows


# --- issue 17: whole commands on a mega-thread, against the floor ---------------------------

MEGA_POSTS = 100_000
RATIO_GOALS = {"ingest": 8.0, "summary": 3.0, "quotes": 2.0, "stance": 4.0}
RSS_GOAL_MIB = 1536.0
STARTUP_GOAL = 3.0
FLOOR = (
    "import json, re, sys\n"
    "words = re.compile(r'\\w+')\n"
    "posts = json.load(open(sys.argv[1], encoding='utf-8'))['posts']\n"
    "print(sum(len(words.findall(p['text'])) for p in posts))\n"
)
"""The floor: a plain Python process that loads the thread's JSON and splits every post
into words with one regex. Each command is measured as a multiple of it."""


def measure_ratios(
    workdir: Path, posts: int, only: Sequence[str] = (), reuse: bool = False
) -> list[str]:
    """`threadwise … --json` as whole processes on a `posts`-post synthetic thread, each as a
    multiple of the floor measured in the same run, with its peak RSS; then `threadwise
    threads` against `python3 -c pass` (the interpreter as a user starts it).

    `only` keeps those commands (and skips the start-up lines); `reuse` keeps the database
    an earlier run ingested when ingest is not among them, with its cached analyses
    dropped, so each command computes its answer as on a fresh thread."""
    source = thread_file(workdir, posts)
    if not source.exists():
        prepare(workdir, posts)
    megabytes = source.stat().st_size / 2**20
    floor = run_child([sys.executable, "-c", FLOOR, str(source)], workdir, parse=False)
    config = workdir / "threadwise.toml"
    config.write_text("[storage]\nmax_upload_bytes = 1073741824\n", encoding="utf-8")
    db = workdir / f"ratios-{posts}.db"
    reused = reuse and db.exists() and "ingest" not in only and bool(only)
    if reused:
        _forget_analyses(db)
    else:
        _remove_database(db)
    base = [sys.executable, "-m", "bot", "--config", str(config), "--db", str(db), "-q"]
    lines = [
        f"{posts:,}-post thread, {megabytes:.0f} MB of JSON; floor (load it, split words): "
        f"{floor.wall_s:.2f} s, {floor.peak_mib:.0f} MiB",
        "",
    ]
    rows = [["floor", f"{floor.wall_s:.2f}", "1.0", "", f"{floor.peak_mib:.0f}", ""]]
    steps = {
        "ingest": ["ingest", str(source), "--name", "mega"],
        "summary": ["summary", "mega"],
        "quotes": ["quotes", "mega"],
        "stance": ["stance", "mega"],
        "summary --chapters": ["summary", "mega", "--chapters"],
    }
    unknown = set(only) - steps.keys()
    if unknown:
        raise SystemExit(f"--only: no step {', '.join(sorted(unknown))} (have {', '.join(steps)})")
    if only:
        steps = {name: args for name, args in steps.items() if name in only}
    if reused:
        lines.insert(-1, "(the database ingested by an earlier run, its cached analyses dropped)")
    for name, args in steps.items():
        run = run_child([*base, *args, "--json"], workdir, parse=False)
        ratio = run.wall_s / floor.wall_s
        goal = RATIO_GOALS.get(name)
        verdict = run.failed or (
            "" if goal is None else
            "met" if ratio <= goal and run.peak_mib <= RSS_GOAL_MIB else "MISSED"
        )  # fmt: skip
        rows.append(
            [
                name,
                f"{run.wall_s:.2f}",
                f"{ratio:.1f}",
                "" if goal is None else f"≤ {goal:g}",
                f"{run.peak_mib:.0f}",
                verdict,
            ]
        )
    lines.append(table(("step", "wall s", "× floor", "goal", "peak MiB", ""), rows))
    if only:
        return lines
    python3 = shutil.which("python3") or sys.executable
    empty = workdir / "empty.db"
    _remove_database(empty)
    start_runs = [run_child([python3, "-c", "pass"], workdir, parse=False) for _ in range(5)]
    threads_runs = [
        run_child([*base[:3], str(config), "--db", str(empty), "threads"], workdir, parse=False)
        for _ in range(5)
    ]
    passing = sorted(r.wall_s for r in start_runs)[2]
    threads = sorted(r.wall_s for r in threads_runs)[2]
    direct = sorted(
        run_child([sys.executable, "-c", "pass"], workdir, parse=False).wall_s for _ in range(5)
    )[2]
    ratio = threads / passing
    lines += [
        "",
        f"start-up (median of 5): threadwise threads {threads:.3f} s; python3 -c pass "
        f"({python3}) {passing:.3f} s → {ratio:.1f}× (goal ≤ {STARTUP_GOAL:g}×: "
        f"{'met' if ratio <= STARTUP_GOAL else 'MISSED'}); the venv's python directly: "
        f"{direct:.3f} s",
    ]
    return lines


def goals(found: dict[str, Any]) -> list[str]:
    """One line per goal of issue 8: the figure, the goal, met or not."""
    lines = []

    def line(label: str, value: float | None, goal: float, unit: str, extra: str = "") -> None:
        if value is None or value != value:  # not measured (NaN)
            lines.append(f"  {label}: not measured")
            return
        verdict = "met" if value <= goal else "MISSED"
        lines.append(f"  {label}: {value:.2f} {unit} (goal ≤ {goal:g} {unit}) {verdict}{extra}")

    line("thread-aware summary, 10,000 posts (issue 14)", found.get("thread_10000_s"),
         GOALS["thread_10000_s"], "s")  # fmt: skip
    picks = found.get("lexrank_1000_picks")
    line("LexRank, 1,000 sentences", found.get("lexrank_1000_s"), GOALS["lexrank_1000_s"], "s",
         f", {picks} as sumy" if picks else "")  # fmt: skip
    for name, goal in (("ingest", "ingest_s"), ("summary", "summary_s"), ("quotes", "quotes_s"),
                       ("stance", "stance_s")):  # fmt: skip
        run = found.get(f"cli {name}")
        line(f"threadwise {name}, {CLI_POSTS:,} posts (wall)", run.wall_s if run else None,
             GOALS[goal], "s", f"; CPU {run.cpu_s:.2f} s" if run else "")  # fmt: skip
    peaks = [r.peak_mib for k, r in found.items() if k.startswith("cli ")]
    line("peak RSS of those processes", max(peaks) if peaks else None, GOALS["peak_mib"], "MiB")
    cached = "" if found.get("repeat_cached") else " (Services has no analysis cache yet)"
    line("repeated summary, Services call", found.get("repeat_ms"), GOALS["repeat_ms"], "ms",
         cached)  # fmt: skip
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--limit", type=float, default=SUMY_LIMIT_S, help="sumy's time limit")
    parser.add_argument("--no-sumy", action="store_true", help="skip sumy's reference runs")
    parser.add_argument("--no-cli", action="store_true", help="skip the threadwise commands")
    parser.add_argument("--workdir", help="keep files here (default: a temporary folder)")
    parser.add_argument(
        "--ratios",
        type=int,
        nargs="?",
        const=MEGA_POSTS,
        metavar="POSTS",
        help=f"only the whole commands against the floor (issue 17; default {MEGA_POSTS:,} posts)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        default=(),
        metavar="STEP",
        help="with --ratios: only these commands (ingest, summary, quotes, stance, "
        "'summary --chapters')",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --ratios --only (no ingest): keep the database the last run ingested",
    )
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--posts", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--algorithm", help=argparse.SUPPRESS)
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        print(json.dumps(run_step(args)))
        return 0
    if args.ratios:
        with tempfile.TemporaryDirectory(prefix="threadwise-perf-") as tmp:
            workdir = Path(args.workdir or tmp)
            workdir.mkdir(parents=True, exist_ok=True)
            load_before = os.getloadavg()
            print("\n".join(measure_ratios(workdir, args.ratios, args.only, args.reuse)))
            print(f"load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after")
        return 0
    with tempfile.TemporaryDirectory(prefix="threadwise-perf-") as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        load_before = os.getloadavg()
        started = time.perf_counter()
        found: dict[str, Any] = {}
        rows = measure_steps(args.sizes, workdir, args.limit, not args.no_sumy, found)
        cli = [] if args.no_cli else measure_cli(workdir, args.limit, found)
        load_after = os.getloadavg()
    print("Each step in a fresh process; wall s = the step's own time (measured inside it), "
          "CPU s and peak MiB = the whole child process (interpreter, imports, reading the "
          f"thread). sumy limit {args.limit:.0f} s.\n")  # fmt: skip
    print(table(("posts", "step", "wall s", "CPU s", "peak MiB", "note"), rows))
    if cli:
        print(f"\nthreadwise commands on the {CLI_POSTS:,}-post thread (whole processes, "
              "python -m bot; peak RSS from wait4):\n")  # fmt: skip
        print(table(("command", "wall s", "CPU s", "peak MiB", "note"), cli))
    print("\nGoals (issue 8):")
    print("\n".join(goals(found)))
    print(
        f"\nload average {load_before[0]:.2f} before, {load_after[0]:.2f} after; "
        f"{time.perf_counter() - started:.0f} s in all; {os.cpu_count()} CPUs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
