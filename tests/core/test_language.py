"""Language guessing from sumy's stop-word lists (sentences written for these tests)."""

from __future__ import annotations

import itertools
import time

import pytest

from bot.core.language import (
    SAMPLE_WORDS,
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
def test_detects_languages_sumy_has_stop_words_for(language):
    assert language in supported_languages()
    assert detect_language([SAMPLES[language], SAMPLES[language]]) == language


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
