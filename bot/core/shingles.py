"""Words and hashed word shingles for quote inference, and what is known of earlier posts.

`ThreadWords` reads every word of the thread once, before inference starts: each word
becomes a small integer (its place in the thread's vocabulary), and the 4-word shingles
are hashed for the whole thread at once with numpy. On a big thread, where the process may
fork, a child reads the later half of the words meanwhile (`FORK_MIN_POSTS`). Only a
shingle that occurs more than once in the thread can ever find a quote, so only those are
handed to the index (about half of a thread's shingles; the others are never looked up or
stored).

`ShingleIndex` maps each such shingle of the posts' OWN words to the posts that wrote it.
`PostTexts` knows, of every earlier post, which paragraphs are quotes and who quoted it:
with the post's word ids that is what the inference needs to follow a quote past the own
words that found it.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import accumulate, compress, groupby, pairwise
from operator import itemgetter
from typing import TYPE_CHECKING

import numpy as np

from bot.core import forked
from bot.core.text import WORD_RE, word_spans

if TYPE_CHECKING:
    from bot.core.models import PostDoc

SHINGLE = 4
"""Words per shingle: long enough that "I think so too" style phrases rarely collide."""
STOP_SHINGLE_POSTS = 64
"""Shingles already seen in this many posts are too common to point at a source."""
SHORT_LINE_WORDS = 3
"""Own lines this short are kept whole in a phrase table (they have too few shingles)."""
SHORT_LINE_POSTS = 4
"""A short line written by this many posts is a common phrase, not something to quote."""
MAX_QUOTERS = 16
"""Later posts remembered per post as having quoted it (the nearest are kept)."""

Ids = Sequence[int]
"""Words as vocabulary ids: equal ids, equal words."""


_FIRST = itemgetter(0)
_SECOND = itemgetter(1)


class ShingleIndex:
    """Own shingles → the posts that wrote them (in thread order).

    A shingle is known by its *group*: the number `ThreadWords` gives each shingle that
    occurs more than once in the thread, in the order of their first occurrence. So the
    index is an array, not a hash table: quotes mostly repeat recent posts, whose groups
    sit close together, where a dict of millions of keys costs a cache miss a look-up.

    `first[group]` is the first post that wrote it (0: none yet), negated once later posts
    wrote it too; those are in `more`. One look-up a shingle, mapped in C over a
    paragraph's groups, tells unknown (0), one post (> 0) and several (< 0) apart.
    """

    def __init__(self, groups: int) -> None:
        self._first = array("i", bytes(4 * groups))
        self._first_view = np.frombuffer(self._first, dtype=np.int32)  # the same memory
        self._more: dict[int, list[int]] = {}

    def add(self, keys: Sequence[int], post: int) -> None:
        """Index shingle groups `keys` as post `post`'s own words."""
        first, more = self._first, self._more
        if not any(map(first.__getitem__, keys)):
            # the usual post: none of its shingles written before, so it is the first
            # writer of each (written twice here, still the first): set them all in C
            self._first_view[keys] = post
            return
        for key in keys:
            writer = first[key]
            if not writer:
                first[key] = post
                continue
            later = more[key] if writer < 0 else None
            last = later[-1] if later else writer
            if last == post:
                continue
            if later is None:
                more[key] = [post]
                first[key] = -writer
            elif len(later) < STOP_SHINGLE_POSTS:
                later.append(post)

    def known(self, keys: Sequence[int]) -> set[int]:
        """The groups some earlier post wrote (whether common or not)."""
        first = self._first
        return {key for key in keys if first[key]}

    def starts(self, positions: Sequence[int], keys: Sequence[int]) -> dict[int, list[int]]:
        """For each earlier post sharing shingle groups `keys` (starting at `positions`,
        ascending), where those shingles start: the words [i, i + SHINGLE) at each start
        repeat that post's own words."""
        writers = list(map(self._first.__getitem__, keys))
        if not any(writers):  # most paragraphs: nothing here was written before
            return {}
        if min(writers) < 0:  # some shingle written by more than one post: the rare case
            return self._starts_shared(positions, keys, writers)
        found: dict[int, list[int]] = {}
        # one post a shingle: group the runs of positions by that post, in C
        pairs = zip(filter(None, writers), compress(positions, writers))  # noqa: B905
        for post, group in groupby(pairs, key=_FIRST):
            at = found.get(post)
            if at is None:
                found[post] = list(map(_SECOND, group))
            else:
                at.extend(map(_SECOND, group))
        return found

    def _starts_shared(
        self, positions: Sequence[int], keys: Sequence[int], writers: list[int]
    ) -> dict[int, list[int]]:
        found: dict[int, list[int]] = {}
        for i, key, writer in zip(positions, keys, writers, strict=True):
            if not writer:
                continue
            if writer < 0:
                later = self._more[key]
                if len(later) >= STOP_SHINGLE_POSTS:
                    continue
                posts: Sequence[int] = (-writer, *later)
            else:
                posts = (writer,)
            for post in posts:
                at = found.get(post)
                if at is None:
                    found[post] = [i]
                else:
                    at.append(i)
        return found

    def lookup(self, key: int) -> list[int]:
        """The posts that wrote `key`, or none when too many did to point at a source."""
        first = self._first[key]
        if not first:
            return []
        if first > 0:
            return [first]
        later = self._more[key]
        if len(later) >= STOP_SHINGLE_POSTS:
            return []
        return [-first, *later]


class _Vocabulary(dict[str, int]):
    """word → id, a new word getting the next id: `map(vocabulary.__getitem__, words)` runs
    in C for every word already seen."""

    def __missing__(self, word: str) -> int:
        self[word] = len(self)
        return len(self) - 1


class _AsciiVocabulary(dict[bytes, int]):
    """The same ids for words read as ASCII bytes."""

    def __init__(self, words: _Vocabulary) -> None:
        super().__init__()
        self._words = words

    def __missing__(self, word: bytes) -> int:
        index = self[word] = self._words[word.decode()]
        return index


_ASCII_WORDS = bytes(
    c if chr(c).isascii() and chr(c).isalnum() and not chr(c).isupper() else
    c + 32 if chr(c).isascii() and chr(c).isupper() else 32
    for c in range(256)
)  # fmt: skip
"""ASCII letters (lowercased) and digits stay, every other byte becomes a space: for an
ASCII text without apostrophes or links, its words are then exactly `quote_words`'s (a
run of letters and digits, folded to lower case; "_" splits words), read by bytes.split in
a third of the time of the word regex."""

_SEPARATOR = 1
_ASCII_BATCH = _ASCII_WORDS[:_SEPARATOR] + bytes([_SEPARATOR]) + _ASCII_WORDS[_SEPARATOR + 1 :]
"""_ASCII_WORDS, but the byte 0x01 stays: it marks where one block's words end."""
_BATCH_CHARS = 1 << 20
"""ASCII text read in one go: big enough that the cost a block vanishes, small enough that
its words (one bytes object each) are few at a time."""


class _AsciiBatch:
    """Words of ASCII blocks read many blocks at a time (see `_ASCII_WORDS`).

    The blocks are joined with " \\x01 " between them, folded, split and looked up in one
    pass each, so a block costs no calls of its own; the separators' id (-1) tells where
    each block's words end. A batch whose text holds 0x01 itself is read block by block.
    """

    __slots__ = ("_chars", "_lookup", "_texts")

    def __init__(self, words: _Vocabulary) -> None:
        vocabulary = _AsciiVocabulary(words)
        vocabulary[bytes([_SEPARATOR])] = -1
        self._lookup = vocabulary.__getitem__
        self._texts: list[str] = []
        self._chars = 0

    def add(self, text: str, ids: array[int], sizes: list[int]) -> None:
        self._texts.append(text)
        self._chars += len(text)
        if self._chars >= _BATCH_CHARS:
            self.flush(ids, sizes)

    def flush(self, ids: array[int], sizes: list[int]) -> None:
        """Append the waiting blocks' word ids to `ids` and their word counts to `sizes`."""
        texts = self._texts
        if not texts:
            return
        self._texts, self._chars = [], 0
        data = " \x01 ".join(texts).encode()
        if data.count(b"\x01") != len(texts) - 1:  # a text holds 0x01: one at a time
            for text in texts:
                words = list(map(self._lookup, text.encode().translate(_ASCII_WORDS).split()))
                sizes.append(len(words))
                ids.fromlist(words)
            return
        found = np.fromiter(map(self._lookup, data.translate(_ASCII_BATCH).split()), dtype=np.int32)
        ends = np.flatnonzero(found < 0)
        counts = np.diff(ends, prepend=-1, append=len(found)) - 1
        sizes.extend(counts.tolist())
        ids.frombytes(found[found >= 0].tobytes())


_CHUNK = 1 << 16
"""Shingles hashed, packed or turned into Python lists at a time."""

_MIX = tuple(
    np.uint64(m)
    for m in (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93)
)
_FINAL = np.uint64(0x94D049BB133111EB)


def shingle_hashes(ids: np.ndarray) -> np.ndarray:
    """64-bit keys of every SHINGLE consecutive ids (len(ids) - SHINGLE + 1 of them), as
    int64. Distinct shingles get distinct keys but for a chance of about 2^-64 a pair, as
    with Python's hash of a tuple."""
    if len(ids) < SHINGLE:
        return np.zeros(0, dtype=np.int64)
    n = len(ids) - SHINGLE + 1
    key = np.empty(n, dtype=np.uint64)
    # A chunk at a time, through two small buffers that stay in the cache: whole-thread
    # temporaries (100 MB each at 100,000 posts) cost more in page faults than in sums.
    words = np.empty(min(n, _CHUNK) + SHINGLE - 1, dtype=np.uint64)
    part = np.empty(min(n, _CHUNK), dtype=np.uint64)
    for start in range(0, n, _CHUNK):
        m = min(n - start, _CHUNK)
        w = words[: m + SHINGLE - 1]
        np.copyto(w, ids[start : start + m + SHINGLE - 1], casting="unsafe")
        k, p = key[start : start + m], part[:m]
        np.multiply(w[:m], _MIX[0], out=k)
        for d in range(1, SHINGLE):
            k += np.multiply(w[d : d + m], _MIX[d], out=p)
        k ^= np.right_shift(k, np.uint64(31), out=p)
        k *= _FINAL
        k ^= np.right_shift(k, np.uint64(29), out=p)
    return key.view(np.int64)


def shingle_keys(ids: Ids) -> list[int]:
    """The keys of `shingle_hashes` as Python ints."""
    return shingle_hashes(np.asarray(ids, dtype=np.int64)).tolist()


_SPLIT_MIN = 1 << 18
"""From this many keys, shingle_groups sorts the keys with the top bit clear and those with
it set in two threads: numpy releases the GIL while it sorts and compares, so the halves
(which can share no key) are grouped side by side on two cores."""


def shingle_groups(keys: np.ndarray) -> np.ndarray:
    """For each key, its group: the same number for equal keys, numbered 0, 1, 2 … in the
    order of each repeated key's first occurrence; -1 for a key that occurs only once.

    One sort of the keys' high bits packed with their index puts keys that may be equal
    side by side, in index order; only those are compared in full. Keys that share the
    high bits but differ (a few among millions) are sorted apart again. (Counting keys in
    hash buckets with np.bincount was slower: millions of random writes into a big table.)
    A big array is grouped as two halves (by the keys' top bit) in two threads.
    """
    size = len(keys)
    groups = np.full(size, -1, dtype=np.int32)
    if size < 2:
        return groups
    bits = np.uint64(size.bit_length())
    if size < _SPLIT_MIN:
        runs = [_repeated_runs(keys, None, bits)]
    else:
        with ThreadPoolExecutor(1) as pool:
            negative = pool.submit(_repeated_runs, keys, np.flatnonzero(keys < 0), bits)
            runs = [_repeated_runs(keys, np.flatnonzero(keys >= 0), bits), negative.result()]
    first = np.zeros(size, dtype=bool)
    for heads, _, _ in runs:
        first[heads] = True
    numbers = np.cumsum(first, dtype=np.int32)  # numbered by first occurrence
    del first
    for heads, members, sizes in runs:
        groups[members] = np.repeat(numbers[heads] - 1, sizes)
    return groups


def _repeated_runs(
    keys: np.ndarray, index: np.ndarray | None, bits: np.uint64
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The keys that occur more than once among keys[index] (all keys if None), as index
    arrays: each one's first index (heads), then all their indices, grouped key by key in
    the order of the heads and ascending within a key (members), and each key's count."""
    size = len(keys) if index is None else len(index)
    packed = np.empty(size, dtype=np.uint64)
    unsigned = keys.view(np.uint64)
    if index is None:
        counting = np.arange(min(size, _CHUNK), dtype=np.uint64)
    for start in range(0, size, _CHUNK):  # in chunks, as in shingle_hashes
        p = packed[start : start + _CHUNK]
        if index is None:
            np.right_shift(unsigned[start : start + _CHUNK], bits, out=p)
            p <<= bits
            p |= counting[: len(p)]
            counting += np.uint64(len(p))
        else:
            at = index[start : start + _CHUNK]
            np.right_shift(unsigned[at], bits, out=p)
            p <<= bits
            p |= at.view(np.uint64)
    packed.sort()
    high = packed >> bits
    same = high[1:] == high[:-1]
    paired = np.zeros(size, dtype=bool)  # next to an equal key: the candidates
    paired[1:] = same
    paired[:-1] |= same
    del same
    chosen = np.flatnonzero(paired)
    del paired
    order = (packed[chosen] & ((np.uint64(1) << bits) - np.uint64(1))).view(np.int64)
    high = high[chosen]
    del packed, chosen
    full = keys[order]
    same_high = high[1:] == high[:-1]
    clash = same_high & (full[1:] != full[:-1])
    if clash.any():  # distinct keys with the same high bits: sort those runs by key
        runs = np.flatnonzero(np.concatenate(([True], ~same_high, [True])))
        which = np.unique(np.searchsorted(runs, np.flatnonzero(clash), side="right") - 1)
        at = np.concatenate([np.arange(runs[r], runs[r + 1]) for r in which])
        resorted = at[np.lexsort((order[at], full[at].view(np.uint64)))]
        order[at] = order[resorted]
        full[at] = full[resorted]
    new = np.ones(len(order), dtype=bool)
    new[1:] = ~same_high | (full[1:] != full[:-1])
    del high, full, same_high
    starts = np.flatnonzero(new)
    sizes = np.diff(np.append(starts, len(order)))
    repeated = sizes > 1
    return order[starts[repeated]], order[np.repeat(repeated, sizes)], sizes[repeated]


FORK_MIN_POSTS = 10_000
"""From this many posts on, a forked child (bot/core/forked.py) turns the words of the
later posts into ids while this process reads the earlier ones, where the process may
fork (a one-shot command). Below it the ~20 µs a post saved do not pay for the fork."""
FORK_SHARE = 0.5
"""The share of the posts read here; the child reads the rest (it also pickles its answer,
which the parent then maps into its own ids)."""


def _readable_as_ascii(text: str) -> bool:
    return (
        text.isascii()
        and "'" not in text
        and "`" not in text
        and not ("://" in text or "www." in text or "WWW." in text)
    )


def _read_into(
    posts: Sequence[PostDoc], vocabulary: _Vocabulary, ids: array[int], sizes: list[int]
) -> None:
    """Append the posts' words, block by block, to `ids` (new words joining `vocabulary`)
    and each block's word count to `sizes`."""
    lookup = vocabulary.__getitem__
    reader = _AsciiBatch(vocabulary)
    for post in posts:
        for block in post.blocks:
            text = block.text
            if _readable_as_ascii(text):
                reader.add(text, ids, sizes)
            else:
                reader.flush(ids, sizes)  # the words stay in thread order
                words = list(map(lookup, quote_words(text)))
                sizes.append(len(words))
                ids.fromlist(words)
    reader.flush(ids, sizes)


def _read_words(posts: Sequence[PostDoc], start: int) -> tuple[list[str], bytes, bytes]:
    """The words of posts[start:] in a vocabulary of their own (for a forked child): its
    words in the order of their ids (= of their first occurrence), the ids and the block
    sizes as int32 bytes. Small next to the posts: ~4 bytes a word."""
    vocabulary = _Vocabulary()
    ids = array("i")
    sizes: list[int] = []
    _read_into(posts[start:], vocabulary, ids, sizes)
    return list(vocabulary), ids.tobytes(), array("i", sizes).tobytes()


def _append_read(
    read: tuple[list[str], bytes, bytes], vocabulary: _Vocabulary, ids: array[int], sizes: list[int]
) -> None:
    """Append what `_read_words` read of the later posts, its ids mapped into `vocabulary`.

    Its words come in the order they first occur in those posts, so the ones new here get
    the ids they would have got had this process read those posts itself."""
    words, their_ids, their_sizes = read
    mapping = np.fromiter(map(vocabulary.__getitem__, words), dtype=np.int32, count=len(words))
    ids.frombytes(mapping[np.frombuffer(their_ids, dtype=np.int32)].tobytes())
    sizes.extend(np.frombuffer(their_sizes, dtype=np.int32).tolist())


def _block_layout(posts: Sequence[PostDoc]) -> tuple[list[int], list[int]]:
    """The first block of each post and of each unit (see `ThreadWords`), each + the end."""
    post_blocks: list[int] = []
    unit_blocks: list[int] = []
    blocks = 0
    for post in posts:
        post_blocks.append(blocks)
        in_stream = False
        for block in post.blocks:
            if block.is_quote or not in_stream:
                unit_blocks.append(blocks)
            in_stream = not block.is_quote
            blocks += 1
    post_blocks.append(blocks)
    unit_blocks.append(blocks)
    return post_blocks, unit_blocks


class ThreadWords:
    """Every word of a thread's posts as vocabulary ids, read once before inference.

    A post's words are its blocks' words in order. The shingles are those of each
    *unit*: a run of consecutive blocks that are not explicit quotes (read as one stream),
    or one explicit quote block; a shingle never spans two units. `shingles(unit)` gives
    those that occur more than once in the thread.
    """

    __slots__ = (
        "_block_starts",
        "_bytes",
        "_chunk",
        "_chunk_start",
        "_post_blocks",
        "_shingle_groups",
        "_shingle_index",
        "_shingle_positions",
        "_unit_blocks",
        "_unit_starts",
        "_view",
        "content",
        "groups",
        "ids",
        "vocabulary",
    )

    def __init__(self, posts: Sequence[PostDoc]) -> None:
        vocabulary = _Vocabulary()
        ids = array("i")
        sizes: list[int] = []  # words of each block (thread order)
        split = len(posts)  # the posts read here; a forked child reads the others
        if len(posts) >= FORK_MIN_POSTS and forked.available():
            split = int(len(posts) * FORK_SHARE)
        pending = forked.start(_read_words, posts, split) if split < len(posts) else None
        try:
            _read_into(posts[:split], vocabulary, ids, sizes)
            post_blocks, unit_blocks = _block_layout(posts)
            if pending is not None:
                _append_read(pending.result(), vocabulary, ids, sizes)
        finally:
            if pending is not None:
                pending.close()  # an error here: the child is not waited for
        block_starts = [0, *accumulate(sizes)]  # word offset of each block, + the end
        self.ids = ids
        self.vocabulary = vocabulary
        self._bytes = ids.tobytes()
        self._view = memoryview(self._bytes).cast("i")
        self._block_starts = block_starts
        self._post_blocks = post_blocks
        self._unit_blocks = unit_blocks
        self._unit_starts = [block_starts[b] for b in unit_blocks]
        self.content = bytearray()
        self._index_shingles()

    def _index_shingles(self) -> None:
        """Positions (within their unit) and groups of the repeated shingles, and where
        each unit's begin among them."""
        keys = shingle_hashes(np.frombuffer(self._bytes, dtype=np.int32))
        starts = np.asarray(self._unit_starts, dtype=np.int64)
        valid = np.ones(len(keys), dtype=bool)
        ends, begins = starts[1:], starts[:-1]
        for back in range(1, SHINGLE):  # the last SHINGLE - 1 words of a unit start none
            at = ends - back
            inside = (at >= begins) & (at < len(keys))
            valid[at[inside]] = False
        positions = np.flatnonzero(valid)
        groups = shingle_groups(keys[positions])
        del keys
        repeated = groups >= 0
        positions = positions[repeated]
        groups = groups[repeated]
        index = np.searchsorted(positions, starts)
        # positions within their unit: what the inference works with
        local = positions - np.repeat(starts[:-1], np.diff(index))
        self._shingle_positions = local.astype(np.int32)
        self._shingle_groups = groups
        self._shingle_index = index.tolist()
        self.groups = int(groups.max()) + 1 if len(groups) else 0
        self._chunk: tuple[list[int], list[int]] = ([], [])
        self._chunk_start = 0

    # --- where things are ------------------------------------------------------------------

    def post_range(self, post: int) -> tuple[int, int]:
        """Word offsets [start, end) of post number `post` (1-based) in the thread."""
        blocks = self._post_blocks
        return self._block_starts[blocks[post - 1]], self._block_starts[blocks[post]]

    def block_bounds(self, post: int) -> list[tuple[int, int]]:
        """Word ranges [start, end) of the post's blocks, as offsets within the post."""
        starts = self._block_starts[self._post_blocks[post - 1] : self._post_blocks[post] + 1]
        base = starts[0]
        return [(a - base, b - base) for a, b in pairwise(starts)]

    def unit(self, post: int, block: int) -> int:
        """The unit starting at block `block` of post `post`."""
        first = self._post_blocks[post - 1] + block
        return bisect_left(self._unit_blocks, first)

    def shingles(self, unit: int) -> tuple[list[int], list[int]]:
        """(positions within the unit, groups) of its shingles that occur more than once
        in the thread, positions ascending. Units are asked for in thread order, so the
        arrays are turned into lists a chunk at a time."""
        lo, hi = self._shingle_index[unit], self._shingle_index[unit + 1]
        if lo == hi:
            return [], []
        positions, groups = self._chunk
        start = self._chunk_start
        if lo < start or hi > start + len(positions):
            start, end = lo, max(hi, lo + _CHUNK)
            positions = self._shingle_positions[start:end].tolist()
            groups = self._shingle_groups[start:end].tolist()
            self._chunk, self._chunk_start = (positions, groups), start
        return positions[lo - start : hi - start], groups[lo - start : hi - start]

    def words(self, start: int, end: int) -> list[int]:
        return self.ids[start:end].tolist()

    def view(self, start: int, end: int) -> memoryview:
        """Words [start, end) without copying them (indexing gives ints, as a list's)."""
        return self._view[start:end]

    def find(self, part: Ids, start: int, end: int) -> int:
        """Where the words `part` first occur, word for word, within words [start, end)
        of the thread (an offset from `start`); -1 if nowhere."""
        if not part:
            return -1
        return self._find(array("i", part).tobytes(), start, end)

    def find_words(self, first: int, last: int, start: int, end: int) -> int:
        """`find` of the thread's own words [first, last) (a stretch of the post being
        read): the needle is a slice of the thread's bytes, not a list converted."""
        if last <= first:
            return -1
        return self._find(self._bytes[4 * first : 4 * last], start, end)

    def _find(self, needle: bytes, start: int, end: int) -> int:
        data = self._bytes
        at = data.find(needle, 4 * start, 4 * end)
        while at >= 0 and at % 4:
            at = data.find(needle, at + 1, 4 * end)
        return -1 if at < 0 else at // 4 - start

    def mark_content(self, is_content: object) -> None:
        """`content[id]` is 1 for each word that `is_content(word)` holds true of."""
        flags = bytearray(len(self.vocabulary))
        for word, index in self.vocabulary.items():
            if is_content(word):  # type: ignore[operator]
                flags[index] = 1
        self.content = flags


@dataclass(slots=True)
class PostTexts:
    """What inference keeps of every analysed post, besides its words (in `words`).

    `quoted[post]` marks the quoted words of the paragraphs that are mostly quotes (absent
    when the post has none): a later quote of those words belongs to the post they were
    quoted from, not to this one. A quote inside a paragraph of the poster's own words is
    not marked: copying that whole paragraph quotes this post. `own_paragraphs[post]` are
    the (start, end) word ranges of the paragraphs that are not wholly quotes.
    """

    thread: ThreadWords
    quoted: dict[int, bytearray] = field(default_factory=dict)
    own_paragraphs: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    paragraph_starts: dict[int, list[int]] = field(default_factory=dict)
    quoters: dict[int, list[int]] = field(default_factory=dict)
    short_lines: dict[tuple[int, ...], list[int]] = field(default_factory=dict)

    def add(
        self,
        post: int,
        bounds: Sequence[tuple[int, int]],
        quoted: Sequence[bytes | None],
        sources: Sequence[int],
    ) -> None:
        """Keep post `post`: its paragraphs' word ranges within the post, which of their
        words are quoted (None: none), and the earlier posts it quotes (it becomes one of
        their quoters)."""
        own: list[tuple[int, int]] = []
        mask: bytearray | None = None
        base = self.thread.post_range(post)[0]
        ids = self.thread.ids
        for (start, end), marks in zip(bounds, quoted, strict=True):
            if marks is not None:
                if mask is None:
                    mask = bytearray(start)
                mask.extend(marks)
            elif mask is not None:
                mask.extend(bytes(end - start))
            if marks is None or not all(marks):
                own.append((start, end))
            if marks is None and 0 < end - start <= SHORT_LINE_WORDS:
                holders = self.short_lines.setdefault(tuple(ids[base + start : base + end]), [])
                if len(holders) < SHORT_LINE_POSTS and (not holders or holders[-1] != post):
                    holders.append(post)
        self.own_paragraphs[post] = own
        self.paragraph_starts[post] = [start for start, _ in bounds]
        if mask is not None:
            self.quoted[post] = mask
        for source in sources:
            later = self.quoters.setdefault(source, [])
            if not later or later[-1] != post:
                later.append(post)
                if len(later) > MAX_QUOTERS:
                    del later[0]

    def size(self, post: int) -> int:
        start, end = self.thread.post_range(post)
        return end - start

    def view(self, post: int) -> memoryview:
        """The post's whole word stream (paragraphs in order, quotes included), without
        copying it (indexing gives ints, as a list's)."""
        return self.thread.view(*self.thread.post_range(post))

    def find_words(self, first: int, last: int, post: int) -> int:
        """`find` of the thread's words [first, last) in the post's word stream."""
        return self.thread.find_words(first, last, *self.thread.post_range(post))

    def is_quoted(self, post: int, index: int) -> bool:
        mask = self.quoted.get(post)
        return mask is not None and bool(mask[index])


_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)


def _may_hold_url(text: str) -> bool:
    return "://" in text or "www." in text or "WWW." in text


def quote_tokens(text: str) -> list[tuple[str, int, int]]:
    """Words with offsets, but a URL is ONE token: two links to different videos on one
    site share many URL "words" and must not look like a quote of each other."""
    if not _may_hold_url(text):
        return word_spans(text)
    tokens: list[tuple[str, int, int]] = []
    cursor = 0
    for m in _URL_RE.finditer(text):
        before = word_spans(text[cursor : m.start()])
        tokens.extend((w, a + cursor, b + cursor) for w, a, b in before)
        tokens.append((_url_token(m.group()), m.start(), m.end()))
        cursor = m.end()
    tokens.extend((w, a + cursor, b + cursor) for w, a, b in word_spans(text[cursor:]))
    return tokens


def quote_words(text: str) -> list[str]:
    """The words of quote_tokens without offsets: the hot path (most text has no quote)."""
    if not _may_hold_url(text):
        return normalised_words(text)
    words: list[str] = []
    cursor = 0
    for m in _URL_RE.finditer(text):
        words.extend(normalised_words(text[cursor : m.start()]))
        words.append(_url_token(m.group()))
        cursor = m.end()
    words.extend(normalised_words(text[cursor:]))
    return words


_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'"})
_PLAIN_WORD_RE = re.compile(r"\w+(?:'\w+)*")
r"""text.WORD_RE on folded text without "_" (the only \w that WORD_RE leaves out) and with
its apostrophes straightened: the same words, in 25 % less time."""


def normalised_words(text: str) -> list[str]:
    """Exactly the words of text.word_spans, without building offset tuples."""
    if "’" in text or "‘" in text or "`" in text:  # translate is slow: only when needed
        text = text.translate(_APOSTROPHES)
    folded = text.casefold()
    if len(folded) == len(text):
        if "_" in folded:
            return WORD_RE.findall(folded)
        return _PLAIN_WORD_RE.findall(folded)
    return [w for w, _, _ in word_spans(text)]


def _url_token(url: str) -> str:
    return url.casefold().rstrip(".,;:!?)]}'\"")
