"""Summaries through the `threadwise` command: languages never crash one, likes reach it,
and the brief.

The spam thread below is written for this test. It has the shape of a mailing-list thread
seen in the ConvoSumm dev split: an attachment notice, then the same signature of links
and "Los Angeles" pasted three times. sumy's Polish stop-word list holds "www" and its
Spanish one "los", so the old detection called it Polish, and sumy's Polish stemmer needs
pystempel (not installed): the summary was a ValueError traceback.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from bench.synthetic import make_thread
from bot.core.language import analysable
from tests.conftest import EXAMPLE_TEXT
from tests.test_cli import tw


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "t.db"


SIGNATURE = (
    "Tram Consultant Los Angeles\n"
    "http://www.example-tram-consulting.net\n"
    "Rail Consultant Los Angeles\n"
    "http://www.example-rail-advice.com\n"
    "Best Singles Evenings in Los Angeles\n"
    "http://www.example-evenings.org"
)
SPAM_THREAD = {
    "title": "Vocabulary: stops, routes and lines",
    "posts": [
        {"author": "Mara Lind", "text": "text/html attachment: stored"},
        {"author": "Spam Sender", "text": SIGNATURE},
        {"author": "Spam Sender", "text": SIGNATURE},
        {"author": "Spam Sender", "text": SIGNATURE},
    ],
}


def test_the_spam_signature_thread_is_summarised_in_a_language_it_can_read(db, tmp_path):
    assert not analysable("polish"), "this test is about a stemmer that is not installed"
    source = tmp_path / "spam.json"
    source.write_text(json.dumps(SPAM_THREAD), encoding="utf-8")
    tw(db, "ingest", str(source), "--name", "spam")
    stored = json.loads(tw(db, "threads", "--json").stdout)
    assert [t["language"] for t in stored] == ["english"]
    for algorithm in ("thread", "lexrank", "luhn", "edmundson"):
        result = json.loads(
            tw(db, "summary", "spam", "--algorithm", algorithm, "--words", "75", "--json").stdout
        )
        assert result["language"] == "english"
        assert result["sentences"], algorithm
    text = tw(db, "summary", "spam").stdout.decode()
    assert "(english)" in text  # the answer says which language it read


def test_a_stored_language_without_its_stemmer_falls_back_and_says_so(db, tmp_path):
    """A thread stored as Polish (by an older version, or given by its source) is read in
    the language detected among those that work, and the answer says why."""
    source = tmp_path / "tram.json"
    source.write_text(
        json.dumps(
            {
                "title": "Tram depot",
                "posts": [
                    {"author": "Ana", "text": "The depot roof leaks every time it rains."},
                    {"author": "Ben", "text": "A new roof costs less than a new tram."},
                ],
            }
        ),
        encoding="utf-8",
    )
    tw(db, "ingest", str(source), "--name", "depot")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE threads SET language = 'polish' WHERE name = 'depot'")
    result = json.loads(tw(db, "summary", "depot", "--json").stdout)
    assert result["language"] == "english"
    assert "Polish could not be used (its stemmer needs pystempel" in result["note"]
    assert "the summary reads the text as English" in result["note"]
    stance = tw(db, "stance", "depot")  # the stance digest does not crash either
    assert stance.returncode == 0
    brief = json.loads(tw(db, "brief", "depot", "--json").stdout)
    assert brief["language"] == "english"


def test_brief_command_text_and_json(db, tmp_path):
    tw(db, "ingest", str(EXAMPLE_TEXT), "--name", "tram")
    document = json.loads(tw(db, "brief", "tram", "--json").stdout)
    assert set(document) >= {"about", "points", "most_quoted", "latest", "posts", "language"}
    assert document["about"][0]["post"] == 1
    assert all({"post", "author", "url", "text", "people"} <= set(p) for p in document["points"])
    assert document["latest"][-1]["post"] == document["posts"]
    text = tw(db, "brief", "tram").stdout.decode()
    for heading in ("What it is about", "Main points", "Most quoted", "Latest"):
        assert heading in text
    assert "made in " in text  # the example thread has no author names: posts are counted


def test_likes_are_stored_shown_and_weigh_in_the_summary(db, tmp_path):
    posts = [
        {"author": "Ana", "text": "Which route should the new tram line take?"},
        {"author": "Ben", "text": "The route past the stadium is cheapest to build.", "likes": 0},
        {"author": "Cy", "text": "The route past the hospital serves most riders.", "likes": 25},
    ]
    source = tmp_path / "route.json"
    source.write_text(json.dumps({"title": "Route", "posts": posts}), encoding="utf-8")
    tw(db, "ingest", str(source), "--name", "route")
    shown = json.loads(tw(db, "show", "route", "--json").stdout)
    assert [p["likes"] for p in shown["posts"]] == [None, 0, 25]
    summary = json.loads(tw(db, "summary", "route", "--sentences", "3", "--json").stdout)
    rank = {s["post"]: s["rank"] for s in summary["sentences"]}
    assert rank[3] < rank[2]


def test_the_chapter_view_answers_in_text_and_json(db, tmp_path):
    """`summary --chapters [N]`: one section per run of posts, the length per chapter."""
    synthetic = make_thread(posts=40, seed=3, authors=6).doc
    posts = [
        {"author": p.author, "time": f"2024-05-{1 + n // 10:02d}T10:{n % 60:02d}:00Z",
         "text": "\n".join(b.text for b in p.blocks if not b.is_quote)}
        for n, p in enumerate(synthetic.posts, start=1)
    ]  # fmt: skip
    source = tmp_path / "ferry.json"
    source.write_text(json.dumps({"title": "Ferry times", "posts": posts}), encoding="utf-8")
    tw(db, "ingest", str(source), "--name", "ferry")
    document = json.loads(tw(db, "summary", "ferry", "--chapters", "3", "--json").stdout)
    chapters = document["chapters"]
    # the second cut (ideally before post 28) moves to the night before post 30
    assert [(c["first_post"], c["last_post"]) for c in chapters] == [(1, 14), (15, 29), (30, 40)]
    for chapter in chapters:
        assert len(chapter["sentences"]) == 2  # the default length of a chapter
        assert all(chapter["first_post"] <= s["post"] <= chapter["last_post"]
                   for s in chapter["sentences"])  # fmt: skip
    assert chapters[0]["start"].startswith("2024-05-01")
    text = tw(db, "summary", "ferry", "--chapters", "--sentences", "1").stdout.decode()
    assert text.startswith("Chapters — Ferry times")
    assert "Posts 1–9 · 1 May 2024\n" in text  # cut at the night before post 10
    assert "4 chapters" in text
    # counted words in the note: "sentences from 40 posts", never "sentence from 40 post"
    assert re.search(r"of 4 chapters: \d+ sentences from 40 posts \(english\)", text), text
    bad = tw(db, "summary", "ferry", "--chapters", "0", check=False)
    assert bad.returncode == 2
