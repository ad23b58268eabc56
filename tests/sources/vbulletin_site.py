"""vBulletin 4 and 5 threads of our own words, paged like the real forums, for loopback tests.

    thread = VbThread(version=4, posts=[("Rosa", "The tap on plot 12 drips."), ...], per_page=2)
    async with LoopbackServer(thread.routes()) as forum:
        url = forum.url(thread.path)

Each page carries the thread's own pagination ("Page 2 of 3" and numbered links on vB4;
"Page 2 of 3" with a page total and a js-pagenav widget on vB5) and, like real pages, a
list of similar threads with *their* page links: a reader must not take those for pages of
this thread. Every post shows the forum's "#N" counter.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from tests.sources.loopback import Page

OTHER_THREAD_PAGES = 5
"""The similar thread listed on every page has this many pages of its own."""


@dataclass
class VbThread:
    version: int = 4
    posts: list[tuple[str, str]] = field(default_factory=list)
    per_page: int = 2
    title: str = "Allotment water rota"
    thread_id: int = 4242
    first_post_id: int = 90001

    @property
    def path(self) -> str:
        if self.version == 4:
            return f"/showthread.php/{self.thread_id}-allotment-water-rota"
        return f"/forum/gardens/allotments/{self.thread_id}-allotment-water-rota"

    @property
    def other_path(self) -> str:
        if self.version == 4:
            return "/showthread.php/555-compost-bins-again"
        return "/forum/gardens/allotments/555-compost-bins-again"

    @property
    def last_page(self) -> int:
        return max(1, -(-len(self.posts) // self.per_page))

    def page_path(self, number: int) -> str:
        return self.path if number == 1 else f"{self.path}/page{number}"

    def routes(self) -> dict[str, Page]:
        return {self.page_path(n): Page(self.page(n)) for n in range(1, self.last_page + 1)}

    def page(self, number: int) -> str:
        at = (number - 1) * self.per_page
        chunk = self.posts[at : at + self.per_page]
        posts = "".join(
            self._post(at + i + 1, author, words) for i, (author, words) in enumerate(chunk)
        )
        if self.version == 4:
            return _VB4.format(
                title=html.escape(self.title),
                nav=self._vb4_nav(number),
                posts=posts,
                similar=self._vb4_similar(),
            )
        return _VB5.format(
            title=html.escape(self.title),
            nav=self._vb5_nav(number),
            posts=posts,
            other=self.other_path,
        )

    def _post(self, counter: int, author: str, words: str) -> str:
        post_id = self.first_post_id + counter
        template = _VB4_POST if self.version == 4 else _VB5_POST
        return template.format(
            id=post_id,
            n=counter,
            author=html.escape(author),
            words=html.escape(words),
            path=self.path.lstrip("/") if self.version == 4 else self.path,
            when=1_700_000_000 + counter * 60,
        )

    def _vb4_nav(self, number: int) -> str:
        if self.last_page == 1:
            return ""
        links = "".join(
            f'<span class="selected"><a href="javascript://">{n}</a></span>'
            if n == number
            else f'<span><a href="{self.page_path(n).lstrip("/")}">{n}</a></span>'
            for n in range(1, self.last_page + 1)
        )
        return (
            '<div id="pagination_top" class="pagination_top">'
            f'<form action="{self.path.lstrip("/")}/page{min(number + 1, self.last_page)}" '
            'method="get" class="pagination popupmenu nohovermenu">'
            f'<span><a href="javascript://" class="popupctrl">Page {number} of '
            f"{self.last_page}</a></span>{links}</form></div>"
        )

    def _vb4_similar(self) -> str:
        other = self.other_path.lstrip("/")
        links = "".join(
            f'<span><a href="{other}{"" if n == 1 else f"/page{n}"}">{n}</a></span>'
            for n in (1, 2, OTHER_THREAD_PAGES)
        )
        return (
            '<div id="similar_threads"><h4>Similar Threads</h4><ol class="similar_threads">'
            f'<li class="floatcontainer"><h6><a href="{other}">Compost bins again</a></h6>'
            '<dl class="pagination" id="pagination_threadbit_555">'
            f'<dt class="label">{OTHER_THREAD_PAGES} Pages</dt><dd>{links}</dd></dl>'
            "</li></ol></div>"
        )

    def _vb5_nav(self, number: int) -> str:
        later = "".join(
            f'<a class="js-pagenav-button b-button" data-page="{n}" '
            f'href="{self.page_path(n)}">{n}</a>'
            for n in range(1, self.last_page + 1)
            if n != number
        )
        return (
            f'<div class="pagenav-controls"><form class="pagenav-form" action="{self.path}">'
            f'<div class="pagenav h-left">Page <input type="text" name="page" '
            f'class="js-pagenum textbox" value="{number}" /> of '
            f'<span class="pagetotal">{self.last_page}</span></div></form></div>'
            f'<div class="js-pagenav pagenav h-right" data-baseurl="{self.path}">{later}</div>'
        )


_VB4 = """<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" dir="ltr" lang="en" id="vbulletin_html">
<head><base href="http://forum.greenlanes.example/" />
<meta name="generator" content="vBulletin 4.2.5" />
<script type="text/javascript">var SESSIONURL = ""; var THIS_SCRIPT = "showthread";</script>
<title>{title}</title></head>
<body>
<div id="pagetitle"><h1>Thread: <span class="threadtitle">{title}</span></h1></div>
<div id="above_postlist" class="above_postlist">{nav}</div>
<div id="postlist" class="postlist restrain"><ol id="posts" class="posts">{posts}</ol></div>
{similar}
<div id="footer_time" class="shade footer_time">All times are GMT. The time now is 10:00 AM.</div>
</body></html>"""

_VB4_POST = """
<li class="postbitlegacy postbitim postcontainer old" id="post_{id}">
 <div class="posthead"><span class="postdate old"><span class="date">11-14-2023,&nbsp;
  <span class="time">10:00 PM</span></span></span>
  <span class="nodecontrols"><a name="post{id}" href="{path}?p={id}&amp;viewfull=1#post{id}"
   class="postcounter">#{n}</a><a id="postcount{id}" name="{n}"></a></span></div>
 <div class="postdetails"><div class="userinfo"><div class="username_container">
  <a class="username offline popupctrl" href="member.php/7-x"><strong>{author}</strong></a>
 </div></div>
 <div class="postbody"><div class="postrow"><div class="content">
  <div id="post_message_{id}"><blockquote class="postcontent restore ">{words}</blockquote></div>
 </div></div></div></div>
</li>"""

_VB5 = """<!DOCTYPE html>
<html lang="en"><head><meta name="generator" content="vBulletin 5.5.2" />
<title>{title} - Green Lanes Forum</title></head>
<body>
<div class="widget-similar-topics"><div class="js-pagenav pagenav" data-baseurl="{other}">
 <a class="js-pagenav-button" data-page="2" href="{other}/page2">2</a></div></div>
<h1 class="main-title js-main-title hide-on-editmode">{title}</h1>
{nav}
<ul class="conversation-list list-container">{posts}</ul>
</body></html>"""

_VB5_POST = """
<li data-node-id="{id}" data-node-publishdate="{when}" class="b-post js-post">
 <div class="b-userinfo"><div class="author h-text-size--14"><strong><a href="/member/7-x">
  {author}</a></strong></div></div>
 <div class="b-post__body"><div class="b-post__content js-post__content">
  <a class="b-post__count" href="{path}?p={id}#post{id}">#{n}</a>
  <div class="js-post__content-text restore h-wordwrap">{words}</div>
 </div></div>
</li>"""
