"""A throwaway PostgreSQL server for the tests and benchmarks: started, used, stopped.

    server = PgServer.start()          # initdb + pg_ctl start, Unix socket only
    url = server.create_database("t1") # postgresql://postgres@/t1?host=/tmp/...&port=5432
    server.stop()                      # pg_ctl stop, then the whole folder is removed

The cluster lives in a new temporary folder and listens on a Unix socket there (no TCP
port, so it never clashes with another server on the machine). PostgreSQL refuses to run
as root, so as root the server runs as the `postgres` user (`runuser -u postgres --`),
as the Debian package sets it up. Durability is off (fsync, synchronous_commit): the data
is thrown away anyway, and it makes the tests several times faster on a busy disk.

The binaries come from $THREADWISE_PG_BINDIR, else the newest /usr/lib/postgresql/N/bin
with N >= 15, else `pg_config --bindir`. `scripts/postgres-server.sh` installs them.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

MIN_MAJOR = 15
PORT = 5432  # only names the socket file inside our own folder
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


PASSWORD_ROLE = "tw_password"
_HBA = f"local all {PASSWORD_ROLE} scram-sha-256\\nlocal all all trust\\n"


class PgUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_bindir() -> Path | None:
    """Where initdb, pg_ctl and postgres are, or None."""
    explicit = os.environ.get("THREADWISE_PG_BINDIR", "").strip()
    if explicit:
        path = Path(explicit)
        return path if (path / "pg_ctl").exists() else None
    found = []
    for candidate in Path("/usr/lib/postgresql").glob("*/bin"):
        with contextlib.suppress(ValueError):
            major = int(candidate.parent.name)
            if major >= MIN_MAJOR and (candidate / "initdb").exists():
                found.append((major, candidate))
    if found:
        return max(found)[1]
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        path = Path(out.stdout.strip())
        if out.returncode == 0 and (path / "initdb").exists() and (path / "postgres").exists():
            return path
    return None


def _as_server_user(argv: list[str]) -> list[str]:
    """PostgreSQL will not run as root: run it as `postgres` then."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


@dataclass
class PgServer:
    bindir: Path
    base: Path
    """The temporary folder: data/ (the cluster), sock/ (the socket), server.log."""

    @property
    def socket_dir(self) -> Path:
        return self.base / "sock"

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @classmethod
    def start(cls, bindir: Path | None = None) -> PgServer:
        bindir = bindir or find_bindir()
        if bindir is None:
            raise PgUnavailable(
                "no PostgreSQL server binaries (initdb, pg_ctl) were found: run "
                "`bash scripts/postgres-server.sh` (apt-get install postgresql-15) or set "
                "THREADWISE_PG_BINDIR"
            )
        base = Path(tempfile.mkdtemp(prefix="threadwise-pg-"))
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(base, user.pw_uid, user.pw_gid)
        server = cls(bindir=bindir, base=base)
        try:
            server._run(["mkdir", "-p", str(server.socket_dir)])
            server._run(
                [
                    str(bindir / "initdb"),
                    "--pgdata",
                    str(server.data_dir),
                    "--username",
                    "postgres",
                    "--auth",
                    "trust",
                    "--encoding",
                    "UTF8",
                    "--locale",
                    "C.UTF-8",
                    "--no-sync",
                ]
            )
            # Trust on the socket for everyone, except one role that must give a password
            # (PASSWORD_ROLE), so the tests can check that passwords travel as they should.
            hba = server.data_dir / "pg_hba.conf"
            server._run(["sh", "-c", f"printf '{_HBA}' > {hba}"])
            options = " ".join(
                [
                    f"-c unix_socket_directories={server.socket_dir}",
                    "-c listen_addresses=''",
                    f"-c port={PORT}",
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                    "-c max_connections=200",
                    "-c shared_buffers=64MB",
                ]
            )
            server._run(
                [
                    str(bindir / "pg_ctl"),
                    "start",
                    "--pgdata",
                    str(server.data_dir),
                    "--log",
                    str(base / "server.log"),
                    "--wait",
                    "--timeout",
                    "120",
                    "-o",
                    options,
                ]
            )
        except BaseException:
            server.stop()
            raise
        return server

    def _run(self, argv: list[str]) -> str:
        out = subprocess.run(
            _as_server_user(argv), capture_output=True, text=True, check=False, cwd=self.base
        )
        if out.returncode != 0:
            log = self.base / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{' '.join(argv[:2])} failed ({out.returncode}): {out.stderr.strip()}\n{tail}"
            )
        return out.stdout

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@/{database}?host={self.socket_dir}&port={PORT}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL with psql as the superuser (set-up only: roles, databases)."""
        return self._run(
            [
                str(self.bindir / "psql"),
                "--no-psqlrc",
                "--quiet",
                "--tuples-only",
                "--no-align",
                "-v",
                "ON_ERROR_STOP=1",
                "--host",
                str(self.socket_dir),
                "--port",
                str(PORT),
                "--username",
                "postgres",
                "--dbname",
                database,
                "--command",
                sql,
            ]
        )

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        if not _NAME.match(name):
            raise ValueError(f"not a plain database name: {name!r}")
        self.psql(f"CREATE DATABASE {name} TEMPLATE template0")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        if not _NAME.match(name):
            raise ValueError(f"not a plain database name: {name!r}")
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its folder. Safe to call twice."""
        if (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                self._run(
                    [
                        str(self.bindir / "pg_ctl"),
                        "stop",
                        "--pgdata",
                        str(self.data_dir),
                        "--mode",
                        "fast",
                        "--wait",
                    ]
                )
        shutil.rmtree(self.base, ignore_errors=True)
