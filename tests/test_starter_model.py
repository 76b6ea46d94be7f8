"""The starter model shipped with the project (models/starter.npz) and how the tagger uses it."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from pipeline.archive import effective_tags, insert_item, open_db
from pipeline.evaluation import is_reserved, load_press, normalised_url, reserved_digests
from pipeline.learning import STARTER, TagModel, load_model, starter_model, train
from pipeline.linear import split_words
from pipeline.folding import match_text
from pipeline.tagging import explain, tag_items, tag_text
from tests.conftest import ROOT
from tests.press_corpus import PRESS, PRESS_MISSING, press_articles, press_available
from config.loading import load_taxonomy

TAXONOMY = load_taxonomy(ROOT / "config" / "taxonomy.yaml")


def test_the_starter_model_ships_small_and_without_pickle():
    assert STARTER.exists(), "models/starter.npz is missing: run `make model`"
    assert STARTER.stat().st_size < 300 * 1024
    with np.load(STARTER, allow_pickle=False) as data:  # no pickled object: loading runs no code
        names = set(data.files)
        meta = json.loads(str(data["meta"]))
    assert {"vocabulary", "weights", "idf", "bias", "rule_weights", "outputs", "meta"} <= names
    assert meta["source"] == "starter" and "split dev" in meta["built_from"]
    model = starter_model()
    assert model.source == "starter" and model.nature_classifier and model.training is not None
    assert len(model.linear.vocabulary) <= 2000


def test_the_model_file_holds_words_never_sentences():
    with zipfile.ZipFile(STARTER) as archive:
        for info in archive.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)  # rebuilt identically: no time stamp
    model = starter_model()
    assert all(" " not in word and len(word) >= 3 for word in model.linear.vocabulary)
    assert all(" " not in word for word in model.training.vocabulary)


@pytest.mark.skipif(not press_available(), reason=PRESS_MISSING)
def test_the_starter_model_was_built_from_the_development_part_of_the_current_corpus_and_taxonomy():
    meta = starter_model().linear.meta
    assert meta["corpus_sha256"] == hashlib.sha256(PRESS.read_bytes()).hexdigest(), "corpus changed: `make model`"
    assert meta["taxonomy_sha256"] == hashlib.sha256((ROOT / "config" / "taxonomy.yaml").read_bytes()).hexdigest(), \
        "config/taxonomy.yaml changed since the starter model was built: run `make model`"
    dev = press_articles("dev")
    assert meta["corpus"] == len(dev) == starter_model().corpus
    assert set(starter_model().training.natures) <= {a["gold"]["nature"] for a in dev}


def test_reserved_articles_never_load(tmp_path):
    corpus = tmp_path / "articles.jsonl"
    rows = [{"id": "a", "split": "dev", "url": "https://www.Example.org/kept/", "title": "Gardé", "text": "x",
             "gold": {}},
            {"id": "b", "split": "dev", "url": "https://example.org/by-url", "title": "Par l'adresse", "text": "x",
             "gold": {}},
            {"id": "c", "split": "dev", "url": "http://WWW.example.org/by-norm/", "title": "Par la forme", "text": "x",
             "gold": {}},
            {"id": "d", "split": "blind", "url": "https://example.org/by-title", "title": "  Par Le Titre ",
             "text": "x", "gold": {}}]
    corpus.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    digest = lambda value: hashlib.sha256(value.encode("utf-8")).hexdigest()  # noqa: E731
    reserved = tmp_path / "reserved.txt"
    reserved.write_text("# header\n" + "\n".join([digest("https://example.org/by-url"),
                                                  digest(normalised_url("https://example.org/by-norm")),
                                                  digest("par le titre")]) + "\n", encoding="utf-8")
    assert [a["id"] for a in load_press(corpus, reserved=reserved)] == ["a"]
    assert [a["id"] for a in load_press(corpus, "dev", reserved=tmp_path / "absent.txt")] == ["a", "b", "c"]
    assert normalised_url("HTTPS://www.Example.org/x/") == "example.org/x"
    assert not is_reserved("https://example.org/kept", "Gardé", reserved_digests(reserved))


@pytest.mark.skipif(not press_available(), reason=PRESS_MISSING)
def test_no_reserved_article_in_the_shared_corpus_parts_we_read():
    digests = reserved_digests()
    assert all(not is_reserved(a["url"], a["title"], digests) for split in ("dev", "blind")
               for a in press_articles(split))


def test_the_tagger_uses_the_starter_model_by_default_and_the_fast_path_agrees():
    title = "Forum de l'emploi : 40 recruteurs attendus jeudi à Niort"
    text = ("Le forum se tiendra jeudi 12 mars de 9 h à 17 h à la salle des fêtes. Les demandeurs d'emploi "
            "pourront rencontrer les entreprises qui recrutent, avec France Travail et la mission locale.")
    result = tag_text(TAXONOMY, "x", title, text)
    assert result.judgement is not None and result.model is starter_model()
    assert result.nature_origin in ("rules", "model") and result.tags["nature"] == result.judgement.nature
    slow = starter_model().linear.probabilities(*split_words(match_text(f"{title}\n\n{text}"), len(title)),
                                                result.scores)
    assert all(abs(slow[tag] - p) < 1e-6 for tag, p in result.judgement.probabilities.items())
    rules = tag_text(TAXONOMY, "x", title, text, model=None)
    assert rules.judgement is None and rules.tags == rules.rule_tags


def test_tagging_with_the_starter_model_never_imports_scikit_learn():
    code = ("import sys\nfrom config.loading import load_taxonomy\nfrom pipeline.tagging import tag_document\n"
            "t = load_taxonomy('config/taxonomy.yaml')\n"
            "tags = tag_document(t, 'a', 'Appel à projets IAE', 'Candidatures jusqu’au 12 mars.')\n"
            "assert tags['nature'] == 'appel', tags\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy', 'joblib')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout


def test_archive_tagging_records_who_decided_the_nature(tmp_path):
    db = open_db(tmp_path / "veille.db")
    texts = {
        "stats": ("Chômage : le nombre de demandeurs d'emploi recule de 2,1 % sur un an en Gironde",
                  "Selon les chiffres publiés par France Travail et la Dares, le nombre d'inscrits en catégorie A "
                  "baisse de 2,1 % au dernier trimestre. Le taux de chômage s'établit à 6,8 %."),
        "forum": ("Forum de l'emploi à Guéret", "Un forum France Travail en Creuse, jeudi 12 mars."),
    }
    ids = {key: insert_item(db, {"url": f"https://example.org/{key}", "raw_url": "x", "source_id": "s",
                                 "title": title, "text": text}) for key, (title, text) in texts.items()}
    tag_items(db, TAXONOMY)
    for item in ids.values():
        rows = explain(db, item)
        deciding = [row for row in rows if row["decided_by"]]
        assert len(deciding) == 1 and deciding[0]["facet"] == "nature" and deciding[0]["effective"]
        assert deciding[0]["decided_by"] in ("rules", "model")
        nature = effective_tags(db, [item])[item]["nature"]
        assert nature == [deciding[0]["value"]]
        if deciding[0]["decided_by"] == "model":
            proof = deciding[0]["evidence"][0]
            assert proof["model"].startswith("modèle de départ") and proof["words"]
    tag_items(db, TAXONOMY, everything=True, rules_only=True)
    assert db.execute("SELECT COUNT(*) FROM tags WHERE origin = 'model'").fetchone()[0] == 0
    assert all(row["decided_by"] in (None, "rules") for item in ids.values() for row in explain(db, item))


def test_learning_from_the_curator_weighs_more_than_the_corpus():
    # Fifty curated items say that a visit of the minister is an event; the corpus alone does not know it.
    examples = [(f"Visite de la ministre à {place}", f"La ministre visite le chantier d'insertion de {place} et "
                 "rencontre les salariés en insertion et les encadrants techniques.", {("nature", "evenement")})
                for place in ("Niort", "Pau", "Dax", "Agen", "Tulle", "Guéret", "Cognac", "Saintes", "Royan", "Bayonne")
                for _ in range(5)]
    examples += [(f"Le chantier d'insertion de {place} recrute", f"Le chantier d'insertion de {place} accompagne "
                  "des salariés en insertion.", {("nature", "initiative")}) for place in ("Niort", "Pau") * 5]
    model = train(examples, TAXONOMY)
    assert isinstance(model, TagModel) and model.source == "archive" and model.examples == len(examples)
    document = [("Visite de la ministre à Limoges", "La ministre visite le chantier d'insertion de Limoges.")]
    learned = model.probabilities(document, taxonomy=TAXONOMY)[0][("nature", "evenement")]
    starter = starter_model().probabilities(document, taxonomy=TAXONOMY)[0][("nature", "evenement")]
    assert learned > max(starter, 0.5)
    alone = train(examples, TAXONOMY, starter=None)
    assert alone.corpus == 0 and model.corpus == starter_model().corpus


def test_an_archive_model_file_replaces_the_starter(tmp_path):
    from pipeline.learning import archive_or_starter_model, model_path, save_model

    db_path = tmp_path / "veille.db"
    assert archive_or_starter_model(db_path) is starter_model()
    examples = [(f"Forum de l'emploi n°{i}", "Un forum, des stands, des recruteurs.", {("nature", "evenement")})
                for i in range(25)]
    save_model(train(examples, TAXONOMY), model_path(db_path))
    loaded = archive_or_starter_model(db_path)
    assert loaded.source == "archive" and loaded.examples == 25 and load_model(model_path(db_path)) is not None


def test_cross_validation_reads_the_development_part_only():
    result = subprocess.run([sys.executable, "scripts/evaluate_press.py", "--cv", "5", "--split", "blind"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stdout == ""
    assert "development part" in result.stderr or "corpus absent" in result.stderr


def test_another_labelled_set_is_measured_whole(tmp_path):
    gold = {"nature": "evenement", "themes": [], "dispositifs": ["france-travail"], "departements": ["23"],
            "communes": ["23096"], "region_na": True, "outside": False, "national": False, "note": ""}
    articles = [{"id": "o1", "split": "extra", "url": "https://example.org/o1", "title": "Forum de l'emploi à Guéret",
                 "text": "France Travail organise un forum le 12 mars à Guéret, avec trente recruteurs.",
                 "gold": gold},
                {"id": "o2", "split": "dev", "url": "https://example.org/o2", "title": "Forum à Guéret",
                 "text": "Un forum de l'emploi le 3 avril à Guéret : France Travail invite les recruteurs.",
                 "gold": gold}]
    corpus = tmp_path / "set.jsonl"
    corpus.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles), encoding="utf-8")
    result = subprocess.run([sys.executable, "scripts/evaluate_press.py", "--corpus", str(corpus), "--split", "all",
                             "--ways", "rules", "--json"], cwd=ROOT, capture_output=True, text=True, check=True)
    figures = json.loads(result.stdout)
    assert figures["split"] == "all" and figures["documents"] == 2
    assert figures["nature"] == 1.0 and figures["communes"] == 1.0
