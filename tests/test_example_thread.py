"""The bundled demo thread must keep every quoting pattern its labels promise.

Pure file checks (no project imports): the demo and the quote-inference tests rely on this
file holding fragments, edits, multi-quotes, a quote of a quote and an outside quote, so an
innocent-looking edit to the text must not silently remove one or shift the line numbers.
"""

from __future__ import annotations

import difflib
import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "bot" / "examples"
NBSP = "\u00a0"


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return (EXAMPLES / "tram-thread.txt").read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def labels() -> dict[str, Any]:
    return json.loads((EXAMPLES / "tram-thread.labels.json").read_text(encoding="utf-8"))


def norm(text: str) -> str:
    """Lower case, punctuation and list numbering dropped: how a quote is compared."""
    text = re.sub(r"^\s*\d+\.\s+", "", text)
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def own_texts(labels: dict[str, Any], n: int) -> list[str]:
    post = labels["posts"][n - 1]
    return [p["text"] for p in post["paragraphs"] if p["label"] == "own"]


def quotes(labels: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return [
        (post["n"], p)
        for post in labels["posts"]
        for p in post["paragraphs"]
        if isinstance(p["label"], int)
    ]


def source_of(labels: dict[str, Any], quote: dict[str, Any]) -> str | None:
    """The own paragraph of the labelled post that `quote` copies, exactly or nearly."""
    for text in own_texts(labels, quote["label"]):
        if norm(quote["text"]) in norm(text):
            return text
        matcher = difflib.SequenceMatcher(None, norm(quote["text"]), norm(text))
        if matcher.ratio() > 0.97:
            return text
    return None


def test_shape(lines: list[str], labels: dict[str, Any]) -> None:
    assert lines[0] == labels["title"] and lines[1] == ""
    assert lines[-1] == "Top" and lines[-2] == NBSP
    blank_like = [line for line in lines if not line.strip()]
    assert set(blank_like) <= {"", NBSP}  # no stray spaces posing as separators
    # posts = stretches between U+00A0 lines, the last stretch being the "Top" chrome
    assert lines.count(NBSP) == len(labels["posts"])
    assert len(labels["posts"]) >= 18
    assert [post["n"] for post in labels["posts"]] == list(range(1, len(labels["posts"]) + 1))


def test_labels_match_lines(lines: list[str], labels: dict[str, Any]) -> None:
    nbsp_lines = [i for i, line in enumerate(lines, 1) if line == NBSP]
    starts = [2, *nbsp_lines]
    labelled = set()
    for post in labels["posts"]:
        low, high = starts[post["n"] - 1], starts[post["n"]]
        for p in post["paragraphs"]:
            assert lines[p["line"] - 1] == p["text"], p["line"]
            assert low < p["line"] < high, (post["n"], p["line"])
            assert p["label"] in ("own", "external") or isinstance(p["label"], int)
            labelled.add(p["line"])
    content = {i for i, line in enumerate(lines, 1) if line.strip() and i > 1}
    assert content - labelled == set(labels["boilerplate_lines"])
    assert [lines[i - 1] for i in labels["boilerplate_lines"]] == ["Last edited:", "Top"]


def test_every_quote_copies_its_source(labels: dict[str, Any]) -> None:
    for n, quote in quotes(labels):
        assert quote["label"] < n
        assert source_of(labels, quote) is not None, quote["line"]
        assert len(quote["text"].split()) >= 10, quote["line"]


def test_edges(labels: dict[str, Any]) -> None:
    edges = sorted({(n, q["label"]) for n, q in quotes(labels)})
    assert [tuple(e) for e in labels["quote_edges"]] == edges


def test_has_a_fragment_quote(labels: dict[str, Any]) -> None:
    fragments = [
        q["line"]
        for _, q in quotes(labels)
        if len(norm(q["text"])) < len(norm(source_of(labels, q) or "")) * 0.6
        and not re.match(r"^\s*\d+\.", source_of(labels, q) or "")
    ]
    assert len(fragments) >= 2
    assert any(q["text"][0].islower() for _, q in quotes(labels))  # starts mid-sentence


def test_has_an_edited_quote(labels: dict[str, Any]) -> None:
    edited = [q for _, q in quotes(labels) if norm(q["text"]) not in norm(source_of(labels, q))]
    assert edited
    for q in edited:  # a small edit, not a paraphrase
        diff = set(norm(q["text"]).split()) ^ set(norm(source_of(labels, q)).split())
        assert 1 <= len(diff) <= 4


def test_numbered_list_is_quoted_without_numbers(labels: dict[str, Any]) -> None:
    list_quotes = [
        q
        for _, q in quotes(labels)
        if re.match(r"^\s*\d+\.\s", source_of(labels, q)) and not re.match(r"^\s*\d", q["text"])
    ]
    assert list_quotes


def test_has_a_multi_quote_post(labels: dict[str, Any]) -> None:
    def alternations(post: dict[str, Any]) -> int:
        kinds = [p["label"] == "own" for p in post["paragraphs"]]
        return sum(1 for a, b in itertools.pairwise(kinds) if not a and b)

    assert any(alternations(post) >= 3 for post in labels["posts"])


def test_has_a_quote_of_a_quote(labels: dict[str, Any]) -> None:
    """Post C repeats post A's words that post B had quoted; the label names A, not B."""
    found = [
        (c, quote["label"], b)
        for c, quote in quotes(labels)
        for b, earlier in quotes(labels)
        if b < c and (earlier["label"], earlier["text"]) == (quote["label"], quote["text"])
    ]
    assert found


def test_has_an_external_quote(labels: dict[str, Any]) -> None:
    paragraphs = [p for post in labels["posts"] for p in post["paragraphs"]]
    external = [p for p in paragraphs if p["label"] == "external"]
    assert external
    for p in external:  # nobody else wrote or quoted it
        assert sum(norm(p["text"]) in norm(q["text"]) for q in paragraphs) == 1


def test_short_phrases_stay_own(labels: dict[str, Any]) -> None:
    """Common short replies also occur inside earlier text; they are still own words."""
    paragraphs = [(post["n"], p) for post in labels["posts"] for p in post["paragraphs"]]
    for phrase in ("Fair enough.", "Not necessary.", "I think so."):
        hits = [(n, p) for n, p in paragraphs if p["text"] == phrase]
        assert hits and all(p["label"] == "own" for _, p in hits), phrase
        first = min(p["line"] for _, p in hits)
        earlier = [p["text"] for _, p in paragraphs if p["line"] < first]
        assert any(norm(phrase) in norm(t) for t in earlier), phrase


def test_stance_cues_present(lines: list[str]) -> None:
    text = "\n".join(lines)
    for cue in ("I agree", "I doubt that", "You don't need", "I don't agree"):
        assert cue in text, cue
