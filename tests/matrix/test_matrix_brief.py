"""A brief in Matrix is one m.notice whose plain body is at most 2,000 characters."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core import render
from bot.core.brief import thread_brief
from bot.core.models import StoredThread
from bot.core.quotes import infer_quotes
from bot.matrix_app import html
from bot.sources.jsonthread import read_json_thread


def test_a_long_thread_brief_is_one_event_of_at_most_2000_characters() -> None:
    import json

    posts = [
        {
            "author": f"Member {n % 7}",
            "url": f"https://forum.example/t/rota/{n + 1}",
            "text": " ".join(f"the watering rota{n % 4} needs step{k} done" for k in range(30))
            + ".",
        }
        for n in range(50)
    ]
    analysed = infer_quotes(read_json_thread(json.dumps({"title": "Rota", "posts": posts})))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    thread = StoredThread(1, "matrix:!r:example.org", "rota", "Rota", "json", None, "english",
                          1, 50, 7, now, now)  # fmt: skip
    answer = render.brief_answer(thread, thread_brief(analysed.posts, analysed.edges, "Rota"))
    assert html.body_length(answer) > 2000  # the uncut brief would not fit
    fitted = render.fit_answer(answer, measure=html.body_length)
    (content,) = html.answer_contents(fitted)
    assert len(content["body"]) <= 2000
    assert content["formatted_body"].count('<a href="https://forum.example/t/rota/') >= 4
    assert content["m.mentions"] == {}
