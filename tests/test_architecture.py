"""Layering rules (DESIGN.md): the core, the use cases and storage never import a chat
platform; nothing below the adapters imports an adapter; no import cycles."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = ("discord", "nio", "aiohttp", "matrix_nio", "cogs", "bot.discord_app", "bot.matrix_app")
PLATFORM_FREE = [REPO / "bot" / "core", REPO / "bot" / "usecases", REPO / "storage"]


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


# --- no import cycles among bot/, cogs/ and storage/ (DESIGN.md rule) ----------------------

PROJECT_PACKAGES = ("bot", "cogs", "storage")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path, packages: Sequence[str] = PROJECT_PACKAGES) -> dict[str, set[str]]:
    """Module → project modules it imports: at the top, inside functions and under
    TYPE_CHECKING alike (a cycle that only type checkers follow is still a tangle).
    `from pkg import name` counts as importing `pkg.name` when that is a module."""
    files = {
        module_name(f, root): f
        for package in packages
        if (root / package).is_dir()
        for f in (root / package).rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        here = name.split(".") if is_package else name.split(".")[:-1]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = here[: len(here) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    child = f"{base}.{alias.name}"
                    targets.add(child if child in files else base)
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    import networkx as nx

    digraph = nx.DiGraph([(a, b) for a, targets in graph.items() for b in targets])
    return sorted(sorted(c) for c in nx.strongly_connected_components(digraph) if len(c) > 1)


def test_no_import_cycles_among_bot_cogs_and_storage():
    graph = import_graph(REPO)
    assert "bot.usecases.services" in graph and "cogs.summary" in graph
    assert import_cycles(graph) == []


def test_the_cycle_check_itself_catches_cycles(tmp_path):
    (tmp_path / "bot" / "app").mkdir(parents=True)
    (tmp_path / "bot" / "__init__.py").write_text("")
    (tmp_path / "bot" / "app" / "__init__.py").write_text("")
    (tmp_path / "bot" / "app" / "a.py").write_text("from . import b\n")
    (tmp_path / "bot" / "app" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot.app.c import C\n"
    )
    (tmp_path / "bot" / "app" / "c.py").write_text("def f():\n    import bot.app.a\n")
    (tmp_path / "bot" / "d.py").write_text("from bot.app import a\n")
    assert import_cycles(import_graph(tmp_path)) == [["bot.app.a", "bot.app.b", "bot.app.c"]]


ADAPTERS = ("bot.cli", "bot.discord_app", "bot.matrix_app", "cogs")


@pytest.mark.parametrize("folder", ["core", "sources", "usecases"])
def test_core_sources_and_use_cases_never_import_an_adapter(folder):
    for f in sorted((REPO / "bot" / folder).rglob("*.py")):
        names = imported_modules(f)
        assert not [n for n in names if any(n == a or n.startswith(a + ".") for a in ADAPTERS)], f
