"""`python -m bot` is the `threadwise` command."""

from bot.cli.main import entry

entry()
