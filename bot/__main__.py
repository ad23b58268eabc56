"""`python -m bot` is the `threadwise` command."""

from bot.cli.main import main

raise SystemExit(main())
