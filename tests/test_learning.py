"""Learning from the curator's corrections, on a real temporary archive."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from pipeline.archive import effective_tags, insert_item, open_db
from pipeline.curation import curate
from pipeline.learning import curated_examples, load_model, model_path, save_model, starter_model, train
from pipeline.tagging import tag_items
from tests.conftest import ROOT
from veille.cli import cli
from config.loading import load_taxonomy
from config.schema import THEMES

DEVSET = yaml.safe_load((Path(__file__).parent / "fixtures" / "topics_devset.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    """An archive of the development set's texts, tagged by the rules, then corrected by the curator."""
    db_path = tmp_path_factory.mktemp("learning") / "data" / "veille.db"
    db = open_db(db_path)
    taxonomy = load_taxonomy(ROOT / "config" / "taxonomy.yaml")
    ids = {doc["id"]: insert_item(db, {"url": f"https://example.org/{doc['id']}", "raw_url": "x", "source_id": "s",
                                       "title": doc["title"], "text": doc["text"]}) for doc in DEVSET}
    tag_items(db, taxonomy)
    tags = effective_tags(db, ids.values())
    for doc in DEVSET:
        item = ids[doc["id"]]
        expected = {(f, v) for f in ("themes", "dispositifs") for v in doc["expected"][f]}
        found = {(f, v) for f in ("themes", "dispositifs") for v in tags[item].get(f, [])}
        curate(db, taxonomy, item, add=[f"{f}:{v}" for f, v in expected - found],
               remove=[f"{f}:{v}" for f, v in found - expected], highlight=False)
    return db_path, ids, taxonomy


@pytest.fixture(scope="module")
def trained(curated):
    """The model `veille learn` trains on the curated archive (trained once for these tests)."""
    db_path, _, _ = curated
    return train(curated_examples(open_db(db_path)))


def test_curated_examples_carry_the_curators_labels(curated):
    db_path, ids, _ = curated
    examples = curated_examples(open_db(db_path))
    assert len(examples) == len(DEVSET)
    by_title = {title: labels for title, _, labels in examples}
    for doc in DEVSET[:20]:
        expected = {(f, v) for f in ("themes", "dispositifs") for v in doc["expected"][f]}
        assert {t for t in by_title[doc["title"]] if t[0] in ("themes", "dispositifs")} == expected


def test_model_learns_tags_with_enough_examples_and_says_which_it_skips(curated, trained):
    db_path, _, _ = curated
    model = trained
    assert set(model.classifiers) == {("themes", t) for t in THEMES} and model.nature_classifier
    assert not any(facet == "dispositifs" for facet, _ in model.classifiers)  # the rules' (near perfect)
    assert all(count < 5 for count in model.skipped.values())
    publics = model.probabilities([("Aller vers les jeunes éloignés de l'emploi",
                                    "Les demandeurs d'emploi sont accompagnés par des référents.")])[0][("themes", "publics")]
    assert publics > 0.5
    assert train(curated_examples(open_db(db_path))[:10]) is None  # too few decisions
    assert model.examples == len(DEVSET) and model.corpus == (starter_model().corpus if starter_model() else 0)


def test_learn_then_retag_keeps_curator_decisions(curated):
    db_path, ids, _ = curated
    config_dir = str(ROOT / "config")
    result = CliRunner().invoke(cli, ["learn", "--config", config_dir, "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert "étiquettes apprises" in result.output and model_path(db_path).exists()
    result = CliRunner().invoke(cli, ["tag", "--all", "--config", config_dir, "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    db = open_db(db_path)
    assert db.execute("SELECT COUNT(*) FROM tags WHERE origin = 'model'").fetchone()[0] > 0
    tags = effective_tags(db, ids.values())
    for doc in DEVSET:  # the curator's corrections hold whatever the rules and the model say
        for facet in ("themes", "dispositifs"):
            assert sorted(tags[ids[doc["id"]]].get(facet, [])) == doc["expected"][facet], doc["id"]
    explained = CliRunner().invoke(cli, ["tag", "--explain", str(ids["t001"]), "--config", config_dir,
                                         "--db", str(db_path)])
    assert explained.exit_code == 0 and "Le modèle appris estime" in explained.output
    assert "par règles" in explained.output or "par chargée de mission" in explained.output


def test_learned_nature_in_effect_and_the_curators_still_wins(tmp_path):
    db = open_db(tmp_path / "veille.db")
    item = insert_item(db, {"url": "https://example.org/a", "raw_url": "x", "source_id": "s", "title": "t", "text": "t"})
    db["tags"].insert_all([
        {"item_id": item, "facet": "nature", "value": "initiative", "origin": "auto", "action": "add"},
        {"item_id": item, "facet": "nature", "value": "initiative", "origin": "model", "action": "remove"},
        {"item_id": item, "facet": "nature", "value": "etude", "origin": "model", "action": "add"},
    ])
    assert effective_tags(db, [item])[item] == {"nature": ["etude"]}
    db["tags"].insert({"item_id": item, "facet": "nature", "value": "appel", "origin": "curator", "action": "add"})
    assert effective_tags(db, [item])[item] == {"nature": ["appel"]}


def test_model_doubts_cancel_rules_but_never_the_curator(tmp_path):
    db = open_db(tmp_path / "veille.db")
    item = insert_item(db, {"url": "https://example.org/a", "raw_url": "x", "source_id": "s", "title": "t", "text": "t"})
    db["tags"].insert_all([
        {"item_id": item, "facet": "themes", "value": "publics", "origin": "auto", "action": "add"},
        {"item_id": item, "facet": "themes", "value": "publics", "origin": "model", "action": "remove"},
        {"item_id": item, "facet": "themes", "value": "rse", "origin": "curator", "action": "add"},
        {"item_id": item, "facet": "themes", "value": "rse", "origin": "model", "action": "remove"},
        {"item_id": item, "facet": "themes", "value": "gouvernance", "origin": "model", "action": "add"},
    ])
    assert effective_tags(db, [item])[item] == {"themes": ["gouvernance", "rse"]}


def test_saved_model_round_trip(curated, trained, tmp_path):
    db_path, _, _ = curated
    model = trained
    save_model(model, tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert loaded.examples == model.examples and set(loaded.classifiers) == set(model.classifiers)
    documents = [(doc["title"], doc["text"]) for doc in DEVSET[:5]]
    for before, after in zip(model.probabilities(documents), loaded.probabilities(documents)):
        assert all(abs(before[tag] - after[tag]) < 0.01 for tag in before)  # weights kept in half precision
    assert load_model(tmp_path / "none.npz") is None
    assert model_path(db_path).name == "veille.model.npz"


def test_learned_nature_replaces_the_rules_one_and_items_keep_exactly_one(curated, trained):
    db_path, ids, taxonomy = curated
    db = open_db(db_path)
    model = trained
    assert model.nature_classifier is not None
    tag_items(db, taxonomy, everything=True, model=model)
    natures = effective_tags(db, ids.values())
    assert all(len(tags.get("nature", [])) == 1 for tags in natures.values())
    for item_id, value in db.execute("SELECT item_id, value FROM tags WHERE origin = 'model' AND facet = 'nature' "
                                     "AND action = 'add'"):
        assert natures[item_id]["nature"] == [value]  # the learned nature is the one in effect


def test_the_model_leaves_some_themes_to_the_rules():
    from pipeline.learning import RULES_ONLY

    model = starter_model()
    probabilities = {tag: 0.99 for tag in model.classifiers} | {("nature", "initiative"): 1.0}
    rule_scores = {tag: 1.0 for tag in model.classifiers}
    added = model.decide(probabilities, "initiative", [], rule_scores, known_words=50)
    assert set(added.additions) == set(model.classifiers) - RULES_ONLY  # confident: it adds the others
    doubted = model.decide({tag: 0.01 for tag in probabilities}, "initiative",
                           [slug for _, slug in model.classifiers], rule_scores, known_words=50)
    assert set(doubted.vetoes) == set(model.classifiers) - RULES_ONLY  # unsure: it doubts the others
    assert RULES_ONLY and RULES_ONLY <= set(model.classifiers)
