"""How well `threadwise stance` puts people on sides, and how far its reply labels can be trusted.

The dev set (`bench/data/sides_dev.json`) holds hand labels only: for each thread, the
participants whose side is clear to a human reader, as two lists. The threads are real
fixture pages read from ../shared at run time, and threads of this project's own writing in
`bench/data/sides/`. Some threads do not split at all (help, chat, condolences).

The three figures are the ones the blind test set is judged by:

- **sides**: the share of labelled participants on the right side, per thread up to which
  side is called A; a participant the analysis leaves unplaced counts as wrong. The
  majority-side baseline puts everyone on the thread's bigger side.
- **agree precision**: of the replies labelled `agree` between two labelled participants,
  the share between people on the same side (with the number of such labels).
- **disagree precision**: of those labelled `disagree`, the share between opposite sides.

Threads marked `splits: false` are scored on whether the analysis says they do not split.

Run: .venv/bin/python -m bench.sides_quality [--details]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.models import AnalysedThread
from bot.core.quotes import infer_quotes
from bot.core.stance import StanceReport, stance_digest
from bot.sources.detect import read_file_bytes
from bot.sources.discourse import DiscourseReader

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DEV_SET = REPO / "bench" / "data" / "sides_dev.json"


# --- reading the threads ----------------------------------------------------------------------


class Missing(Exception):
    """A fixture the dev set names is not there (../shared absent)."""


def _path(source: str) -> Path:
    if source.startswith("shared:"):
        path = SHARED / source.removeprefix("shared:")
    else:
        path = REPO / source
    if not path.is_file():
        raise Missing(str(path))
    return path


def _merged_discourse(paths: Sequence[Path]) -> bytes:
    """Several saved windows of one Discourse topic as one topic view, posts in order."""
    posts: dict[int, Any] = {}
    title, topic_id = None, None
    for path in paths:
        data = json.loads(path.read_text(encoding="utf-8"))
        title = title or data.get("title")
        topic_id = topic_id or data.get("id")
        for raw in data["post_stream"]["posts"]:
            posts.setdefault(raw["post_number"], raw)
    view = {
        "id": topic_id or posts[min(posts)]["topic_id"],
        "title": title or "Discourse topic",
        "post_stream": {"posts": [posts[n] for n in sorted(posts)]},
    }
    return json.dumps(view).encode("utf-8")


def load_thread(source: str | list[str]) -> AnalysedThread:
    if isinstance(source, list):
        doc = DiscourseReader().parse_saved(
            _merged_discourse([_path(s) for s in source]).decode("utf-8")
        )
    else:
        doc = read_file_bytes(_path(source).read_bytes())
    return infer_quotes(doc)


# --- what the analysis says -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    """The analysis's answer, reduced to what is scored."""

    splits: bool
    sides: tuple[frozenset[str], frozenset[str]]
    replies: tuple[tuple[str, str, str], ...]
    """(from participant, to participant, label) for every labelled reply."""


def analyse(thread: AnalysedThread) -> Verdict:
    report = stance_digest(thread.posts, thread.edges, language=thread.language or "english")
    replies = tuple(
        (p.author, r.to_author, r.label)
        for p in report.participants
        for r in p.replies
        if r.to_author is not None
    )
    a, b = _sides_of(report)
    return Verdict(splits=report.sides.splits, sides=(a, b), replies=replies)


def _sides_of(report: StanceReport) -> tuple[frozenset[str], frozenset[str]]:
    if not report.sides.sides:
        return frozenset(), frozenset()
    first, second = report.sides.sides
    return frozenset(first.members), frozenset(second.members)


# --- scoring ------------------------------------------------------------------------------------


@dataclass
class Score:
    name: str
    labelled: int = 0
    right: int = 0
    unplaced: int = 0
    majority: int = 0
    agree: list[bool] = field(default_factory=list)
    disagree: list[bool] = field(default_factory=list)
    split_expected: bool = True
    split_said: bool = True


def score_thread(name: str, gold: Sequence[Sequence[str]], splits: bool, verdict: Verdict) -> Score:
    score = Score(name, split_expected=splits, split_said=verdict.splits)
    if not splits:
        return score
    side_of = {person: index for index, members in enumerate(gold) for person in members}
    score.labelled = len(side_of)
    score.majority = max(len(members) for members in gold)
    a, b = verdict.sides
    straight = sum(1 for p, s in side_of.items() if p in (a if s == 0 else b))
    crossed = sum(1 for p, s in side_of.items() if p in (b if s == 0 else a))
    score.right = max(straight, crossed)
    score.unplaced = sum(1 for p in side_of if p not in a and p not in b)
    for source, target, label in verdict.replies:
        if source == target or source not in side_of or target not in side_of:
            continue
        same = side_of[source] == side_of[target]
        if label == "agree":
            score.agree.append(same)
        elif label == "disagree":
            score.disagree.append(not same)
    return score


def run(dev_set: Path = DEV_SET) -> list[Score]:
    data = json.loads(dev_set.read_text(encoding="utf-8"))
    scores = []
    for entry in data["threads"]:
        try:
            thread = load_thread(entry["source"])
        except Missing as missing:
            print(f"  {entry['name']}: skipped, {missing} is not there", file=sys.stderr)
            continue
        verdict = analyse(thread)
        scores.append(score_thread(entry["name"], entry["sides"], entry["splits"], verdict))
    return scores


def _share(right: int, total: int) -> str:
    return f"{right / total:.3f}" if total else "  -  "


def report(scores: Sequence[Score], details: bool = False) -> str:
    lines = []
    if details:
        lines.append(f"{'thread':<24} {'sides':>11} {'unplaced':>8} {'agree':>9} {'disagree':>9}")
        for s in scores:
            if not s.split_expected:
                verdict = "says no split" if not s.split_said else "SPLITS (wrong)"
                lines.append(f"{s.name:<24} {verdict}")
                continue
            lines.append(
                f"{s.name:<24} {s.right:>4}/{s.labelled:<3} {_share(s.right, s.labelled)}"
                f" {s.unplaced:>4}"
                f" {sum(s.agree):>3}/{len(s.agree):<3}"
                f" {sum(s.disagree):>4}/{len(s.disagree):<4}"
            )
        lines.append("")
    debates = [s for s in scores if s.split_expected]
    labelled = sum(s.labelled for s in debates)
    right = sum(s.right for s in debates)
    majority = sum(s.majority for s in debates)
    agree = [x for s in debates for x in s.agree]
    disagree = [x for s in debates for x in s.disagree]
    calm = [s for s in scores if not s.split_expected]
    lines += [
        f"sides right            {_share(right, labelled)}  ({right} of {labelled} participants "
        f"in {len(debates)} threads; majority side alone {_share(majority, labelled)}; "
        f"unplaced {sum(s.unplaced for s in debates)})",
        f"agree precision        {_share(sum(agree), len(agree))}  ({len(agree)} agree labels)",
        f"disagree precision     {_share(sum(disagree), len(disagree))}  "
        f"({len(disagree)} disagree labels)",
        f"threads that don't split, said so   {sum(1 for s in calm if not s.split_said)} of "
        f"{len(calm)}",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--details", action="store_true", help="one line per thread")
    parser.add_argument("--dev-set", type=Path, default=DEV_SET)
    args = parser.parse_args(argv)
    print(report(run(args.dev_set), details=args.details))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
