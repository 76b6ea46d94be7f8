"""The tagger's one pass (pipeline/tagging.py, one automaton of names, keywords and the model's words):
the same place names, keywords and model word counts as each part finds on its own."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from config.loading import load_taxonomy
from pipeline.folding import match_text
from pipeline.learning import starter_model
from pipeline.linear import split_words
from pipeline.places import load_gazetteer
from pipeline.tagging import _rules, _shared_automaton
from pipeline.topics import topic_matcher

ROOT = Path(__file__).resolve().parents[1]
TEXTS = [(doc["title"], doc["text"]) for doc in
         yaml.safe_load((ROOT / "tests" / "fixtures" / "topics_devset.yaml").read_text(encoding="utf-8"))]
TEXTS += [("Forum à Guéret", "Un forum de l'emploi en Creuse."),  # the title's last word is a place
          ("", "Un texte sans titre à Poitiers."),
          ("Insertion", "")]


@pytest.fixture(scope="module")
def parts():
    taxonomy = load_taxonomy(ROOT / "config" / "taxonomy.yaml")
    return taxonomy, load_gazetteer(), starter_model()


@pytest.mark.parametrize("title, text", TEXTS[:40] + TEXTS[-3:])
def test_word_counts_are_those_of_the_model_alone(parts, title, text):
    taxonomy, gazetteer, model = parts
    _, counts = _rules(taxonomy, "d", title, text, gazetteer, model)
    expected = model.linear.counts(*split_words(match_text(f"{title}\n\n{text}"), len(title)))
    assert dict(counts) == dict(expected)


def test_a_title_word_counts_in_the_title_too(parts):
    taxonomy, gazetteer, model = parts
    word = next(w for w in model.linear.vocabulary if w.isalpha() and len(w) > 4)
    _, counts = _rules(taxonomy, "d", f"Le titre finit par {word}", "Un corps de texte.", gazetteer, model)
    number = model.linear.index[word]
    assert counts[number] == 1 and counts[len(model.linear.vocabulary) + number] == 1


@pytest.mark.parametrize("title, text", TEXTS[:40])
def test_names_and_keywords_are_those_each_automaton_finds(parts, title, text):
    taxonomy, gazetteer, model = parts
    matcher = topic_matcher(taxonomy)
    words = match_text(f"{title}\n\n{text}")
    shared = _shared_automaton(gazetteer, matcher, model.linear)
    # A word only the model knows is valued by its number alone; any other key by (places, topic, word).
    found = [(end, value) for end, value in shared.iter(words) if not isinstance(value, int)]
    got_places = {(end, place[0]) for end, (place, _, _) in found if place is not None}
    got_keywords = {(end, topic) for end, (_, topic, _) in found if topic is not None}
    assert got_places == {(end, key) for end, (key, _) in gazetteer.automaton.iter(words)}
    assert got_keywords == {(end, value) for end, value in matcher.automaton.iter(words)}
