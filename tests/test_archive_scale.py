"""The archive's pages at scale (issue 12), checked on small archives: the in-memory facet counts and
the plugin's search give what Datasette's own facets and search give, the per-week counts kept by
triggers match the articles, and the facet index follows a change. Speed lives in
benchmarks/bench_archive.py, not here."""

from __future__ import annotations

import json
import sqlite3

import pytest

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
    copy = tmp_path / "veille.db"
    source = sqlite3.connect(archive)
    source.backup(target := sqlite3.connect(copy))
    source.close(), target.close()
    db = open_db(copy)
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


@pytest.mark.asyncio
async def test_the_facet_index_follows_a_change(archive, tmp_path, monkeypatch):
    copy = tmp_path / "veille.db"
    source = sqlite3.connect(archive)
    source.backup(target := sqlite3.connect(copy))
    source.close(), target.close()
    monkeypatch.setenv("VEILLE_SECRET", "secret-de-l-echelle")
    datasette = make_datasette(load_config(ROOT / "config"), copy, tmp_path / "subscribers.db", tmp_path / "b")
    before = facets(await answer(datasette, "/veille/articles.json"))["departements"]
    db = open_db(copy)
    db.execute("UPDATE articles SET departements = '[\"Nulle part (00)\"]', updated_at = '2999-01-01' WHERE id = 1")
    db.close()
    after = facets(await answer(datasette, "/veille/articles.json?_facet_size=50"))["departements"]
    assert after.get("Nulle part (00)") == 1 and sum(after.values()) < sum(before.values()) + 1
