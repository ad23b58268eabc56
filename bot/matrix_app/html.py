"""Neutral answers → Matrix m.notice contents: plain `body` plus escaped, allowlisted HTML.

Forum text is hostile input. Every piece of it goes through `html.escape`, and the only
tags in `formatted_body` are the few written here (all on the spec's allowlist). Links are
emitted only for absolute http(s) URLs. `m.mentions` is always present and empty, so
neither a name nor "@room" in quoted forum text can ping anyone. Control characters (NUL
...) and bidi overrides are dropped, as the Discord renderer drops them. Long answers are
split into several events, each far below the 65,536-byte event limit.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.core.render import Answer, Line, strip_invisible

MAX_CONTENT_BYTES = 60_000
"""Budget for one event's content; the rest of the 64 KiB covers the event envelope."""

# The tags this module writes. Every one is on the m.room.message HTML allowlist.
OWN_TAGS = frozenset({"p", "strong", "em", "a", "ul", "li", "br"})

_PART_MARK_RESERVE = 64  # bytes kept free for "(part 2 of 3)" added after packing
_UL_COST = len("<ul></ul>")  # worst case: every list item opens and closes its own list


@dataclass(frozen=True, slots=True)
class _Piece:
    """One unit never split across events; list items are wrapped in <ul> per event."""

    body: str
    html: str
    item: bool = False

    @property
    def cost(self) -> int:
        return _text_size(self.body) + _text_size(self.html) + (_UL_COST if self.item else 0)


def safe_url(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) link without credentials or spaces, else None."""
    if not url or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    return url


def escape(text: str) -> str:
    return html.escape(text, quote=True)


def notice(text: str, max_bytes: int = MAX_CONTENT_BYTES) -> dict:
    """A short plain message (errors, confirmations) as one m.notice content.

    It may echo a user's words; if escaping would push it past the limit it is shortened
    (at most 12 bytes per character once escaped, see _split_oversized).
    """
    content = _content(text, escape(text).replace("\n", "<br>"))
    if _size(content) > max_bytes:
        text = text[: (max_bytes - _size(_content("", ""))) // 12 - 1] + "…"
        content = _content(text, escape(text).replace("\n", "<br>"))
    return content


def image_content(mxc_url: str, png: bytes, filename: str = "quote-graph.png") -> dict:
    """An m.image pointing at an uploaded PNG; width and height read from its header."""
    info: dict[str, object] = {"mimetype": "image/png", "size": len(png)}
    if png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) >= 24:
        info["w"] = int.from_bytes(png[16:20], "big")
        info["h"] = int.from_bytes(png[20:24], "big")
    filename = strip_invisible(filename)
    return {
        "msgtype": "m.image",
        "body": filename,
        "filename": filename,
        "url": mxc_url,
        "info": info,
        "m.mentions": {},
    }


def answer_contents(answer: Answer, max_bytes: int = MAX_CONTENT_BYTES) -> list[dict]:
    """Render `answer` as one or more m.notice contents, each at most `max_bytes` as JSON."""
    budget = max_bytes - _size(_content("", "")) - _PART_MARK_RESERVE
    if budget < 1000:
        raise ValueError("max_bytes is too small for an answer")
    pieces = list(_split_oversized(_pieces(answer), budget))
    events: list[list[_Piece]] = []
    used = budget + 1
    for piece in pieces:
        if used + piece.cost > budget:
            events.append([])
            used = 0
        events[-1].append(piece)
        used += piece.cost
    contents = []
    for index, group in enumerate(events):
        body = "".join(p.body for p in group).strip("\n")
        formatted = _assemble(group)
        if len(events) > 1:
            mark = f"(part {index + 1} of {len(events)})"
            body = f"{body}\n{mark}"
            formatted = f"{formatted}<p><em>{mark}</em></p>"
        contents.append(_content(body, formatted))
    return contents


def body_length(answer: Answer) -> int:
    """Characters of the plain `body` the answer renders to (one event, else a length no
    limit accepts): what `bot.core.render.fit_answer` measures a Matrix brief by."""
    contents = answer_contents(answer)
    return len(contents[0]["body"]) if len(contents) == 1 else MAX_CONTENT_BYTES


def _assemble(group: list[_Piece]) -> str:
    """Join one event's pieces, wrapping each run of list items in its own <ul>."""
    out: list[str] = []
    in_list = False
    for piece in group:
        if piece.item != in_list:
            out.append("<ul>" if piece.item else "</ul>")
            in_list = piece.item
        out.append(piece.html)
    if in_list:
        out.append("</ul>")
    return "".join(out)


# --- building pieces -------------------------------------------------------------------


def _pieces(answer: Answer) -> Iterator[_Piece]:
    link = safe_url(answer.link)
    title = escape(answer.title)
    title_html = f'<a href="{escape(link)}">{title}</a>' if link else title
    yield _Piece(f"{answer.title}\n", f"<p><strong>{title_html}</strong></p>")
    for section in answer.sections:
        if section.heading:
            yield _Piece(
                f"\n{section.heading}\n", f"<p><strong>{escape(section.heading)}</strong></p>"
            )
        yield from _list(section.lines)
    for note in answer.notes:
        yield _Piece(f"\n{note}\n", f"<p><em>{escape(note)}</em></p>")


def _list(lines: Iterable[Line]) -> Iterator[_Piece]:
    for line in lines:
        body, markup = _line(line)
        yield _Piece(f"• {body}\n", f"<li>{markup}</li>", item=True)


def _line(line: Line) -> tuple[str, str]:
    body = line.text
    markup = escape(line.text)
    if line.ref is not None:
        label = line.ref.label
        url = safe_url(line.ref.url)
        body += f" — {label}"
        ref_html = escape(label)
        if url:
            ref_html = f'<a href="{escape(url)}">{ref_html}</a>'
        markup += f" — {ref_html}"
    if line.detail:
        body += f" ({line.detail})"
        markup += f" <em>({escape(line.detail)})</em>"
    return body, markup


def _split_oversized(pieces: Iterable[_Piece], budget: int) -> Iterator[_Piece]:
    """A single line bigger than an event is cut into plain chunks that each fit."""
    for piece in pieces:
        if piece.cost <= budget:
            yield piece
            continue
        # Worst case one character costs 6 bytes as JSON in the body ("\u0000") and
        # 6 in the HTML ("&quot;"), so chunks of budget // 16 characters always fit.
        step = max(1, budget // 16)
        text = piece.body
        for start in range(0, len(text), step):
            chunk = text[start : start + step]
            markup = escape(chunk).replace("\n", "<br>")
            yield _Piece(
                chunk, f"<li>{markup}</li>" if piece.item else f"<p>{markup}</p>", item=piece.item
            )


# --- sizes -----------------------------------------------------------------------------


def _content(body: str, formatted: str) -> dict:
    """Control and bidi characters are dropped here, from the whole text and HTML: our own
    markup has none, and forum text must not reverse or hide what follows it."""
    return {
        "msgtype": "m.notice",
        "body": strip_invisible(body),
        "format": "org.matrix.custom.html",
        "formatted_body": strip_invisible(formatted),
        "m.mentions": {},
    }


def _size(content: dict) -> int:
    return len(json.dumps(content, ensure_ascii=False).encode("utf-8"))


def _text_size(text: str) -> int:
    """Bytes `text` adds inside a JSON string (escaping is per character, so sizes add up)."""
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8")) - 2
