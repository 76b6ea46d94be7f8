"""The curator's review of a week (pipeline/review.py) and what she types (pipeline/curation.py), on
real temporary archives."""

from __future__ import annotations

import re

import pytest

from config.errors import VeilleError
from config.loading import load_config
from pipeline.archive import effective_tags, insert_item, open_db
from pipeline.curation import (AmbiguousTag, StaleItem, curate, item_version, resolve_tag, suggest_tags)
from pipeline.places import load_gazetteer
from pipeline.review import facet_counts, matches, review_week
from pipeline.tagging import model_rows, tag_items
from tests.conftest import ROOT

WEEK = "2026-W48"


@pytest.fixture
def config():
    return load_config(ROOT / "config")


@pytest.fixture
def gazetteer():
    return load_gazetteer()


@pytest.fixture
def db(tmp_path, config):
    db = open_db(tmp_path / "veille.db")
    for n, (title, text) in enumerate([
        ("Le PLIE de Bordeaux accompagne les jeunes", "Le PLIE accompagne les demandeurs d'emploi de Mérignac."),
        ("Territoire zéro chômeur à Limoges", "La démarche TZCLD avance avec Limoges Métropole."),
        ("Concert de printemps", "Un concert aura lieu samedi."),
    ], start=1):
        insert_item(db, {"url": f"https://example.org/{n}", "raw_url": "x", "source_id": "s", "title": title,
                         "text": text, "first_seen_at": f"2026-11-2{n + 3}T10:00:00+00:00"})
    tag_items(db, config.taxonomy)
    return db


def review(db, config, gazetteer):
    return {r.id: r for r in review_week(db, WEEK, config.settings.tz, 30, config.taxonomy, gazetteer)}


def test_tags_read_as_labels_and_place_names_never_codes(db, config, gazetteer):
    reviews = review(db, config, gazetteer)
    labels = {t.spec: t.label for t in reviews[1].tags}
    assert labels["dispositifs:plie"] == "PLIE"
    assert labels["communes:33063"] == "Bordeaux"
    assert labels["departements:33"] == "Gironde (33)"
    assert labels["epci:243300316"] == "Bordeaux Métropole"
    assert review(db, config, gazetteer)[2].tags and "Limoges Métropole" in {t.label for t in reviews[2].tags}
    for r in reviews.values():
        for tag in r.tags:
            assert not re.search(r"\d{5}", tag.label), tag  # no INSEE nor SIREN code where she reads a place


def test_each_tag_says_where_it_came_from_and_which_words_gave_it(db, config, gazetteer):
    curate(db, config.taxonomy, 1, add=["fse"], by="marie")
    tags = {t.spec: t for t in review(db, config, gazetteer)[1].tags}
    assert tags["dispositifs:plie"].origin == "auto" and tags["dispositifs:plie"].origin_text == "règles"
    assert [s.match for s in tags["dispositifs:plie"].snippets] == ["PLIE"]
    assert tags["dispositifs:fse"].origin_text == "curation (marie)"
    item = review(db, config, gazetteer)[1]
    # The words are highlighted where they are, in the title and in the excerpt.
    title_words = {item.item.title[m.start:m.end]: m.specs for m in item.title_marks}
    assert title_words["PLIE"] == ["dispositifs:plie"] and title_words["Bordeaux"] == ["communes:33063"]
    excerpt_words = {item.excerpt[m.start:m.end] for m in item.excerpt_marks}
    assert {"PLIE", "Mérignac"} <= excerpt_words
    assert "".join(piece for piece, _ in item.excerpt_segments()) == item.excerpt


def test_model_doubts_and_curator_removals_stay_visible_out_of_effect(db, config, gazetteer):
    db["tags"].insert_all(model_rows(1, {}, {("dispositifs", "plie"): 0.12}))
    curate(db, config.taxonomy, 1, remove=["communes:33063"], by="paul")
    reviews = review(db, config, gazetteer)
    tags = {t.spec: t for t in reviews[1].tags}
    assert tags["dispositifs:plie"].doubted and not tags["dispositifs:plie"].effective
    assert tags["dispositifs:plie"].probability == pytest.approx(0.12)
    assert tags["communes:33063"].removed and tags["communes:33063"].curator == "paul"
    assert reviews[1].doubts and not reviews[2].doubts
    assert [r.id for r in reviews.values() if matches(r, {"doubts": "1"})] == [1]


def test_filters_and_their_counts(db, config, gazetteer):
    reviews = list(review(db, config, gazetteer).values())
    counts = facet_counts(reviews, config.taxonomy, gazetteer)
    assert ("in", "dans le bulletin", 2) in counts["scope"] and ("out", "hors bulletin", 1) in counts["scope"]
    assert ("87", "Haute-Vienne (87)", 1) in counts["departements"]
    assert [r.id for r in reviews if matches(r, {"departements": "87"})] == [2]
    assert [r.id for r in reviews if matches(r, {"scope": "out"})] == [3]
    assert [r.id for r in reviews if matches(r, {"untagged": "1"})] == [3]
    assert [r.id for r in reviews if matches(r, {"dispositifs": "tzcld", "scope": "in"})] == [2]
    assert [r.id for r in reviews if matches(r, {"dispositifs": "tzcld", "scope": "out"})] == []


def test_typing_a_place_name_finds_it_and_several_or_none_are_said(config, gazetteer):
    taxonomy = config.taxonomy
    assert ("communes:23096", "Guéret (23096) · Creuse") in suggest_tags("Guér", taxonomy, gazetteer)
    assert suggest_tags("Guér", taxonomy, gazetteer)[0][0] == "communes:23096"
    assert resolve_tag("Guéret", taxonomy, gazetteer) == ("communes", "23096")
    assert resolve_tag("guéret (23096) · Creuse", taxonomy, gazetteer) == ("communes", "23096")
    assert resolve_tag("Limoges Métropole", taxonomy, gazetteer) == ("epci", "248719312")
    assert resolve_tag("Haute-Vienne", taxonomy, gazetteer) == ("departements", "87")
    assert resolve_tag("PLIE", taxonomy, gazetteer) == ("dispositifs", "plie")
    assert resolve_tag("themes:publics", taxonomy, gazetteer) == ("themes", "publics")
    with pytest.raises(AmbiguousTag) as several:
        resolve_tag("Mazerolles", taxonomy, gazetteer)  # five communes of the région
    assert len(several.value.choices) == 5 and "plusieurs" in str(several.value)
    assert all(spec.startswith("communes:") for spec, _ in several.value.choices)
    with pytest.raises(AmbiguousTag) as near:
        resolve_tag("Guér", taxonomy, gazetteer)
    assert near.value.choices[0][0] == "communes:23096"
    with pytest.raises(VeilleError, match="aucune étiquette ni aucun lieu de la région ne s'appelle « Zzyzx »"):
        resolve_tag("Zzyzx", taxonomy, gazetteer)


def test_a_decision_on_a_stale_page_is_refused_and_nothing_is_saved(db, config):
    seen = item_version(db, 1)
    curate(db, config.taxonomy, 1, highlight=True, by="paul")  # meanwhile, another curator
    assert item_version(db, 1) != seen
    with pytest.raises(StaleItem, match="a changé depuis l'affichage"):
        curate(db, config.taxonomy, 1, add=["fse"], reject=True, by="marie", expected_version=seen)
    assert "fse" not in effective_tags(db, [1])[1].get("dispositifs", [])
    assert db["curation"].get(1)["rejected"] in (None, 0)
    curate(db, config.taxonomy, 1, add=["fse"], by="marie", expected_version=item_version(db, 1))
    assert "fse" in effective_tags(db, [1])[1]["dispositifs"]


def test_two_decisions_in_the_same_second_change_the_version(db, config):
    first = item_version(db, 2)
    curate(db, config.taxonomy, 2, highlight=True)
    second = item_version(db, 2)
    curate(db, config.taxonomy, 2, note="À suivre")
    assert len({first, second, item_version(db, 2)}) == 3


def test_a_commune_added_by_the_curator_brings_its_departement_and_epci(db, config, gazetteer):
    curate(db, config.taxonomy, 3, add=["communes:23096"], by="marie", gazetteer=gazetteer)
    tags = effective_tags(db, [3])[3]
    assert tags["communes"] == ["23096"] and tags["departements"] == ["23"] and tags["epci"] == ["200034825"]
