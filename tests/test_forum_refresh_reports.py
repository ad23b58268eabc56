"""Issue 16, items 3-5, as a user sees them: `threadwise` processes reading forums served on
loopback (a Discourse topic and a XenForo thread of our own words).

3. A refresh says exactly what happened: new, edited and deleted posts, each counted once.
4. A deleted post is marked in `show` and left out of every analysis in the same way, with
   its quotes and replies.
5. Posts carry the forum's own numbers: shown, linked, and meant by --from/--to/--post/--since,
   in the brief and the quotes and replies around a post too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.process import arun, loopback_config
from tests.sources.discourse_site import DiscourseSite
from tests.sources.loopback import LoopbackServer, Page
from tests.sources.test_xenforo import THREAD_PATH, xf2_page, xf2_post

BOARD_WORDS = "the parish council should publish the minutes of every meeting online within a week"
"""Words of post 1 that a later post quotes from *another* topic: that quote must stay a
quote of nobody here, however often the topic is read again."""


def night_buses() -> DiscourseSite:
    site = DiscourseSite(topic_id=31, title="Night buses", slug="night-buses")
    site.add("ines", f"First: {BOARD_WORDS}. Second: night buses every half hour.")
    site.add("bo", "Every half hour doubles the driver cost; the late buses run half empty.")
    site.add("ines", "Half empty because nobody trusts an hourly bus to turn up at all.")
    site.add(
        "cy",
        "The depot has no spare drivers for a night shift this winter.",
        quote=(None, 99, 4, BOARD_WORDS),  # a quote of another topic, naming nobody
    )
    site.add("bo", "Then hire two; the bridge lights found money fast enough last year.")
    for n in range(6, 26):  # a second batch of 20: a refresh starts there, not at post 1
        site.add(("ines", "bo", "cy")[n % 3], f"Stop {n} on the ring road needs a shelter.")
    return site


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return loopback_config(tmp_path)


def status(done) -> str:
    assert done.code == 0, done.err
    return done.out.strip().splitlines()[0]


async def test_refresh_counts_are_exact(tmp_path: Path, config: Path) -> None:
    db, site = tmp_path / "buses.db", night_buses()
    async with LoopbackServer(site.routes()) as forum:
        url = forum.url(site.path)
        tw = lambda *args: arun(db, *args, config=config)  # noqa: E731
        assert status(await tw("ingest", url, "--name", "nb")).startswith("Stored “Night buses”")
        assert status(await tw("refresh", "nb")) == (
            "nb is already up to date (25 posts); nothing new, edited or deleted."
        )
        site.add("dora", "Ask the bus company; they ran a night trial in 2019.")
        assert status(await tw("refresh", "nb")) == (
            "Updated nb: 1 new post, 0 edited, 0 deleted (26 in all)."
        )
        site.post(24).text += " (Edited: the figures are in the council report.)"
        assert status(await tw("refresh", "nb")) == (
            "Updated nb: 0 new posts, 1 edited, 0 deleted (26 in all)."
        )
        site.post(23).deleted = True
        done = await tw("refresh", "nb", "--json")
        assert done.json()["changes"] == {
            "created": False,
            "new": 0,
            "edited": 0,
            "deleted": 1,
            "renumbered": 0,
        }
        assert status(await tw("refresh", "nb")).startswith("nb is already up to date")


def judge_and_crow() -> DiscourseSite:
    """Judge quotes Crow three times, in three posts; Crow's words are her own."""
    site = DiscourseSite(topic_id=47, title="Hedge heights", slug="hedge-heights")
    crow = [
        "Hedges along the lane should be cut to one metre before the school term.",
        "Cutting in nesting season breaks the wildlife rules, so September is the earliest.",
        "The lane is too narrow for the school minibus once the hawthorn spreads out.",
    ]
    for words in crow:
        site.add("crow", words)
    for n, words in enumerate(crow, start=1):
        site.add("judge", f"I disagree with this point {n}.", quote=("crow", 47, n, words))
    return site


async def test_deleted_posts_are_marked_and_left_out_of_every_analysis(
    tmp_path: Path, config: Path
) -> None:
    db, site = tmp_path / "hedges.db", judge_and_crow()
    async with LoopbackServer(site.routes()) as forum:
        tw = lambda *args: arun(db, *args, config=config)  # noqa: E731
        assert (await tw("ingest", forum.url(site.path), "--name", "hedges")).code == 0
        quotes = (await tw("quotes", "hedges", "--json")).json()
        assert [(p["from"], p["to"], p["count"]) for p in quotes["pairs"]] == [("judge", "crow", 3)]
        site.post(5).deleted = True  # one of Judge's three quoting posts
        assert "1 deleted" in status(await tw("refresh", "hedges"))

        quotes = (await tw("quotes", "hedges", "--json")).json()
        stance = (await tw("stance", "hedges", "--json")).json()
        summary = (await tw("summary", "hedges", "--sentences", "20", "--json")).json()
        shown = (await tw("show", "hedges", "--json")).json()
        text = (await tw("show", "hedges")).out
    assert [(p["from"], p["to"], p["count"]) for p in quotes["pairs"]] == [("judge", "crow", 2)]
    assert 5 not in {n for e in quotes["edges"] for n in (e["from_post"], e["to_post"])}
    assert 5 not in {p["number"] for p in quotes["posts"]}
    judge = next(p for p in stance["participants"] if p["author"] == "judge")
    assert judge["quotes"] == [{"who": "crow", "count": 2}]
    assert judge["posts"] == [4, 6]
    assert 5 not in {s["post"] for s in summary["sentences"]}
    assert [(p["number"], p["deleted"]) for p in shown["posts"]][3:] == [
        (4, False),
        (5, True),
        (6, False),
    ]
    assert "#5 judge (deleted)" in text


UNION = "The student union says half its members cannot afford a monthly pass."
ROOF = "The depot needs a new roof before anything else gets money."
WAIT = "The roof can wait a year; the fares cannot."


def student_fares() -> DiscourseSite:
    """Quotes and replies; #2 was deleted before anyone read the topic, so from #3 on the
    forum's numbers are one more than the posts' places."""
    site = DiscourseSite(topic_id=52, title="Student fares", slug="student-fares")
    site.add("ana", f"Should the tram company cut fares for students this autumn?\n\n{UNION}")
    site.add("zed", "Nobody read this before it was deleted.")
    site.add("ben", "Student fares on the tram are far too high for anyone on a grant.", 1)
    site.add(
        "cy",
        "Tram fares for students are far too high compared with the buses.",
        1,
        quote=("ana", 52, 1, UNION),
    )
    site.add("dee", "For students the tram fares are simply far too high.", 4)
    site.add("eve", ROOF, 1, quote=("ana", 52, 1, UNION))
    site.add("fay", WAIT, 6, quote=("eve", 52, 6, ROOF))
    site.add(
        "ben",
        "Then the council should pay for the roof out of the parking fund.",
        7,
        quote=("fay", 52, 7, WAIT),
    )
    site.add("gus", "Dee is right, and the buses are no cheaper for a student either.", 5)
    site.post(2).deleted = True
    return site


async def test_the_brief_and_the_quote_threads_use_the_forums_numbers_and_skip_deleted_posts(
    tmp_path: Path, config: Path
) -> None:
    db, site = tmp_path / "fares.db", student_fares()
    async with LoopbackServer(site.routes()) as forum:
        tw = lambda *args: arun(db, *args, config=config)  # noqa: E731
        assert (await tw("ingest", forum.url(site.path), "--name", "fares")).code == 0
        site.post(5).deleted = True  # Dee, whom Gus answers
        assert "1 deleted" in status(await tw("refresh", "fares"))
        brief = (await tw("brief", "fares", "--json")).json()
        brief_text = (await tw("brief", "fares")).out
        quotes = (await tw("quotes", "fares", "--json")).json()
        around_8 = (await tw("quotes", "fares", "--post", "8", "--json")).json()
        around_4 = (await tw("quotes", "fares", "--post", "4", "--json")).json()
        around_8_text = (await tw("quotes", "fares", "--post", "8")).out
    lines = [
        *brief["about"],
        *brief["points"],
        *brief["most_quoted"],
        *brief["latest"],
        *(side["point"] for side in brief["sides"] if side["point"]),
    ]
    assert brief["sides"] and brief["latest"]
    for line in lines:  # the forum's number, the forum's link, the words of that post
        assert line["post"] not in (2, 5) and line["url"].endswith(f"/{line['post']}")
        assert line["text"] in site.post(line["post"]).text
    assert [(p["post"], p["answering"]) for p in brief["latest"]] == [(8, 7), (9, None)]
    labels = re.findall(r"^\[#(\d+) \w+\]", brief_text, re.MULTILINE)
    links = re.findall(r"^\s+(http\S+/52/\d+)$", brief_text, re.MULTILINE)
    assert len(labels) == len(links) == len(lines)
    assert all(link.endswith(f"/{label}") for label, link in zip(labels, links, strict=True))
    assert "answering #7 fay" in brief_text

    replies = {(r["from_post"], r["to_post"]) for r in quotes["replies"]}
    assert replies == {(3, 1), (4, 1), (6, 1), (7, 6), (8, 7)}  # none to or from #5
    assert [(n["post"], n["focus"]) for n in around_8["chain"]] == [
        (1, False),
        (6, False),
        (7, False),
        (8, True),
    ]
    assert [n["post"] for n in around_4["chain"]] == [1, 4]  # Dee's answer is gone
    assert "#7 fay quotes and answers #6" in around_8_text


def long_topic() -> DiscourseSite:
    """30 posts; #5 and #6 were deleted before anyone read the topic, so the forum's
    numbers and the posts' places part from post 7 on."""
    site = DiscourseSite(topic_id=2108, title="Allotment rules", slug="allotment-rules")
    subjects = ["water butts", "bonfires", "sheds", "bees", "paths", "compost", "hedges"]
    for n in range(1, 31):
        subject = subjects[n % len(subjects)]
        site.add(
            f"plot{n % 4}",
            f"Post {n} is about {subject}: plot holders keep {subject} tidy, and the committee "
            f"reviews {subject} every spring. Rule {n} stands until the autumn meeting.",
        )
    site.post(5).deleted = site.post(6).deleted = True
    return site


async def test_posts_carry_the_forums_numbers(tmp_path: Path, config: Path) -> None:
    db, site = tmp_path / "rules.db", long_topic()
    async with LoopbackServer(site.routes()) as forum:
        tw = lambda *args: arun(db, *args, config=config)  # noqa: E731
        assert (await tw("ingest", forum.url(site.path), "--name", "rules")).code == 0
        posts = (await tw("show", "rules", "--json")).json()["posts"]
        one = (await tw("show", "rules", "--post", "7", "--json")).json()["posts"]
        missing = await tw("show", "rules", "--post", "5")
        ranged = (await tw("summary", "rules", "--from", "10", "--to", "20", "--json")).json()
        since = (await tw("summary", "rules", "--since", "25", "--sentences", "9", "--json")).json()
        text = (await tw("summary", "rules", "--from", "10", "--to", "20")).out
    numbers = [p["number"] for p in posts]
    assert numbers == [1, 2, 3, 4, *range(7, 31)]
    assert all(p["url"].endswith(f"/{p['number']}") for p in posts)
    assert all(f"Post {p['number']} is about" in p["text"] for p in posts)
    assert [p["number"] for p in one] == [7] and one[0]["text"].startswith("Post 7 ")
    assert missing.code == 1 and "there is no post 5" in missing.last_error_line
    assert ranged["sentences"]
    for s in ranged["sentences"]:
        assert 10 <= s["post"] <= 20 and s["url"].endswith(f"/{s['post']}")
        assert f"Rule {s['post']} " in s["text"] or f"Post {s['post']} " in s["text"]
    assert since["sentences"] and all(s["post"] > 25 for s in since["sentences"])
    for label, link in re.findall(r"\[#(\d+) plot\d\].*\n\s+(\S+)", text):
        assert link.endswith(f"/{label}")


# --- XenForo: the forum renumbers posts after a removal ---------------------------------------

WORDS = [
    ("Mara", "The council wants the tram to reach the hospital by next spring."),
    ("Jonas", "Reaching the hospital means digging up Mill Street for two summers."),
    ("Ines", "Mill Street shops would lose their passing trade while the tracks go in."),
    ("Olaf", "Buses already reach the hospital every ten minutes, so why a tram at all?"),
    ("Mara", "A tram carries three buses worth of riders and never sits in traffic."),
    ("Jonas", "Then run it along the river road, where nobody has a shop window."),
    ("Ines", "The river road floods every other winter, tracks and all."),
]


def xf_pages(posts: list[tuple[int, str, str]], per_page: int = 2) -> dict[str, Page]:
    """The thread as XenForo shows it to guests: "#N" is the place among visible posts."""
    bodies = [
        xf2_post(post_id, author, 1_700_000_000 + post_id * 60, words, counter=n)
        for n, (post_id, author, words) in enumerate(posts, start=1)
    ]
    pages = [bodies[i : i + per_page] for i in range(0, len(bodies), per_page)]
    return {
        (THREAD_PATH if n == 1 else f"{THREAD_PATH}page-{n}"): Page(xf2_page(chunk, n, len(pages)))
        for n, chunk in enumerate(pages, start=1)
    }


async def test_a_removal_on_the_forum_renumbers_what_is_shown(tmp_path: Path, config: Path) -> None:
    db = tmp_path / "xf.db"
    posts = [(1001 + i, a, w) for i, (a, w) in enumerate(WORDS[:6])]
    async with LoopbackServer(xf_pages(posts)) as forum:
        tw = lambda *args: arun(db, *args, config=config)  # noqa: E731
        assert (await tw("ingest", forum.url(THREAD_PATH), "--name", "tram")).code == 0
        now = [p for p in posts if p[0] != 1002] + [(1007, *WORDS[6])]
        forum.routes.clear()
        forum.routes.update(xf_pages(now))
        line = status(await tw("refresh", "tram"))  # from the last page read, not --full
        shown = (await tw("show", "tram", "--json")).json()["posts"]
        post_3 = (await tw("show", "tram", "--post", "3", "--json")).json()["posts"]
    assert line == (
        "Updated tram: 1 new post, 0 edited, 1 deleted; the forum renumbered 4 posts (7 in all)."
    )
    live = [(p["number"], p["author"]) for p in shown if not p["deleted"]]
    assert live == [(n, a) for n, (_, a, _) in enumerate(now, start=1)]
    assert [p["text"] for p in post_3] == [now[2][2]]


async def test_a_digest_names_posts_by_the_forums_numbers(tmp_path: Path, config: Path) -> None:
    db, site = tmp_path / "digest.db", long_topic()
    async with LoopbackServer(site.routes()) as forum:
        tw = lambda *args: arun(db, *args, config=config)  # noqa: E731
        assert (await tw("ingest", forum.url(site.path), "--name", "rules")).code == 0
        added = (await tw("digest", "add", "rules", "--at", "08:00", "--json")).json()
        site.add("plot9", "Post 31 is about gates: the new padlock code is on the notice board.")
        site.add("plot8", "Post 32 is about gates: thank you, the old code was known to everyone.")
        preview = (await tw("digest", "now", str(added["id"]), "--json")).json()
    (rules,) = preview["threads"]
    assert (rules["since"], rules["new_posts"], rules["first_new_post"]) == (30, 2, 31)
    assert rules["last_post"] == 32
    assert {s["post"] for s in rules["summary"]} <= {31, 32}
    assert all(s["url"].endswith(f"/{s['post']}") for s in rules["summary"])
