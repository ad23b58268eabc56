"""Load benchmark: several bot processes on one PostgreSQL, thousands of digests due at once.

    python -m bench.load                       # 3 processes, 3,000 guilds, a throwaway server
    python -m bench.load --scopes 300 --processes 2
    python -m bench.load --url postgresql://…  # an existing, EMPTY database
    python -m bench.load --sqlite              # the same on one SQLite file, for comparison

Every guild scope (`discord:<id>`) gets a small thread and a digest of it, and every digest
is made due in the same minute. Then N processes start at the same moment, each running
the real scheduler (`Scheduler.run_due`: claim, build the digest with the real analyses,
publish, record) with a recording stand-in for the Discord publisher. Each process samples
its event loop's lag (a 10 ms timer, how late it fires) the whole time.

Printed: the wall time, digests per second, what each process sent, the loop lag p50, p99
and max per process, and the check that matters: every digest sent exactly once (each
scope's channel got one message, and the database holds one 'sent' run per digest).
Timings depend on the machine and its load: run it twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
GUILD_BASE = 400_000_000_000_000_000
WORDS = (
    "The harbour board wants the ferry timetable changed before the summer season starts.",
    "A later last crossing would help people who work evening shifts in the town centre.",
    "Fuel costs went up again, so a later boat may mean fewer boats in the morning.",
    "The morning boats are full of school children, so those should never be cut at all.",
    "Could the council pay for one extra evening crossing as a trial over the summer?",
    "A trial sounds fair if the board publishes how many people actually use the boat.",
)


# --- setting up -------------------------------------------------------------------------------


def scope_of(i: int) -> str:
    return f"discord:{GUILD_BASE + i}"


async def prepare(target: str, scopes: int, concurrency: int = 8) -> None:
    """A thread and a daily digest per guild scope, all due in the same minute."""
    from bot.core.models import Block, PostDoc, ThreadDoc
    from bot.core.quotes import infer_quotes
    from bot.core.schedule import Cadence
    from storage.database import open_database
    from storage.digests import DigestRepository, db_instant
    from storage.repositories import ThreadRepository

    doc = ThreadDoc(
        title="Ferry timetable",
        source_kind="discord",
        posts=tuple(
            PostDoc(blocks=(Block(t),), author=f"member{i % 3}", author_id=str(i % 3 + 1))
            for i, t in enumerate(WORDS)
        ),
    )
    analysed = infer_quotes(doc)
    cadence = Cadence("daily", "UTC", time_of_day="09:00")
    async with await open_database(target) as db:
        threads, digests = ThreadRepository(db), DigestRepository(db)
        queue = list(range(scopes))

        async def fill() -> None:
            while queue:
                i = queue.pop()
                await threads.save(scope_of(i), "ferry", analysed)
                await digests.add(
                    scope_of(i), ["ferry"], f"{900_000 + i}", cadence, start_from_latest=False
                )

        await asyncio.gather(*(fill() for _ in range(concurrency)))
        due = db_instant(datetime.now(UTC) - timedelta(seconds=20))
        async with db.transaction() as conn:
            await conn.execute("UPDATE digest_schedules SET next_run_at = $1", due)


# --- one worker process -----------------------------------------------------------------------


class RecordingPublisher:
    """Stands in for the Discord publisher: remembers what it was asked to send."""

    accepts_idempotency_key = True

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def publish(self, target: str, answer: Any, idempotency_key: str = "") -> str:
        await asyncio.sleep(0)  # a REST call would yield here
        self.sent.append((target, idempotency_key))
        return f"m{len(self.sent)}"


async def worker(target: str, out: Path) -> None:
    from bot.settings import Settings
    from bot.usecases.scheduler import Scheduler
    from bot.usecases.services import Services
    from storage.database import open_database

    loop = asyncio.get_running_loop()
    lags: list[float] = []
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            start = loop.time()
            await asyncio.sleep(0.01)
            lags.append(loop.time() - start - 0.01)

    db = await open_database(target)
    services = Services(db, Settings(), processes=False)
    publisher = RecordingPublisher()
    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    try:
        reports = await Scheduler(services, {"discord": publisher}).run_due()
    finally:
        elapsed = time.perf_counter() - started
        stop.set()
        await sampler
        await services.close()
        await db.close()
    result = {
        "sent": publisher.sent,
        "statuses": [r.status for r in reports],
        "seconds": elapsed,
        "lags": lags,
    }
    await asyncio.to_thread(out.write_text, json.dumps(result), encoding="utf-8")


# --- the run ----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def count_runs(target: str) -> tuple[int, int, int]:
    """(digest runs recorded, of them 'sent', most attempts of any)."""
    from storage.database import open_database

    async with await open_database(target) as db:
        row = await db.fetchrow(
            "SELECT count(*), sum(CASE WHEN status = 'sent' THEN 1 ELSE 0 END),"
            " max(attempts) FROM digest_runs"
        )
        return int(row[0]), int(row[1] or 0), int(row[2] or 0)


def run(target: str, scopes: int, processes: int, workdir: Path) -> bool:
    t0 = time.perf_counter()
    asyncio.run(prepare(target, scopes))
    print(
        f"set-up: {scopes:,} guild scopes, a thread and a due digest each "
        f"({time.perf_counter() - t0:.1f} s)"
    )
    outs = [workdir / f"worker{n}.json" for n in range(processes)]
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.load", "--worker", target, str(out)], cwd=REPO
        )
        for out in outs
    ]
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - started
    if any(codes):
        print(f"a worker failed: exit codes {codes}")
        return False
    results = [json.loads(out.read_text(encoding="utf-8")) for out in outs]
    sent = [tuple(s) for r in results for s in r["sent"]]
    targets = [t for t, _ in sent]
    expected = {f"{900_000 + i}" for i in range(scopes)}
    runs, runs_sent, attempts = asyncio.run(count_runs(target))
    print(
        f"{processes} processes started together; all done in {wall:.1f} s "
        f"({len(sent) / wall:,.0f} digests/s, process start-up included)"
    )
    print("process  sent  its run (s)  loop lag p50   p99     max")
    for n, r in enumerate(results):
        lags = [x * 1000 for x in r["lags"]]
        print(
            f"{n:>7}  {len(r['sent']):>4}  {r['seconds']:>11.1f}  {percentile(lags, 0.5):>9.1f} ms"
            f" {percentile(lags, 0.99):>5.1f} ms {max(lags, default=0):>6.1f} ms"
        )
    every_lag = [x * 1000 for r in results for x in r["lags"]]
    print(
        f"loop lag over all processes: p99 {percentile(every_lag, 0.99):.1f} ms, "
        f"max {max(every_lag, default=0):.1f} ms"
    )
    once = sorted(targets) == sorted(expected) and len(set(sent)) == len(sent)
    stored = runs == runs_sent == scopes and attempts == 1
    print(
        f"every digest sent exactly once: {'yes' if once else 'NO'} "
        f"({len(sent):,} messages to {len(set(targets)):,} of {scopes:,} channels); "
        f"database: {runs_sent:,} 'sent' runs of {runs:,}, most attempts {attempts}"
    )
    return once and stored


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scopes", type=int, default=3000)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--url", help="an existing, empty PostgreSQL database")
    parser.add_argument("--sqlite", action="store_true", help="one SQLite file instead")
    parser.add_argument("--worker", nargs=2, metavar=("TARGET", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        asyncio.run(worker(args.worker[0], Path(args.worker[1])))
        return 0
    with tempfile.TemporaryDirectory(prefix="threadwise-load-") as tmp:
        workdir = Path(tmp)
        if args.sqlite:
            return 0 if run(str(workdir / "load.db"), args.scopes, args.processes, workdir) else 1
        if args.url:
            return 0 if run(args.url, args.scopes, args.processes, workdir) else 1
        from bench.pgserver import PgServer

        server = PgServer.start()
        try:
            url = server.create_database("threadwise_load")
            print(f"PostgreSQL: a throwaway server on {server.socket_dir}")
            return 0 if run(url, args.scopes, args.processes, workdir) else 1
        finally:
            server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
