"""Atom feeds of the archive's selections (veille/datasette_plugin/atom.py), on a real temporary
archive served by Veille's Datasette, read back with feedparser."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import quote_plus

import feedparser
import pytest

from config.loading import load_config
from pipeline.archive import insert_item, open_db
from pipeline.articles import Labels, refresh_all
from pipeline.places import load_gazetteer
from pipeline.tagging import tag_items
from tests.conftest import ROOT
from veille.server import make_datasette

MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")
TZCLD = quote_plus("Territoires zéro chômeur")
CREUSE = quote_plus("Creuse (23)")


def french(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


@pytest.fixture
def archive(tmp_path, monkeypatch):
    config = load_config(ROOT / "config")
    soon = date.today() + timedelta(days=20)
    db = open_db(tmp_path / "veille.db")
    items = [
        ("https://example.org/tzcld-gueret", "Territoire zéro chômeur : Guéret habilitée",
         "L'expérimentation Territoires zéro chômeur de longue durée s'étend à Guéret, en Creuse. "
         "L'entreprise à but d'emploi embauche des personnes privées d'emploi, un pas pour l'insertion."),
        ("https://example.org/appel", "Appel à projets : insertion par l'activité économique",
         "Le département de la Gironde lance un appel à projets pour l'insertion par l'activité économique. "
         f"Date limite de dépôt des candidatures : {french(soon)}."),
        ("https://example.org/forum", "Forum de l'emploi à Limoges",
         f"Un forum de l'emploi et de l'insertion aura lieu le {french(soon)} à Limoges, en Haute-Vienne."),
        ("javascript:alert(1)", "Chantier <script>alert(1)</script> & insertion",
         "Un atelier chantier d'insertion <b>ouvre</b> & recrute en Creuse."),
    ]
    for url, title, text in items:
        insert_item(db, {"url": url, "raw_url": url, "source_id": "s", "title": title, "text": text})
    gazetteer = load_gazetteer(config.gazetteer_path)
    tag_items(db, config.taxonomy, gazetteer=gazetteer)
    settings = config.settings
    refresh_all(db, Labels(config.taxonomy, gazetteer, settings.tz, settings.bulletin.max_age_days))
    db.close()
    monkeypatch.setenv("VEILLE_SECRET", "secret-des-flux")
    datasette = make_datasette(config, tmp_path / "veille.db", tmp_path / "subscribers.db", tmp_path / "bulletins")
    return datasette, config.settings


async def feed_of(datasette, path):
    response = await datasette.client.get(path)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(response.content)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return parsed, response.text


@pytest.mark.asyncio
async def test_a_selection_of_the_articles_table_is_a_valid_feed(archive):
    datasette, settings = archive
    path = f"/veille/articles.atom?_search=insertion&departements__arraycontains={CREUSE}" \
           f"&dispositifs__arraycontains={TZCLD}"
    parsed, _ = await feed_of(datasette, path)
    assert [e.title for e in parsed.entries] == ["Territoire zéro chômeur : Guéret habilitée"]
    entry = parsed.entries[0]
    assert entry.link == "https://example.org/tzcld-gueret"
    assert entry.id.startswith(f"{settings.public_url.rstrip('/')}/-/article/")
    assert "Guéret" in entry.summary and entry.updated_parsed
    title = parsed.feed.title
    assert title.startswith(f"{settings.bulletin.title} — Articles")
    assert "« insertion »" in title and "Creuse (23)" in title and "Territoires zéro chômeur" in title
    assert parsed.feed.updated == entry.updated  # the newest entry
    self_link = [link.href for link in parsed.feed.links if link.rel == "self"]
    assert self_link == [parsed.feed.id] and "/veille/articles.atom?" in parsed.feed.id
    labelled, _ = await feed_of(datasette, path + "&_labels=on&_facet=source")  # as Datasette links it
    assert labelled.feed.id == parsed.feed.id
    # The same selection without the TZCLD filter is wider.
    wider, _ = await feed_of(datasette, f"/veille/articles.atom?departements__arraycontains={CREUSE}")
    assert len(wider.entries) == 2


@pytest.mark.asyncio
async def test_text_from_the_web_is_escaped_and_only_http_links_go_out(archive):
    datasette, _ = archive
    parsed, text = await feed_of(datasette, "/veille/articles.atom?_search=chantier")
    (entry,) = parsed.entries
    assert entry.title == "Chantier <script>alert(1)</script> & insertion"
    assert "<script>" not in text and "&lt;script&gt;" in text and "&amp; insertion" in text
    assert "javascript:" not in text and not [link for link in entry.get("links", []) if link.rel == "alternate"]
    assert entry.summary == "Un atelier chantier d'insertion <b>ouvre</b> & recrute en Creuse."  # text, not HTML
    assert entry.title_detail.type == "text/plain" and entry.summary_detail.type == "text/plain"


@pytest.mark.asyncio
async def test_the_canned_queries_of_articles_are_feeds(archive):
    datasette, _ = archive
    calls, _ = await feed_of(datasette, "/veille/appels_ouverts.atom")
    assert [e.title for e in calls.entries] == ["Appel à projets : insertion par l'activité économique"]
    assert calls.feed.title.endswith("Appels à projets encore ouverts")
    assert "Date limite" in calls.entries[0].summary
    # Its date is the article's publication, not the (future) deadline.
    assert calls.entries[0].updated_parsed[:3] <= date.today().timetuple()[:3]
    agenda, _ = await feed_of(datasette, "/veille/agenda.atom")
    assert "Forum de l'emploi à Limoges" in [e.title for e in agenda.entries]
    assert any("Événement" in e.summary for e in agenda.entries)
    week, _ = await feed_of(datasette, "/veille/cette_semaine.atom")
    assert week.feed.title.endswith("Le bulletin de la semaine")
    other, _ = await feed_of(datasette, "/veille/cette_semaine.atom?semaine=2001-W01")
    assert other.feed.title.endswith("Le bulletin de la semaine : semaine 2001-W01") and not other.entries
    assert other.feed.updated_parsed  # an empty feed still says when it was read


@pytest.mark.asyncio
async def test_selections_that_are_not_articles_get_a_french_400(archive):
    datasette, _ = archive
    for path in ("/veille/par_departement.atom", "/veille/sources_en_panne.atom", "/veille/sources.atom",
                 "/veille/articles.atom?_col=title"):
        response = await datasette.client.get(path)
        assert response.status_code == 400, path
        assert "Flux Atom impossible" in response.text and "id, title, url" in response.text


@pytest.mark.asyncio
async def test_the_atom_link_is_offered_only_where_it_fits(archive):
    datasette, _ = archive
    table = await datasette.client.get(f"/veille/articles?departements__arraycontains={CREUSE}")
    assert f'/veille/articles.atom?departements__arraycontains={CREUSE}' in table.text
    assert "/veille/appels_ouverts.atom" in (await datasette.client.get("/veille/appels_ouverts")).text
    for path in ("/veille/par_departement", "/veille/sources"):
        page = await datasette.client.get(path)
        assert page.status_code == 200 and ".atom" not in page.text, path
