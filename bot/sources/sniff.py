"""Which forum saved a page or an API answer, told from its text alone.

Each forum reader's `sniff` is the function of the same name here. They live apart from
the readers so that a file can be checked without importing Beautiful Soup and aiohttp:
ingesting a threadwise JSON file (which no forum claims) never loads them.
"""

from __future__ import annotations

import re

_REDDIT_LISTING = re.compile(r'^\s*\[\s*\{\s*"kind"\s*:\s*"Listing"')
_XF2_MARK = re.compile(r"<html\b[^>]*\bid\s*=\s*[\"']?XF[\"'\s>]", re.IGNORECASE)
_XF1_MARK = re.compile(r"<html\b[^>]*\bid\s*=\s*[\"']?XenForo[\"'\s>]", re.IGNORECASE)
_PHPBB_MARKS = (
    re.compile(r"<body[^>]*\bid\s*=\s*[\"']?phpbb\b", re.IGNORECASE),
    re.compile(r"phpBB style name", re.IGNORECASE),
    re.compile(r"Powered by\s*<a[^>]*>\s*phpBB", re.IGNORECASE),
)
_VBULLETIN_GENERATOR = re.compile(r"<meta\b[^>]*\bvBulletin\b[^>]*>", re.IGNORECASE)
_VBULLETIN_MARKS = (
    re.compile(r"\bid\s*=\s*[\"']?vbulletin_html\b", re.IGNORECASE),
    re.compile(r"Powered by\s*(?:<[^>]+>\s*)?vBulletin", re.IGNORECASE),
)
_DISCOURSE_META = re.compile(r'<meta[^>]+content="Discourse', re.IGNORECASE)


def reddit(text: str) -> bool:
    return bool(_REDDIT_LISTING.match(text[:2000]))


def xenforo(text: str) -> bool:
    head = text[:4096] if isinstance(text, str) else ""
    return bool(_XF2_MARK.search(head) or _XF1_MARK.search(head))


def phpbb(text: str) -> bool:
    head = text[:300_000] if isinstance(text, str) else ""
    return any(mark.search(head) for mark in _PHPBB_MARKS)


def vbulletin(text: str) -> bool:
    if not isinstance(text, str):
        return False
    head = text[:300_000]
    generator = _VBULLETIN_GENERATOR.search(head)
    if generator and "generator" in generator.group(0).lower():
        return True
    return any(mark.search(head) for mark in _VBULLETIN_MARKS)


def discourse(text: str) -> bool:
    head = text.lstrip()[:4096]
    if head.startswith("{"):
        return '"post_stream"' in text[:2_000_000]
    return bool(_DISCOURSE_META.search(head + text[:20000]))


FORUMS = {
    "reddit": reddit,
    "xenforo": xenforo,
    "phpbb": phpbb,
    "vbulletin": vbulletin,
    "discourse": discourse,
}
"""Reader name → its sniff (bot.sources.web.URL_READERS holds the same readers)."""


def any_forum(text: str) -> bool:
    """Whether some forum reader claims `text`."""
    return any(check(text) for check in FORUMS.values())
