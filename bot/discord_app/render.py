"""Neutral answers (bot.core.render.Answer) → Discord messages that are safe and always fit.

Forum text is other people's words: it is escaped for Discord markdown, mentions are
neutralised (on top of AllowedMentions.none() on every request), raw URLs are wrapped in
<...> so they do not unfurl, and link labels are *stripped* of markdown, because Discord
ignores escapes inside masked-link text (discord-api-docs#6185).

Every limit is counted as Discord counts it, in UTF-16 code units: 2000 per content,
per embed title 256 / description 4096 / footer 2048, 6000 across one message's embeds,
10 embeds per message. Text is split on line, then sentence, then word boundaries; a
piece is escaped on its own, so a split never falls inside an escape or a markdown span.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit, urlunsplit

import discord

from bot.core.render import INVISIBLE, Answer, Line, Ref, fit_answer

CONTENT_MAX = 2000
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FOOTER_MAX = 2048
EMBED_TOTAL_MAX = 6000
EMBEDS_MAX = 10
LABEL_MAX = 60
URL_MAX = 1000
DETAIL_MAX = 200
EMBED_COLOUR = 0x3B82F6

ZWSP = "\u200b"
_INVISIBLE = INVISIBLE  # C0/C1 controls and bidi overrides/isolates
_SPACE = re.compile(r"\s+")
_URL = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\")]}"
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_INLINE_MARKDOWN = re.compile(r"([\\*_~|`\[\]])")
_BLOCK_START = re.compile(r"^[#>+-]")
_LIST_START = re.compile(r"^(\d+)([.)])")
_LABEL_DROP = re.compile(r"[\[\]()<>*_~|`#\\@:/\"]+")
_SCHEME = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://")
_DOMAIN_DOT = re.compile(r"(?<=\w)\.(?=\w)")
_NETLOC = re.compile(r"(?:[\w-]+\.)*[\w-]+\.?(?::\d{1,5})?|\[[0-9A-Fa-f:.]+\](?::\d{1,5})?")
_URL_UNSAFE = {c: quote(c, safe="") for c in '@()<>"` |*_~[]\\'}


def utf16_len(text: str) -> int:
    """Length as Discord counts it: UTF-16 code units (an astral emoji counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def clean(text: str) -> str:
    """One line of visible text: no control or bidi characters, whitespace collapsed."""
    return _SPACE.sub(" ", _INVISIBLE.sub("", text)).strip()


def safe_url(url: str | None) -> str | None:
    """An http(s) URL fit to link, or None. The host must be a plain host name or address,
    and the characters that could end a link or start markdown are percent-encoded."""
    if not url or len(url) > URL_MAX or _SPACE.search(url) or _INVISIBLE.search(url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    if not _NETLOC.fullmatch(parts.netloc):  # no credentials (they spoof the host), no junk
        return None
    rest = "".join(_URL_UNSAFE.get(c, c) for c in urlunsplit(("", "", *parts[2:])))
    return f"{parts.scheme.lower()}://{parts.netloc}{rest}"


def url_domain(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def escape_text(text: str) -> str:
    """Forum text → Discord markdown that shows exactly that text and pings no one."""
    text = clean(text)
    out: list[str] = []
    pos = 0
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_URL_TRAILING)
        start, end = match.start(), match.start() + len(url)
        linked = safe_url(url)
        if linked is None:
            continue  # escaped as ordinary text below
        out.append(_escape_words(text[pos:start]))
        out.append(f"<{linked}>")
        pos = end
    out.append(_escape_words(text[pos:]))
    escaped = "".join(out)
    # The text is one line now, and block markdown (headers, -# subtext, quotes, lists)
    # only acts at a line start; a piece always starts a line or follows other text.
    escaped = _LIST_START.sub(r"\1\\\2", escaped, count=1)
    return _BLOCK_START.sub(r"\\\g<0>", escaped, count=1)


def _escape_words(text: str) -> str:
    """Backslash before every inline markdown character, ZWSP after every `<`.

    Not discord.utils.escape_markdown: its masked-link alternative `\\[.+\\]\\(.+\\)` swallows
    the whole span from the first `[` to the last `)` and escapes nothing inside it (so
    `[a](b)_x_[c](d)` keeps live underscores), and it leaves the later `[c](d)` a link.
    """
    escaped = _INLINE_MARKDOWN.sub(r"\\\1", text)
    escaped = escaped.replace("<", "<" + ZWSP)  # <@id>, <@&id>, <#id>, </cmd:id>, <t:…>
    return discord.utils.escape_mentions(escaped)  # @everyone, @here


def link_label(text: str) -> str:
    """Visible text of a masked link: stripped (escapes are ignored there) and never
    shaped like a URL or a domain, so the real destination is not disguised."""
    label = _SCHEME.sub("", clean(text))
    label = _LABEL_DROP.sub(" ", label)
    label = _DOMAIN_DOT.sub("·", label)
    label = _SPACE.sub(" ", label).strip()
    if len(label) > LABEL_MAX:
        label = label[: LABEL_MAX - 1].rstrip() + "…"
    return label or "someone"


# --- splitting ------------------------------------------------------------------------------


def split_escaped(text: str, budget: int) -> list[str]:
    """Escaped pieces of `text`, each at most `budget` UTF-16 units, cut at sentence,
    then word, then character boundaries of the *raw* text."""
    if budget < 8:
        raise ValueError("budget too small to hold any text")
    text = clean(text)
    if not text:
        return []
    whole = escape_text(text)
    if utf16_len(whole) <= budget:
        return [whole]
    tokens: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        if utf16_len(escape_text(sentence)) <= budget:
            tokens.append(sentence)
            continue
        for word in sentence.split(" "):
            tokens.extend(_hard_split(word, budget))
    return _pack_tokens(tokens, budget)


def _hard_split(word: str, budget: int) -> list[str]:
    if utf16_len(escape_text(word)) <= budget:
        return [word]
    # Escaping at most triples a code point (`@` in a URL → %40) and a URL adds <...>;
    # an astral character is 2 units either way.
    step = max(1, (budget - 4) // 3)
    return [word[i : i + step] for i in range(0, len(word), step)]


def _pack_tokens(tokens: list[str], budget: int) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    estimate = 0
    for token in tokens:
        cost = utf16_len(escape_text(token)) + 1  # +1: the joining space or a line-start escape
        if current and estimate + cost > budget:
            pieces.extend(_exact(" ".join(current), budget))
            current, estimate = [], 0
        current.append(token)
        estimate += cost
    if current:
        pieces.extend(_exact(" ".join(current), budget))
    return pieces


def _exact(raw: str, budget: int) -> list[str]:
    """Escape a packed piece; the estimate is an upper bound, this is the safety net."""
    escaped = escape_text(raw)
    if utf16_len(escaped) <= budget or len(raw) < 2:
        return [escaped] if escaped else []
    middle = raw.rfind(" ", 0, len(raw) // 2 + 1)
    middle = middle if middle > 0 else len(raw) // 2
    return _exact(raw[:middle], budget) + _exact(raw[middle:], budget)


def truncate_escaped(text: str, budget: int) -> str:
    """One escaped piece within budget; the rest is cut with an ellipsis (titles only)."""
    pieces = split_escaped(text, budget - 1)
    if not pieces:
        return ""
    return pieces[0] + ("…" if len(pieces) > 1 else "")


# --- answers → messages -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One Discord message: plain content and/or embeds, already within every limit."""

    content: str | None = None
    embeds: tuple[discord.Embed, ...] = field(default_factory=tuple)


def attribution(ref: Ref | None, fallback_url: str | None = None) -> str:
    """The " — [#12 alice](<url>)" tail every attributed line carries."""
    if ref is None:
        return ""
    label = f"#{ref.post} {link_label(ref.author)}" if ref.author else f"#{ref.post}"
    url = safe_url(ref.url) or safe_url(fallback_url)
    if url is None:
        return f" — {escape_text(label)}"
    return f" — [{label}](<{url}>)"


def line_units(line: Line, fallback_url: str | None = None) -> list[str]:
    """A line as description units; a line too long for one embed repeats its link."""
    tail = attribution(line.ref, fallback_url)
    indent = "\u2003" * ((len(line.text) - len(line.text.lstrip(" "))) // 2)  # reply chains
    if line.detail:
        detail = clean(line.detail)[:DETAIL_MAX]
        tail += f" · *{escape_text(detail)}*" if detail else ""
    pieces = split_escaped(line.text, DESCRIPTION_MAX - utf16_len(tail) - len(indent))
    if not pieces:
        return [tail.removeprefix(" — ")] if tail else []
    return [indent + piece + tail for piece in pieces]


def answer_units(answer: Answer) -> list[str]:
    units: list[str] = []
    fallback = answer.link
    for number, section in enumerate(answer.sections):
        if section.heading:
            if number and units:
                units.append("")  # a blank line before a new section heading
            units.extend(f"**{p}**" for p in split_escaped(section.heading, DESCRIPTION_MAX - 4))
        for line in section.lines:
            units.extend(line_units(line, fallback))
    for note in answer.notes:
        units.extend(f"*{p}*" for p in split_escaped(note, DESCRIPTION_MAX - 2))
    return units


def link_footer(answer: Answer) -> str:
    """Names the domains the links go to: a label can never disguise where it leads."""
    urls = [answer.link] + [
        line.ref.url for section in answer.sections for line in section.lines if line.ref
    ]
    domains = sorted({url_domain(u) for u in (safe_url(x) for x in urls) if u})
    if not domains:
        return ""
    shown = ", ".join(domains[:3]) + (f" and {len(domains) - 3} more" if len(domains) > 3 else "")
    return clean(f"Links go to {shown}")[:200]


def render_answer(answer: Answer, *, image: str | None = None) -> list[Outgoing]:
    """An Answer as one or more messages of embeds. `image` (e.g. "attachment://g.png")
    is shown in the first embed."""
    title = truncate_escaped(answer.title, TITLE_MAX) or "threadwise"
    url = safe_url(answer.link)
    footer = link_footer(answer)
    units = answer_units(answer) or ["*Nothing to show.*"]
    descriptions = _pack_descriptions(units, first_reserve=utf16_len(title) + utf16_len(footer))
    reserve = utf16_len(footer)  # the footer goes on the last embed of the last message
    messages: list[list[discord.Embed]] = [[]]
    total = reserve
    for index, description in enumerate(descriptions):
        embed = discord.Embed(description=description, colour=EMBED_COLOUR)
        size = utf16_len(description)
        if index == 0:
            embed.title = title
            embed.url = url
            if image:
                embed.set_image(url=image)
            size += utf16_len(title)
        if messages[-1] and (total + size > EMBED_TOTAL_MAX or len(messages[-1]) >= EMBEDS_MAX):
            messages.append([])
            total = reserve
        messages[-1].append(embed)
        total += size
    if footer:
        messages[-1][-1].set_footer(text=footer)
    return [Outgoing(embeds=tuple(embeds)) for embeds in messages]


def rendered_size(outgoing: Sequence[Outgoing]) -> int:
    """UTF-16 units of everything a reader sees in the messages (content and embeds)."""
    size = 0
    for message in outgoing:
        size += utf16_len(message.content or "")
        for embed in message.embeds:
            size += utf16_len(embed.title or "") + utf16_len(embed.description or "")
            size += utf16_len(embed.footer.text or "") if embed.footer else 0
    return size


def render_one_message(answer: Answer, limit: int = CONTENT_MAX) -> Outgoing:
    """The answer cut (bot.core.render.fit_answer) until it renders as one message of one
    embed with at most `limit` units in all, links and escapes counted: a brief is one
    chat message, 2,000 characters like a plain Discord message."""

    def measure(candidate: Answer) -> int:
        outgoing = render_answer(candidate)
        if len(outgoing) != 1 or len(outgoing[0].embeds) != 1:
            return limit + 1
        return rendered_size(outgoing)

    (message,) = render_answer(fit_answer(answer, limit, measure))
    return message


def _pack_descriptions(units: Sequence[str], first_reserve: int) -> list[str]:
    """Join units with newlines into descriptions that fit an embed *and* a message."""
    limit_first = min(DESCRIPTION_MAX, EMBED_TOTAL_MAX - first_reserve)
    out: list[str] = []
    current: list[str] = []
    length = 0
    for unit in units:
        limit = limit_first if not out else DESCRIPTION_MAX
        cost = utf16_len(unit) + (1 if current else 0)
        if current and length + cost > limit:
            out.append("\n".join(current).strip("\n"))
            current, length, cost = [], 0, utf16_len(unit)
        if not current and not unit:
            continue  # no blank line at the top of an embed
        current.append(unit)
        length += cost
    if current:
        out.append("\n".join(current).strip("\n"))
    return [d for d in out if d]


def render_plain(paragraphs: Iterable[str]) -> list[Outgoing]:
    """Status text (which may quote thread titles) as escaped plain messages ≤ 2000 units."""
    units: list[str] = []
    for paragraph in paragraphs:
        units.extend(split_escaped(paragraph, CONTENT_MAX))
    messages: list[str] = []
    for unit in units:
        if messages and utf16_len(messages[-1]) + 1 + utf16_len(unit) <= CONTENT_MAX:
            messages[-1] += "\n" + unit
        else:
            messages.append(unit)
    return [Outgoing(content=m) for m in messages] or [Outgoing(content="Done.")]


__all__ = [
    "CONTENT_MAX",
    "DESCRIPTION_MAX",
    "EMBEDS_MAX",
    "EMBED_TOTAL_MAX",
    "FOOTER_MAX",
    "TITLE_MAX",
    "Outgoing",
    "attribution",
    "clean",
    "escape_text",
    "link_label",
    "render_answer",
    "render_one_message",
    "render_plain",
    "rendered_size",
    "safe_url",
    "split_escaped",
    "utf16_len",
]
