"""Turn uploaded bytes into text, refusing what is not a text thread copy."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from bot.errors import SourceError

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
_BOMS = (("utf-8-sig", b"\xef\xbb\xbf"), ("utf-16", b"\xff\xfe"), ("utf-16", b"\xfe\xff"))


def _human(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{size} bytes"


def decode_upload(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Decode UTF-8 (with or without BOM), UTF-16 with BOM, or Windows-1252/Latin-1 text.

    Raises SourceError for empty, oversized or binary input, so nothing is stored.
    """
    if len(data) > max_bytes:
        raise SourceError(
            f"the file is {_human(len(data))}; the limit is {_human(max_bytes)} "
            "(raise [storage] max_upload_bytes if you trust this source)"
        )
    if not data.strip():
        raise SourceError("the file is empty")
    for codec, bom in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError as exc:
                raise SourceError(
                    f"the file starts with a {codec} mark but is not {codec}"
                ) from exc
            return _check_text(text)
    if b"\x00" in data[:65536]:
        raise SourceError("this looks like a binary file, not a text copy of a thread")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # Windows-1252 covers Latin-1's printable range plus curly quotes; fall back to
        # Latin-1 for the five bytes cp1252 leaves undefined.
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    return _check_text(text)


def _check_text(text: str) -> str:
    sample = text[:65536]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > max(8, len(sample) // 100):
        raise SourceError("this looks like a binary file, not a text copy of a thread")
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    if not text.strip():
        raise SourceError("the file is empty")
    return text


def load_json(text: str) -> Any:
    """Parsed JSON, or SourceError with a one-line reason (bad syntax, nesting too deep, a
    number too long for Python to read: 5,000 digits is a ValueError, not a JSON error).

    orjson parses it where it can (C: a 100 MB thread in 0.15 s instead of ~1 s); what orjson
    refuses (integers past 64 bits, NaN, lone surrogates, very deep nesting) goes to the
    standard library, whose answers and errors are the documented ones."""
    import orjson

    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise SourceError("the JSON is nested too deeply to be a thread") from None
    except ValueError:
        raise SourceError(
            "the JSON holds a number too long to read (thousands of digits); "
            "ids must be short strings or numbers"
        ) from None
