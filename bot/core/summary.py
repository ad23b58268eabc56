"""Extractive summaries of a thread's own words with sumy, every sentence attributed.

Only own-words segments are summarised: a quoted sentence is the quoted author's words
and is already counted in their post, so counting it again would bias the ranking toward
much-quoted text and show it under the quoter's name.

How picks are made. sumy's summarisers rate every sentence and then keep the best
`count` in document order (`AbstractSummarizer._get_best_sentences`: a stable sort by
rating, descending, so ties go to the earlier sentence). We need the ratings themselves
(to report score and rank, and to fill a word or character budget), so we run the stock
summariser with its `_get_best_sentences` swapped, on that one instance, for a function
that records the rating of every sentence exactly as sumy would compute it. KL-Sum and
SumBasic rate by picking greedily one sentence at a time (rating = minus the pick step);
for those we replay sumy's loop with sumy's own helper methods and stop as soon as we
have enough, which gives the same picks without paying for a full ranking. Sentences are
ranked with sumy's ordering, then shown in thread order. For a sentence count the picks
are exactly sumy's `summarizer(document, k)`, except that a sentence whose text repeats
an already picked one ("+1", "Thanks!") is skipped and the next best is taken.

LexRank and TextRank are rated by bot.core.fastrank: sumy's ratings (to ~1e-12) with numpy
instead of sumy's Python double loop, which took 18 s at ~1,440 sentences; sentences whose
ratings tie keep thread order. TextRank's cost is linear in the words (0.7 s at 59,000
sentences); LexRank's grows with the square of the thread (pairs of sentences sharing a term:
2 s at 20,000 sentences, 17 s at 59,000). Past `LEXRANK_MAX_TRIPLES` shared-term triples a
LexRank request is rated by TextRank instead and the note says so: a chat command should not
wait a quarter of a minute, and TextRank is the closest graph ranking that stays fast.

Caps for the rest (sumy is pure Python; measured on 2 cores, synthetic text,
OPENBLAS_NUM_THREADS=1). LSA loops over a words×sentences matrix and runs an SVD (8 s at
~1,440 sentences). Past `SENTENCE_CAPS` sentences we refuse with a UserError that says how to
narrow the selection, rather than keep a chat command waiting for minutes. KL-Sum's full
ranking is cubic in sumy (25 s at 250 sentences); our early stop makes a few picks cheap
(0.4 s for 5 of 1,000 sentences), but each step still costs sentences × summary words, so
KL-Sum is capped at `KL_MAX_SENTENCES` and ranks at most `KL_MAX_STEPS` sentences (≈13 s at
the cap); the note says when that cut a budget short. Luhn (with its significant stems in a set,
`_set_luhn_class`), SumBasic and Edmundson take about 3 s at 59,000 sentences and ~280 MB,
so they are capped at 60,000 (a 10,000-post thread). sumy, and NLTK under its stemmers, are
imported only when a summary is made: ~0.6 s that other commands need not pay.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from bot.core.language import (
    analysable,
    choose_language,
    resolve_language,
    supported_languages,
    unusable_language_note,
)
from bot.core.models import PostLike
from bot.core.text import (
    OfflineTokenizer,
    normalise_word,
    split_sentences,
    split_words,
    unwrap_lines,
    wrap_width,
)
from bot.errors import UserError

if TYPE_CHECKING:
    from sumy.models.dom import ObjectDocumentModel, Sentence
    from sumy.summarizers.kl import KLSummarizer
    from sumy.summarizers.sum_basic import SumBasicSummarizer

    from bot.core.fastrank import SentenceTerms
    from bot.core.threadrank import PostSignals

ALGORITHMS: tuple[str, ...] = (
    "thread", "lexrank", "textrank", "lsa", "luhn", "kl", "sumbasic", "edmundson",
)  # fmt: skip
SUMY_ALGORITHMS: tuple[str, ...] = ALGORITHMS[1:]
"""sumy's summarisers: their picks are sumy's own (tests/core/test_summary.py)."""
DEFAULT_ALGORITHM = "thread"
"""bot.core.threadrank; the others are sumy's, with sumy's own picks."""
DEFAULT_SENTENCES = 5
MAX_SENTENCES = 50
MAX_WORDS = 5_000
MAX_CHARS = 40_000

THREAD_WHOLE_SENTENCES = 100_000
"""Past this many sentences (about 17,000 posts) the thread-aware summary is made by
chapters (bot.core.chapters): the whole-thread ranking's memory grows with the words, and a
100,000-post thread (600,000 sentences) took 1.9 GB in one piece."""

SENTENCE_CAPS: dict[str, int] = {
    "thread": THREAD_WHOLE_SENTENCES,
    "lexrank": 100_000,
    "textrank": 100_000,
    "lsa": 1_500,
    "kl": 1_000,
    "sumbasic": 60_000,
    "luhn": 60_000,
    "edmundson": 60_000,
}
"""Most sentences each algorithm ranks in one piece; above this a request is refused, except
with the default (thread), which then goes by chapters."""
CHAPTERED_ALGORITHMS = frozenset({"thread"})
"""Past its cap, summarised by chapters and then the whole from the chapters' picks."""
FAST_ALGORITHMS = frozenset({"lexrank", "textrank"})
"""Rated by bot.core.fastrank (sumy's ratings, numpy speed)."""
LEXRANK_MAX_TRIPLES = 40_000_000
"""Past this many (sentence, sentence, shared term) triples (≈ 2 s; a 20,000-sentence
synthetic thread has 3.7e7) LexRank is replaced by TextRank, with a note."""
KL_MAX_SENTENCES = SENTENCE_CAPS["kl"]
KL_MAX_STEPS = 60
"""KL-Sum ranks at most this many sentences (each step costs sentences × summary words);
above MAX_SENTENCES so only a word/character budget (or many repeats) can reach it."""

ALGORITHM_NAMES: dict[str, str] = {
    "thread": "Thread-aware",
    "lexrank": "LexRank",
    "textrank": "TextRank",
    "lsa": "LSA",
    "luhn": "Luhn",
    "kl": "KL-Sum",
    "sumbasic": "SumBasic",
    "edmundson": "Edmundson",
}

STIGMA_WORDS: tuple[str, ...] = (
    "lol", "lmao", "rofl", "haha", "hahaha", "thanks", "thank", "thx", "ty", "bump",
    "edit", "edited", "offtopic", "ot", "sorry", "sig", "signature", "ps", "imho", "meh",
)  # fmt: skip
"""Edmundson's stigma words: chat filler that marks a sentence as unlikely summary material."""
BONUS_WORDS: tuple[str, ...] = (
    "important", "key", "main", "conclusion", "summary", "therefore", "overall",
    "propose", "proposal", "evidence", "because", "result", "significant", "decision",
)  # fmt: skip
"""Edmundson's bonus words besides the thread title's words (which count most)."""


@dataclass(frozen=True, slots=True)
class SummaryRequest:
    """What to summarise and how long. At most one of sentences / words / chars."""

    algorithm: str = DEFAULT_ALGORITHM
    sentences: int | None = None
    words: int | None = None
    chars: int | None = None
    first_post: int | None = None
    last_post: int | None = None
    since_post: int | None = None
    """Only posts with number > since_post (what is new since a mark)."""
    author: str | None = None
    explain: bool = False


@dataclass(frozen=True, slots=True)
class SummarySentence:
    post: int
    author: str | None
    url: str | None
    text: str
    score: float
    """The algorithm's own rating (KL-Sum/SumBasic: minus the greedy pick step)."""
    rank: int
    """1 = best rated of the whole selection."""


@dataclass(frozen=True, slots=True)
class Summary:
    sentences: tuple[SummarySentence, ...]
    """In thread order: post number, then position in the post."""
    algorithm: str
    language: str
    considered_sentences: int
    considered_posts: int
    note: str | None = None
    explain: bool = False
    """Echo of the request: renderers show score and rank when set."""


@dataclass(frozen=True, slots=True)
class SentenceSource:
    """Where one summarised sentence came from (index = position in the sumy document)."""

    index: int
    post: int
    author: str | None
    url: str | None
    paragraph: int
    text: str


@lru_cache(maxsize=1)
def _post_sentence_class() -> type[Sentence]:
    """sumy's Sentence, equal only to itself (made on first use: sumy imports NLTK).

    sumy's Sentence compares and hashes by text, so two posts saying "Agreed." would share
    one entry in the rating dicts; identity keeps every sentence (and its author) apart.
    """
    from sumy.models.dom import Sentence

    class _PostSentence(Sentence):
        __slots__ = ("index",)

        def __init__(
            self, text: str, tokenizer: OfflineTokenizer, index: int, heading: bool = False
        ):
            super().__init__(text, tokenizer, is_heading=heading)
            self.index = index

        def __eq__(self, other: object) -> bool:
            return self is other

        def __ne__(self, other: object) -> bool:
            return self is not other

        __hash__ = object.__hash__

    return _PostSentence


@dataclass(frozen=True, slots=True)
class BuiltDocument:
    document: ObjectDocumentModel
    sources: tuple[SentenceSource, ...]
    posts: int


@dataclass(frozen=True, slots=True)
class CollectedSentences:
    """Every own-words sentence of the selected posts, in thread order, without sumy objects."""

    sources: tuple[SentenceSource, ...]
    groups: tuple[int, ...]
    """Per sentence, the own segment (sumy Paragraph) it belongs to, counted from 0."""
    posts: int
    """Posts that contributed at least one sentence."""


# --- selection ----------------------------------------------------------------------------


def _label(post: PostLike) -> str:
    return post.author if post.author else f"post {post.number}"


def _known_authors(posts: Sequence[PostLike], limit: int = 8) -> str:
    seen: dict[str, str] = {}
    for post in posts:
        if post.author:
            seen.setdefault(post.author.casefold(), post.author)
    names = sorted(seen.values(), key=str.casefold)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _check_post_number(name: str, value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise UserError(f"{name} must be a post number (1 or more), not {value!r}.")


def select_posts(
    posts: Sequence[PostLike],
    *,
    first_post: int | None = None,
    last_post: int | None = None,
    since_post: int | None = None,
    author: str | None = None,
) -> list[PostLike]:
    """The posts a request covers; UserError naming the reason when none are left."""
    for name, value in (
        ("first post", first_post),
        ("last post", last_post),
        ("since post", since_post),
    ):
        _check_post_number(name, value)
    if first_post is not None and last_post is not None and first_post > last_post:
        raise UserError(f"The post range {first_post}–{last_post} is empty (first > last).")
    if not posts:
        raise UserError("This thread has no posts.")
    chosen = [
        p
        for p in sorted(posts, key=lambda p: p.number)
        if (first_post is None or p.number >= first_post)
        and (last_post is None or p.number <= last_post)
        and (since_post is None or p.number > since_post)
    ]
    if not chosen:
        low, high = min(p.number for p in posts), max(p.number for p in posts)
        parts = []
        if first_post is not None or last_post is not None:
            parts.append(f"posts {first_post or low}–{last_post or high}")
        if since_post is not None:
            parts.append(f"posts after {since_post}")
        raise UserError(f"No {' and '.join(parts)} in this thread (it has posts {low}–{high}).")
    if author is not None:
        wanted = author.strip().lstrip("@").casefold()
        if not wanted:
            raise UserError("The author name is empty.")
        by_author = [p for p in chosen if p.author and p.author.casefold() == wanted]
        if not by_author:
            if any(p.author and p.author.casefold() == wanted for p in posts):
                raise UserError(f"{author} wrote nothing in the selected posts.")
            known = _known_authors(posts)
            hint = f" Known authors: {known}." if known else " This thread has no author names."
            raise UserError(f"No author called {author!r} in this thread.{hint}")
        chosen = by_author
    return chosen


def own_sentences(post: PostLike) -> Iterator[tuple[int, str]]:
    """(paragraph, sentence) for every sentence of the post's own words, in order."""
    for segment in post.segments:
        if segment.kind != "own":
            continue
        for line in segment.text.splitlines():
            for sentence in split_sentences(line):
                yield segment.paragraph, sentence


def own_paragraphs(post: PostLike) -> Iterator[tuple[int, str]]:
    """(paragraph, text) for every paragraph of the post's own words, in order, with
    hard-wrapped lines (e-mail, mailing lists) joined back into their paragraphs so that a
    sentence is not cut at every line break. The paragraph is that of the first line."""
    lines: list[tuple[int, str]] = []
    runs: list[list[tuple[int, str]]] = []
    previous: int | None = None
    for segment in post.segments:
        if segment.kind != "own":
            previous = None
            continue
        for offset, line in enumerate(segment.text.splitlines()):
            paragraph = segment.paragraph + offset
            if previous is None or paragraph != previous + 1:
                runs.append([])
            runs[-1].append((paragraph, line))
            lines.append((paragraph, line))
            previous = paragraph
    width = wrap_width([line for _, line in lines])
    for run in runs:
        texts = [line for _, line in run]
        for start, end in unwrap_lines(texts, width):
            text = " ".join(t.strip() for t in texts[start:end] if t.strip())
            if text:
                yield run[start][0], text


def collect_sentences(posts: Sequence[PostLike]) -> CollectedSentences:
    """The sentences of the posts' own words, with where each came from: one group per
    own paragraph (hard-wrapped lines joined, see `own_paragraphs`)."""
    sources: list[SentenceSource] = []
    groups: list[int] = []
    group = 0
    used_posts = 0
    for post in posts:
        contributed = False
        for paragraph, text in own_paragraphs(post):
            before = len(sources)
            for sentence in split_sentences(text):
                sources.append(
                    SentenceSource(
                        len(sources), post.number, post.author, post.url, paragraph, sentence
                    )
                )
            if len(sources) > before:
                groups.extend([group] * (len(sources) - before))
                group += 1
                contributed = True
        used_posts += contributed
    return CollectedSentences(tuple(sources), tuple(groups), used_posts)


def build_document(
    posts: Sequence[PostLike], language: str = "english", title: str = ""
) -> BuiltDocument:
    """sumy document of the posts' own words: one Paragraph per own segment.

    The title, when given, is added as a heading (Edmundson's title and location methods
    read headings; headings are never summary sentences).
    """
    return _document(collect_sentences(posts), language, title)


def _document(collected: CollectedSentences, language: str, title: str) -> BuiltDocument:
    from sumy.models.dom import ObjectDocumentModel, Paragraph

    post_sentence = _post_sentence_class()
    tokenizer = OfflineTokenizer(language)
    paragraphs: list[Paragraph] = []
    current: list[Sentence] = []
    previous = -1
    for index, (source, group) in enumerate(zip(collected.sources, collected.groups, strict=True)):
        if current and group != previous:
            paragraphs.append(Paragraph(current))
            current = []
        current.append(post_sentence(source.text, tokenizer, index))
        previous = group
    if current:
        paragraphs.append(Paragraph(current))
    if title.strip() and paragraphs:
        heading = post_sentence(title.strip(), tokenizer, -1, heading=True)
        first = paragraphs[0]
        paragraphs[0] = Paragraph((heading, *first.sentences))
    return BuiltDocument(ObjectDocumentModel(paragraphs), collected.sources, collected.posts)


# --- ratings -------------------------------------------------------------------------------


class _MemoStemmer:
    """A stemmer that stems each distinct word once.

    NLTK's Snowball stemmer costs ~50 µs a word; a 10,000-post thread has 1.2 million words
    but a few thousand distinct ones. Bounded, so a long-running bot cannot grow it forever.
    """

    LIMIT = 200_000

    def __init__(self, stem: Callable[[str], str]) -> None:
        self._stem = stem
        self._memo: dict[str, str] = {}

    def __call__(self, word: str) -> str:
        try:
            return self._memo[word]
        except KeyError:
            pass
        if len(self._memo) >= self.LIMIT:
            self._memo.clear()
        stemmed = self._memo[word] = self._stem(word)
        return stemmed


@lru_cache(maxsize=64)
def stemmer_for(language: str) -> Callable[[str], str]:
    """sumy's stemmer for the language (NLTK's Snowball code, no NLTK data), else a null
    one; memoised per word, and made once per language.

    Some of sumy's stemmers import an optional package on their first word (Polish needs
    pystempel) and raise ValueError there: such a language gets the null stemmer (its
    words unstemmed) instead of a traceback. Summaries never ask for it
    (bot.core.language.analysable); this keeps every other analysis safe too."""
    from sumy.nlp.stemmers import Stemmer, null_stemmer

    from bot.core.language import stemmer_problem

    if stemmer_problem(language) is not None:
        return null_stemmer
    try:
        return _MemoStemmer(Stemmer(language))
    except LookupError:
        return null_stemmer


@lru_cache(maxsize=64)
def stop_words_for(language: str) -> frozenset[str]:
    """sumy's stop words for the language (read from its package data once).

    A language given by its name ("english") is read as sumy's `get_stop_words` reads it,
    without importing sumy.utils: that imports requests and looks the name up in
    pycountry's table of languages (~0.09 s, before a stance digest's fork); a code
    ("en") goes through sumy, which turns it into a name."""
    if len(language) > 3 and language.isalpha() and language.islower():
        import pkgutil

        try:
            data = pkgutil.get_data("sumy", f"data/stopwords/{language}.txt")
        except OSError:
            data = None
        if data is not None:
            return frozenset(w.rstrip() for w in data.decode("utf-8").splitlines() if w)
    from sumy.utils import get_stop_words

    return frozenset(get_stop_words(language))


@lru_cache(maxsize=1)
def _set_luhn_class() -> type:
    """sumy's Luhn with its significant stems in a set: sumy keeps them in a tuple and tests
    every word of every sentence against it, so its time grew with the thread's vocabulary
    times its words (4.4 s at 6,070 sentences). Same ratings, same picks. Made on first use:
    sumy imports NLTK."""
    from sumy.summarizers.luhn import LuhnSummarizer

    class SetLuhnSummarizer(LuhnSummarizer):
        def _get_significant_words(self, words: Any) -> frozenset[str]:
            return frozenset(super()._get_significant_words(words))

    return SetLuhnSummarizer


def make_summarizer(algorithm: str, language: str, title: str = "") -> Any:
    """A configured sumy summariser (stemmer, stop words, Edmundson's word lists)."""
    from sumy.summarizers.edmundson import EdmundsonSummarizer
    from sumy.summarizers.kl import KLSummarizer
    from sumy.summarizers.lex_rank import LexRankSummarizer
    from sumy.summarizers.lsa import LsaSummarizer
    from sumy.summarizers.sum_basic import SumBasicSummarizer
    from sumy.summarizers.text_rank import TextRankSummarizer

    stemmer = stemmer_for(language)
    stop_words = stop_words_for(language)
    if algorithm == "edmundson":
        summarizer = EdmundsonSummarizer(stemmer)
        folded_stop = {normalise_word(w) for w in stop_words}
        title_words = [w for w in split_words(title) if normalise_word(w) not in folded_stop]
        summarizer.bonus_words = [*title_words, *BONUS_WORDS]
        summarizer.stigma_words = STIGMA_WORDS
        summarizer.null_words = stop_words
        return summarizer

    cls = {
        "lexrank": LexRankSummarizer,
        "textrank": TextRankSummarizer,
        "lsa": LsaSummarizer,
        "luhn": _set_luhn_class(),
        "kl": KLSummarizer,
        "sumbasic": SumBasicSummarizer,
    }[algorithm]
    summarizer = cls(stemmer)
    summarizer.stop_words = stop_words
    return summarizer


def rate_sentences(summarizer: Any, document: ObjectDocumentModel) -> list[float]:
    """sumy's rating of every document sentence, in document order.

    Runs the summariser with `_get_best_sentences` replaced (on this instance only) by a
    recorder that evaluates the rating exactly as sumy's version does: a dict lookup, or
    `rating(sentence, *args, **kwargs)` once per sentence in order (LSA's rating is an
    iterator that must be consumed that way).
    """
    sentences = document.sentences
    recorded: list[float] = []

    def record(found: Sequence[Sentence], count: Any, rating: Any, *args: Any, **kwargs: Any):
        if isinstance(rating, dict):
            recorded.extend(rating[s] for s in found)
        else:
            recorded.extend(rating(s, *args, **kwargs) for s in found)
        return ()

    import numpy

    summarizer._get_best_sentences = record
    # LexRank divides by a zero norm when no two sentences share a rated word: sumy then
    # rates everything NaN, which we keep (same picks as sumy) without the warning noise.
    with numpy.errstate(invalid="ignore", divide="ignore"):
        summarizer(document, 1)
    if len(recorded) != len(sentences):  # sumy gave up early (e.g. LSA: no content words)
        return [0.0] * len(sentences)
    return [float(r) for r in recorded]


def _order_by_rating(scores: Sequence[float]) -> list[int]:
    """Indices best-first with sumy's ordering (stable sort by rating, descending), except
    that ratings equal to 12 significant digits count as tied and keep thread order: LSA's
    SVD gives tied sentences ratings a few units in the last place apart, differently from
    one machine (or BLAS build) to the next, and a summary must not depend on that."""
    from bot.core.fastrank import best_first

    return best_first(scores)


def _kl_ranking(summarizer: KLSummarizer, sentences: Sequence[Sentence]) -> Iterator[int]:
    """sumy's KL-Sum greedy loop (`_compute_ratings`), yielding picks as they are made."""
    word_freq = summarizer.compute_tf(sentences)
    remaining = list(range(len(sentences)))
    content = [summarizer._get_content_words_in_sentence(s) for s in sentences]
    summary_words: list[str] = []
    while remaining:
        kls = [
            summarizer._kl_divergence(summarizer._joint_freq(content[i], summary_words), word_freq)
            for i in remaining
        ]
        index = remaining.pop(summarizer._find_index_of_best_sentence(kls))
        summary_words.extend(sentences[index].words)
        yield index


def _sumbasic_ranking(
    summarizer: SumBasicSummarizer, sentences: Sequence[Sentence]
) -> Iterator[int]:
    """sumy's SumBasic greedy loop (`_compute_ratings`), yielding picks as they are made."""
    word_freq = summarizer._compute_tf(sentences)
    remaining = list(range(len(sentences)))
    content = [summarizer._get_content_words_in_sentence(s) for s in sentences]
    while remaining:
        position = summarizer._find_index_of_best_sentence(word_freq, content)
        index = remaining.pop(position)
        summarizer._update_tf(word_freq, content.pop(position))
        yield index


def ranking(
    algorithm: str,
    document: ObjectDocumentModel,
    language: str,
    title: str = "",
    flags: dict[str, bool] | None = None,
) -> Iterator[tuple[int, float]]:
    """(sentence index, score) best-first, in sumy's order, computed lazily where sumy is greedy.

    `flags["uniform"]` is set when every sentence got the same rating (or none at all), so
    the "best" are simply the earliest.
    """
    summarizer = make_summarizer(algorithm, language, title)
    sentences = document.sentences
    if algorithm in ("kl", "sumbasic"):
        steps = (
            _kl_ranking(summarizer, sentences)
            if algorithm == "kl"
            else _sumbasic_ranking(summarizer, sentences)
        )
        for step, index in enumerate(steps):
            yield index, float(-step)
        return
    yield from _best_first(rate_sentences(summarizer, document), flags)


def _best_first(
    scores: Sequence[float],
    flags: dict[str, bool] | None,
    order: Sequence[int] | None = None,
) -> Iterator[tuple[int, float]]:
    """(index, score) best first: sumy's order unless `order` is given."""
    if flags is not None:
        finite = [score for score in scores if math.isfinite(score)]
        all_nan = not finite
        all_equal = len(finite) == len(scores) and len(set(finite)) == 1
        flags["uniform"] = len(scores) > 1 and (all_nan or all_equal)
    for index in _order_by_rating(scores) if order is None else order:
        yield index, scores[index]


def sentence_terms(texts: Sequence[str], language: str) -> SentenceTerms:
    """The tokens sumy's LexRank and TextRank would rate for these sentences."""
    from bot.core.fastrank import SentenceTerms

    return SentenceTerms.from_words(
        (split_words(text) for text in texts), stop_words_for(language), stemmer_for(language)
    )


def fast_scores(algorithm: str, terms: SentenceTerms) -> list[float]:
    """sumy's LexRank or TextRank ratings, computed by bot.core.fastrank."""
    from bot.core.fastrank import lexrank_scores, textrank_scores

    scores = lexrank_scores(terms) if algorithm == "lexrank" else textrank_scores(terms)
    return [float(score) for score in scores]


def fast_ranking(
    algorithm: str, terms: SentenceTerms, flags: dict[str, bool] | None = None
) -> Iterator[tuple[int, float]]:
    """(sentence index, score) best first for LexRank or TextRank; tied ratings (equal to
    fastrank.TIE_DIGITS digits, where sumy's order is rounding noise) in thread order."""
    from bot.core.fastrank import best_first

    scores = fast_scores(algorithm, terms)
    return _best_first(scores, flags, best_first(scores))


def _too_dense_for_lexrank(terms: SentenceTerms) -> bool:
    from bot.core.fastrank import lexrank_triples

    return lexrank_triples(terms) > LEXRANK_MAX_TRIPLES


def _thread_ranking(
    collected: CollectedSentences,
    language: str,
    title: str,
    costs: Sequence[int],
    budget: int,
    flags: dict[str, bool],
    repeated: list[int],
    signals: Mapping[int, PostSignals],
    quotes: Sequence[tuple[int, int, str]],
) -> Iterator[tuple[int, float]]:
    """(sentence index, value) of the thread-aware ranker's picks (bot.core.threadrank);
    `flags["uniform"]` when no sentence stands on its own."""
    from bot.core.threadrank import RankInput, pick_order, rank

    sources = collected.sources
    ranked = rank(
        RankInput(
            texts=[s.text for s in sources],
            posts=[s.post for s in sources],
            authors=[s.author for s in sources],
            signals=signals,
            quotes=quotes,
            title=title,
            stop_words=stop_words_for(language),
            stem=stemmer_for(language),
            english=language == "english",
        )
    )
    flags["uniform"] = False
    flags["none_standalone"] = not ranked.standalone_found
    posts_of = [s.post for s in sources]
    yield from pick_order(
        ranked, posts_of, costs, budget, lambda i: _dedupe_key(sources[i].text), repeated
    )


def post_signals(posts: Sequence[PostLike]) -> dict[int, PostSignals]:
    """Per post: the later posts of the selection that quote or answer it, and its likes;
    posts with neither are left out (most of a big thread)."""
    from bot.core.threadrank import PostSignals

    numbers = {p.number for p in posts}
    answered: dict[int, set[int]] = {}
    for post in posts:
        targets = {s.source_post for s in post.segments if s.kind == "quote" and s.source_post}
        reply_to = getattr(post, "reply_to", None)
        if reply_to is not None:
            targets.add(reply_to)
        for target in targets:
            if target in numbers and target != post.number:
                answered.setdefault(target, set()).add(post.number)
    found: dict[int, PostSignals] = {}
    for post in posts:
        likes = getattr(post, "likes", 0) or 0
        quoted_by = answered.get(post.number)
        if quoted_by or likes:
            found[post.number] = PostSignals(frozenset(quoted_by or ()), likes)
    return found


def quotes_within(posts: Sequence[PostLike]) -> list[tuple[int, int, str]]:
    """(quoting post, quoted post, text) for quotes between posts of the selection."""
    numbers = {p.number for p in posts}
    return [
        (post.number, s.source_post, s.text)
        for post in posts
        for s in post.segments
        if s.kind == "quote" and s.source_post in numbers and s.source_post != post.number
    ]


# --- the use case ---------------------------------------------------------------------------


def _check_length(
    request: SummaryRequest, default_sentences: int = DEFAULT_SENTENCES
) -> tuple[str, int]:
    given = [
        (name, value)
        for name, value in (
            ("sentences", request.sentences),
            ("words", request.words),
            ("chars", request.chars),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise UserError("Give the summary length in sentences, words or characters — only one.")
    if not given:
        return "sentences", default_sentences
    unit, value = given[0]
    limit = {"sentences": MAX_SENTENCES, "words": MAX_WORDS, "chars": MAX_CHARS}[unit]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UserError(f"The summary length in {unit} must be a whole number of 1 or more.")
    if value > limit:
        raise UserError(f"A summary can be at most {limit} {unit} long (asked for {value}).")
    return unit, value


def _resolve_algorithm(algorithm: str) -> str:
    name = (algorithm or "").strip().lower().replace("-", "").replace("_", "")
    aliases = {"klsum": "kl", "lex": "lexrank", "text": "textrank"}
    name = aliases.get(name, name)
    if name not in ALGORITHMS:
        raise UserError(
            f"Unknown summary algorithm {algorithm!r}. Choose one of: {', '.join(ALGORITHMS)}."
        )
    return name


def _resolve_summary_language(language: str | None, texts: list[str]) -> tuple[str, str | None]:
    """The language to summarise in, and a note when it is not the one given or detected.

    A language given (or stored with the thread) whose stemmer cannot be built here is
    replaced by the one detected among the analysable ones: a summary never ends in
    sumy's "Polish stemmer requires pystempel"."""
    if language is None:
        choice = choose_language(texts)
        return choice.language, choice.note
    resolved = resolve_language(language)
    if resolved is None:
        raise UserError(
            f"No stop words for language {language!r}. "
            f"Supported: {', '.join(supported_languages())}."
        )
    if analysable(resolved):
        return resolved, None
    used = choose_language(texts).language
    return used, unusable_language_note(resolved, used)


_ALTERNATIVES = ("textrank", "luhn", "sumbasic", "edmundson")


def _cap_message(algorithm: str, count: int, cap: int) -> str:
    name = ALGORITHM_NAMES[algorithm]
    fits = [a for a in _ALTERNATIVES if a != algorithm and count <= SENTENCE_CAPS[a]][:2]
    use = f"use {' or '.join(fits)}, or " if fits else ""
    anysize = (
        "" if algorithm in CHAPTERED_ALGORITHMS else " (the default, thread, summarises any size)"
    )
    return (
        f"{name} is too slow past {cap:,} sentences (this selection has {count:,}); "
        f"{use}narrow it with --since, --author or a post range{anysize}."
    )


def _dedupe_key(text: str) -> str:
    return " ".join(normalise_word(w) for w in split_words(text)) or text.strip()


def summarise(
    posts: Sequence[PostLike],
    request: SummaryRequest | None = None,
    language: str | None = None,
    title: str = "",
) -> Summary:
    """Attributed extractive summary of the selected posts' own words.

    Pure and synchronous (CPU-bound: run it off the event loop). `language` None means
    detect it from the selected text. `title` (the thread title) feeds Edmundson's title
    and bonus words; the other algorithms ignore it. Raises UserError for an unknown
    algorithm, a bad length, an empty selection or a selection too big to rank in one
    piece (see the module docstring for the caps). bot.core.chapters.summarise_any is the
    summary of any size that commands use: past the default algorithm's cap it goes by
    chapters.
    """
    request = request or SummaryRequest()
    job = prepare(posts, request, language, title)
    count, cap = len(job.collected.sources), SENTENCE_CAPS[job.algorithm]
    if count > cap:
        raise UserError(_cap_message(job.algorithm, count, cap))
    return pick_sentences(job, job.collected).summary(job, job.collected, request.explain)


@dataclass(frozen=True, slots=True)
class SummaryJob:
    """A checked request over its selection: what every way of picking starts from."""

    posts: Sequence[PostLike]
    """The selected posts, in thread order."""
    collected: CollectedSentences  # empty until `with_sentences` (prepare(collect=False))
    algorithm: str
    language: str
    title: str
    unit: str
    amount: int
    notes: tuple[str, ...] = ()

    @property
    def signals(self) -> dict[int, PostSignals]:
        return post_signals(self.posts)

    def with_sentences(self) -> SummaryJob:
        """The job with every sentence of its posts split (UserError when there is none)."""
        if self.collected.sources:
            return self
        collected = collect_sentences(self.posts)
        if not collected.sources:
            raise UserError("The selected posts have no sentences of their own to summarise.")
        return dataclasses.replace(self, collected=collected)

    @property
    def quotes(self) -> list[tuple[int, int, str]]:
        return quotes_within(self.posts)


@dataclass(slots=True)
class Picks:
    """What a ranking picked from a set of sentences (indices into `sources`)."""

    sources: Sequence[SentenceSource]
    picked: list[tuple[int, float, int]]
    """(index, score, rank), best first."""
    notes: list[str]
    used: str

    def summary(self, job: SummaryJob, collected: CollectedSentences, explain: bool) -> Summary:
        """The picks as a Summary of `collected` (the job's sentences or a chapter's)."""
        sources = self.sources
        sentences = tuple(
            SummarySentence(
                post=sources[i].post,
                author=sources[i].author,
                url=sources[i].url,
                text=sources[i].text,
                score=score if math.isfinite(score) else 0.0,
                rank=rank,
            )
            for i, score, rank in sorted(self.picked)
        )
        return Summary(
            sentences=sentences,
            algorithm=self.used,
            language=job.language,
            considered_sentences=len(collected.sources),
            considered_posts=collected.posts,
            note=" ".join([*job.notes, *self.notes]) or None,
            explain=explain,
        )


def prepare(
    posts: Sequence[PostLike],
    request: SummaryRequest,
    language: str | None,
    title: str,
    *,
    default_sentences: int = DEFAULT_SENTENCES,
    collect: bool = True,
) -> SummaryJob:
    """Check the request, select its posts, settle the language and (unless `collect` is
    False: `SummaryJob.with_sentences` does it later) split the sentences; UserError with
    the reason when any of it fails."""
    algorithm = _resolve_algorithm(request.algorithm)
    unit, amount = _check_length(request, default_sentences)
    chosen = select_posts(
        posts,
        first_post=request.first_post,
        last_post=request.last_post,
        since_post=request.since_post,
        author=request.author,
    )
    own_texts = [s.text for p in chosen for s in p.segments if s.kind == "own"]
    if not any(split_words(t) for t in own_texts):
        raise UserError(
            "The selected posts have no words of their own to summarise (only quotes or nothing)."
        )
    language, language_note = _resolve_summary_language(language, own_texts)
    del own_texts
    notes = (language_note,) if language_note else ()
    empty = CollectedSentences((), (), 0)
    job = SummaryJob(chosen, empty, algorithm, language, title, unit, amount, notes)
    return job.with_sentences() if collect else job


def own_chars(posts: Sequence[PostLike]) -> int:
    """How many characters of their own the posts hold (a cheap measure of size)."""
    return sum(len(s.text) for p in posts for s in p.segments if s.kind == "own")


def pick_sentences(
    job: SummaryJob,
    collected: CollectedSentences,
    *,
    signals: Mapping[int, PostSignals] | None = None,
    quotes: Sequence[tuple[int, int, str]] | None = None,
    amount: int | None = None,
) -> Picks:
    """Rank `collected` (the job's sentences, or a part of them) with the job's algorithm
    and pick within the length budget (`amount`, else the job's). The thread-aware ranker
    reads `signals` and `quotes` (worked out from the job's posts when not given)."""
    algorithm, unit, language, title = job.algorithm, job.unit, job.language, job.title
    amount = job.amount if amount is None else amount
    notes: list[str] = []
    flags: dict[str, bool] = {}
    repeated: list[int] = []
    used = algorithm
    ranked: Iterator[tuple[int, float]]
    sources = collected.sources
    count = len(sources)
    costs = [
        1 if unit == "sentences" else len(split_words(s.text)) if unit == "words" else len(s.text)
        for s in sources
    ]
    if algorithm == "thread":
        ranked = _thread_ranking(
            collected,
            language,
            title,
            costs,
            amount,
            flags,
            repeated,
            job.signals if signals is None else signals,
            job.quotes if quotes is None else quotes,
        )
    elif algorithm in FAST_ALGORITHMS:
        terms = sentence_terms([s.text for s in sources], language)
        if algorithm == "lexrank" and _too_dense_for_lexrank(terms):
            used = "textrank"
            notes.append(
                f"LexRank would take too long on {count:,} sentences, so TextRank ranked them."
            )
        ranked = fast_ranking(used, terms, flags)
    else:
        built = _document(collected, language, title if algorithm == "edmundson" else "")
        ranked = ranking(algorithm, built.document, language, title, flags)
    smallest = min(costs)
    picked: list[tuple[int, float, int]] = []  # (index, score, rank)
    seen: set[str] = set()
    budget = amount
    skipped_long = skipped_dupes = 0
    kl_stopped = False
    for rank, (index, score) in enumerate(ranked, start=1):
        if budget < smallest or (unit == "sentences" and budget == 0):
            break
        if algorithm == "kl" and rank > KL_MAX_STEPS:
            kl_stopped = True
            break
        key = _dedupe_key(sources[index].text)
        if key in seen:
            skipped_dupes += 1
            continue
        if costs[index] > budget:
            skipped_long += 1
            continue
        seen.add(key)
        picked.append((index, score, rank))
        budget -= costs[index]

    if not picked:
        notes.append(
            f"No sentence fits in {amount} {unit}; the shortest has {smallest} {unit}."
            if unit != "sentences"
            else "Nothing to pick."
        )
    elif unit == "sentences" and len(picked) < amount and algorithm == "thread":
        notes.append(
            f"Only {len(picked)} sentence{'s' if len(picked) != 1 else ''} stand on their own "
            f"(asked for {amount}): greetings, signatures, quoted mail, fragments and repeats "
            "of a picked point are left out."
        )
    elif unit == "sentences" and len(picked) < amount:
        notes.append(
            f"Only {len(picked)} distinct sentence{'s' if len(picked) != 1 else ''} "
            f"to choose from (asked for {amount})."
        )
    if skipped_long and picked:
        notes.append(
            f"{skipped_long} better-rated {'sentence' if skipped_long == 1 else 'sentences'}"
            f" did not fit the {unit} budget."
        )
    skipped_dupes += len(repeated)
    if skipped_dupes:
        notes.append(
            f"{skipped_dupes} repeated {'sentence was' if skipped_dupes == 1 else 'sentences were'}"
            " left out."
        )
    if flags.get("none_standalone") and picked:
        notes.append("No sentence stands on its own here, so the earliest were taken.")
    if flags.get("uniform") and picked:
        notes.append(
            f"{ALGORITHM_NAMES[used]} rated every sentence the same "
            "(too little shared vocabulary), so the earliest were taken."
        )
    if kl_stopped:
        notes.append(f"KL-Sum ranks only its best {KL_MAX_STEPS} sentences for a {unit} budget.")
    return Picks(sources, picked, notes, used)
