"""Quote inference: the seed's golden labels and synthetic threads with known answers."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.synthetic import make_thread
from bot.core.models import Block, PostDoc, ThreadDoc
from bot.core.quotes import infer_quotes
from bot.sources.detect import read_file_bytes
from tests.conftest import SEED_LABELS, need_shared

A1 = (
    "The council keeps promising a new library wing but every budget since the flood has "
    "pushed it back another year while the old reading room leaks."
)
A2 = (
    "If the wing is ever built it should open late on weekdays because students have "
    "nowhere quiet to work after the cafes close at six."
)
B1 = "Honestly the leaking roof is the real scandal here and nobody on the council seems to care."


def thread(*posts: list[str], authors: list[str | None] | None = None) -> ThreadDoc:
    docs = tuple(
        PostDoc(blocks=tuple(Block(p) for p in paras), author=(authors or [None] * 99)[i])
        for i, paras in enumerate(posts)
    )
    return ThreadDoc(title="t", posts=docs, source_kind="text")


def labels(t, number):
    return [(s.kind, s.source_post) for s in t.posts[number - 1].segments]


def test_seed_golden_edges_and_paragraph_labels(seed_bytes):
    gold = json.loads(need_shared(SEED_LABELS).read_text())
    analysed = infer_quotes(read_file_bytes(seed_bytes))
    got = {(e.from_post, e.to_post) for e in analysed.edges}
    optional = {tuple(e) for e in gold["quote_edges_optional"]}
    assert {tuple(e) for e in gold["quote_edges"]} <= got
    assert got - {tuple(e) for e in gold["quote_edges"]} <= optional
    for want_post, post in zip(gold["posts"], analysed.posts, strict=True):
        for index, para in enumerate(want_post["paragraphs"]):
            segs = [s for s in post.segments if s.paragraph == index]
            assert segs, (want_post["n"], para["line"])
            label = para["label"]
            found = [(s.kind, s.source_post) for s in segs]
            where = f"post {want_post['n']} line {para['line']}: {found}"
            if label == "own":
                assert all(s.kind == "own" for s in segs), where
            elif label == "external":
                assert all(s.kind == "own" or s.source_post is None for s in segs), where
            elif label == "external-or-2":
                assert all(s.kind == "own" or s.source_post in (None, 2) for s in segs), where
            else:
                assert all(s.kind == "quote" and s.source_post == label for s in segs), where


def test_whole_paragraph_quote_and_reply():
    t = infer_quotes(thread([A1, A2], [A1, "I doubt the money exists at all."]))
    assert labels(t, 2) == [("quote", 1), ("own", None)]
    assert [(e.from_post, e.to_post, e.count) for e in t.edges] == [(2, 1, 1)]


def test_fragment_cut_from_longer_paragraph():
    fragment = "pushed it back another year while the old reading room leaks."
    t = infer_quotes(thread([A1], [fragment, "That roof has leaked since I was at school."]))
    assert labels(t, 2) == [("quote", 1), ("own", None)]


def test_fragment_inside_a_line_is_cut_out_and_the_rest_stays_own():
    line = (
        "every budget since the flood has pushed it back another year while the old reading "
        "room leaks, which is exactly why I stopped voting for them in the first place."
    )
    t = infer_quotes(thread([A1], [line]))
    segs = t.posts[1].segments
    assert [s.kind for s in segs] == ["quote", "own"]
    assert segs[0].source_post == 1
    assert segs[1].text.startswith("which is exactly why")


def test_small_edits_between_original_and_quote():
    edited = A2.replace("students", "studnets").replace("quiet", "quite")
    t = infer_quotes(thread([A2], [edited, "Agreed."]))
    assert labels(t, 2) == [("quote", 1), ("own", None)]


def test_short_retyped_quote_with_a_typo():
    original = "Buses every ten minutes would fix most of this tomorrow."
    retyped = "Buses every ten minutes would fixx most of this tomorrow."
    t = infer_quotes(thread([original], [retyped, "Only if there are drivers."]))
    assert labels(t, 2) == [("quote", 1), ("own", None)]


def test_multi_quote_post_alternates_quote_and_reply():
    t = infer_quotes(thread([A1, A2], [A1, "Not necessary.", A2, "I think so too.", B1]))
    assert labels(t, 2) == [("quote", 1), ("own", None), ("quote", 1), ("own", None), ("own", None)]
    assert t.edges[0].count == 2


def test_quote_of_a_quote_goes_to_the_original_author():
    t = infer_quotes(thread([A1], [A1, B1], [A1, "Still true a year later."]))
    assert labels(t, 3)[0] == ("quote", 1)
    assert {(e.from_post, e.to_post) for e in t.edges} == {(2, 1), (3, 1)}


def test_quote_from_outside_the_thread_gets_no_edge():
    article = (
        "According to the regional paper the ministry will fund ninety percent of any light "
        "rail scheme approved before the end of the decade."
    )
    t = infer_quotes(thread([A1], [article, "Ninety percent sounds too good to be true."]))
    assert t.edges == ()
    assert all(s.kind == "own" for s in t.posts[1].segments)


def test_short_common_phrases_are_not_quotes():
    t = infer_quotes(
        thread(
            ["I think", "Not necessary", "Fair enough, I think you are right about that."],
            ["I think", "Not necessary", "Fair enough, I think you are right about the bus."],
        )
    )
    assert t.edges == ()


def test_list_items_quoted_without_numbering():
    items = [
        "1. Extend the number four line out to the hospital and the new estates",
        "2. Run the night bus every half hour instead of every hour on weekends",
    ]
    replies = [
        "Extend the number four line out to the hospital and the new estates",
        "Yes, long overdue.",
        "Run the night bus every half hour instead of every hour on weekends",
        "Who pays for it?",
    ]
    t = infer_quotes(thread(["My wish list:", *items], replies))
    assert labels(t, 2) == [("quote", 1), ("own", None), ("quote", 1), ("own", None)]


def test_explicit_quote_resolved_by_author_and_text():
    doc = ThreadDoc(
        title="t",
        source_kind="markdown",
        posts=(
            PostDoc(blocks=(Block(A1),), author="ana"),
            PostDoc(
                blocks=(Block(A1, is_quote=True, quoted_author="ana"), Block("No.")), author="bo"
            ),
            PostDoc(
                blocks=(Block("a line from elsewhere", is_quote=True, quoted_author="cy"),),
                author="dee",
            ),
        ),
    )
    t = infer_quotes(doc)
    first = t.posts[1].segments[0]
    assert (first.kind, first.source_post, first.source_author, first.explicit) == (
        "quote",
        1,
        "ana",
        True,
    )
    outside = t.posts[2].segments[0]
    assert (outside.source_post, outside.source_author) == (None, "cy")


def test_synthetic_2000_post_thread_edges_equal_planted_ones():
    synthetic = make_thread(posts=2000, seed=11)
    analysed = infer_quotes(synthetic.doc)
    got = {(e.from_post, e.to_post) for e in analysed.edges}
    assert got == synthetic.expected_edges


def test_replies_are_reply_edges_never_quote_edges():
    doc = ThreadDoc(
        title="t",
        source_kind="reddit",
        posts=(
            PostDoc(blocks=(Block(A1),), author="ana", source_id="c1"),
            PostDoc(
                blocks=(Block("Nonsense."),), author="bo", source_id="c2", reply_to_source_id="c1"
            ),
            PostDoc(blocks=(Block(A1), Block("Quite.")), author="cy", reply_to_source_id="c1"),
            PostDoc(
                blocks=(Block("Self."),), author="dee", source_id="c4", reply_to_source_id="c4"
            ),
        ),
    )
    t = infer_quotes(doc)
    assert [(e.from_post, e.to_post, e.count) for e in t.edges] == [(3, 1, 1)]
    assert [(r.from_post, r.to_post) for r in t.replies] == [(2, 1), (3, 1)]
    assert t.posts[1].reply_to == 1 and t.posts[3].reply_to is None


def test_two_phrases_far_apart_in_the_source_are_not_bridged_into_a_quote():
    t = infer_quotes(
        thread(
            [
                "Honestly it makes it feel like nobody plans anything here at the harbour.",
                "Fixing the pier is always harder than it actually is on paper, ask anyone.",
            ],
            ["Watching the harbour videos it makes it feel easier to rebuild than it actually is."],
        )
    )
    assert t.edges == ()


def test_links_to_different_pages_of_one_site_are_not_quotes():
    t = infer_quotes(
        thread(
            ["https://www.example.org/watch/video.php?v=111122223333"],
            ["https://www.example.org/watch/video.php?v=999988887777"],
        )
    )
    assert t.edges == ()


def test_bundled_example_thread_gives_exactly_its_labelled_edges():
    from tests.conftest import EXAMPLE_LABELS, EXAMPLE_TEXT

    gold = json.loads(EXAMPLE_LABELS.read_text(encoding="utf-8"))
    analysed = infer_quotes(read_file_bytes(EXAMPLE_TEXT.read_bytes()))
    assert {(e.from_post, e.to_post) for e in analysed.edges} == {
        tuple(e) for e in gold["quote_edges"]
    }


# --- the shingle index -----------------------------------------------------------------------


def test_shingle_index_keeps_posts_in_order_once_each_up_to_the_stop_limit():
    from bot.core.shingles import STOP_SHINGLE_POSTS, ShingleIndex

    phrase = [0, 1, 2]  # the shingle groups of "the depot by the old bridge"
    other = [3, 4, 5, 6]
    index = ShingleIndex(groups=10)
    index.add(phrase, 1)
    index.add(phrase, 1)  # a second own paragraph of the same post
    index.add(other, 2)
    index.add(phrase, 3)
    assert index.lookup(0) == [1, 3]
    assert index.lookup(3) == [2]
    assert index.known([*phrase, 9]) == set(phrase)
    assert index.lookup(9) == []
    assert index.starts([0, 2, 5], [0, 9, 4]) == {1: [0], 3: [0], 2: [5]}
    assert index.starts([0, 1, 7], [3, 4, 9]) == {2: [0, 1]}
    for post in range(4, STOP_SHINGLE_POSTS + 1):  # STOP_SHINGLE_POSTS posts in all
        index.add(phrase, post)
    assert index.lookup(0) == [1, *range(3, STOP_SHINGLE_POSTS + 1)]
    index.add(phrase, STOP_SHINGLE_POSTS + 1)
    assert index.lookup(0) == [1, *range(3, STOP_SHINGLE_POSTS + 2)]
    index.add(phrase, STOP_SHINGLE_POSTS + 2)  # one post too many: too common to point
    assert index.lookup(0) == []
    assert index.starts([0, 1], [0, 3]) == {2: [1]}


@pytest.mark.parametrize("split", [False, True], ids=["one sort", "two halves in threads"])
def test_shingle_groups_number_repeated_keys_by_first_occurrence(monkeypatch, split):
    import numpy as np

    from bot.core import shingles
    from bot.core.shingles import shingle_groups

    # the halves (keys with the top bit clear, and set) are grouped apart, then numbered as one
    monkeypatch.setattr(shingles, "_SPLIT_MIN", 2 if split else 1 << 40)

    rng = np.random.default_rng(3)
    for trial in range(104):
        # the last few cross the chunks shingle_groups packs the keys in
        size = int(rng.integers(1, 2000)) if trial < 100 else int(rng.integers(65_000, 140_000))
        pool = rng.integers(-(2**63), 2**63 - 1, size=max(1, size // 3), dtype=np.int64)
        keys = pool[rng.integers(0, len(pool), size)]
        if trial % 2:  # keys that share their high bits but are not equal
            keys = (keys & ~np.int64(0xFFFF)) | rng.integers(0, 3, size).astype(np.int64)
        counts: dict[int, int] = {}
        for key in keys.tolist():
            counts[key] = counts.get(key, 0) + 1
        first: dict[int, int] = {}
        expected = [
            first.setdefault(key, len(first)) if counts[key] > 1 else -1 for key in keys.tolist()
        ]
        assert shingle_groups(keys).tolist() == expected


def test_shingle_hashes_mix_each_run_of_words_the_same_in_every_chunk():
    import numpy as np

    from bot.core.shingles import _FINAL, _MIX, SHINGLE, shingle_hashes

    def one(words: list[int]) -> int:  # the documented mix, for one shingle
        mask = 2**64 - 1
        key = sum(w * int(m) for w, m in zip(words, _MIX, strict=True)) & mask
        key ^= key >> 31
        key = (key * int(_FINAL)) & mask
        key ^= key >> 29
        return key - 2**64 if key >= 2**63 else key

    rng = np.random.default_rng(5)
    ids = rng.integers(0, 2**31 - 1, size=140_000).astype(np.int32)
    keys = shingle_hashes(ids)
    assert len(keys) == len(ids) - SHINGLE + 1 and keys.dtype == np.int64
    for i in [0, 1, 65_535, 65_536, 65_537, 131_071, 131_072, len(keys) - 1]:
        assert int(keys[i]) == one(ids[i : i + SHINGLE].tolist())
    assert shingle_hashes(ids[:3]).tolist() == []


def test_thread_words_give_ids_units_and_the_repeated_shingles():
    from bot.core.shingles import ThreadWords

    shared = "the tram would cross the river at the old bridge"
    doc = ThreadDoc(
        title="t",
        source_kind="text",
        posts=(
            PostDoc(blocks=(Block("Hello there."), Block(shared + " today"))),
            PostDoc(blocks=(Block(shared, is_quote=True), Block("No, " + shared))),
            PostDoc(blocks=(Block("Quite_so, İstanbul don’t"),)),
        ),
    )
    words = ThreadWords(doc.posts)
    ids = {word: i for word, i in words.vocabulary.items()}
    assert words.block_bounds(1) == [(0, 2), (2, 13)]
    assert words.block_bounds(2) == [(0, 10), (10, 21)]
    assert words.post_range(2) == (13, 34)
    folded = ["quite", "so", "i̇stanbul", "don't"]  # as quote_words reads them
    assert words.words(*words.post_range(3)) == [ids[w] for w in folded]
    # the first post's second block starts its one unit at block 0; the quote is its own unit
    assert [words.unit(1, 0), words.unit(2, 0), words.unit(2, 1), words.unit(3, 0)] == [0, 1, 2, 3]
    positions, groups = words.shingles(0)
    assert positions == list(range(2, 9))  # "the tram … bridge" of block 2, not "hello there"
    assert groups == list(range(7))  # numbered by first occurrence
    assert words.shingles(1) == (list(range(7)), groups)
    assert words.shingles(2) == (list(range(1, 8)), groups)
    assert words.shingles(3) == ([], [])
    assert words.groups == 7
    assert words.find([ids["old"], ids["bridge"]], *words.post_range(2)) == 8
    assert words.find([ids["bridge"], ids["no"]], *words.post_range(2)) == 9
    assert words.find([ids["bridge"], ids["today"]], *words.post_range(2)) == -1


# --- quote blocks, short, edited and shortened quotes (own writing) -----------------------------

GREETING = ["Hi all,", A1, "Cheers, Mo"]


def test_a_quoted_block_keeps_its_short_lines() -> None:
    """A greeting or sign-off inside a copied block is part of the quote, not own words."""
    t = infer_quotes(thread(GREETING, [*GREETING, "Mo, the roof was fixed in May."]))
    assert labels(t, 2) == [("quote", 1), ("quote", 1), ("quote", 1), ("own", None)]


def test_an_own_short_line_between_two_quotes_stays_own() -> None:
    t = infer_quotes(thread([A1, A2], [A1, "Yes.", A2, "Also yes."]))
    assert labels(t, 2) == [("quote", 1), ("own", None), ("quote", 1), ("own", None)]


def test_a_short_quote_of_the_post_just_before_is_found() -> None:
    t = infer_quotes(
        thread(
            [A1],
            ["The library flooded again and the wing was postponed again.", "Poor Harriet..."],
            ["Poor Harriet...", "She has waited for that wing since the nineties."],
        )
    )
    assert labels(t, 3) == [("quote", 2), ("own", None)]


def test_a_short_line_is_not_a_quote_of_a_post_far_back_or_without_a_reply() -> None:
    fillers = ([f"w{n}a w{n}b w{n}c w{n}d w{n}e w{n}f w{n}g"] for n in range(7))
    far = infer_quotes(
        thread(
            ["Poor Harriet...", A1],
            *fillers,
            ["Poor Harriet...", "She has waited for that wing since the nineties."],
        )
    )
    assert far.edges == ()
    last = infer_quotes(
        thread(["Poor Harriet...", A1], ["Here is what I think.", "Poor Harriet..."])
    )
    assert last.edges == ()


def test_a_sentence_of_a_longer_line_quoted_alone_is_found() -> None:
    t = infer_quotes(
        thread(
            ["I will ask at the meeting. Is there anything else we should ask for in writing?"],
            ["Is there anything else we should ask for in writing?", "The Friday lunches."],
        )
    )
    assert labels(t, 2) == [("quote", 1), ("own", None)]


def test_a_quote_shortened_with_an_ellipsis_is_one_quote() -> None:
    shortened = "The council keeps promising a new library wing … while the old reading room leaks."
    t = infer_quotes(thread([A1], [shortened, "Every single winter."]))
    assert labels(t, 2) == [("quote", 1), ("own", None)]
    segs = t.posts[1].segments
    assert segs[0].text == shortened


def test_a_quote_of_a_line_that_quotes_inline_goes_to_that_line_s_writer() -> None:
    """Post 2 repeats part of post 1 inside its own sentence; post 3 copies post 2's whole
    line: those are post 2's words (post 3 quoted post 2, not post 1)."""
    inline = (
        "Ana said every budget since the flood has pushed it back another year, and that is "
        "simply not what the minutes of the finance committee show."
    )
    t = infer_quotes(thread([A1], [inline], [inline, "Which minutes?"]))
    assert labels(t, 3) == [("quote", 2), ("own", None)]


def test_a_line_its_writer_repeated_goes_with_the_block_it_was_copied_in() -> None:
    """Post 2 repeats post 1's line among its own; post 3 quotes post 2's three lines as a
    block: the middle line is post 2's too (the block has one source)."""
    spec = "Steel frame, two hundred millimetre stroke, and a two year warranty on every part."
    own_a = "We build every actuator ourselves in the workshop behind the station."
    own_b = "Delivery takes six weeks because each rig is tested for a full day first."
    t = infer_quotes(
        thread([spec, "Ask me anything."], [own_a, spec, own_b], [own_a, spec, own_b, "Thanks."])
    )
    assert labels(t, 2)[1] == ("quote", 1)
    assert labels(t, 3) == [("quote", 2), ("quote", 2), ("quote", 2), ("own", None)]


def test_the_post_replied_to_wins_between_two_that_wrote_a_short_line() -> None:
    """Posts 1 and 3 both wrote "Poor Harriet..."; post 4 opens with it. Without replies it
    quotes the post just before; told that it answers post 1, it quotes post 1."""

    def doc(reply_to: str | None) -> ThreadDoc:
        return ThreadDoc(
            title="t",
            source_kind="discourse",
            posts=(
                PostDoc(blocks=(Block("Poor Harriet..."), Block(A1)), source_id="1"),
                PostDoc(blocks=(Block(B1),), source_id="2"),
                PostDoc(blocks=(Block(A2), Block("Poor Harriet...")), source_id="3"),
                PostDoc(
                    blocks=(Block("Poor Harriet..."), Block("She deserves better.")),
                    source_id="4",
                    reply_to_source_id=reply_to,
                ),
            ),
        )

    assert labels(infer_quotes(doc(None)), 4)[0] == ("quote", 3)
    assert labels(infer_quotes(doc("1")), 4)[0] == ("quote", 1)


_ASCII_WORDY = "".join(map(chr, range(128))) + "aeiou tn'`_" * 4


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=_ASCII_WORDY, max_size=60), min_size=1, max_size=8))
def test_thread_words_read_ascii_text_as_quote_words_does(texts: list[str]) -> None:
    """The ASCII fast path (bytes.translate + split) gives exactly the regex's words."""
    from bot.core.shingles import ThreadWords, quote_words

    texts = [*texts, "www.example.com/x Don't", "https://a.b/c?d=1 x", "Ünïcode İ ﬁne"]
    doc = ThreadDoc(
        title="t", source_kind="text", posts=(PostDoc(blocks=tuple(map(Block, texts))),)
    )
    words = ThreadWords(doc.posts)
    by_id = {i: w for w, i in words.vocabulary.items()}
    read = [by_id[i] for i in words.words(*words.post_range(1))]
    assert read == [w for text in texts for w in quote_words(text)]
