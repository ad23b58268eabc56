"""`python -m bot` is the `threadwise` command."""

from bot.cli import main

raise SystemExit(main())
