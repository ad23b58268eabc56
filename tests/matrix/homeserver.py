"""A throwaway Synapse on 127.0.0.1, the bot as a user starts it, and humans driven by nio.

Recipe and timings: ../shared/notes/testing.md ("A real Matrix homeserver in the tests").
Synapse lives in its own virtualenv made by scripts/synapse-env.sh; $SYNAPSE_PYTHON (or
the default venv path) points at its python.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    LoginResponse,
    RoomCreateResponse,
    RoomSendResponse,
    SyncResponse,
    UploadResponse,
)

REPO = Path(__file__).resolve().parents[2]
SERVER_NAME = "localhost"
_RELAXED = {"per_second": 1000, "burst_count": 1000}
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


def synapse_python() -> Path | None:
    """$SYNAPSE_PYTHON, else the venv scripts/synapse-env.sh makes; None if neither exists."""
    explicit = os.environ.get("SYNAPSE_PYTHON", "").strip()
    if explicit:
        return Path(explicit) if Path(explicit).exists() else None
    venv = Path(os.environ.get("SYNAPSE_VENV", "").strip() or REPO / ".synapse-venv")
    if not venv.is_absolute():
        venv = REPO / venv
    python = venv / "bin" / "python"
    return python if python.exists() else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def homeserver_config(
    base: Path, port: int, secret: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """homeserver.yaml as data (JSON is YAML): loopback only, SQLite, no rate limits to hit
    (unless `overrides` sets some, e.g. a tight rc_message)."""
    return {
        "server_name": SERVER_NAME,
        "pid_file": str(base / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(base / "homeserver.db")}},
        "media_store_path": str(base / "media"),
        "signing_key_path": str(base / "signing.key"),
        "log_config": str(base / "log.yaml"),
        "report_stats": False,
        "registration_shared_secret": secret,
        "enable_registration": False,
        "federation_domain_whitelist": [],
        "trusted_key_servers": [],
        "presence": {"enabled": False},
        "bcrypt_rounds": 4,
        "url_preview_enabled": False,
        "enable_metrics": False,
        "rc_message": _RELAXED,
        "rc_registration": _RELAXED,
        "rc_room_creation": _RELAXED,
        "rc_joins_per_room": _RELAXED,
        "rc_login": {
            "address": _RELAXED,
            "account": _RELAXED,
            "failed_attempts": _RELAXED,
        },
        "rc_joins": {"local": _RELAXED, "remote": _RELAXED},
        "rc_invites": {"per_room": _RELAXED, "per_user": _RELAXED, "per_issuer": _RELAXED},
        "rc_media_create": _RELAXED,
        "rc_presence": {"per_user": _RELAXED},
        **(overrides or {}),
    }


_LOG_CONFIG = """\
version: 1
formatters:
  plain:
    format: "%(asctime)s %(levelname)s %(name)s: %(message)s"
handlers:
  file:
    class: logging.FileHandler
    formatter: plain
    filename: {path}
root:
  level: WARNING
  handlers: [file]
disable_existing_loggers: false
"""


@dataclass
class Homeserver:
    url: str
    secret: str
    base: Path
    process: subprocess.Popen[bytes] | None = None
    passwords: dict[str, str] = field(default_factory=dict)
    python: Path | None = None

    @classmethod
    def start(
        cls,
        python: Path,
        base: Path,
        timeout: float = 60.0,
        overrides: dict[str, Any] | None = None,
    ) -> Homeserver:
        """`overrides`: homeserver.yaml keys to change (e.g. rc_message for a rate-limit test)."""
        port = free_port()
        secret = "test-shared-secret"
        base.mkdir(parents=True, exist_ok=True)
        (base / "log.yaml").write_text(_LOG_CONFIG.format(path=base / "homeserver.log"))
        config = base / "homeserver.yaml"
        config.write_text(json.dumps(homeserver_config(base, port, secret, overrides), indent=2))
        hs = cls(url=f"http://127.0.0.1:{port}", secret=secret, base=base, python=python)
        hs.run(timeout)
        return hs

    def run(self, timeout: float = 60.0) -> None:
        """Start the process (again, after `stop`: same port, same database) and wait until
        it answers."""
        assert self.python is not None
        with (self.base / "stdout.log").open("ab") as out:
            self.process = subprocess.Popen(
                [str(self.python), "-m", "synapse.app.homeserver", "-c", "homeserver.yaml"],
                cwd=self.base,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "SYNAPSE_CACHE_FACTOR": "0.5"},
            )
        process = self.process
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"Synapse exited with {process.returncode}:\n{self.log_tail()}")
            try:
                with _LOOPBACK.open(f"{self.url}/_matrix/client/versions", timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Synapse did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # SIGTERM: Synapse shuts down in about 2 s
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        text = ""
        for name in ("stdout.log", "homeserver.log"):
            path = self.base / name
            if path.exists():
                text += "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text

    def api(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        token: str = "",
        prefix: str = "/_matrix/client/v3",
    ) -> dict:
        """One plain client-server API call, for set-up done before any event loop runs."""
        request = urllib.request.Request(
            f"{self.url}{prefix}{path}",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"}
            | ({"Authorization": f"Bearer {token}"} if token else {}),
            method=method,
        )
        with _LOOPBACK.open(request, timeout=10) as resp:
            return dict(json.load(resp))

    def login(self, user_id: str) -> str:
        """A fresh access token (a new device) for `user_id`."""
        body = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user_id},
            "password": self.passwords[user_id],
        }
        return str(self.api("POST", "/login", body)["access_token"])

    def exempt_from_rate_limits(self, user_id: str, admin_token: str) -> None:
        """Synapse's admin API `override_ratelimit` (what README tells admins to do for the
        bot): 0 messages per second and 0 burst mean no limit at all."""
        self.api(
            "POST",
            f"/users/{urllib.parse.quote(user_id)}/override_ratelimit",
            {"messages_per_second": 0, "burst_count": 0},
            admin_token,
            prefix="/_synapse/admin/v1",
        )

    def register(self, username: str, password: str, admin: bool = False) -> str:
        """Shared-secret registration (admin API): nonce, then an HMAC-SHA1 signed request."""
        endpoint = f"{self.url}/_synapse/admin/v1/register"
        with _LOOPBACK.open(endpoint, timeout=10) as resp:
            nonce = json.load(resp)["nonce"]
        signed = (nonce, username, password, "admin" if admin else "notadmin")
        mac = hmac.new(self.secret.encode(), b"\x00".join(p.encode() for p in signed), hashlib.sha1)
        body = {
            "nonce": nonce,
            "username": username,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        request = urllib.request.Request(
            endpoint,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with _LOOPBACK.open(request, timeout=10) as resp:
            user_id = json.load(resp)["user_id"]
        self.passwords[user_id] = password
        return str(user_id)


# --- the bot under test, started the way a user starts it ------------------------------


@dataclass
class BotProcess:
    """`python -m bot --db DB --config CONFIG run`, with its log in a file we can watch."""

    config: Path
    db: Path
    log: Path
    password: str
    env_extra: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    _log_offset: int = 0

    def start(self, timeout: float = 60.0) -> None:
        self._log_offset = self.log.stat().st_size if self.log.exists() else 0
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DISCORD_TOKEN", "MATRIX_ACCESS_TOKEN", "THREADWISE_CONFIG")
        }
        env.update(
            MATRIX_PASSWORD=self.password,
            THREADWISE_LOG_LEVEL="INFO",
            OPENBLAS_NUM_THREADS="1",
            MPLCONFIGDIR=str(self.log.parent / "mpl"),
            NO_PROXY="127.0.0.1,localhost",
            PYTHONUNBUFFERED="1",
            **self.env_extra,
        )
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bot",
                    "--db",
                    str(self.db),
                    "--config",
                    str(self.config),
                    "run",
                ],
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        self.wait_for_log("Matrix bot ready as", timeout)

    def log_text(self) -> str:
        with self.log.open("rb") as f:
            f.seek(self._log_offset)
            return f.read().decode("utf-8", "replace")

    def wait_for_log(self, needle: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log_text():
                return
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"the bot exited ({self.process.returncode}):\n{self.log_text()}"
                )
            time.sleep(0.05)
        raise RuntimeError(
            f"no {needle!r} in the bot's log within {timeout:.0f} s:\n{self.log_text()}"
        )

    def ensure_running(self) -> None:
        """Start again if a failed test left the bot stopped, so one failure stays one."""
        if self.process is None or self.process.poll() is not None:
            self.start()

    def kill(self) -> None:
        """kill -9: no chance to clean up or to answer anything."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self.process = None

    def pause(self) -> None:
        """SIGSTOP: the process is frozen (a stalled VM, a debugger), its sockets stay open."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> int:
        """SIGTERM, as a service manager would; returns the exit status."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code


def write_bot_config(
    path: Path, homeserver: str, user_id: str, inviters: list[str], db: Path, extra: str = ""
) -> Path:
    """`extra`: more TOML tables before [storage] and [matrix] (a [fetch] table, say)."""
    path.write_text(
        extra + "\n[storage]\n"
        f"path = {json.dumps(str(db))}\n"
        "\n[matrix]\n"
        f"homeserver = {json.dumps(homeserver)}\n"
        f"user_id = {json.dumps(user_id)}\n"
        'command_prefix = "!tw"\n'
        f"allowed_inviters = {json.dumps(inviters)}\n"
        "admin_power_level = 50\n",
        encoding="utf-8",
    )
    return path


# --- a human with a Matrix client ------------------------------------------------------

Event = dict[str, Any]
_HUMAN_FILTER = {"room": {"timeline": {"limit": 1000}}}


class Human:
    """A person in the test: sends messages with nio and reads what arrives by sync."""

    def __init__(self, homeserver: Homeserver, user_id: str) -> None:
        self.user_id = user_id
        self.client = AsyncClient(
            homeserver.url, user_id, config=AsyncClientConfig(encryption_enabled=False)
        )
        self._password = homeserver.passwords[user_id]
        self.events: dict[str, list[Event]] = {}

    async def __aenter__(self) -> Human:
        resp = await self.client.login(self._password, device_name="test")
        assert isinstance(resp, LoginResponse), resp
        first = await self.client.sync(timeout=0)  # skip everything before the test
        assert isinstance(first, SyncResponse), first
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()

    async def create_room(
        self,
        invite: Sequence[str] = (),
        initial_state: Sequence[Event] = (),
        name: str | None = None,
    ) -> str:
        resp = await self.client.room_create(
            name=name, invite=list(invite), initial_state=list(initial_state)
        )
        assert isinstance(resp, RoomCreateResponse), resp
        return resp.room_id

    async def send(self, room_id: str, body: str, msgtype: str = "m.text", **extra: Any) -> str:
        content = {"msgtype": msgtype, "body": body, **extra}
        resp = await self.client.room_send(room_id, "m.room.message", content)
        assert isinstance(resp, RoomSendResponse), resp
        return resp.event_id

    async def upload_file(self, room_id: str, data: bytes, filename: str, mimetype: str) -> str:
        up, _ = await self.client.upload(
            io.BytesIO(data), content_type=mimetype, filename=filename, filesize=len(data)
        )
        assert isinstance(up, UploadResponse), up
        return await self.send(
            room_id,
            filename,
            msgtype="m.file",
            url=up.content_uri,
            info={"mimetype": mimetype, "size": len(data)},
        )

    async def wait_for(
        self, room_id: str, match: Callable[[Event], bool], within: float = 20.0
    ) -> Event:
        """The first event in the room (seen before or arriving now) that matches."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            for ev in self.events.get(room_id, []):
                if match(ev):
                    return ev
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                seen = json.dumps(self.events.get(room_id, []), indent=1)[-4000:]
                raise AssertionError(f"no matching event in {room_id} within {within} s:\n{seen}")
            await self.pump(min(1.0, left))

    async def pump(self, seconds: float = 0.0) -> None:
        """One sync: collect what arrived (waiting up to `seconds` for something). The
        timeline is large, so a burst of messages is never cut short here (Synapse's
        default of 10 events would silently leave answers out)."""
        resp = await self.client.sync(timeout=int(seconds * 1000), sync_filter=_HUMAN_FILTER)
        assert isinstance(resp, SyncResponse), resp
        for room_id, info in resp.rooms.join.items():
            self.events.setdefault(room_id, []).extend(e.source for e in info.timeline.events)
        for room_id, info in resp.rooms.leave.items():
            self.events.setdefault(room_id, []).extend(e.source for e in info.timeline.events)

    async def answers_to(self, room_id: str, event_id: str, within: float = 20.0) -> Event:
        """The bot's first answer to the command `event_id`."""
        return await self.wait_for(room_id, lambda ev: replies_to(ev) == event_id, within)

    def all_answers_to(self, room_id: str, event_id: str) -> list[Event]:
        return [ev for ev in self.events.get(room_id, []) if replies_to(ev) == event_id]


def replies_to(ev: Event) -> str | None:
    rel = (ev.get("content") or {}).get("m.relates_to") or {}
    return (rel.get("m.in_reply_to") or {}).get("event_id")


def is_membership(ev: Event, user_id: str, membership: str) -> bool:
    return (
        ev.get("type") == "m.room.member"
        and ev.get("state_key") == user_id
        and (ev.get("content") or {}).get("membership") == membership
    )
