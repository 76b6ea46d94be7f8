"""The directory of actors (pipeline/directory.py) on real temporary archives: mentions written by
`tag_items`, the `acteurs` table rebuilt from them, the curator's decisions kept through a re-tag,
merges resolved, `actors_of_items` for the bulletin, and the data·inclusion export."""

from __future__ import annotations

import json

import pytest
from data_inclusion.schema.v1.structures import Structure

from config.errors import VeilleError
from config.loading import load_config
from pipeline.archive import insert_item, open_db
from pipeline.curation import curate
from pipeline.directory import actor_view, actors_of_items, decide, directory_rows, load_decisions, rebuild_directory
from pipeline.directory_export import NO_KIND, NO_PLACE, export_structures
from pipeline.places import load_gazetteer
from pipeline.tagging import tag_items
from tests.conftest import ROOT

# Short news written for these tests: local employment initiatives in Nouvelle-Aquitaine.
ITEMS = {
    "convention": ("Le PLIE des Graves signe avec la mission locale du Libournais",
                   "Le PLIE des Graves et la mission locale du Libournais ont signé une convention pour "
                   "accompagner les jeunes vers l'emploi avec France Travail, grâce au FSE+.",
                   "2026-11-20T08:00:00+00:00"),
    "forum": ("Forum de l'emploi à Libourne",
              "La mission locale du Libournais et le PLIE des Graves organisent un forum avec la mairie de "
              "Libourne le 4 décembre.",
              "2026-11-25T08:00:00+00:00"),
    "variant": ("Le Plie des Graves fête ses vingt ans",
                "Vingt ans d'accompagnement pour le plan local pour l'insertion et l'emploi des Graves, qui a "
                "suivi 3 000 personnes.",
                "2026-10-02T08:00:00+00:00"),
    "tulle": ("La mairie de Tulle ouvre un chantier d'insertion",
              "La mairie de Tulle et la mission locale de Tulle lancent un chantier pour douze jeunes.",
              "2026-11-26T08:00:00+00:00"),
}


def tagged_archive(path, items: dict = ITEMS):
    """An archive at `path` holding `items` (name -> (title, text, published)), tagged by the rules:
    (db, ids by name, config, gazetteer)."""
    config = load_config(ROOT / "config")
    gazetteer = load_gazetteer(config.gazetteer_path)
    db = open_db(path)
    db["sources"].insert({"id": "sud", "name": "Sud Ouest"})
    ids = {name: insert_item(db, {"url": f"https://example.org/{name}", "source_id": "sud", "title": title,
                                  "text": text, "published_at": published})
           for name, (title, text, published) in items.items()}
    tag_items(db, config.taxonomy, gazetteer=gazetteer, rules_only=True)
    return db, ids, config, gazetteer


@pytest.fixture
def archive(tmp_path):
    return tagged_archive(tmp_path / "veille.db")


def _row(db, key):
    rows = [r for r in directory_rows(db) if r["id"] == key]
    return rows[0] if rows else None


def test_tagging_writes_mentions_and_builds_the_directory(archive):
    db, ids, _, _ = archive
    mentions = db.execute("SELECT key, match, start FROM actor_mentions WHERE item_id = ? ORDER BY start",
                          [ids["convention"]]).fetchall()
    assert ("plie-des-graves", "PLIE des Graves") in [(k, m) for k, m, _ in mentions]
    title, text, _ = ITEMS["convention"]
    full = f"{title}\n\n{text}"
    assert all(full[start:start + len(match)] == match for _, match, start in mentions)
    plie = _row(db, "plie-des-graves")
    assert plie["name"] == "PLIE des Graves" and plie["kind"] == "plie" and plie["kind_label"] == "PLIE"
    assert plie["items"] == 3  # the variants « Plie des Graves », « plan local pour l'insertion… » too
    assert plie["first_seen"] == "2026-10-02" and plie["last_seen"] == "2026-11-25"
    assert plie["departements"] == ["Gironde (33)"] and plie["territory"] == "Gironde"
    assert "PLIE" in plie["dispositifs"]
    assert plie["partners"][0] == "Mission locale du Libournais"
    mairie = _row(db, "mairie-de-tulle")
    assert mairie["territory"] == "Tulle (19)" and mairie["departements"] == ["Corrèze (19)"]
    # Most cited first.
    assert [r["items"] for r in directory_rows(db)] == sorted((r["items"] for r in directory_rows(db)), reverse=True)
    assert {r["id"] for r in directory_rows(db, kind="communes")} == {"mairie-de-tulle", "mairie-de-libourne"}
    assert {r["id"] for r in directory_rows(db, departement="Corrèze (19)")} >= {"mairie-de-tulle"}
    assert "plie-des-graves" not in {r["id"] for r in directory_rows(db, departement="Corrèze (19)")}


def test_retagging_replaces_the_machine_mentions(archive):
    db, ids, config, gazetteer = archive
    db.execute("UPDATE items SET text = ?, title = ? WHERE id = ?",
               ["La Région Nouvelle-Aquitaine soutient le projet.", "Un projet soutenu", ids["tulle"]])
    tag_items(db, config.taxonomy, everything=True, gazetteer=gazetteer, rules_only=True)
    keys = {k for (k,) in db.execute("SELECT key FROM actor_mentions WHERE item_id = ?", [ids["tulle"]])}
    assert "mairie-de-tulle" not in keys
    assert _row(db, "mairie-de-tulle") is None  # named nowhere else any more


def test_curator_decisions_survive_a_retag(archive):
    db, ids, config, gazetteer = archive
    decide(db, "rename", "plie-des-graves", value="PLIE des Graves (Léognan)", curator="marie")
    decide(db, "kind", "mairie-de-libourne", value="Intercommunalité", curator="marie")
    decide(db, "hide", "mairie-de-tulle", curator="marie")
    rebuild_directory(db, gazetteer, config.taxonomy)
    tag_items(db, config.taxonomy, everything=True, gazetteer=gazetteer, rules_only=True)
    assert _row(db, "plie-des-graves")["name"] == "PLIE des Graves (Léognan)"
    assert _row(db, "mairie-de-libourne")["kind"] == "epci"
    assert _row(db, "mairie-de-tulle") is None  # hidden: out of the table
    assert db.execute("SELECT COUNT(*) FROM actor_mentions WHERE key = 'mairie-de-tulle'").fetchone()[0] == 2
    assert "Mairie de Tulle" not in _row(db, "mission-locale-de-tulle")["partners"]
    assert db.execute("SELECT curator FROM actor_decisions WHERE action = 'hide'").fetchone()[0] == "marie"
    decide(db, "unhide", "mairie-de-tulle")
    rebuild_directory(db, gazetteer, config.taxonomy)
    assert _row(db, "mairie-de-tulle")["items"] == 1


def test_merge_resolves_mentions_partners_and_items_then_split_undoes_it(archive):
    db, ids, config, gazetteer = archive
    message = decide(db, "merge", "mission-locale-de-tulle", target="mission-locale-du-libournais", curator="marie")
    assert "fusionné dans « Mission locale du Libournais »" in message
    rebuild_directory(db, gazetteer, config.taxonomy)
    assert _row(db, "mission-locale-de-tulle") is None
    merged = _row(db, "mission-locale-du-libournais")
    assert merged["items"] == 3 and merged["name"] == "Mission locale du Libournais"
    assert "Mairie de Tulle" in merged["partners"]
    assert actor_view(db, "mission-locale-de-tulle") == "mission-locale-du-libournais"  # its page redirects
    view = actor_view(db, "mission-locale-du-libournais")
    assert [k for k, _ in view.variants] == ["mission-locale-de-tulle"]
    assert ids["tulle"] in [i["id"] for i in view.items]
    # A chain: merging the target elsewhere carries its variants along.
    decide(db, "merge", "mission-locale-du-libournais", target="plie-des-graves")
    assert load_decisions(db).resolve("mission-locale-de-tulle") == "plie-des-graves"
    with pytest.raises(VeilleError, match="déjà un seul acteur"):
        decide(db, "merge", "plie-des-graves", target="mission-locale-de-tulle")
    decide(db, "split", "mission-locale-du-libournais")
    decide(db, "split", "mission-locale-de-tulle")
    rebuild_directory(db, gazetteer, config.taxonomy)
    assert _row(db, "mission-locale-de-tulle")["items"] == 1
    assert _row(db, "mission-locale-du-libournais")["items"] == 2


def test_refused_decisions_record_nothing(archive):
    db, _, _, _ = archive
    for action, key, target, value, message in [
            ("merge", "inconnu", "plie-des-graves", None, "aucun acteur « inconnu »"),
            ("merge", "plie-des-graves", "inconnu", None, "fusion impossible"),
            ("split", "plie-des-graves", None, None, "n'est fusionné dans aucun acteur"),
            ("rename", "plie-des-graves", None, "   ", "nouveau nom vide"),
            ("kind", "plie-des-graves", None, "banque", "type inconnu"),
            ("unhide", "plie-des-graves", None, None, "n'est pas masqué"),
            ("explode", "plie-des-graves", None, None, "décision inconnue")]:
        with pytest.raises(VeilleError, match=message):
            decide(db, action, key, target=target, value=value)
    assert db["actor_decisions"].count == 0


def test_actors_of_items_for_the_bulletin(archive):
    db, ids, config, gazetteer = archive
    decide(db, "hide", "mairie-de-libourne")
    decide(db, "merge", "mission-locale-de-tulle", target="mission-locale-du-libournais")
    decide(db, "rename", "plie-des-graves", value="PLIE des Graves")
    result = actors_of_items(db, [ids["forum"], ids["tulle"], ids["variant"], 999])
    # Before any rebuild the decisions already apply (names from the curator, else the machine).
    forum = result[ids["forum"]]
    assert [a["id"] for a in forum] == ["mission-locale-du-libournais", "plie-des-graves"]  # order of mention
    assert forum[0] == {"id": "mission-locale-du-libournais", "name": "Mission locale du Libournais",
                        "kind": "mission-locale", "kind_label": "Mission locale", "territory": "Gironde"}
    # Tulle's mission locale now counts as the Libournais one, named once (no duplicate).
    assert [a["id"] for a in result[ids["tulle"]]] == ["mairie-de-tulle", "mission-locale-du-libournais"]
    assert [a["id"] for a in result[ids["variant"]]] == ["plie-des-graves"]
    assert result[999] == []
    assert actors_of_items(db, []) == {}


def test_export_validates_and_says_who_was_left_out(archive):
    db, _, config, gazetteer = archive
    export = export_structures(db, source="veille-test", public_url="https://veille.example.org",
                               communes=gazetteer.communes)
    by_id = {s["id"]: s for s in export.structures}
    plie = by_id["veille-test--plie-des-graves"]
    assert plie["nom"] == "PLIE des Graves" and plie["reseaux_porteurs"] == ["plie"]
    assert plie["lien_source"] == "https://veille.example.org/-/acteur/plie-des-graves"
    assert "Cité dans 3 article(s)" in plie["description"]
    mairie = by_id["veille-test--mairie-de-tulle"]
    assert mairie["code_insee"] == "19272" and mairie["commune"] == "Tulle"
    for structure in export.structures:
        Structure.model_validate(structure)  # what was written validates again
    decide(db, "kind", "mairie-de-libourne", value="entreprise")
    rebuild_directory(db, gazetteer, config.taxonomy)
    export = export_structures(db, source="veille-test", communes=gazetteer.communes)
    assert export.left_out[NO_KIND] == 1
    assert "veille-test--mairie-de-libourne" not in {s["id"] for s in export.structures}
    assert export.left_out[NO_PLACE] == 1  # France Travail, national: placed nowhere
    assert "veille-test--france-travail" not in {s["id"] for s in export.structures}


def test_dispositifs_follow_the_curator_tags(archive):
    db, ids, config, gazetteer = archive
    curate(db, config.taxonomy, ids["tulle"], add=["dispositifs:iae"], by="marie", gazetteer=gazetteer)
    rebuild_directory(db, gazetteer, config.taxonomy)
    assert config.taxonomy.label("dispositifs", "iae") in _row(db, "mairie-de-tulle")["dispositifs"]
    assert json.loads(db.execute("SELECT dispositifs FROM acteurs WHERE id = 'mairie-de-tulle'").fetchone()[0])
