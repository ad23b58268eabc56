"""Run `threadwise` as a user does: a separate process (`python -m bot`) on a real file.

    done = run(db, "ingest", "thread.txt", "--json")          # blocking
    done = await arun(db, "refresh", "tram", config=cfg)      # while a loopback server runs
    assert done.code == 0, done.err

Every run gets THREADWISE_CONFIG="" (no stray settings file) unless `config` names one.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import REPO

TIMEOUT = 180


@dataclass(frozen=True)
class Done:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def last_error_line(self) -> str:
        lines = self.err.strip().splitlines()
        return lines[-1] if lines else ""


def command(db: Path, args: tuple[str, ...], config: Path | None) -> list[str]:
    head = [sys.executable, "-m", "bot", "--db", str(db)]
    if config is not None:
        head += ["--config", str(config)]
    return [*head, *args]


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "THREADWISE_CONFIG": "", **(extra or {})}


def run(
    db: Path,
    *args: str,
    config: Path | None = None,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> Done:
    proc = subprocess.run(
        command(db, args, config),
        input=stdin,
        capture_output=True,
        env=environment(env),
        cwd=REPO,
        timeout=timeout,
    )
    return Done(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


async def arun(db: Path, *args: str, config: Path | None = None) -> Done:
    """`run` without blocking the event loop (a loopback server in the test keeps serving)."""
    proc = await asyncio.create_subprocess_exec(
        *command(db, args, config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment(),
        cwd=REPO,
    )
    out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode is not None
    return Done(proc.returncode, out.decode(), err.decode())


def loopback_config(tmp_path: Path, **fetch: object) -> Path:
    """A settings file that lets the CLI read forums served on 127.0.0.1, without delays."""
    lines = ["[fetch]", "allow_private_addresses = true", "per_host_delay = 0.0"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in fetch.items()]
    path = tmp_path / "loopback.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
