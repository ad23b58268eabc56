"""Settings: strict checks whose messages name the key, env secrets, docs that cannot drift."""

from __future__ import annotations

import dataclasses
import re
from datetime import time
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import (
    Settings,
    load_settings,
    resolve_config_path,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"


def load_text(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Settings:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, env=env or {})


def config_error(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text, env)
    return str(info.value)


# --- defaults and the example file -------------------------------------------------------


def test_defaults() -> None:
    s = load_settings(None, env={})
    assert s.storage.path == "threadwise.db"
    assert s.storage.max_upload_bytes == 10 * 1024 * 1024
    assert s.fetch.allow_private_addresses is False
    assert s.fetch.max_pages == 50
    assert s.fetch.max_page_bytes == 5 * 1024 * 1024
    assert s.fetch.per_host_delay == 1.0
    assert s.fetch.job_seconds == 300.0
    assert s.fetch.user_agent.startswith("threadwise/")
    assert (s.summary.algorithm, s.summary.sentences) == ("thread", 5)
    assert s.discord.token is None and s.discord.owner_ids == () and s.discord.admin_role is None
    assert not s.discord.enabled and not s.matrix.enabled
    assert s.matrix.command_prefix == "!tw" and s.matrix.admin_power_level == 50
    assert s.matrix.allowed_inviters == ()
    assert s.digest.default_time == "09:00" and s.digest.time_of_day == time(9, 0)
    assert s.digest.default_timezone == "UTC"
    assert s == Settings()


def test_example_file_parses_to_the_defaults() -> None:
    assert load_settings(EXAMPLE, env={}) == load_settings(None, env={})


def test_example_file_mentions_every_setting() -> None:
    """Every field appears (set or commented out) under its own section header."""
    seen: set[tuple[str, str]] = set()
    section = ""
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if m := re.match(r"^\[(\w+)\]\s*$", line):
            section = m.group(1)
        elif m := re.match(r"^#?\s?(\w+) = ", line):
            seen.add((section, m.group(1)))
    settings = Settings()
    expected = {
        (f.name, g.name)
        for f in dataclasses.fields(Settings)
        if dataclasses.is_dataclass(getattr(settings, f.name))
        for g in dataclasses.fields(getattr(settings, f.name))
    }
    assert expected - seen == set()
    assert seen - expected == set()


def test_secrets_in_example_are_commented_out() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for key, env in [
        ("token", "DISCORD_TOKEN"),
        ("password", "MATRIX_PASSWORD"),
        ("access_token", "MATRIX_ACCESS_TOKEN"),
    ]:
        assert re.search(rf"^# {key} = ", text, re.M)
        assert not re.search(rf"^{key}\s*=", text, re.M)
        assert env in text


# --- values read from a file ------------------------------------------------------------


def test_values_are_read(tmp_path: Path) -> None:
    s = load_text(
        tmp_path,
        """
        [fetch]
        per_host_delay = 2          # an int is a fine float
        max_pages = 3
        job_seconds = 60
        [summary]
        algorithm = "TextRank"
        sentences = 7
        [discord]
        owner_ids = [1234567890123456789]
        admin_role = "mods"
        [matrix]
        homeserver = "https://matrix.example.org/"
        user_id = "@tw:example.org"
        allowed_inviters = ["@alice:example.org", "example.com"]
        [digest]
        default_time = 18:30:00     # TOML's own time type is accepted too
        default_timezone = "Europe/Berlin"
        """,
    )
    assert s.fetch.per_host_delay == 2.0 and isinstance(s.fetch.per_host_delay, float)
    assert s.fetch.job_seconds == 60.0 and isinstance(s.fetch.job_seconds, float)
    assert s.summary.algorithm == "textrank" and s.summary.sentences == 7
    assert s.discord.owner_ids == (1234567890123456789,)
    assert s.matrix.homeserver == "https://matrix.example.org"
    assert s.matrix.allowed_inviters == ("@alice:example.org", "example.com")
    assert s.digest.default_time == "18:30"
    assert str(s.digest.zone) == "Europe/Berlin"


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[summary]\nsentences = "five"', "[summary] sentences must be an integer, got 'five'"),
        ("[summary]\nsentences = true", "[summary] sentences must be an integer, got true"),
        ("[summary]\nsentences = 2.5", "[summary] sentences must be an integer, got 2.5"),
        ("[fetch]\nallow_private_addresses = 1", "[fetch] allow_private_addresses must be true"),
        ('[fetch]\nallow_private_addresses = "no"', "allow_private_addresses must be true or"),
        ("[fetch]\nper_host_delay = false", "[fetch] per_host_delay must be a number, got false"),
        ('[fetch]\nper_host_delay = "1s"', "[fetch] per_host_delay must be a number, got '1s'"),
        ('[fetch]\njob_seconds = "5m"', "[fetch] job_seconds must be a number, got '5m'"),
        ("[fetch]\njob_seconds = true", "[fetch] job_seconds must be a number, got true"),
        ("[fetch]\nuser_agent = 5", "[fetch] user_agent must be a string, got 5"),
        ("[storage]\npath = []", "[storage] path must be a string, got a list"),
        ('[discord]\nowner_ids = ["123"]', "[discord] owner_ids must be a list of integers"),
        ("[discord]\nowner_ids = 123", "[discord] owner_ids must be a list of integers, got 123"),
        ("[matrix]\nallowed_inviters = [1]", "[matrix] allowed_inviters must be a list of strings"),
        ("[digest]\ndefault_time = 900", "[digest] default_time must be a string"),
        ("[summary]\nsentences = {a = 1}", "[summary] sentences must be an integer, got a table"),
    ],
)
def test_wrong_type_names_key_and_types(tmp_path: Path, toml: str, expected: str) -> None:
    assert expected in config_error(tmp_path, toml)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[summary]\nsentences = 0", "[summary] sentences must be between 1 and 50, got 0"),
        ("[summary]\nsentences = 51", "[summary] sentences must be between 1 and 50"),
        ('[summary]\nalgorithm = "lexrnak"', "(did you mean lexrank?)"),
        ("[fetch]\nmax_pages = 0", "[fetch] max_pages must be between"),
        ("[fetch]\nper_host_delay = -1.0", "[fetch] per_host_delay must be between"),
        ("[fetch]\nmax_page_bytes = 10", "[fetch] max_page_bytes must be between"),
        ("[fetch]\njob_seconds = 0", "[fetch] job_seconds must be between 1.0 and 86400.0"),
        ("[fetch]\njob_seconds = -5", "[fetch] job_seconds must be between"),
        ("[fetch]\njob_seconds = 100000", "[fetch] job_seconds must be between"),
        ("[storage]\nmax_upload_bytes = 0", "[storage] max_upload_bytes must be between"),
        ('[storage]\npath = "  "', "[storage] path must not be empty"),
        ('[fetch]\nuser_agent = "a\\r\\nX-Evil: 1"', "[fetch] user_agent must be a single line"),
        ("[discord]\nowner_ids = [0]", "[discord] owner_ids must hold positive"),
        ("[matrix]\nadmin_power_level = 101", "[matrix] admin_power_level must be between 0"),
        ('[matrix]\nhomeserver = "matrix.org"', "[matrix] homeserver must be an http(s) URL"),
        ('[matrix]\nhomeserver = "ftp://x.org"', "[matrix] homeserver must be an http(s) URL"),
        ('[matrix]\nuser_id = "tw"', "[matrix] user_id must be a Matrix user id"),
        ('[matrix]\ncommand_prefix = "! tw"', "[matrix] command_prefix must be a non-empty"),
        ('[matrix]\nallowed_inviters = ["alice"]', "'alice' is neither"),
        ('[matrix]\nallowed_inviters = ["@alice"]', "'@alice' is neither"),
        ('[matrix]\nallowed_inviters = ["@a:b c"]', "'@a:b c' is neither"),
    ],
)
def test_out_of_range_values(tmp_path: Path, toml: str, expected: str) -> None:
    assert expected in config_error(tmp_path, toml)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[summary]\nsentences = "x"\nalgorithm = 3\n[fetch]\nmax=1')
    lines = message.splitlines()
    assert len(lines) == 3
    assert any(line.startswith("[summary] sentences") for line in lines)
    assert any(line.startswith("[summary] algorithm") for line in lines)
    assert any(line.startswith("unknown setting [fetch] max") for line in lines)


# --- unknown names ----------------------------------------------------------------------


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[fetch]\nmax_page = 3")
    assert message == "unknown setting [fetch] max_page (did you mean max_pages?)"


def test_unknown_key_without_close_match(tmp_path: Path) -> None:
    assert config_error(tmp_path, "[fetch]\ncolour = 3") == "unknown setting [fetch] colour"


def test_key_in_the_wrong_section(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[discord]\nhomeserver = "https://m.org"')
    assert message == "unknown setting [discord] homeserver (did you mean [matrix] homeserver?)"


def test_unknown_section_suggests_the_close_one(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[sumary]\nsentences = 3")
    assert message == "unknown section [sumary] (did you mean [summary]?)"


def test_setting_outside_any_section(tmp_path: Path) -> None:
    message = config_error(tmp_path, "sentences = 3")
    assert (
        message
        == "unknown setting sentences outside any section (did you mean [summary] sentences?)"
    )


def test_section_that_is_not_a_table(tmp_path: Path) -> None:
    assert "[fetch] must be a section" in config_error(tmp_path, "fetch = 3")


# --- files ------------------------------------------------------------------------------


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file not found: .*nope\.toml"):
        load_settings(tmp_path / "nope.toml", env={})


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[discord]\nadmin_role = "x"\ntoken = "abc\n[fetch]\n')
    assert "not valid TOML" in message and "line 3" in message
    assert "abc" not in message  # the broken line may be a half-written secret


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'[storage]\npath = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(path, env={})


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path, env={})


def test_empty_file_is_the_defaults(tmp_path: Path) -> None:
    assert load_text(tmp_path, "") == Settings()


# --- secrets ----------------------------------------------------------------------------


def test_env_secrets_fill_in_without_a_file() -> None:
    s = load_settings(
        None,
        env={"DISCORD_TOKEN": "d-tok", "MATRIX_PASSWORD": "pw", "MATRIX_ACCESS_TOKEN": "at"},
    )
    assert s.discord.token == "d-tok" and s.discord.enabled
    assert s.discord.require_token() == "d-tok"
    assert (s.matrix.password, s.matrix.access_token) == ("pw", "at")
    assert s.secret_sources() == {
        "discord.token": "env DISCORD_TOKEN",
        "matrix.password": "env MATRIX_PASSWORD",
        "matrix.access_token": "env MATRIX_ACCESS_TOKEN",
    }


def test_env_overrides_file_and_empty_env_does_not(tmp_path: Path) -> None:
    text = '[discord]\ntoken = "from-file"\n[matrix]\npassword = "file-pw"'
    s = load_text(tmp_path, text, env={"DISCORD_TOKEN": "from-env", "MATRIX_PASSWORD": ""})
    assert s.discord.token == "from-env"
    assert s.matrix.password == "file-pw"
    assert s.secret_sources()["discord.token"] == "env DISCORD_TOKEN"
    assert s.secret_sources()["matrix.password"] == "file"
    assert s.secret_sources()["matrix.access_token"] == "unset"


def test_secret_in_file_works_but_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    s = load_text(tmp_path, '[discord]\ntoken = "file-token"')
    assert s.discord.token == "file-token"
    assert "discord.token" in caplog.text and "file-token" not in caplog.text


def test_env_secret_is_stripped() -> None:
    assert load_settings(None, env={"DISCORD_TOKEN": " tok\n"}).discord.token == "tok"


def test_repr_and_to_dict_hide_secrets(tmp_path: Path) -> None:
    s = load_text(
        tmp_path,
        '[matrix]\npassword = "hunter2-pw"',
        env={"DISCORD_TOKEN": "tok-123-secret", "MATRIX_ACCESS_TOKEN": "syt_abcdef"},
    )
    for text in (repr(s), str(s), repr(s.discord), repr(s.matrix), str(s.to_dict())):
        for secret in ("tok-123-secret", "hunter2-pw", "syt_abcdef"):
            assert secret not in text
    assert s.to_dict()["discord"]["token"] == "<set>"
    assert s.to_dict(reveal_secrets=True)["discord"]["token"] == "tok-123-secret"


def test_bad_secret_is_not_echoed(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[discord]\ntoken = 12345678")
    assert message == "[discord] token must be a string, got a hidden value"
    with pytest.raises(ConfigError) as info:
        load_settings(None, env={"DISCORD_TOKEN": "two words"})
    assert "environment variable DISCORD_TOKEN" in str(info.value)
    assert "two words" not in str(info.value)


def test_secret_origins_do_not_affect_equality(tmp_path: Path) -> None:
    from_file = load_text(tmp_path, '[discord]\ntoken = "t"')
    from_env = load_settings(None, env={"DISCORD_TOKEN": "t"})
    assert from_file == from_env


def test_require_helpers_say_what_is_missing() -> None:
    s = load_settings(None, env={})
    with pytest.raises(ConfigError, match="DISCORD_TOKEN"):
        s.discord.require_token()
    with pytest.raises(ConfigError, match=r"homeserver.*user_id.*MATRIX_ACCESS_TOKEN"):
        s.matrix.require_login()


# --- matrix inviters, time and zone -----------------------------------------------------


def test_may_invite(tmp_path: Path) -> None:
    s = load_text(tmp_path, '[matrix]\nallowed_inviters = ["@alice:a.org", "B.org", "c.org:8448"]')
    assert s.matrix.may_invite("@alice:a.org")
    assert not s.matrix.may_invite("@mallory:a.org")
    assert s.matrix.may_invite("@anyone:b.org")
    assert s.matrix.may_invite("@x:c.org:8448")
    assert not s.matrix.may_invite("@x:c.org")
    assert not s.matrix.may_invite("not-an-mxid")
    assert load_text(tmp_path, '[matrix]\nallowed_inviters = ["localhost"]').matrix.may_invite(
        "@dev:localhost"
    )
    assert not Settings().matrix.may_invite("@alice:a.org")


@pytest.mark.parametrize("value", ["9:00", "24:00", "12:60", "noon", "09:00:00", " "])
def test_bad_digest_time(tmp_path: Path, value: str) -> None:
    message = config_error(tmp_path, f'[digest]\ndefault_time = "{value}"')
    assert message.startswith('[digest] default_time must be a 24-hour time "HH:MM"')


def test_toml_time_with_seconds_is_refused(tmp_path: Path) -> None:
    assert "whole minute" in config_error(tmp_path, "[digest]\ndefault_time = 09:00:30")


@pytest.mark.parametrize("value", ["23:59", "00:00"])
def test_good_digest_time(tmp_path: Path, value: str) -> None:
    assert load_text(tmp_path, f'[digest]\ndefault_time = "{value}"').digest.default_time == value


def test_bad_timezone_suggests(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[digest]\ndefault_timezone = "Europe/Londn"')
    assert message.startswith("[digest] default_timezone must be an IANA time zone")
    assert "(did you mean Europe/London?)" in message


@pytest.mark.parametrize("value", ["Mars/Olympus", "", "../etc/passwd", "Europe"])
def test_timezone_that_does_not_exist(tmp_path: Path, value: str) -> None:
    message = config_error(tmp_path, f'[digest]\ndefault_timezone = "{value}"')
    assert "[digest] default_timezone must be an IANA time zone" in message


# --- which file -------------------------------------------------------------------------


def test_resolve_config_path() -> None:
    env = {"THREADWISE_CONFIG": "/etc/threadwise.toml"}
    assert resolve_config_path("mine.toml", env) == Path("mine.toml")
    assert resolve_config_path(None, env) == Path("/etc/threadwise.toml")
    assert resolve_config_path(None, {}) is None
    assert resolve_config_path(None, {"THREADWISE_CONFIG": "  "}) is None
    assert resolve_config_path("~/tw.toml", {}) == Path.home() / "tw.toml"


def test_threadwise_config_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "tw.toml"
    path.write_text("[summary]\nsentences = 9\n", encoding="utf-8")
    env = {"THREADWISE_CONFIG": str(path)}
    assert load_settings(resolve_config_path(None, env), env=env).summary.sentences == 9
    env = {"THREADWISE_CONFIG": str(tmp_path / "missing.toml")}
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(resolve_config_path(None, env), env=env)


# --- Discord shards ---------------------------------------------------------------------------


def test_shards_are_read_and_decide_which_guilds_a_process_owns(tmp_path: Path) -> None:
    settings = load_text(tmp_path, "[discord]\nshard_count = 4\nshard_ids = [3, 1]\n")
    assert settings.discord.sharded and settings.discord.shard_ids == (1, 3)
    owned = [settings.discord.owns_guild(shard << 22) for shard in range(4)]
    assert owned == [False, True, False, True]
    every = load_text(tmp_path, "[discord]\nshard_count = 4\n").discord
    assert every.sharded and all(every.owns_guild(shard << 22) for shard in range(4))
    assert not Settings().discord.sharded and Settings().discord.owns_guild(5 << 22)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("shard_ids = [0]", "shard_ids needs [discord] shard_count"),
        ("shard_count = 2\nshard_ids = [1, 2]", "shard_ids [2] are not shards of shard_count 2"),
        ("shard_count = 2\nshard_ids = [1, 1]", "must not repeat a shard"),
        ("shard_count = 2\nshard_ids = [-1]", "must hold shard numbers from 0"),
        ("shard_count = 0", "shard_count must be between 1 and 65536"),
    ],
)
def test_shard_settings_that_cannot_work_are_refused(tmp_path: Path, toml: str, expected: str):
    assert expected in config_error(tmp_path, f"[discord]\n{toml}\n")


# --- [storage] url ------------------------------------------------------------------------------


def test_storage_url_selects_postgresql_and_path_stays_the_default(tmp_path: Path) -> None:
    assert load_settings(None, env={}).storage.target == "threadwise.db"
    cfg = tmp_path / "pg.toml"
    cfg.write_text('[storage]\nurl = "postgresql://tw@db.example.org/threadwise"\n')
    assert load_settings(cfg, env={}).storage.target == "postgresql://tw@db.example.org/threadwise"


def test_a_password_in_the_config_file_url_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "pg.toml"
    cfg.write_text('[storage]\nurl = "postgresql://tw:hunter2@db.example.org/threadwise"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, env={})
    message = str(err.value)
    assert "[storage] url must not hold a password" in message
    assert "PGPASSWORD" in message and "THREADWISE_DATABASE_URL" in message
    assert "hunter2" not in message


def test_the_whole_url_with_its_password_may_come_from_the_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "pg.toml"
    cfg.write_text('[storage]\nurl = "postgresql://tw@db.example.org/threadwise"\n')
    url = "postgresql://tw:hunter2@db.example.org/threadwise"
    settings = load_settings(cfg, env={"THREADWISE_DATABASE_URL": url})
    assert settings.storage.target == url
    assert "hunter2" not in repr(settings)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("mysql://tw@db.example.org/threadwise", "must be a postgresql://"),
        ("postgresql://tw@db.example.org", "must name the database"),
        ("postgresql://tw@db.example.org:port/threadwise", "not a valid URL"),
    ],
)
def test_a_wrong_storage_url_is_named(tmp_path: Path, url: str, reason: str) -> None:
    cfg = tmp_path / "pg.toml"
    cfg.write_text(f'[storage]\nurl = "{url}"\n')
    with pytest.raises(ConfigError, match=reason):
        load_settings(cfg, env={})
    bad = "postgresql://tw:hunter2@db.example.org:port/x"
    with pytest.raises(ConfigError) as err:
        load_settings(None, env={"THREADWISE_DATABASE_URL": bad})
    assert "hunter2" not in str(err.value)
