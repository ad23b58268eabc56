"""Issue 16, item 2: a copy without post ids, ingested again with a post taken out (or
edited, or added), is matched to what is stored by what the posts say, not by position.
A post that is gone is marked deleted; every other post keeps its number and its text.
Run as a user runs it: `threadwise` processes on a real SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_TEXT
from tests.process import run


def split_posts(text: str) -> tuple[list[str], list[list[str]]]:
    """The example copy as (title lines, one list of lines per post, separator included)."""
    chunks: list[list[str]] = [[]]
    for line in text.split("\n"):
        if line != "" and line.strip() == "":
            chunks.append([])
        chunks[-1].append(line)
    head = chunks[0]
    title_end = next(i for i, ln in enumerate(head) if ln.strip()) + 1
    return head[:title_end], [head[title_end:], *chunks[1:]]


def copy_with(tmp_path: Path, name: str, change) -> Path:
    title, posts = split_posts(EXAMPLE_TEXT.read_text(encoding="utf-8"))
    posts = change(posts)
    path = tmp_path / name
    path.write_text("\n".join([*title, *(ln for post in posts for ln in post)]), encoding="utf-8")
    return path


def shown(db: Path) -> list[dict]:
    done = run(db, "show", "tram", "--json")
    assert done.code == 0, done.err
    return done.json()["posts"]


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Path, list[dict]]:
    db = tmp_path / "copies.db"
    first = run(db, "ingest", str(EXAMPLE_TEXT), "--name", "tram", "--json")
    assert first.code == 0, first.err
    posts = shown(db)
    assert [p["number"] for p in posts] == list(range(1, 22))
    return db, posts


@pytest.mark.parametrize("missing", [19, 10])
def test_a_post_taken_out_is_marked_deleted_and_nothing_shifts(tmp_path, stored, missing):
    db, before = stored
    copy = copy_with(
        tmp_path, f"without-{missing}.txt", lambda ps: ps[: missing - 1] + ps[missing:]
    )
    done = run(db, "ingest", str(copy), "--name", "tram", "--json")
    assert done.code == 0, done.err
    assert done.json()["changes"] == {
        "created": False,
        "new": 0,
        "edited": 0,
        "deleted": 1,
        "renumbered": 0,
    }
    text = run(db, "ingest", str(copy), "--name", "tram").out
    assert text.startswith("tram is already up to date (21 posts)")
    after = shown(db)
    assert [p["number"] for p in after] == list(range(1, 22))
    assert [p["text"] for p in after] == [p["text"] for p in before]
    assert [p["number"] for p in after if p["deleted"]] == [missing]
    listing = run(db, "show", "tram").out
    assert f"#{missing} (deleted)" in listing


def test_an_edited_post_is_edited_in_place(tmp_path, stored):
    db, before = stored

    def edit(posts: list[list[str]]) -> list[list[str]]:
        posts = [list(p) for p in posts]
        posts[6] = [*posts[6], "Edited to add: the depot plans are on the council website."]
        return posts

    done = run(db, "ingest", str(copy_with(tmp_path, "edited.txt", edit)), "--name", "tram")
    assert done.code == 0, done.err
    assert done.out.startswith("Updated tram: 0 new posts, 1 edited, 0 deleted (21 in all).")
    after = shown(db)
    assert after[6]["text"].endswith("the depot plans are on the council website.")
    assert [p["text"] for i, p in enumerate(after) if i != 6] == [
        p["text"] for i, p in enumerate(before) if i != 6
    ]
    assert not any(p["deleted"] for p in after)


def test_a_post_added_in_the_middle_is_new_and_numbers_stay(tmp_path, stored):
    db, before = stored
    added = ["\u00a0", "Has anyone asked the bus drivers what they think of all this?"]
    done = run(
        db,
        "ingest",
        str(copy_with(tmp_path, "added.txt", lambda ps: [*ps[:5], added, *ps[5:]])),
        "--name",
        "tram",
    )
    assert done.code == 0, done.err
    assert done.out.startswith("Updated tram: 1 new post, 0 edited, 0 deleted (22 in all).")
    after = shown(db)
    assert [p["text"] for p in after[:21]] == [p["text"] for p in before]
    assert after[21]["number"] == 22 and "bus drivers" in after[21]["text"]


def test_a_json_copy_without_ids_loses_a_post(tmp_path):
    db = tmp_path / "json.db"
    posts = [
        {"author": "Ines", "text": "The footpath by the weir floods every spring."},
        {"author": "Bo", "text": "Raise it on a boardwalk, like the one at Tallis Meadow."},
        {"author": "Ines", "text": "A boardwalk needs planning permission from the river trust."},
        {"author": "Cy", "text": "The trust said yes to Tallis Meadow within a month."},
    ]
    full, short = tmp_path / "full.json", tmp_path / "short.json"
    full.write_text(json.dumps({"title": "Weir footpath", "posts": posts}), encoding="utf-8")
    short.write_text(
        json.dumps({"title": "Weir footpath", "posts": posts[:1] + posts[2:]}), encoding="utf-8"
    )
    assert run(db, "ingest", str(full), "--name", "weir").code == 0
    done = run(db, "ingest", str(short), "--name", "weir")
    assert done.out.startswith("Updated weir: 0 new posts, 0 edited, 1 deleted (4 in all).")
    after = run(db, "show", "weir", "--json").json()["posts"]
    assert [(p["author"], p["deleted"]) for p in after] == [
        ("Ines", False),
        ("Bo", True),
        ("Ines", False),
        ("Cy", False),
    ]
    assert [p["text"] for p in after] == [p["text"] for p in posts]
