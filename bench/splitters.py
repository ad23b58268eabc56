"""Sentence splitters on a million words: speed, and whether they split where they should.

Summaries, stance and the digests split every own paragraph of a thread into sentences, so
at 10,000 posts the splitter sees ~1.2 million words. This compares, on the same paragraphs:

- `threadwise`: `bot.core.text.split_sentences`, nupunkt's segmentation with a fast path
  for the plain cases (tests/core/test_summary.py holds it to nupunkt's answers);
- `nupunkt`: `nupunkt.sent_tokenize` on every paragraph;
- `regex`: a split after . ! ? followed by a space and a capital (what a quick script does);
- `pysbd`: the rule-based segmenter, when it is installed (it is not a dependency).

Speed is measured on the synthetic 10,000-post thread (bench.synthetic) and on the seed
thread's paragraphs repeated to a million words (read from ../shared/seed when present).
Accuracy is counted on `CASES` below, hand-written paragraphs with the right splits, and
as agreement with nupunkt on the seed's own paragraphs.

Run: .venv/bin/python -m bench.splitters [--words 1000000]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import nupunkt

from bot.core.text import split_sentences

SEED = Path(__file__).resolve().parents[2] / "shared" / "seed" / "trotsky-thread.txt"

Splitter = Callable[[str], list[str]]

_NAIVE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")

# (paragraph, the sentences it holds): our own sentences, each a trap for some splitter
CASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("The tram costs 3.5 million. The bus costs less.",
     ("The tram costs 3.5 million.", "The bus costs less.")),
    ("Dr. Smith drew the plan. Nobody read it.",
     ("Dr. Smith drew the plan.", "Nobody read it.")),
    ("We asked the council, e.g. the transport board. They said no.",
     ("We asked the council, e.g. the transport board.", "They said no.")),
    ("Really?! I thought so. Fine...", ("Really?!", "I thought so.", "Fine...")),
    ("See https://example.org/plan.pdf for details. It is long.",
     ("See https://example.org/plan.pdf for details.", "It is long.")),
    ("The U.S. built trams first. Europe kept them.",
     ("The U.S. built trams first.", "Europe kept them.")),
    ("Mr. Jones and Mrs. Jones disagree. Who is right?",
     ("Mr. Jones and Mrs. Jones disagree.", "Who is right?")),
    ("It opened in Jan. 1990 and closed later. Sad.",
     ("It opened in Jan. 1990 and closed later.", "Sad.")),
    ("No. Absolutely not. Never.", ("No.", "Absolutely not.", "Never.")),
    ("The plan (see p. 4) is vague. The map is not.",
     ("The plan (see p. 4) is vague.", "The map is not.")),
    ("version 2.0 fixed it. then 2.1 broke it again.",
     ("version 2.0 fixed it.", "then 2.1 broke it again.")),
    ("Quote: \"It will never work.\" He was wrong.",
     ("Quote: \"It will never work.\"", "He was wrong.")),
    ("J. R. R. Tolkien liked trains. So do I.",
     ("J. R. R. Tolkien liked trains.", "So do I.")),
    ("A single sentence without a final mark", ("A single sentence without a final mark",)),
    ("Line one ends here! Line two asks why? Line three answers.",
     ("Line one ends here!", "Line two asks why?", "Line three answers.")),
)  # fmt: skip


def regex_split(paragraph: str) -> list[str]:
    return [s.strip() for s in _NAIVE_RE.split(paragraph.strip()) if s.strip()]


def nupunkt_split(paragraph: str) -> list[str]:
    return [s.strip() for s in nupunkt.sent_tokenize(paragraph.strip()) if s.strip()]


def _pysbd() -> Splitter | None:
    try:
        import pysbd  # type: ignore[import-not-found]
    except ImportError:
        return None
    segmenter = pysbd.Segmenter(language="en", clean=False)

    def split(paragraph: str) -> list[str]:
        return [s.strip() for s in segmenter.segment(paragraph.strip()) if s.strip()]

    return split


def splitters() -> dict[str, Splitter | None]:
    return {
        "threadwise": split_sentences,
        "nupunkt": nupunkt_split,
        "regex": regex_split,
        "pysbd": _pysbd(),
    }


def synthetic_paragraphs(words: int) -> list[str]:
    from bench.synthetic import make_thread

    posts = max(1, words // 120)
    doc = make_thread(posts=posts, seed=7).doc
    return [b.text for p in doc.posts for b in p.blocks]


def seed_paragraphs() -> list[str]:
    if not SEED.exists():
        return []
    lines = SEED.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if len(line.split()) >= 3]


def repeated(paragraphs: Sequence[str], words: int) -> list[str]:
    if not paragraphs:
        return []
    out: list[str] = []
    total = 0
    while total < words:
        for paragraph in paragraphs:
            out.append(paragraph)
            total += len(paragraph.split())
            if total >= words:
                break
    return out


def timed(split: Splitter, paragraphs: Sequence[str], limit: float) -> tuple[float, int, bool]:
    """Seconds, sentences found, and whether it ran to the end within `limit` seconds."""
    split("Warm up. Done.")
    sentences = 0
    start = time.perf_counter()
    for index, paragraph in enumerate(paragraphs):
        sentences += len(split(paragraph))
        if index % 256 == 0 and time.perf_counter() - start > limit:
            return time.perf_counter() - start, sentences, False
    return time.perf_counter() - start, sentences, True


def table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in (head, *rows)) for i in range(len(head))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(str(h).ljust(w) for h, w in zip(head, widths, strict=True)), line]
    out += ["  ".join(str(c).rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=1_000_000)
    parser.add_argument("--limit", type=float, default=60.0, help="seconds per splitter run")
    args = parser.parse_args(argv)

    corpora = {"synthetic": synthetic_paragraphs(args.words)}
    seed = seed_paragraphs()
    if seed:
        corpora["seed ×N"] = repeated(seed, args.words)
    else:
        print(f"{SEED} is absent: timing the synthetic corpus only", file=sys.stderr)
    rows = []
    for name, split in splitters().items():
        if split is None:
            rows.append([name, "not installed", "-", *("-" for _ in corpora)])
            continue
        right = sum(tuple(split(text)) == want for text, want in CASES)
        agree = f"{sum(split(p) == nupunkt_split(p) for p in seed)}/{len(seed)}" if seed else "-"
        cells = [name, f"{right}/{len(CASES)}", agree]
        for paragraphs in corpora.values():
            words = sum(len(p.split()) for p in paragraphs)
            seconds, found, finished = timed(split, paragraphs, args.limit)
            speed = f"{seconds:.2f}" if finished else f"> {args.limit:.0f}"
            cells.append(f"{speed} s / {words / 1e6:.2f} M words ({found:,} sentences)")
        rows.append(cells)
    head = ["splitter", "cases right", "seed = nupunkt", *(f"{c} time" for c in corpora)]
    print(table(head, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
