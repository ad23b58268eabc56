"""Smoke tests for bench/: the scripts run on tiny hand-made inputs, so they cannot rot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import quote_quality, quote_timing

OWN_1 = (
    "The lighthouse keeper logs every passing trawler by hand because the radar "
    "misses small wooden hulls in heavy fog."
)
OWN_1B = "Paper logs also survive the power cuts that wipe the harbour office computers."
REPLY_2 = "Hand logging sounds slow, but I trust it more than any radar screen."
EXTERNAL = (
    "Copper weather vanes on the old customs house were stolen twice during the "
    "long winter of the storms."
)
BOOK = "A careful keeper writes the tide tables again every single spring without fail."


def aside(user: str, post: int, text: str, topic: int = 77) -> str:
    return (
        f'<aside class="quote no-group" data-username="{user}" data-post="{post}" '
        f'data-topic="{topic}"><div class="title"><div class="quote-controls"></div>'
        f'<img class="avatar" src="x.png"> {user}:</div><blockquote><p>{text}</p>'
        "</blockquote></aside>"
    )


def discourse_topic() -> dict[str, Any]:
    posts = [
        (1, f"<p>{OWN_1}</p>\n<p>{OWN_1B}</p>"),
        (2, aside("alice", 1, OWN_1) + f"<p>{REPLY_2}</p>"),
        (3, aside("carol", 99, EXTERNAL) + "<p>No idea who took them this time.</p>"),
        (4, f"<blockquote><p>{BOOK}</p></blockquote><p>Found that in an old almanac.</p>"),
    ]
    # Descending, as /posts.json?post_number=N returns them: the bench must sort.
    return {
        "id": 77,
        "post_stream": {
            "posts": [
                {"post_number": n, "topic_id": 77, "username": f"u{n}", "cooked": html}
                for n, html in reversed(posts)
            ]
        },
    }


def test_discourse_quality_scores_a_hand_made_topic() -> None:
    [thread] = quote_quality.threads_from_discourse(discourse_topic(), "demo")
    assert [p.key for p in thread.posts] == ["1", "2", "3", "4"]
    texts = [ln.text for p in thread.posts for ln in p.lines]
    assert "alice:" not in texts and all("alice" not in t for t in texts)

    result = quote_quality.evaluate(thread)
    s = result.score
    assert (s.gold_edges, s.pred_edges, s.edge_tp) == (1, 1, 1)
    assert s.res_words == s.res_found == s.res_src_ok > 0
    assert (s.ext_lines, s.ext_wrong, s.unatt_lines) == (1, 0, 1)
    assert s.pred_quote_ok == s.pred_quote_words
    row = quote_quality.edge_row("demo", s)
    assert row[6:8] == ("1.00", "1.00")


def test_xenforo_markup_drops_attribution_and_keeps_post_ids() -> None:
    xf1 = (
        '<div class="bbCodeBlock bbCodeQuote" data-author="Dana"><aside>'
        '<div class="attribution type">Dana said: <a href="goto/post?id=501#post-501" '
        'class="AttributionLink">&uarr;</a></div><blockquote class="quoteContainer">'
        '<div class="quote">First line<br/>second line</div><div class="quoteExpand">'
        "Click to expand...</div></blockquote></aside></div>My answer."
    )
    xf2 = (
        '<blockquote data-quote="Eli" data-source="post: 502" class="bbCodeBlock '
        'bbCodeBlock--quote"><div class="bbCodeBlock-title">Eli said:</div>'
        '<div class="bbCodeBlock-content"><div class="bbCodeBlock-expandContent">Quoted'
        '</div><div class="bbCodeBlock-expandLink">Click to expand...</div></div></blockquote>'
        "Reply."
    )
    lines = quote_quality.render(quote_quality.parse_html(xf1 + xf2))
    assert [(ln.text, ln.quote and ln.quote.post) for ln in lines] == [
        ("First line", "501"),
        ("second line", "501"),
        ("My answer.", None),
        ("Quoted", "502"),
        ("Reply.", None),
    ]


def test_quality_main_without_fixtures_exits_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    absent = str(tmp_path / "absent")
    assert quote_quality.main(["--fixtures", absent, "--dev", absent]) == 0
    assert "no fixtures" in capsys.readouterr().out


def test_timing_measures_a_small_thread() -> None:
    t = quote_timing.measure(50, runs=1, memory=False)
    assert t.edges_ok and t.reader_ok
    assert quote_timing.row(t)[quote_timing._HEAD.index("edges")] == "edges ok"
    assert t.infer_s > 0 and t.read_s > 0


def test_splitters_bench_runs_on_a_small_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import splitters

    assert splitters.main(["--words", "2000", "--limit", "5"]) == 0
    out = capsys.readouterr().out
    assert "threadwise" in out and "nupunkt" in out and "M words" in out
    # the hand-written cases are right for the threadwise splitter where nupunkt is
    for text, want in splitters.CASES:
        assert (tuple(splitters.split_sentences(text)) == want) == (
            tuple(splitters.nupunkt_split(text)) == want
        ), text


def test_load_bench_sends_every_digest_once_on_a_tiny_load(pg_url, tmp_path, capsys):
    from bench import load

    assert load.run(pg_url, scopes=6, processes=2, workdir=tmp_path)
    printed = capsys.readouterr().out
    assert "every digest sent exactly once: yes (6 messages to 6 of 6 channels)" in printed
    assert "loop lag over all processes: p99" in printed


def test_sides_quality_scores_a_small_dev_set(tmp_path: Path) -> None:
    from bench import sides_quality

    dev = {
        "threads": [
            {
                "name": "tipping",
                "source": "bench/data/sides/tipping.json",
                "splits": True,
                "sides": [["dana_w", "mira.k", "Ollie"], ["joe_server", "Rafael", "bex"]],
            },
            {"name": "chat", "source": "bench/data/sides/allotment-chat.json",
             "splits": False, "sides": []},
        ]
    }  # fmt: skip
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(dev), encoding="utf-8")
    scores = sides_quality.run(path)
    assert [s.name for s in scores] == ["tipping", "chat"]
    tipping, chat = scores
    assert (tipping.labelled, tipping.majority) == (6, 3)
    assert 0 <= tipping.right <= 6 and not chat.split_said
    text = sides_quality.report(scores, details=True)
    assert "sides right" in text and "agree precision" in text and "says no split" in text


def test_a_participant_left_unplaced_counts_as_wrong() -> None:
    from bench.sides_quality import Verdict, score_thread

    verdict = Verdict(
        splits=True,
        sides=(frozenset({"a", "b"}), frozenset({"c"})),
        replies=(("a", "c", "disagree"), ("a", "b", "agree"), ("c", "d", "agree")),
    )
    score = score_thread("t", [["a", "b", "d"], ["c"]], True, verdict)
    assert (score.right, score.labelled, score.unplaced) == (3, 4, 1)  # d is unplaced
    assert score.agree == [True, False] and score.disagree == [True]


def test_sides_timing_runs_on_a_small_thread() -> None:
    from bench import sides_timing

    result = sides_timing.measure(sides_timing.build(60, plain=False), repeat=1)
    assert result["participants"] > 1 and result["interactions"] > 0
    assert result["stance_s"] >= result["sides_s"] >= 0


def test_summary_quality_reads_the_split_format_and_summarises(tmp_path: Path) -> None:
    """bench/summary_quality.py on a two-thread split in the ConvoSumm file format, written
    here: the reference scorer's parser reads it and the default summary covers both posts
    without the sign-off."""
    pytest.importorskip("rouge_score")
    from bench import summary_quality

    folder = tmp_path / "convosumm-email-val"
    folder.mkdir()
    header = 'Name: "{n}"   Email: "{n}@example.org"   To: "list"   Subject: "{s}"   '
    lines = [
        header.format(n="Ana", s="Depot roof")
        + "The depot roof leaks every time it rains.   We should fix it before winter."
        + "</s>"
        + header.format(n="Ben", s="RE: Depot roof")
        + "A new roof costs less than one new tram.   Cheers,   Ben",
        header.format(n="Cy", s="Night trams")
        + "Night trams end before the last train arrives from the city.",
    ]
    (folder / "val.source").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "val.target").write_text(
        "Ana says the depot roof leaks. Ben says a roof costs less than a tram.\n"
        "Cy notes that night trams end too early.\n",
        encoding="utf-8",
    )
    scorer = summary_quality.SCORER
    if not scorer.exists():
        pytest.skip(f"{scorer} is absent: the shared eval folder is not next to the repo")
    module = summary_quality.load_scorer(scorer)
    module.HERE = folder
    data = module.threads(2)
    summary = summary_quality.summary_of(data[0][0], None)
    assert {s.post for s in summary.sentences} == {1, 2}
    assert "Cheers," not in [s.text for s in summary.sentences]


def test_inference_beats_the_8_gram_baseline_on_the_own_dev_threads() -> None:
    """bench/quote_dev: three debate threads of this project's own writing, quotes marked in
    BBCode. Inference must find more of the quoted words than the naive 8-gram baseline and
    credit at least as many of them to the right post."""
    files = sorted(quote_quality.DEV.glob("*.txt"))
    assert len(files) >= 3
    ours = quote_quality.score_files(files, "threadwise")[-1][1]
    base = quote_quality.score_files(files, "baseline")[-1][1]
    p, r, f1, attribution = quote_quality.word_figures(ours)
    bp, br, bf1, battribution = quote_quality.word_figures(base)
    assert ours.res_words > 1000
    assert r > br and attribution >= battribution and f1 > bf1
    assert p >= bp - 0.01


def test_dev_thread_markup_gives_gold_and_a_plain_copy() -> None:
    text = "\n".join(
        [
            "# title: t",
            "== 1 ana",
            "Own words of ana here.",
            "== 2 bo > 1",
            "[quote=1]",
            "Own words of ana here.",
            "[/quote]",
            "[quote=x]",
            "From a post elsewhere.",
            "[/quote]",
            "[quote]",
            "From a book.",
            "[/quote]",
            "My reply.",
        ]
    )
    [thread] = quote_quality.threads_from_dev(text, "dev")
    assert [p.key for p in thread.posts] == ["1", "2"] and thread.posts[1].reply_to == "1"
    gold = quote_quality.gold_lines(thread)
    assert [g.category for g in gold[1]] == ["resolved", "external", "unattributed", "own"]
    doc = quote_quality.plain_doc(thread, structure=True)
    assert doc.posts[1].reply_to_source_id == "1"
    assert all(not b.is_quote for p in doc.posts for b in p.blocks)


def test_reingest_bench_runs_on_a_small_thread(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import reingest

    reingest.main(["--sizes", "60"])
    out = capsys.readouterr().out
    assert "| 60 |" in out and "merge a copy by content" in out
