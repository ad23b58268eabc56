"""The analysis core and storage never import a chat platform (DESIGN.md rule)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = ("discord", "nio", "aiohttp", "matrix_nio", "cogs", "bot.discord_app", "bot.matrix_app")
PLATFORM_FREE = [REPO / "bot" / "core", REPO / "storage"]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def offending(names: set[str]) -> list[str]:
    return sorted(n for n in names if any(n == f or n.startswith(f + ".") for f in FORBIDDEN))


@pytest.mark.parametrize("folder", PLATFORM_FREE, ids=lambda p: p.name)
def test_core_and_storage_import_no_chat_platform(folder):
    files = sorted(folder.rglob("*.py"))
    assert files
    bad = {str(f.relative_to(REPO)): offending(imported_modules(f)) for f in files}
    assert {f: b for f, b in bad.items() if b} == {}


def test_the_check_itself_catches_a_platform_import(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("import discord.ext.commands\nfrom nio import AsyncClient\n")
    assert offending(imported_modules(sample)) == ["discord.ext.commands", "nio"]


def test_storage_does_not_reach_into_analysis_or_adapters():
    for f in (REPO / "storage").rglob("*.py"):
        names = imported_modules(f)
        assert not any(n.startswith(("bot.usecases.services", "bot.cli", "cogs")) for n in names), f


NETWORK_MODULES = ("aiohttp", "http.client", "urllib.request", "socket", "requests", "httpx")


def test_only_the_fetcher_opens_connections_to_user_urls():
    """One HTTP client (sources/fetch.py): readers ask it for pages, never open sockets."""
    for f in sorted((REPO / "bot" / "sources").glob("*.py")):
        if f.name == "fetch.py":
            continue
        names = imported_modules(f)
        bad = sorted(
            n for n in names if any(n == m or n.startswith(m + ".") for m in NETWORK_MODULES)
        )
        assert bad == [], f"{f.name} imports {bad}"
