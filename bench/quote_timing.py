"""How quote inference and the plain-text reader scale with thread length.

Times `infer_quotes` on synthetic threads (bench.synthetic, planted quotes with known answers)
of 100 / 1,000 / 10,000 posts (33,000 with --big), checks the inferred edges equal the planted
ones, and times reading a plain-text rendering of the same thread from disk (bytes → decode →
read_plaintext). Peak memory of one inference is measured in a separate, untimed run under
tracemalloc (which slows Python down, so it never shares a run with the timings).

Run: .venv/bin/python -m bench.quote_timing [--big] [--sizes 100 1000]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bench.synthetic import SyntheticThread, make_thread
from bot.core.models import ThreadDoc
from bot.core.quotes import infer_quotes
from bot.sources.decode import decode_upload
from bot.sources.plaintext import read_plaintext

SIZES = (100, 1_000, 10_000)
BIG = 33_000
REPEAT_UP_TO = 1_000
"""Sizes up to this are timed best of 3; larger ones once (they take seconds, noise is small)."""
POST_SEPARATOR = "\u00a0"
"""What forums render between posts; the plain-text reader splits posts on it."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Timing:
    posts: int
    words: int
    generate_s: float
    infer_s: float
    cpu_s: float
    runs: int
    peak_mib: float | None
    text_mib: float
    read_s: float
    edges_ok: bool
    reader_ok: bool
    missing: int
    extra: int


def best_of(fn: Callable[[], T], runs: int) -> tuple[float, T]:
    """Shortest wall time of `runs` calls (the least disturbed by the machine), and a result."""
    best, _, result = best_wall_and_cpu(fn, runs)
    return best, result


def best_wall_and_cpu(fn: Callable[[], T], runs: int) -> tuple[float, float, T]:
    """Shortest wall time and shortest CPU time of `runs` calls, and a result. On a shared
    machine the CPU time moves much less with the other processes' load than wall time."""
    best = best_cpu = float("inf")
    result: T
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        result = fn()
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best = min(best, time.perf_counter() - start)
    return best, best_cpu, result


def render_plaintext(doc: ThreadDoc) -> str:
    """The thread as a browser copy shows it: title line, one line per paragraph, posts
    separated by a line holding a lone no-break space."""
    posts = ["\n".join(b.text for b in post.blocks) for post in doc.posts]
    return doc.title + "\n" + f"\n{POST_SEPARATOR}\n".join(posts) + "\n"


def peak_mib(fn: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / (1024 * 1024)


def measure(posts: int, *, runs: int | None = None, memory: bool = True, seed: int = 7) -> Timing:
    """Time one thread size; `runs` defaults to 3 up to REPEAT_UP_TO posts, else 1."""
    runs = runs or (3 if posts <= REPEAT_UP_TO else 1)
    start = time.perf_counter()
    thread: SyntheticThread = make_thread(posts=posts, seed=seed)
    generate_s = time.perf_counter() - start
    doc = thread.doc
    words = sum(len(b.text.split()) for p in doc.posts for b in p.blocks)

    infer_s, cpu_s, analysed = best_wall_and_cpu(lambda: infer_quotes(doc), runs)
    got = {(e.from_post, e.to_post) for e in analysed.edges}
    missing = len(thread.expected_edges - got)
    extra = len(got - thread.expected_edges)

    text = render_plaintext(doc)
    data = text.encode("utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "thread.txt"
        path.write_bytes(data)

        def read() -> ThreadDoc:
            raw = path.read_bytes()
            return read_plaintext(decode_upload(raw, max_bytes=len(raw) + 1))

        read_s, read_doc = best_of(read, runs)
    same_blocks = [[b.text for b in p.blocks] for p in read_doc.posts] == [
        [b.text for b in p.blocks] for p in doc.posts
    ]
    peak = peak_mib(lambda: infer_quotes(doc)) if memory else None
    return Timing(
        posts=posts,
        words=words,
        generate_s=generate_s,
        infer_s=infer_s,
        cpu_s=cpu_s,
        runs=runs,
        peak_mib=peak,
        text_mib=len(data) / (1024 * 1024),
        read_s=read_s,
        edges_ok=missing == 0 and extra == 0,
        reader_ok=same_blocks,
        missing=missing,
        extra=extra,
    )


_HEAD = (
    "posts",
    "words",
    "gen s",
    "infer s",
    "cpu s",
    "runs",
    "posts/s",
    "peak MiB",
    "text MiB",
    "read s",
    "edges",
    "reader",
)


def row(t: Timing) -> tuple[str, ...]:
    edges = "edges ok" if t.edges_ok else f"MISMATCH -{t.missing} +{t.extra}"
    return (
        f"{t.posts:,}",
        f"{t.words:,}",
        f"{t.generate_s:.2f}",
        f"{t.infer_s:.3f}",
        f"{t.cpu_s:.3f}",
        str(t.runs),
        f"{t.posts / t.infer_s:,.0f}" if t.infer_s else "-",
        f"{t.peak_mib:.1f}" if t.peak_mib is not None else "-",
        f"{t.text_mib:.2f}",
        f"{t.read_s:.3f}",
        edges,
        "same blocks" if t.reader_ok else "DIFFERENT",
    )


def format_table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in [_HEAD, *rows]) for i in range(len(_HEAD))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in [_HEAD, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--big", action="store_true", help=f"also {BIG:,} posts")
    parser.add_argument("--sizes", type=int, nargs="+", help="thread sizes instead of defaults")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc run")
    args = parser.parse_args(argv)
    sizes = list(args.sizes or SIZES) + ([BIG] if args.big else [])
    rows: list[tuple[str, ...]] = []
    ok = True
    for size in sizes:
        t = measure(size, memory=not args.no_memory)
        ok = ok and t.edges_ok and t.reader_ok
        rows.append(row(t))
        print(f"{t.posts:>7,} posts: {row(t)[_HEAD.index('edges')]}", flush=True)
    print()
    print(format_table(rows))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(
        f"\ninfer s: best of `runs` wall times; cpu s: best of their CPU times; "
        f"read s: read file + decode + read_plaintext; "
        f"peak MiB: tracemalloc peak of one infer_quotes call (Python objects, excluding the "
        f"input doc); process max RSS {rss:,.0f} MiB."
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
