"""phpBB 3 and vBulletin 3/4/5 readers: real saved pages, pages of our own, a loopback server.

Expected numbers come from the raw files by regular expressions, never from the readers.
"""

from __future__ import annotations

import html as htmllib
import re
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.core.models import ThreadDoc
from bot.core.quotes import infer_quotes
from bot.errors import SourceError
from bot.sources import phpbb, vbulletin
from bot.sources.base import ReadOptions
from tests.conftest import SHARED, need_shared
from tests.sources.test_xenforo import (  # the loopback forum and fetcher fixtures
    CHROME,
    fetcher,  # noqa: F401 - pytest fixture
    forum,  # noqa: F401 - pytest fixture
)

FIXTURES = SHARED / "fixtures"
PHPBB = FIXTURES / "phpbb" / "phpbb3_ilovephilosophy_biological-will.html"
VB4 = FIXTURES / "other" / "vbulletin4_bob-dorr-dies-at-76.html"
VB5 = FIXTURES / "other" / "vbulletin5_fandompost_isekai-quartet.html"


def chunks(raw: str, start: str, end_marker: str) -> list[str]:
    """The raw HTML of each post: from one post's start to the next (the last to end_marker)."""
    starts = [m.start() for m in re.finditer(start, raw)]
    end = raw.index(end_marker, starts[-1])
    return [raw[a:b] for a, b in zip(starts, [*starts[1:], end], strict=True)]


def split_pages(raw: str, start: str, end_marker: str, sizes: tuple[int, ...]) -> list[str]:
    parts = chunks(raw, start, end_marker)
    first = re.search(start, raw)
    assert first is not None
    head, tail = raw[: first.start()], raw[raw.index(end_marker, first.start()) :]
    pages, at = [], 0
    for size in sizes:
        pages.append(head + "".join(parts[at : at + size]) + tail)
        at += size
    return pages


def explicit_edges(doc: ThreadDoc) -> Counter[tuple[int, int | None]]:
    analysed = infer_quotes(doc)
    return Counter(
        (post.number, seg.source_post)
        for post in analysed.posts
        for seg in post.segments
        if seg.kind == "quote" and seg.explicit
    )


def assert_clean(doc: ThreadDoc) -> None:
    for post in doc.posts:
        for block in post.blocks:
            assert block.text and block.text == block.text.strip() and "\n" not in block.text
            assert not any(c in block.text for c in CHROME), block.text


# --- phpBB 3.0: the real ILovePhilosophy page --------------------------------------------------

PHPBB_POST = r'<div id="p\d+" class="post'


@pytest.fixture(scope="module")
def phpbb_raw() -> str:
    return need_shared(PHPBB).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def phpbb_doc(phpbb_raw) -> ThreadDoc:
    return phpbb.READER.parse_saved(phpbb_raw)


def test_phpbb_posts_authors_ids_and_quotes_match_the_file(phpbb_raw, phpbb_doc):
    ids = re.findall(r'<div id="p(\d+)" class="post', phpbb_raw)
    authors = re.findall(
        r'<p class="author">.*?by <strong><a [^>]*>([^<]+)</a></strong>', phpbb_raw
    )
    assert len(ids) == len(authors) == 25
    doc = phpbb_doc
    assert doc.title == "Biological Will" and doc.source_kind == "phpbb"
    assert [p.source_id for p in doc.posts] == ids
    assert [p.author for p in doc.posts] == authors
    for post, raw in zip(
        doc.posts, chunks(phpbb_raw, PHPBB_POST, '<form id="viewtopic"'), strict=True
    ):
        cited = [htmllib.unescape(a) for a in re.findall(r"<cite>(.*?) wrote:</cite>", raw)]
        uncited = raw.count("<blockquote") - len(cited)
        got = Counter(b.quoted_author for b in post.blocks if b.is_quote)
        assert got == Counter(cited) + Counter({None: uncited}) - Counter(), post.source_id
        assert not any(b.quoted_source_id for b in post.blocks)  # phpBB 3.0 names no post
    assert sum(1 for p in doc.posts for b in p.blocks if b.is_quote) == phpbb_raw.count(
        "<blockquote"
    )
    assert doc.notes and "page 2 of 10" in doc.notes[0]
    assert doc.url == "http://ilovephilosophy.com/viewtopic.php?f=1&t=194998"


def test_phpbb_chrome_times_and_links(phpbb_doc):
    doc = phpbb_doc
    assert_clean(doc)
    everything = "\n".join(p.text for p in doc.posts)
    assert "For behold, all acts of love" not in everything  # a signature
    assert "Last edited by" not in everything and "wrote:" not in everything
    first = doc.posts[0]
    # "Sun May 26, 2019 4:34 pm", footer "All times are UTC [ DST ]" → UTC+1.
    assert first.time == datetime(2019, 5, 26, 16, 34, tzinfo=timezone(timedelta(hours=1)))
    assert first.url == "http://ilovephilosophy.com/viewtopic.php?p=2729870#p2729870"
    assert all(p.time is not None for p in doc.posts)


def test_phpbb_nested_quote_is_its_own_block(phpbb_doc):
    post = next(p for p in phpbb_doc.posts if p.source_id == "2730367")
    quotes = [(b.quoted_author, b.text[:40]) for b in post.blocks if b.is_quote]
    # promethean75 quoted Silhouette inside his own quote: inner first, then the outer words.
    assert [a for a, _ in quotes] == ["Silhouette", "promethean75", "Silhouette"]
    assert quotes[1][1].startswith("you might have missed sil's earlier poin")


def test_phpbb_quotes_find_their_posts_by_author_and_words(phpbb_doc):
    analysed = infer_quotes(phpbb_doc)
    number = {p.source_id: p.number for p in analysed.posts}
    edges = {(e.from_post, e.to_post) for e in analysed.edges}
    # Read off the page: Jakob quotes Urwrongx1000's 2729874, Urwrongx1000 answers Jakob's
    # 2729876, Artimas quotes Jakob's 2729888, Jakob quotes Artimas's 2729891.
    for quoting, quoted in [
        ("2729876", "2729874"),
        ("2729881", "2729876"),
        ("2729891", "2729888"),
        ("2729894", "2729891"),
    ]:
        assert (number[quoting], number[quoted]) in edges


def phpbb_nav(page: int, last: int, per_page: int) -> str:
    links = []
    for n in range(1, last + 1):
        start = "" if n == 1 else f"&amp;start={(n - 1) * per_page}"
        links.append(
            f"<strong>{n}</strong>"
            if n == page
            else f'<a href="./viewtopic.php?f=1&amp;t=194998{start}">{n}</a>'
        )
    return (
        '<div class="pagination">25 posts &bull; <a href="#" onclick="jumpto(); return false;">'
        f"Page <strong>{page}</strong> of <strong>{last}</strong></a> &bull; <span>"
        + '<span class="page-sep">, </span>'.join(links)
        + "</span></div>"
    )


async def test_phpbb_topic_over_three_served_pages(forum, fetcher, phpbb_raw):  # noqa: F811
    pages = split_pages(phpbb_raw, PHPBB_POST, '<form id="viewtopic"', (10, 10, 5))
    for n, html in enumerate(pages, start=1):
        html = re.sub(
            r'<div class="pagination">.*?</div>', phpbb_nav(n, 3, 10), html, flags=re.DOTALL
        )
        forum.serve(
            "/viewtopic.php?f=1&t=194998" + ("" if n == 1 else f"&start={(n - 1) * 10}"), html
        )
    lines: list[str] = []
    url = forum.url("/viewtopic.php?f=1&t=194998&start=20&sid=0123abcd")
    doc = await phpbb.READER.read(fetcher, url, ReadOptions(progress=lines.append))
    assert forum.requests == [
        "/viewtopic.php?f=1&t=194998",
        "/viewtopic.php?f=1&t=194998&start=10",
        "/viewtopic.php?f=1&t=194998&start=20",
    ]
    assert lines == ["page 1 of 3", "page 2 of 3", "page 3 of 3"]
    assert [p.source_id for p in doc.posts] == re.findall(
        r'<div id="p(\d+)" class="post', phpbb_raw
    )
    assert doc.url == forum.url("/viewtopic.php?f=1&t=194998")
    assert fetcher.refused == []
    capped = await phpbb.READER.read(fetcher, url, ReadOptions(max_pages=1))
    assert len(capped.posts) == 10
    assert capped.notes == ("stopped at page 1 of 3; run refresh to continue",)


# --- phpBB 3.3 and a board index, in our own words ------------------------------------------

PHPBB33 = """<!DOCTYPE html><html dir="ltr" lang="en-gb"><head><meta charset="utf-8" />
<title>Ferry timetable - Harbour Board</title></head>
<body id="phpbb" class="nojs notouch section-viewtopic ltr">
<div id="page-body" class="page-body">
<h2 class="topic-title"><a href="./viewtopic.php?t=77&amp;sid=feedbeef">Ferry timetable</a></h2>
<div class="action-bar bar-top"><div class="pagination">2 posts &bull; Page <strong>1</strong>
 of <strong>1</strong></div></div>
<div id="p501" class="post has-profile bg2"><div class="inner">
 <dl class="postprofile" id="profile501"><dt><a href="./memberlist.php?mode=viewprofile&amp;u=5"
  class="username-coloured" style="color:#AA0000">Harbourmaster</a></dt></dl>
 <div class="postbody"><div id="post_content501">
  <h3 class="first"><a href="#p501">Ferry timetable</a></h3>
  <p class="author"><a class="unread" href="./viewtopic.php?p=501#p501" title="Post">
   <span class="sr-only">Post</span></a><span class="responsive-hide">by <strong>
   <a href="./memberlist.php?mode=viewprofile&amp;u=5" class="username-coloured">Harbourmaster</a>
   </strong> &raquo; </span><time datetime="2024-07-01T08:15:00+00:00">Mon Jul 01, 2024 10:15 am
   </time></p>
  <div class="content">The winter ferry leaves at seven and returns at five.<br>
   <div class="codebox"><p>Code: <a href="#">Select all</a></p>
   <pre><code>07:00 -> 17:00</code></pre></div>
  </div>
  <div class="notice">Last edited by Harbourmaster on Mon Jul 01, 2024 10:20 am.</div>
  <div id="sig501" class="signature">Fair winds.</div>
 </div></div></div></div>
<div id="p502" class="post has-profile bg1"><div class="inner">
 <div class="postbody"><div id="post_content502">
  <p class="author"><a class="unread" href="./viewtopic.php?p=502#p502" title="Post"></a>
   <span class="responsive-hide">by <strong><a href="./memberlist.php?mode=viewprofile&amp;u=6"
   class="username">Deckhand</a></strong> &raquo; </span>
   <time datetime="2024-07-01T09:00:00+00:00">Mon Jul 01, 2024 11:00 am</time></p>
  <div class="content"><blockquote cite="./viewtopic.php?p=501#p501"><div><cite>
   <a href="./memberlist.php?mode=viewprofile&amp;u=5">Harbourmaster</a> wrote:
   <a href="./viewtopic.php?p=501#p501" data-post-id="501" onclick="">&uarr;</a>
   <span class="responsive-hide">Mon Jul 01, 2024 10:15 am</span></cite>
   <blockquote class="uncited"><div>Seven sharp, weather permitting.</div></blockquote>
   The winter ferry leaves at seven and returns at five.</div></blockquote>
   Five is too early for anyone who works in town.</div>
 </div></div></div></div>
</div>
<div class="copyright">Powered by <a href="https://www.phpbb.com/">phpBB</a>&reg;</div>
<p>All times are <span title="Europe/Paris">UTC+02:00</span></p>
</body></html>"""


def test_phpbb_33_page_of_our_own():
    page = phpbb.parse_page(PHPBB33, "https://harbour.example/forum/viewtopic.php?t=77&start=0")
    assert page.title == "Ferry timetable"
    assert page.thread_url == "https://harbour.example/forum/viewtopic.php?t=77"
    assert (page.page, page.last_page) == (1, 1)
    first, second = page.posts
    assert (first.author, first.source_id) == ("Harbourmaster", "501")
    assert first.time == datetime(2024, 7, 1, 8, 15, tzinfo=UTC)
    assert first.url == "https://harbour.example/forum/viewtopic.php?p=501#p501"
    assert [b.text for b in first.blocks] == [
        "The winter ferry leaves at seven and returns at five.",
        "[code]",
    ]
    assert [(b.text, b.is_quote, b.quoted_author, b.quoted_source_id) for b in second.blocks] == [
        ("Seven sharp, weather permitting.", True, None, None),
        ("The winter ferry leaves at seven and returns at five.", True, "Harbourmaster", "501"),
        ("Five is too early for anyone who works in town.", False, None, None),
    ]
    doc = ThreadDoc(title=page.title, posts=page.posts, source_kind="phpbb")
    assert explicit_edges(doc)[(2, 1)] == 1


def test_phpbb_board_index_is_not_a_topic():
    index = PHPBB33.replace("section-viewtopic", "section-viewforum")
    with pytest.raises(
        SourceError, match=r"this phpBB page is not a topic \(it is the “viewforum”"
    ):
        phpbb.READER.parse_saved(index)
    bare = '<html><body id="phpbb"><p>Board index</p></body></html>'
    with pytest.raises(SourceError, match="not a topic"):
        phpbb.READER.parse_saved(bare)


async def test_unfollowable_page_links_are_reported(forum, fetcher):  # noqa: F811
    # "Page 1 of 3" but no page links and no per_page hint: say so instead of going quiet.
    url = forum.serve(
        "/forum/viewtopic.php?t=77",
        PHPBB33.replace(
            "<strong>1</strong>\n of <strong>1</strong>", "<strong>1</strong> of <strong>3</strong>"
        ),
    )
    doc = await phpbb.READER.read(fetcher, url, ReadOptions())
    assert forum.requests == ["/forum/viewtopic.php?t=77"]
    assert doc.notes == ("read page 1 of 3; the links to later pages could not be followed",)
    assert len(doc.posts) == 2


def test_phpbb_zone_from_a_classic_footer():
    classic = PHPBB33.replace(
        '<p>All times are <span title="Europe/Paris">UTC+02:00</span></p>',
        "<p>All times are UTC - 5 hours</p>",
    )
    classic = re.sub(r"<time [^>]*>(.*?)</time>", r"\1", classic, flags=re.DOTALL)
    page = phpbb.parse_page(classic, "https://harbour.example/forum/viewtopic.php?t=77")
    assert page.posts[0].time == datetime(2024, 7, 1, 10, 15, tzinfo=timezone(timedelta(hours=-5)))


# --- vBulletin 4: the real Military Times page ------------------------------------------------

VB4_POST = r'<li class="postbitlegacy[^"]*" id="post_\d+">'
VB4_THREAD = "/showthread.php/9687-Legendary-military-columnist-author-Bob-Dorr-dies-at-76"


@pytest.fixture(scope="module")
def vb4_raw() -> str:
    return need_shared(VB4).read_text(encoding="utf-8")


def vb4_quotes(raw: str) -> list[tuple[str, str]]:
    return [
        (htmllib.unescape(a), i)
        for a, i in re.findall(
            r"Originally Posted by <strong>([^<]+)</strong>\s*"
            r'<a href="showthread\.php\?p=(\d+)#post\d+"',
            raw,
        )
    ]


def test_vb4_posts_authors_ids_and_quotes_match_the_file(vb4_raw):
    ids = re.findall(r'<li class="postbitlegacy[^"]*" id="post_(\d+)">', vb4_raw)
    authors = [
        htmllib.unescape(a)
        for a in re.findall(
            r'<a class="username [^"]*" href="[^"]*" title="[^"]*"><strong>([^<]+)</strong>',
            vb4_raw,
        )
    ]
    assert len(ids) == len(authors) == 10
    doc = vbulletin.READER.parse_saved(vb4_raw)
    assert doc.title == "Legendary military columnist, author Bob Dorr dies at 76"
    assert doc.source_kind == "vbulletin"
    assert [p.source_id for p in doc.posts] == ids
    assert [p.author for p in doc.posts] == authors
    want = [vb4_quotes(c) for c in chunks(vb4_raw, VB4_POST, "</ol>")]
    assert sum(len(q) for q in want) == 5  # SOURCES.md
    got = [
        [(b.quoted_author, b.quoted_source_id) for b in p.blocks if b.is_quote] for p in doc.posts
    ]
    assert got == want
    number = {i: n for n, i in enumerate(ids, start=1)}
    assert explicit_edges(doc) == Counter(
        (n, number[i]) for n, quotes in enumerate(want, start=1) for _, i in quotes
    )
    assert doc.notes and "page 1 of 2" in doc.notes[0]
    assert_clean(doc)
    everything = "\n".join(p.text for p in doc.posts)
    assert "six inches on the battlefield" not in everything  # a signature
    assert "Reply With Quote" not in everything and "Originally Posted" not in everything
    # "06-15-2016, 03:03 PM" with "All times are GMT" in the footer.
    assert doc.posts[0].time == datetime(2016, 6, 15, 15, 3, tzinfo=UTC)
    assert doc.posts[0].url == (
        "http://forums.militarytimes.com" + VB4_THREAD + "?p=365266&viewfull=1#post365266"
    )


def vb4_suffix(page: int) -> str:
    return "" if page == 1 else f"/page{page}"


def vb4_nav(page: int, last: int) -> str:
    links = "".join(
        f'<span class="selected"><a href="javascript://">{n}</a></span>'
        if n == page
        else f'<span><a href="{VB4_THREAD.lstrip("/")}{vb4_suffix(n)}">{n}</a></span>'
        for n in range(1, last + 1)
    )
    return (
        '<form action="#" method="get" class="pagination popupmenu nohovermenu">'
        f'<span><a href="javascript://" class="popupctrl">Page {page} of {last}</a></span>{links}'
        "</form>"
    )


async def test_vb4_thread_over_two_served_pages(forum, fetcher, vb4_raw):  # noqa: F811
    pages = split_pages(vb4_raw, VB4_POST, "</ol>", (5, 5))
    for n, html in enumerate(pages, start=1):
        html = re.sub(
            r'<form action="[^"]*" method="get" class="pagination[^"]*">.*?</form>',
            vb4_nav(n, 2),
            html,
            flags=re.DOTALL,
        )
        forum.serve(VB4_THREAD + ("" if n == 1 else f"/page{n}"), html)
    lines: list[str] = []
    doc = await vbulletin.READER.read(
        fetcher, forum.url(VB4_THREAD + "/page2"), ReadOptions(progress=lines.append)
    )
    # The page's <base href> names the real forum; the reader stays on the host it was given.
    assert fetcher.refused == []
    assert forum.requests == [VB4_THREAD, VB4_THREAD + "/page2"]
    assert lines == ["page 1 of 2", "page 2 of 2"]
    assert [p.source_id for p in doc.posts] == re.findall(r'id="post_(\d+)">', vb4_raw)
    assert doc.notes == ()


# --- vBulletin 5: the real FandomPost page ------------------------------------------------------


def test_vb5_posts_authors_ids_times_and_quotes_match_the_file():
    raw = need_shared(VB5).read_text(encoding="utf-8")
    heads = re.findall(
        r'<li data-node-id="(\d+)"\s*data-node-publishdate="(\d+)"\s*class="b-post js-post', raw
    )
    authors = [
        re.sub(r"<[^>]+>", "", a)
        for a in re.findall(
            r'<div class="author h-text-size--14">\s*<strong><a [^>]*>(.*?)</a>', raw
        )
    ]
    assert len(heads) == len(authors) == 15
    doc = vbulletin.READER.parse_saved(raw)
    assert doc.title == "Isekai Quartet Discussion Thread"
    assert [p.source_id for p in doc.posts] == [i for i, _ in heads]
    assert [p.author for p in doc.posts] == authors
    assert [p.time for p in doc.posts] == [datetime.fromtimestamp(int(t), UTC) for _, t in heads]
    want = []
    for chunk in chunks(raw, r'<li data-node-id="\d+"\s*data-node-publishdate', "</html>"):
        boxes = re.findall(r'<div class="bbcode_postedby">(.*?)</div>', chunk, re.DOTALL)
        want.append(
            [
                (
                    re.search(r"Originally posted by <strong>([^<]+)</strong>", box).group(1),  # type: ignore[union-attr]
                    re.search(r"\?p=(\d+)#post", box).group(1),  # type: ignore[union-attr]
                )
                for box in boxes
            ]
        )
    assert sum(len(q) for q in want) == 5  # SOURCES.md
    got = [
        [(b.quoted_author, b.quoted_source_id) for b in p.blocks if b.is_quote] for p in doc.posts
    ]
    assert got == want
    number = {i: n for n, (i, _) in enumerate(heads, start=1)}
    assert explicit_edges(doc) == Counter(
        (n, number[i]) for n, quotes in enumerate(want, start=1) for _, i in quotes
    )
    assert doc.notes and "page 1 of 2" in doc.notes[0]
    assert_clean(doc)
    assert "My Avatar:" not in "\n".join(p.text for p in doc.posts)  # a signature


# --- vBulletin 3 and a forum listing, in our own words -----------------------------------------

VB3 = """<html dir="ltr" lang="en"><head>
<meta name="generator" content="vBulletin 3.8.11" />
<script type="text/javascript">var SESSIONURL = ""; var THIS_SCRIPT = "showthread";</script>
<title>Allotment water rota - Green Lanes Forum</title></head><body>
<td class="navbar"><strong>Allotment water rota</strong></td>
<div class="pagenav" align="right"><table><tr><td class="vbmenu_control">Page 1 of 3</td>
<td class="alt2"><strong>1</strong></td>
<td class="alt1"><a class="smallfont" href="showthread.php?t=42&amp;page=2">2</a></td>
<td class="alt1"><a class="smallfont" href="showthread.php?t=42&amp;page=3">3</a></td>
</tr></table></div>
<div id="posts">
<div id="edit9001"><table id="post9001" class="tborder"><tr>
 <td class="thead"><a name="post9001"><img src="old.gif" alt="Old" /></a> 03-02-2009, 07:45 PM</td>
 <td class="thead">#<a href="showpost.php?p=9001&amp;postcount=1" id="postcount9001">1</a></td>
</tr><tr><td class="alt2"><a class="bigusername" href="member.php?u=3">Rosa</a></td>
 <td class="alt1" id="td_post_9001"><div id="post_message_9001">
  Whoever has plot 12 keeps leaving the tap running overnight.<br />
  <div style="margin:20px; margin-top:5px"><div class="smallfont">Code:</div>
  <pre class="alt2">tap 12: on</pre></div>
 </div><div>__________________<br />Grow your own.</div></td></tr></table></div>
<div id="edit9002"><table id="post9002" class="tborder"><tr>
 <td class="thead"><a name="post9002"><img src="old.gif" alt="Old" /></a> 03-02-2009, 08:10 PM</td>
</tr><tr><td class="alt2"><a class="bigusername" href="member.php?u=4">Tomasz</a></td>
 <td class="alt1" id="td_post_9002"><div id="post_message_9002">
  <div style="margin:20px; margin-top:5px; "><div class="smallfont" style="margin-bottom:2px">Quote:
  </div><table cellpadding="6" cellspacing="0" border="0" width="100%"><tr>
  <td class="alt2" style="border:1px inset"><div>Originally Posted by <strong>Rosa</strong>
  <a href="showthread.php?p=9001#post9001" rel="nofollow"><img src="vp.gif" alt="View Post" /></a>
  </div><div style="font-style:italic">Whoever has plot 12 keeps leaving the tap running
  overnight.</div></td></tr></table></div>That was me, sorry, the valve is broken.
 </div></td></tr></table></div>
</div>
<div class="smallfont" align="center">All times are GMT -5. The time now is
<span class="time">09:12 PM</span>.</div>
</body></html>"""


def test_vb3_page_of_our_own():
    page = vbulletin.parse_page(VB3, "http://greenlanes.example/forum/showthread.php?t=42&page=1")
    assert page.title == "Allotment water rota"
    assert page.thread_url == "http://greenlanes.example/forum/showthread.php?t=42"
    assert (page.page, page.last_page) == (1, 3)
    assert page.url_for(3) == "http://greenlanes.example/forum/showthread.php?t=42&page=3"
    rosa, tomasz = page.posts
    assert (rosa.author, rosa.source_id) == ("Rosa", "9001")
    assert rosa.time == datetime(2009, 3, 2, 19, 45, tzinfo=timezone(timedelta(hours=-5)))
    assert rosa.url == "http://greenlanes.example/forum/showpost.php?p=9001&postcount=1"
    assert [b.text for b in rosa.blocks] == [
        "Whoever has plot 12 keeps leaving the tap running overnight.",
        "[code]",
    ]
    assert [(b.text, b.is_quote, b.quoted_author, b.quoted_source_id) for b in tomasz.blocks] == [
        ("Whoever has plot 12 keeps leaving the tap running overnight.", True, "Rosa", "9001"),
        ("That was me, sorry, the valve is broken.", False, None, None),
    ]


def test_vbulletin_forum_listing_is_not_a_thread():
    listing = VB3.replace('THIS_SCRIPT = "showthread"', 'THIS_SCRIPT = "forumdisplay"')
    with pytest.raises(SourceError, match=r"not a thread \(it is the “forumdisplay” page\)"):
        vbulletin.READER.parse_saved(listing)
    empty = (
        '<html><head><meta name="generator" content="vBulletin 5.6" /></head><body></body></html>'
    )
    with pytest.raises(SourceError, match="not a thread"):
        vbulletin.READER.parse_saved(empty)


# --- URLs and sniffing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "thread"),
    [
        (
            "https://b.example/viewtopic.php?f=1&t=9&start=25",
            "https://b.example/viewtopic.php?f=1&t=9",
        ),
        (
            "https://b.example/forum/viewtopic.php?t=9&sid=ab12",
            "https://b.example/forum/viewtopic.php?t=9",
        ),
        ("https://b.example/viewtopic.php?p=5#p5", None),  # a post link: the page tells the topic
        ("https://b.example/viewforum.php?f=1", None),
    ],
)
def test_phpbb_urls(url, thread):
    assert phpbb.thread_url_of(url) == thread
    assert phpbb.READER.matches_url(url) is (url.find("viewtopic.php") > 0)


@pytest.mark.parametrize(
    ("url", "thread"),
    [
        ("http://v.example/showthread.php?t=42&page=3", "http://v.example/showthread.php?t=42"),
        (
            "http://v.example/showthread.php?42-allotments",
            "http://v.example/showthread.php?42-allotments",
        ),
        (
            "http://v.example/showthread.php/42-allotments/page2",
            "http://v.example/showthread.php/42-allotments",
        ),
        ("http://v.example/threads/42-allotments/page3", "http://v.example/threads/42-allotments"),
        (
            "https://v.example/forum/gardens/42-allotments/page2",
            "https://v.example/forum/gardens/42-allotments",
        ),
        ("http://v.example/forumdisplay.php?f=2", None),
        ("https://x.example/threads/allotments.42/", None),  # XenForo
    ],
)
def test_vbulletin_urls(url, thread):
    assert vbulletin.thread_url_of(url) == thread
    assert vbulletin.READER.matches_url(url) is (thread is not None)


def test_sniffing():
    assert phpbb.READER.sniff(PHPBB33) and not vbulletin.READER.sniff(PHPBB33)
    assert vbulletin.READER.sniff(VB3) and not phpbb.READER.sniff(VB3)
    assert vbulletin.READER.sniff('<html id="vbulletin_html"><head></head>')
    assert not vbulletin.READER.sniff('<html id="XF"><p>we moved from vBulletin</p>')
    assert not phpbb.READER.sniff("<html><p>phpbb is nice</p></html>")


# --- the forum's own post numbers (issue 16) --------------------------------------------------


def test_vbulletin_counters_are_the_forums_post_numbers(vb4_raw):
    want = [int(n) for n in re.findall(r'class="postcounter">#(\d+)</a>', vb4_raw)]
    assert len(want) == 10
    assert [p.forum_number for p in vbulletin.READER.parse_saved(vb4_raw).posts] == want
    raw5 = need_shared(VB5).read_text(encoding="utf-8")
    want5 = [int(n) for n in re.findall(r'class="b-post__count"[^>]*>#(\d+)\s*</a>', raw5)]
    assert len(want5) == 15
    assert [p.forum_number for p in vbulletin.READER.parse_saved(raw5).posts] == want5
    rosa, tomasz = vbulletin.parse_page(VB3, "http://g.example/forum/showthread.php?t=42").posts
    assert (rosa.forum_number, tomasz.forum_number) == (1, None)  # vB3's "#1"; no counter


def test_phpbb_numbers_posts_by_their_place_in_the_topic(phpbb_raw):
    page = phpbb.parse_page(phpbb_raw)
    current = int(re.search(r"<strong>(\d+)</strong>", phpbb_raw.split('class="pagination"')[1])[1])
    per_page = len(re.findall(r'<div id="p\d+" class="post ', phpbb_raw))
    assert (page.page, page.per_page) == (current, per_page) == (2, 25)
    first = (current - 1) * per_page + 1
    assert [p.forum_number for p in page.posts] == list(range(first, first + per_page))
    served = phpbb.parse_page(phpbb_raw, "https://forum.example/viewtopic.php?t=7&start=50")
    assert served.posts[0].forum_number == 51  # the page's own start= says where it begins
