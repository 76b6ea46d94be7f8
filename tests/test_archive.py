"""The archive schema: creation, idempotent migration, dedup, effective tags."""

from __future__ import annotations

import sqlite_utils

from pipeline.archive import effective_tags, insert_item, migrations, open_db
from pipeline.curation import curate
from config.loading import load_taxonomy
from tests.conftest import ROOT


def item(url, **extra):
    return {"url": url, "raw_url": url, "title": "Titre", "text": "Texte", "source_id": "s", **extra}


def test_schema_is_created_in_wal_mode(tmp_path):
    db = open_db(tmp_path / "sub" / "veille.db")
    assert {"sources", "items", "source_runs", "tags", "curation", "items_fts"} <= set(db.table_names())
    assert "effective_tags" in db.view_names()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"url", "title", "text", "published_at", "source_id", "first_seen_at"} <= set(db["items"].columns_dict)
    assert any(i.unique and i.columns == ["url"] for i in db["items"].indexes)


def test_open_is_idempotent(tmp_path):
    path = tmp_path / "veille.db"
    open_db(path).close()
    schema = sqlite_utils.Database(path).schema
    db = open_db(path)
    assert db.schema == schema
    names = [r["name"] for r in db["_sqlite_migrations"].rows]
    assert len(names) == len(set(names)) == len(migrations._migrations)


def test_migration_of_an_existing_database_keeps_its_rows(tmp_path):
    path = tmp_path / "veille.db"
    old = sqlite_utils.Database(path)
    migrations.apply(old, stop_before="m002_full_text_search")  # a database from before full-text search
    assert "items_fts" not in old.table_names()
    insert_item(old, item("https://example.org/a", title="Chantier d'insertion à Guéret"))
    old.close()

    db = open_db(path)
    assert db["items"].count == 1
    found = list(db["items"].search("gueret"))  # indexed during the migration, accents folded
    assert [r["url"] for r in found] == ["https://example.org/a"]
    insert_item(db, item("https://example.org/b", title="Forum de l'emploi"))
    assert [r["url"] for r in db["items"].search("forum")] == ["https://example.org/b"]  # triggers on


def test_insert_item_keeps_one_row_per_url(tmp_path):
    db = open_db(tmp_path / "veille.db")
    assert insert_item(db, item("https://example.org/a")) is not None
    assert insert_item(db, item("https://example.org/a", title="Autre titre")) is None
    assert db["items"].count == 1 and db["items"].get(1)["title"] == "Titre"


def test_curator_decisions_win_over_automatic_tags(tmp_path):
    db = open_db(tmp_path / "veille.db")
    taxonomy = load_taxonomy(ROOT / "config" / "taxonomy.yaml")
    item_id = insert_item(db, item("https://example.org/a"))
    db["tags"].insert_all([
        {"item_id": item_id, "facet": "nature", "value": "initiative", "origin": "auto", "action": "add"},
        {"item_id": item_id, "facet": "dispositifs", "value": "plie", "origin": "auto", "action": "add"},
        {"item_id": item_id, "facet": "departements", "value": "86", "origin": "auto", "action": "add"},
    ])
    curate(db, taxonomy, item_id, add=["etude", "tzcld"], remove=["departements:86"])
    tags = effective_tags(db, [item_id])[item_id]
    assert tags == {"nature": ["etude"], "dispositifs": ["plie", "tzcld"]}
