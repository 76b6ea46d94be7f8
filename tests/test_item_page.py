"""The article page (`/-/article/<id>`), the sources page (`/-/sources`) and the titles of the
archive linked to the article page, on real temporary archives served in process."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from config.loading import load_config
from click.testing import CliRunner

from pipeline.actors import ActorMention
from pipeline.archive import insert_item, open_db, sync_sources
from pipeline.articles import Labels, refresh_all, refresh_items
from pipeline.curation import curate
from pipeline.directory import decide, rebuild_directory, replace_mentions
from pipeline.places import load_gazetteer
from pipeline.tagging import model_rows, tag_items
from tests.conftest import ROOT
from tests.test_server import page_text
from veille.cli import cli
from veille.server import make_datasette

WEEK = "2026-W48"
SEEN = "2026-11-24T10:00:00+00:00"
HOSTILE_TITLE = 'Le PLIE <script>alert("titre")</script> & les jeunes'
HOSTILE_URL = 'https://evil.example/a"><script>alert(1)</script>'


def _source(id_, name, url="https://example.org/", enabled=True):
    from types import SimpleNamespace
    return SimpleNamespace(id=id_, name=name, type="rss", url=url, enabled=enabled, topical=False)


@pytest.fixture
def archive(tmp_path, monkeypatch):
    config = load_config(ROOT / "config")
    settings, gazetteer = config.settings, load_gazetteer(config.gazetteer_path)
    db = open_db(tmp_path / "veille.db")
    sync_sources(db, [_source("sud-ouest", "Sud Ouest"), _source("creuse", "La Montagne Creuse"),
                      _source("mort", "Site en panne"), _source("neuf", "Source nouvelle"),
                      _source("off", "Source arrêtée", enabled=False), _source("muette", "Source muette")])
    text = ("Le PLIE de Guéret accompagne les jeunes demandeurs d'emploi de la Creuse vers l'insertion. "
            "Un chantier d'insertion ouvre en décembre.")
    ids = {}
    ids["main"] = insert_item(db, {"url": "https://example.org/plie-gueret", "raw_url": "x", "source_id": "sud-ouest",
                                   "title": "Le PLIE de Guéret accompagne les jeunes", "text": text,
                                   "published_at": "2026-11-23T08:00:00+00:00", "first_seen_at": SEEN})
    ids["near"] = insert_item(db, {"url": "https://example.org/plie-gueret-bis", "raw_url": "x", "source_id": "creuse",
                                   "title": "À Guéret, le PLIE aide les jeunes", "text": text,
                                   "published_at": "2026-11-23T09:00:00+00:00", "first_seen_at": SEEN})
    ids["hostile"] = insert_item(db, {"url": HOSTILE_URL, "raw_url": "x", "source_id": "sud-ouest",
                                      "title": HOSTILE_TITLE, "text": "Le PLIE <b>accompagne</b> les jeunes.",
                                      "first_seen_at": SEEN})
    ids["javascript"] = insert_item(db, {"url": "javascript:alert(2)", "raw_url": "x", "source_id": "sud-ouest",
                                         "title": "Lien piégé", "text": "Rien.", "first_seen_at": SEEN})
    db.execute("UPDATE items SET cluster_id = ? WHERE id IN (?, ?)", [ids["main"], ids["main"], ids["near"]])
    db["duplicates"].insert({"url": "https://copie.example/plie", "item_id": ids["main"], "source_id": "creuse",
                             "seen_at": SEEN})
    tag_items(db, config.taxonomy, gazetteer=gazetteer)
    db["tags"].insert_all(model_rows(ids["main"], {("themes", "entreprises"): 0.82}, {}), replace=True)
    curate(db, config.taxonomy, ids["main"], add=["dispositifs:fse"], by="marie", gazetteer=gazetteer)
    refresh_all(db, Labels(config.taxonomy, gazetteer, settings.tz, settings.bulletin.max_age_days))
    # Health: one source failing, one silent long ago, one never collected, one disabled.
    now = datetime.now(timezone.utc)
    recent, old = (now - timedelta(days=1)).isoformat(), (now - timedelta(days=60)).isoformat()
    db["source_runs"].insert_all([
        {"crawl_id": "c1", "source_id": "sud-ouest", "started_at": recent, "status": "ok", "items_seen": 3,
         "items_new": 3},
        {"crawl_id": "c1", "source_id": "mort", "started_at": old, "status": "ok", "items_seen": 0, "items_new": 0},
        {"crawl_id": "c2", "source_id": "mort", "started_at": recent, "status": "erreur",
         "error": "HTTP 503 <b>indisponible</b>"},
        {"crawl_id": "c1", "source_id": "creuse", "started_at": recent, "status": "ok", "items_seen": 0,
         "items_new": 0},
    ])
    # Health is read against the clock: these sources' items are dated from now.
    db.execute("UPDATE items SET first_seen_at = ? WHERE source_id = 'sud-ouest'", [recent])
    insert_item(db, {"url": "https://example.org/muette", "raw_url": "x", "source_id": "muette", "title": "Vieux",
                     "text": "Rien.", "first_seen_at": old})
    db["source_runs"].insert({"crawl_id": "c1", "source_id": "muette", "started_at": recent, "status": "ok"})
    db.conn.commit()
    bulletins = tmp_path / "bulletins"
    bulletins.mkdir()
    monkeypatch.setenv("VEILLE_SECRET", "secret-de-test")
    datasette = make_datasette(config, tmp_path / "veille.db", tmp_path / "subscribers.db", bulletins)
    return datasette, db, ids, bulletins


async def _get(datasette, path):
    return await datasette.client.get(path)


@pytest.mark.asyncio
async def test_article_page_reads_like_a_person_would(archive):
    datasette, _, ids, _ = archive
    response = await _get(datasette, f"/-/article/{ids['main']}")
    assert response.status_code == 200
    text = page_text(response.text)
    assert "Le PLIE de Guéret accompagne les jeunes" in text
    assert 'href="https://example.org/plie-gueret"' in response.text
    assert "Sud Ouest" in text and "23 novembre 2026" in text and "semaine 2026-W48" in text
    assert "Le PLIE de Guéret accompagne les jeunes demandeurs d'emploi" in text  # the summary
    # Tags by label, places by name; never a commune's INSEE code nor an EPCI's SIREN.
    assert "PLIE" in text and "Guéret" in text and "Creuse (23)" in text
    assert not re.search(r"\b\d{5}\b|\b\d{9}\b", text), re.findall(r"\b\d{5}\b|\b\d{9}\b", text)
    # Origins: the rules with their words, the learned model with its probability, the curator.
    assert re.search(r"PLIE \(dispositif\) — règles", text)
    assert "<mark>PLIE</mark>" in response.text
    assert re.search(r"Entreprises et recrutement \(thème\) — modèle appris \(0,82\)", text)
    assert re.search(r"\(dispositif\) — curation \(marie\)", text)
    # Its week's decision, from the articles table.
    assert "Retenu" in text or "Pas retenu" in text
    # The archive filtered on the same dispositif / département.
    assert "/veille/articles?dispositifs__arraycontains=PLIE" in response.text
    assert "departements__arraycontains=Creuse+%2823%29" in response.text


@pytest.mark.asyncio
async def test_article_page_lists_near_duplicates_and_exact_copies(archive):
    datasette, _, ids, _ = archive
    response = await _get(datasette, f"/-/article/{ids['main']}")
    text = page_text(response.text)
    assert f'href="/-/article/{ids["near"]}"' in response.text
    assert "À Guéret, le PLIE aide les jeunes — La Montagne Creuse" in text
    assert "Copie exacte — La Montagne Creuse : https://copie.example/plie" in text
    near = await _get(datasette, f"/-/article/{ids['near']}")
    assert f'href="/-/article/{ids["main"]}"' in near.text
    assert "doublon de" in page_text(near.text)  # out of the bulletin, and why
    alone = page_text((await _get(datasette, f"/-/article/{ids['javascript']}")).text)
    assert "Aucun doublon connu" in alone


@pytest.mark.asyncio
async def test_article_page_names_the_bulletins_it_appeared_in(archive):
    datasette, _, ids, bulletins = archive
    page = page_text((await _get(datasette, f"/-/article/{ids['main']}")).text)
    assert "N'a paru dans aucun bulletin publié" in page
    (bulletins / f"bulletin-{WEEK}.html").write_text(
        '<html><body><h2 style="x">Initiatives locales</h2><div class="item"><h3><a href="https://example.org/'
        'plie-gueret" style="color:#0b4f6c">Le PLIE</a></h3></div></body></html>', encoding="utf-8")
    (bulletins / "bulletin-2026-W49.html").write_text(
        '<h2>Agenda et appels à projets</h2><a href="https://example.org/plie-gueret">Le PLIE</a>'
        '<h2>Initiatives locales</h2><a href="https://example.org/autre">Autre</a>', encoding="utf-8")
    (bulletins / "bulletin-2026-W50.html").write_text('<h2>Études</h2><a href="https://example.org/autre">x</a>',
                                                      encoding="utf-8")
    response = await _get(datasette, f"/-/article/{ids['main']}")
    text = page_text(response.text)
    assert "bulletin 2026-W48 — Initiatives locales" in text
    assert "bulletin 2026-W49 — Agenda et appels à projets" in text
    assert "2026-W50" not in text
    assert 'href="/-/bulletins/bulletin-2026-W48.html"' in response.text


@pytest.mark.asyncio
async def test_unknown_or_oversized_ids_get_a_french_404(archive):
    datasette, _, _, _ = archive
    for path in ("/-/article/999999", "/-/article/0", "/-/article/" + "9" * 40, "/-/article/abc"):
        response = await _get(datasette, path)
        assert response.status_code == 404, path
        assert "introuvable" in response.text.lower() or "n'existe pas" in response.text


@pytest.mark.asyncio
async def test_hostile_title_and_url_are_escaped(archive):
    datasette, _, ids, _ = archive
    response = await _get(datasette, f"/-/article/{ids['hostile']}")
    assert response.status_code == 200
    assert "<script>" not in response.text
    assert "&lt;script&gt;alert(&#34;titre&#34;)&lt;/script&gt;" in response.text
    assert 'href="https://evil.example/a&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in response.text
    trapped = await _get(datasette, f"/-/article/{ids['javascript']}")
    assert "javascript:" not in trapped.text and "Lien piégé" in trapped.text  # shown, never linked


@pytest.mark.asyncio
async def test_article_titles_in_the_archive_link_to_their_page(archive):
    datasette, _, ids, _ = archive
    table = await _get(datasette, "/veille/articles")
    assert f'<a href="/-/article/{ids["main"]}">Le PLIE de Guéret accompagne les jeunes</a>' in table.text
    assert "<script>alert" not in table.text
    assert f'<a href="/-/article/{ids["hostile"]}">Le PLIE &lt;script&gt;' in table.text
    query = await _get(datasette, "/veille/non_classes")
    assert f'<a href="/-/article/{ids["javascript"]}">Lien piégé</a>' in query.text
    sources = await _get(datasette, "/veille/sources")  # other tables are left alone
    assert "/-/article/" not in sources.text
    as_json = (await _get(datasette, "/veille/articles.json?_shape=array")).json()
    assert {r["title"] for r in as_json} >= {"Le PLIE de Guéret accompagne les jeunes"}


@pytest.mark.asyncio
async def test_sources_page_says_each_source_state_failing_first(archive):
    datasette, _, _, _ = archive
    response = await _get(datasette, "/-/sources")
    assert response.status_code == 200
    text = page_text(response.text)
    order = [text.index(name) for name in ("Site en panne", "Source muette", "Source nouvelle", "Sud Ouest",
                                           "Source arrêtée")]
    assert order == sorted(order)
    rows = {m[1]: page_text(m[2]) for m in re.finditer(r'<tr class="source" id="source-([^"]+)">(.*?)</tr>',
                                                       response.text, re.S)}
    assert "en échec" in rows["mort"] and "HTTP 503 <b>indisponible</b>" in rows["mort"]
    assert "<b>indisponible" not in response.text
    assert "silencieuse" in rows["muette"]
    assert "jamais collectée" in rows["neuf"] and "jamais" in rows["neuf"]
    assert "ok" in rows["sud-ouest"] and "0,4" in rows["sud-ouest"]  # 3 items in 8 weeks
    assert "désactivée" in rows["off"]


@pytest.mark.asyncio
async def test_sources_page_of_an_empty_archive(tmp_path, monkeypatch):
    monkeypatch.setenv("VEILLE_SECRET", "secret-de-test")
    datasette = make_datasette(load_config(ROOT / "config"), tmp_path / "veille.db", tmp_path / "subscribers.db",
                               tmp_path / "bulletins")
    response = await _get(datasette, "/-/sources")
    assert response.status_code == 200 and "Aucune source" in response.text


@pytest.mark.asyncio
async def test_article_without_its_articles_row_gets_its_decision_from_the_week_plan(archive):
    datasette, db, ids, _ = archive
    db.execute("DELETE FROM articles WHERE id = ?", [ids["near"]])
    db.conn.commit()
    text = page_text((await _get(datasette, f"/-/article/{ids['near']}")).text)
    # Its story's other item now counts in another week (the fixture dates Sud Ouest's items from
    # now): this one is its week's only telling, in the bulletin.
    assert "semaine 2026-W48" in text and "Retenu · Initiatives locales" in text


# ------------------------------------------------------------------ actors (issue 16)

HOSTILE_ACTOR = 'Les Amis <script>alert("acteur")</script> & Cie'
HOSTILE_KEY = 'amis"><script>'


def _actors_item(db) -> int:
    """An item naming two actors of Guéret, tagged (its actors extracted) and in `articles`."""
    config = load_config(ROOT / "config")
    gazetteer = load_gazetteer(config.gazetteer_path)
    item = insert_item(db, {
        "url": "https://example.org/gueret-chantier", "raw_url": "x", "source_id": "creuse",
        "title": "À Guéret, la mission locale et une association unissent leurs forces",
        "text": "La mission locale de Guéret et l'association Elan, installée à Guéret, lancent un chantier de "
                "rénovation pour douze jeunes du quartier de l'Albatros.", "first_seen_at": SEEN})
    tag_items(db, config.taxonomy, gazetteer=gazetteer)
    refresh_items(db, [item], Labels(config.taxonomy, gazetteer, config.settings.tz,
                                     config.settings.bulletin.max_age_days))
    db.conn.commit()
    return item


def _actors_list(html: str) -> str:
    found = re.search(r'<ul class="actors">(.*?)</ul>', html, re.S)
    return found[1] if found else ""


@pytest.mark.asyncio
async def test_article_page_lists_its_actors_after_the_curators_decisions(archive):
    datasette, db, ids, _ = archive
    item = _actors_item(db)
    response = await _get(datasette, f"/-/article/{item}")
    assert response.status_code == 200
    listed = _actors_list(response.text)
    assert "Acteurs cités" in page_text(response.text)
    assert '<a href="/-/acteur/mission-locale-de-gueret">Mission locale de Guéret</a>' in listed
    assert "(Mission locale · Guéret (23))" in page_text(listed)
    assert '<a href="/-/acteur/association-elan">Association Elan</a>' in listed
    assert "(Association · Guéret (23))" in page_text(listed)
    assert listed.index("mission-locale-de-gueret") < listed.index("association-elan")  # order of mention
    # The curator hides the association: gone from the page, the other actor stays.
    config = load_config(ROOT / "config")
    decide(db, "hide", "association-elan", curator="marie")
    rebuild_directory(db, load_gazetteer(config.gazetteer_path), config.taxonomy)
    db.conn.commit()
    response = await _get(datasette, f"/-/article/{item}")
    listed = _actors_list(response.text)
    assert "/-/acteur/association-elan" not in response.text and "Elan" not in listed
    assert '<a href="/-/acteur/mission-locale-de-gueret">Mission locale de Guéret</a>' in listed
    # The link leads to the actor's page, which links back to the article.
    actor = await _get(datasette, "/-/acteur/mission-locale-de-gueret")
    assert actor.status_code == 200 and f'href="/-/article/{item}"' in actor.text


@pytest.mark.asyncio
async def test_article_page_without_actors_shows_no_actor_block(archive):
    datasette, _, ids, _ = archive
    response = await _get(datasette, f"/-/article/{ids['javascript']}")
    assert response.status_code == 200
    assert "Acteurs cités" not in response.text and "/-/acteur/" not in response.text


@pytest.mark.asyncio
async def test_hostile_actor_name_and_key_are_escaped(archive):
    datasette, db, ids, _ = archive
    config = load_config(ROOT / "config")
    replace_mentions(db, ids["hostile"], [ActorMention(key=HOSTILE_KEY, name=HOSTILE_ACTOR, kind="association",
                                                       match=HOSTILE_ACTOR, start=0, departements=("23",))])
    rebuild_directory(db, load_gazetteer(config.gazetteer_path), config.taxonomy)
    db.conn.commit()
    response = await _get(datasette, f"/-/article/{ids['hostile']}")
    assert response.status_code == 200
    assert "<script>" not in response.text
    listed = _actors_list(response.text)
    assert "Les Amis &lt;script&gt;alert(&#34;acteur&#34;)&lt;/script&gt; &amp; Cie" in listed
    assert 'href="/-/acteur/amis%22%3E%3Cscript%3E"' in listed


@pytest.mark.asyncio
async def test_article_page_of_an_archive_older_than_the_directory(archive):
    datasette, db, ids, _ = archive
    for table in ("actor_mentions", "actor_decisions", "acteurs"):
        db[table].drop()
    db.conn.commit()
    response = await _get(datasette, f"/-/article/{ids['main']}")
    assert response.status_code == 200
    assert "Le PLIE de Guéret accompagne les jeunes" in page_text(response.text)
    assert "Acteurs cités" not in response.text


def test_tag_explain_prints_the_items_actors(archive, tmp_path):
    _, db, ids, _ = archive
    item = _actors_item(db)
    decide(db, "hide", "association-elan", curator="marie")
    db.conn.commit()
    args = ["--config", str(ROOT / "config"), "--db", str(tmp_path / "veille.db")]
    result = CliRunner().invoke(cli, ["tag", "--explain", str(item), *args])
    assert result.exit_code == 0, result.output
    assert "Acteurs cités :\n" in result.output
    assert "    Mission locale de Guéret (Mission locale) : écrit « mission locale de Guéret »" in result.output
    assert "    masqué par la curation : association-elan (« association Elan »)" in result.output
    assert "Association Elan (" not in result.output
    nothing = CliRunner().invoke(cli, ["tag", "--explain", str(ids["javascript"]), *args])
    assert nothing.exit_code == 0 and "Acteurs cités : aucun" in nothing.output
