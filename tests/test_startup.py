"""`threadwise threads` and `threadwise --help` start at once: the heavy libraries are
imported where they are used, never by the command line's start (checked in a fresh
interpreter, since this test process has imported everything already)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("discord", "nio", "sumy", "numpy", "matplotlib", "aiohttp", "bs4", "networkx", "lxml")

PROBE = """
import json, sys
from bot.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r}))
print(json.dumps({{"code": code, "heavy": loaded}}), file=sys.stderr)
"""


def heavy_modules_after(*argv: str) -> tuple[int, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], report["heavy"]


@pytest.mark.parametrize(
    "argv",
    [["threads"], ["threads", "--json"], ["--help"], ["summary", "--help"], ["digest", "list"]],
    ids=" ".join,
)
def test_light_commands_import_no_heavy_library(tmp_path, argv):
    code, heavy = heavy_modules_after("--db", str(tmp_path / "t.db"), *argv)
    assert code in (0, None)
    assert heavy == []


def test_the_probe_sees_a_heavy_import(tmp_path):
    """The check itself: `summary` of a stored thread does import sumy and numpy."""
    example = REPO / "bot" / "examples" / "tram-thread.txt"
    db = str(tmp_path / "t.db")
    assert heavy_modules_after("--db", db, "-q", "ingest", str(example), "--name", "tram")[0] == 0
    code, heavy = heavy_modules_after("--db", db, "summary", "tram")
    assert code == 0
    assert {"sumy", "numpy"} <= set(heavy)


def test_ingesting_a_json_thread_imports_no_web_reader(tmp_path):
    """A threadwise JSON file is claimed by no forum reader (bot/sources/sniff.py tells so
    without them): Beautiful Soup and aiohttp stay out of its ingest, and the command line
    (no process pool) imports none of the analyses either: numpy for the quotes and sumy's
    stop words for the language, nothing else."""
    source = tmp_path / "thread.json"
    posts = [{"author": f"user{i % 3}", "text": f"Post {i} says its own words."} for i in range(5)]
    source.write_text(json.dumps({"title": "Small", "posts": posts}), encoding="utf-8")
    argv = ["--db", str(tmp_path / "t.db"), "-q", "ingest", str(source), "--name", "small"]
    probe = PROBE.format(heavy=(*HEAVY, "bot.usecases.analysis")).replace(
        'm.split(".")[0]', 'm if m.startswith("bot.") else m.split(".")[0]'
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *argv], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, None)
    assert set(report["heavy"]) <= {"numpy", "sumy"}


def test_each_forum_reader_sniffs_with_the_light_module():
    from bot.sources import sniff
    from bot.sources.web import URL_READERS

    assert [r.name for r in URL_READERS] == list(sniff.FORUMS)
    pages = {
        "reddit": '[{"kind": "Listing", "data": {}}]',
        "xenforo": '<!DOCTYPE html>\n<html id="XF" lang="en">',
        "phpbb": '<html><body id="phpbb" class="x">',
        "vbulletin": '<html><meta name="generator" content="vBulletin 4.2.5" />',
        "discourse": '{"post_stream": {"posts": []}}',
    }
    for reader in URL_READERS:
        claimed = [name for name, page in pages.items() if reader.sniff(page)]
        assert claimed == [reader.name]
        assert all(reader.sniff(p) == sniff.FORUMS[reader.name](p) for p in pages.values())
    assert not sniff.any_forum('{"title": "Small", "posts": []}')
