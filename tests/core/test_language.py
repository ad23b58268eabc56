"""Language guessing from sumy's stop-word lists (sentences written for these tests)."""

from __future__ import annotations

import itertools
import time

import pytest

from bot.core.language import (
    SAMPLE_WORDS,
    analysable,
    choose_language,
    detect_language,
    resolve_language,
    supported_languages,
)

SAMPLES = {
    "english": "I think the council should build the tram because the buses are always late "
    "and there is no room on the roads for more of them.",
    "german": "Ich denke, dass die Stadt die Straßenbahn bauen sollte, weil die Busse immer zu "
    "spät sind und es auf den Straßen keinen Platz mehr gibt.",
    "french": "Je pense que la ville devrait construire le tramway parce que les bus sont "
    "toujours en retard et qu'il n'y a plus de place sur les routes.",
    "spanish": "Creo que la ciudad debería construir el tranvía porque los autobuses siempre "
    "llegan tarde y no hay más espacio en las calles para ellos.",
    "italian": "Penso che la città dovrebbe costruire il tram perché gli autobus sono sempre in "
    "ritardo e non c'è più spazio sulle strade per loro.",
    "portuguese": "Eu acho que a cidade deveria construir o bonde porque os ônibus estão sempre "
    "atrasados e não há mais espaço nas ruas para eles.",
    "czech": "Myslím si, že město by mělo postavit tramvaj, protože autobusy jsou vždy pozdě a "
    "na silnicích už pro ně není žádné místo.",
    "slovak": "Myslím si, že mesto by malo postaviť električku, pretože autobusy sú vždy "
    "neskoro a na cestách už pre ne nie je žiadne miesto.",
    "polish": "Myślę, że miasto powinno zbudować tramwaj, ponieważ autobusy zawsze się "
    "spóźniają i na drogach nie ma już dla nich miejsca.",
    "swedish": "Jag tycker att staden borde bygga spårvägen eftersom bussarna alltid är sena "
    "och det finns inte längre plats för dem på vägarna.",
}


@pytest.mark.parametrize("language", sorted(SAMPLES))
def test_detects_languages_sumy_can_analyse(language):
    assert language in supported_languages()
    choice = choose_language([SAMPLES[language], SAMPLES[language]])
    if analysable(language):
        assert (choice.language, choice.note) == (language, None)
    else:  # Polish: sumy's stemmer needs pystempel, which is not installed
        assert choice.language != language and analysable(choice.language)
        assert f"The text looks {language.title()}, but its stemmer needs" in choice.note
        assert f"it was read as {choice.language.title()}" in choice.note


def test_only_analysable_languages_are_ever_detected():
    """sumy ships stop words for Polish and Greek, but their stemmers need packages that are
    not installed: detection must never answer with them (a summary would crash)."""
    assert not analysable("polish")
    assert not analysable("greek")
    assert analysable("english") and analysable("german")
    for text in [
        *SAMPLES.values(),
        "Καλημέρα σε όλους, νομίζω ότι το τραμ είναι καλή ιδέα για την πόλη.",
    ]:
        assert analysable(detect_language([text, text]))


def test_links_and_one_repeated_word_do_not_decide():
    """A spam signature pasted three times: 'www' is a Polish stop word in sumy's list and
    'los' a Spanish one, but links are not words and one word is not a language."""
    signature = (
        "Tram Consultant Los Angeles\nhttp://www.example-trams.net\n"
        "Rail Consultant Los Angeles\nwww.example-rails.com\nmail: sales@example-trams.net"
    )
    assert choose_language([signature] * 3) == choose_language([]) == choose_language(["x"])
    assert detect_language([signature] * 3) == "english"


def test_accepts_a_single_string():
    assert detect_language(SAMPLES["german"]) == "german"


@pytest.mark.parametrize(
    "texts",
    [[], [""], ["ok"], ["Tram 42 → 17:05!"], ["xqzt vrbl mnoq prst klwd frng tzop blik"]],
)
def test_defaults_to_english_when_unsure(texts):
    assert detect_language(texts) == "english"


def test_mixed_thread_goes_with_the_majority():
    texts = [SAMPLES["french"]] * 5 + [SAMPLES["english"]]
    assert detect_language(texts) == "french"


def test_samples_at_most_a_few_thousand_words_even_from_endless_input():
    endless = itertools.repeat(SAMPLES["italian"])
    started = time.perf_counter()
    assert detect_language(endless) == "italian"
    assert time.perf_counter() - started < 1.0
    assert SAMPLE_WORDS <= 5_000


def test_resolve_language_names_and_codes():
    assert resolve_language("en") == "english"
    assert resolve_language("German") == "german"
    assert resolve_language("klingon") is None
    assert resolve_language("") is None


def test_stop_words_read_without_sumy_utils_are_sumys(monkeypatch):
    """stop_words_for reads a named language's file itself (no requests, no pycountry):
    the same words sumy's get_stop_words gives, for every language sumy has a file for,
    and for a code, which sumy turns into a name."""
    import os

    import sumy
    from sumy.utils import get_stop_words

    from bot.core.summary import stop_words_for

    names = sorted(
        name.removesuffix(".txt")
        for name in os.listdir(os.path.join(os.path.dirname(sumy.__file__), "data", "stopwords"))
    )
    assert "english" in names and len(names) > 10
    for language in [*names, "en", "de"]:
        stop_words_for.cache_clear()
        assert stop_words_for(language) == frozenset(get_stop_words(language)), language
    stop_words_for.cache_clear()
    with pytest.raises(LookupError):
        stop_words_for("klingon")


def test_a_named_languages_stop_words_import_neither_requests_nor_pycountry():
    import subprocess
    import sys

    code = (
        "import sys; from bot.core.summary import stop_words_for; "
        "assert 'the' in stop_words_for('english'); "
        "print(sorted(m for m in ('sumy.utils', 'requests', 'pycountry') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
