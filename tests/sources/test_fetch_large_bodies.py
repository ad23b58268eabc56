"""Big bodies are decoded and parsed in a worker thread, with the same result and errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from bot.errors import SourceError
from bot.offload import OFF_LOOP_SIZE
from bot.settings import FetchSettings
from bot.sources import fetch as fetch_module
from bot.sources.fetch import SafeFetcher, decode_body
from tests.sources.loopback import LoopbackServer, Page

BIG_JSON = {"posts": [{"id": i, "text": f"Pöst {i} — ünïcode ✓ " * 4} for i in range(4000)]}
BIG_HTML = (
    b'<html><head><meta charset="windows-1252"></head><body>'
    + b"<p>caf\xe9 na\xefve \x93quoted\x94 text</p>\n" * 12000  # cp1252 bytes
    + b"</body></html>"
)


@pytest.fixture
async def fetcher() -> AsyncIterator[SafeFetcher]:
    f = SafeFetcher(FetchSettings(allow_private_addresses=True, per_host_delay=0.0))
    yield f
    await f.close()


@pytest.fixture
def threaded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the functions fetch.py sent to a worker thread."""
    calls: list[str] = []
    real = asyncio.to_thread

    async def spy(func, /, *args, **kwargs):
        calls.append(func.__name__)
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(fetch_module.asyncio, "to_thread", spy)
    return calls


async def test_big_json_parses_the_same_off_the_loop(fetcher, threaded) -> None:
    body = json.dumps(BIG_JSON, ensure_ascii=False).encode("utf-8")
    assert len(body) > OFF_LOOP_SIZE
    routes = {
        "/t.json": Page(body, content_type="application/json"),
        "/small.json": Page(json.dumps({"a": 1}), content_type="application/json"),
    }
    async with LoopbackServer(routes) as forum:
        command = fetcher.for_command()
        assert await command.get_json(forum.url("/t.json")) == BIG_JSON
        assert threaded == ["_parse_json"]
        assert await command.get_json(forum.url("/small.json")) == {"a": 1}
    assert threaded == ["_parse_json"]  # a small body stays on the loop


async def test_big_html_decodes_the_same_off_the_loop(fetcher, threaded) -> None:
    assert len(BIG_HTML) > OFF_LOOP_SIZE
    async with LoopbackServer({"/t": Page(BIG_HTML, content_type="text/html")}) as forum:
        page = await fetcher.for_command().get_text(forum.url("/t"))
    assert page.text == decode_body(BIG_HTML, None, html=True)
    assert "café naïve “quoted” text" in page.text
    assert threaded == ["decode_body"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"posts": [' + b'"x", ' * 100_000 + b"]",  # broken at the end
        b"[" * 300_000,  # deeper than any parser recurses
    ],
)
async def test_big_invalid_json_gives_the_same_error(fetcher, threaded, body: bytes) -> None:
    assert len(body) > OFF_LOOP_SIZE
    async with LoopbackServer({"/bad.json": Page(body, content_type="application/json")}) as forum:
        with pytest.raises(SourceError, match="did not answer with valid JSON"):
            await fetcher.for_command().get_json(forum.url("/bad.json"))
    assert threaded == ["_parse_json"]
