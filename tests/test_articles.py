"""The archive as the field reads it: the `articles` table (pipeline/articles.py), its French
metadata, facets by name and canned queries, through Datasette's own client, on the demo's crawled
archive; and three questions answered by clicking in headless Chromium."""

from __future__ import annotations

import json
import re

import pytest

from config.loading import load_config
from pipeline.archive import open_db
from tests.conftest import ROOT, run_veille
from veille.demo import run_demo
from veille.server import make_datasette

CODES = re.compile(r"\b\d{5}\b|\b\d{9}\b")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The offline demo's archive: its fixture site crawled, tagged, its week approved and sent."""
    out = tmp_path_factory.mktemp("demo")
    result = run_demo(out, ROOT / "demo" / "site", ROOT / "config", echo=lambda *_: None)
    return out, result["week"]


@pytest.fixture
def datasette(demo, monkeypatch):
    out, _ = demo
    monkeypatch.setenv("VEILLE_SECRET", "secret-des-articles")
    return make_datasette(load_config(ROOT / "config"), out / "veille.db", out / "subscribers.db", out / "bulletins")


def rows(response):
    assert response.status_code == 200, response.text[:500]
    return response.json()


def test_every_item_has_one_row_with_names_not_codes(demo):
    out, week = demo
    db = open_db(out / "veille.db")
    assert db["articles"].count == db["items"].count > 20
    for row in db["articles"].rows:
        assert row["week"] == week and row["nature"] and row["source"]
        for facet in ("themes", "dispositifs", "departements", "epci", "communes"):
            names = json.loads(row[facet])
            assert all(not CODES.search(name) for name in names), (facet, names)
    creuse = [r for r in db["articles"].rows if "Creuse (23)" in json.loads(r["departements"])]
    assert creuse, "the demo has news of the Creuse"


@pytest.mark.asyncio
async def test_facets_by_name_and_a_search_without_accents(datasette):
    answer = rows(await datasette.client.get("/veille/articles.json?_search=insertion&_size=100"))
    # Every default facet answered (a facet that times out is left out of facet_results).
    assert answer["rows"] and set(answer["facet_results"]) == {
        "nature", "themes", "dispositifs", "departements", "source", "week"}
    departements = {v["value"]: v["count"] for v in answer["facet_results"]["departements"]["results"]}
    assert "Gironde (33)" in departements and all(not CODES.search(name) for name in departements)
    accented = rows(await datasette.client.get("/veille/articles.json?_search=r%C3%A9gion&_size=100&_shape=objects"))
    plain = rows(await datasette.client.get("/veille/articles.json?_search=region&_size=100&_shape=objects"))
    assert accented["rows"] and [r["id"] for r in accented["rows"]] == [r["id"] for r in plain["rows"]]
    tzcld = rows(await datasette.client.get(
        "/veille/articles.json?dispositifs__arraycontains=Territoires+z%C3%A9ro+ch%C3%B4meur&_shape=array"))
    assert tzcld and all("Territoires zéro chômeur" in json.loads(r["dispositifs"]) for r in tzcld)


@pytest.mark.asyncio
async def test_the_default_facets_and_the_french_metadata(datasette):
    page = await datasette.client.get("/veille/articles")
    assert page.status_code == 200
    for facet in ("nature", "themes", "dispositifs", "departements", "source", "week"):
        assert f'data-column="{facet}"' in page.text, facet
    metadata = (await datasette.client.get("/-/metadata.json")).json()
    table = metadata["databases"]["veille"]["tables"]["articles"]
    assert table["title"] == "Articles" and "accents ignorés" in table["description"]
    assert table["columns"]["deadline"].startswith("Date limite")
    listing = (await datasette.client.get("/veille.json")).json()
    shown = {t["name"] for t in listing["tables"] if not t["hidden"]}
    assert "articles" in shown and not shown & {"tags", "minhashes", "http_validators", "items", "curation"}


@pytest.mark.asyncio
async def test_the_canned_queries_answer_the_fields_questions(datasette, demo):
    _, week = demo
    calls = rows(await datasette.client.get("/veille/appels_ouverts.json?_shape=array"))
    assert calls and all(r["deadline"] for r in calls)
    assert [r["deadline"] for r in calls] == sorted(r["deadline"] for r in calls)
    agenda = rows(await datasette.client.get("/veille/agenda.json?_shape=array"))
    assert agenda and [r["event_day"] for r in agenda] == sorted(r["event_day"] for r in agenda)
    per_departement = rows(await datasette.client.get("/veille/par_departement.json?_shape=array"))
    assert {"semaine": week, "departement": "Gironde (33)"}.items() <= next(
        r for r in per_departement if r["departement"] == "Gironde (33)").items()
    this_week = rows(await datasette.client.get("/veille/cette_semaine.json?_shape=array"))
    assert this_week and len(this_week) == len(rows(await datasette.client.get(
        f"/veille/articles.json?in_bulletin=1&week={week}&_shape=array&_size=200")))
    unclassified = rows(await datasette.client.get("/veille/non_classes.json?_shape=array"))
    assert any("Rugby" in r["title"] for r in unclassified)  # the demo's off-topic sports item
    assert rows(await datasette.client.get("/veille/sources_en_panne.json?_shape=array")) == []


@pytest.mark.asyncio
async def test_a_failing_source_is_listed(datasette, demo):
    out, _ = demo
    db = open_db(out / "veille.db")
    source = next(db["sources"].rows)["id"]
    run_id = db["source_runs"].insert({"crawl_id": "test", "source_id": source, "started_at": "2099-01-01T00:00:00",
                                       "status": "http_error", "http_status": 503, "error": "Service indisponible"}
                                      ).last_pk
    try:
        failing = rows(await datasette.client.get("/veille/sources_en_panne.json?_shape=array"))
        assert [(r["statut"], r["code_http"]) for r in failing] == [("http_error", 503)]
        assert failing[0]["dernier_succes"] is not None
    finally:
        db["source_runs"].delete(run_id)


def test_a_curator_decision_reaches_the_articles_table(demo):
    out, week = demo
    db = open_db(out / "veille.db")
    item = next(r for r in db["articles"].rows if r["in_bulletin"])
    config = ["--config", str(ROOT / "config"), "--db", str(out / "veille.db")]
    run_veille("curate", str(item["id"]), "--reject", "--add", "communes:23096", "--by", "marie", *config)
    row = db["articles"].get(item["id"])
    assert row["rejected"] == 1 and row["in_bulletin"] == 0 and row["reason"] == "écarté"
    assert "Guéret" in json.loads(row["communes"]) and "Creuse (23)" in json.loads(row["departements"])
    run_veille("curate", str(item["id"]), "--unreject", *config)
    assert db["articles"].get(item["id"])["in_bulletin"] == 1


@pytest.mark.asyncio
async def test_no_subscriber_data_is_reachable(datasette):
    assert [d["name"] for d in (await datasette.client.get("/-/databases.json")).json()] == ["veille"]
    sql = await datasette.client.get("/veille.json?sql=select+name+from+sqlite_master&_shape=array")
    names = {r["name"] for r in sql.json()}
    assert "subscribers" not in names and "sends" not in names and "curator_sessions" not in names


def test_three_questions_answered_by_clicking_in_a_browser(demo):
    """`veille serve` on the demo's archive, headless Chromium: search « insertion », then click the
    département facet Creuse (23), then the dispositif facet; the screenshot stays in
    build/screenshots/archive-articles.png."""
    import os
    import subprocess
    import sys

    from playwright.sync_api import expect, sync_playwright

    from tests.conftest import free_port, wait_for_port

    out, _ = demo
    db = open_db(out / "veille.db")
    expected = [r for r in db["articles"].rows_where("id IN (SELECT rowid FROM items_fts WHERE items_fts MATCH 'insertion')")
                if "Creuse (23)" in json.loads(r["departements"])]
    assert expected, "the demo has insertion news of the Creuse"
    dispositif = json.loads(expected[0]["dispositifs"])[0]
    answer = sorted(r["title"] for r in expected if dispositif in json.loads(r["dispositifs"]))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "veille", "serve", "--config", str(ROOT / "config"), "--db", str(out / "veille.db"),
         "--subscribers-db", str(out / "subscribers.db"), "--bulletins", str(out / "bulletins"), "--port", str(port)],
        cwd=ROOT, env={**os.environ, "VEILLE_SECRET": "secret-des-articles"}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(port)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/veille/articles")
            page.fill("input#_search", "insertion")
            page.keyboard.press("Enter")
            page.wait_for_url(re.compile(r"_search=insertion"))
            page.click(".facet-info[data-column=departements] a:text-is('Creuse (23)')")
            page.wait_for_url(re.compile(r"departements__arraycontains="))
            page.click(f".facet-info[data-column=dispositifs] a:text-is(\"{dispositif}\")")
            page.wait_for_url(re.compile(r"dispositifs__arraycontains="))
            titles = page.locator("table.rows-and-columns td.col-title")
            expect(titles).to_have_count(len(answer))
            assert sorted(titles.all_inner_texts()) == answer
            places = " ".join(text for facet in ("departements", "epci", "communes")
                              for text in page.locator(f"td.col-{facet}").all_inner_texts())
            assert "Creuse (23)" in places and not CODES.search(places)
            for machinery in ("url", "source_id", "updated_at"):  # in the JSON, not in the grid
                expect(page.locator(f"th.col-{machinery}")).to_be_hidden()
            (ROOT / "build" / "screenshots").mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ROOT / "build" / "screenshots" / "archive-articles.png"), full_page=False)
            browser.close()
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=10)
    assert "Traceback" not in errors, errors
