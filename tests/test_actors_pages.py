"""The directory in Datasette: the `acteurs` table (facets, names linked, hidden actors absent), the actor
page `/-/acteur/<key>` (escaped, linked), and the curator's decisions from it (login and CSRF), on a
real temporary archive served in process."""

from __future__ import annotations

import re

import pytest

from config.loading import load_config
from newsletter.subscribers import add_subscriber, open_subscribers_db
from pipeline.directory import decide, rebuild_directory
from pipeline.places import load_gazetteer
from tests.conftest import ROOT
from tests.test_directory import ITEMS, tagged_archive
from tests.test_server import PASSWORD, csrf_token, login, page_text
from veille import curators
from veille.server import make_datasette

HOSTILE = '<script>alert("acteur")</script> & Cie'
HOSTILE_TITLE = 'La mairie de Tulle <img src=x onerror=alert(1)> recrute'
SUBSCRIBER = "abonnee.secrete@example.org"


@pytest.fixture
def site(tmp_path, monkeypatch):
    db, ids, config, gazetteer = tagged_archive(tmp_path / "veille.db", {**ITEMS, "hostile": (
        HOSTILE_TITLE, "La mairie de Tulle recrute dix agents.", "2026-11-27T08:00:00+00:00")})
    decide(db, "rename", "mairie-de-tulle", value=HOSTILE, curator="marie")
    rebuild_directory(db, gazetteer, config.taxonomy)
    db.conn.commit()
    curators.add_curator(curators.open_curators_db(tmp_path / "subscribers.db"), "marie", PASSWORD)
    add_subscriber(open_subscribers_db(tmp_path / "subscribers.db"), SUBSCRIBER, "Abonnée", ["19"], [])
    monkeypatch.setenv("VEILLE_SECRET", "secret-de-test")
    datasette = make_datasette(config, tmp_path / "veille.db", tmp_path / "subscribers.db", tmp_path / "bulletins")
    return datasette, db, ids


@pytest.mark.asyncio
async def test_actor_page_shows_the_actor_its_partners_and_items(site):
    datasette, _, ids = site
    response = await datasette.client.get("/-/acteur/plie-des-graves")
    assert response.status_code == 200
    text = page_text(response.text)
    assert "PLIE des Graves" in text and "PLIE · Gironde · cité dans 3 articles" in text
    assert "du 2 octobre 2026 au 25 novembre 2026" in text
    assert "/veille/acteurs?departements__arraycontains=Gironde%20%2833%29" in response.text
    assert "/veille/articles?dispositifs__arraycontains=PLIE" in response.text
    assert '<a href="/-/acteur/mission-locale-du-libournais">Mission locale du Libournais</a> (2 articles en commun)' \
        in response.text
    for name in ("convention", "forum", "variant"):
        assert f'href="/-/article/{ids[name]}"' in response.text
    assert f'href="/-/article/{ids["tulle"]}"' not in response.text
    assert "<form" not in response.text  # no curation without a session
    for path in ("/-/acteur/inconnu", "/-/acteur/PLIE", "/-/acteur/" + "a" * 300):
        missing = await datasette.client.get(path)
        assert missing.status_code == 404 and "introuvable" in missing.text, path


@pytest.mark.asyncio
async def test_hostile_names_and_titles_are_escaped(site):
    datasette, _, ids = site
    response = await datasette.client.get("/-/acteur/mairie-de-tulle")
    assert response.status_code == 200
    assert "<script>" not in response.text and "<img" not in response.text
    assert "&lt;script&gt;alert(&#34;acteur&#34;)&lt;/script&gt; &amp; Cie" in response.text
    assert f'href="/-/article/{ids["hostile"]}">La mairie de Tulle &lt;img' in response.text
    partner = await datasette.client.get("/-/acteur/mission-locale-de-tulle")
    assert '<a href="/-/acteur/mairie-de-tulle">&lt;script&gt;' in partner.text
    table = await datasette.client.get("/veille/acteurs")
    assert "<script>alert" not in table.text
    assert '<a href="/-/acteur/mairie-de-tulle">&lt;script&gt;' in table.text


@pytest.mark.asyncio
async def test_acteurs_table_has_facets_links_and_hides_machinery(site):
    datasette, db, _ = site
    decide(db, "hide", "mairie-de-libourne")
    rebuild_directory(db, load_gazetteer(load_config(ROOT / "config").gazetteer_path),
                      load_config(ROOT / "config").taxonomy)
    db.conn.commit()
    table = await datasette.client.get("/veille/acteurs")
    assert table.status_code == 200
    assert '<a href="/-/acteur/plie-des-graves">PLIE des Graves</a>' in table.text
    page = page_text(table.text)
    assert "Mairie de Libourne" not in page  # hidden: out of the table
    rows = (await datasette.client.get("/veille/acteurs.json?_shape=array&_size=max")).json()
    assert "mairie-de-libourne" not in {r["id"] for r in rows} and "plie-des-graves" in {r["id"] for r in rows}
    contains = (await datasette.client.get(
        "/veille/acteurs.json?_shape=array&departements__arraycontains=Corr%C3%A8ze%20%2819%29")).json()
    assert {r["id"] for r in contains} == {"mairie-de-tulle", "mission-locale-de-tulle"}
    tables = {t["name"]: t for t in (await datasette.client.get("/veille.json")).json()["tables"]}
    assert tables["actor_mentions"]["hidden"] and tables["actor_decisions"]["hidden"]
    assert not tables["acteurs"]["hidden"]
    assert (await datasette.client.get("/-/acteur/mairie-de-libourne")).status_code == 404
    for path in ("/veille/acteurs", "/-/acteur/mairie-de-tulle", "/veille/acteurs.json"):
        assert SUBSCRIBER not in (await datasette.client.get(path)).text


def _facet_names(html: str) -> set[str]:
    return set(re.findall(r'data-column="([^"]+)"', html))


@pytest.mark.asyncio
async def test_acteurs_facets_are_configured(site):
    datasette, _, _ = site
    table = await datasette.client.get("/veille/acteurs")
    assert {"kind", "departements", "dispositifs"} <= _facet_names(table.text)
    assert "Mission locale" in page_text(table.text)


@pytest.mark.asyncio
async def test_curator_renames_hides_and_merges_from_the_page(site):
    datasette, db, _ = site
    refused = await datasette.client.post("/-/acteur/plie-des-graves/decision", data={"action": "hide"})
    assert refused.status_code in (302, 403)  # no session (or no CSRF token): nothing recorded
    assert db["actor_decisions"].count == 1
    _, cookies = await login(datasette, PASSWORD)
    page = await datasette.client.get("/-/acteur/plie-des-graves", cookies=cookies)
    assert "Renommer" in page.text and "Masquer cet acteur" in page.text
    token = csrf_token(page)

    async def post(key, **form):
        return await datasette.client.post(f"/-/acteur/{key}/decision", cookies=cookies,
                                           data={"csrftoken": token, **form})

    renamed = await post("plie-des-graves", action="rename", value="PLIE des Graves et du Sud-Gironde")
    assert renamed.status_code == 302 and renamed.headers["location"].startswith("/-/acteur/plie-des-graves?ok=")
    shown = await datasette.client.get(renamed.headers["location"])
    assert "renommé « PLIE des Graves et du Sud-Gironde »" in page_text(shown.text)
    row = db.execute("SELECT name FROM acteurs WHERE id = 'plie-des-graves'").fetchone()
    assert row[0] == "PLIE des Graves et du Sud-Gironde"
    assert db.execute("SELECT curator FROM actor_decisions ORDER BY id DESC").fetchone()[0] == "marie"

    merged = await post("mission-locale-de-tulle", action="merge", target="mission-locale-du-libournais")
    assert merged.headers["location"].startswith("/-/acteur/mission-locale-du-libournais?ok=")
    old = await datasette.client.get("/-/acteur/mission-locale-de-tulle")
    assert old.status_code == 302 and old.headers["location"] == "/-/acteur/mission-locale-du-libournais"
    target = await datasette.client.get("/-/acteur/mission-locale-du-libournais", cookies=cookies)
    assert "Séparer « Mission locale de Tulle »" in page_text(target.text)
    split = await post("mission-locale-de-tulle", action="split", back="mission-locale-du-libournais")
    assert split.headers["location"].startswith("/-/acteur/mission-locale-du-libournais?ok=")
    assert (await datasette.client.get("/-/acteur/mission-locale-de-tulle")).status_code == 200

    hidden = await post("plie-des-graves", action="hide")
    assert hidden.status_code == 302
    assert (await datasette.client.get("/-/acteur/plie-des-graves")).status_code == 404  # the public
    for_her = await datasette.client.get("/-/acteur/plie-des-graves", cookies=cookies)
    assert for_her.status_code == 200 and "Afficher de nouveau" in for_her.text and "masqué" in for_her.text

    bad = await post("plie-des-graves", action="merge", target="nulle-part")
    assert bad.status_code == 400 and "fusion impossible" in page_text(bad.text)
    bad_kind = await post("plie-des-graves", action="kind", value="<b>banque</b>")
    assert bad_kind.status_code == 400 and "<b>banque" not in bad_kind.text
