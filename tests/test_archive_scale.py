"""The archive's pages at scale (issue 12), checked on small archives: the in-memory facet counts and
the plugin's search give what Datasette's own facets and search give, the per-week counts kept by
triggers match the articles, and the facet index follows a change. Speed lives in
benchmarks/bench_archive.py, not here."""

from __future__ import annotations

import json
import sqlite3

import pytest

import pipeline.articles as articles_module
import veille.datasette_plugin.facets as facet_plugin
from benchmarks.bench_archive import _before, demo_archive, generate
from config.loading import load_config
from pipeline.archive import open_db
from tests.conftest import ROOT
from veille.server import make_datasette

SEARCH = "_search=insertion&_facet_array=departements&_facet_array=dispositifs&_sort_desc=published"


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """3,000 items copied from the demo's, with shuffled places, themes and dispositifs."""
    folder = tmp_path_factory.mktemp("scale")
    demo_archive(folder)  # in a subprocess: Twisted's reactor starts once per process
    path = folder / "archive" / "veille.db"
    path.parent.mkdir()
    generate(path, 3000, folder / "demo" / "veille.db", load_config(ROOT / "config"), with_tags=False)
    return path


@pytest.fixture
def servers(archive, tmp_path, monkeypatch):
    monkeypatch.setenv("VEILLE_SECRET", "secret-de-l-echelle")
    config = load_config(ROOT / "config")
    return (make_datasette(config, archive, tmp_path / "subscribers.db", tmp_path / "bulletins"),
            _before(config, archive))


def facets(answer: dict) -> dict:
    return {name: {v["value"]: v["count"] for v in facet["results"]} for name, facet in answer["facet_results"].items()}


def facet_links(answer: dict) -> dict:
    """Each facet's values, whether selected, and the link that toggles them."""
    return {name: {v["value"]: (v["selected"], v["toggle_url"]) for v in facet["results"]}
            for name, facet in answer["facet_results"].items()}


async def answer(datasette, path: str) -> dict:
    response = await datasette.client.get(path)
    assert response.status_code == 200, response.text[:500]
    return response.json()


@pytest.mark.asyncio
@pytest.mark.parametrize("query", [
    SEARCH, "", "_search=emploi%20local", "departements__arraycontains=Creuse%20(23)",
    "_search=insertion&nature=Appels%20%C3%A0%20projets&_facet=source",
])
async def test_same_rows_and_facet_counts_as_datasettes_own(servers, query):
    ours, stock = servers
    mine = await answer(ours, f"/veille/articles.json?{query}&_size=100")
    theirs = await answer(stock, f"/veille/articles.json?{query}&_size=100")
    assert mine["filtered_table_rows_count"] == theirs["filtered_table_rows_count"] > 0
    assert isinstance(ours.get_database("veille"), facet_plugin.ArchiveDatabase)  # its count, not Datasette's
    # Same rows in the same order of `published` (rows of one day may come in another order).
    published = mine["columns"].index("published")
    assert [r[published] for r in mine["rows"]] == [r[published] for r in theirs["rows"]]
    if mine["filtered_table_rows_count"] <= 100:
        assert sorted(mine["rows"]) == sorted(theirs["rows"])
    assert facets(mine) == facets(theirs)
    assert facet_links(mine) == facet_links(theirs)
    assert {"nature", "themes", "dispositifs", "departements", "source", "week"} <= set(facets(mine))


@pytest.mark.asyncio
async def test_the_search_box_is_still_there_and_the_page_says_what_it_searched(servers):
    ours, _ = servers
    page = await ours.client.get(f"/veille/articles?{SEARCH}")
    assert page.status_code == 200
    assert 'id="_search"' in page.text and 'value="insertion"' in page.text
    assert "timed out" not in page.text


def test_week_counts_kept_by_triggers(archive, tmp_path):
    db = open_db(copy_of(archive, tmp_path))
    db.execute("UPDATE articles SET departements = '[\"Creuse (23)\", \"Landes (40)\"]', week = '2020-W01' "
               "WHERE id IN (SELECT id FROM articles ORDER BY id LIMIT 50)")
    db.execute("DELETE FROM articles WHERE id IN (SELECT id FROM articles ORDER BY id DESC LIMIT 20)")
    db["articles"].upsert({"id": 1, "departements": json.dumps(["Gironde (33)"]), "week": "2020-W02"}, pk="id")
    expected = db.execute("SELECT j.value, a.week, COUNT(*) FROM articles a, json_each(a.departements) j "
                          "GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
    kept = db.execute("SELECT value, week, articles FROM article_week_counts WHERE facet = 'departements' "
                      "ORDER BY 1, 2").fetchall()
    assert kept == expected


@pytest.mark.asyncio
async def test_par_departement_answers_as_before(servers):
    ours, stock = servers
    path = "/veille/par_departement.json?depuis=2020-W01&_shape=array&_size=max"
    mine, theirs = await answer(ours, path), await answer(stock, path)
    assert mine and sorted(map(json.dumps, mine)) == sorted(map(json.dumps, theirs))


def copy_of(archive, tmp_path):
    copy = tmp_path / "veille.db"
    source = sqlite3.connect(archive)
    source.backup(target := sqlite3.connect(copy))
    source.close(), target.close()
    return copy


@pytest.mark.asyncio
async def test_the_facet_index_follows_changes_without_reading_everything_again(archive, tmp_path, monkeypatch):
    copy = copy_of(archive, tmp_path)
    monkeypatch.setenv("VEILLE_SECRET", "secret-de-l-echelle")
    config = load_config(ROOT / "config")
    ours, stock = (make_datasette(config, copy, tmp_path / "subscribers.db", tmp_path / "b"), _before(config, copy))
    builds = []
    build = facet_plugin._build
    monkeypatch.setattr(facet_plugin, "_build", lambda *args: builds.append(1) or build(*args))
    await answer(ours, "/veille/articles.json")
    assert len(builds) == 1
    db = open_db(copy)
    top = db.execute("SELECT max(id) FROM articles").fetchone()[0]
    db.execute("UPDATE articles SET departements = '[\"Nulle part (00)\", \"Creuse (23)\"]', nature = 'Nouvelle nature', "
               "themes = '[\"Thème inventé\", \"Thème inventé\"]' WHERE id IN (1, 2, 3)")
    db.execute("UPDATE articles SET communes = ? WHERE id = 4", [json.dumps([f"Commune {n}" for n in range(40)])])
    db.execute("DELETE FROM articles WHERE id = 5")
    # A new item and its article, as a crawl stores them (articles' ids are items', m008).
    db.execute("INSERT INTO items (id, url, title, text, source_id, first_seen_at) SELECT ?, url || '#nouveau', "
               "title, text, source_id, first_seen_at FROM items WHERE id = 6", [top + 1000])
    db.execute("INSERT INTO articles (id, title, nature, departements, week) SELECT ?, 'Nouvel article', nature, "
               "departements, week FROM articles WHERE id = 6", [top + 1000])
    db.conn.commit()
    for query in ("", "_search=insertion", "departements__arraycontains=Creuse%20(23)"):
        mine = await answer(ours, f"/veille/articles.json?{query}&_facet_size=max&_facet_array=communes")
        theirs = await answer(stock, f"/veille/articles.json?{query}&_facet_size=max&_facet_array=communes")
        assert facets(mine) == facets(theirs), query
        assert mine["filtered_table_rows_count"] == theirs["filtered_table_rows_count"], query
    assert facets(mine)["departements"]["Nulle part (00)"] == 3
    assert len(builds) == 1  # followed from the change log, not read again
    # A reader left behind by more than the log keeps reads the whole table again.
    monkeypatch.setattr(articles_module, "CHANGELOG_KEEP", 10)
    db.execute("UPDATE articles SET nature = 'Encore une autre' WHERE id BETWEEN 10 AND 40")
    articles_module.prune_changelog(db)
    db.conn.commit()
    db.close()
    mine, theirs = await answer(ours, "/veille/articles.json"), await answer(stock, "/veille/articles.json")
    assert facets(mine) == facets(theirs) and facets(mine)["nature"]["Encore une autre"] == 31
    assert len(builds) == 2


@pytest.mark.asyncio
async def test_the_count_of_a_search_is_exact_when_an_item_has_no_article_yet(archive, tmp_path, monkeypatch):
    copy = copy_of(archive, tmp_path)
    db = open_db(copy)
    missing = db.execute("SELECT a.id FROM articles a JOIN items_fts f ON f.rowid = a.id "
                         "WHERE items_fts MATCH 'insertion' LIMIT 1").fetchone()[0]
    db.execute("DELETE FROM articles WHERE id = ?", [missing])
    db.conn.commit()
    db.close()
    monkeypatch.setenv("VEILLE_SECRET", "secret-de-l-echelle")
    config = load_config(ROOT / "config")
    ours, stock = (make_datasette(config, copy, tmp_path / "subscribers.db", tmp_path / "b"), _before(config, copy))
    plain = sqlite3.connect(copy).execute("SELECT count(*) FROM items_fts WHERE items_fts MATCH 'insertion'").fetchone()[0]
    mine = await answer(ours, "/veille/articles.json?_search=insertion")
    assert mine["filtered_table_rows_count"] == plain - 1
    assert mine["filtered_table_rows_count"] == (await answer(stock, "/veille/articles.json?_search=insertion"))[
        "filtered_table_rows_count"]
