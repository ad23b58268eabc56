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
