"""`veille serve`: a real Datasette on the archive with Veille's plugin, queried in process."""

from __future__ import annotations

import re

import pytest

from newsletter.subscribers import active_subscribers, add_subscriber, open_subscribers_db
from newsletter.unsubscribe import unsubscribe_token
from pipeline.archive import insert_item, open_db
from tests.conftest import ROOT, free_port, wait_for_port
from config.loading import load_config
from veille.server import make_datasette

SECRET = "secret-de-test"


@pytest.fixture
def site(tmp_path, monkeypatch):
    db = open_db(tmp_path / "veille.db")
    insert_item(db, {"url": "https://example.org/a", "raw_url": "https://example.org/a", "source_id": "s",
                     "title": "Chantier d'insertion à Guéret", "text": "Un atelier chantier d'insertion ouvre."})
    db.close()
    subscribers = open_subscribers_db(tmp_path / "subscribers.db")
    anne = add_subscriber(subscribers, "anne@example.org", "Anne")
    (tmp_path / "bulletins").mkdir()
    (tmp_path / "bulletins" / "bulletin-2026-W48.html").write_text("<h1>Bulletin 48</h1>", encoding="utf-8")
    (tmp_path / "bulletins" / "bulletin-2026-W48.txt").write_text("Bulletin 48", encoding="utf-8")
    monkeypatch.setenv("VEILLE_SECRET", SECRET)  # secrets reach the plugin as in production
    monkeypatch.delenv("VEILLE_CURATOR_PASSWORD", raising=False)
    datasette = make_datasette(load_config(ROOT / "config"), tmp_path / "veille.db", tmp_path / "subscribers.db",
                               tmp_path / "bulletins")
    return datasette, subscribers, anne


@pytest.mark.asyncio
async def test_archive_is_browsable_and_searchable_but_not_the_subscribers(site):
    datasette, _, _ = site
    response = await datasette.client.get("/veille/items.json?_search=gueret&_shape=array")
    assert [r["url"] for r in response.json()] == ["https://example.org/a"]
    assert [d["name"] for d in (await datasette.client.get("/-/databases.json")).json()] == ["veille"]
    assert (await datasette.client.get("/subscribers")).status_code == 404
    sql = await datasette.client.get("/veille.json?sql=select+*+from+sqlite_master&_shape=array")
    assert "subscribers" not in sql.text


@pytest.mark.asyncio
async def test_one_click_unsubscribe(site):
    datasette, subscribers, anne = site
    token = unsubscribe_token(SECRET, anne.id, anne.email)
    page = await datasette.client.get(f"/-/unsubscribe/{token}")
    assert page.status_code == 200 and "Confirmer le désabonnement" in page.text and "anne@example.org" in page.text
    assert len(active_subscribers(subscribers)) == 1  # a GET changes nothing (link scanners)
    done = await datasette.client.post(f"/-/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "Désabonnement confirmé" in done.text
    assert active_subscribers(subscribers) == []
    again = await datasette.client.get(f"/-/unsubscribe/{token}")
    assert "Déjà désabonné" in again.text


@pytest.mark.asyncio
async def test_forged_unsubscribe_links_are_refused(site):
    datasette, subscribers, anne = site
    for token in (f"{anne.id}.forged", "99.x", unsubscribe_token("another-secret", anne.id, anne.email)):
        response = await datasette.client.post(f"/-/unsubscribe/{token}")
        assert response.status_code == 400 and "invalide" in response.text
    assert len(active_subscribers(subscribers)) == 1


@pytest.mark.asyncio
async def test_bulletins_archive(site):
    datasette, _, _ = site
    index = await datasette.client.get("/-/bulletins")
    assert "2026-W48" in index.text and "/-/bulletins/bulletin-2026-W48.html" in index.text
    assert "Bulletin 48" in (await datasette.client.get("/-/bulletins/bulletin-2026-W48.html")).text
    assert (await datasette.client.get("/-/bulletins/bulletin-2026-W48.txt")).text == "Bulletin 48"
    assert (await datasette.client.get("/-/bulletins/..%2Fsubscribers.db")).status_code == 404


async def login(datasette, password):
    page = await datasette.client.get("/-/curation/login")
    csrf = page.cookies["ds_csrftoken"]
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text)[1]
    response = await datasette.client.post("/-/curation/login", data={"csrftoken": token, "password": password},
                                           cookies={"ds_csrftoken": csrf})
    return response, {"ds_csrftoken": csrf, **({"ds_actor": response.cookies["ds_actor"]}
                                                if "ds_actor" in response.cookies else {})}


@pytest.fixture
def curation_site(tmp_path, monkeypatch):
    from pipeline.tagging import tag_items

    config = load_config(ROOT / "config")
    db = open_db(tmp_path / "veille.db")
    item = insert_item(db, {"url": "https://example.org/plie", "raw_url": "x", "source_id": "s",
                            "title": "Le PLIE de Bordeaux accompagne les jeunes",
                            "text": "Le PLIE accompagne les jeunes demandeurs d'emploi de Bordeaux.",
                            "first_seen_at": "2026-11-24T10:00:00+00:00"})
    tag_items(db, config.taxonomy)
    monkeypatch.setenv("VEILLE_SECRET", SECRET)
    monkeypatch.setenv("VEILLE_CURATOR_PASSWORD", "mot-de-passe")
    datasette = make_datasette(load_config(ROOT / "config"), tmp_path / "veille.db", tmp_path / "subscribers.db",
                               tmp_path / "bulletins")
    return datasette, db, item


@pytest.mark.asyncio
async def test_curation_needs_a_login(curation_site):
    datasette, _, _ = curation_site
    assert (await datasette.client.get("/-/curation?week=2026-W48")).status_code == 302
    refused, cookies = await login(datasette, "devine")
    assert refused.status_code == 403 and "Mot de passe incorrect" in refused.text and "ds_actor" not in cookies
    accepted, cookies = await login(datasette, "mot-de-passe")
    assert accepted.status_code == 302 and "ds_actor" in cookies
    page = await datasette.client.get("/-/curation?week=2026-W48", cookies=cookies)
    assert page.status_code == 200 and "Le PLIE de Bordeaux accompagne les jeunes" in page.text
    assert "dans le bulletin" in page.text


@pytest.mark.asyncio
async def test_curation_actions_are_curator_decisions(curation_site):
    from pipeline.archive import effective_tags

    datasette, db, item = curation_site
    _, cookies = await login(datasette, "mot-de-passe")
    page = await datasette.client.get("/-/curation?week=2026-W48", cookies=cookies)
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text)[1]

    async def act(**fields):
        response = await datasette.client.post(f"/-/curation/items/{item}", cookies=cookies,
                                               data={"csrftoken": token, "week": "2026-W48", **fields})
        assert response.status_code == 302, response.text
        return response

    await act(add="dispositifs:fse")
    await act(remove="dispositifs:plie")
    await act(highlight="1")
    await act(note="Une initiative à suivre.")
    tags = effective_tags(db, [item])[item]
    assert "fse" in tags["dispositifs"] and "plie" not in tags["dispositifs"]
    row = db["curation"].get(item)
    assert (row["highlight"], row["note"]) == (1, "Une initiative à suivre.")
    await act(reject="1")
    assert db["curation"].get(item)["rejected"] == 1
    forged = await datasette.client.post(f"/-/curation/items/{item}", cookies=cookies, data={"highlight": "0"})
    assert forged.status_code == 403  # no CSRF token
    anonymous = await datasette.client.post(f"/-/curation/items/{item}", data={"csrftoken": token, "highlight": "0"},
                                            cookies={"ds_csrftoken": cookies["ds_csrftoken"]})
    assert anonymous.status_code == 302 and anonymous.headers["location"] == "/-/curation/login"
    assert db["curation"].get(item)["highlight"] == 1


@pytest.mark.asyncio
async def test_curation_is_closed_without_a_password(site):
    datasette, _, _ = site
    page = await datasette.client.get("/-/curation/login")
    assert "La curation est fermée" in page.text
    _, cookies = await login(datasette, "")
    assert "ds_actor" not in cookies


def test_curator_works_in_a_real_browser(tmp_path):
    """`veille serve` in a subprocess, driven by headless Chromium: log in, put an item "À la une"."""
    import subprocess
    import sys

    from playwright.sync_api import sync_playwright

    from pipeline.tagging import tag_items
    from tests.test_bulletin import CHROMIUM

    config = load_config(ROOT / "config")
    db = open_db(tmp_path / "veille.db")
    item = insert_item(db, {"url": "https://example.org/plie", "raw_url": "x", "source_id": "s",
                            "title": "Le PLIE de Bordeaux accompagne les jeunes", "text": "Le PLIE accompagne.",
                            "first_seen_at": "2026-11-24T10:00:00+00:00"})
    tag_items(db, config.taxonomy)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "veille", "serve", "--db", str(tmp_path / "veille.db"), "--port", str(port),
         "--subscribers-db", str(tmp_path / "subscribers.db"), "--bulletins", str(tmp_path / "bulletins")],
        cwd=ROOT, env={**__import__("os").environ, "VEILLE_SECRET": SECRET, "VEILLE_CURATOR_PASSWORD": "mdp"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/-/curation?week=2026-W48")
            page.fill("input[name=password]", "mdp")
            page.click("text=Se connecter")
            page.goto(f"http://127.0.0.1:{port}/-/curation?week=2026-W48")
            page.click(f"#item-{item} >> text=À la une")
            page.wait_for_selector(f"#item-{item} >> text=Retirer de la une")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert open_db(tmp_path / "veille.db")["curation"].get(item)["highlight"] == 1


def test_plugin_stands_alone_under_a_plain_datasette(tmp_path):
    """`datasette veille.db -m metadata.json`, not `veille serve`: the plugin is found through its entry
    point and configured through Datasette's plugin configuration, secrets from the environment."""
    import json
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    db = open_db(tmp_path / "veille.db")
    db.close()
    subscribers = open_subscribers_db(tmp_path / "subscribers.db")
    anne = add_subscriber(subscribers, "anne@example.org", "Anne")
    token = unsubscribe_token(SECRET, anne.id, anne.email)
    metadata = {"plugins": {"veille": {
        "config": str(ROOT / "config"), "subscribers_db": str(tmp_path / "subscribers.db"),
        "bulletins": str(tmp_path / "bulletins"),
        "secret": {"$env": "PLAIN_DATASETTE_SECRET"}, "curator_password": {"$env": "PLAIN_DATASETTE_PASSWORD"}}}}
    (tmp_path / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("VEILLE_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "datasette", str(tmp_path / "veille.db"), "-m", str(tmp_path / "metadata.json"),
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=tmp_path, env={**env, "PLAIN_DATASETTE_SECRET": SECRET, "PLAIN_DATASETTE_PASSWORD": "mdp"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"

    def fetch(path, data=None):
        try:
            with urllib.request.urlopen(base + path, data=data, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    try:
        wait_for_port(port)
        status, page = fetch("/-/curation/login")
        assert status == 200 and 'name="password"' in page and "La curation est fermée" not in page
        status, page = fetch(f"/-/unsubscribe/{token}")
        assert status == 200 and "Confirmer le désabonnement" in page
        assert fetch(f"/-/unsubscribe/{anne.id}.forged")[0] == 400
        status, page = fetch(f"/-/unsubscribe/{token}", data=b"List-Unsubscribe=One-Click")
        assert status == 200 and "Désabonnement confirmé" in page
        assert fetch("/-/bulletins")[0] == 200
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=10)
    assert active_subscribers(subscribers) == [], errors


@pytest.mark.asyncio
async def test_a_plugin_that_cannot_read_its_configuration_says_so_plainly(tmp_path, capsys):
    from datasette.app import Datasette

    open_db(tmp_path / "veille.db").close()
    datasette = Datasette([str(tmp_path / "veille.db")],
                          metadata={"plugins": {"veille": {"config": str(tmp_path / "nowhere")}}})
    response = await datasette.client.get("/-/bulletins")
    assert response.status_code == 503 and "pas configurée" in response.text
    assert "nowhere" not in response.text  # no detail of the server's files for a visitor
    assert "dossier de configuration introuvable" in capsys.readouterr().err
    assert (await datasette.client.get("/veille/items.json")).status_code == 200  # the archive still serves
