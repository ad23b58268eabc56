"""Pick the reader for an uploaded or local file."""

from __future__ import annotations

from typing import Literal

from bot.core.models import ThreadDoc
from bot.errors import SourceError, UserError
from bot.sources.decode import DEFAULT_MAX_BYTES, decode_upload
from bot.sources.jsonthread import read_json_thread
from bot.sources.plaintext import looks_like_markdown, read_markdown, read_plaintext

FileFormat = Literal["auto", "text", "markdown", "json"]
FORMATS: tuple[str, ...] = ("auto", "text", "markdown", "json")


def read_file_bytes(
    data: bytes, fmt: str = "auto", max_bytes: int = DEFAULT_MAX_BYTES
) -> ThreadDoc:
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    text = decode_upload(data, max_bytes=max_bytes)
    if fmt == "auto":
        fmt = sniff_format(text)
    if fmt == "json":
        return read_json_thread(text)
    if fmt == "markdown":
        return read_markdown(text)
    return read_plaintext(text)


def sniff_format(text: str) -> str:
    head = text.lstrip()[:512].lower()
    if head.startswith(("{", "[")):
        return "json"
    if head.startswith(("<!doctype html", "<html")) or "<body" in head:
        raise SourceError(
            "this is a saved HTML page; threadwise reads HTML from forum URLs and saved "
            "pages of known forums only (plain text, Markdown and JSON files work today)"
        )
    if looks_like_markdown(text):
        return "markdown"
    return "text"
