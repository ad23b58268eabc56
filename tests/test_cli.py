"""The `threadwise` command as a user runs it: a real process, a real SQLite file."""

from __future__ import annotations

import argparse
import io
import json
import os
import sqlite3
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cli.main import main
from tests.conftest import EXAMPLE_TEXT, SEED_LABELS, SEED_TEXT, need_shared


def seed_name() -> str:
    """The name ingest gives the seed: made from its title (read from ../shared)."""
    from bot.usecases.services import slugify

    return slugify(json.loads(need_shared(SEED_LABELS).read_text(encoding="utf-8"))["title"])


@dataclass
class Result:
    returncode: int
    stdout: bytes
    stderr: bytes


def tw(db: Path, *args: str, stdin: bytes | None = None, check: bool = True) -> Result:
    """Run the command in-process (fast); test_real_process covers the installed entry point."""
    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(["--db", str(db), *args])
            except SystemExit as exc:  # argparse: --help and usage errors
                code = int(exc.code or 0)
    finally:
        sys.stdin = old_stdin
    result = Result(code, out.getvalue().encode(), err.getvalue().encode())
    if check and code != 0:
        raise AssertionError(f"exit {code}: {err.getvalue()}")
    return result


def test_real_process_entry_point(db):
    env = {**os.environ, "THREADWISE_CONFIG": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "--db", str(db), "ingest", str(EXAMPLE_TEXT), "--json"],
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["posts"] >= 18
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "--db", str(db), "summary", "nope"],
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.decode().strip().splitlines()[-1].startswith("threadwise: no thread")


def dump(db: Path) -> list:
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return [(t, sorted(conn.execute(f"SELECT * FROM {t}").fetchall())) for t in sorted(tables)]


def first_posts(text: str, count: int) -> str:
    """The seed's title and its first `count` posts, as a shorter copy would hold them."""
    lines = text.split("\n")
    out, seen = [], 0
    for line in lines:
        if line != "" and line.strip() == "":
            seen += 1
            if seen == count:
                break
        out.append(line)
    return "\n".join(out) + "\n"


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "t.db"


def test_ingest_json_output_and_threads_list(db):
    need_shared(SEED_TEXT)
    out = json.loads(tw(db, "ingest", str(SEED_TEXT), "--json").stdout)
    assert out["name"] == seed_name()
    gold = json.loads(need_shared(SEED_LABELS).read_text(encoding="utf-8"))
    assert out["title"] == gold["title"]
    assert out["posts"] == 19
    assert out["authors"] == 0
    listed = json.loads(tw(db, "threads", "--json").stdout)
    assert [t["name"] for t in listed] == [seed_name()]


def test_reingest_changes_nothing_and_longer_copy_adds_exactly_the_new_posts(db, tmp_path):
    text = need_shared(SEED_TEXT).read_text(encoding="utf-8")
    short = tmp_path / "short.txt"
    short.write_text(first_posts(text, 12), encoding="utf-8")
    tw(db, "ingest", str(short), "--name", "seed")
    before = dump(db)
    assert (
        json.loads(tw(db, "ingest", str(short), "--name", "seed", "--json").stdout)["posts"] == 12
    )
    assert dump(db) == before
    tw(db, "ingest", str(SEED_TEXT), "--name", "seed")
    shown = json.loads(tw(db, "show", "seed", "--json").stdout)
    assert [p["number"] for p in shown["posts"]] == list(range(1, 20))
    with sqlite3.connect(db) as conn:
        old = dict(before)["posts"]
        now = conn.execute("SELECT * FROM posts ORDER BY number").fetchall()
    assert now[:12] == sorted(old, key=lambda r: r[2])


def test_show_one_post_and_plain_text_output(db):
    tw(db, "ingest", str(EXAMPLE_TEXT), "--name", "tram")
    one = json.loads(tw(db, "show", "tram", "--post", "2", "--json").stdout)
    assert [p["number"] for p in one["posts"]] == [2]
    assert set(one["posts"][0]) >= {"number", "author", "time", "url", "text"}
    text = tw(db, "show", "tram", "--post", "2").stdout.decode()
    assert "#2" in text


def test_quotes_summary_and_stance_documents(db, tmp_path):
    tw(db, "ingest", str(EXAMPLE_TEXT), "--name", "tram")
    png = tmp_path / "g.png"
    quotes = json.loads(tw(db, "quotes", "tram", "--graph", str(png), "--json").stdout)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert quotes["edges"] and set(quotes["edges"][0]) >= {
        "from_post",
        "to_post",
        "from_author",
        "to_author",
        "count",
    }
    seg = quotes["posts"][2]["segments"][0]
    assert set(seg) >= {"kind", "text", "source_post", "source_author"}
    summary = json.loads(tw(db, "summary", "tram", "--sentences", "3", "--json").stdout)
    assert len(summary["sentences"]) == 3
    assert set(summary["sentences"][0]) >= {"post", "author", "text", "score"}
    stance = json.loads(tw(db, "stance", "tram", "--json").stdout)
    assert set(stance["participants"][0]) >= {
        "author",
        "posts",
        "key_points",
        "quotes",
        "quoted_by",
        "agrees_with",
        "disagrees_with",
    }


def test_seed_edges_as_printed_by_quotes(db):
    need_shared(SEED_TEXT)
    tw(db, "ingest", str(SEED_TEXT))
    quotes = json.loads(tw(db, "quotes", seed_name(), "--json").stdout)
    edges = {(e["from_post"], e["to_post"]) for e in quotes["edges"]}
    assert {(3, 2), (4, 1), (6, 5), (7, 6), (9, 8), (11, 10)} <= edges


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\x00\x01\x02\x03binary\x00", "binary"),
        (b'{"title": "broken", "posts": [', "not valid JSON"),
        (b"<html><body>saved page</body></html>", "threadwise reads XenForo"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line_and_stores_nothing(db, tmp_path, content, message):
    tw(db, "threads")  # creates the schema
    before = dump(db)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    proc = tw(db, "ingest", str(bad), check=False)
    assert proc.returncode == 1
    err = proc.stderr.decode().strip()
    last = err.splitlines()[-1]
    assert last.startswith("threadwise: ") and message in last and "Traceback" not in err
    assert dump(db) == before


def test_missing_file_oversized_file_and_unknown_thread(db, tmp_path):
    proc = tw(db, "ingest", str(tmp_path / "nope.txt"), check=False)
    assert proc.returncode == 1 and "cannot read" in proc.stderr.decode()
    big = tmp_path / "big.txt"
    with big.open("wb") as f:
        f.truncate(50 * 1024 * 1024)  # a 50 MB file
    proc = tw(db, "ingest", str(big), check=False)
    assert proc.returncode == 1 and "limit" in proc.stderr.decode()
    proc = tw(db, "summary", "no-such-thread", check=False)
    assert proc.returncode == 1 and "no thread named" in proc.stderr.decode()


def test_a_different_thread_under_the_same_name_is_refused(db, tmp_path):
    tw(db, "ingest", str(EXAMPLE_TEXT), "--name", "x")
    other = tmp_path / "other.txt"
    other.write_text("Other thread\n\nA post about something else entirely.\n", encoding="utf-8")
    before = dump(db)
    proc = tw(db, "ingest", str(other), "--name", "x", check=False)
    assert proc.returncode == 1 and "different thread" in proc.stderr.decode()
    assert dump(db) == before


def test_forget_removes_everything(db):
    tw(db, "ingest", str(EXAMPLE_TEXT), "--name", "tram")
    tw(db, "forget", "tram")
    with sqlite3.connect(db) as conn:
        for table in ("threads", "posts", "segments", "quote_edges"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0


def test_stdin_ingest(db):
    tw(db, "ingest", "-", "--name", "piped", stdin=EXAMPLE_TEXT.read_bytes())
    assert json.loads(tw(db, "threads", "--json").stdout)[0]["name"] == "piped"


@pytest.mark.parametrize(
    "command",
    ["ingest", "refresh", "threads", "show", "forget", "summary", "stance", "quotes", "demo"],
)
def test_every_command_has_help(db, command):
    out = tw(db, command, "--help").stdout.decode()
    assert "usage: threadwise" in out


def test_usage_error_exits_2(db):
    assert tw(db, "summary", check=False).returncode == 2


def test_run_without_any_chat_platform_configured_says_what_to_set(db, monkeypatch):
    for var in ("DISCORD_TOKEN", "MATRIX_PASSWORD", "MATRIX_ACCESS_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    proc = tw(db, "run", check=False)
    assert proc.returncode == 1
    assert "nothing to run" in proc.stderr.decode()


def test_discord_commands_payload_without_connecting(db):
    payload = json.loads(tw(db, "discord-commands", "--json").stdout)
    by_name = {c["name"]: c for c in payload}
    assert by_name["thread"]["default_member_permissions"] not in (None, "")
    assert by_name["summary"].get("default_member_permissions") is None
    assert all(c.get("contexts") == [0] for c in payload)
    text = tw(db, "discord-commands").stdout.decode()
    assert "/summary" in text


def test_backup_command_end_to_end(db, tmp_path):
    tw(db, "ingest", str(EXAMPLE_TEXT), "--name", "tram")
    dest = tmp_path / "copies" / "tw.db"
    dest.parent.mkdir()
    text = tw(db, "backup", str(dest))
    assert text.stdout.decode().startswith(f"Backup written to {dest} (")
    assert f"{dest.stat().st_size} bytes" in text.stdout.decode()
    assert dump(dest) == dump(db)

    dest2 = tmp_path / "copies" / "tw2.db"
    doc = json.loads(tw(db, "backup", str(dest2), "--json").stdout)
    assert doc == {"backup": str(dest2), "bytes": dest2.stat().st_size}
    assert json.loads(tw(dest2, "threads", "--json").stdout)[0]["name"] == "tram"

    again = tw(db, "backup", str(dest), check=False)
    assert again.returncode == 1
    assert "already exists" in again.stderr.decode()
    missing = tw(db, "backup", str(tmp_path / "nope" / "x.db"), check=False)
    assert missing.returncode == 1
    assert "does not exist" in missing.stderr.decode()
    no_db = tw(tmp_path / "absent.db", "backup", str(tmp_path / "y.db"), check=False)
    assert no_db.returncode == 1
    assert "no database" in no_db.stderr.decode()
    assert not (tmp_path / "absent.db").exists()


# --- threadwise run --shards ------------------------------------------------------------------


def test_shard_ranges_parse_like_a_systemd_instance_name() -> None:
    from bot.argtypes import shard_range

    assert shard_range("0-3") == (0, 1, 2, 3)
    assert shard_range("0,2, 5") == (0, 2, 5)
    assert shard_range("4-5,0") == (0, 4, 5)
    for bad in ("", "a", "3-1", "1-", "-1", "0-99999999"):
        with pytest.raises(argparse.ArgumentTypeError):
            shard_range(bad)


def test_run_refuses_shards_outside_the_shard_count(tmp_path, capsys) -> None:
    config = tmp_path / "threadwise.toml"
    config.write_text("[discord]\nshard_count = 2\n", encoding="utf-8")
    db = str(tmp_path / "t.db")
    assert main(["--config", str(config), "--db", db, "run", "--shards", "1-3"]) == 1
    assert "--shards [2, 3] are not shards of shard_count 2" in capsys.readouterr().err
    config.write_text("[discord]\n", encoding="utf-8")
    assert main(["--config", str(config), "--db", db, "run", "--shards", "0"]) == 1
    assert "--shards needs [discord] shard_count" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "off"),
    [
        (["ingest", "thread.json"], True),
        (["ingest", "-"], True),
        (["ingest", "https://forum.example/t/1"], False),  # parsed pages are cyclic trees
        (["refresh", "t"], False),
        (["quotes", "t", "--json"], True),
        (["summary", "t"], True),
        (["stance", "t"], True),
        (["threads"], True),
        (["digest", "list"], True),
        (["digest", "run-due"], False),  # refreshes threads from their forums
        (["run"], False),
    ],
)
def test_one_shot_commands_without_web_pages_run_without_the_cycle_collector(argv, off) -> None:
    from bot.cli.main import build_parser, without_cycle_collection

    assert without_cycle_collection(build_parser().parse_args(argv)) is off


@pytest.mark.parametrize(
    ("argv", "env", "fork"),
    [
        (["stance", "t"], None, True),
        (["stance", "t", "--author", "Ann"], None, True),
        (["stance", "t"], "0", False),  # THREADWISE_FORK=0: one process
        (["ingest", "thread.json"], None, True),
        (["ingest", "thread.json"], "0", False),
        (["summary", "t"], None, False),
        (["run"], None, False),  # a bot never forks: its sockets, threads and event loop
        (["digest", "run-due"], None, False),
    ],
)
def test_only_a_one_shot_stance_or_ingest_may_fork_a_child(argv, env, fork, monkeypatch) -> None:
    from bot.cli.main import build_parser, may_fork

    if env is None:
        monkeypatch.delenv("THREADWISE_FORK", raising=False)
    else:
        monkeypatch.setenv("THREADWISE_FORK", env)
    assert may_fork(build_parser().parse_args(argv)) is fork


def test_a_one_shot_command_ends_with_the_cycle_collector_off_and_main_leaves_it_on(
    tmp_path: Path,
) -> None:
    code = (
        "import gc, sys\n"
        "from bot.cli import main as cli\n"
        "cli.main(['--db', sys.argv[1], 'threads'])\n"
        "print('collector', gc.isenabled())\n"
        "cli.main(['--db', sys.argv[1], 'threads'], one_shot=True)\n"
        "print('collector', gc.isenabled())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "tw.db")],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    said = [line for line in done.stdout.splitlines() if line.startswith("collector")]
    assert said == ["collector True", "collector False"]


def test_a_one_shot_command_keeps_what_it_made_for_the_process_end(tmp_path: Path) -> None:
    """One-shot commands leave their posts, answers and documents to os._exit (freeing a
    big thread's objects one by one as they go out of scope is slow); main called as a
    library keeps nothing."""
    thread = tmp_path / "ferry.txt"
    thread.write_text(
        "Ferry talk\n\nann wrote:\nThe ferry should run every hour in winter.\n\n"
        "bob wrote:\nNo, every hour is too often for the few people on it in winter.\n",
        encoding="utf-8",
    )
    code = (
        "import sys\n"
        "from bot.cli import main as cli\n"
        "db, path = sys.argv[1], sys.argv[2]\n"
        "cli.main(['--db', db, '-q', 'ingest', path, '--name', 'ferry', '--json'])\n"
        "print('library', cli._kept)\n"
        "cli.main(['--db', db, '-q', 'stance', 'ferry', '--json'], one_shot=True)\n"
        "kinds = lambda: sorted({type(x).__name__ for item in cli._kept for x in"
        " (item if isinstance(item, tuple) else (item,))})\n"
        "print('kept', kinds())\n"
        "cli._kept.clear()\n"
        "cli.main(['--db', db, '-q', 'ingest', path, '--name', 'again', '--json'],"
        " one_shot=True)\n"
        "print('kept', kinds())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "tw.db"), str(thread)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    said = [line for line in done.stdout.splitlines() if line.startswith(("library", "kept"))]
    assert said[0] == "library None"
    # the posts read and the edges, the report, the text answer and the JSON document
    assert said[1] == "kept ['Answer', 'StanceReport', 'dict', 'list']"
    # the thread read and its analysis, the text answer and the JSON document
    assert said[2] == "kept ['AnalysedThread', 'Answer', 'ThreadDoc', 'dict']"
