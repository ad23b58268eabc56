"""Pick the reader for an uploaded or local file."""

from __future__ import annotations

from typing import Literal

from bot.core.models import ThreadDoc
from bot.errors import UserError
from bot.sources import sniff
from bot.sources.decode import DEFAULT_MAX_BYTES, decode_upload
from bot.sources.jsonthread import read_json_thread
from bot.sources.plaintext import looks_like_markdown, read_markdown, read_plaintext

FileFormat = Literal["auto", "text", "markdown", "json", "html"]
FORMATS: tuple[str, ...] = ("auto", "text", "markdown", "json", "html")


def read_file_bytes(
    data: bytes, fmt: str = "auto", max_bytes: int = DEFAULT_MAX_BYTES, best_effort: bool = False
) -> ThreadDoc:
    """An uploaded file: plain text, Markdown, threadwise JSON, a saved forum page (HTML)
    or a saved forum API answer (Discourse or Reddit JSON)."""
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    text = decode_upload(data, max_bytes=max_bytes)
    if fmt == "auto":
        fmt = sniff_format(text)
    if fmt == "html":
        from bot.sources.web import read_saved_page

        return read_saved_page(text, best_effort=best_effort)
    if fmt == "json":
        if not sniff.any_forum(text):  # threadwise's own JSON: no forum reader imported
            return read_json_thread(text)
        from bot.sources.web import URL_READERS

        forum = next((r for r in URL_READERS if r.sniff(text)), None)
        if forum is not None:
            return forum.parse_saved(text)
        return read_json_thread(text)
    if fmt == "markdown":
        return read_markdown(text)
    return read_plaintext(text)


def sniff_format(text: str) -> str:
    head = text.lstrip()[:512].lower()
    if head.startswith(("{", "[")):
        return "json"
    if head.startswith(("<!doctype", "<html", "<?xml")) or "<body" in head or "<head" in head:
        return "html"
    if looks_like_markdown(text):
        return "markdown"
    return "text"
