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

Caps (sumy is pure Python; measured on 2 cores, synthetic text, OPENBLAS_NUM_THREADS=1).
LexRank and TextRank fill a dense n×n similarity matrix in Python (at ~1,440 sentences:
LexRank 18 s, TextRank 10 s; quadratic); LSA loops over a words×sentences matrix and runs an
SVD (8 s). Past `SENTENCE_CAPS` sentences we refuse with a UserError that says how to narrow
the selection, rather than keep a chat command waiting for minutes (a later fast sparse path
can lift these caps). KL-Sum's full ranking is cubic in sumy (25 s at 250 sentences); our
early stop makes a few picks cheap (0.4 s for 5 of 1,000 sentences), but each step still
costs sentences × summary words, so KL-Sum is capped at `KL_MAX_SENTENCES` and ranks at most
`KL_MAX_STEPS` sentences (≈13 s at the cap); the note says when that cut a budget short.
Luhn, SumBasic and Edmundson stay near a second at 1,500 sentences and get high caps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy
from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence
from sumy.nlp.stemmers import Stemmer, null_stemmer
from sumy.summarizers.edmundson import EdmundsonSummarizer
from sumy.summarizers.kl import KLSummarizer
from sumy.summarizers.lex_rank import LexRankSummarizer
from sumy.summarizers.lsa import LsaSummarizer
from sumy.summarizers.luhn import LuhnSummarizer
from sumy.summarizers.sum_basic import SumBasicSummarizer
from sumy.summarizers.text_rank import TextRankSummarizer
from sumy.utils import get_stop_words

from bot.core.language import detect_language, resolve_language, supported_languages
from bot.core.models import Segment
from bot.core.text import OfflineTokenizer, normalise_word, split_sentences, split_words
from bot.errors import UserError

ALGORITHMS: tuple[str, ...] = ("lexrank", "textrank", "lsa", "luhn", "kl", "sumbasic", "edmundson")
DEFAULT_ALGORITHM = "lexrank"
DEFAULT_SENTENCES = 5
MAX_SENTENCES = 50
MAX_WORDS = 5_000
MAX_CHARS = 40_000

SENTENCE_CAPS: dict[str, int] = {
    "lexrank": 1_500,
    "textrank": 1_500,
    "lsa": 1_500,
    "kl": 1_000,
    "sumbasic": 20_000,
    "luhn": 20_000,
    "edmundson": 20_000,
}
"""Most sentences each algorithm may be given; above this the request is refused."""
KL_MAX_SENTENCES = SENTENCE_CAPS["kl"]
KL_MAX_STEPS = 60
"""KL-Sum ranks at most this many sentences (each step costs sentences × summary words);
above MAX_SENTENCES so only a word/character budget (or many repeats) can reach it."""

ALGORITHM_NAMES: dict[str, str] = {
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


class PostLike(Protocol):
    """What the analyses need of a post; models.StoredPost and models.AnalysedPost fit."""

    @property
    def number(self) -> int: ...
    @property
    def author(self) -> str | None: ...
    @property
    def url(self) -> str | None: ...
    @property
    def segments(self) -> tuple[Segment, ...]: ...


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


class _PostSentence(Sentence):
    """A sumy Sentence that is equal only to itself.

    sumy's Sentence compares and hashes by text, so two posts saying "Agreed." would share
    one entry in the rating dicts; identity keeps every sentence (and its author) apart.
    """

    __slots__ = ("index",)

    def __init__(self, text: str, tokenizer: OfflineTokenizer, index: int, heading: bool = False):
        super().__init__(text, tokenizer, is_heading=heading)
        self.index = index

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    __hash__ = object.__hash__


@dataclass(frozen=True, slots=True)
class BuiltDocument:
    document: ObjectDocumentModel
    sources: tuple[SentenceSource, ...]
    posts: int


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


def build_document(
    posts: Sequence[PostLike], language: str = "english", title: str = ""
) -> BuiltDocument:
    """sumy document of the posts' own words: one Paragraph per own segment.

    The title, when given, is added as a heading (Edmundson's title and location methods
    read headings; headings are never summary sentences).
    """
    tokenizer = OfflineTokenizer(language)
    paragraphs: list[Paragraph] = []
    sources: list[SentenceSource] = []
    used_posts = 0
    for post in posts:
        contributed = False
        for segment in post.segments:
            if segment.kind != "own":
                continue
            sentences: list[Sentence] = []
            for line in segment.text.splitlines():
                for text in split_sentences(line):
                    index = len(sources)
                    sentences.append(_PostSentence(text, tokenizer, index))
                    sources.append(
                        SentenceSource(
                            index, post.number, post.author, post.url, segment.paragraph, text
                        )
                    )
            if sentences:
                paragraphs.append(Paragraph(sentences))
                contributed = True
        used_posts += contributed
    if title.strip() and paragraphs:
        heading = _PostSentence(title.strip(), tokenizer, -1, heading=True)
        first = paragraphs[0]
        paragraphs[0] = Paragraph((heading, *first.sentences))
    return BuiltDocument(ObjectDocumentModel(paragraphs), tuple(sources), used_posts)


# --- ratings -------------------------------------------------------------------------------


def stemmer_for(language: str) -> Callable[[str], str]:
    """sumy's stemmer for the language (NLTK's Snowball code, no NLTK data), else a null one."""
    try:
        return Stemmer(language)
    except LookupError:
        return null_stemmer


def make_summarizer(algorithm: str, language: str, title: str = "") -> Any:
    """A configured sumy summariser (stemmer, stop words, Edmundson's word lists)."""
    stemmer = stemmer_for(language)
    stop_words = get_stop_words(language)
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
        "luhn": LuhnSummarizer,
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

    summarizer._get_best_sentences = record
    # LexRank divides by a zero norm when no two sentences share a rated word: sumy then
    # rates everything NaN, which we keep (same picks as sumy) without the warning noise.
    with numpy.errstate(invalid="ignore", divide="ignore"):
        summarizer(document, 1)
    if len(recorded) != len(sentences):  # sumy gave up early (e.g. LSA: no content words)
        return [0.0] * len(sentences)
    return [float(r) for r in recorded]


def _order_by_rating(scores: Sequence[float]) -> list[int]:
    """Indices best-first with sumy's ordering: stable sort by rating, descending."""
    return sorted(range(len(scores)), key=lambda i: scores[i], reverse=True)


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
    scores = rate_sentences(summarizer, document)
    if flags is not None:
        finite = [score for score in scores if math.isfinite(score)]
        all_nan = not finite
        all_equal = len(finite) == len(scores) and len(set(finite)) == 1
        flags["uniform"] = len(scores) > 1 and (all_nan or all_equal)
    for index in _order_by_rating(scores):
        yield index, scores[index]


# --- the use case ---------------------------------------------------------------------------


def _check_length(request: SummaryRequest) -> tuple[str, int]:
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
        return "sentences", DEFAULT_SENTENCES
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


def _resolve_summary_language(language: str | None, texts: list[str]) -> str:
    if language is None:
        return detect_language(texts)
    resolved = resolve_language(language)
    if resolved is None:
        raise UserError(
            f"No stop words for language {language!r}. "
            f"Supported: {', '.join(supported_languages())}."
        )
    return resolved


def _cap_message(algorithm: str, count: int, cap: int) -> str:
    name = ALGORITHM_NAMES[algorithm]
    return (
        f"{name} is too slow past {cap:,} sentences (this selection has {count:,}); "
        "use luhn or sumbasic, or narrow it with --since, --author or a post range."
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
    algorithm, a bad length, an empty selection or a selection too big for the algorithm
    (see the module docstring for the caps).
    """
    request = request or SummaryRequest()
    algorithm = _resolve_algorithm(request.algorithm)
    unit, amount = _check_length(request)
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
    language = _resolve_summary_language(language, own_texts)
    built = build_document(chosen, language, title if algorithm == "edmundson" else "")
    count = len(built.sources)
    if count == 0:
        raise UserError("The selected posts have no sentences of their own to summarise.")
    cap = SENTENCE_CAPS[algorithm]
    if count > cap:
        raise UserError(_cap_message(algorithm, count, cap))

    costs = [
        1 if unit == "sentences" else len(split_words(s.text)) if unit == "words" else len(s.text)
        for s in built.sources
    ]
    smallest = min(costs)
    picked: list[tuple[int, float, int]] = []  # (index, score, rank)
    seen: set[str] = set()
    budget = amount
    skipped_long = skipped_dupes = 0
    kl_stopped = False
    flags: dict[str, bool] = {}
    for rank, (index, score) in enumerate(
        ranking(algorithm, built.document, language, title, flags), start=1
    ):
        if budget < smallest or (unit == "sentences" and budget == 0):
            break
        if algorithm == "kl" and rank > KL_MAX_STEPS:
            kl_stopped = True
            break
        key = _dedupe_key(built.sources[index].text)
        if key in seen:
            skipped_dupes += 1
            continue
        if costs[index] > budget:
            skipped_long += 1
            continue
        seen.add(key)
        picked.append((index, score, rank))
        budget -= costs[index]

    notes: list[str] = []
    if not picked:
        notes.append(
            f"No sentence fits in {amount} {unit}; the shortest has {smallest} {unit}."
            if unit != "sentences"
            else "Nothing to pick."
        )
    elif unit == "sentences" and len(picked) < amount:
        notes.append(
            f"Only {len(picked)} distinct sentence{'s' if len(picked) != 1 else ''} "
            f"to choose from (asked for {amount})."
        )
    if skipped_long and picked:
        notes.append(f"{skipped_long} better-rated sentence(s) did not fit the {unit} budget.")
    if skipped_dupes:
        notes.append(f"{skipped_dupes} repeated sentence(s) were left out.")
    if flags.get("uniform") and picked:
        notes.append(
            f"{ALGORITHM_NAMES[algorithm]} rated every sentence the same "
            "(too little shared vocabulary), so the earliest were taken."
        )
    if kl_stopped:
        notes.append(f"KL-Sum ranks only its best {KL_MAX_STEPS} sentences for a {unit} budget.")

    sentences = tuple(
        SummarySentence(
            post=built.sources[i].post,
            author=built.sources[i].author,
            url=built.sources[i].url,
            text=built.sources[i].text,
            score=score if math.isfinite(score) else 0.0,
            rank=rank,
        )
        for i, score, rank in sorted(picked)
    )
    return Summary(
        sentences=sentences,
        algorithm=algorithm,
        language=language,
        considered_sentences=count,
        considered_posts=built.posts,
        note=" ".join(notes) or None,
        explain=request.explain,
    )
