"""Neutral answers → plain text for the terminal."""

from __future__ import annotations

import shutil
import textwrap
from typing import Any

from bot.core.render import Answer


def json_bytes(document: Any) -> bytes:
    """One JSON document as `--json` prints it: indented by 2, UTF-8 as is, a newline.

    orjson writes it in C: a 100,000-post quote report is a 185 MB document, which the
    standard library's indenting encoder (pure Python) took ~8 s to write."""
    import orjson

    option = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE
    return orjson.dumps(document, option=option)


def render_text(answer: Answer, width: int | None = None) -> str:
    width = width or min(shutil.get_terminal_size((100, 20)).columns, 120)
    out: list[str] = [answer.title]
    if answer.sections:
        out.append("=" * min(len(answer.title), width))
    if answer.link:
        out.append(answer.link)
    for section in answer.sections:
        out.append("")
        if section.heading:
            out.append(section.heading)
            out.append("-" * min(len(section.heading), width))
        for line in section.lines:
            prefix = f"[{line.ref.label}] " if line.ref else ""
            body = prefix + line.text
            if line.detail:
                body += f"  ({line.detail})"
            out.append(
                textwrap.fill(body, width=width, subsequent_indent="    ", break_long_words=False)
            )
            if line.ref and line.ref.url:
                out.append(f"    {line.ref.url}")
    if answer.notes:
        out.append("")
        out.extend(textwrap.fill(n, width=width) for n in answer.notes)
    return "\n".join(out)
