"""Typed settings from a TOML file plus the environment.

Where each value comes from, highest precedence first:

1. Environment variables, for secrets only: ``DISCORD_TOKEN``, ``MATRIX_PASSWORD`` and
   ``MATRIX_ACCESS_TOKEN``. They override (or fill in) the file, so tokens never need to be
   written to disk. An empty variable counts as unset, so ``DISCORD_TOKEN=`` in a compose file
   does not blank a token from the file.
2. The config file. Which file: ``--config`` on the command line, else the
   ``THREADWISE_CONFIG`` environment variable, else none at all (see `resolve_config_path`).
   There is no implicit ``./config.toml``: a stray file from another tool in the working
   directory must not change what the bot does.
3. The defaults written on the dataclasses below; ``config.example.toml`` shows every one.

The file is checked strictly, because a misspelt key that is silently ignored is a setting the
owner believes is on: unknown sections and keys, wrong types (a boolean is not an integer) and
out-of-range values all raise `bot.errors.ConfigError` naming the key. Every problem found is
reported at once, one per line. Secrets are never echoed, not in errors and not in ``repr``.

Relative paths (``[storage] path``) are relative to the directory threadwise runs in.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
import re
import tomllib
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from datetime import time as dt_time
from pathlib import Path
from types import MappingProxyType, NoneType, UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

from bot.errors import ConfigError

log = logging.getLogger(__name__)

CONFIG_ENV = "THREADWISE_CONFIG"
SUMMARY_ALGORITHMS = ("thread", "lexrank", "textrank", "lsa", "luhn", "kl", "sumbasic", "edmundson")
DEFAULT_USER_AGENT = "threadwise/0.1 (+https://github.com/threadwise/threadwise)"
MiB = 1024 * 1024

# --- value checks -----------------------------------------------------------------------
# A check receives the already type-checked value and returns the value to store, or raises
# ValueError whose text completes "[section] key ..." ("must be between 1 and 50").


def _between(low: float, high: float) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return check


def _not_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def _header_safe(value: str) -> str:
    """The user agent goes into an HTTP header: a newline there would inject headers."""
    value = _not_blank(value)
    if any(ch in value for ch in "\r\n\0"):
        raise ValueError("must be a single line")
    return value


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    def check(value: str) -> str:
        value = value.strip().lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}{_suggest(value, choices)}")
        return value

    return check


def _positive_ids(value: tuple[int, ...]) -> tuple[int, ...]:
    if any(v <= 0 for v in value):
        raise ValueError("must hold positive Discord user ids")
    return value


def _shard_ids(value: tuple[int, ...]) -> tuple[int, ...]:
    if any(v < 0 for v in value):
        raise ValueError("must hold shard numbers from 0")
    if len(set(value)) != len(value):
        raise ValueError("must not repeat a shard")
    return tuple(sorted(value))


def _secret(value: str) -> str:
    value = value.strip()
    if not value or any(ch.isspace() for ch in value):
        raise ValueError("must be a non-empty value without spaces")
    return value


_SERVER_RE = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$"
)
_MXID_RE = re.compile(r"^@[^\s:]+:(.+)$")


def _is_server_name(value: str) -> bool:
    return len(value) <= 255 and bool(_SERVER_RE.match(value))


def _mxid(value: str) -> str:
    value = value.strip()
    m = _MXID_RE.match(value)
    if not m or not _is_server_name(m.group(1)):
        raise ValueError('must be a Matrix user id like "@bot:example.org"')
    return value


def _inviters(value: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for item in value:
        item = item.strip()
        m = _MXID_RE.match(item)
        # A bare single word ("alice") is far likelier a user id missing its "@...:server"
        # than a dotless host name, so whole servers need a dot, a port or be localhost.
        bare_ok = _is_server_name(item) and (
            "." in item or ":" in item or item.split(":")[0] == "localhost"
        )
        if not (_is_server_name(m.group(1)) if m else bare_ok):
            raise ValueError(
                'must hold Matrix user ids ("@alice:example.org") or server names '
                f'("example.org"); {item!r} is neither'
            )
        out.append(item)
    return tuple(out)


def _homeserver(value: str) -> str:
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError('must be an http(s) URL like "https://matrix.example.org"')
    return value


def _prefix(value: str) -> str:
    value = value.strip()
    if not value or any(ch.isspace() for ch in value):
        raise ValueError('must be a non-empty word without spaces, like "!tw"')
    return value


_HHMM_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _hhmm(value: str | dt_time) -> str:
    if isinstance(value, dt_time):  # TOML's native `default_time = 09:00:00`
        if value.second or value.microsecond or value.tzinfo:
            raise ValueError('must be a whole minute like "09:00"')
        return value.strftime("%H:%M")
    value = value.strip()
    if not _HHMM_RE.match(value):
        raise ValueError('must be a 24-hour time "HH:MM" like "09:00"')
    return value


def _load_zone(name: str) -> tzinfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        if name == "UTC":  # a slim container without tz data must still start on the default
            return UTC
        raise


def _timezone(value: str) -> str:
    value = value.strip()
    try:
        _load_zone(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        hint = _suggest(value, sorted(zoneinfo.available_timezones()))
        raise ValueError(f'must be an IANA time zone like "Europe/Berlin"{hint}') from None
    return value


# --- the sections -----------------------------------------------------------------------


def _opt(default: Any, check: Callable[[Any], Any] | None = None, **meta: Any) -> Any:
    """A setting: its default, an optional value check, and for secrets the env variable."""
    return field(default=default, metadata={"check": check, **meta})


def _secret_opt(env: str) -> Any:
    return field(default=None, repr=False, metadata={"check": _secret, "env": env, "secret": True})


def _database_url(value: str) -> str:
    """A PostgreSQL URL (libpq's form): postgresql://USER@HOST[:PORT]/DATABASE[?…]."""
    value = value.strip()
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("postgresql", "postgres"):
        raise ValueError("must be a postgresql://… URL (leave it out to use [storage] path)")
    if not parts.path.strip("/") and "dbname=" not in parts.query:
        raise ValueError("must name the database: postgresql://USER@HOST/DATABASE")
    return value


def _no_password_in_file(value: str) -> str:
    """The config file is easy to share or commit: a password in it is refused outright."""
    if urlsplit(value).password is not None:
        raise ValueError(
            "must not hold a password: put the password in PGPASSWORD (or ~/.pgpass), or the "
            "whole URL in the environment variable THREADWISE_DATABASE_URL"
        )
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageSettings:
    """Where threads are kept, and how big an uploaded file may be."""

    path: str = _opt("threadwise.db", _not_blank)
    url: str | None = field(
        default=None,
        repr=False,
        metadata={
            "check": _database_url,
            "env": "THREADWISE_DATABASE_URL",
            "file_check": _no_password_in_file,
            "hide_value": True,  # a URL may carry a password: never echo it in an error
        },
    )
    """PostgreSQL instead of the SQLite file at `path` (several processes or machines)."""
    max_upload_bytes: int = _opt(10 * MiB, _between(1, 1024 * MiB))

    @property
    def target(self) -> str:
        """What the database is opened from: the PostgreSQL URL if set, else the file path."""
        return self.url or self.path


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchSettings:
    """Limits for the one HTTP client, so a hostile or huge thread cannot exhaust the host."""

    allow_private_addresses: bool = _opt(False)
    max_pages: int = _opt(50, _between(1, 10_000))
    max_page_bytes: int = _opt(5 * MiB, _between(1024, 512 * MiB))
    max_thread_bytes: int = _opt(64 * MiB, _between(1024, 4096 * MiB))
    per_host_delay: float = _opt(1.0, _between(0.0, 60.0))
    job_seconds: float = _opt(300.0, _between(1.0, 86_400.0))
    """Wall-clock budget for reading one thread (all pages, retries and waits together)."""
    user_agent: str = _opt(
        "threadwise/0.1 (+https://github.com/threadwise/threadwise)", _header_safe
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SummarySettings:
    """Defaults for summaries; a command may still ask for another algorithm or length."""

    algorithm: str = _opt("thread", _one_of(SUMMARY_ALGORITHMS))
    sentences: int = _opt(5, _between(1, 50))


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscordSettings:
    """The Discord bot; without a token it simply is not started."""

    token: str | None = _secret_opt("DISCORD_TOKEN")
    owner_ids: tuple[int, ...] = _opt((), _positive_ids)
    admin_role: str | None = _opt(None, _not_blank)
    message_content: bool = _opt(False)
    """Chat-history ingest (/thread ingest here:True, "Ingest this thread") asks for the
    privileged Message Content intent, which must also be enabled in the Developer Portal."""
    leave_grace_days: int = _opt(7, _between(0, 365))
    """Days a server's threads are kept after the bot is removed from it."""
    shard_count: int | None = _opt(None, _between(1, 65_536))
    """Shards the whole bot runs with (Discord requires sharding from 2,500 servers).
    Unset: one unsharded connection."""
    shard_ids: tuple[int, ...] = _opt((), _shard_ids)
    """The shards this process runs (`threadwise run --shards 0-3` overrides it); empty:
    all `shard_count` of them. Processes on several machines each take a range."""

    @property
    def enabled(self) -> bool:
        return self.token is not None

    @property
    def sharded(self) -> bool:
        return self.shard_count is not None

    def shard_problems(self) -> list[str]:
        """What is wrong with the shard settings taken together (each alone is checked)."""
        if self.shard_ids and self.shard_count is None:
            return ["[discord] shard_ids needs [discord] shard_count (how many shards in all)"]
        outside = [i for i in self.shard_ids if self.shard_count and i >= self.shard_count]
        if outside:
            return [
                f"[discord] shard_ids {outside} are not shards of shard_count "
                f"{self.shard_count} (they run from 0 to {self.shard_count - 1})"
            ]
        return []

    def owns_guild(self, guild_id: int) -> bool:
        """Whether this process's shards receive `guild_id` (Discord's rule: shard =
        (guild_id >> 22) % shard_count). Unsharded, or all shards: every guild."""
        if self.shard_count is None or not self.shard_ids:
            return True
        return (guild_id >> 22) % self.shard_count in self.shard_ids

    def require_token(self) -> str:
        """The token, or an error saying how to provide it (called when the bot starts)."""
        if self.token is None:
            raise ConfigError("no Discord token: set DISCORD_TOKEN (or [discord] token)")
        return self.token


@dataclass(frozen=True, slots=True, kw_only=True)
class MatrixSettings:
    """The Matrix bot; it runs when a homeserver is configured."""

    homeserver: str | None = _opt(None, _homeserver)
    user_id: str | None = _opt(None, _mxid)
    password: str | None = _secret_opt("MATRIX_PASSWORD")
    access_token: str | None = _secret_opt("MATRIX_ACCESS_TOKEN")
    command_prefix: str = _opt("!tw", _prefix)
    allowed_inviters: tuple[str, ...] = _opt((), _inviters)
    admin_power_level: int = _opt(50, _between(0, 100))
    leave_grace_days: int = _opt(7, _between(0, 365))
    """Days a room's threads are kept after the bot is kicked or banned from it."""

    @property
    def enabled(self) -> bool:
        return self.homeserver is not None

    def require_login(self) -> None:
        """Fail with every missing piece named, before any network call is made."""
        missing = []
        if self.homeserver is None:
            missing.append("[matrix] homeserver")
        if self.user_id is None:
            missing.append("[matrix] user_id")
        if self.password is None and self.access_token is None:
            missing.append("MATRIX_ACCESS_TOKEN or MATRIX_PASSWORD")
        if missing:
            raise ConfigError("Matrix login needs " + ", ".join(missing))

    def may_invite(self, mxid: str) -> bool:
        """Whether an invite from `mxid` is accepted; an empty list accepts none."""
        m = _MXID_RE.match(mxid)
        if not m:
            return False
        server = m.group(1).lower()
        return any(
            mxid == entry if entry.startswith("@") else server == entry.lower()
            for entry in self.allowed_inviters
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestSettings:
    """Defaults for new scheduled digests; each schedule may choose its own time and zone."""

    default_time: str = _opt("09:00", _hhmm)
    default_timezone: str = _opt("UTC", _timezone)

    @property
    def time_of_day(self) -> dt_time:
        hours, minutes = self.default_time.split(":")
        return dt_time(int(hours), int(minutes))

    @property
    def zone(self) -> tzinfo:
        return _load_zone(self.default_timezone)


_SECTIONS: dict[str, type] = {
    "storage": StorageSettings,
    "fetch": FetchSettings,
    "summary": SummarySettings,
    "discord": DiscordSettings,
    "matrix": MatrixSettings,
    "digest": DigestSettings,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything threadwise can be configured with; build it with `load_settings`."""

    storage: StorageSettings = field(default_factory=StorageSettings)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    summary: SummarySettings = field(default_factory=SummarySettings)
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    matrix: MatrixSettings = field(default_factory=MatrixSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    # "discord.token" -> "env DISCORD_TOKEN" | "file" | "unset"; not part of equality.
    secret_origins: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), repr=False, compare=False
    )

    def secret_sources(self) -> dict[str, str]:
        """Where each secret came from, without its value (for `config check` style output)."""
        out = {}
        for name, cls in _SECTIONS.items():
            for f in dataclasses.fields(cls):
                if f.metadata.get("secret"):
                    key = f"{name}.{f.name}"
                    out[key] = self.secret_origins.get(key, "unset")
        return out

    def to_dict(self, *, reveal_secrets: bool = False) -> dict[str, dict[str, Any]]:
        """Plain data per section; secrets become "<set>" unless asked for."""
        out: dict[str, dict[str, Any]] = {}
        for name in _SECTIONS:
            section = getattr(self, name)
            values = {}
            for f in dataclasses.fields(section):
                value = getattr(section, f.name)
                if f.metadata.get("secret") and value is not None and not reveal_secrets:
                    value = "<set>"
                values[f.name] = list(value) if isinstance(value, tuple) else value
            out[name] = values
        return out


# --- loading ----------------------------------------------------------------------------


def resolve_config_path(
    cli_value: str | Path | None, env: Mapping[str, str] = os.environ
) -> Path | None:
    """`--config` wins, then THREADWISE_CONFIG; None means "run on defaults"."""
    if cli_value is not None and str(cli_value).strip():
        return Path(cli_value).expanduser()
    from_env = env.get(CONFIG_ENV, "").strip()
    return Path(from_env).expanduser() if from_env else None


def load_settings(path: str | Path | None, env: Mapping[str, str] = os.environ) -> Settings:
    """Read `path` (None: defaults only), check every value, then apply env secrets."""
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_toml(Path(path))
    problems: list[str] = []
    origins: dict[str, str] = {}

    for name, value in data.items():
        if name not in _SECTIONS:
            problems.append(_unknown_top_level(name, value))
        elif not isinstance(value, dict):
            problems.append(f"[{name}] must be a section (a table), got {_describe(value)}")

    sections = {}
    for name, cls in _SECTIONS.items():
        raw = data.get(name)
        raw = raw if isinstance(raw, dict) else {}
        sections[name] = _build_section(name, cls, raw, env, problems, origins)

    problems.extend(sections["discord"].shard_problems())
    if problems:
        raise ConfigError("\n".join(problems))
    settings = Settings(**sections, secret_origins=MappingProxyType(origins))
    if path is not None and "file" in origins.values():
        _warn_secret_in_file(Path(path), [k for k, v in origins.items() if v == "file"])
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        # tomllib's message already carries "(at line N, column M)". The offending line itself
        # is not quoted back: it may be a half-written token.
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _build_section(
    name: str,
    cls: type,
    raw: dict[str, Any],
    env: Mapping[str, str],
    problems: list[str],
    origins: dict[str, str],
) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = get_type_hints(cls)
    for key in raw:
        if key not in fields:
            problems.append(_unknown_key(name, key))
    values: dict[str, Any] = {}
    for key, f in fields.items():
        env_name = f.metadata.get("env")
        env_value = env.get(env_name, "").strip() if env_name else ""
        secret = bool(f.metadata.get("secret"))
        if env_value:
            value, where = env_value, f"environment variable {env_name}"
            origin = f"env {env_name}"
        elif key in raw:
            value, where, origin = raw[key], f"[{name}] {key}", "file"
        else:
            continue
        try:
            hidden = secret or bool(f.metadata.get("hide_value"))
            values[key] = _check(value, hints[key], f.metadata.get("check"), hidden)
            if origin == "file" and f.metadata.get("file_check"):
                values[key] = f.metadata["file_check"](values[key])
        except ValueError as exc:
            problems.append(f"{where} {exc}")
            continue
        if secret:
            origins[f"{name}.{key}"] = origin
    return cls(**values)  # a key with a problem keeps its default; the problem is raised later


def _check(value: Any, hint: Any, check: Callable[[Any], Any] | None, secret: bool) -> Any:
    """Type-check `value` against the field's annotation, then run its value check."""
    shown = "a hidden value" if secret else _describe(value)
    if not (check is _hhmm and isinstance(value, dt_time)):  # TOML's native 09:00:00 is fine
        value = _coerce(value, hint, shown)
    if check is not None:
        try:
            value = check(value)
        except ValueError as exc:
            raise ValueError(f"{exc}, got {shown}") from None
    return value


_TYPE_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _coerce(value: Any, hint: Any, shown: str) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, UnionType) and NoneType in args:  # X | None: None only by omission
        (hint,) = [a for a in args if a is not NoneType]
        origin, args = get_origin(hint), get_args(hint)
    if origin is tuple:  # tuple[X, ...] is written as a TOML array
        item_type = args[0]
        word = {int: "integers", str: "strings"}[item_type]
        if not isinstance(value, list) or not all(_is_type(v, item_type) for v in value):
            raise ValueError(f"must be a list of {word}, got {shown}")
        return tuple(value)
    if not _is_type(value, hint):
        raise ValueError(f"must be {_TYPE_WORDS[hint]}, got {shown}")
    return float(value) if hint is float else value


def _is_type(value: Any, hint: type) -> bool:
    if hint is float:  # an int is a fine number of seconds; a bool is not
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(value: Any) -> str:
    """How a bad value is shown: strings quoted, other kinds named, so the type is obvious."""
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int):
        return f"{value} (an integer)"
    if isinstance(value, float):
        return f"{value} (a number)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"  # TOML dates and times


def _suggest(word: str, candidates: Any) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _unknown_key(section: str, key: str) -> str:
    fields = [f.name for f in dataclasses.fields(_SECTIONS[section])]
    hint = _suggest(key, fields)
    if not hint:  # right key, wrong section?
        homes = [s for s, cls in _SECTIONS.items() if key in _field_names(cls)]
        hint = f" (did you mean [{homes[0]}] {key}?)" if homes else ""
    return f"unknown setting [{section}] {key}{hint}"


def _unknown_top_level(name: str, value: Any) -> str:
    if isinstance(value, dict):
        close = difflib.get_close_matches(name, list(_SECTIONS), n=1, cutoff=0.6)
        hint = f" (did you mean [{close[0]}]?)" if close else ""
        return f"unknown section [{name}]{hint}"
    homes = [s for s, cls in _SECTIONS.items() if name in _field_names(cls)]
    hint = f" (did you mean [{homes[0]}] {name}?)" if homes else ""
    return f"unknown setting {name} outside any section{hint}"


def _field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _warn_secret_in_file(path: Path, keys: list[str]) -> None:
    """Secrets in the file work, but say so: the file is easy to commit or share by mistake."""
    try:
        world_readable = bool(path.stat().st_mode & 0o004)
    except OSError:
        world_readable = False
    log.warning(
        "%s holds %s; prefer the environment variables%s",
        path,
        ", ".join(keys),
        " (and the file is readable by every user)" if world_readable else "",
    )
