"""Summary quality on the ConvoSumm e-mail dev split, in one process.

`../shared/eval/convosumm_val.py` is the reference scorer: it ingests every thread with the
`threadwise` command and summarises it with `summary --words 75`, two processes per thread
(about ten minutes for the 265 threads). This script does the same steps in-process (the
scorer's own thread parsing, the JSON reader, quote inference, `summarise`, the same 75-word
cut and rouge-score settings), so an algorithm can be scored in about a minute while tuning.
Its figures match the reference scorer's; run that one for the figures you report.

    .venv/bin/python -m bench.summary_quality [--n 265] [--algorithm NAME] [--show 3]

Needs rouge-score (`pip install -e .[bench]`) and ../shared/eval (skipped when absent).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from bot.core.quotes import infer_quotes
from bot.core.summary import Summary, SummaryRequest, summarise
from bot.sources.detect import read_file_bytes

SCORER = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "convosumm_val.py"
WORDS = 75


def load_scorer(path: Path = SCORER) -> ModuleType:
    """The reference scorer as a module (its `threads()` parses the split)."""
    if not path.exists():
        sys.exit(f"{path} is absent: the ConvoSumm dev split lives in ../shared/eval")
    spec = importlib.util.spec_from_file_location("convosumm_val", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cut(text: str, words: int = WORDS) -> str:
    return " ".join(text.split()[:words])


def summary_of(thread: dict[str, Any], algorithm: str | None, words: int = WORDS) -> Summary:
    doc = read_file_bytes(json.dumps(thread).encode(), "json")
    analysed = infer_quotes(doc)
    request = (
        SummaryRequest(words=words)
        if algorithm is None
        else SummaryRequest(algorithm=algorithm, words=words)
    )
    return summarise(analysed.posts, request, title=analysed.title)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=265)
    ap.add_argument("--algorithm", default=None, help="default: the default algorithm")
    ap.add_argument("--show", type=int, default=0)
    ap.add_argument("--skip", type=int, default=0, help="show from this thread on")
    args = ap.parse_args(argv)
    try:
        from rouge_score import rouge_scorer
    except ImportError:
        sys.exit("needs rouge-score: .venv/bin/pip install -e .[bench]")
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    data = load_scorer().threads(args.n)
    totals = {"threadwise": [0.0] * 3, "lead": [0.0] * 3}
    failures = 0
    started = time.perf_counter()
    for k, (thread, ref) in enumerate(data):
        try:
            summary = summary_of(thread, args.algorithm)
            ours = cut(" ".join(s.text for s in summary.sentences))
        except Exception as exc:
            failures += 1
            print(f"thread {k}: summary failed: {type(exc).__name__}: {exc}"[:200])
            summary, ours = None, ""
        lead = cut(" ".join(p["text"] for p in thread["posts"]))
        for name, text in (("threadwise", ours), ("lead", lead)):
            scores = scorer.score(ref, text)
            for i, key in enumerate(("rouge1", "rouge2", "rougeL")):
                totals[name][i] += 100 * scores[key].fmeasure / len(data)
        if args.skip <= k < args.skip + args.show:
            print(f"--- thread {k}: {thread['title']}\nreference: {ref}")
            if summary is not None:
                for s in summary.sentences:
                    print(f"  [#{s.post} {s.author}] {s.text}")
                if summary.note:
                    print(f"  ({summary.note})")
            print()
    for name, (r1, r2, rl) in totals.items():
        scores = f"R1 {r1:5.2f}  R2 {r2:5.2f}  RL {rl:5.2f}"
        print(f"{name:>10}  {scores}   ({len(data)} threads, {WORDS} words)")
    if failures:
        print(f"{failures} summaries failed")
    print(f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
