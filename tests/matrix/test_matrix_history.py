"""Room events → ThreadDoc: replies are reply edges, fallbacks go, quotes stay, bots stay out."""

from __future__ import annotations

from bot.core.quotes import infer_quotes
from bot.matrix_app.history import Source, events_to_thread

ROOM = "!garden:example.org"
BOT = "@threadwise:example.org"


def msg(event_id: str, sender: str, body: str, msgtype: str = "m.text", **content: object) -> dict:
    return {
        "type": "m.room.message",
        "event_id": event_id,
        "sender": sender,
        "origin_server_ts": 1_700_000_000_000 + len(event_id),
        "content": {"msgtype": msgtype, "body": body, **content},
    }


def reply(to: str) -> dict:
    return {"m.relates_to": {"m.in_reply_to": {"event_id": to}}}


def in_thread(root: str, fallback_to: str) -> dict:
    return {
        "m.relates_to": {
            "rel_type": "m.thread",
            "event_id": root,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": fallback_to},
        }
    }


EVENTS = [
    {
        "type": "m.room.member",
        "event_id": "$join",
        "sender": BOT,
        "state_key": BOT,
        "content": {"membership": "join"},
    },
    msg("$1", "@maren:example.org", "We should water the beans every evening after seven."),
    msg(
        "$2",
        "@tobias:example.org",
        "> <@maren:example.org> We should water the beans every evening after seven.\n\n"
        "Evening watering invites slugs into the bean rows.",
        **reply("$1"),
    ),
    msg("$3", "@ines:example.org", "> invites slugs\nSlugs can be picked off by hand.\nFine."),
    msg("$4", BOT, "Stored “garden”.", msgtype="m.notice"),
    msg("$5", "@maren:example.org", "!tw summary garden"),
    msg("$6", "@ghost:example.org", "I asked to be left out of every digest."),
    msg("$7", "@tobias:example.org", "beans at dawn", msgtype="m.emote"),
    msg("$8", "@maren:example.org", "pic.png", msgtype="m.image", url="mxc://x/y"),
    msg(
        "$9",
        "@maren:example.org",
        "* We should water the beans every morning instead.",
        **{
            "m.new_content": {"msgtype": "m.text", "body": "We water at dawn now."},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$1"},
        },
    ),
    msg(
        "$10",
        "@mallory:example.org",
        "* rewritten by someone else",
        **{
            "m.new_content": {"msgtype": "m.text", "body": "forged"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$3"},
        },
    ),
    {"type": "m.room.message", "event_id": "$11", "sender": "@x:example.org", "content": {}},
]


def build(events: list[dict], source: Source | None = None) -> object:
    return events_to_thread(
        events,
        source=source or Source(ROOM),
        title="Garden room",
        skip_senders={BOT, "@ghost:example.org"},
        command_prefix="!tw",
        names=lambda mxid: {"@maren:example.org": "Maren"}.get(mxid),
    )


def test_room_messages_become_posts_with_authors_links_and_reply_edges() -> None:
    doc = build(EVENTS)
    ids = [p.source_id for p in doc.posts]
    assert ids == ["$1", "$2", "$3", "$7"]  # no bot notice, command, opted-out, file, redaction
    first, second, third, emote = doc.posts
    assert first.text == "We water at dawn now."  # the sender's own edit applies
    assert third.text.endswith("Fine.")  # someone else's "edit" does not
    assert (first.author, first.author_id) == ("Maren", "@maren:example.org")
    assert second.author == "@tobias:example.org"  # no display name known: the MXID
    assert second.reply_to_source_id == "$1"
    assert second.text == "Evening watering invites slugs into the bean rows."
    assert third.blocks[0].is_quote and third.blocks[0].text == "invites slugs"
    assert [b.text for b in third.blocks[1:]] == ["Slugs can be picked off by hand.", "Fine."]
    assert first.url == "https://matrix.to/#/%21garden%3Aexample.org/%241"
    assert doc.url == "matrix:roomid/garden:example.org"
    assert doc.source_kind == "matrix" and emote.text == "beans at dawn"


def test_a_reply_is_a_reply_edge_after_analysis_not_a_quote() -> None:
    analysed = infer_quotes(build(EVENTS))
    assert analysed.posts[1].reply_to == 1
    assert any(r.from_post == 2 and r.to_post == 1 for r in analysed.replies)
    assert not any(e.from_post == 2 and e.to_post == 1 for e in analysed.edges)


def test_one_thread_of_the_room_only() -> None:
    events = [
        msg("$root", "@maren:example.org", "Where does the compost go?"),
        msg("$other", "@tobias:example.org", "Unrelated chat in the main timeline."),
        msg("$t1", "@ines:example.org", "Behind the shed.", **in_thread("$root", "$root")),
        msg("$t2", "@tobias:example.org", "Not near the beans.", **in_thread("$root", "$t1")),
        msg(
            "$t3",
            "@ines:example.org",
            "Agreed, Tobias.",
            **{
                "m.relates_to": {
                    "rel_type": "m.thread",
                    "event_id": "$root",
                    "m.in_reply_to": {"event_id": "$t2"},
                }
            },
        ),
        msg("$x", "@ines:example.org", "another thread", **in_thread("$elsewhere", "$elsewhere")),
    ]
    doc = build(events, Source(ROOM, "$root"))
    assert [p.source_id for p in doc.posts] == ["$root", "$t1", "$t2", "$t3"]
    # a thread's fallback reply is not a real reply; an explicit one is
    assert [p.reply_to_source_id for p in doc.posts] == [None, None, None, "$t2"]
    assert doc.url == "matrix:roomid/garden:example.org/e/root"


def test_source_links_round_trip() -> None:
    for source in (Source(ROOM), Source(ROOM, "$abc/def")):
        assert Source.from_url(source.url) == source
    assert Source.from_url("https://forum.example/t/1") is None
    assert Source.from_url("https://matrix.to/#/!garden:example.org") is None
    assert Source.from_url("matrix:u/alice:example.org") is None
