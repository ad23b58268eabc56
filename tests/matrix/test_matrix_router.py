"""Command text → Command: prefix, shell-like quoting, options, reply fallbacks, usage errors."""

from __future__ import annotations

import pytest

from bot.matrix_app.router import ADMIN_COMMANDS, UsageError, help_text, parse, strip_reply_fallback


def test_text_not_for_the_bot_is_ignored() -> None:
    for text in ("hello", "say !tw help", "!twhelp", "!tw-summary x", ""):
        assert parse(text, "!tw") is None


def test_summary_options_parse_like_the_cli() -> None:
    command = parse(
        "!tw summary garden --algorithm textrank --words 80 --since 4 --author “Big Al” --explain",
        "!tw",
    )
    assert command is not None and command.name == "summary" and not command.admin
    args = command.args
    assert (args.name, args.algorithm, args.words, args.since) == ("garden", "textrank", 80, 4)
    assert args.author == "Big Al" and args.explain is True and args.sentences is None


def test_summary_by_chapters_parses_with_or_without_a_count() -> None:
    assert parse("!tw summary garden --chapters", "!tw").args.chapters == 0  # type: ignore[union-attr]
    command = parse("!tw summary garden --chapters 4 --sentences 1", "!tw")
    assert command is not None and command.args.chapters == 4 and command.args.sentences == 1
    assert parse("!tw summary garden", "!tw").args.chapters is None  # type: ignore[union-attr]
    with pytest.raises(UsageError):
        parse("!tw summary garden --chapters 0", "!tw")


def test_prefix_is_configurable_and_case_insensitive() -> None:
    command = parse("?Bot thread list", "?bot")
    assert command is not None and command.name == "thread list"


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("!tw thread ingest here --name chat", "thread ingest"),
        ("!tw thread ingest https://forum.example/t/1", "thread ingest"),
        ("!tw thread refresh garden", "thread refresh"),
        ("!tw thread forget garden", "thread forget"),
        ("!tw digest add garden --at 07:30 --weekly tu", "digest add"),
        ("!tw digest remove 3", "digest remove"),
    ],
)
def test_commands_that_write_are_admin_commands(text: str, name: str) -> None:
    command = parse(text, "!tw")
    assert command is not None and command.name == name and command.admin
    assert name in ADMIN_COMMANDS


def test_stance_takes_an_optional_user_and_topic_words() -> None:
    command = parse("!tw stance garden @tobias:example.org slugs and snails", "!tw")
    assert command is not None
    assert command.args.rest == ["@tobias:example.org", "slugs", "and", "snails"]


def test_a_reply_fallback_is_stripped_before_parsing() -> None:
    body = "> <@alice:example.org> What can it do?\n> second line\n\n!tw thread list"
    assert strip_reply_fallback(body) == "!tw thread list"
    command = parse(body, "!tw")
    assert command is not None and command.name == "thread list"
    # a quote the user typed themselves is not a fallback
    assert strip_reply_fallback("> just a quote\n!tw help") == "> just a quote\n!tw help"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("!tw summary", "required: NAME"),
        ("!tw summary x --algorithm nope", "invalid choice"),
        ("!tw summary x --words 3 --chars 2", "not allowed with"),
        ("!tw summary x --sentences 0", "at least 1"),
        ('!tw summary "x', "No closing quotation"),
        ("!tw frobnicate", "invalid choice"),
        ("!tw digest add x --weekly someday", "weekday"),
        ("!tw summary x --help", "unrecognized arguments"),
    ],
)
def test_malformed_commands_raise_a_usage_error_instead_of_exiting(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse(text, "!tw")


def test_bare_prefix_and_help() -> None:
    bare = parse("!tw", "!tw")
    assert bare is not None and bare.name == "help"
    everything = help_text("!tw")
    for usage in ("!tw thread ingest", "!tw summary", "!tw stance", "!tw quotes", "!tw digest add"):
        assert usage in everything
    assert "--sentences N" in help_text("!tw", ["summary"])
    assert "uploaded file" in help_text("!tw", ["thread", "ingest"])


@pytest.mark.parametrize(
    "text",
    [
        "!tw " + "y" * 5000,
        "!tw summary tram --algorithm " + "y" * 5000,
        "!tw summary a b" + "y" * 5000,
    ],
)
def test_a_5000_character_command_is_not_echoed_back_whole(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(text, "!tw")
    assert "y" * 61 not in str(caught.value) and len(str(caught.value)) < 600
