"""Reader for plain-text and Markdown copies of forum threads.

Plain text (a page copied from the browser): the first line is the title; posts are
separated by lines holding only white space that is not a plain empty line (forums
render the gap between posts as a no-break space); every non-empty line is a paragraph.

Markdown (web-to-Markdown copies): "# Title", one "## AUTHOR" heading per post, rules
between posts, quotes as a "NAME said:" line followed by "> " lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.core.models import Block, PostDoc, ThreadDoc
from bot.errors import SourceError

# Page chrome that browsers copy along with the posts. Anchored: a whole line or nothing.
_CHROME = re.compile(
    r"""^(?:
        last\ edited(?:\ by\ .{1,80})?:?.{0,60}
      | top | reply | report | quote | share | like | likes | bookmark | upvote\ *\d* | downvote
      | click\ to\ (?:expand|shrink)(?:\.{1,3}|…)?
      | (?:likes|reactions)\ *:.{0,200}
      | \d+\ (?:likes?|people\ like\ this|reactions?)
      | reactions:.*
      | \+?\d+\ others?
      | reply\ *quote | multi-?quote | \#\d+
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
_SAID = re.compile(r"^(?P<name>[^\n]{1,80}?)\s+said:\s*(?:↑)?\s*$")
_CLICK_TO_EXPAND = re.compile(r"^click to expand(?:\.{1,3}|…)?$", re.IGNORECASE)
_MD_TITLE = re.compile(r"^#\s+(?P<title>\S.*)$")
_MD_AUTHOR = re.compile(r"^##\s+(?P<author>\S.*?)\s*#*\s*$")
_MD_RULE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$")


def looks_like_markdown(text: str) -> bool:
    lines = [ln for ln in text.split("\n") if ln.strip()]
    return (
        bool(lines)
        and bool(_MD_TITLE.match(lines[0]))
        and any(_MD_AUTHOR.match(ln) for ln in lines)
    )


_CHROME_STARTS = (
    "last edited", "top", "reply", "report", "quote", "share", "like", "bookmark", "upvote",
    "downvote", "click to", "reactions", "+", "#", "multi", *"0123456789",
)  # fmt: skip
"""How every line of `_CHROME` starts (lowercased): most lines are ruled out by one
startswith, not a pass of the case-insensitive pattern (680,000 lines in a big thread)."""


def is_chrome(line: str) -> bool:
    line = line.strip()
    head = line[:11]
    if head.isascii() and not head.lower().startswith(_CHROME_STARTS):
        return False
    return bool(_CHROME.match(line))


def is_separator(line: str) -> bool:
    """A post separator: white space only, but not an empty line (e.g. a lone U+00A0)."""
    return line != "" and line.strip() == ""


def read_plaintext(text: str, title: str | None = None) -> ThreadDoc:
    lines = text.split("\n")
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        raise SourceError("the file is empty")
    doc_title = title or lines[first].strip()
    body = lines[first + 1 :]
    chunks: list[list[str]] = [[]]
    for line in body:
        if is_separator(line):
            chunks.append([])
        else:
            chunks[-1].append(line)
    posts = tuple(p for p in (_post_from_lines(c) for c in chunks) if p is not None)
    if not posts:
        raise SourceError("no posts found: the file holds a title but no post text")
    return ThreadDoc(title=doc_title, posts=posts, source_kind="text")


def read_markdown(text: str) -> ThreadDoc:
    lines = text.split("\n")
    title: str | None = None
    chunks: list[tuple[str | None, list[str]]] = []
    for line in lines:
        if title is None and (m := _MD_TITLE.match(line)):
            title = m.group("title").strip()
            continue
        if m := _MD_AUTHOR.match(line):
            chunks.append((m.group("author").strip(), []))
            continue
        if _MD_RULE.match(line):
            continue
        if chunks:
            chunks[-1][1].append(line)
    if title is None:
        raise SourceError("a Markdown copy must start with a '# Title' line")
    posts = tuple(
        p
        for p in (_post_from_lines(body, author=author) for author, body in chunks)
        if p is not None
    )
    if not posts:
        raise SourceError("no posts found under the '## AUTHOR' headings")
    return ThreadDoc(title=title, posts=posts, source_kind="markdown")


def _post_from_lines(lines: Iterable[str], author: str | None = None) -> PostDoc | None:
    blocks = _blocks(list(lines))
    if not blocks:
        return None
    return PostDoc(blocks=tuple(blocks), author=author)


def _blocks(lines: list[str]) -> list[Block]:
    """Paragraphs of one post, with explicit quotes where the copy kept their markup.

    After a "NAME said:" header the quote runs to "Click to expand..." when the post has
    one, else through the "> " lines that follow, else the single next paragraph.
    """
    stripped = [ln.strip() for ln in lines]
    blocks: list[Block] = []
    i = 0
    while i < len(stripped):
        line = stripped[i]
        said = _SAID.match(line) if "said:" in line else None
        if said and i + 1 < len(stripped):
            name = said.group("name").strip()
            quoted, i = _quoted_after_header(stripped, i + 1)
            blocks.extend(Block(q, is_quote=True, quoted_author=name) for q in quoted)
            continue
        if line.startswith(">"):
            while i < len(stripped) and stripped[i].startswith(">"):
                q = stripped[i].lstrip(">").strip()
                if q and not is_chrome(q):
                    blocks.append(Block(q, is_quote=True))
                i += 1
            continue
        if line and not is_chrome(line):
            blocks.append(Block(line))
        i += 1
    return blocks


def plain_blocks(text: str) -> list[Block]:
    """`_blocks` of a text with no ">" and no "said:" (no quote markup): its non-empty
    lines that are not page chrome, without `_blocks`' checks line by line."""
    return [
        Block(line) for line in map(str.strip, text.split("\n")) if line and not is_chrome(line)
    ]


def _quoted_after_header(lines: list[str], start: int) -> tuple[list[str], int]:
    end = next(
        (j for j in range(start, len(lines)) if _CLICK_TO_EXPAND.match(lines[j])),
        None,
    )
    if end is not None:
        quoted = [ln for ln in lines[start:end] if ln and not is_chrome(ln)]
        return [q.lstrip(">").strip() for q in quoted], end + 1
    j = start
    while j < len(lines) and not lines[j]:
        j += 1
    if j < len(lines) and lines[j].startswith(">"):
        quoted = []
        while j < len(lines) and (lines[j].startswith(">") or not lines[j]):
            if lines[j].lstrip(">").strip():
                quoted.append(lines[j].lstrip(">").strip())
            j += 1
        return quoted, j
    if j < len(lines):
        return [lines[j]], j + 1
    return [], j
