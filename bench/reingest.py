"""What issue 16's bookkeeping costs on a big thread: matching a copy without ids to the
stored posts by content, and translating a thread to the forum's post numbers before an
analysis.

    .venv/bin/python -m bench.reingest                  # 1,000 and 10,000 posts
    .venv/bin/python -m bench.reingest --sizes 2000

For each size: `merge_by_content` of a copy with one post taken out of the middle (the
stored posts come from quote inference over the synthetic thread), and `for_analysis`
(deleted posts left out, forum numbers put in) over the same posts with a forum number
each and every 50th post deleted. Times are the best of three runs, in seconds of wall
time on this machine; they are noisy when other work shares it.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable

from bench.synthetic import make_thread
from bot.core.models import StoredPost, ThreadDoc
from bot.core.numbering import for_analysis
from bot.core.quotes import infer_quotes
from bot.sources.refresh import merge_by_content


def best_of(runs: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def stored_posts(doc: ThreadDoc) -> list[StoredPost]:
    analysed = infer_quotes(doc)
    return [
        StoredPost(
            number=p.number,
            text=p.text,
            content_hash=p.content_hash,
            segments=p.segments,
            author=p.author,
            reply_to=p.reply_to,
            forum_number=p.number * 2,  # a forum whose numbers have gaps
            deleted=p.number % 50 == 0,
        )
        for p in analysed.posts
    ]


def measure(size: int) -> dict[str, float | int]:
    doc = make_thread(size).doc
    stored = stored_posts(doc)
    live = [dataclasses.replace(p, deleted=False) for p in stored]
    gone = size // 2
    copy = dataclasses.replace(doc, posts=doc.posts[:gone] + doc.posts[gone + 1 :])
    plan = merge_by_content(live, copy)
    assert (plan.new, plan.edited, plan.deleted) == (0, 0, 1), plan
    edges = infer_quotes(doc).edges
    return {
        "posts": size,
        "merge": best_of(3, lambda: merge_by_content(live, copy)),
        "renumber": best_of(3, lambda: for_analysis(stored, edges, True)),
        "segments": sum(len(p.segments) for p in stored),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args(argv)
    print("| posts | segments | merge a copy by content | forum numbers + deleted left out |")
    print("|---|---|---|---|")
    for size in args.sizes:
        m = measure(size)
        print(
            f"| {m['posts']:,} | {m['segments']:,} | {m['merge']:.3f} s | {m['renumber']:.3f} s |"
        )


if __name__ == "__main__":
    main()
