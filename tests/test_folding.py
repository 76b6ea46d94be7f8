"""pipeline/folding.py's fast path (text through Latin-1 bytes) gives exactly what its reference,
str.translate over the folding tables (`_slow_fold`, `_slow_words`), gives."""

from __future__ import annotations

import random

import pytest

from pipeline import folding


class text:  # the reference: what the fast path must equal
    @staticmethod
    def fold(value: str) -> str:
        return folding._slow_fold(value)

    @staticmethod
    def match_text(value: str) -> str:
        return f" {folding._slow_words(value)} "

    @staticmethod
    def word_key(words: str, prefix: bool = False) -> str:
        key = " " + " ".join(folding._slow_words(folding._slow_fold(words)).split())
        return key if prefix else key + " "

SAMPLES = [
    "",
    "Forum à Mont-de-Marsan le 12 mars",
    "L’œuvre de l’ŒIL – « cœur » … 12 € “citée” • ‘a’ ʼb‐c‑d‒e―f\u202fg\u2009h\u200bi",
    "Ärger in Łódź, İstanbul, Þórshöfn, Straße, ﬁn, ½, µ, Æsir, æ",
    "Texte avec un contrôle \x85 et … et œ",  # a C1 control character of its own beside stand-ins
    "Émoji 😀 et \U0001F600 et \u2100 \uffff",
    "x" * 100 + "é" + "’" * 3 + "\x9c" + "œ",
    "La main-d’œuvre, le cœur et l’Œuvre (Œ) à Pessac, sans autre caractère hors Latin-1",  # œ's own path
    "Le cœur \x8c et \x85, des contrôles de la table des stand-ins, sans leur caractère",
    "A" * (folding.SHORT - 1) + "É",  # just under SHORT
    "Tab\tnew\nline\rnbsp\u00a0",
]


@pytest.mark.parametrize("sample", SAMPLES)
def test_same_results_as_the_reference(sample):
    for value in (sample, sample * 3):
        assert folding.fold(value) == text.fold(value)
        assert folding.match_text(value) == text.match_text(value)
        assert len(folding.fold(value)) == len(value)
        assert folding.word_key(value) == text.word_key(value)
        assert folding.word_key(value, prefix=True) == text.word_key(value, prefix=True)
        assert folding.word_key(folding.fold(value), folded=True) == text.word_key(value)  # fold is idempotent


def test_same_results_on_random_texts_and_every_character():
    rng = random.Random(14)
    alphabet = [chr(c) for c in range(0x2200)] + ["😀", "œ", "Œ", "…", "’", "–"] * 50 + list("aéè ,.'") * 200
    for _ in range(3000):
        sample = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 150)))
        assert folding.fold(sample) == text.fold(sample), repr(sample)
        assert folding.match_text(sample) == text.match_text(sample), repr(sample)
        assert folding.fold(folding.fold(sample)) == folding.fold(sample), repr(sample)  # word_key(folded=True)
    long_prefix = "Un texte assez long pour le chemin rapide, avec des accents : é à ç. " * 2
    for code in [*range(0x2200), *range(0x2200, 0x30000, 97)]:
        sample = long_prefix + chr(code) + " œ…"
        assert folding.fold(sample) == text.fold(sample), hex(code)
        assert folding.match_text(sample) == text.match_text(sample), hex(code)


def test_frequent_first_orders_keys_by_their_characters_frequency():
    keys = [" zone ", " emploi ", " de ", " de la ", " 2026 "]
    assert sorted(keys, key=folding.frequent_first) == [" emploi ", " de ", " de la ", " 2026 ", " zone "]


def test_an_automaton_built_in_frequent_first_order_finds_the_same_matches():
    import ahocorasick

    keys = [folding.word_key(k) for k in ("Saint-Jean", "Saint-Jean-de-Luz", "emploi", "zone d'emploi", "Luz")]
    text = folding.match_text("Zone d'emploi de Saint-Jean-de-Luz : l'emploi à Saint-Jean et à Luz.")
    found = []
    for order in (keys, sorted(keys, key=folding.frequent_first)):
        automaton = ahocorasick.Automaton()
        for key in order:
            automaton.add_word(key, key)
        automaton.make_automaton()
        found.append(list(automaton.iter(text)))
    assert found[0] == found[1] and len(found[0]) == 6
