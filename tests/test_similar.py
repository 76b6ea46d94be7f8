"""« Pratiques inspirantes » (pipeline/similar.py): similar initiatives elsewhere in the région, read
from the `articles` table of a real archive."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from pipeline.archive import insert_item, open_db
from pipeline.similar import WINDOW_DAYS, Initiative, similar_initiatives

NATURE = "Initiatives locales"
REGION = ["Charente (16)", "Corrèze (19)", "Creuse (23)", "Dordogne (24)", "Gironde (33)", "Landes (40)",
          "Pyrénées-Atlantiques (64)", "Haute-Vienne (87)"]
UNTIL = date(2026, 11, 30)


@pytest.fixture
def db(tmp_path):
    db = open_db(tmp_path / "veille.db")
    db.next_id = 0

    def article(title, days_ago, departements, dispositifs=(), themes=(), communes=(), nature=NATURE,
                reason=None, rejected=False):
        url = f"https://gazette.example.org/{len(title)}-{days_ago}-{title[:12]}"
        id_ = insert_item(db, {"url": url, "raw_url": url, "title": title, "source_id": "gazette"})
        db["articles"].insert({
            "id": id_, "title": title, "url": url, "published": (UNTIL - timedelta(days=days_ago)).isoformat(),
            "nature": nature, "themes": json.dumps(list(themes)), "dispositifs": json.dumps(list(dispositifs)),
            "departements": json.dumps(list(departements)), "communes": json.dumps(list(communes)),
            "rejected": 0, "reason": reason})
        if rejected:  # by the curator, the `articles` row not refreshed yet
            db["curation"].insert({"item_id": id_, "rejected": 1})
        return id_

    db.article = article
    return db


def titles(found, initiative_id):
    return [s.title for s in found.get(initiative_id, [])]


def test_a_shared_dispositif_ranks_above_a_shared_theme_then_the_most_recent(db):
    theme_recent = db.article("Pau : parrainage des demandeurs d'emploi", 2, ["Pyrénées-Atlantiques (64)"],
                              themes=["Publics et accompagnement"], communes=["Pau"])
    plie_old = db.article("Limoges : le PLIE et les seniors", 200, ["Haute-Vienne (87)"], dispositifs=["PLIE"])
    plie_new = db.article("Périgueux : atelier du PLIE", 30, ["Dordogne (24)"], dispositifs=["PLIE"],
                          communes=["Périgueux"])
    bordeaux = Initiative(1000, ["PLIE"], ["Publics et accompagnement"], ["Gironde (33)"])
    found = similar_initiatives(db, [bordeaux], NATURE, UNTIL, REGION)
    assert [s.id for s in found[1000]] == [plie_new, plie_old, theme_recent]
    assert [s.shared for s in found[1000]] == ["PLIE", "PLIE", "Publics et accompagnement"]
    assert found[1000][0].place == "Périgueux, Dordogne (24)" and found[1000][1].place == "Haute-Vienne (87)"


def test_at_most_three_and_only_elsewhere_in_the_region(db):
    for n in range(5):
        db.article(f"Creuse : chantier d'insertion {n}", 10 + n, ["Creuse (23)"], dispositifs=["IAE"])
    db.article("Libourne : un chantier d'insertion", 1, ["Gironde (33)"], dispositifs=["IAE"])  # same département
    db.article("Bordeaux et Guéret : chantiers", 1, ["Gironde (33)", "Creuse (23)"],
               dispositifs=["IAE"])  # one département in common
    db.article("Toulouse : un chantier d'insertion", 1, ["Haute-Garonne (31)"], dispositifs=["IAE"])  # another région
    db.article("Chantier d'insertion sans lieu", 1, [], dispositifs=["IAE"])  # nowhere
    gironde = Initiative(1000, ["IAE"], [], ["Gironde (33)"])
    found = similar_initiatives(db, [gironde], NATURE, UNTIL, REGION)
    assert titles(found, 1000) == [f"Creuse : chantier d'insertion {n}" for n in range(3)]
    nowhere = Initiative(1001, ["IAE"], [], [])
    elsewhere = Initiative(1002, ["IAE"], [], ["Haute-Garonne (31)"])
    assert similar_initiatives(db, [nowhere, elsewhere], NATURE, UNTIL, REGION) == {}


def test_rejected_rewrites_other_natures_the_item_itself_and_old_ones_are_left_out(db):
    db.article("Creuse : un EBE écarté", 3, ["Creuse (23)"], dispositifs=["TZCLD"], rejected=True)
    db.article("Creuse : la reprise d'un EBE", 4, ["Creuse (23)"], dispositifs=["TZCLD"], reason="doublon de #3")
    db.article("Creuse : l'EBE, déjà dit", 5, ["Creuse (23)"], dispositifs=["TZCLD"],
               reason="déjà paru en 2026-W40")
    db.article("Creuse : étude sur les EBE", 6, ["Creuse (23)"], dispositifs=["TZCLD"],
               nature="Études et ressources")
    db.article("Creuse : l'EBE de l'an dernier", WINDOW_DAYS + 1, ["Creuse (23)"], dispositifs=["TZCLD"])
    db.article("Creuse : l'EBE de demain", -1, ["Creuse (23)"], dispositifs=["TZCLD"])  # after the bulletin's week
    kept = db.article("Creuse : l'EBE trop ancien pour le bulletin", 40, ["Creuse (23)"], dispositifs=["TZCLD"],
                      reason="trop ancien")
    itself = db.article("Gironde : une EBE", 1, ["Charente (16)"], dispositifs=["TZCLD"])
    found = similar_initiatives(db, [Initiative(itself, ["TZCLD"], [], ["Gironde (33)"])], NATURE, UNTIL, REGION)
    assert [s.id for s in found[itself]] == [kept]
    shorter = similar_initiatives(db, [Initiative(itself, ["TZCLD"], [], ["Gironde (33)"])], NATURE, UNTIL, REGION,
                                  window_days=30)
    assert shorter == {}  # the one kept above is 40 days old


def test_one_query_answers_every_initiative_of_a_bulletin(db):
    for n in range(40):
        db.article(f"Initiative {n}", n + 1, [REGION[n % len(REGION)]], dispositifs=[["PLIE", "IAE", "GEIQ"][n % 3]],
                   themes=["Publics et accompagnement"])
    initiatives = [Initiative(1000 + n, [["PLIE", "IAE", "GEIQ", "Inconnu"][n % 4]], ["Publics et accompagnement"],
                              [REGION[n % len(REGION)]]) for n in range(12)]
    statements = []
    db.conn.set_trace_callback(statements.append)
    unlabelled = Initiative(2000, [], [], ["Creuse (23)"])  # nothing to be similar by
    found = similar_initiatives(db, initiatives + [unlabelled], NATURE, UNTIL, REGION)
    db.conn.set_trace_callback(None)
    assert len([s for s in statements if "FROM articles" in s]) == 1
    assert set(found) == {i.id for i in initiatives} and all(len(f) == 3 for f in found.values())
    unknown = found[1003]  # no dispositif in common with anything: the most recent of its theme
    assert [s.shared for s in unknown] == ["Publics et accompagnement"] * 3
    assert [s.title for s in unknown] == ["Initiative 0", "Initiative 1", "Initiative 2"]
