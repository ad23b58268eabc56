"""`threadwise digest …` on a real SQLite file: add, list, preview, run-due, remove."""

from __future__ import annotations

import argparse
import io
import json
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.cli import digest as digest_cli
from bot.cli import main as cli
from bot.cli.digest import LocalPublisher, cmd_digest
from bot.cli.digest_args import register
from bot.core.models import LOCAL_SCOPE
from bot.errors import NotFound, UserError
from bot.settings import Settings
from bot.usecases.services import Services
from storage.database import open_database
from storage.digests import DigestRepository
from tests.test_scheduler import rota_copy

SLOT1 = "2025-03-29T09:00:00+01:00"  # 09:00 in Berlin, the day before clocks go forward


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="threadwise")
    register(p.add_subparsers(dest="command", required=True))
    return p


async def tw(db_path: Path, *argv: str) -> tuple[str, str]:
    """Run one `threadwise digest …` command as bot/cli/main.py would; returns (stdout, stderr)."""
    args = parser().parse_args(["digest", *argv])
    out, err = io.StringIO(), io.StringIO()
    async with await open_database(db_path) as db:
        console = cli.Console(quiet=False, json_mode=getattr(args, "json", False))
        with redirect_stdout(out), redirect_stderr(err):
            await cmd_digest(Services(db, Settings()), args, console)
    return out.getvalue(), err.getvalue()


async def ingest(db_path: Path, posts: int, name: str = "rota") -> None:
    async with await open_database(db_path) as db:
        await Services(db, Settings()).ingest_bytes(LOCAL_SCOPE, rota_copy(posts), name=name)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "cli.db"


@pytest.fixture(autouse=True)
def clock_says_28_march(monkeypatch: pytest.MonkeyPatch) -> None:
    """Schedules are added "now" = Friday 28 March 2025, 12:00 UTC (DST starts on the 30th)."""
    monkeypatch.setattr(digest_cli, "utcnow", lambda: datetime(2025, 3, 28, 12, tzinfo=UTC))


async def add_daily(db_path: Path, *argv: str) -> dict[str, Any]:
    """`digest add ARGV --json`, parsed."""
    out, _ = await tw(db_path, "add", *argv, "--json")
    return json.loads(out)


async def test_add_list_run_due_and_remove(db_path: Path) -> None:
    await ingest(db_path, 4)
    added = await add_daily(db_path, "rota", "--at", "09:00", "--tz", "Europe/Berlin")
    assert added["threads"] == [{"name": "rota", "mark": 4}]
    assert (added["cadence"], added["time"], added["timezone"]) == (
        "daily",
        "09:00",
        "Europe/Berlin",
    )
    assert added["next_run_at"] == "2025-03-29T08:00:00+00:00"

    listed, _ = await tw(db_path, "list")
    assert f"#{added['id']} daily at 09:00 (Europe/Berlin) → local: rota" in listed
    assert "next Sat 2025-03-29 09:00 CET" in listed

    await ingest(db_path, 6)
    early, err = await tw(db_path, "run-due", "--now", "2025-03-29T08:59+01:00")
    assert early == "" and "0 due digests" in err
    printed, err = await tw(db_path, "run-due", "--now", SLOT1)
    assert printed.startswith("Digest: 2 new posts")
    assert "[#5 olek] First unread post" in printed
    assert "olek (#5) answered mira (#4)" in printed
    assert "1 posted" in err
    again, _ = await tw(db_path, "run-due", "--now", "2025-03-29T20:00:00+00:00")
    assert again == ""

    (listed_json,) = json.loads((await tw(db_path, "list", "--json"))[0])
    assert listed_json["threads"] == [{"name": "rota", "mark": 6}]
    assert listed_json["next_run_at"] == "2025-03-30T07:00:00+00:00"  # 09:00 CEST

    removed, _ = await tw(db_path, "remove", str(added["id"]))
    assert removed.startswith(f"Removed digest #{added['id']}")
    with pytest.raises(NotFound):
        await tw(db_path, "remove", str(added["id"]))
    assert "No digests yet" in (await tw(db_path, "list"))[0]


async def test_run_due_json_is_one_document_in_the_documented_shape(db_path: Path) -> None:
    await ingest(db_path, 3)
    await ingest(db_path, 2, name="other")
    added = await add_daily(db_path, "rota", "other", "--tz", "Europe/Berlin")
    assert added["time"] == "09:00"  # [digest] default_time
    await ingest(db_path, 8)
    out, _ = await tw(db_path, "run-due", "--now", SLOT1, "--json")
    (doc,) = json.loads(out)
    assert (doc["schedule"], doc["status"], doc["new_posts"]) == (added["id"], "sent", 5)
    rota, other = doc["threads"]
    assert (rota["name"], rota["new_posts"], rota["first_new_post"]) == ("rota", 5, 4)
    assert (other["name"], other["new_posts"], other["first_new_post"]) == ("other", 0, None)
    assert rota["summary"] and all(
        set(s) == {"post", "author", "url", "text"} and 4 <= s["post"] <= 8 for s in rota["summary"]
    )
    assert {"from_post": 5, "from_author": "olek", "to_post": 4, "to_author": "mira"}.items() <= (
        rota["new_edges"][0].items()
    )
    assert [e["from_post"] for e in rota["new_edges"]] == sorted(
        e["from_post"] for e in rota["new_edges"]
    )
    assert json.loads((await tw(db_path, "run-due", "--now", SLOT1, "--json"))[0]) == []


async def test_now_previews_without_moving_anything(db_path: Path) -> None:
    await ingest(db_path, 4)
    added = await add_daily(db_path, "rota", "--tz", "UTC", "--at", "06:00")
    await ingest(db_path, 5)
    first, _ = await tw(db_path, "now", str(added["id"]))
    second, _ = await tw(db_path, "now", f"#{added['id']}")
    assert first == second and first.startswith(f"Preview of digest #{added['id']}: 1 new post\n")
    doc = json.loads((await tw(db_path, "now", str(added["id"]), "--json"))[0])
    assert doc["threads"][0]["new_posts"] == 1
    (listed,) = json.loads((await tw(db_path, "list", "--json"))[0])
    assert listed["threads"][0]["mark"] == 4 and listed["last_run_at"] is None
    with pytest.raises(NotFound):
        await tw(db_path, "now", "99")


async def test_weekly_every_hours_and_cron_forms(db_path: Path) -> None:
    await ingest(db_path, 2)
    weekly = await add_daily(
        db_path,
        "rota",
        "--every",
        "week",
        "--on",
        "sun",
        "--at",
        "09:00",
        "--tz",
        "America/New_York",
    )
    assert (weekly["cadence"], weekly["weekday"]) == ("weekly", 6)
    assert weekly["next_run_at"] == "2025-03-30T13:00:00+00:00"  # EDT since 9 March
    hours = await add_daily(db_path, "rota", "--every", "6h", "--at", "01:30", "--tz", "UTC")
    assert (hours["every_hours"], hours["next_run_at"]) == (6, "2025-03-28T13:30:00+00:00")
    cron = await add_daily(db_path, "rota", "--every", "0 7 * * 1-5", "--tz", "Europe/Berlin")
    assert (cron["cron"], cron["time"], cron["next_run_at"]) == (
        "0 7 * * 1-5",
        None,
        "2025-03-31T05:00:00+00:00",
    )
    listed, _ = await tw(db_path, "list")
    assert "every Sunday at 09:00 (America/New_York)" in listed
    assert "cron “0 7 * * 1-5” (Europe/Berlin)" in listed


async def test_the_options_read_as_in_the_bots(db_path: Path) -> None:
    """The shared option rules (bot/usecases/digest_options.py): a day alone means weekly, "7:30" is
    07:30, and a thread named twice counts once."""
    await ingest(db_path, 2)
    added = await add_daily(db_path, "rota", "ROTA", "--on", "fri", "--at", "7:30", "--tz", "UTC")
    assert (added["cadence"], added["weekday"], added["time"]) == ("weekly", 4, "07:30")
    assert added["threads"] == [{"name": "rota", "mark": 2}]
    assert added["next_run_at"] == "2025-04-04T07:30:00+00:00"
    printed, _ = await tw(db_path, "add", "rota", "--every", "6h", "--tz", "UTC")
    assert "First run: Fri 2025-03-28 15:00 UTC." in printed  # grid from [digest] default_time


@pytest.mark.parametrize(
    ("argv", "error", "match"),
    [
        (["add", "nope", "--at", "09:00"], NotFound, "no thread named"),
        (["add", "rota", "--every", "fortnight", "--at", "09:00"], UserError, "--every"),
        (["add", "rota", "--every", "week", "--at", "09:00"], UserError, "--on"),
        (["add", "rota", "--at", "9am"], UserError, "HH:MM"),
        (["add", "rota", "--tz", "Moon/Base"], UserError, "time zone"),
        (["add", "rota", "--tz", "Europe/Berln"], UserError, "Did you mean Europe/Berlin"),
        (["add", "rota", "--at", "24:00"], UserError, "--at must be a 24-hour time"),
        (["add", "rota", "--target", "123456"], UserError, "local"),
        (["remove", "7"], NotFound, "#7"),
    ],
)
async def test_bad_requests_say_why(
    db_path: Path, argv: list[str], error: type[Exception], match: str
) -> None:
    await ingest(db_path, 2)
    with pytest.raises(error, match=match):
        await tw(db_path, *argv)
    assert await stored_schedules(db_path) == []


async def stored_schedules(db_path: Path) -> list[Any]:
    async with await open_database(db_path) as db:
        return await DigestRepository(db).list(LOCAL_SCOPE)


@pytest.mark.parametrize(
    "argv",
    [["run-due", "--now", "yesterday"], ["remove", "x"], ["now"], ["add"], ["frobnicate"]],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as stop, redirect_stderr(io.StringIO()):
        parser().parse_args(["digest", *argv])
    assert stop.value.code == 2


def test_naive_now_is_utc() -> None:
    args = parser().parse_args(["digest", "run-due", "--now", "2025-03-29T08:00"])
    assert args.now == datetime(2025, 3, 29, 8, tzinfo=UTC)


async def test_local_publisher_prints_and_refuses_other_targets() -> None:
    lines: list[str] = []
    publisher = LocalPublisher(lines.append)
    from bot.core.render import Answer

    assert await publisher.publish("local", Answer(title="One", sections=())) == "local-1"
    assert await publisher.publish("local", Answer(title="Two", sections=())) == "local-2"
    assert lines == ["One", "", "Two"]
    with pytest.raises(UserError):
        await publisher.publish("chan-1", Answer(title="x", sections=()))


def test_the_threadwise_command_runs_digests_once_wired(db_path: Path) -> None:
    if "digest" not in cli.HANDLERS:
        pytest.skip("bot/cli/main.py does not register `digest` yet (see bot/cli/digest.py)")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        assert cli.main(["--db", str(db_path), "digest", "list", "--json"]) == 0
    assert json.loads(out.getvalue()) == []
