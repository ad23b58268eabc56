"""What the sides add to `threadwise stance`: timings on bench/synthetic.py's threads.

The synthetic thread (word-model text, planted quotes, 40 authors) is built and its quotes
inferred in memory, as `threadwise ingest` would; then, each the least CPU time of
`--repeat` runs:

- `stance_digest`, the whole analysis behind `threadwise stance`;
- the sides alone: `read_sides` on the interactions and sentences the digest already has;
- collecting the interactions (each quote's reply words and each reply classified),
  which the digest did before sides existed too, for its reply labels.

With `--plain` the thread is the plain-text copy a browser gives: no names, so every one
of the 10,000 posts is a participant (the biggest graph the sides can get).

Run: .venv/bin/python -m bench.sides_timing [--posts 10000] [--plain] [--repeat 2]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench.quote_timing import render_plaintext
from bench.synthetic import make_thread
from bot.core.models import AnalysedThread
from bot.core.quotes import infer_quotes
from bot.core.sides import Participants, ThreadWords, interactions, read_sides
from bot.core.stance import stance_digest
from bot.sources.plaintext import read_plaintext


def build(posts: int, plain: bool, seed: int = 7) -> AnalysedThread:
    doc = make_thread(posts=posts, seed=seed).doc
    if plain:
        doc = read_plaintext(render_plaintext(doc))
    return infer_quotes(doc)


def best_of(repeat: int, job: Callable[[], Any]) -> float:
    """The least CPU time of `repeat` runs (CPU, not wall: the 2-core host is shared)."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        job()
        times.append(time.process_time() - start)
    return min(times)


def measure(thread: AnalysedThread, repeat: int = 2) -> dict[str, float]:
    posts = sorted(thread.posts, key=lambda p: p.number)
    language = thread.language or "english"
    people = Participants.of(posts)
    words = ThreadWords.of(posts, people, language)
    found = interactions(posts, people)
    words.index.vectors()  # the digest scores its key points before the sides need them
    return {
        "participants": len(people.names),
        "interactions": len(found),
        "stance_s": best_of(repeat, lambda: stance_digest(posts, thread.edges, language=language)),
        "sides_s": best_of(repeat, lambda: read_sides(people, found, words)),
        "interactions_s": best_of(repeat, lambda: interactions(posts, people)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, nargs="+", default=[10_000])
    parser.add_argument("--plain", action="store_true", help="no names: posts are participants")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    print(f"{'posts':>7} {'people':>7} {'answers':>8} {'stance':>8} {'sides':>7} {'answers':>8}")
    for size in args.posts:
        result = measure(build(size, args.plain), args.repeat)
        print(
            f"{size:>7,} {result['participants']:>7,} {result['interactions']:>8,}"
            f" {result['stance_s']:>7.2f}s {result['sides_s']:>6.2f}s"
            f" {result['interactions_s']:>7.2f}s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
